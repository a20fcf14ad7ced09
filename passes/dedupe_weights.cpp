// dedupe-weights: `weight` ops that load the same tensor (same attributes, so the same name, and
// the same type) become the first of them; uses of the others are rewired to it. Frontends
// emit such duplicates for tied embeddings and shared layers.
#include <map>
#include <string>

#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {

void dedupe_weights(ir::Graph& g) {
  std::vector<ir::ValueId> replacement(g.values.size());
  for (size_t v = 0; v < replacement.size(); ++v) replacement[v] = static_cast<ir::ValueId>(v);
  std::vector<bool> keep(g.ops.size(), true);
  std::map<std::string, std::vector<size_t>> kept_by_name;  // weight name -> indices of kept ops
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const ir::Op& op = g.ops[i];
    auto name = op.attrs.find("name");
    if (op.kind != ir::OpKind::Weight || op.results.size() != 1 || name == op.attrs.end() ||
        !std::holds_alternative<std::string>(name->second))
      continue;
    std::vector<size_t>& kept = kept_by_name[std::get<std::string>(name->second)];
    for (size_t k : kept) {
      const ir::Op& first = g.ops[k];
      if (first.attrs == op.attrs && g.type(first.results[0]) == g.type(op.results[0])) {
        replacement.at(static_cast<size_t>(op.results[0])) = first.results[0];
        keep[i] = false;
        break;
      }
    }
    if (keep[i]) kept.push_back(i);
  }
  rewire_uses(g, replacement);
  remove_ops(g, keep);
}

}  // namespace vkllm::passes
