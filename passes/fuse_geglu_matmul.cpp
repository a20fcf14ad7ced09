// fuse-geglu-matmul: `a = geglu(gate, up) {approximate}` whose every use is operand 0 of a matmul
// (or of a fused_matmul with no prologue yet) — the Gemma MLP's down projection — becomes its
// prologue: `matmul(a, w)` → `fused_matmul(gate, w, up) {prologue = "geglu", approximate}` (a
// residual operand stays last), and the geglu goes. Exact up to the kernels' rounding: the fused
// op's semantics is the composition (ir/README.md "fused_matmul"). A geglu with any other use is
// left alone (graph_edit.h).
#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {

void fuse_geglu_matmul(ir::Graph& g, const SymbolBounds& bounds) {
  fold_into_matmul_prologues(g, ir::OpKind::GeGlu, bounds, [](const ir::Op& geglu, ir::Op& user) {
    user.inputs[0] = geglu.inputs[0];
    user.inputs.insert(user.inputs.begin() + 2, geglu.inputs[1]);
    user.attrs["prologue"] = std::string("geglu");
    user.attrs["approximate"] = geglu.attr_str("approximate", "none");
  });
}

}  // namespace vkllm::passes
