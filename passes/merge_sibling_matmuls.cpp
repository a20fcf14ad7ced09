// merge-sibling-matmuls: decode steps (rows <= kMaxDecodeRows): projections of one x — matmuls, or
// fused_matmuls with the same rms_norm prologue and no epilogue, weights of one dtype — such as an
// attention layer's q/k/v or a Gated DeltaNet layer's in_proj_qkv/z/b/a, become one
// `multi_matmul(x, w_0, ..., w_{n-1}[, norm])` with their n results (2 to 4; more siblings make several
// ops, in order), at the first one's place: one kernel, one grid over the rows of every weight, x
// (after the prologue) read once per workgroup. A decode matvec of a few thousand rows costs a fixed
// ~6 µs whatever its bytes (docs/PERFORMANCE.md), so three launches cost about twice one.
// The later projections' `weight` ops move up with them (sources with no operands); a projection whose
// weight is made by another op after the first one, or with an in-place write between it and the
// first, starts a group of its own. Runs after fuse-glu-pair, which takes gate/up pairs whole. Exact:
// the op's results are the projections' results, computed as they were (ir/README.md "multi_matmul").
#include <algorithm>

#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {

void merge_sibling_matmuls(ir::Graph& g, const SymbolBounds& bounds) {
  constexpr size_t kMaxWeights = 4;  // multi_matmul's limit
  struct Group {
    ProjectionInput in;
    std::vector<size_t> members;  // op indices, in order
    std::vector<size_t> hoisted;  // weight ops of later members defined after the first member
  };
  std::vector<Group> groups;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const std::optional<ProjectionInput> in = projection_input(g, g.ops[i], bounds);
    if (!in) continue;
    bool joined = false;
    for (Group& group : groups) {
      const size_t first = group.members[0];
      if (group.members.size() == kMaxWeights || !(group.in == *in) || side_effect_between(g, first, i)) continue;
      const int weight_op = g.value(g.ops[i].inputs[1]).producer;
      const bool hoist = weight_op > static_cast<int>(first);
      if (hoist && g.ops[static_cast<size_t>(weight_op)].kind != ir::OpKind::Weight) continue;
      const auto weight_index = static_cast<size_t>(weight_op);
      if (hoist && std::find(group.hoisted.begin(), group.hoisted.end(), weight_index) == group.hoisted.end())
        group.hoisted.push_back(weight_index);
      group.members.push_back(i);
      joined = true;
      break;
    }
    if (!joined) groups.push_back({*in, {i}, {}});
  }
  // The new op order: each group's hoisted weights and its multi_matmul at its first member's place.
  std::vector<int> group_at(g.ops.size(), -1);
  std::vector<bool> moved(g.ops.size(), false);
  bool changed = false;
  for (size_t k = 0; k < groups.size(); ++k) {
    if (groups[k].members.size() < 2) continue;
    changed = true;
    group_at[groups[k].members[0]] = static_cast<int>(k);
    for (size_t j = 1; j < groups[k].members.size(); ++j) moved[groups[k].members[j]] = true;
    for (size_t w : groups[k].hoisted) moved[w] = true;
  }
  if (!changed) return;
  std::vector<ir::Op> ops;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    if (moved[i]) continue;
    if (group_at[i] < 0) {
      ops.push_back(std::move(g.ops[i]));
      continue;
    }
    const Group& group = groups[static_cast<size_t>(group_at[i])];
    for (size_t w : group.hoisted) ops.push_back(std::move(g.ops[w]));
    std::vector<const ir::Op*> projections;
    for (size_t m : group.members) projections.push_back(&g.ops[m]);
    ir::Op multi = multi_matmul_of(group.in, projections);
    for (size_t m : group.members) multi.results.push_back(g.ops[m].results[0]);
    ops.push_back(std::move(multi));
  }
  g.ops = std::move(ops);
  remove_ops(g, std::vector<bool>(g.ops.size(), true));  // producers and value numbers in the new order
}

}  // namespace vkllm::passes
