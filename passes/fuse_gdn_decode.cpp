// fuse-gdn-decode: in decode steps (rows bounded by kMaxDecodeRows), a Gated DeltaNet layer's ops
// between its input projections and out_proj — as frontends/model/lower.cpp builds them for Qwen3.5
// and Qwen3-Next (whose fused projections the frontend splits into the same four) —
//   y, conv' = conv1d(qkv, conv_w, conv_state, src, dst) {activation = "silu"}
//   q, k, v = reshape(slice(y, 1, ...)) (q: [0, Hk·Dk), k: [Hk·Dk, 2·Hk·Dk), v: the rest)
//   beta = sigmoid(b);  g = mul(softplus(add(a, dt_bias)), scale(exp(cast(A_log)), -1))
//   o, state' = gated_delta_net(q, k, v, g, beta, state, src, dst)
//   out = mul(rms_norm(o, norm_w), silu(z))    (either operand order)
// become one `fused_gated_delta_net(qkv, z, a, b, conv_w, conv_state, A_log, dt_bias, norm_w, state,
// src, dst)` (ir/README.md) at the final mul's place: one dispatch instead of 15
// (codegen/ops/fused_gated_delta_net.cpp). Exact: the fused op's semantics is that composition with
// its roundings.
//
// Conditions: qkv, z, a, b f32 (so every intermediate is f32, as the fused op defines them); the
// conv output read only by the three slices, each slice by its reshape, each reshape only as the
// q/k/v operand; o and its norm each read once; both states' results read by no op (a graph
// output may read them) and produced by `state` ops (or graph inputs) whose names no other `state`
// op between the conv and the final mul declares; no other in-place write in that window. The gate
// chain (sigmoid, add, softplus, mul, cast/exp/scale) and silu(z) go when nothing else reads them.
// Prefill graphs keep the separate ops (the chunked gated_delta_net kernel).
#include <algorithm>
#include <optional>

#include "ir/verify.h"
#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {
namespace {

using ir::OpKind;
using ir::ValueId;

// The op producing v when it is of `kind`, else nullopt.
std::optional<size_t> producer_of(const ir::Graph& g, ValueId v, OpKind kind) {
  const int p = g.value(v).producer;
  if (p < 0 || g.ops[static_cast<size_t>(p)].kind != kind) return std::nullopt;
  return static_cast<size_t>(p);
}

bool is_f32(const ir::Graph& g, ValueId v) { return g.type(v).dtype == ir::DType::F32; }

// The name of the state whose storage v is (a `state` op's result), or "" (e.g. a graph input).
std::string state_name(const ir::Graph& g, ValueId v) {
  const std::optional<size_t> p = producer_of(g, v, OpKind::State);
  return p ? g.ops[*p].attr_str("name") : std::string();
}

struct Match {
  size_t mul;                     // the final mul, whose place the fused op takes
  std::vector<size_t> removed;    // ops that go (their results unused once the fused op is in)
  std::vector<size_t> if_unused;  // ops that go when nothing else reads them
  ir::Op fused;
};

// The layer whose gated_delta_net is op `i`, or nullopt.
std::optional<Match> match_layer(const ir::Graph& g, size_t i, const std::vector<int>& uses,
                                 const SymbolBounds& bounds) {
  const ir::Op& gdn = g.ops[i];
  const int64_t rows = bound_of(g.type(gdn.inputs[0]).shape[0], bounds);
  if (rows < 1 || rows > kMaxDecodeRows) return std::nullopt;
  auto used_once = [&](ValueId v) { return uses[static_cast<size_t>(v)] == 1; };
  auto no_op_uses = [&](ValueId v) {
    int in_outputs = static_cast<int>(std::count(g.outputs.begin(), g.outputs.end(), v));
    return uses[static_cast<size_t>(v)] == in_outputs;
  };

  // q, k, v: reshape(slice(conv output, axis 1)), consecutive blocks covering its channels.
  std::optional<size_t> conv_index;
  std::vector<size_t> views;
  int64_t next_start = 0;
  for (size_t operand = 0; operand < 3; ++operand) {
    const ValueId heads = gdn.inputs[operand];
    const std::optional<size_t> reshape = producer_of(g, heads, OpKind::Reshape);
    if (!reshape || !used_once(heads)) return std::nullopt;
    const ValueId sliced = g.ops[*reshape].inputs[0];
    const std::optional<size_t> slice = producer_of(g, sliced, OpKind::Slice);
    if (!slice || !used_once(sliced)) return std::nullopt;
    const ir::Op& s = g.ops[*slice];
    if (s.attr_int("axis") != 1 || s.attr_int("start") != next_start) return std::nullopt;
    const std::optional<size_t> conv = producer_of(g, s.inputs[0], OpKind::Conv1d);
    if (!conv || (conv_index && *conv != *conv_index)) return std::nullopt;
    conv_index = conv;
    // [T, n] viewed as [T, H, D] with the conv's rows.
    const ir::Shape& shape = g.type(heads).shape;
    if (g.type(sliced).shape.size() != 2 || shape[0] != g.type(sliced).shape[0]) return std::nullopt;
    next_start += s.attr_int("size");
    views.push_back(*reshape);
    views.push_back(*slice);
  }
  const ir::Op& conv = g.ops[*conv_index];
  const ValueId y = conv.results[0];
  if (conv.inputs.size() != 5 || conv.attr_str("activation", "none") != "silu") return std::nullopt;
  if (conv.inputs[3] != gdn.inputs[6] || conv.inputs[4] != gdn.inputs[7]) return std::nullopt;  // other slots
  if (uses[static_cast<size_t>(y)] != 3 || g.type(y).shape[1] != ir::Dim::of(next_start)) return std::nullopt;
  if (!is_f32(g, conv.inputs[0])) return std::nullopt;

  // beta = sigmoid(b); g = mul(softplus(add(a, dt_bias)), scale(exp(cast(A_log)), -1)).
  const std::optional<size_t> sigmoid = producer_of(g, gdn.inputs[4], OpKind::Sigmoid);
  if (!sigmoid || !is_f32(g, g.ops[*sigmoid].inputs[0])) return std::nullopt;
  const std::optional<size_t> gate_mul = producer_of(g, gdn.inputs[3], OpKind::Mul);
  if (!gate_mul) return std::nullopt;
  const std::optional<size_t> softplus = producer_of(g, g.ops[*gate_mul].inputs[0], OpKind::Softplus);
  const std::optional<size_t> scale = producer_of(g, g.ops[*gate_mul].inputs[1], OpKind::Scale);
  if (!softplus || !scale || g.ops[*scale].attr_float("factor") != -1.0) return std::nullopt;
  const std::optional<size_t> add = producer_of(g, g.ops[*softplus].inputs[0], OpKind::Add);
  const std::optional<size_t> exp = producer_of(g, g.ops[*scale].inputs[0], OpKind::Exp);
  if (!add || !exp || !is_f32(g, g.ops[*add].inputs[0]) || !is_f32(g, g.ops[*exp].inputs[0])) return std::nullopt;
  ValueId a_log = g.ops[*exp].inputs[0];
  std::vector<size_t> if_unused = {*sigmoid, *gate_mul, *softplus, *scale, *add, *exp};
  if (const std::optional<size_t> cast = producer_of(g, a_log, OpKind::Cast)) {  // A_log.float()
    a_log = g.ops[*cast].inputs[0];
    if_unused.push_back(*cast);
  }

  // out = mul(rms_norm(o, norm_w), silu(z)).
  const ValueId o = gdn.results[0];
  if (!used_once(o)) return std::nullopt;
  std::optional<size_t> norm;
  for (size_t j = i + 1; j < g.ops.size() && !norm; ++j)
    if (g.ops[j].kind == OpKind::RmsNorm && g.ops[j].inputs[0] == o) norm = j;
  if (!norm || !used_once(g.ops[*norm].results[0])) return std::nullopt;
  const ValueId normed = g.ops[*norm].results[0];
  std::optional<size_t> mul;
  for (size_t j = *norm + 1; j < g.ops.size() && !mul; ++j)
    if (g.ops[j].kind == OpKind::Mul && (g.ops[j].inputs[0] == normed || g.ops[j].inputs[1] == normed)) mul = j;
  if (!mul) return std::nullopt;
  const ir::Op& m = g.ops[*mul];
  const ValueId gated = m.inputs[0] == normed ? m.inputs[1] : m.inputs[0];
  const std::optional<size_t> silu = producer_of(g, gated, OpKind::Silu);
  if (!silu || !is_f32(g, g.ops[*silu].inputs[0]) || g.type(gated).shape != g.type(normed).shape) return std::nullopt;
  if_unused.push_back(*silu);

  // The states: written in place only by this layer within the window it moves the writes across.
  const ValueId conv_state = conv.inputs[2], state = gdn.inputs[5];
  if (!no_op_uses(conv.results[1]) || !no_op_uses(gdn.results[1])) return std::nullopt;
  const std::string conv_name = state_name(g, conv_state), gdn_state_name = state_name(g, state);
  for (size_t j = *conv_index + 1; j < *mul; ++j) {
    const ir::Op& op = g.ops[j];
    if (j != i && ir::has_side_effects(op)) return std::nullopt;
    if (op.kind == OpKind::State && !op.results.empty() && op.results[0] != state &&
        (op.attr_str("name") == conv_name || op.attr_str("name") == gdn_state_name))
      return std::nullopt;
  }

  Match match{*mul, {}, std::move(if_unused), {}};
  match.removed = {*conv_index, i, *norm};
  match.removed.insert(match.removed.end(), views.begin(), views.end());
  const ir::Op& norm_op = g.ops[*norm];
  ir::Attrs attrs{{"scale", gdn.attr_float("scale")},
                  {"qk_l2norm", gdn.attr_bool("qk_l2norm", false)},
                  {"l2norm_eps", gdn.attr_float("l2norm_eps", 1e-6)},
                  {"eps", norm_op.attr_float("eps")}};
  if (norm_op.has("offset")) attrs["offset"] = norm_op.attr_float("offset");
  match.fused = ir::Op{OpKind::FusedGatedDeltaNet,
                       {conv.inputs[0], g.ops[*silu].inputs[0], g.ops[*add].inputs[0], g.ops[*sigmoid].inputs[0],
                        conv.inputs[1], conv_state, a_log, g.ops[*add].inputs[1], norm_op.inputs[1], state,
                        gdn.inputs[6], gdn.inputs[7]},
                       {m.results[0], conv.results[1], gdn.results[1]},
                       std::move(attrs)};
  // The fused op must type-check (dtypes and shapes the pattern does not pin down, e.g. A_log's).
  std::vector<ir::Type> in_types;
  for (ValueId v : match.fused.inputs) in_types.push_back(g.type(v));
  std::vector<ir::Type> declared;
  for (ValueId v : match.fused.results) declared.push_back(g.type(v));
  try {
    if (ir::infer_result_types(OpKind::FusedGatedDeltaNet, in_types, match.fused.attrs, declared) != declared)
      return std::nullopt;
  } catch (const ir::IrError&) {
    return std::nullopt;
  }
  return match;
}

}  // namespace

void fuse_gdn_decode(ir::Graph& g, const SymbolBounds& bounds) {
  const std::vector<int> uses = use_counts(g);
  std::vector<bool> keep(g.ops.size(), true);
  std::vector<size_t> if_unused;
  bool changed = false;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    if (g.ops[i].kind != OpKind::GatedDeltaNet || !keep[i]) continue;
    std::optional<Match> match = match_layer(g, i, uses, bounds);
    if (!match) continue;
    for (size_t j : match->removed) keep[j] = false;
    if_unused.insert(if_unused.end(), match->if_unused.begin(), match->if_unused.end());
    g.ops[match->mul] = std::move(match->fused);
    changed = true;
  }
  if (!changed) return;
  // The gate chain and silu(z) go once nothing reads them (removing one can free the next).
  for (bool removed = true; removed;) {
    removed = false;
    std::vector<int> live(g.values.size(), 0);
    for (size_t j = 0; j < g.ops.size(); ++j)
      if (keep[j])
        for (ValueId v : g.ops[j].inputs) ++live[static_cast<size_t>(v)];
    for (ValueId v : g.outputs) ++live[static_cast<size_t>(v)];
    for (size_t j : if_unused) {
      if (!keep[j] || live[static_cast<size_t>(g.ops[j].results[0])] > 0) continue;
      keep[j] = false;
      removed = true;
    }
  }
  remove_ops(g, keep);
}

}  // namespace vkllm::passes
