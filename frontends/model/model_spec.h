// A model's architecture, normalized across families: what the graph builder needs to lower it.
// Each family (families.cpp) reads its config.json into this one struct; every difference between
// families is a field here, so adding a family means adding one description, not touching lowering
// or the runtime.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vkllm::frontends {

enum class Activation { Silu, GeluTanh, Gelu };

struct RopeSpec {
  double theta = 10000.0;
  int64_t rotary_dims = 0;              // leading dims of each head that rotate
  std::string layout = "neox";          // "neox" (rotate_half) or "interleaved"
  std::string scaling = "none";         // "none", "linear", "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  int64_t original_max_position = 8192;
  bool operator==(const RopeSpec&) const = default;
};

enum class LayerKind { FullAttention, SlidingAttention };

struct LayerSpec {
  LayerKind kind = LayerKind::FullAttention;
  RopeSpec rope;                        // per layer: Gemma 3 uses another base for sliding layers
};

struct ModelSpec {
  std::string family;                   // "llama", "qwen2", "qwen3", "mistral", "gemma2", "gemma3"
  std::string architecture;             // the config's architectures[0]
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position = 0;             // max_position_embeddings
  std::vector<LayerSpec> layers;

  // How the family differs.
  double norm_eps = 1e-6;
  double norm_offset = 0.0;             // 1.0: RMSNorm weights are stored zero-centred (scale 1 + w)
  Activation activation = Activation::Silu;
  bool qkv_bias = false;                // q/k/v projections have biases (Qwen2)
  bool o_bias = false;
  bool mlp_bias = false;
  bool qk_norm = false;                 // RMSNorm over head_dim on q and k before RoPE (Qwen3, Gemma 3)
  bool sandwich_norms = false;          // extra norms after attention and around the MLP (Gemma 2/3)
  bool tie_word_embeddings = false;
  double embedding_scale = 1.0;         // Gemma: sqrt(hidden_size), rounded to the activation dtype
  double attn_scale = 0.0;              // softmax scale; Gemma: query_pre_attn_scalar^-0.5
  double attn_softcap = 0.0;            // 0: none
  double final_softcap = 0.0;           // 0: none
  int64_t sliding_window = 0;           // for SlidingAttention layers

  // Token ids from config.json / generation_config.json.
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;

  std::string weight_prefix = "model."; // tensor names: <prefix>layers.N...., <prefix>embed_tokens.weight
};

// The families vkllm supports: architecture names (config "architectures") and family keys.
struct FamilyInfo {
  std::string family;
  std::vector<std::string> architectures;
};
const std::vector<FamilyInfo>& supported_families();

// Reads config.json (and generation_config.json for EOS ids, may be an empty object) into a spec.
// Throws FormatError naming the architecture and listing the supported ones when it is unknown,
// or naming the missing/invalid field.
ModelSpec describe_model(const nlohmann::json& config, const nlohmann::json& generation_config);

}  // namespace vkllm::frontends

namespace vkllm::frontends {

// The tensors a checkpoint of this spec holds, with their shapes (HF names and layouts).
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  enum class Role { Embedding, Projection, Bias, Norm } role;
};
std::vector<TensorSpec> expected_tensors(const ModelSpec& m);

}  // namespace vkllm::frontends
