#include <fmt/format.h>

#include "frontends/model/model_spec.h"

namespace vkllm::frontends {

std::vector<TensorSpec> expected_tensors(const ModelSpec& m) {
  using R = TensorSpec::Role;
  std::vector<TensorSpec> out;
  const std::string& p = m.weight_prefix;
  const int64_t h = m.hidden_size, q = m.num_heads * m.head_dim, kv = m.num_kv_heads * m.head_dim;
  out.push_back({p + "embed_tokens.weight", {m.vocab_size, h}, R::Embedding});
  for (int64_t i = 0; i < m.num_layers; ++i) {
    const std::string l = fmt::format("{}layers.{}.", p, i);
    out.push_back({l + "input_layernorm.weight", {h}, R::Norm});
    out.push_back({l + "self_attn.q_proj.weight", {q, h}, R::Projection});
    out.push_back({l + "self_attn.k_proj.weight", {kv, h}, R::Projection});
    out.push_back({l + "self_attn.v_proj.weight", {kv, h}, R::Projection});
    out.push_back({l + "self_attn.o_proj.weight", {h, q}, R::Projection});
    if (m.qkv_bias) {
      out.push_back({l + "self_attn.q_proj.bias", {q}, R::Bias});
      out.push_back({l + "self_attn.k_proj.bias", {kv}, R::Bias});
      out.push_back({l + "self_attn.v_proj.bias", {kv}, R::Bias});
    }
    if (m.o_bias) out.push_back({l + "self_attn.o_proj.bias", {h}, R::Bias});
    if (m.qk_norm) {
      out.push_back({l + "self_attn.q_norm.weight", {m.head_dim}, R::Norm});
      out.push_back({l + "self_attn.k_norm.weight", {m.head_dim}, R::Norm});
    }
    out.push_back({l + "post_attention_layernorm.weight", {h}, R::Norm});
    if (m.sandwich_norms) {
      out.push_back({l + "pre_feedforward_layernorm.weight", {h}, R::Norm});
      out.push_back({l + "post_feedforward_layernorm.weight", {h}, R::Norm});
    }
    out.push_back({l + "mlp.gate_proj.weight", {m.intermediate_size, h}, R::Projection});
    out.push_back({l + "mlp.up_proj.weight", {m.intermediate_size, h}, R::Projection});
    out.push_back({l + "mlp.down_proj.weight", {h, m.intermediate_size}, R::Projection});
    if (m.mlp_bias) {
      out.push_back({l + "mlp.gate_proj.bias", {m.intermediate_size}, R::Bias});
      out.push_back({l + "mlp.up_proj.bias", {m.intermediate_size}, R::Bias});
      out.push_back({l + "mlp.down_proj.bias", {h}, R::Bias});
    }
  }
  out.push_back({p + "norm.weight", {h}, R::Norm});
  if (!m.tie_word_embeddings) out.push_back({"lm_head.weight", {m.vocab_size, h}, R::Projection});
  return out;
}

}  // namespace vkllm::frontends
