#include <fmt/format.h>

#include "frontends/model/model_spec.h"

namespace vkllm::frontends {
namespace {

using R = TensorSpec::Role;

// Softmax attention of one layer whose tensors are named <l>self_attn.*.
void attention_tensors(const ModelSpec& m, const std::string& l, bool optional, std::vector<TensorSpec>& out) {
  const int64_t h = m.hidden_size, q = m.num_heads * m.head_dim, kv = m.num_kv_heads * m.head_dim;
  // With an output gate, q_proj yields query and gate interleaved per head: [Hq, 2 * head_dim] rows.
  const int64_t q_rows = m.attn_output_gate ? 2 * q : q;
  out.push_back({l + "self_attn.q_proj.weight", {q_rows, h}, R::Projection, optional});
  out.push_back({l + "self_attn.k_proj.weight", {kv, h}, R::Projection, optional});
  out.push_back({l + "self_attn.v_proj.weight", {kv, h}, R::Projection, optional});
  out.push_back({l + "self_attn.o_proj.weight", {h, q}, R::Projection, optional});
  if (m.qkv_bias) {
    out.push_back({l + "self_attn.q_proj.bias", {q_rows}, R::Bias, optional});
    out.push_back({l + "self_attn.k_proj.bias", {kv}, R::Bias, optional});
    out.push_back({l + "self_attn.v_proj.bias", {kv}, R::Bias, optional});
  }
  if (m.o_bias) out.push_back({l + "self_attn.o_proj.bias", {h}, R::Bias, optional});
  if (m.qk_norm) {
    out.push_back({l + "self_attn.q_norm.weight", {m.head_dim}, R::Norm, optional});
    out.push_back({l + "self_attn.k_norm.weight", {m.head_dim}, R::Norm, optional});
  }
}

// Gated DeltaNet (HF Qwen3_5GatedDeltaNet, Qwen3NextGatedDeltaNet) of one layer, named <l>linear_attn.*.
void gated_delta_net_tensors(const ModelSpec& m, const std::string& l, std::vector<TensorSpec>& out) {
  const int64_t h = m.hidden_size, hv = m.linear_num_value_heads;
  const std::string a = l + "linear_attn.";
  if (m.linear_fused_projections) {
    // Qwen3-Next: q, k, v, z in one matrix and b, a in another (rows grouped per key head).
    out.push_back({a + "in_proj_qkvz.weight", {m.linear_conv_channels() + m.linear_value_dim(), h}, R::Projection});
    out.push_back({a + "in_proj_ba.weight", {2 * hv, h}, R::Projection});
  } else {
    out.push_back({a + "in_proj_qkv.weight", {m.linear_conv_channels(), h}, R::Projection});
    out.push_back({a + "in_proj_z.weight", {m.linear_value_dim(), h}, R::Projection});
    out.push_back({a + "in_proj_b.weight", {hv, h}, R::Projection});
    out.push_back({a + "in_proj_a.weight", {hv, h}, R::Projection});
  }
  out.push_back({a + "conv1d.weight", {m.linear_conv_channels(), 1, m.linear_conv_kernel}, R::Conv});
  out.push_back({a + "dt_bias", {hv}, R::Bias});
  out.push_back({a + "A_log", {hv}, R::Bias});
  out.push_back({a + "norm.weight", {m.linear_value_head_dim}, R::PlainNorm});  // RMSNormGated: scale w, not 1 + w
  out.push_back({a + "out_proj.weight", {h, m.linear_value_dim()}, R::Projection});
}

void mlp_tensors(const ModelSpec& m, const std::string& l, bool optional, std::vector<TensorSpec>& out) {
  const int64_t h = m.hidden_size, f = m.intermediate_size;
  out.push_back({l + "mlp.gate_proj.weight", {f, h}, R::Projection, optional});
  out.push_back({l + "mlp.up_proj.weight", {f, h}, R::Projection, optional});
  out.push_back({l + "mlp.down_proj.weight", {h, f}, R::Projection, optional});
  if (m.mlp_bias) {
    out.push_back({l + "mlp.gate_proj.bias", {f}, R::Bias, optional});
    out.push_back({l + "mlp.up_proj.bias", {f}, R::Bias, optional});
    out.push_back({l + "mlp.down_proj.bias", {h}, R::Bias, optional});
  }
}

}  // namespace

std::vector<TensorSpec> expected_tensors(const ModelSpec& m) {
  std::vector<TensorSpec> out;
  const std::string& p = m.weight_prefix;
  const int64_t h = m.hidden_size;
  out.push_back({p + "embed_tokens.weight", {m.vocab_size, h}, R::Embedding});
  for (int64_t i = 0; i < m.num_layers; ++i) {
    const std::string l = fmt::format("{}layers.{}.", p, i);
    out.push_back({l + "input_layernorm.weight", {h}, R::Norm});
    if (m.layers[static_cast<size_t>(i)].kind == LayerKind::LinearAttention) gated_delta_net_tensors(m, l, out);
    else attention_tensors(m, l, false, out);
    out.push_back({l + "post_attention_layernorm.weight", {h}, R::Norm});
    if (m.sandwich_norms) {
      out.push_back({l + "pre_feedforward_layernorm.weight", {h}, R::Norm});
      out.push_back({l + "post_feedforward_layernorm.weight", {h}, R::Norm});
    }
    mlp_tensors(m, l, false, out);
  }
  out.push_back({p + "norm.weight", {h}, R::Norm});
  if (!m.tie_word_embeddings) out.push_back({"lm_head.weight", {m.vocab_size, h}, R::Projection});
  // MTP head (Qwen3.5; names as vLLM's qwen3_5_mtp loads them, at the checkpoint's top level): the
  // embedding and the hidden state after the final norm, each normed, concatenated and projected
  // by fc, then full-attention decoder layers and a norm; it shares embed_tokens and lm_head.
  // Optional: exporters often drop it, and the forward graph does not need it.
  if (m.mtp_layers > 0) {
    out.push_back({"mtp.fc.weight", {h, 2 * h}, R::Projection, true});
    out.push_back({"mtp.pre_fc_norm_embedding.weight", {h}, R::Norm, true});
    out.push_back({"mtp.pre_fc_norm_hidden.weight", {h}, R::Norm, true});
    for (int64_t i = 0; i < m.mtp_layers; ++i) {
      const std::string l = fmt::format("mtp.layers.{}.", i);
      out.push_back({l + "input_layernorm.weight", {h}, R::Norm, true});
      attention_tensors(m, l, true, out);
      out.push_back({l + "post_attention_layernorm.weight", {h}, R::Norm, true});
      mlp_tensors(m, l, true, out);
    }
    out.push_back({"mtp.norm.weight", {h}, R::Norm, true});
  }
  return out;
}

// Qwen3-Next (HF Qwen3NextGatedDeltaNet.fix_query_key_value_ordering): in_proj_qkvz viewed as
// [Hk, 2·Dk + 2·r·Dv] (r = Hv / Hk value heads per key head) splits each key head's group into its
// q (Dk rows), k (Dk), v (r·Dv: value heads g·r … g·r + r − 1) and z (r·Dv); in_proj_ba viewed as
// [Hk, 2·r] into b (r) and a (r). Qwen3.5's in_proj_qkv is [all q | all k | all v], head-major, and
// in_proj_z, in_proj_b, in_proj_a are head-major too: the same rows, regrouped.
std::vector<DerivedTensor> derived_tensors(const ModelSpec& m) {
  std::vector<DerivedTensor> out;
  if (!m.linear_fused_projections) return out;
  const int64_t hk = m.linear_num_key_heads, dk = m.linear_key_head_dim;
  const int64_t r = m.linear_num_value_heads / hk, rv = r * m.linear_value_head_dim;  // per key head
  const int64_t qkvz_group = 2 * dk + 2 * rv, ba_group = 2 * r;
  // Rows [offset, offset + n) of every key head's group, key head by key head.
  auto rows_of = [&](int64_t group, int64_t offset, int64_t n, std::vector<int64_t>& rows) {
    for (int64_t g = 0; g < hk; ++g)
      for (int64_t j = 0; j < n; ++j) rows.push_back(g * group + offset + j);
  };
  for (int64_t i = 0; i < m.num_layers; ++i) {
    if (m.layers[static_cast<size_t>(i)].kind != LayerKind::LinearAttention) continue;
    const std::string a = fmt::format("{}layers.{}.linear_attn.", m.weight_prefix, i);
    const std::string qkvz = a + "in_proj_qkvz.weight", ba = a + "in_proj_ba.weight";
    DerivedTensor qkv{a + "in_proj_qkv.weight", qkvz, {}}, z{a + "in_proj_z.weight", qkvz, {}};
    rows_of(qkvz_group, 0, dk, qkv.source_rows);            // q
    rows_of(qkvz_group, dk, dk, qkv.source_rows);           // k
    rows_of(qkvz_group, 2 * dk, rv, qkv.source_rows);       // v
    rows_of(qkvz_group, 2 * dk + rv, rv, z.source_rows);    // z
    DerivedTensor b{a + "in_proj_b.weight", ba, {}}, alpha{a + "in_proj_a.weight", ba, {}};
    rows_of(ba_group, 0, r, b.source_rows);
    rows_of(ba_group, r, r, alpha.source_rows);
    for (DerivedTensor* d : {&qkv, &z, &b, &alpha}) out.push_back(std::move(*d));
  }
  return out;
}

}  // namespace vkllm::frontends
