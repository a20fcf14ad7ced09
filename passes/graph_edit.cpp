#include "passes/graph_edit.h"

#include <fmt/format.h>

#include <utility>

#include "ir/verify.h"

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

std::vector<int> use_counts(const Graph& g) {
  std::vector<int> uses(g.values.size(), 0);
  for (const ir::Op& op : g.ops)
    for (ValueId v : op.inputs) ++uses.at(static_cast<size_t>(v));
  for (ValueId v : g.outputs) ++uses.at(static_cast<size_t>(v));
  return uses;
}

bool side_effect_between(const Graph& g, size_t first, size_t last) {
  for (size_t i = first + 1; i < last; ++i)
    if (ir::has_side_effects(g.ops[i])) return true;
  return false;
}

void split_ops(Graph& g, const std::function<std::optional<ir::Op>(const ir::Op&)>& partial_of,
               const std::function<ir::Op(ir::Op& op, ValueId partials)>& finish_of) {
  std::vector<ir::Op> ops;
  ops.reserve(g.ops.size());
  bool changed = false;
  for (ir::Op& op : g.ops) {
    std::optional<ir::Op> partial = partial_of(op);
    if (!partial) {
      ops.push_back(std::move(op));
      continue;
    }
    std::vector<ir::Type> in_types;
    for (ValueId v : partial->inputs) in_types.push_back(g.type(v));
    const ir::Type partials_type = ir::infer_result_types(partial->kind, in_types, partial->attrs, {})[0];
    const auto partials = static_cast<ValueId>(g.values.size());
    g.values.push_back({partials_type, unique_value_name(g, g.value(op.results[0]).name + ".partials"), -1});
    partial->results = {partials};
    ops.push_back(std::move(*partial));
    ops.push_back(finish_of(op, partials));
    changed = true;
  }
  g.ops = std::move(ops);
  if (!changed) return;
  for (size_t i = 0; i < g.ops.size(); ++i)
    for (ValueId r : g.ops[i].results) g.values[static_cast<size_t>(r)].producer = static_cast<int>(i);
  remove_ops(g, std::vector<bool>(g.ops.size(), true));  // numbers the values in definition order again
}

std::string unique_value_name(const ir::Graph& g, const std::string& base) {
  std::string name = base;
  for (int i = 2; g.find(name) >= 0; ++i) name = base + "." + std::to_string(i);
  return name;
}

int64_t bound_of(const ir::Dim& d, const SymbolBounds& bounds) {
  if (d.is_const()) return d.value;
  auto it = bounds.find(d.sym);
  return it == bounds.end() ? -1 : it->second;
}

int64_t rows_bound(const ir::Shape& s, const SymbolBounds& bounds) {
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    const int64_t b = bound_of(s[i], bounds);
    if (b < 0) return -1;
    rows *= b;
  }
  return rows;
}

void fold_into_matmul_prologues(Graph& g, ir::OpKind kind, const SymbolBounds& bounds,
                                const std::function<void(const ir::Op& producer, ir::Op& user)>& fold) {
  auto takes_prologue = [](const ir::Op& op) {
    return op.kind == ir::OpKind::MatMul ||
           (op.kind == ir::OpKind::FusedMatMul && op.attr_str("prologue", "none") == "none");
  };
  const std::vector<int> uses = use_counts(g);
  std::vector<bool> keep(g.ops.size(), true);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    if (g.ops[i].kind != kind) continue;
    const ValueId produced = g.ops[i].results[0];
    // fused_matmul keeps its prologue's result in f32 (ir/README.md): exact only for an f32 result.
    if (g.type(produced).dtype != ir::DType::F32) continue;
    const int64_t rows = rows_bound(g.type(produced).shape, bounds);
    if (rows < 0 || rows > kMaxDecodeRows) continue;
    std::vector<size_t> users;
    int fusable_uses = 0;
    for (size_t j = i + 1; j < g.ops.size(); ++j) {
      const ir::Op& op = g.ops[j];
      bool uses_it = false;
      for (size_t a = 0; a < op.inputs.size(); ++a)
        if (op.inputs[a] == produced) {
          uses_it = true;
          if (a == 0 && takes_prologue(op)) ++fusable_uses;
        }
      if (uses_it) users.push_back(j);
    }
    if (users.empty() || fusable_uses != uses[static_cast<size_t>(produced)]) continue;
    if (side_effect_between(g, i, users.back())) continue;
    for (size_t j : users) {
      fold(g.ops[i], g.ops[j]);
      g.ops[j].kind = ir::OpKind::FusedMatMul;
    }
    keep[i] = false;
  }
  remove_ops(g, keep);
}

std::optional<ProjectionInput> projection_input(const Graph& g, const ir::Op& op, const SymbolBounds& bounds) {
  ProjectionInput in;
  if (op.kind == ir::OpKind::FusedMatMul) {
    if (op.attr_str("epilogue", "none") != "none") return std::nullopt;
    const std::string prologue = op.attr_str("prologue", "none");
    if (prologue == "rms_norm") {
      in.norm = op.inputs[2];
      for (const char* key : {"prologue", "eps", "offset"})
        if (auto it = op.attrs.find(key); it != op.attrs.end()) in.prologue.insert(*it);
    } else if (prologue != "none") {
      return std::nullopt;
    }
  } else if (op.kind != ir::OpKind::MatMul) {
    return std::nullopt;
  }
  const int64_t rows = rows_bound(g.type(op.results[0]).shape, bounds);
  if (rows < 0 || rows > kMaxDecodeRows) return std::nullopt;
  in.x = op.inputs[0];
  in.weight_dtype = g.type(op.inputs[1]).dtype;
  return in;
}

ir::Op multi_matmul_of(const ProjectionInput& in, const std::vector<const ir::Op*>& projections) {
  ir::Op multi{ir::OpKind::MultiMatMul, {in.x}, {}, in.prologue};
  for (const ir::Op* p : projections) multi.inputs.push_back(p->inputs[1]);
  if (in.norm >= 0) multi.inputs.push_back(in.norm);
  return multi;
}

}  // namespace vkllm::passes
