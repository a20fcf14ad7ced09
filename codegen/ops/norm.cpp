// Row reductions over the last dim: rms_norm, layer_norm, softmax. One workgroup per row; each
// invocation strides over the row, then workgroup reductions (glsl.h) combine the partials
// (rms_norm of a constant width holds its share of the row in registers: see emit_rms_norm).
#include <fmt/format.h>

#include <map>
#include <string>

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

// rms_norm keeps its row in registers when the width is constant: each invocation loads its K units
// (4 elements in one 16-byte (f32) or 8-byte (f16/bf16) load when D % 4 == 0, else one element), so x
// is read once; the sum of squares is one subgroupAdd and one shared-memory step (one barrier, none
// with a single subgroup); the weights are read as units too. About two units per invocation (up to
// 1024 invocations) keeps every lane's loads in flight at once: the kernel is pure latency for
// decode-sized inputs. Widths needing more than kMaxRegisterUnits per invocation, or a symbolic
// width, use the streaming two-pass loop.
constexpr int64_t kMaxRegisterUnits = 8;
constexpr uint32_t kMaxNormInvocations = 1024;

// GLSL of `unit_t ld_unit_<arg>(uint u)` (u: unit index, 4 elements when `wide`) for a float dtype.
std::string unit_loader(const std::string& arg, ir::DType t, bool wide) {
  const std::map<std::string, std::string> v{{"A", arg}};
  if (!wide) return render("float ld_unit_$A(uint u) { return ld_$A(u); }\n", v);
  switch (t) {
    case ir::DType::F32:
      return render("vec4 ld_unit_$A(uint u) { return NormF32x4(args.$A).v[u]; }\n", v);
    case ir::DType::F16:
      return render(R"(vec4 ld_unit_$A(uint u) {
  uvec2 h = NormU16x4(args.$A).v[u];
  return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
}
)", v);
    default:  // bf16: the high half of an f32
      return render(R"(vec4 ld_unit_$A(uint u) {
  uvec2 h = NormU16x4(args.$A).v[u];
  return uintBitsToFloat(uvec4(h.x << 16u, h.x & 0xffff0000u, h.y << 16u, h.y & 0xffff0000u));
}
)", v);
  }
}

// GLSL of `void st_result_unit(uint u, unit_t v)`, rounding as st_result does.
std::string unit_storer(ir::DType t, bool wide) {
  if (!wide) return "void st_result_unit(uint u, float v) { st_result(u, v); }\n";
  switch (t) {
    case ir::DType::F32:
      return "void st_result_unit(uint u, vec4 v) { NormF32x4W(args.result).v[u] = v; }\n";
    case ir::DType::F16:
      return R"(void st_result_unit(uint u, vec4 v) {
  NormU16x4W(args.result).v[u] = uvec2(f32_to_f16_bits(v.x) | (f32_to_f16_bits(v.y) << 16u),
                                       f32_to_f16_bits(v.z) | (f32_to_f16_bits(v.w) << 16u));
}
)";
    default:
      return R"(void st_result_unit(uint u, vec4 v) {
  NormU16x4W(args.result).v[u] = uvec2(f32_to_bf16_bits(v.x) | (f32_to_bf16_bits(v.y) << 16u),
                                       f32_to_bf16_bits(v.z) | (f32_to_bf16_bits(v.w) << 16u));
}
)";
  }
}

}  // namespace

KernelPlan emit_rms_norm(const EmitContext& ctx) {
  const std::map<std::string, std::string> attrs{{"EPS", glsl_float(ctx.op.attr_float("eps"))},
                                                 {"OFFSET", glsl_float(ctx.op.attr_float("offset", 0.0))}};
  const ir::Shape& shape = ctx.input(0).shape;
  const ir::Dim& width = shape.back();
  const bool wide = width.is_const() && width.value % 4 == 0;
  const int64_t units = width.is_const() ? (wide ? width.value / 4 : width.value) : 0;
  // About two units per invocation: local size >= units / 2 (a power of two, at least a subgroup).
  const uint32_t local = local_size_for(ctx, ir::Dim::of((units + 1) / 2), kMaxNormInvocations);
  const int64_t per_invocation = (units + local - 1) / local;
  if (!width.is_const() || per_invocation > kMaxRegisterUnits) {
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
                    attrs);
  }

  const ItemLayout layout = item_layout(ctx, shape, 0, shape.size() - 1, 1);
  std::map<std::string, std::string> vars = attrs;
  vars["D"] = glsl_uint(width.value);
  vars["U"] = glsl_uint(units);
  vars["L"] = glsl_uint(local);
  vars["UNIT"] = wide ? "vec4" : "float";
  std::string body;
  if (wide)
    body += R"(
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer NormF32x4 { vec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer NormF32x4W { vec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) readonly buffer NormU16x4 { uvec2 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) buffer NormU16x4W { uvec2 v[]; };
)";
  body += unit_loader("x", ctx.input(0).dtype, wide) + unit_loader("w", ctx.input(1).dtype, wide) +
          unit_storer(ctx.result(0).dtype, wide);
  if (ctx.caps.subgroup_arithmetic) {
    body += render(R"(
shared float norm_partial[$L];
// One subgroupAdd, then (with several subgroups) one shared-memory step: a single barrier.
float row_sum(float x) {
  x = subgroupAdd(x);
  if (gl_NumSubgroups == 1u) return x;
  if (subgroupElect()) norm_partial[gl_SubgroupID] = x;
  barrier();
  float total = 0.0;
  for (uint s = 0u; s < gl_NumSubgroups; ++s) total += norm_partial[s];
  return total;
}
)", vars);
  } else {
    body += workgroup_reductions(ctx.caps, local) + "float row_sum(float x) { return wg_sum(x); }\n";
  }
  // Unrolled by hand so each unit is a named register (no local array the compiler might spill).
  std::string load, store;
  for (int64_t k = 0; k < per_invocation; ++k) {
    std::map<std::string, std::string> v = vars;
    v["k"] = std::to_string(k);
    v["KL"] = glsl_uint(k * local);
    // Lanes past the row's last unit hold zeros (only when the units do not fill every lane's K).
    v["IN"] = units % local == 0 ? "true" : fmt::format("u$k < {}", glsl_uint(units));
    v["IN"] = render(v["IN"], v);
    load += render(R"(  uint u$k = gl_LocalInvocationID.x + $KL;
  $UNIT x$k = $IN ? ld_unit_x(unit_base + u$k) : $UNIT(0.0);
  sum_sq += dot(x$k, x$k);
)", v);
    store += render("  if ($IN) st_result_unit(unit_base + u$k, x$k * inv_rms * (ld_unit_w(u$k) + $OFFSET));\n", v);
  }
  body += "\nvoid main() {\n" + layout.glsl + render("  uint unit_base = item_begin * $U;\n  float sum_sq = 0.0;\n", vars) +
          load + render("  float inv_rms = inversesqrt(row_sum(sum_sq) / float($D) + $EPS);\n", vars) + store + "}\n";
  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("{}x{}", wide ? "v4" : "s", per_invocation));
  plan.arg_names = {"x", "w", "result"};
  plan.local_size = local;
  plan.grid = layout.grid;
  plan.body = std::move(body);
  return plan;
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
