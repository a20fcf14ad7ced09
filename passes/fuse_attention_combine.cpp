// fuse-attention-combine: `attention_combine(paged_attention_partial(...))` — the two dispatches of a
// split decode attention (passes/split_decode_attention.cpp) — becomes one
// `paged_attention_split(..., counters)` whose last workgroup per (row, head) merges the splits
// (ir/README.md "split attention that combines itself"). The counters are a `state`,
// `attention_split_counters.<R>x<Hq>` : i32[R, Hq] (R = the bound of the rows), declared just before
// each fused op: the model zero-fills a state once, and every dispatch leaves its counters at zero,
// so nothing is cleared per step and all layers (and graphs with the same bound) share one.
// Exact: the fused op's output is attention_combine of the partial's entries. Applies when the
// partials have no other use and the rows have a bound.
#include <fmt/format.h>

#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {

void fuse_attention_combine(ir::Graph& g, const SymbolBounds& bounds) {
  const std::vector<int> uses = use_counts(g);
  std::vector<int> partial_of(g.ops.size(), -1);  // combine -> the partial it absorbs
  std::vector<bool> keep(g.ops.size(), true);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const ir::Op& op = g.ops[i];
    if (op.kind != ir::OpKind::AttentionCombine) continue;
    const int producer = g.value(op.inputs[0]).producer;
    if (producer < 0 || uses[static_cast<size_t>(op.inputs[0])] != 1) continue;
    const ir::Op& partial = g.ops[static_cast<size_t>(producer)];
    if (partial.kind != ir::OpKind::PagedAttentionPartial) continue;
    if (bound_of(g.type(partial.inputs[0]).shape[0], bounds) < 1) continue;
    partial_of[i] = producer;
    keep[static_cast<size_t>(producer)] = false;
  }
  std::vector<ir::Op> ops;
  ops.reserve(g.ops.size() + 1);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    if (!keep[i]) continue;
    if (partial_of[i] < 0) {
      ops.push_back(std::move(g.ops[i]));
      continue;
    }
    const ir::Op& combine = g.ops[i];
    const ir::Op& partial = g.ops[static_cast<size_t>(partial_of[i])];
    const int64_t rows = bound_of(g.type(partial.inputs[0]).shape[0], bounds);
    const int64_t q_heads = g.type(partial.inputs[0]).shape[1].value;  // a constant (verifier)
    const ir::Type counters_type{ir::DType::I32, {ir::Dim::of(rows), ir::Dim::of(q_heads)}};
    const auto counters = static_cast<ir::ValueId>(g.values.size());
    const std::string& name = g.value(combine.results[0]).name;
    g.values.push_back({counters_type, name + ".counters", -1});
    g.values.push_back({counters_type, name + ".counters_out", -1});
    ops.push_back(ir::Op{ir::OpKind::State,
                         {},
                         {counters},
                         {{"name", fmt::format("attention_split_counters.{}x{}", rows, q_heads)}}});
    ir::Op split{ir::OpKind::PagedAttentionSplit, partial.inputs, {}, partial.attrs};
    split.inputs.push_back(counters);
    split.results = {combine.results[0], partial.results[0], counters + 1};
    ops.push_back(std::move(split));
  }
  g.ops = std::move(ops);
  for (size_t i = 0; i < g.ops.size(); ++i)
    for (ir::ValueId r : g.ops[i].results) g.values[static_cast<size_t>(r)].producer = static_cast<int>(i);
  remove_ops(g, std::vector<bool>(g.ops.size(), true));  // numbers the values in definition order again
}

}  // namespace vkllm::passes
