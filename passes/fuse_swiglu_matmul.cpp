// fuse-swiglu-matmul: `a = swiglu(gate, up)` whose every use is operand 0 of a matmul (or of a
// fused_matmul with no prologue yet) — the MLP's down projection — becomes its prologue:
// `matmul(a, w)` → `fused_matmul(gate, w, up) {prologue = "swiglu"}` (a residual operand stays
// last), and the swiglu goes: the kernel computes silu(gate)·up as it reads them. Exact up to the
// kernels' rounding: the fused op's semantics is the composition (ir/README.md "fused_matmul").
// A swiglu with any other use is left alone (graph_edit.h).
#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {

void fuse_swiglu_matmul(ir::Graph& g, const SymbolBounds& bounds) {
  fold_into_matmul_prologues(g, ir::OpKind::SwiGlu, bounds, [](const ir::Op& swiglu, ir::Op& user) {
    user.inputs[0] = swiglu.inputs[0];
    user.inputs.insert(user.inputs.begin() + 2, swiglu.inputs[1]);
    user.attrs["prologue"] = std::string("swiglu");
  });
}

}  // namespace vkllm::passes
