// Edits shared by passes. They keep a graph in SSA form with ValueIds numbered densely.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ir/ir.h"
#include "passes/pass.h"

namespace vkllm::passes {

// Replaces every use (operands and graph outputs) of value v by replacement[v]; values mapped
// to themselves are untouched. replacement must have one entry per value of g.
void rewire_uses(ir::Graph& g, const std::vector<ir::ValueId>& replacement);

// Keeps the ops whose keep flag is set (keep has one entry per op) and every graph input, drops
// the values nothing defines any more and renumbers ValueIds and producers. Throws ir::IrError if
// a kept op or an output still uses a result of a removed op.
void remove_ops(ir::Graph& g, const std::vector<bool>& keep);

// `base`, or `base` with the first free suffix ".2", ".3", ... when a value already has that name.
std::string unique_value_name(const ir::Graph& g, const std::string& base);

// Splits ops in two: every op for which `partial_of(op)` gives an op (kind, inputs, attrs) becomes
// that op, with one new result (type inferred, named "<op's first result>.partials"), followed by
// `finish_of(op, partials)`, which must take over op's results so every use stays as it was. Values
// are renumbered in definition order afterwards.
void split_ops(ir::Graph& g, const std::function<std::optional<ir::Op>(const ir::Op&)>& partial_of,
               const std::function<ir::Op(ir::Op& op, ir::ValueId partials)>& finish_of);

// How many times each value is used: as an operand (once per operand slot) or as a graph output.
std::vector<int> use_counts(const ir::Graph& g);

// Whether an op strictly between ops `first` and `last` has side effects (writes storage in place):
// a fusion that moves a read of a value across such an op could read it after the write.
bool side_effect_between(const ir::Graph& g, size_t first, size_t last);

// Graphs whose rows are bounded by at most this many are decode steps: codegen gives their matmuls
// the matrix-vector kernels (codegen/ops/matmul.h kTiledMinRows) and passes may act on them alone.
constexpr int64_t kMaxDecodeRows = 16;

// The largest value of `d` (its value, or its symbol's bound), or -1 when nothing bounds it.
int64_t bound_of(const ir::Dim& d, const SymbolBounds& bounds);
// The largest row count of a tensor of shape `s`: the product of the bounds of all but its last dim
// (1 for a vector), or -1 when one of them is unbounded.
int64_t rows_bound(const ir::Shape& s, const SymbolBounds& bounds);

// Prologue fusion (fuse-rms-norm-matmul, fuse-swiglu-matmul, fuse-geglu-matmul), for decode steps:
// every op of kind `kind` with an f32 result (the fused op keeps it in f32) whose rows are bounded
// by kMaxDecodeRows and whose every use is operand 0 of a matmul (or of a fused_matmul without a
// prologue yet), with no in-place write between it and its last user, is folded into each user —
// `fold(producer, user)` rewrites the user (made a fused_matmul reading the producer's operands) —
// and then removed. Producers with any other use stay whole: fusing only some users would save no
// dispatch.
// Why: a matrix-vector workgroup applies the prologue to the K inputs it reads, once per workgroup
// when it stages x in shared memory. Measured on the H200 (llama3-8b decode): bf16 gate/up 38 -> 40
// µs, down unchanged, while the norm / swiglu dispatches (4-15 µs each) go
// (bench/results/2026-12-03-h200-session3/); q4_0 with x staged (the layout codegen gives quantized
// fused matvecs, codegen/ops/matmul_quantized.cpp): gate/up 17.7 -> 19.3 µs against a 4.4 µs norm
// dispatch, down 20.0 -> 21.7 against a 5.3 µs swiglu (bench/results/2026-12-03-h200-session4/
// dot-sweep). Prefill (many rows): the tiled kernels take no rms_norm prologue and the general
// kernel would re-apply it per output tile.
void fold_into_matmul_prologues(ir::Graph& g, ir::OpKind kind, const SymbolBounds& bounds,
                                const std::function<void(const ir::Op& producer, ir::Op& user)>& fold);

// What a decode projection reads besides its weight, for multi_matmul (fuse-glu-pair,
// merge-sibling-matmuls): its x, the rms_norm prologue's weight and attributes (none: norm = -1), and
// the weight's dtype. Projections with equal inputs can share one kernel that reads x once.
struct ProjectionInput {
  ir::ValueId x = -1, norm = -1;
  ir::Attrs prologue;  // prologue, eps, offset of an rms_norm prologue; empty without
  ir::DType weight_dtype = ir::DType::F32;
  bool operator==(const ProjectionInput&) const = default;
};
// The input of `op` when it is a projection multi_matmul takes: matmul(x, w), or fused_matmul with no
// epilogue and prologue none or rms_norm, whose rows are bounded by kMaxDecodeRows; nullopt otherwise.
std::optional<ProjectionInput> projection_input(const ir::Graph& g, const ir::Op& op, const SymbolBounds& bounds);
// multi_matmul(x, w_0, ..., [norm]) of `projections` (all reading `in`), results unset.
ir::Op multi_matmul_of(const ProjectionInput& in, const std::vector<const ir::Op*>& projections);

}  // namespace vkllm::passes
