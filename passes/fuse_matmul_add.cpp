// fuse-matmul-add: `add(matmul(x, w), r)` and `add(r, matmul(x, w))` become one
// `fused_matmul(x, w, r) {epilogue = "add"}` (also on a fused_matmul with no epilogue yet), so the
// residual add after o_proj and down_proj costs no dispatch of its own. Exact up to the kernels'
// rounding: the fused op's semantics is the composition (ir/README.md "fused_matmul"), and
// a + b == b + a. Applies when the matmul's result has no other use (nor is a graph output), the
// add's result has the matmul's type (so add(r, matmul) with r broadcast or not f32 stays), and no
// in-place write lies between the two ops. The fused op takes the add's place.
#include <algorithm>

#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {
namespace {

bool takes_epilogue(const ir::Op& op) {
  return op.kind == ir::OpKind::MatMul ||
         (op.kind == ir::OpKind::FusedMatMul && op.attr_str("epilogue", "none") == "none");
}

bool is_suffix(const ir::Shape& b, const ir::Shape& a) {
  return b.size() <= a.size() && std::equal(b.begin(), b.end(), a.end() - static_cast<std::ptrdiff_t>(b.size()));
}

}  // namespace

void fuse_matmul_add(ir::Graph& g) {
  const std::vector<int> uses = use_counts(g);
  std::vector<bool> keep(g.ops.size(), true);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    if (g.ops[i].kind != ir::OpKind::Add) continue;
    for (size_t side = 0; side < 2; ++side) {
      const ir::Op& add = g.ops[i];
      const ir::ValueId product = add.inputs[side], residual = add.inputs[1 - side];
      const int producer = g.value(product).producer;
      if (producer < 0 || !keep[static_cast<size_t>(producer)]) continue;
      const ir::Op& matmul = g.ops[static_cast<size_t>(producer)];
      if (!takes_epilogue(matmul) || uses[static_cast<size_t>(product)] != 1) continue;
      if (g.type(add.results[0]) != g.type(product)) continue;
      if (!is_suffix(g.type(residual).shape, g.type(product).shape)) continue;
      if (side_effect_between(g, static_cast<size_t>(producer), i)) continue;
      ir::Op fused = matmul;
      fused.kind = ir::OpKind::FusedMatMul;
      fused.inputs.push_back(residual);
      fused.attrs["epilogue"] = std::string("add");
      fused.results = add.results;
      g.ops[i] = std::move(fused);
      keep[static_cast<size_t>(producer)] = false;
      break;
    }
  }
  remove_ops(g, keep);
}

}  // namespace vkllm::passes
