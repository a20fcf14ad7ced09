// The matmul kernel generators (codegen/ops/matmul*.cpp) and what they share: the fused_matmul
// hooks. emit_matmul (matmul.cpp) picks a kernel by weight dtype and row count.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "codegen/ops/emitter.h"

namespace vkllm::codegen::ops {

// What a fused_matmul adds around the product (a plain matmul: nothing), and its GLSL hooks.
struct Fusion {
  std::string prologue = "none";  // none | rms_norm | swiglu | geglu
  bool add = false;               // epilogue: out += residual (broadcast over leading dims)
  std::vector<std::string> arg_names{"x", "w", "result"};
  std::string tag;   // appended to kernel names
  std::string glsl;  // fused_x, fused_x4, fused_out
};

// The hooks of this op: identity for a plain matmul (matmul.cpp says what each hook computes).
Fusion fusion_of(const EmitContext& ctx);

// The weights one matrix-vector kernel reads. matmul / fused_matmul: one, argument "w", output "result".
// multi_matmul: "w0", "w1", ... (one dtype and K); without a combine each has its own output
// ("result0", ...) and the grid runs over the rows of all of them, every workgroup's row groups reading
// one weight; with a combine (swiglu / geglu: two weights of equal rows) a row group reads rows r of
// both and writes combine(gate, up) to "result".
struct MatvecWeights {
  std::vector<std::string> args;
  std::vector<int64_t> rows;  // N of each weight
  std::vector<std::string> results;
  std::string combine = "none";  // none | swiglu | geglu
  bool gelu_tanh = false;        // geglu: the tanh approximation
  bool single() const { return args.size() == 1; }
  bool combined() const { return combine != "none"; }
};
// The weights of a matmul / fused_matmul (operand 1, N rows) or of a multi_matmul (from its operands).
MatvecWeights matvec_weights(const EmitContext& ctx);
// GLSL of a multi-weight kernel's outputs: with a combine `float combine_outputs(float gate, float up)`,
// else `void st_out(uint which, uint o, float v)` (output o of weight `which`).
std::string multi_output_glsl(const MatvecWeights& w);
// Lines opening main() of a kernel whose workgroups each serve one weight, `rows_per_group` of its rows
// (the grid: multi_groups): `uint which` (the weight), `first_group` (its first workgroup) and `n_cur`
// (its rows; a combine's pair: weight 0's); `also`, when given, is a statement run for the chosen
// weight ($W: its argument name).
std::string select_weight_glsl(const MatvecWeights& w, int64_t rows_per_group, const std::string& also);
// Workgroups along x: per weight ⌈N / rows_per_group⌉, summed (a combine's pair shares one grid).
int64_t multi_groups(const MatvecWeights& w, int64_t rows_per_group);

// Few rows (decode): matrix-vector kernels (matmul_quantized.cpp) — a workgroup owns R weight rows,
// its invocations split K, and each x element read serves all R rows. Quantized weights:
bool quantized_row_vector_kernel_fits(const EmitContext& ctx);
KernelPlan emit_quantized_row_vector_matmul(const EmitContext& ctx, const Fusion& f, const MatvecWeights& weights,
                                            int64_t const_rows, const std::vector<std::string>& row_symbols);
// f32 / f16 / bf16 weights, K a multiple of 8 (row_vector_kernel_fits in matmul.cpp checks the rest).
KernelPlan emit_float_matvec(const EmitContext& ctx, const Fusion& f, const MatvecWeights& weights,
                             int64_t const_rows, const std::vector<std::string>& row_symbols);

// Many rows (prefill): tiled kernels with shared-memory tiles (matmul_tiled.cpp).
// The largest row count (product of x's leading dims at their max_symbols bounds); nullopt when a
// row symbol has no bound.
std::optional<int64_t> matmul_row_bound(const EmitContext& ctx);
// Row bounds above this take the tiled kernels; decode graphs (a few rows) keep the row-vector ones.
constexpr int64_t kTiledMinRows = 16;
// Narrow outputs over a long K (Qwen3.5's in_proj_a/b: N = 32, K = 4096) take the matrix-vector
// kernels even for many rows: the tiled grid gives them a workgroup or two per 128 rows, each walking
// all of K (226 µs per 256-row chunk on the H200); the matvec grid gives a workgroup per few rows.
constexpr int64_t kNarrowOutputs = 64, kNarrowMinK = 1024;
// The row bound is known and large, the prologue is not rms_norm, and the device's limits fit.
bool tiled_kernel_fits(const EmitContext& ctx, const Fusion& f);
// How a tile's products are computed: f32 FMAs, VK_NV_cooperative_matrix fragments, or those
// fragments emulated in plain GLSL (to test the cooperative kernel on devices without them).
enum class TileMath { Fma, CooperativeMatrixNV, EmulatedCooperativeMatrix };
// CooperativeMatrixNV when the caps offer it (fp16 16x16x16, 32-lane subgroups, enough shared memory).
TileMath tile_math_for(const EmitContext& ctx);
KernelPlan emit_tiled_matmul(const EmitContext& ctx, const Fusion& f, TileMath math);

}  // namespace vkllm::codegen::ops
