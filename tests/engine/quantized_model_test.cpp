// Quantized models end to end on the Vulkan device: tiny synthesized checkpoints of every family
// quantized at load (--quant q4 / q8), a GGUF file holding every ggml block type, and an
// MLX-quantized folder (with a per-layer override). Each generates, and its logits at every prefill
// position and decode step match the reference executor running the same graph on the same
// quantized weights (the reference dequantizes them with ir::HostTensor::get).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <set>

#include "engine/generate.h"
#include "engine/model.h"
#include "frontends/model/synth.h"
#include "ir/reference.h"
#include "tests/gguf/hf_to_gguf.h"
#include "tests/quant/mlx_folder.h"

namespace fs = std::filesystem;
using namespace vkllm;
using json = nlohmann::json;

namespace {

enum class Kind { LoadTimeQuant, Gguf, Mlx };

struct QuantCase {
  std::string name;
  std::string family;
  Kind kind;
  std::string quant;                 // LoadTimeQuant: the --quant name
  json overrides = json::object();   // synth config overrides
  std::set<std::string> formats;     // the kernel formats the model must end up with
};

// Rows of 256 values, so q4 picks the K-quants and the GGUF file can hold every block type.
const json kWide = {{"hidden_size", 256}, {"intermediate_size", 512}, {"head_dim", 64}};
// ggml q8_0 q5_0 -> q8_0, q4_0, q4_1 -> qa4h, q4_K, q5_K, q6_K (frontends/source/repack.h).
const std::set<std::string> kEveryGgufFormat = {"q8_0", "q4_0", "qa4h", "q4_K", "q5_K", "q6_K"};

fs::path model_path(const QuantCase& c) {
  const fs::path d = fs::temp_directory_path() / ("vkllm_quantized_" + c.name + "_" + std::to_string(::getpid()));
  const fs::path hf = d / "hf";
  if (!fs::exists(hf / "config.json")) {
    frontends::SynthOptions o;
    o.family = c.family;
    o.out_dir = hf;
    o.seed = 7;
    o.overrides = c.overrides;
    frontends::synthesize(o);
  }
  switch (c.kind) {
    case Kind::LoadTimeQuant: return hf;
    case Kind::Gguf: {
      const fs::path file = d / "model.gguf";
      if (!fs::exists(file)) {
        size_t next = 0;
        frontends::gguf_testing::ConvertOptions opts;
        opts.matrix_types = [&](const std::string&) -> std::optional<frontends::quant::BlockType> {
          return frontends::quant::kAllBlockTypes[next++ % std::size(frontends::quant::kAllBlockTypes)];
        };
        frontends::gguf_testing::convert_to_gguf(hf, file, opts);
      }
      return file;
    }
    case Kind::Mlx: {
      const fs::path dir = d / "mlx";
      if (!fs::exists(dir / "config.json")) {
        frontends::mlx_testing::MlxConvertOptions opts{4, 32, frontends::quant::MlxScaleType::BF16, {}};
        opts.overrides["model.layers.0.mlp.down_proj"] = {8, 64};
        frontends::mlx_testing::convert_to_mlx(hf, dir, opts);
      }
      return dir;
    }
  }
  return hf;
}

engine::ModelOptions small_options(const QuantCase& c) {
  engine::ModelOptions o;
  o.max_context = 64;
  o.block_size = 4;
  o.max_sequences = 1;
  o.max_decode_rows = 1;
  o.prefill_chunk = 16;
  if (c.kind == Kind::LoadTimeQuant) o.weight_quant = c.quant;
  return o;
}

std::vector<int32_t> prompt_of(int n, int vocab) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) p[static_cast<size_t>(i)] = static_cast<int32_t>((i * 37 + 11) % (vocab - 8) + 1);
  return p;
}

// The model's forward graph on the reference executor, with the weights the model uploaded
// (Model::source(): the kernel formats), one step at a time with its own cache state.
class ReferenceModel {
 public:
  explicit ReferenceModel(engine::Model& m)
      : m_(m), pool_(m.cache_layout().num_blocks, m.cache_layout().block_size),
        seq_(pool_, m.cache_layout().max_blocks_per_seq) {
    auto dtype_of = [&](const std::string& name) { return m.source().info(name).dtype; };
    graph_ = frontends::build_forward_graph(m.spec(), m.cache_layout(), dtype_of, true, "reference");
    for (const ir::Op& op : graph_.ops)
      if (op.kind == ir::OpKind::State) {
        const ir::Type& t = graph_.type(op.results[0]);
        states_[op.attr_str("name")] = ir::HostTensor::zeros(t.dtype, ir::concrete_shape(t.shape, {}));
      }
  }

  ir::HostTensor feed(const std::vector<int32_t>& tokens) {
    const int n = static_cast<int>(tokens.size());
    const frontends::CacheLayout& l = m_.cache_layout();
    ir::HostTensor tok = ints({n}), pos = ints({n}), slots = ints({n}), row_seq = ints({n}),
                   table = ints({l.max_seqs, l.max_blocks_per_seq}), out_rows = ints({n});
    const int64_t first = seq_.length();
    std::vector<int32_t> s = seq_.append(n);
    for (int i = 0; i < n; ++i) {
      tok.set(i, tokens[static_cast<size_t>(i)]);
      pos.set(i, static_cast<double>(first + i));
      slots.set(i, s[static_cast<size_t>(i)]);
      out_rows.set(i, i);
    }
    std::vector<int32_t> row(static_cast<size_t>(l.max_seqs * l.max_blocks_per_seq), -1);
    seq_.fill_block_row(row.data());
    for (size_t i = 0; i < row.size(); ++i) table.set(static_cast<int64_t>(i), row[i]);
    ir::WeightFn weights = [&](const std::string& name, const ir::Type&) {
      auto it = weights_.find(name);
      if (it == weights_.end()) it = weights_.emplace(name, m_.source().tensor(name)).first;
      return it->second;
    };
    ir::HostTensor params = ir::HostTensor::zeros(ir::DType::F32, {n, 8}), history = ints({n, l.sample_history});
    for (int64_t r = 0; r < n; ++r) params.set(r * 8 + 2, 1.0), params.set(r * 8 + 4, 1.0);  // greedy, no penalties
    for (int64_t i = 0; i < history.numel(); ++i) history.set(i, -1);
    std::map<std::string, ir::HostTensor> inputs = {
        {"tokens", tok}, {"pos", pos}, {"slots", slots}, {"row_seq", row_seq}, {"block_table", table},
        {"out_rows", out_rows}, {"sample_params", params}, {"sample_rng", ints({n, 2})}, {"sample_history", history}};
    if (m_.spec().has_linear_attention()) {
      // One chain through recurrent-state slot 0 of the reference's own state (zeros at position 0).
      ir::HostTensor src = ints({n}), dst = ints({n});
      for (int i = 0; i < n; ++i) src.set(i, i == 0 ? (first == 0 ? -2 : 0) : -1), dst.set(i, i + 1 == n ? 0 : -1);
      inputs["state_src"] = src;
      inputs["state_dst"] = dst;
    }
    ir::ReferenceRun r = ir::run_reference(graph_, {{frontends::kRowsSymbol, n}, {frontends::kOutRowsSymbol, n}},
                                           inputs, weights, &states_);
    for (size_t o = 0; o < graph_.outputs.size(); ++o)
      if (graph_.value(graph_.outputs[o]).name == "logits") return r.outputs[o];
    throw std::logic_error("the forward graph has no logits output");
  }

 private:
  static ir::HostTensor ints(std::vector<int64_t> shape) { return ir::HostTensor::zeros(ir::DType::I32, std::move(shape)); }
  engine::Model& m_;
  engine::BlockPool pool_;
  engine::SequenceCache seq_;
  ir::Graph graph_;
  ir::StateMap states_;
  std::map<std::string, ir::HostTensor> weights_;
};

double relative_error(const ir::HostTensor& a, const ir::HostTensor& b) {
  double err = 0, scale = 1e-30;
  for (int64_t i = 0; i < b.numel(); ++i) {
    const double x = a.get(i), y = b.get(i);
    err = std::max(err, std::isnan(x) ? INFINITY : std::abs(x - y));
    scale = std::max(scale, std::abs(y));
  }
  return err / scale;
}

int32_t argmax_row(const ir::HostTensor& t, int64_t row, double* gap) {
  const int64_t v = t.shape[1];
  int32_t best = 0;
  double top = -INFINITY, second = -INFINITY;
  for (int64_t j = 0; j < v; ++j) {
    const double x = t.get(row * v + j);
    if (x > top) {
      second = top;
      top = x;
      best = static_cast<int32_t>(j);
    } else if (x > second) {
      second = x;
    }
  }
  *gap = top - second;
  return best;
}

constexpr double kTolerance = 2e-3;  // f16 KV cache on both sides; f32 vs f64 accumulation

class QuantizedModelTest : public ::testing::TestWithParam<QuantCase> {};

TEST_P(QuantizedModelTest, GeneratesAndMatchesTheReferenceOnItsWeights) {
  const QuantCase& c = GetParam();
  auto model = engine::Model::load(model_path(c), small_options(c));
  // The weights really are quantized, in the formats the case is about.
  std::set<std::string> formats;
  for (const std::string& name : model->source().tensor_names())
    if (ir::is_quantized(model->source().info(name).dtype)) formats.insert(std::string(ir::name(model->source().info(name).dtype)));
  RecordProperty("formats", fmt::format("{}", fmt::join(formats, " ")));
  EXPECT_EQ(formats, c.formats) << model->source().format();

  ReferenceModel ref(*model);
  const int vocab = static_cast<int>(model->spec().vocab_size);
  const std::vector<int32_t> prompt = prompt_of(12, vocab);
  engine::SequenceCache seq(model->blocks(), model->cache_layout().max_blocks_per_seq);
  const std::vector<int32_t> slots = seq.append(12);
  std::vector<engine::StepRow> rows;
  for (int i = 0; i < 12; ++i) rows.push_back({prompt[static_cast<size_t>(i)], i, slots[static_cast<size_t>(i)], 0});
  std::vector<int32_t> wanted(12);
  std::iota(wanted.begin(), wanted.end(), 0);
  const engine::SequenceCache* seqs[] = {&seq};
  const engine::StepResult got = model->step(rows, seqs, wanted, true);
  ir::HostTensor want = ref.feed(prompt);
  EXPECT_LT(relative_error(got.logits, want), kTolerance) << "prefill logits";

  double gap = 0;
  int32_t token = argmax_row(want, 11, &gap);
  for (int step = 0; step < 4; ++step) {
    const engine::StepRow row{token, static_cast<int32_t>(seq.length()), seq.append(1)[0], 0};
    const int32_t first[] = {0};
    const engine::StepResult g = model->step({&row, 1}, seqs, first, true);
    const ir::HostTensor w = ref.feed({token});
    ASSERT_LT(relative_error(g.logits, w), kTolerance) << "decode step " << step;
    token = argmax_row(w, 0, &gap);
    if (gap > 1e-2) {
      EXPECT_EQ(g.next_tokens[0], token) << "decode step " << step;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, QuantizedModelTest,
    ::testing::Values(
        // Tiny rows (64 values): q4 takes the 32-value fallbacks, qa4h and q8_0 for the head.
        QuantCase{"llama_q4", "llama", Kind::LoadTimeQuant, "q4", {}, {"qa4h", "q8_0"}},
        QuantCase{"mistral_q4", "mistral", Kind::LoadTimeQuant, "q4", {}, {"qa4h", "q8_0"}},
        QuantCase{"qwen2_q4", "qwen2", Kind::LoadTimeQuant, "q4", {}, {"qa4h", "q8_0"}},
        QuantCase{"qwen3_q4", "qwen3", Kind::LoadTimeQuant, "q4", {}, {"qa4h", "q8_0"}},
        QuantCase{"gemma2_q4", "gemma2", Kind::LoadTimeQuant, "q4", {}, {"qa4h", "q8_0"}},
        QuantCase{"gemma3_q4", "gemma3", Kind::LoadTimeQuant, "q4", {}, {"qa4h", "q8_0"}},
        QuantCase{"qwen35_q4", "qwen35", Kind::LoadTimeQuant, "q4", {}, {"qa4h", "q8_0"}},
        QuantCase{"qwen3_q8", "qwen3", Kind::LoadTimeQuant, "q8", {}, {"q8_0"}},
        QuantCase{"llama_q4_0", "llama", Kind::LoadTimeQuant, "q4_0", {}, {"q4_0"}},
        QuantCase{"qwen2_qa8", "qwen2", Kind::LoadTimeQuant, "qa8", {}, {"qa8"}},
        QuantCase{"llama_wide_q4_kquants", "llama", Kind::LoadTimeQuant, "q4", kWide, {"q4_K", "q6_K"}},
        QuantCase{"llama_gguf_every_block_type", "llama", Kind::Gguf, "", kWide, kEveryGgufFormat},
        QuantCase{"gemma2_gguf_every_block_type", "gemma2", Kind::Gguf, "", kWide, kEveryGgufFormat},
        QuantCase{"qwen3_mlx_4bit", "qwen3", Kind::Mlx, "", {}, {"qa4h", "qa8h_g64"}}),
    [](const auto& info) { return info.param.name; });

TEST(QuantizedModel, GeneratesFromAGgufFile) {
  const QuantCase c{"qwen2_gguf_generate", "qwen2", Kind::Gguf, "", kWide, {}};
  auto model = engine::Model::load(model_path(c), small_options(c));
  EXPECT_EQ(model->source().format(), "GGUF");
  EXPECT_THROW(model->checkpoint(), std::logic_error);  // no HF folder behind a GGUF file
  engine::GenerateOptions opts;
  opts.max_tokens = 6;
  const engine::Generation g = engine::generate(*model, prompt_of(5, static_cast<int>(model->spec().vocab_size)), opts);
  EXPECT_EQ(g.tokens.size(), 6u);
}

TEST(QuantizedModel, UnknownQuantIsAClearError) {
  QuantCase c{"llama_q4", "llama", Kind::LoadTimeQuant, "q3", {}, {}};
  try {
    engine::Model::load(model_path(c), small_options(c));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown weight quantization 'q3'"), std::string::npos) << e.what();
  }
}

}  // namespace
