#include "frontends/model/lower.h"

#include <fmt/format.h>

#include <cmath>

#include "ir/sampling.h"

namespace vkllm::frontends {
namespace {

using ir::Dim;
using ir::DType;
using ir::Shape;
using ir::Type;
using ir::ValueId;

class Lowering {
 public:
  Lowering(const ModelSpec& spec, const CacheLayout& cache, const std::function<DType(const std::string&)>& dtype_of,
           bool with_logits, const std::string& name)
      : m_(spec), cache_(cache), dtype_of_(dtype_of), with_logits_(with_logits), b_(name) {}

  ir::Graph build() {
    const Dim T = Dim::symbol(kRowsSymbol), R = Dim::symbol(kOutRowsSymbol);
    tokens_ = b_.input("tokens", {DType::I32, {T}});
    pos_ = b_.input("pos", {DType::I32, {T}});
    slots_ = b_.input("slots", {DType::I32, {T}});
    row_seq_ = b_.input("row_seq", {DType::I32, {T}});
    block_table_ = b_.input("block_table", {DType::I32, {Dim::of(cache_.max_seqs), Dim::of(cache_.max_blocks_per_seq)}});
    ValueId out_rows = b_.input("out_rows", {DType::I32, {R}});
    ValueId sample_params = b_.input("sample_params", {DType::F32, {R, Dim::of(ir::kSampleParamColumns)}});
    ValueId sample_rng = b_.input("sample_rng", {DType::I32, {R, Dim::of(2)}});
    ValueId sample_history = b_.input("sample_history", {DType::I32, {R, Dim::of(cache_.sample_history)}});
    if (m_.has_linear_attention()) {
      state_src_ = b_.input("state_src", {DType::I32, {T}});
      state_dst_ = b_.input("state_dst", {DType::I32, {T}});
    }

    const std::string& p = m_.weight_prefix;
    ValueId embed = weight(p + "embed_tokens.weight", {m_.vocab_size, m_.hidden_size});
    ValueId x = b_.embedding(embed, tokens_);
    if (m_.embedding_scale != 1.0) x = b_.scale(x, m_.embedding_scale);
    for (int64_t i = 0; i < m_.num_layers; ++i) x = layer(x, i);
    x = norm(x, p + "norm.weight", m_.hidden_size);
    ValueId last = b_.embedding(x, out_rows);  // gather the rows whose logits are wanted
    ValueId head = m_.tie_word_embeddings ? embed : weight("lm_head.weight", {m_.vocab_size, m_.hidden_size});
    ValueId logits = b_.matmul(last, head);
    if (m_.final_softcap > 0) logits = b_.softcap(logits, m_.final_softcap);
    b_.set_name(logits, "logits");
    auto [next, score] = b_.sample(logits, sample_params, sample_rng, sample_history);
    b_.set_name(next, "next_token");
    b_.set_name(score, "next_score");
    b_.output(next);
    b_.output(score);
    if (with_logits_) b_.output(logits);
    return b_.finish();
  }

 private:
  ValueId weight(const std::string& name, std::vector<int64_t> shape) {
    Shape s;
    for (int64_t d : shape) s.push_back(Dim::of(d));
    return b_.weight(name, {dtype_of_(name), s});
  }

  ValueId norm(ValueId x, const std::string& name, int64_t dim) {
    return b_.rms_norm(x, weight(name, {dim}), m_.norm_eps, m_.norm_offset);
  }

  // x·Wᵀ (+ bias).
  ValueId linear(ValueId x, const std::string& name, int64_t out, int64_t in, bool bias) {
    ValueId y = b_.matmul(x, weight(name + ".weight", {out, in}));
    if (bias) y = b_.add(y, weight(name + ".bias", {out}));
    return y;
  }

  ValueId heads(ValueId x, int64_t n) {
    return b_.reshape(x, {Dim::symbol(kRowsSymbol), Dim::of(n), Dim::of(m_.head_dim)});
  }

  ir::Attrs rope_attrs(const RopeSpec& r) {
    ir::Attrs a{{"theta", r.theta}, {"rotary_dims", r.rotary_dims}, {"layout", r.layout}};
    if (r.scaling != "none") {
      a["scaling"] = r.scaling;
      a["factor"] = r.factor;
    }
    if (r.scaling == "llama3") {
      a["low_freq_factor"] = r.low_freq_factor;
      a["high_freq_factor"] = r.high_freq_factor;
      a["original_max_position"] = r.original_max_position;
    }
    return a;
  }

  // Softmax attention over the paged KV cache; with an output gate (Qwen3.5) q_proj yields, per
  // head, the query then the gate (HF: view [T, Hq, 2 * Dh], chunk in two), and the attention output
  // is scaled by sigmoid(gate) before o_proj.
  ValueId attention(ValueId hn, const std::string& l, int64_t i, const LayerSpec& ls) {
    const int64_t h = m_.hidden_size, qd = m_.num_heads * m_.head_dim, kvd = m_.num_kv_heads * m_.head_dim;
    const Dim T = Dim::symbol(kRowsSymbol);
    ValueId q, gate = -1;
    if (m_.attn_output_gate) {
      ValueId qg = b_.reshape(linear(hn, l + "self_attn.q_proj", 2 * qd, h, m_.qkv_bias),
                              {T, Dim::of(m_.num_heads), Dim::of(2 * m_.head_dim)});
      q = b_.slice(qg, 2, 0, m_.head_dim);
      gate = b_.reshape(b_.slice(qg, 2, m_.head_dim, m_.head_dim), {T, Dim::of(qd)});
    } else {
      q = heads(linear(hn, l + "self_attn.q_proj", qd, h, m_.qkv_bias), m_.num_heads);
    }
    ValueId k = heads(linear(hn, l + "self_attn.k_proj", kvd, h, m_.qkv_bias), m_.num_kv_heads);
    ValueId v = heads(linear(hn, l + "self_attn.v_proj", kvd, h, m_.qkv_bias), m_.num_kv_heads);
    if (m_.qk_norm) {
      q = norm(q, l + "self_attn.q_norm.weight", m_.head_dim);
      k = norm(k, l + "self_attn.k_norm.weight", m_.head_dim);
    }
    q = b_.rope(q, pos_, rope_attrs(ls.rope));
    k = b_.rope(k, pos_, rope_attrs(ls.rope));

    const Shape cache_shape = {Dim::of(cache_.num_blocks), Dim::of(cache_.block_size), Dim::of(m_.num_kv_heads),
                               Dim::of(m_.head_dim)};
    ValueId kc = b_.state(fmt::format("k_cache.{}", i), {cache_.kv_dtype, cache_shape});
    ValueId vc = b_.state(fmt::format("v_cache.{}", i), {cache_.kv_dtype, cache_shape});
    kc = b_.kv_write(kc, k, slots_);
    vc = b_.kv_write(vc, v, slots_);
    int64_t window = ls.kind == LayerKind::SlidingAttention ? m_.sliding_window : 0;
    ValueId a = b_.paged_attention(q, kc, vc, block_table_, row_seq_, pos_, m_.attn_scale, window, m_.attn_softcap);
    a = b_.reshape(a, {T, Dim::of(qd)});
    if (gate >= 0) a = b_.mul(a, b_.sigmoid(gate));
    return linear(a, l + "self_attn.o_proj", h, qd, m_.o_bias);
  }

  // Gated DeltaNet (HF Qwen3_5GatedDeltaNet): projections, a causal depthwise conv (SiLU) over the
  // q/k/v channels whose window is carried per sequence, the gated delta rule with a recurrent state
  // per sequence (both states live in slots chosen by state_src / state_dst), then
  // RMSNormGated(o, z) = rms_norm(o) * w * silu(z) per value head, and out_proj.
  ValueId gated_delta_net(ValueId hn, const std::string& l, int64_t i) {
    const std::string a = l + "linear_attn.";
    const int64_t h = m_.hidden_size, kd = m_.linear_key_dim(), vd = m_.linear_value_dim();
    const int64_t channels = m_.linear_conv_channels(), kernel = m_.linear_conv_kernel;
    const int64_t hk = m_.linear_num_key_heads, hv = m_.linear_num_value_heads;
    const int64_t dk = m_.linear_key_head_dim, dv = m_.linear_value_head_dim;
    const Dim T = Dim::symbol(kRowsSymbol), S = Dim::of(cache_.state_slots);

    ValueId qkv = linear(hn, a + "in_proj_qkv", channels, h, false);
    ValueId z = linear(hn, a + "in_proj_z", vd, h, false);
    ValueId beta = b_.sigmoid(linear(hn, a + "in_proj_b", hv, h, false));
    ValueId alpha = linear(hn, a + "in_proj_a", hv, h, false);

    // The checkpoint's conv weight is [C, 1, K] (nn.Conv1d with groups = C).
    ValueId conv_w = b_.reshape(weight(a + "conv1d.weight", {channels, 1, kernel}), {Dim::of(channels), Dim::of(kernel)});
    ValueId conv_state = b_.state(fmt::format("conv_state.{}", i), {DType::F32, {S, Dim::of(kernel - 1), Dim::of(channels)}});
    ValueId mixed = b_.conv1d(qkv, conv_w, conv_state, state_src_, state_dst_, true).first;
    ValueId q = b_.reshape(b_.slice(mixed, 1, 0, kd), {T, Dim::of(hk), Dim::of(dk)});
    ValueId k = b_.reshape(b_.slice(mixed, 1, kd, kd), {T, Dim::of(hk), Dim::of(dk)});
    ValueId v = b_.reshape(b_.slice(mixed, 1, 2 * kd, vd), {T, Dim::of(hv), Dim::of(dv)});

    // g = -exp(A_log) * softplus(a + dt_bias), in f32 as HF (A_log.float()).
    ValueId decay_rate = b_.scale(b_.exp(b_.cast(weight(a + "A_log", {hv}), DType::F32)), -1.0);
    ValueId g = b_.mul(b_.softplus(b_.add(alpha, weight(a + "dt_bias", {hv}))), decay_rate);

    ValueId state = b_.state(fmt::format("gdn_state.{}", i), {DType::F32, {S, Dim::of(hv), Dim::of(dk), Dim::of(dv)}});
    ValueId o = b_.gated_delta_net(q, k, v, g, beta, state, state_src_, state_dst_,
                                   1.0 / std::sqrt(static_cast<double>(dk)), true, 1e-6).first;
    ValueId zh = b_.reshape(z, {T, Dim::of(hv), Dim::of(dv)});
    o = b_.mul(b_.rms_norm(o, weight(a + "norm.weight", {dv}), m_.norm_eps, 0.0), b_.silu(zh));
    return linear(b_.reshape(o, {T, Dim::of(vd)}), a + "out_proj", h, vd, false);
  }

  ValueId layer(ValueId x, int64_t i) {
    const std::string l = fmt::format("{}layers.{}.", m_.weight_prefix, i);
    const LayerSpec& ls = m_.layers[static_cast<size_t>(i)];
    const int64_t h = m_.hidden_size;

    ValueId hn = norm(x, l + "input_layernorm.weight", h);
    ValueId o = ls.kind == LayerKind::LinearAttention ? gated_delta_net(hn, l, i) : attention(hn, l, i, ls);
    if (m_.sandwich_norms) o = norm(o, l + "post_attention_layernorm.weight", h);
    x = b_.add(x, o);

    hn = norm(x, l + (m_.sandwich_norms ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"), h);
    const int64_t f = m_.intermediate_size;
    ValueId g = linear(hn, l + "mlp.gate_proj", f, h, m_.mlp_bias);
    ValueId u = linear(hn, l + "mlp.up_proj", f, h, m_.mlp_bias);
    ValueId act = m_.activation == Activation::Silu ? b_.swiglu(g, u)
                                                    : b_.geglu(g, u, m_.activation == Activation::GeluTanh);
    ValueId d = linear(act, l + "mlp.down_proj", h, f, m_.mlp_bias);
    if (m_.sandwich_norms) d = norm(d, l + "post_feedforward_layernorm.weight", h);
    return b_.add(x, d);
  }

  const ModelSpec& m_;
  const CacheLayout& cache_;
  const std::function<DType(const std::string&)>& dtype_of_;
  bool with_logits_;
  ir::Builder b_;
  ValueId tokens_ = -1, pos_ = -1, slots_ = -1, row_seq_ = -1, block_table_ = -1;
  ValueId state_src_ = -1, state_dst_ = -1;  // only with Gated DeltaNet layers
};

}  // namespace

ir::Graph build_forward_graph(const ModelSpec& spec, const CacheLayout& cache,
                              const std::function<DType(const std::string&)>& weight_dtype,
                              bool with_logits, const std::string& graph_name) {
  return Lowering(spec, cache, weight_dtype, with_logits, graph_name).build();
}

}  // namespace vkllm::frontends
