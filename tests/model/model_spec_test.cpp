// Family descriptions read from config.json, and synthesized checkpoints that match them.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "frontends/checkpoint/checkpoint.h"
#include "frontends/model/model_spec.h"
#include "frontends/model/synth.h"

namespace fs = std::filesystem;
using namespace vkllm::frontends;
using json = nlohmann::json;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("vkllm_model_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

json llama_config() {
  return {{"architectures", {"LlamaForCausalLM"}}, {"vocab_size", 100}, {"hidden_size", 32},
          {"intermediate_size", 64}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
          {"num_key_value_heads", 2}, {"rms_norm_eps", 1e-5}, {"eos_token_id", 7}};
}

std::string error_of(const json& config) {
  try {
    describe_model(config, json::object());
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ModelSpec, LlamaDefaultsAndRopeScaling) {
  json c = llama_config();
  c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 32.0}, {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  c["rope_theta"] = 500000.0;
  ModelSpec m = describe_model(c, {{"eos_token_id", {7, 9}}});
  EXPECT_EQ(m.family, "llama");
  EXPECT_EQ(m.head_dim, 8);
  EXPECT_DOUBLE_EQ(m.attn_scale, 1.0 / std::sqrt(8.0));
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.layers[1].rope.scaling, "llama3");
  EXPECT_DOUBLE_EQ(m.layers[1].rope.factor, 32.0);
  EXPECT_DOUBLE_EQ(m.layers[0].rope.theta, 500000.0);
  EXPECT_EQ(m.layers[0].rope.rotary_dims, 8);
  EXPECT_EQ(m.eos_token_ids, (std::vector<int64_t>{7, 9}));  // generation_config wins over config
  EXPECT_FALSE(m.qkv_bias);
}

TEST(ModelSpec, FamilyDifferences) {
  json q2 = llama_config();
  q2["architectures"] = {"Qwen2ForCausalLM"};
  ModelSpec m = describe_model(q2, json::object());
  EXPECT_TRUE(m.qkv_bias);
  EXPECT_FALSE(m.o_bias);
  EXPECT_EQ(m.eos_token_ids, (std::vector<int64_t>{7}));

  json q3 = llama_config();
  q3["architectures"] = {"Qwen3ForCausalLM"};
  q3["head_dim"] = 16;
  m = describe_model(q3, json::object());
  EXPECT_TRUE(m.qk_norm);
  EXPECT_EQ(m.head_dim, 16);

  json g2 = llama_config();
  g2["architectures"] = {"Gemma2ForCausalLM"};
  g2["query_pre_attn_scalar"] = 64;
  g2["sliding_window"] = 16;
  m = describe_model(g2, json::object());
  EXPECT_DOUBLE_EQ(m.norm_offset, 1.0);
  EXPECT_DOUBLE_EQ(m.attn_scale, 0.125);
  EXPECT_DOUBLE_EQ(m.attn_softcap, 50.0);
  EXPECT_DOUBLE_EQ(m.final_softcap, 30.0);
  EXPECT_DOUBLE_EQ(m.embedding_scale, std::sqrt(32.0));
  EXPECT_EQ(m.layers[0].kind, LayerKind::SlidingAttention);
  EXPECT_EQ(m.layers[1].kind, LayerKind::FullAttention);
  EXPECT_TRUE(m.tie_word_embeddings);

  json g3 = llama_config();
  g3["architectures"] = {"Gemma3ForCausalLM"};
  g3["num_hidden_layers"] = 6;
  g3["sliding_window_pattern"] = 3;
  g3["rope_local_base_freq"] = 10000.0;
  g3["rope_theta"] = 1000000.0;
  g3["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};
  m = describe_model(g3, json::object());
  for (int i = 0; i < 6; ++i) {
    bool global = (i + 1) % 3 == 0;
    EXPECT_EQ(m.layers[i].kind, global ? LayerKind::FullAttention : LayerKind::SlidingAttention) << i;
    EXPECT_DOUBLE_EQ(m.layers[i].rope.theta, global ? 1000000.0 : 10000.0) << i;
    EXPECT_EQ(m.layers[i].rope.scaling, global ? "linear" : "none") << i;
  }
  EXPECT_DOUBLE_EQ(m.attn_softcap, 0.0);

  // layer_types, when given, decide.
  g3["layer_types"] = {"full_attention", "sliding_attention", "full_attention", "sliding_attention",
                       "full_attention", "full_attention"};
  m = describe_model(g3, json::object());
  EXPECT_EQ(m.layers[0].kind, LayerKind::FullAttention);
  EXPECT_EQ(m.layers[1].kind, LayerKind::SlidingAttention);
}

TEST(ModelSpec, BadConfigsNameTheProblem) {
  json c = llama_config();
  c["architectures"] = {"FancyForCausalLM"};
  std::string e = error_of(c);
  EXPECT_NE(e.find("'FancyForCausalLM' is not supported"), std::string::npos) << e;
  EXPECT_NE(e.find("Qwen3ForCausalLM"), std::string::npos) << e;  // lists the supported ones
  c = llama_config();
  c.erase("hidden_size");
  EXPECT_NE(error_of(c).find("'hidden_size' must be an integer"), std::string::npos);
  c = llama_config();
  c["num_key_value_heads"] = 3;
  EXPECT_NE(error_of(c).find("multiple of"), std::string::npos);
  c = llama_config();
  c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(error_of(c).find("'yarn' is not supported"), std::string::npos);
}

TEST(Synth, EveryFamilyWritesACheckpointThatMatchesItsSpec) {
  for (const char* family : {"llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "qwen35", "qwen3_next"}) {
    SCOPED_TRACE(family);
    fs::path d = temp_dir(family);
    SynthOptions o;
    o.family = family;
    o.out_dir = d;
    o.seed = 3;
    synthesize(o);
    Checkpoint ck = Checkpoint::open(d);
    ModelSpec m = describe_model(ck.config(), ck.generation_config());
    EXPECT_EQ(m.family, family);
    std::vector<TensorSpec> want = expected_tensors(m);
    EXPECT_EQ(ck.tensor_names().size(), want.size());
    for (const TensorSpec& t : want) {
      const TensorView& v = ck.tensor(t.name);
      EXPECT_EQ(v.shape, t.shape) << t.name;
      EXPECT_EQ(v.dtype, StDType::BF16) << t.name;
    }
    // Tokenizer: every id below vocab_size is used exactly once, specials at the end, EOS among them.
    json tok = read_json_file(d / "tokenizer.json");
    std::set<int64_t> ids;
    for (auto& [k, v] : tok["model"]["vocab"].items()) ids.insert(v.get<int64_t>());
    for (auto& a : tok["added_tokens"]) ids.insert(a["id"].get<int64_t>());
    EXPECT_EQ(static_cast<int64_t>(ids.size()), m.vocab_size);
    EXPECT_EQ(*ids.rbegin(), m.vocab_size - 1);
    ASSERT_FALSE(m.eos_token_ids.empty());
    for (int64_t e : m.eos_token_ids) EXPECT_GE(e, m.vocab_size - 5);
    json tc = read_json_file(d / "tokenizer_config.json");
    EXPECT_TRUE(tc["chat_template"].is_string());
    fs::remove_all(d);
  }
}

TEST(Synth, SameSeedSameBytesAndShardsWhenAsked) {
  fs::path a = temp_dir("a"), b = temp_dir("b"), c = temp_dir("c");
  SynthOptions o;
  o.family = "llama";
  o.seed = 11;
  o.out_dir = a;
  synthesize(o);
  o.out_dir = b;
  o.shard_bytes = 40000;  // forces several shards
  synthesize(o);
  o.out_dir = c;
  o.seed = 12;
  o.shard_bytes = int64_t{4} << 30;
  synthesize(o);
  Checkpoint ca = Checkpoint::open(a), cb = Checkpoint::open(b), cc = Checkpoint::open(c);
  EXPECT_TRUE(fs::exists(b / "model.safetensors.index.json"));
  bool any_diff = false;
  for (const std::string& n : ca.tensor_names()) {
    auto x = ca.tensor(n).bytes, y = cb.tensor(n).bytes, z = cc.tensor(n).bytes;
    EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin(), y.end())) << n;
    any_diff |= !std::equal(x.begin(), x.end(), z.begin(), z.end());
  }
  EXPECT_TRUE(any_diff);  // another seed gives other weights
  for (const fs::path& p : {a, b, c}) fs::remove_all(p);
}

TEST(Synth, UnknownPresetListsKnownOnes) {
  SynthOptions o;
  o.family = "llama";
  o.preset = "huge";
  o.out_dir = temp_dir("x");
  try {
    synthesize(o);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("llama/llama3-8b"), std::string::npos) << e.what();
  }
}

// ---- Qwen3.5 (hybrid Gated DeltaNet + gated attention) ----

namespace {

// The text fields of a published Qwen3.5 config (0.8B shapes, fewer layers), as HF writes them.
json qwen35_text_config() {
  return {{"model_type", "qwen3_5_text"}, {"vocab_size", 248320}, {"hidden_size", 1024},
          {"intermediate_size", 3584}, {"num_hidden_layers", 8}, {"num_attention_heads", 8},
          {"num_key_value_heads", 2}, {"head_dim", 256}, {"rms_norm_eps", 1e-6}, {"hidden_act", "silu"},
          {"linear_num_key_heads", 16}, {"linear_num_value_heads", 32}, {"linear_key_head_dim", 128},
          {"linear_value_head_dim", 64}, {"linear_conv_kernel_dim", 4}, {"full_attention_interval", 4},
          {"mtp_num_hidden_layers", 1}, {"tie_word_embeddings", false}, {"eos_token_id", 248044},
          {"rope_parameters",
           {{"rope_type", "default"}, {"rope_theta", 10000000.0}, {"partial_rotary_factor", 0.25},
            {"mrope_section", {11, 11, 10}}, {"mrope_interleaved", true}}}};
}

json qwen35_conditional_config() {
  return {{"architectures", {"Qwen3_5ForConditionalGeneration"}}, {"model_type", "qwen3_5"},
          {"tie_word_embeddings", true}, {"text_config", qwen35_text_config()},
          {"vision_config", {{"depth", 2}, {"hidden_size", 64}}}};
}

}  // namespace

TEST(ModelSpec, Qwen35ConditionalGenerationReadsTheTextConfig) {
  ModelSpec m = describe_model(qwen35_conditional_config(), json::object());
  EXPECT_EQ(m.family, "qwen35");
  EXPECT_EQ(m.architecture, "Qwen3_5ForConditionalGeneration");
  EXPECT_EQ(m.weight_prefix, "model.language_model.");
  EXPECT_EQ(m.ignored_tensor_prefixes, (std::vector<std::string>{"model.visual."}));
  EXPECT_EQ(m.hidden_size, 1024);
  EXPECT_EQ(m.vocab_size, 248320);
  EXPECT_EQ(m.head_dim, 256);
  EXPECT_DOUBLE_EQ(m.attn_scale, 1.0 / 16.0);
  EXPECT_DOUBLE_EQ(m.norm_offset, 1.0);
  EXPECT_TRUE(m.qk_norm);
  EXPECT_TRUE(m.attn_output_gate);
  EXPECT_FALSE(m.qkv_bias);
  EXPECT_TRUE(m.tie_word_embeddings);  // the top-level value (what HF ties by) wins
  EXPECT_EQ(m.linear_num_key_heads, 16);
  EXPECT_EQ(m.linear_num_value_heads, 32);
  EXPECT_EQ(m.linear_key_head_dim, 128);
  EXPECT_EQ(m.linear_value_head_dim, 64);
  EXPECT_EQ(m.linear_conv_kernel, 4);
  EXPECT_EQ(m.linear_conv_channels(), 2 * 16 * 128 + 32 * 64);
  EXPECT_EQ(m.mtp_layers, 1);
  EXPECT_EQ(m.eos_token_ids, (std::vector<int64_t>{248044}));  // from text_config
  ASSERT_EQ(m.layers.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(m.layers[i].kind, (i + 1) % 4 == 0 ? LayerKind::FullAttention : LayerKind::LinearAttention) << i;
    // Partial rotary: int(256 * 0.25) dims, rotate_half layout; M-RoPE is 1-D RoPE on text.
    EXPECT_EQ(m.layers[i].rope.rotary_dims, 64) << i;
    EXPECT_EQ(m.layers[i].rope.layout, "neox") << i;
    EXPECT_EQ(m.layers[i].rope.scaling, "none") << i;
    EXPECT_DOUBLE_EQ(m.layers[i].rope.theta, 10000000.0) << i;
  }
  EXPECT_TRUE(m.has_linear_attention());
}

TEST(ModelSpec, Qwen35CausalLMIsTheFlatTextConfig) {
  json c = qwen35_text_config();
  c["architectures"] = {"Qwen3_5ForCausalLM"};
  c["num_hidden_layers"] = 3;
  c["layer_types"] = {"full_attention", "linear_attention", "full_attention"};
  c.erase("head_dim");  // HF default 256, not hidden / heads
  c.erase("rope_parameters");
  c["partial_rotary_factor"] = 0.5;
  c["rope_theta"] = 5000.0;
  ModelSpec m = describe_model(c, json::object());
  EXPECT_EQ(m.family, "qwen35");
  EXPECT_EQ(m.weight_prefix, "model.");
  EXPECT_TRUE(m.ignored_tensor_prefixes.empty());
  EXPECT_FALSE(m.tie_word_embeddings);
  EXPECT_EQ(m.head_dim, 256);
  EXPECT_EQ(m.layers[0].kind, LayerKind::FullAttention);
  EXPECT_EQ(m.layers[1].kind, LayerKind::LinearAttention);
  EXPECT_EQ(m.layers[2].kind, LayerKind::FullAttention);
  EXPECT_EQ(m.layers[0].rope.rotary_dims, 128);
  EXPECT_DOUBLE_EQ(m.layers[0].rope.theta, 5000.0);
}

TEST(ModelSpec, Qwen35BadConfigsNameTheProblem) {
  json c = qwen35_conditional_config();
  c.erase("text_config");
  EXPECT_NE(error_of(c).find("'text_config' must be an object"), std::string::npos) << error_of(c);
  c = qwen35_conditional_config();
  c["text_config"]["linear_num_value_heads"] = 24;
  EXPECT_NE(error_of(c).find("multiple of linear_num_key_heads (16)"), std::string::npos) << error_of(c);
  c = qwen35_conditional_config();
  c["text_config"]["layer_types"] = json::array();
  for (int i = 0; i < 8; ++i) c["text_config"]["layer_types"].push_back(i == 2 ? "mamba" : "full_attention");
  EXPECT_NE(error_of(c).find("layer_types[2] = 'mamba' is not supported"), std::string::npos) << error_of(c);
  c = qwen35_conditional_config();
  c["text_config"]["rope_parameters"]["partial_rotary_factor"] = 0.001;
  EXPECT_NE(error_of(c).find("partial_rotary_factor"), std::string::npos) << error_of(c);
}

TEST(ModelSpec, Qwen35ExpectedTensors) {
  ModelSpec m = describe_model(qwen35_conditional_config(), json::object());
  std::map<std::string, TensorSpec> by_name;
  for (const TensorSpec& t : expected_tensors(m)) EXPECT_TRUE(by_name.emplace(t.name, t).second) << t.name;
  auto shape = [&](const std::string& name) -> std::vector<int64_t> {
    auto it = by_name.find(name);
    EXPECT_NE(it, by_name.end()) << name;
    return it == by_name.end() ? std::vector<int64_t>{} : it->second.shape;
  };
  const std::string gdn = "model.language_model.layers.0.linear_attn.";
  const int64_t channels = 2 * 16 * 128 + 32 * 64;
  EXPECT_EQ(shape(gdn + "in_proj_qkv.weight"), (std::vector<int64_t>{channels, 1024}));
  EXPECT_EQ(shape(gdn + "in_proj_z.weight"), (std::vector<int64_t>{32 * 64, 1024}));
  EXPECT_EQ(shape(gdn + "in_proj_b.weight"), (std::vector<int64_t>{32, 1024}));
  EXPECT_EQ(shape(gdn + "in_proj_a.weight"), (std::vector<int64_t>{32, 1024}));
  EXPECT_EQ(shape(gdn + "conv1d.weight"), (std::vector<int64_t>{channels, 1, 4}));
  EXPECT_EQ(shape(gdn + "dt_bias"), (std::vector<int64_t>{32}));
  EXPECT_EQ(shape(gdn + "A_log"), (std::vector<int64_t>{32}));
  EXPECT_EQ(shape(gdn + "norm.weight"), (std::vector<int64_t>{64}));
  EXPECT_EQ(by_name.at(gdn + "norm.weight").role, TensorSpec::Role::PlainNorm);
  EXPECT_EQ(shape(gdn + "out_proj.weight"), (std::vector<int64_t>{1024, 32 * 64}));
  EXPECT_EQ(by_name.count("model.language_model.layers.0.self_attn.q_proj.weight"), 0u);
  const std::string attn = "model.language_model.layers.3.self_attn.";
  EXPECT_EQ(shape(attn + "q_proj.weight"), (std::vector<int64_t>{2 * 8 * 256, 1024}));  // query and gate
  EXPECT_EQ(shape(attn + "k_proj.weight"), (std::vector<int64_t>{2 * 256, 1024}));
  EXPECT_EQ(shape(attn + "o_proj.weight"), (std::vector<int64_t>{1024, 8 * 256}));
  EXPECT_EQ(shape(attn + "q_norm.weight"), (std::vector<int64_t>{256}));
  EXPECT_EQ(by_name.count("model.language_model.layers.3.linear_attn.A_log"), 0u);
  EXPECT_EQ(by_name.count("lm_head.weight"), 0u);  // tied
  // MTP head: optional, full-attention layer with the gated q_proj.
  EXPECT_EQ(shape("mtp.fc.weight"), (std::vector<int64_t>{1024, 2048}));
  EXPECT_EQ(shape("mtp.layers.0.self_attn.q_proj.weight"), (std::vector<int64_t>{2 * 8 * 256, 1024}));
  for (const char* n : {"mtp.pre_fc_norm_embedding.weight", "mtp.pre_fc_norm_hidden.weight", "mtp.norm.weight",
                        "mtp.layers.0.input_layernorm.weight", "mtp.layers.0.mlp.down_proj.weight"}) {
    const bool down = n == std::string("mtp.layers.0.mlp.down_proj.weight");
    EXPECT_EQ(shape(n), down ? std::vector<int64_t>({1024, 3584}) : std::vector<int64_t>({1024})) << n;
  }
  for (const auto& [name, t] : by_name) EXPECT_EQ(t.optional, name.starts_with("mtp.")) << name;
}

TEST(Synth, Qwen35WritesTheMultimodalLayoutAndMtp) {
  fs::path d = temp_dir("qwen35");
  SynthOptions o;
  o.family = "qwen35";
  o.out_dir = d;
  synthesize(o);
  json config = read_json_file(d / "config.json");
  EXPECT_EQ(config["architectures"], json::array({"Qwen3_5ForConditionalGeneration"}));
  EXPECT_EQ(config["model_type"], "qwen3_5");
  EXPECT_EQ(config["text_config"]["model_type"], "qwen3_5_text");
  EXPECT_EQ(config["text_config"]["mtp_num_hidden_layers"], 1);
  EXPECT_EQ(config["text_config"]["rope_parameters"]["partial_rotary_factor"], 0.25);
  Checkpoint ck = Checkpoint::open(d);
  ModelSpec m = describe_model(ck.config(), ck.generation_config());
  EXPECT_TRUE(m.has_linear_attention());
  EXPECT_NE(ck.find("mtp.fc.weight"), nullptr);
  EXPECT_NE(ck.find("mtp.layers.0.self_attn.q_proj.weight"), nullptr);
  EXPECT_NE(ck.find("model.language_model.layers.0.linear_attn.conv1d.weight"), nullptr);
  fs::remove_all(d);
}

TEST(Synth, Qwen35RealShapePresetsDescribeThePublishedModels) {
  struct Want {
    const char* preset;
    int64_t hidden, layers, linear_layers, heads, kv_heads, key_heads, value_heads, intermediate;
    bool tied;
  };
  for (const Want& w : {Want{"qwen35-0.8b", 1024, 24, 18, 8, 2, 16, 16, 3584, true},
                        Want{"qwen35-2b", 2048, 24, 18, 8, 2, 16, 16, 6144, true},
                        Want{"qwen35-9b", 4096, 32, 24, 16, 4, 16, 32, 12288, false}}) {
    SCOPED_TRACE(w.preset);
    const SynthPreset* p = nullptr;
    for (const SynthPreset& s : synth_presets())
      if (s.family == "qwen35" && s.name == w.preset) p = &s;
    ASSERT_NE(p, nullptr);
    json c = p->config;
    c["architectures"] = {"Qwen3_5ForCausalLM"};
    ModelSpec m = describe_model(c, json::object());
    EXPECT_EQ(m.hidden_size, w.hidden);
    EXPECT_EQ(m.num_layers, w.layers);
    int64_t linear = 0;
    for (const LayerSpec& l : m.layers) linear += l.kind == LayerKind::LinearAttention;
    EXPECT_EQ(linear, w.linear_layers);
    EXPECT_EQ(m.num_heads, w.heads);
    EXPECT_EQ(m.num_kv_heads, w.kv_heads);
    EXPECT_EQ(m.head_dim, 256);
    EXPECT_EQ(m.linear_num_key_heads, w.key_heads);
    EXPECT_EQ(m.linear_num_value_heads, w.value_heads);
    EXPECT_EQ(m.linear_key_head_dim, 128);
    EXPECT_EQ(m.linear_value_head_dim, 128);
    EXPECT_EQ(m.intermediate_size, w.intermediate);
    EXPECT_EQ(m.vocab_size, 248320);
    EXPECT_EQ(m.tie_word_embeddings, w.tied);
  }
}
