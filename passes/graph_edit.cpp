#include "passes/graph_edit.h"

#include <fmt/format.h>

#include <utility>

namespace vkllm::passes {

using ir::Graph;
using ir::ValueId;

void rewire_uses(Graph& g, const std::vector<ValueId>& replacement) {
  auto rewire = [&](ValueId& v) { v = replacement.at(static_cast<size_t>(v)); };
  for (ir::Op& op : g.ops)
    for (ValueId& v : op.inputs) rewire(v);
  for (ValueId& v : g.outputs) rewire(v);
}

void remove_ops(Graph& g, const std::vector<bool>& keep) {
  Graph out;
  out.name = g.name;
  std::vector<ValueId> renumbered(g.values.size(), -1);
  auto add_value = [&](ValueId old, int producer) {
    ir::Value v = g.values.at(static_cast<size_t>(old));
    v.producer = producer;
    out.values.push_back(std::move(v));
    return renumbered[static_cast<size_t>(old)] = static_cast<ValueId>(out.values.size() - 1);
  };
  auto mapped = [&](ValueId old, const std::string& user) {
    ValueId v = renumbered.at(static_cast<size_t>(old));
    if (v < 0)
      throw ir::IrError(
          fmt::format("graph @{}: {} uses %{}, whose defining op was removed", g.name, user, g.value(old).name));
    return v;
  };
  for (ValueId v : g.inputs) out.inputs.push_back(add_value(v, -1));
  for (size_t i = 0; i < g.ops.size(); ++i) {
    if (!keep.at(i)) continue;
    ir::Op op = std::move(g.ops[i]);
    for (ValueId& v : op.inputs) v = mapped(v, fmt::format("op #{} '{}'", i, ir::name(op.kind)));
    for (ValueId& v : op.results) v = add_value(v, static_cast<int>(out.ops.size()));
    out.ops.push_back(std::move(op));
  }
  for (ValueId v : g.outputs) out.outputs.push_back(mapped(v, "an output"));
  g = std::move(out);
}

}  // namespace vkllm::passes
