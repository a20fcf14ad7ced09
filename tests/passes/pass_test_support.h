// Helpers shared by the pass tests: run named passes on one graph, count its ops by kind.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ir/ir.h"
#include "passes/pass.h"

namespace vkllm::passes {

// `g` after the passes `names` (in order), with the row bounds a decode or prefill graph has.
inline ir::Graph run_passes_on(ir::Graph g, const std::vector<std::string>& names, const SymbolBounds& bounds) {
  ir::Module m{{std::move(g)}};
  run_passes(m, names, {}, bounds);
  return std::move(m.graphs[0]);
}

// How many ops of each kind `g` has.
inline std::map<ir::OpKind, int> kinds(const ir::Graph& g) {
  std::map<ir::OpKind, int> count;
  for (const ir::Op& op : g.ops) ++count[op.kind];
  return count;
}

}  // namespace vkllm::passes
