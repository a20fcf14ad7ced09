// Quantized models end to end on the Vulkan device: tiny synthesized checkpoints of every family
// quantized at load (--quant q4 / q8), a GGUF file holding every ggml block type, and an
// MLX-quantized folder (with a per-layer override). Each generates, and its logits at every prefill
// position and decode step match the reference executor running the same graph on the same
// quantized weights (the reference dequantizes them with ir::HostTensor::get).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "engine/generate.h"
#include "engine/model.h"
#include "frontends/model/synth.h"
#include "tests/engine/reference_runner.h"
#include "tests/gguf/hf_to_gguf.h"
#include "tests/quant/mlx_folder.h"

namespace fs = std::filesystem;
using namespace vkllm;
using json = nlohmann::json;
using engine_test::ReferenceModel;
using engine_test::ReferenceWeights;
using engine_test::expect_prefill_and_decode_match;

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

  // The reference runs the same graph on the weights the model uploaded (its source's kernel formats;
  // it dequantizes them with ir::HostTensor::get): 12 prompt tokens, then 4 decode steps.
  ReferenceModel ref(*model, ReferenceWeights::ModelSource);
  expect_prefill_and_decode_match(*model, ref, prompt_of(12, static_cast<int>(model->spec().vocab_size)), 4, kTolerance);
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
