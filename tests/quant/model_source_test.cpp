// Model sources (frontends/source/model_source.h) on files the tests write themselves:
//  - MLX-quantized folders (2 to 8 bits, group sizes 32/64/128, bf16/f16/f32 scales, per-layer
//    overrides) load bit-exactly: each layer's values equal MLX dequantization of its stored triple;
//  - a GGUF file holding every ggml block type loads bit-exactly against GgufModel's dequantization;
//  - --quant views quantize exactly the projection and embedding matrices;
//  - malformed MLX folders are FormatErrors that say what is wrong.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <fstream>
#include <random>

#include "frontends/checkpoint/checkpoint.h"
#include "frontends/gguf/gguf_model.h"
#include "frontends/model/model_spec.h"
#include "frontends/model/synth.h"
#include "frontends/quant/half.h"
#include "frontends/source/model_source.h"
#include "frontends/source/repack.h"
#include "tests/gguf/hf_to_gguf.h"
#include "tests/quant/mlx_folder.h"

namespace fs = std::filesystem;
using namespace vkllm;
using namespace vkllm::frontends;
using json = nlohmann::json;

namespace {

uint32_t fresh_seed() {
  static std::random_device rd;
  return rd();
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("vkllm_source_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

fs::path synth(const fs::path& dir, const std::string& family, const json& overrides = json::object()) {
  SynthOptions o;
  o.family = family;
  o.out_dir = dir;
  o.seed = fresh_seed();
  o.overrides = overrides;
  synthesize(o);
  return dir;
}

std::vector<float> widen(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    uint16_t h = 0;
    if (t.dtype == StDType::F32) {
      std::memcpy(&out[i], t.bytes.data() + 4 * i, 4);
      continue;
    }
    std::memcpy(&h, t.bytes.data() + 2 * i, 2);
    out[i] = t.dtype == StDType::BF16 ? quant::bf16_to_f32(h) : quant::f16_to_f32(h);
  }
  return out;
}

// Counts values of `t` (through HostTensor::get) that differ from `want` in any bit.
int64_t mismatches(const ir::HostTensor& t, const std::vector<float>& want) {
  int64_t bad = 0;
  for (int64_t i = 0; i < t.numel(); ++i)
    bad += std::bit_cast<uint32_t>(static_cast<float>(t.get(i))) != std::bit_cast<uint32_t>(want[static_cast<size_t>(i)]);
  return bad;
}

std::string load_error(const fs::path& path) {
  try {
    open_model_source(path)->tensor_names();
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

void expect_load_error(const fs::path& path, const std::string& needle) {
  const std::string msg = load_error(path);
  EXPECT_NE(msg.find(needle), std::string::npos) << "message: '" << msg << "' lacks '" << needle << "'";
}

TEST(MlxFolder, EveryLayerLoadsBitExactly) {
  const fs::path dir = temp_dir("mlx");
  synth(dir / "hf", "qwen3");
  struct Variant {
    int bits, group;
    quant::MlxScaleType scales;
  };
  for (Variant v : {Variant{4, 64, quant::MlxScaleType::BF16}, Variant{8, 32, quant::MlxScaleType::F16},
                    Variant{2, 32, quant::MlxScaleType::F32}, Variant{6, 64, quant::MlxScaleType::BF16}}) {
    SCOPED_TRACE(testing::Message() << v.bits << " bits, group " << v.group);
    mlx_testing::MlxConvertOptions opts{v.bits, v.group, v.scales, {}};
    opts.overrides["model.layers.0.mlp.down_proj"] = {8, 32};
    opts.overrides["model.layers.1.self_attn.q_proj"] = {3, 32};
    opts.overrides["model.layers.1.mlp.up_proj"] = {5, 64};
    fs::remove_all(dir / "mlx");
    mlx_testing::convert_to_mlx(dir / "hf", dir / "mlx", opts);
    const std::unique_ptr<ModelSource> src = open_model_source(dir / "mlx");
    EXPECT_NE(src->format().find(fmt::format("MLX affine {}-bit, group {}", v.bits, v.group)), std::string::npos)
        << src->format();
    const Checkpoint hf = Checkpoint::open(dir / "hf"), mlx = Checkpoint::open(dir / "mlx");
    std::vector<std::string> names = src->tensor_names(), want = hf.tensor_names();
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, want);
    int quantized = 0;
    for (const std::string& name : want) {
      SCOPED_TRACE(name);
      const SourceTensor info = src->info(name);
      EXPECT_EQ(info.shape, hf.tensor(name).shape);
      const ir::HostTensor t = src->tensor(name);
      ASSERT_EQ(t.dtype, info.dtype);
      const std::string module = name.substr(0, name.rfind('.'));
      const TensorView* scales = mlx.find(module + ".scales");
      if (!scales) {
        EXPECT_FALSE(ir::is_quantized(t.dtype));
        EXPECT_EQ(t.bytes, std::vector<uint8_t>(hf.tensor(name).bytes.begin(), hf.tensor(name).bytes.end()));
        continue;
      }
      ++quantized;
      int bits = v.bits, group = v.group;
      if (auto it = opts.overrides.find(module); it != opts.overrides.end()) std::tie(bits, group) = it->second;
      const TensorView& w = mlx.tensor(name);
      std::vector<uint32_t> words(static_cast<size_t>(w.numel()));
      std::memcpy(words.data(), w.bytes.data(), words.size() * 4);
      const std::vector<float> s = widen(*scales), b = widen(mlx.tensor(module + ".biases"));
      // f16 / bf16 scales (in f16's range here) keep f16 fields; f32 ones usually need f32 fields.
      EXPECT_EQ(t.dtype, mlx_kernel_dtype(bits, group, s, b));
      if (v.scales != quant::MlxScaleType::F32) {
        const bool wide = group >= 64;
        EXPECT_EQ(t.dtype, bits <= 4 ? (wide ? ir::DType::QA4H_G64 : ir::DType::QA4H)
                                     : (wide ? ir::DType::QA8H_G64 : ir::DType::QA8H));
      }
      std::vector<float> want_values(static_cast<size_t>(t.numel()));
      quant::dequantize_mlx(bits, group, words, s, b, want_values);
      EXPECT_EQ(mismatches(t, want_values), 0);
    }
    EXPECT_GE(quantized, 10);
  }
}

TEST(GgufFile, EveryBlockTypeLoadsBitExactly) {
  const fs::path dir = temp_dir("gguf");
  // Rows of 256 values or more, so the K-quants fit every matrix.
  synth(dir / "hf", "llama", {{"hidden_size", 256}, {"intermediate_size", 512}, {"head_dim", 64}});
  std::map<std::string, quant::BlockType> chosen;
  size_t next = 0;
  gguf_testing::ConvertOptions opts;
  opts.matrix_types = [&](const std::string& name) -> std::optional<quant::BlockType> {
    const quant::BlockType t = quant::kAllBlockTypes[next++ % std::size(quant::kAllBlockTypes)];
    chosen[name] = t;
    return t;
  };
  gguf_testing::convert_to_gguf(dir / "hf", dir / "model.gguf", opts);
  std::set<quant::BlockType> used;
  for (const auto& [name, t] : chosen) used.insert(t);
  ASSERT_EQ(used.size(), std::size(quant::kAllBlockTypes));

  const std::unique_ptr<ModelSource> src = open_model_source(dir / "model.gguf");
  EXPECT_EQ(src->format(), "GGUF");
  EXPECT_EQ(src->checkpoint(), nullptr);
  const GgufModel g = GgufModel::open(dir / "model.gguf");
  for (const std::string& name : src->tensor_names()) {
    SCOPED_TRACE(name);
    const ir::HostTensor t = src->tensor(name);
    EXPECT_EQ(t.shape, g.tensor(name).shape);
    if (auto it = chosen.find(name); it != chosen.end()) {
      EXPECT_EQ(t.dtype, kernel_dtype(it->second));
    }
    EXPECT_EQ(mismatches(t, g.dequantized(name)), 0);
  }
  // The model description is the HF folder's.
  const ModelSpec a = describe_model(src->config(), src->generation_config());
  const Checkpoint hf = Checkpoint::open(dir / "hf");
  const ModelSpec b = describe_model(hf.config(), hf.generation_config());
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_TRUE(tokenizer_json(dir / "model.gguf").has_value());
  EXPECT_TRUE(tokenizer_config(dir / "model.gguf").has_value());
}

TEST(QuantizedView, QuantizesProjectionAndEmbeddingMatricesOnly) {
  const fs::path dir = temp_dir("view");
  synth(dir / "hf", "llama", {{"hidden_size", 256}, {"intermediate_size", 320}, {"head_dim", 64}});
  std::unique_ptr<ModelSource> src = open_model_source(dir / "hf");
  const ModelSpec spec = describe_model(src->config(), src->generation_config());
  const Checkpoint hf = Checkpoint::open(dir / "hf");
  src = quantize_weights(std::move(src), spec, *parse_weight_quant("q4"));
  const std::string head = spec.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  for (const TensorSpec& t : expected_tensors(spec)) {
    SCOPED_TRACE(t.name);
    const ir::HostTensor got = src->tensor(t.name);
    EXPECT_EQ(got.dtype, src->info(t.name).dtype);
    if (t.role != TensorSpec::Role::Projection && t.role != TensorSpec::Role::Embedding) {
      EXPECT_FALSE(ir::is_quantized(got.dtype));
      continue;
    }
    // q4: q4_K (q6_K for the head); rows of 320 values (down_proj) take the 32-value fallbacks.
    const bool k_rows = t.shape[1] % 256 == 0;
    const ir::DType want = t.name == head ? (k_rows ? ir::DType::Q6_K : ir::DType::Q8_0)
                                          : (k_rows ? ir::DType::Q4_K : ir::DType::QA4H);
    EXPECT_EQ(got.dtype, want);
    EXPECT_EQ(got.bytes, quantize_for_kernel(want, t.shape[1], widen(hf.tensor(t.name))));
  }
}

// Values of a float HostTensor, through HostTensor::get.
std::vector<float> values_of(const ir::HostTensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(t.get(static_cast<int64_t>(i)));
  return out;
}

// The view reads a folder's float matrices in place in the mapped file and other sources' through
// tensor(): a GGUF file keeping its float matrices, and an MLX folder whose down_proj (rows of 320
// values: not whole groups of 128) stayed bf16 beside MLX-quantized layers, which are kept as they are.
TEST(QuantizedView, QuantizesGgufFloatsAndMlxFloatLayers) {
  const fs::path dir = temp_dir("view_sources");
  synth(dir / "hf", "llama", {{"hidden_size", 256}, {"intermediate_size", 320}, {"head_dim", 64}});
  gguf_testing::convert_to_gguf(dir / "hf", dir / "model.gguf");
  mlx_testing::convert_to_mlx(dir / "hf", dir / "mlx", {4, 128, quant::MlxScaleType::BF16, {}});
  for (const fs::path& path : {dir / "model.gguf", dir / "mlx"}) {
    SCOPED_TRACE(path.filename().string());
    const std::unique_ptr<ModelSource> stored = open_model_source(path);
    const ModelSpec spec = describe_model(stored->config(), stored->generation_config());
    const std::unique_ptr<ModelSource> view =
        quantize_weights(open_model_source(path), spec, *parse_weight_quant("q8_0"));
    int matrices = 0, quantized = 0;
    for (const TensorSpec& t : expected_tensors(spec)) {
      if (t.role != TensorSpec::Role::Projection && t.role != TensorSpec::Role::Embedding) continue;
      SCOPED_TRACE(t.name);
      ++matrices;
      const ir::HostTensor as_stored = stored->tensor(t.name), got = view->tensor(t.name);
      EXPECT_EQ(got.shape, as_stored.shape);
      if (ir::is_quantized(as_stored.dtype)) {  // an MLX layer: never requantized
        EXPECT_EQ(got.dtype, as_stored.dtype);
        EXPECT_EQ(got.bytes, as_stored.bytes);
        continue;
      }
      ++quantized;
      EXPECT_EQ(got.dtype, ir::DType::Q8_0);
      EXPECT_EQ(got.bytes, quantize_for_kernel(ir::DType::Q8_0, as_stored.shape[1], values_of(as_stored), {.threads = 1}));
    }
    // GGUF: every matrix; MLX: the down_proj of each layer.
    EXPECT_EQ(quantized, path == dir / "mlx" ? spec.num_layers : matrices);
  }
}

TEST(WeightQuant, Names) {
  EXPECT_FALSE(parse_weight_quant("").has_value());
  EXPECT_FALSE(parse_weight_quant("bf16").has_value());
  EXPECT_FALSE(parse_weight_quant("f16").has_value());
  EXPECT_EQ(parse_weight_quant("q8")->matrices, ir::DType::Q8_0);
  EXPECT_EQ(parse_weight_quant("q4")->matrices, ir::DType::Q4_K);
  EXPECT_EQ(parse_weight_quant("q4")->output_head, ir::DType::Q6_K);
  EXPECT_EQ(parse_weight_quant("qa8")->matrices, ir::DType::QA8);
  EXPECT_THROW(parse_weight_quant("q3"), std::invalid_argument);
  EXPECT_THROW(parse_weight_quant("i32"), std::invalid_argument);
  EXPECT_EQ(fit_to_rows(ir::DType::Q4_K, 64), ir::DType::QA4H);
  EXPECT_EQ(fit_to_rows(ir::DType::Q6_K, 96), ir::DType::Q8_0);
  EXPECT_EQ(fit_to_rows(ir::DType::Q4_K, 512), ir::DType::Q4_K);
}

// --- malformed MLX folders -----------------------------------------------------------------------------

class MalformedMlx : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = temp_dir("mlx_bad");
    synth(base_ / "hf", "llama");
    mlx_testing::convert_to_mlx(base_ / "hf", base_ / "good", {4, 64, quant::MlxScaleType::BF16, {}});
  }
  // A copy of the good folder with its config edited and tensors filtered / replaced.
  fs::path variant(const std::string& name, const std::function<void(json&)>& edit_config,
                   const std::function<bool(TensorToWrite&)>& keep = nullptr) {
    const fs::path d = base_ / name;
    fs::remove_all(d);
    fs::create_directories(d);
    for (const auto& e : fs::directory_iterator(base_ / "good")) fs::copy_file(e.path(), d / e.path().filename());
    json config = read_json_file(d / "config.json");
    edit_config(config);
    std::ofstream(d / "config.json") << config.dump();
    if (keep) {
      const Checkpoint ck = Checkpoint::open(base_ / "good");
      std::vector<TensorToWrite> tensors;
      for (const std::string& n : ck.tensor_names()) {
        const TensorView& v = ck.tensor(n);
        TensorToWrite t{n, v.dtype, v.shape, {v.bytes.begin(), v.bytes.end()}};
        if (keep(t)) tensors.push_back(std::move(t));
      }
      write_safetensors(d / "model.safetensors", tensors);
    }
    return d;
  }
  static fs::path base_;
};
fs::path MalformedMlx::base_;

TEST_F(MalformedMlx, ConfigErrors) {
  const auto none = [](json&) {};
  EXPECT_EQ(load_error(variant("ok", none)), "");
  expect_load_error(variant("bits7", [](json& c) { c["quantization"]["bits"] = 7; }), "7 bits is not supported");
  expect_load_error(variant("group48", [](json& c) { c["quantization"]["group_size"] = 48; }), "group size 48");
  expect_load_error(variant("no_bits", [](json& c) { c["quantization"].erase("bits"); }), "`bits` must be a positive integer");
  expect_load_error(variant("gptq",
                            [](json& c) {
                              c.erase("quantization");
                              c["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 128}};
                            }),
                    "quantization method \"gptq\" is not supported");
  expect_load_error(variant("mxfp4", [](json& c) { c["quantization"]["mode"] = "mxfp4"; }), "mode \"mxfp4\"");
  expect_load_error(variant("not_object", [](json& c) { c["quantization"] = 4; }), "must be an object");
  expect_load_error(variant("unquantized",
                            [](json& c) {
                              c.erase("quantization");
                              c.erase("quantization_config");
                            }),
                    "has no `quantization`");
  expect_load_error(variant("override_false", [](json& c) { c["quantization"]["model.layers.0.mlp.up_proj"] = false; }),
                    "says the layer is not quantized");
  // The data is 4-bit: an override claiming 8 bits does not match the word count.
  expect_load_error(variant("override_bits",
                            [](json& c) { c["quantization"]["model.layers.0.mlp.up_proj"] = {{"bits", 8}}; }),
                    "words per row do not hold");
}

TEST_F(MalformedMlx, TripleErrors) {
  const auto same = [](json&) {};
  expect_load_error(variant("no_biases", same, [](TensorToWrite& t) { return t.name != "model.layers.0.mlp.up_proj.biases"; }),
                    "has scales but no biases");
  expect_load_error(variant("orphan_biases", same,
                            [](TensorToWrite& t) { return t.name != "model.layers.0.mlp.up_proj.scales"; }),
                    "has no matching scales");
  expect_load_error(variant("float_weight", same,
                            [](TensorToWrite& t) {
                              if (t.name == "model.layers.1.self_attn.k_proj.weight") t.dtype = StDType::F32;
                              return true;
                            }),
                    "must be a U32 matrix");
  expect_load_error(variant("scale_rows", same,
                            [](TensorToWrite& t) {
                              if (t.name == "model.layers.1.self_attn.k_proj.scales") {
                                t.shape = {t.shape[0] / 2, t.shape[1] * 2};
                              }
                              return true;
                            }),
                    "must both be");
  expect_load_error(variant("int_scales", same,
                            [](TensorToWrite& t) {
                              if (t.name.ends_with("k_proj.scales")) t.dtype = StDType::I16;
                              return true;
                            }),
                    "scales and biases must be F32, F16 or BF16");
}

}  // namespace
