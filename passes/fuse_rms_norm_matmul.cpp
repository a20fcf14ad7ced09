// fuse-rms-norm-matmul: `y = rms_norm(x, g)` whose every use is operand 0 (x) of a matmul (or of a
// fused_matmul with no prologue yet) becomes a prologue of each of them:
// `matmul(y, w)` → `fused_matmul(x, w, g) {prologue = "rms_norm", eps, offset}` (a residual operand
// stays last), and the rms_norm goes. The q/k/v projections share the attention norm, so all three
// fuse; each kernel recomputes the row's Σx² from the x it reads anyway, which is cheaper than a
// dispatch and a barrier. Exact up to the kernels' rounding: the fused op's semantics is the
// composition (ir/README.md "fused_matmul"). A norm with any other use (another op, a graph
// output, or an in-place write between it and a user) is left alone (graph_edit.h).
#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {

void fuse_rms_norm_matmul(ir::Graph& g, const SymbolBounds& bounds) {
  fold_into_matmul_prologues(g, ir::OpKind::RmsNorm, bounds, [](const ir::Op& norm, ir::Op& user) {
    user.inputs[0] = norm.inputs[0];
    user.inputs.insert(user.inputs.begin() + 2, norm.inputs[1]);
    user.attrs["prologue"] = std::string("rms_norm");
    user.attrs["eps"] = norm.attrs.at("eps");
    if (auto offset = norm.attrs.find("offset"); offset != norm.attrs.end()) user.attrs["offset"] = offset->second;
  });
}

}  // namespace vkllm::passes
