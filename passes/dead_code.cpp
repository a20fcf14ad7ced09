// dce: removes every op none of whose results reaches a graph output, except ops with side effects
// (ir::has_side_effects: in-place writes into persistent state), which stay with everything they
// read. Graph inputs stay, used or not, because they are the graph's calling convention.
#include <algorithm>

#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {

void eliminate_dead_code(ir::Graph& g) {
  std::vector<bool> live(g.values.size(), false);
  for (ir::ValueId v : g.outputs) live.at(static_cast<size_t>(v)) = true;
  std::vector<bool> keep(g.ops.size(), false);
  // Ops are in execution order, so walking backwards sees every use before the definition.
  for (size_t i = g.ops.size(); i-- > 0;) {
    const ir::Op& op = g.ops[i];
    keep[i] = ir::has_side_effects(op) || std::any_of(op.results.begin(), op.results.end(), [&](ir::ValueId r) {
                return live.at(static_cast<size_t>(r));
              });
    if (keep[i])
      for (ir::ValueId v : op.inputs) live.at(static_cast<size_t>(v)) = true;
  }
  remove_ops(g, keep);
}

}  // namespace vkllm::passes
