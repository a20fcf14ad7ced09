// fuse-glu-pair: decode steps (rows <= kMaxDecodeRows): an MLP's gate and up projections of one x and
// the gated activation that reads them,
//   `swiglu(matmul(x, w_gate), matmul(x, w_up))` (or `geglu`, or both projections fused_matmuls with the
//   same rms_norm prologue),
// become one `multi_matmul(x, w_gate, w_up[, norm]) {combine = "swiglu" | "geglu"}` at the activation's
// place: one kernel reads x (after the prologue) once per workgroup, computes row r of both weights
// and writes silu(gate)·up — instead of two matvecs and a down projection that re-reads both
// intermediate vectors in every workgroup to apply the activation as its prologue. It must run
// before fuse-swiglu-matmul / fuse-geglu-matmul (which would fold the activation into down_proj);
// down_proj then reads a plain x. Applies when each projection's only use is the activation, both read
// the same x, prologue and weight dtype, the weights have the same shape, and no in-place write lies
// between the projections and the activation. Exact: multi_matmul's semantics is this composition
// (ir/README.md "multi_matmul"), reference outputs are bit for bit unchanged.
#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {

void fuse_glu_pair(ir::Graph& g, const SymbolBounds& bounds) {
  const std::vector<int> uses = use_counts(g);
  std::vector<bool> keep(g.ops.size(), true);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    ir::Op& act = g.ops[i];
    if (act.kind != ir::OpKind::SwiGlu && act.kind != ir::OpKind::GeGlu) continue;
    const ir::ValueId gate = act.inputs[0], up = act.inputs[1];
    const int gate_op = g.value(gate).producer, up_op = g.value(up).producer;
    if (gate == up || gate_op < 0 || up_op < 0) continue;
    if (uses[static_cast<size_t>(gate)] != 1 || uses[static_cast<size_t>(up)] != 1) continue;
    const ir::Op& gate_proj = g.ops[static_cast<size_t>(gate_op)];
    const ir::Op& up_proj = g.ops[static_cast<size_t>(up_op)];
    const std::optional<ProjectionInput> in = projection_input(g, gate_proj, bounds);
    if (!in || projection_input(g, up_proj, bounds) != in) continue;
    if (g.type(gate_proj.inputs[1]).shape != g.type(up_proj.inputs[1]).shape) continue;
    if (side_effect_between(g, static_cast<size_t>(std::min(gate_op, up_op)), i)) continue;
    ir::Op fused = multi_matmul_of(*in, {&gate_proj, &up_proj});
    fused.attrs["combine"] = std::string(act.kind == ir::OpKind::SwiGlu ? "swiglu" : "geglu");
    if (auto approximate = act.attrs.find("approximate"); approximate != act.attrs.end())
      fused.attrs["approximate"] = approximate->second;
    fused.results = act.results;
    act = std::move(fused);
    keep[static_cast<size_t>(gate_op)] = keep[static_cast<size_t>(up_op)] = false;
  }
  remove_ops(g, keep);
}

}  // namespace vkllm::passes
