// The matmul kernel generators (codegen/ops/matmul*.cpp) and what they share: the fused_matmul
// hooks. emit_matmul (matmul.cpp) picks a kernel by weight dtype and row count.
#pragma once
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

// Quantized weights, few rows: lanes own 32-value chunks of a weight row (matmul_quantized.cpp).
bool quantized_row_vector_kernel_fits(const EmitContext& ctx);
KernelPlan emit_quantized_row_vector_matmul(const EmitContext& ctx, const Fusion& f, int64_t n, int64_t const_rows,
                                            const std::vector<std::string>& row_symbols);

}  // namespace vkllm::codegen::ops
