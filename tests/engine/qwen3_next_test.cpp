// Qwen3-Next (Qwen3NextForCausalLM, dense layers): the Qwen3.5 block design whose checkpoint fuses the
// Gated DeltaNet projections per key-head group (in_proj_qkvz, in_proj_ba). Covers the config (HF
// defaults, MoE configs rejected naming the feature), the row regrouping, the synthesized tiny model
// on the Vulkan device against the reference executor over prefill + decode, and equivalence: the
// Qwen3.5 checkpoint holding the same weights (split here the way HF's fix_query_key_value_ordering
// splits activations) gives bit-identical logits — as HF floats, quantized at load, MLX-quantized and
// through a compiled artifact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <set>

#include "engine/compile.h"
#include "engine/model.h"
#include "frontends/checkpoint/checkpoint.h"
#include "frontends/checkpoint/safetensors.h"
#include "frontends/model/synth.h"
#include "runtime/device.h"
#include "tests/engine/reference_runner.h"
#include "tests/quant/mlx_folder.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace vkllm;
using engine_test::prompt_of;
using engine_test::scratch_dir;

namespace {

fs::path synth_qwen3_next() { return engine_test::synth_tiny_model("qwen3_next"); }

// The tiny preset's config.json fields, as a checkpoint's config.json has them.
json tiny_config() {
  for (const frontends::SynthPreset& p : frontends::synth_presets())
    if (p.family == "qwen3_next" && p.name == "tiny") {
      json c = p.config;
      c["architectures"] = {"Qwen3NextForCausalLM"};
      c["model_type"] = "qwen3_next";
      return c;
    }
  throw std::logic_error("no qwen3_next tiny preset");
}

std::string describe_error(const json& config) {
  try {
    frontends::describe_model(config, json::object());
  } catch (const frontends::FormatError& e) {
    return e.what();
  }
  return "";
}

// Room for a 40-token prompt and 32 decode steps; prefill chunks of 48 rows.
engine::ModelOptions small_options() { return engine_test::tiny_model_options({.max_context = 96, .prefill_chunk = 48}); }

bool same_bits(const ir::HostTensor& a, const ir::HostTensor& b) {
  return a.shape == b.shape && a.bytes.size() == b.bytes.size() &&
         std::memcmp(a.data(), b.data(), a.bytes.size()) == 0;
}

// HF's fix_query_key_value_ordering applied to a fused weight's rows: viewed as [groups, group rows],
// each group splits into pieces of `sizes` rows; piece p of every group, in group order, is output p.
std::vector<std::vector<uint8_t>> split_per_group(const frontends::TensorView& t, int64_t groups,
                                                  const std::vector<int64_t>& sizes) {
  const int64_t row_bytes = t.shape[1] * frontends::element_size(t.dtype);
  const int64_t group_rows = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
  EXPECT_EQ(t.shape[0], groups * group_rows) << "fused tensor rows";
  std::vector<std::vector<uint8_t>> pieces(sizes.size());
  const uint8_t* row = t.bytes.data();
  for (int64_t g = 0; g < groups; ++g)
    for (size_t p = 0; p < sizes.size(); ++p) {
      pieces[p].insert(pieces[p].end(), row, row + sizes[p] * row_bytes);
      row += sizes[p] * row_bytes;
    }
  return pieces;
}

// Writes the Qwen3_5ForCausalLM checkpoint holding `qwen3_next`'s weights: its config with the Qwen3.5
// names (every field both read is given explicitly, so the defaults that differ do not matter) and
// in_proj_qkvz / in_proj_ba split into in_proj_qkv, in_proj_z, in_proj_b, in_proj_a.
void write_as_qwen35(const fs::path& qwen3_next, const fs::path& out) {
  fs::create_directories(out);
  for (const char* f : {"generation_config.json", "tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(qwen3_next / f, out / f, fs::copy_options::overwrite_existing);
  const frontends::Checkpoint ck = frontends::Checkpoint::open(qwen3_next);
  json config = ck.config();
  config["architectures"] = {"Qwen3_5ForCausalLM"};
  config["model_type"] = "qwen3_5_text";
  config["mtp_num_hidden_layers"] = 1;
  for (const char* moe : {"num_experts", "decoder_sparse_step", "mlp_only_layers"}) config.erase(moe);
  std::ofstream(out / "config.json") << config.dump(2);

  const int64_t hk = config["linear_num_key_heads"], dk = config["linear_key_head_dim"];
  const int64_t r = config["linear_num_value_heads"].get<int64_t>() / hk;
  const int64_t rv = r * config["linear_value_head_dim"].get<int64_t>();
  std::vector<frontends::TensorToWrite> tensors;
  for (const std::string& name : ck.tensor_names()) {
    const frontends::TensorView& t = ck.tensor(name);
    const int64_t h = t.shape.size() == 2 ? t.shape[1] : 0;
    if (name.ends_with("in_proj_qkvz.weight")) {
      std::vector<std::vector<uint8_t>> p = split_per_group(t, hk, {dk, dk, rv, rv});  // q, k, v, z
      std::vector<uint8_t> qkv = p[0];
      qkv.insert(qkv.end(), p[1].begin(), p[1].end());
      qkv.insert(qkv.end(), p[2].begin(), p[2].end());
      const std::string base = name.substr(0, name.size() - std::string("in_proj_qkvz.weight").size());
      tensors.push_back({base + "in_proj_qkv.weight", t.dtype, {hk * (2 * dk + rv), h}, std::move(qkv)});
      tensors.push_back({base + "in_proj_z.weight", t.dtype, {hk * rv, h}, std::move(p[3])});
    } else if (name.ends_with("in_proj_ba.weight")) {
      std::vector<std::vector<uint8_t>> p = split_per_group(t, hk, {r, r});  // b, a
      const std::string base = name.substr(0, name.size() - std::string("in_proj_ba.weight").size());
      tensors.push_back({base + "in_proj_b.weight", t.dtype, {hk * r, h}, std::move(p[0])});
      tensors.push_back({base + "in_proj_a.weight", t.dtype, {hk * r, h}, std::move(p[1])});
    } else {
      tensors.push_back({name, t.dtype, t.shape, std::vector<uint8_t>(t.bytes.begin(), t.bytes.end())});
    }
  }
  frontends::write_safetensors(out / "model.safetensors", tensors);
}

// Prefill logits of every row, then `decode_steps` greedy decode steps' logits, one model.
std::vector<ir::HostTensor> run_sequence(engine::Model& m, const std::vector<int32_t>& prompt, int decode_steps) {
  engine::SequenceCache seq(m.blocks(), m.cache_layout().max_blocks_per_seq);
  const engine::SequenceCache* seqs[] = {&seq};
  std::vector<engine::StepRow> rows;
  engine_test::add_rows(rows, seq, 0, prompt);
  std::vector<int32_t> wanted(rows.size());
  std::iota(wanted.begin(), wanted.end(), 0);
  engine::StepResult step = m.step(rows, seqs, wanted, true);
  std::vector<ir::HostTensor> out{step.logits};
  for (int s = 0; s < decode_steps; ++s) {
    const engine::StepRow row{step.next_tokens.back(), static_cast<int32_t>(seq.length()), seq.append(1)[0], 0};
    const int32_t first[] = {0};
    step = m.step({&row, 1}, seqs, first, true);
    out.push_back(step.logits);
  }
  return out;
}

// ---- config ----

TEST(Qwen3NextConfig, DescribesTheDenseModel) {
  const frontends::ModelSpec m = frontends::describe_model(tiny_config(), json::object());
  EXPECT_EQ(m.family, "qwen3_next");
  EXPECT_EQ(m.architecture, "Qwen3NextForCausalLM");
  EXPECT_EQ(m.weight_prefix, "model.");
  EXPECT_TRUE(m.linear_fused_projections);
  EXPECT_DOUBLE_EQ(m.norm_offset, 1.0);  // Qwen3NextRMSNorm: 1 + w
  EXPECT_TRUE(m.qk_norm);
  EXPECT_TRUE(m.attn_output_gate);
  EXPECT_FALSE(m.tie_word_embeddings);
  EXPECT_EQ(m.linear_num_key_heads, 2);
  EXPECT_EQ(m.linear_num_value_heads, 6);
  EXPECT_EQ(m.linear_key_head_dim, 32);
  EXPECT_EQ(m.linear_value_head_dim, 16);
  EXPECT_EQ(m.mtp_layers, 1);  // no field: vLLM's default, what the published checkpoints hold
  ASSERT_EQ(m.layers.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(m.layers[i].kind, i % 2 ? frontends::LayerKind::FullAttention : frontends::LayerKind::LinearAttention) << i;
    EXPECT_EQ(m.layers[i].rope.rotary_dims, 8) << i;  // int(32 * 0.25)
    EXPECT_DOUBLE_EQ(m.layers[i].rope.theta, 10000000.0) << i;
  }
}

TEST(Qwen3NextConfig, AbsentFieldsTakeTheHfDefaults) {
  json c = tiny_config();
  for (const char* k : {"head_dim", "rope_theta", "partial_rotary_factor", "full_attention_interval",
                        "linear_conv_kernel_dim"})
    c.erase(k);
  c["num_hidden_layers"] = 8;
  c["num_nextn_predict_layers"] = 2;
  const frontends::ModelSpec m = frontends::describe_model(c, json::object());
  EXPECT_EQ(m.head_dim, 256);
  EXPECT_EQ(m.linear_conv_kernel, 4);
  EXPECT_EQ(m.mtp_layers, 2);
  for (int i = 0; i < 8; ++i) {
    const frontends::LayerKind want = (i + 1) % 4 ? frontends::LayerKind::LinearAttention : frontends::LayerKind::FullAttention;
    EXPECT_EQ(m.layers[i].kind, want) << i;
    EXPECT_EQ(m.layers[i].rope.rotary_dims, 64) << i;
    EXPECT_DOUBLE_EQ(m.layers[i].rope.theta, 10000.0) << i;  // Qwen3NextConfig's default, not Qwen3.5's
  }
  c = tiny_config();
  c.erase("full_attention_interval");
  c["layer_types"] = {"full_attention", "linear_attention", "linear_attention", "full_attention"};
  c["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 5000.0}, {"partial_rotary_factor", 0.5}};
  const frontends::ModelSpec l = frontends::describe_model(c, json::object());
  EXPECT_EQ(l.layers[0].kind, frontends::LayerKind::FullAttention);
  EXPECT_EQ(l.layers[1].kind, frontends::LayerKind::LinearAttention);
  EXPECT_EQ(l.layers[0].rope.rotary_dims, 16);
  EXPECT_DOUBLE_EQ(l.layers[0].rope.theta, 5000.0);
}

TEST(Qwen3NextConfig, RealShapePresetIsThePublishedConfigMadeDense) {
  const frontends::SynthPreset* p = nullptr;
  for (const frontends::SynthPreset& s : frontends::synth_presets())
    if (s.family == "qwen3_next" && s.name == "qwen3-next-80b-a3b-dense") p = &s;
  ASSERT_NE(p, nullptr);
  json c = p->config;
  c["architectures"] = {"Qwen3NextForCausalLM"};
  const frontends::ModelSpec m = frontends::describe_model(c, json::object());
  EXPECT_EQ(m.hidden_size, 2048);
  EXPECT_EQ(m.num_layers, 48);
  EXPECT_EQ(std::count_if(m.layers.begin(), m.layers.end(),
                          [](const frontends::LayerSpec& l) { return l.kind == frontends::LayerKind::LinearAttention; }),
            36);
  EXPECT_EQ(m.num_heads, 16);
  EXPECT_EQ(m.num_kv_heads, 2);
  EXPECT_EQ(m.head_dim, 256);
  EXPECT_EQ(m.linear_num_key_heads, 16);
  EXPECT_EQ(m.linear_num_value_heads, 32);
  EXPECT_EQ(m.linear_conv_channels(), 2 * 16 * 128 + 32 * 128);
  EXPECT_EQ(m.intermediate_size, 5120);
  EXPECT_EQ(m.vocab_size, 151936);
  EXPECT_FALSE(m.tie_word_embeddings);
  EXPECT_EQ(m.layers[3].rope.rotary_dims, 64);
  EXPECT_DOUBLE_EQ(m.layers[3].rope.theta, 10000000.0);
}

TEST(Qwen3NextConfig, MixtureOfExpertsLayersAreAnErrorNamingThem) {
  json c = tiny_config();
  c.erase("num_experts");  // HF default: 512 experts on every layer
  std::string e = describe_error(c);
  EXPECT_NE(e.find("layers 0, 1, 2, 3 use sparse mixture-of-experts MLPs (num_experts 512, decoder_sparse_step 1)"),
            std::string::npos) << e;
  EXPECT_NE(e.find("only dense Qwen3-Next configs load"), std::string::npos) << e;
  c["num_experts"] = 4;
  c["decoder_sparse_step"] = 2;  // layers 1 and 3
  e = describe_error(c);
  EXPECT_NE(e.find("layers 1, 3 use sparse mixture-of-experts"), std::string::npos) << e;
  c["mlp_only_layers"] = {3};
  e = describe_error(c);
  EXPECT_NE(e.find("layer 1 uses sparse"), std::string::npos) << e;
  c["mlp_only_layers"] = {1, 3};  // every MoE layer made dense
  EXPECT_EQ(describe_error(c), "");
  c["decoder_sparse_step"] = 0;
  EXPECT_NE(describe_error(c).find("decoder_sparse_step must be positive"), std::string::npos);
  c["decoder_sparse_step"] = 1;
  c["mlp_only_layers"] = "all";
  EXPECT_NE(describe_error(c).find("mlp_only_layers must be a list"), std::string::npos);
  c = tiny_config();
  c["num_hidden_layers"] = 48;
  c.erase("num_experts");
  EXPECT_NE(describe_error(c).find("layers 0, 1, 2, 3, 4, 5, 6, 7 and 40 more use"), std::string::npos);
}

TEST(Qwen3NextConfig, MixtureOfExpertsCheckpointFailsAtLoad) {
  const fs::path d = scratch_dir() / "moe";
  fs::create_directories(d);
  for (const fs::directory_entry& f : fs::directory_iterator(synth_qwen3_next()))
    fs::copy_file(f.path(), d / f.path().filename(), fs::copy_options::overwrite_existing);
  json config = frontends::read_json_file(d / "config.json");
  config["num_experts"] = 8;
  std::ofstream(d / "config.json") << config.dump(2);
  try {
    engine::Model::load(d, small_options());
    FAIL() << "a mixture-of-experts Qwen3-Next checkpoint loaded";
  } catch (const frontends::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("sparse mixture-of-experts MLPs (num_experts 8"), std::string::npos) << e.what();
  }
}

TEST(Qwen3NextConfig, ExpectedTensorsAreTheFusedOnesAndTheDerivedRowsRegroupThem) {
  const frontends::ModelSpec m = frontends::describe_model(tiny_config(), json::object());
  std::map<std::string, frontends::TensorSpec> by_name;
  for (const frontends::TensorSpec& t : frontends::expected_tensors(m)) by_name.emplace(t.name, t);
  const std::string gdn = "model.layers.2.linear_attn.";
  // Hk = 2 key heads of 32, Hv = 6 value heads of 16: groups of 32 + 32 + 48 + 48 rows.
  ASSERT_TRUE(by_name.count(gdn + "in_proj_qkvz.weight"));
  EXPECT_EQ(by_name.at(gdn + "in_proj_qkvz.weight").shape, (std::vector<int64_t>{2 * (32 + 32 + 48 + 48), 64}));
  EXPECT_EQ(by_name.at(gdn + "in_proj_ba.weight").shape, (std::vector<int64_t>{12, 64}));
  for (const char* split : {"in_proj_qkv.weight", "in_proj_z.weight", "in_proj_b.weight", "in_proj_a.weight"})
    EXPECT_EQ(by_name.count(gdn + split), 0u) << split;
  EXPECT_EQ(by_name.at(gdn + "conv1d.weight").shape, (std::vector<int64_t>{2 * 64 + 96, 1, 4}));
  EXPECT_TRUE(by_name.count("mtp.layers.0.self_attn.q_proj.weight"));
  EXPECT_TRUE(by_name.at("mtp.fc.weight").optional);

  std::map<std::string, frontends::DerivedTensor> derived;
  for (const frontends::DerivedTensor& d : frontends::derived_tensors(m)) derived.emplace(d.name, d);
  EXPECT_EQ(derived.size(), 8u);  // 4 per GDN layer (0 and 2)
  const frontends::DerivedTensor& qkv = derived.at(gdn + "in_proj_qkv.weight");
  const frontends::DerivedTensor& z = derived.at(gdn + "in_proj_z.weight");
  EXPECT_EQ(qkv.source, gdn + "in_proj_qkvz.weight");
  std::vector<int64_t> want;  // q of heads 0, 1; k of heads 0, 1; v of key heads 0, 1
  for (int64_t begin : {0, 160, 32, 192, 64, 224})
    for (int64_t j = 0; j < (begin % 160 == 64 ? 48 : 32); ++j) want.push_back(begin + j);
  EXPECT_EQ(qkv.source_rows, want);
  want.clear();
  for (int64_t begin : {112, 272})
    for (int64_t j = 0; j < 48; ++j) want.push_back(begin + j);
  EXPECT_EQ(z.source_rows, want);
  EXPECT_EQ(derived.at(gdn + "in_proj_b.weight").source_rows, (std::vector<int64_t>{0, 1, 2, 6, 7, 8}));
  EXPECT_EQ(derived.at(gdn + "in_proj_a.weight").source_rows, (std::vector<int64_t>{3, 4, 5, 9, 10, 11}));
  EXPECT_EQ(derived.at(gdn + "in_proj_a.weight").source, gdn + "in_proj_ba.weight");
  // Together they use every stored row once.
  std::set<int64_t> used(qkv.source_rows.begin(), qkv.source_rows.end());
  used.insert(z.source_rows.begin(), z.source_rows.end());
  EXPECT_EQ(used.size(), 320u);
  EXPECT_EQ(*used.rbegin(), 319);
}

// ---- the model on the device ----

// The reference reads the model source's tensors: the Qwen3.5 matrices regrouped from the fused
// ones (their regrouping is checked against HF's split by the equivalence tests below).
TEST(Qwen3Next, PrefillAndDecodeLogitsMatchTheReference) {
  auto model = engine::Model::load(synth_qwen3_next(), small_options());
  EXPECT_EQ(model->spec().family, "qwen3_next");
  engine_test::ReferenceModel ref(*model, engine_test::ReferenceWeights::ModelSource);
  // 40 prompt tokens: more than one chunk of the chunked Gated DeltaNet kernel (32 rows).
  engine_test::expect_prefill_and_decode_match(*model, ref, prompt_of(40, static_cast<int>(model->spec().vocab_size)),
                                               32, 2e-3);
}

// The same weights in the Qwen3.5 layout run the same graph on the same bytes: identical bits.
TEST(Qwen3Next, Qwen35CheckpointOfTheSameWeightsGivesIdenticalLogits) {
  const fs::path next = synth_qwen3_next(), q35 = scratch_dir() / "as_qwen35";
  write_as_qwen35(next, q35);
  for (const std::string quant : {"", "q4"}) {
    SCOPED_TRACE(quant.empty() ? "bf16" : quant);
    engine::ModelOptions o = small_options();
    o.weight_quant = quant;  // q4: every row quantized on its own, so the gather commutes with it
    auto a = engine::Model::load(next, o);
    auto b = engine::Model::load(q35, o);
    EXPECT_EQ(b->spec().family, "qwen35");
    const std::vector<int32_t> prompt = prompt_of(12, static_cast<int>(a->spec().vocab_size));
    const std::vector<ir::HostTensor> got = run_sequence(*a, prompt, 4), want = run_sequence(*b, prompt, 4);
    for (size_t s = 0; s < want.size(); ++s) EXPECT_TRUE(same_bits(got[s], want[s])) << "step " << s;
  }
}

TEST(Qwen3Next, MlxQuantizedCheckpointEqualsTheQwen35One) {
  const fs::path next = synth_qwen3_next(), q35 = scratch_dir() / "as_qwen35_for_mlx";
  write_as_qwen35(next, q35);
  frontends::mlx_testing::convert_to_mlx(next, scratch_dir() / "mlx_next");
  frontends::mlx_testing::convert_to_mlx(q35, scratch_dir() / "mlx_q35");
  auto a = engine::Model::load(scratch_dir() / "mlx_next", small_options());
  auto b = engine::Model::load(scratch_dir() / "mlx_q35", small_options());
  const std::string qkv = "model.layers.0.linear_attn.in_proj_qkv.weight";
  EXPECT_TRUE(ir::is_quantized(a->source().info(qkv).dtype)) << ir::name(a->source().info(qkv).dtype);
  EXPECT_TRUE(same_bits(a->source().tensor(qkv), b->source().tensor(qkv)));
  const std::vector<int32_t> prompt = prompt_of(12, static_cast<int>(a->spec().vocab_size));
  const std::vector<ir::HostTensor> got = run_sequence(*a, prompt, 2), want = run_sequence(*b, prompt, 2);
  for (size_t s = 0; s < want.size(); ++s) EXPECT_TRUE(same_bits(got[s], want[s])) << "step " << s;
}

// A compiled artifact stores the derived matrices under the names its graphs read.
TEST(Qwen3Next, ArtifactRunsWhatTheFolderRuns) {
  const fs::path dir = synth_qwen3_next(), vkm = scratch_dir() / "tiny_q8.vkm";
  engine::ModelOptions o = small_options();
  o.weight_quant = "q8";
  auto direct = engine::Model::load(dir, o);
  const std::vector<int32_t> prompt = prompt_of(12, static_cast<int>(direct->spec().vocab_size));
  const std::vector<ir::HostTensor> want = run_sequence(*direct, prompt, 2);
  {
    engine::OpenedModel m = engine::open_model(dir, o);
    const engine::CompiledModel c = engine::compile_model(*m.source, m.spec, o, direct->device().target_caps());
    engine::write_model_artifact(vkm, dir, *m.source, c);
  }
  direct.reset();
  auto loaded = engine::Model::load(vkm, o);
  EXPECT_EQ(loaded->spec().family, "qwen3_next");
  EXPECT_TRUE(loaded->source().find("model.layers.0.linear_attn.in_proj_qkv.weight").has_value());
  const std::vector<ir::HostTensor> got = run_sequence(*loaded, prompt, 2);
  for (size_t s = 0; s < want.size(); ++s) EXPECT_TRUE(same_bits(got[s], want[s])) << "step " << s;
}

}  // namespace
