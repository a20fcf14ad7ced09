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

// LinearAttention: a Gated DeltaNet layer (Qwen3.5): a recurrent state per sequence instead of a KV cache.
enum class LayerKind { FullAttention, SlidingAttention, LinearAttention };

struct LayerSpec {
  LayerKind kind = LayerKind::FullAttention;
  RopeSpec rope;                        // per layer: Gemma 3 uses another base for sliding layers
};

struct ModelSpec {
  std::string family;                   // "llama", "qwen2", "qwen3", "mistral", "gemma2", "gemma3", "qwen35", "qwen3_next"
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
  bool attn_output_gate = false;        // q_proj also yields a per-head gate: output * sigmoid(gate) (Qwen3.5)

  // Gated DeltaNet (LinearAttention) layers.
  int64_t linear_num_key_heads = 0;     // q/k heads; each serves linear_num_value_heads / this value heads
  int64_t linear_num_value_heads = 0;
  int64_t linear_key_head_dim = 0;
  int64_t linear_value_head_dim = 0;
  int64_t linear_conv_kernel = 0;       // depthwise causal conv1d over the q/k/v channels
  // Qwen3-Next: the checkpoint fuses the projections into in_proj_qkvz and in_proj_ba, rows grouped
  // per key head (q, k, then v and z of the value heads it serves; b then a). The lowering reads the
  // Qwen3.5 tensors (in_proj_qkv, in_proj_z, in_proj_b, in_proj_a), served as rows of the fused
  // ones (derived_tensors).
  bool linear_fused_projections = false;
  int64_t linear_key_dim() const { return linear_num_key_heads * linear_key_head_dim; }
  int64_t linear_value_dim() const { return linear_num_value_heads * linear_value_head_dim; }
  int64_t linear_conv_channels() const { return 2 * linear_key_dim() + linear_value_dim(); }
  bool has_linear_attention() const {
    for (const LayerSpec& l : layers)
      if (l.kind == LayerKind::LinearAttention) return true;
    return false;
  }

  // Multi-token-prediction head (mtp.*: fc, norms, and full-attention decoder layers), read and kept
  // for speculative drafting; the forward graph does not use it.
  int64_t mtp_layers = 0;

  // Token ids from config.json / generation_config.json.
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;

  std::string weight_prefix = "model."; // tensor names: <prefix>layers.N...., <prefix>embed_tokens.weight
  // Tensors a checkpoint may hold that this model does not use (the vision tower of a multimodal
  // checkpoint whose text part is run).
  std::vector<std::string> ignored_tensor_prefixes;
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
  // PlainNorm: a norm weight used as is (scale w) whatever the model's norm_offset; Conv: a depthwise
  // convolution kernel [C, 1, K].
  enum class Role { Embedding, Projection, Bias, Norm, PlainNorm, Conv } role;
  bool optional = false;  // may be absent (MTP head); checked when present
};
std::vector<TensorSpec> expected_tensors(const ModelSpec& m);

// A tensor the lowering reads that the checkpoint stores inside another: row r of `name` is row
// source_rows[r] of `source` (an expected tensor), all of its columns. Qwen3-Next's fused Gated
// DeltaNet projections (ModelSpec::linear_fused_projections) become the four Qwen3.5 ones this way;
// the model source serves them (frontends/source: with_derived_tensors).
struct DerivedTensor {
  std::string name;
  std::string source;
  std::vector<int64_t> source_rows;
};
std::vector<DerivedTensor> derived_tensors(const ModelSpec& m);

}  // namespace vkllm::frontends
