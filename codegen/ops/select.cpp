// argmax and top_k: one workgroup per row. Values compare through order_key (glsl.h: NaN lowest,
// -0 == +0) and ties go to the lower index, as in the reference. top_k selects k times: round r
// takes the best element ranked strictly after round r-1's pick, so no mask or sort buffer is
// needed whatever the row length (k is small; each round is one pass over the row).
#include <fmt/format.h>

#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {
namespace {

KernelPlan selection_plan(const EmitContext& ctx, int64_t k, bool with_values) {
  const ir::Shape& shape = ctx.input(0).shape;
  const uint32_t local = local_size_for(ctx, shape.back(), 256);
  ItemLayout layout = item_layout(ctx, shape, 0, shape.size() - 1, 1);
  KernelPlan plan;
  plan.name = kernel_name(ctx, with_values ? fmt::format("k{}", k) : "");
  plan.arg_names = with_values ? std::vector<std::string>{"x", "values", "indices"}
                               : std::vector<std::string>{"x", "indices"};
  plan.local_size = local;
  plan.grid = layout.grid;
  const std::string store_value = with_values ? R"(
      float value = uintBitsToFloat(0x7fc00000u);
      if (found) value = ld_x(row_base + uint(best_index));
      st_values(row * $K + r, value);)"
                                              : "";
  const std::map<std::string, std::string> vars{{"LAYOUT", layout.glsl},
                                                {"N", ctx.dim(shape.back())},
                                                {"K", glsl_uint(k)},
                                                {"L", glsl_uint(local)}};
  plan.body = workgroup_reductions(ctx.caps, local) + render(R"(
void main() {
$LAYOUT
  uint row = item_begin, row_base = row * $N, tid = gl_LocalInvocationID.x;
  // Everything ranks after (max key, index -1), so round 0 considers the whole row.
  uint prev_key = 0xffffffffu;
  int prev_index = -1;
  for (uint r = 0u; r < $K; ++r) {
    uint best_key = 0u;
    int best_index = 0x7fffffff;  // sentinel: any element, NaN included, beats it
    for (uint d = tid; d < $N; d += $L) {
      uint key = order_key(ld_x(row_base + d));
      int i = int(d);
      bool after_prev = key < prev_key || (key == prev_key && i > prev_index);
      if (after_prev && wg_better(key, i, best_key, best_index)) {
        best_key = key;
        best_index = i;
      }
    }
    wg_argmax(best_key, best_index);
    if (tid == 0u) {
      bool found = best_index != 0x7fffffff;  // false only when the row has fewer than K elements)" +
                                                                 store_value + R"(
      st_indices(row * $K + r, found ? best_index : -1);
    }
    prev_key = best_key;
    prev_index = best_index;
  }
}
)", vars);
  return plan;
}

}  // namespace

KernelPlan emit_argmax(const EmitContext& ctx) { return selection_plan(ctx, 1, false); }

KernelPlan emit_top_k(const EmitContext& ctx) { return selection_plan(ctx, ctx.op.attr_int("k"), true); }

}  // namespace vkllm::codegen::ops
