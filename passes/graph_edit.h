// Edits shared by passes. They keep a graph in SSA form with ValueIds numbered densely.
#pragma once
#include <functional>
#include <vector>

#include "ir/ir.h"

namespace vkllm::passes {

// Replaces every use (operands and graph outputs) of value v by replacement[v]; values mapped
// to themselves are untouched. replacement must have one entry per value of g.
void rewire_uses(ir::Graph& g, const std::vector<ir::ValueId>& replacement);

// Keeps the ops whose keep flag is set (keep has one entry per op) and every graph input, drops
// the values nothing defines any more and renumbers ValueIds and producers. Throws ir::IrError if
// a kept op or an output still uses a result of a removed op.
void remove_ops(ir::Graph& g, const std::vector<bool>& keep);

// How many times each value is used: as an operand (once per operand slot) or as a graph output.
std::vector<int> use_counts(const ir::Graph& g);

// Whether an op strictly between ops `first` and `last` has side effects (writes storage in place):
// a fusion that moves a read of a value across such an op could read it after the write.
bool side_effect_between(const ir::Graph& g, size_t first, size_t last);

// Prologue fusion (fuse-rms-norm-matmul, fuse-swiglu-matmul): every op of kind `kind` with an f32
// result (the fused op keeps it in f32) whose every use is operand 0 of a matmul or of a fused_matmul without a prologue yet, with no in-place write
// between it and its last user, is folded into each user — `fold(producer, user)` rewrites the user
// (made a fused_matmul reading the producer's operands) — and then removed. Producers with any other
// use stay whole: fusing only some users would save no dispatch.
void fold_into_matmul_prologues(ir::Graph& g, ir::OpKind kind,
                                const std::function<void(const ir::Op& producer, ir::Op& user)>& fold);

}  // namespace vkllm::passes
