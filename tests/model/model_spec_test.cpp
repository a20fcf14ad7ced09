// Family descriptions read from config.json, and synthesized checkpoints that match them.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

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
  for (const char* family : {"llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3"}) {
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
