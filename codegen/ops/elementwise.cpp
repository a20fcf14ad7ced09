// Elementwise ops: add, mul (with b broadcast over a's leading dims), scale and the activations.
#include "codegen/ops/elementwise.h"

#include <fmt/format.h>

#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {

KernelPlan elementwise_plan(const EmitContext& ctx, std::vector<std::string> arg_names, const std::string& statement,
                            const std::string& name_extra, const std::string& helpers) {
  return elementwise_plan_over(ctx, ctx.result(0).shape, std::move(arg_names), statement, name_extra, helpers);
}

KernelPlan elementwise_plan_over(const EmitContext& ctx, const ir::Shape& shape, std::vector<std::string> arg_names,
                                 const std::string& statement, const std::string& name_extra,
                                 const std::string& helpers) {
  // Small constant tensors get a small workgroup; otherwise 256 invocations, 4 elements each.
  ir::Dim count = ir::Dim::symbol("n");
  bool all_const = true;
  int64_t elements = 1;
  for (const ir::Dim& d : shape) {
    all_const &= d.is_const();
    if (d.is_const()) elements *= d.value;
  }
  if (all_const) count = ir::Dim::of(elements);
  const uint32_t local = local_size_for(ctx, count, 256);
  const int64_t per_invocation = all_const && elements <= local ? 1 : 4;
  ItemLayout layout = item_layout(ctx, shape, 0, shape.size(), local * per_invocation);

  KernelPlan plan;
  plan.name = kernel_name(ctx, name_extra);
  plan.arg_names = std::move(arg_names);
  plan.local_size = local;
  plan.grid = layout.grid;
  plan.body = helpers + render(R"(
void main() {
$LAYOUT
  for (uint i = item_begin + gl_LocalInvocationID.x; i < item_end; i += $L) {
    $STATEMENT
  }
}
)", {{"LAYOUT", layout.glsl}, {"L", glsl_uint(local)}, {"STATEMENT", statement}});
  return plan;
}

namespace {

// a op b with b's shape a suffix of a's: b repeats every numel(b) elements of a.
KernelPlan broadcast_binary(const EmitContext& ctx, const char* op_symbol) {
  const ir::Shape& a = ctx.input(0).shape;
  const ir::Shape& b = ctx.input(1).shape;
  std::string b_index = a == b ? "i" : "i % " + ctx.product(b);
  return elementwise_plan(ctx, {"a", "b", "result"},
                          fmt::format("st_result(i, ld_a(i) {} ld_b({}));", op_symbol, b_index),
                          a == b ? "" : "bcast");
}

KernelPlan unary(const EmitContext& ctx, const std::string& expression_of_x, const std::string& extra = {}) {
  return elementwise_plan(ctx, {"x", "result"},
                          fmt::format("float x = ld_x(i); st_result(i, {});", expression_of_x), extra);
}

std::string gelu_function(const ir::Op& op) {
  return op.attr_str("approximate", "none") == "tanh" ? "gelu_tanh" : "gelu_erf";
}

}  // namespace

KernelPlan emit_add(const EmitContext& ctx) { return broadcast_binary(ctx, "+"); }
KernelPlan emit_mul(const EmitContext& ctx) { return broadcast_binary(ctx, "*"); }

KernelPlan emit_scale(const EmitContext& ctx) {
  return unary(ctx, "x * " + glsl_float(ctx.op.attr_float("factor")));
}

KernelPlan emit_silu(const EmitContext& ctx) { return unary(ctx, "x * sigmoid_f(x)"); }
KernelPlan emit_sigmoid(const EmitContext& ctx) { return unary(ctx, "sigmoid_f(x)"); }
KernelPlan emit_softplus(const EmitContext& ctx) { return unary(ctx, "softplus_f(x)"); }
KernelPlan emit_exp(const EmitContext& ctx) { return unary(ctx, "exp(x)"); }

KernelPlan emit_gelu(const EmitContext& ctx) {
  std::string fn = gelu_function(ctx.op);
  return unary(ctx, fn + "(x)", fn == "gelu_tanh" ? "tanh" : "erf");
}

KernelPlan emit_softcap(const EmitContext& ctx) {
  std::string cap = glsl_float(ctx.op.attr_float("cap"));
  return unary(ctx, cap + " * tanh_stable(x / " + cap + ")");
}

KernelPlan emit_swiglu(const EmitContext& ctx) {
  return elementwise_plan(ctx, {"gate", "up", "result"},
                          "float g = ld_gate(i); st_result(i, g * sigmoid_f(g) * ld_up(i));");
}

KernelPlan emit_geglu(const EmitContext& ctx) {
  std::string fn = gelu_function(ctx.op);
  return elementwise_plan(ctx, {"gate", "up", "result"}, fmt::format("st_result(i, {}(ld_gate(i)) * ld_up(i));", fn),
                          fn == "gelu_tanh" ? "tanh" : "erf");
}

}  // namespace vkllm::codegen::ops
