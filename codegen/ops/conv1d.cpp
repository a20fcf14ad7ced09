// conv1d (depthwise, causal, carried state): one invocation per channel walks the T rows of
// xp = concat(state, x) with its K taps in registers, writes y, then the last K-1 rows of xp as the
// new state. Channels are independent, so rows never need a barrier.
// Paged form (state[S, K-1, C], src_slot, dst_slot): one invocation per (row, channel); only rows
// that start a chain (src_slot != -1) work: each walks its chain's rows with the window in
// registers, starting from slot src_slot (zeros for -2 or a slot past S) and storing the window into
// slot dst_slot after every row that names one (slots past S are skipped). A chain reads its source
// slot before it writes anything and no other chain writes that slot (the op's contract), so the
// in-place writes need no synchronization.
#include <fmt/format.h>

#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {
namespace {

KernelPlan paged_conv1d(const EmitContext& ctx) {
  const ir::Shape& x = ctx.input(0).shape;
  const int64_t taps = ctx.input(1).shape[1].value;  // constant (verifier)
  const bool silu = ctx.op.attr_str("activation", "none") == "silu";
  const uint32_t local = local_size_for(ctx, x[1], 64);
  ItemLayout layout = item_layout(ctx, x, 0, 2, local);

  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("k{}_s{}{}", taps, ir::to_string(ctx.input(2).shape[0]), silu ? "_silu" : ""));
  plan.arg_names = {"x", "w", "state", "src_slot", "dst_slot", "y", "new_state"};
  plan.local_size = local;
  plan.grid = layout.grid;
  const std::map<std::string, std::string> vars{{"LAYOUT", layout.glsl},
                                                {"T", ctx.dim(x[0])},
                                                {"C", ctx.dim(x[1])},
                                                {"S", ctx.dim(ctx.input(2).shape[0])},
                                                {"K", glsl_uint(taps)},
                                                {"ACTIVATE", silu ? "sum * sigmoid_f(sum)" : "sum"}};
  plan.body = render(R"(
void main() {
$LAYOUT
  uint item = item_begin + gl_LocalInvocationID.x;
  if (item >= item_end) return;
  uint first = item / $C, c = item % $C;
  int from = ld_src_slot(first);
  if (from == -1) return;  // continues a chain: the invocation of the chain's first row walks it
  float taps[$K];
  for (uint j = 0u; j < $K; ++j) taps[j] = ld_w(c * $K + j);
  // window[0, K-1) is the state (the previous K-1 rows); window[K-1] the current row.
  float window[$K];
  bool from_slot = from >= 0 && uint(from) < $S;
  for (uint r = 0u; r + 1u < $K; ++r) window[r] = from_slot ? ld_state((uint(from) * ($K - 1u) + r) * $C + c) : 0.0;
  for (uint t = first; t < $T; ++t) {
    if (t > first && ld_src_slot(t) != -1) break;  // the next chain starts
    window[$K - 1u] = ld_x(t * $C + c);
    float sum = 0.0;
    for (uint j = 0u; j < $K; ++j) sum += taps[j] * window[j];
    st_y(t * $C + c, $ACTIVATE);
    for (uint r = 0u; r + 1u < $K; ++r) window[r] = window[r + 1u];
    int to = ld_dst_slot(t);
    if (to >= 0 && uint(to) < $S)
      for (uint r = 0u; r + 1u < $K; ++r) st_new_state((uint(to) * ($K - 1u) + r) * $C + c, window[r]);
  }
}
)", vars);
  return plan;
}

}  // namespace

KernelPlan emit_conv1d(const EmitContext& ctx) {
  if (ctx.op.inputs.size() == 5) return paged_conv1d(ctx);
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
