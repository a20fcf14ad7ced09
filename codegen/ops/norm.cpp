// Row reductions over the last dim: rms_norm, layer_norm, softmax. One workgroup per row; each
// invocation strides over the row, then workgroup reductions (glsl.h) combine the partials.
#include <fmt/format.h>

#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {
namespace {

constexpr const char* kNegativeInfinity = "uintBitsToFloat(0xff800000u)";

// A plan over the rows of input 0 ([..., D]) with `main_body` run per row: `row_base` is the index of
// the row's first element, `$D` and `$L` are substituted.
KernelPlan row_plan(const EmitContext& ctx, std::vector<std::string> arg_names, const std::string& main_body,
                    std::map<std::string, std::string> vars, const std::string& name_extra = {}) {
  const ir::Shape& shape = ctx.input(0).shape;
  const ir::Dim& width = shape.back();
  const uint32_t local = local_size_for(ctx, width, 256);
  ItemLayout layout = item_layout(ctx, shape, 0, shape.size() - 1, 1);
  vars["D"] = ctx.dim(width);
  vars["L"] = glsl_uint(local);
  vars["NEG_INF"] = kNegativeInfinity;
  KernelPlan plan;
  plan.name = kernel_name(ctx, name_extra);
  plan.arg_names = std::move(arg_names);
  plan.local_size = local;
  plan.grid = layout.grid;
  plan.body = workgroup_reductions(ctx.caps, local) + "\nvoid main() {\n" + layout.glsl +
              "  uint row_base = item_begin * $D;\n" + main_body + "}\n";
  plan.body = render(plan.body, vars);
  return plan;
}

}  // namespace

KernelPlan emit_rms_norm(const EmitContext& ctx) {
  return row_plan(ctx, {"x", "w", "result"}, R"(
  float sum_sq = 0.0;
  for (uint d = gl_LocalInvocationID.x; d < $D; d += $L) {
    float v = ld_x(row_base + d);
    sum_sq += v * v;
  }
  float inv_rms = inversesqrt(wg_sum(sum_sq) / float($D) + $EPS);
  for (uint d = gl_LocalInvocationID.x; d < $D; d += $L)
    st_result(row_base + d, ld_x(row_base + d) * inv_rms * (ld_w(d) + $OFFSET));
)",
                  {{"EPS", glsl_float(ctx.op.attr_float("eps"))},
                   {"OFFSET", glsl_float(ctx.op.attr_float("offset", 0.0))}});
}

KernelPlan emit_layer_norm(const EmitContext& ctx) {
  // Two passes (mean, then squared deviations) keep the variance accurate for rows far from zero.
  return row_plan(ctx, {"x", "w", "b", "result"}, R"(
  float sum = 0.0;
  for (uint d = gl_LocalInvocationID.x; d < $D; d += $L) sum += ld_x(row_base + d);
  float mean = wg_sum(sum) / float($D);
  float sum_sq = 0.0;
  for (uint d = gl_LocalInvocationID.x; d < $D; d += $L) {
    float v = ld_x(row_base + d) - mean;
    sum_sq += v * v;
  }
  float inv_std = inversesqrt(wg_sum(sum_sq) / float($D) + $EPS);
  for (uint d = gl_LocalInvocationID.x; d < $D; d += $L)
    st_result(row_base + d, (ld_x(row_base + d) - mean) * inv_std * ld_w(d) + ld_b(d));
)",
                  {{"EPS", glsl_float(ctx.op.attr_float("eps"))}});
}

KernelPlan emit_softmax(const EmitContext& ctx) {
  return row_plan(ctx, {"x", "result"}, R"(
  float local_max = $NEG_INF;
  for (uint d = gl_LocalInvocationID.x; d < $D; d += $L) local_max = max(local_max, ld_x(row_base + d));
  float row_max = wg_max(local_max);
  float sum = 0.0;
  for (uint d = gl_LocalInvocationID.x; d < $D; d += $L) sum += exp(ld_x(row_base + d) - row_max);
  float inv_sum = 1.0 / wg_sum(sum);
  for (uint d = gl_LocalInvocationID.x; d < $D; d += $L)
    st_result(row_base + d, exp(ld_x(row_base + d) - row_max) * inv_sum);
)",
                  {});
}

}  // namespace vkllm::codegen::ops
