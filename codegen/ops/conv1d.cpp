// conv1d (depthwise, causal, carried state): one invocation per channel walks the T rows of
// xp = concat(state, x) with its K taps in registers, writes y, then the last K-1 rows of xp as the
// new state. Channels are independent, so rows never need a barrier.
#include <fmt/format.h>

#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {

KernelPlan emit_conv1d(const EmitContext& ctx) {
  const ir::Shape& x = ctx.input(0).shape;
  const int64_t taps = ctx.input(1).shape[1].value;  // constant (verifier)
  const bool silu = ctx.op.attr_str("activation", "none") == "silu";
  const uint32_t local = local_size_for(ctx, x[1], 64);
  ItemLayout layout = item_layout(ctx, x, 1, 2, local);

  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("k{}{}", taps, silu ? "_silu" : ""));
  plan.arg_names = {"x", "w", "state", "y", "new_state"};
  plan.local_size = local;
  plan.grid = layout.grid;
  const std::map<std::string, std::string> vars{{"LAYOUT", layout.glsl},
                                                {"T", ctx.dim(x[0])},
                                                {"C", ctx.dim(x[1])},
                                                {"K", glsl_uint(taps)},
                                                {"ACTIVATE", silu ? "sum * sigmoid_f(sum)" : "sum"}};
  plan.body = render(R"(
// Row r of xp = concat(state, x) for channel c.
float padded_row(uint r, uint c) {
  if (r < $K - 1u) return ld_state(r * $C + c);
  return ld_x((r - ($K - 1u)) * $C + c);
}

void main() {
$LAYOUT
  uint c = item_begin + gl_LocalInvocationID.x;
  if (c >= item_end) return;
  float taps[$K];
  for (uint j = 0u; j < $K; ++j) taps[j] = ld_w(c * $K + j);
  for (uint t = 0u; t < $T; ++t) {
    float sum = 0.0;
    for (uint j = 0u; j < $K; ++j) sum += taps[j] * padded_row(t + j, c);
    st_y(t * $C + c, $ACTIVATE);
  }
  for (uint r = 0u; r + 1u < $K; ++r) st_new_state(r * $C + c, padded_row($T + r, c));
}
)", vars);
  return plan;
}

}  // namespace vkllm::codegen::ops
