// fused_gated_delta_net (ir/README.md; made by passes/fuse_gdn_decode.cpp for decode steps): a Gated
// DeltaNet layer between its input projections and out_proj in one dispatch — the causal conv window
// (depthwise, SiLU) of the q/k/v channels with its state, the q/k L2 norms, the gates
// (beta = sigmoid(b), g = -exp(A_log)·softplus(a + dt_bias)), the delta-rule state update and
// output, and the gated output norm rms_norm(o)·w · silu(z). Unfused this is 15 dispatches after the
// four projections (sigmoid, conv1d, three slices, cast/exp/scale of A_log, add, softplus, mul,
// gated_delta_net, silu, rms_norm, mul), each separated by a barrier.
//
// Grid: one workgroup per (row that may start a chain, key head). Why per key head and not per
// value head: the q and k conv channels of key head h feed all G = Hv/Hk of its value heads, and the
// conv window of a channel is read (src slot) and rewritten (dst slot, the same slot in decode) in
// place. One workgroup owning every channel it reads — q and k of its key head, v of its G value
// heads — is what makes that in-place update safe without ordering between workgroups; workgroups
// per value head would read a window another one may already have advanced. The same workgroup then
// owns whole value heads, so the gated norm over Dv needs no cross-workgroup reduction either.
// Rows that continue a chain (src_slot = -1) return at once; the chain's first row walks its rows,
// as the recurrent gated_delta_net kernel does (verify steps; a decode row is a chain of one).
//
// Invocations: column c < NC = G·Dv of the workgroup's value heads (head kh·G + c / Dv, column
// c % Dv) times P parts of the Dk state rows: invocation p·NC + c keeps S[p·R … p·R + R) of column c
// in registers (R = Dk / P), so the state is read once at the chain's start and written once per
// stored row, coalesced along Dv. P > 1 (more invocations, fewer registers each, for narrow
// groups) adds one shared-memory step to each of the two column sums (S^T k, S^T q). Per row:
//   1. the CH = 2·Dk + NC conv channels (windows in registers, CPT per invocation): y = silu(Σ w·x),
//      into shared memory; the window shifts in x and is stored to dst_slot when the row names one;
//   2. Σq² and Σk² over the key head (two workgroup sums, whose barriers publish step 1);
//   3. per column: beta, the decay exp(g), S *= decay, kv = S^T k, delta = (v - kv)·beta,
//      S += k·delta^T, o = S^T q (the recurrent kernel's arithmetic, with the l2 factors applied
//      to the sums);
//   4. Σo² per value head (one lane sum per head), then out = o/rms · (w + offset) · silu(z).
// Shared memory: CH + 2·P·NC floats plus the reductions' — under 20 KB for Qwen3.5.
//
// Budget (Qwen3.5-9B: Hk = 16, Hv = 32, Dk = Dv = 128, K = 4; one decode row): 16 workgroups of
// 512 invocations (P = 2, 64 state floats each). Bytes: the state 32 × 64 KiB read and written
// (4 MiB), the conv windows 3 × 8192 × 4 B read and written (192 KiB), qkv/z/a/b/weights ~60 KiB:
// ~4.3 MiB, 1.1 µs at 4 TB/s if every SM streamed; with 16 workgroups it is bound by what one SM
// moves (~256 KiB each: ~1.5-3 µs at 100-200 GB/s per SM), against ~15 dependent dispatches at
// ~2-3 µs each unfused. Compute is ~4·Dk·Dv FLOPs per head per row: negligible.
#include <fmt/format.h>

#include <algorithm>

#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {
namespace {

// Invocations per workgroup the parts P aim at, and the fewest state rows an invocation keeps.
constexpr int64_t kTargetInvocations = 512;
constexpr int64_t kMinStateRowsPerInvocation = 16;

// The kernel body; $SUM_KV_PARTS, $SUM_O_PARTS, $PART_SHARED and $SHIFT_IN expand to code holding $ names.
constexpr const char* kBody = R"(
shared float conv_out[$CH];  // this row's conv outputs: q (Dk), k (Dk), then v (NC) of the key head
shared float head_inv_rms[$G];
$PART_SHARED
// Local channel lc of key head kh -> its channel in qkv (q, k and v blocks of the projection).
uint channel_of(uint kh, uint lc) {
  if (lc < $DK) return kh * $DK + lc;
  if (lc < 2u * $DK) return $QK + kh * $DK + (lc - $DK);
  return 2u * $QK + kh * $NC + (lc - 2u * $DK);
}

void main() {
  uint kh = gl_WorkGroupID.x, first = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
  if (first >= $T) return;
  int from = ld_src_slot(first);
  if (from == -1) return;  // continues a chain: the workgroup of the chain's first row walks it
  bool from_slot = from >= 0 && uint(from) < $S;

  // Conv windows of this invocation's channels tid + m·L (the K-1 previous rows, oldest first).
  float window[$WINDOW];
  for (uint m = 0u; m < $CPT; ++m) {
    uint lc = tid + m * $L;
    if (lc >= $CH) break;
    uint ch = channel_of(kh, lc);
    for (uint r = 0u; r < $KM1; ++r)
      window[m * $KM1 + r] = from_slot ? ld_conv_state((uint(from) * $KM1 + r) * $C + ch) : 0.0;
  }
  // State rows [part·R, part·R + R) of column col (value head `head`, column j).
  bool owns_column = tid < $P * $NC;
  uint part = tid / $NC, col = tid % $NC;
  uint head = kh * $G + col / $DV, j = col % $DV, row0 = part * $R;
  float s[$R];
  for (uint r = 0u; r < $R; ++r)
    s[r] = from_slot && owns_column ? ld_state(((uint(from) * $HV + head) * $DK + row0 + r) * $DV + j) : 0.0;

  for (uint t = first; t < $T; ++t) {
    if (t > first && ld_src_slot(t) != -1) break;  // the next chain starts (uniform over the workgroup)
    int to = ld_dst_slot(t);
    bool store = to >= 0 && uint(to) < $S;

    // 1. Conv (depthwise, SiLU) of the key head's q, k and the group's v channels.
    float q_squares = 0.0, k_squares = 0.0;
    for (uint m = 0u; m < $CPT; ++m) {
      uint lc = tid + m * $L;
      if (lc >= $CH) break;
      uint ch = channel_of(kh, lc);
      float x = ld_qkv(t * $C + ch);
      float sum = 0.0;
      for (uint r = 0u; r < $KM1; ++r) sum += ld_conv_w(ch * $K + r) * window[m * $KM1 + r];
      sum += ld_conv_w(ch * $K + $KM1) * x;
      float y = sum * sigmoid_f(sum);
      conv_out[lc] = y;
      if (lc < $DK) q_squares += y * y;
      else if (lc < 2u * $DK) k_squares += y * y;
      for (uint r = 0u; r + 1u < $KM1; ++r) window[m * $KM1 + r] = window[m * $KM1 + r + 1u];
      $SHIFT_IN
      if (store)
        for (uint r = 0u; r < $KM1; ++r) st_new_conv_state((uint(to) * $KM1 + r) * $C + ch, window[m * $KM1 + r]);
    }
    // 2. L2 norms of q and k (the sums' barriers also publish conv_out).
    float q_factor = $SCALE, k_factor = 1.0;
    if ($L2NORM) {
      q_factor *= inversesqrt(wg_sum(q_squares) + $L2EPS);
      k_factor = inversesqrt(wg_sum(k_squares) + $L2EPS);
    } else {
      barrier();
    }

    // 3. Gates and the delta rule on this invocation's rows of its column.
    float beta = 0.0, decay = 0.0;
    if (owns_column) {
      uint gate = t * $HV + head;
      beta = sigmoid_f(ld_b(gate));
      float decay_rate = -exp(ld_a_log(head));
      decay = exp(softplus_f(ld_a(gate) + ld_dt_bias(head)) * decay_rate);
    }
    float kv = 0.0;
    if (owns_column)
      for (uint r = 0u; r < $R; ++r) {
        s[r] *= decay;
        kv += s[r] * conv_out[$DK + row0 + r];
      }
    $SUM_KV_PARTS
    float o = 0.0;
    if (owns_column) {
      float delta = (conv_out[2u * $DK + col] - kv * k_factor) * beta * k_factor;
      for (uint r = 0u; r < $R; ++r) {
        s[r] += conv_out[$DK + row0 + r] * delta;
        o += s[r] * conv_out[row0 + r];
      }
    }
    $SUM_O_PARTS
    o *= q_factor;

    // 4. Gated norm per value head: Σo² over its Dv columns (part 0 holds each column once).
    float squares[$G];
    for (uint m = 0u; m < $G; ++m) squares[m] = owns_column && part == 0u && col / $DV == m ? o * o : 0.0;
    float head_sum = wg_sum_lanes(squares);  // invocation m < G receives value head kh·G + m's
    if (tid < $G) head_inv_rms[tid] = inversesqrt(head_sum / float($DV) + $EPS);
    barrier();
    if (owns_column && part == 0u) {
      uint at = (t * $HV + head) * $DV + j;
      float zv = ld_z(at);
      st_result(at, o * head_inv_rms[col / $DV] * (ld_norm_w(j) + $OFFSET) * (zv * sigmoid_f(zv)));
    }
    if (store && owns_column)
      for (uint r = 0u; r < $R; ++r) st_new_state(((uint(to) * $HV + head) * $DK + row0 + r) * $DV + j, s[r]);
  }
}
)";

}  // namespace

KernelPlan emit_fused_gated_delta_net(const EmitContext& ctx) {
  const ir::Shape &qkv = ctx.input(0).shape, &z = ctx.input(1).shape, &conv_w = ctx.input(4).shape,
                  &conv_state = ctx.input(5).shape, &state = ctx.input(9).shape;
  // Constants (verifier): C, Hv, Dv, K, Dk; Hk = (C - Hv·Dv) / (2·Dk).
  const int64_t channels = qkv[1].value, value_heads = z[1].value, value_dim = z[2].value;
  const int64_t taps = conv_w[1].value, key_dim = state[2].value;
  const int64_t key_heads = (channels - value_heads * value_dim) / (2 * key_dim);
  const int64_t group = value_heads / key_heads, columns = group * value_dim;
  const int64_t local_channels = 2 * key_dim + columns;

  int64_t parts = 1;
  while (key_dim % (2 * parts) == 0 && 2 * parts * columns <= kTargetInvocations &&
         key_dim / (2 * parts) >= kMinStateRowsPerInvocation)
    parts *= 2;
  const uint32_t local = local_size_for(ctx, ir::Dim::of(parts * columns), 1024);
  if (local < parts * columns)
    ctx.fail(fmt::format("{} value heads of {} columns per key head need {} invocations per workgroup; the device "
                         "allows {}",
                         group, value_dim, columns, ctx.caps.max_workgroup_invocations));
  const int64_t conv_per_invocation = (local_channels + local - 1) / local;
  const int64_t shared_floats = local_channels + (parts > 1 ? 2 * parts * columns : 0) + group +
                                3 * static_cast<int64_t>(local) + static_cast<int64_t>(local) * group;
  if (4 * shared_floats > ctx.caps.max_shared_memory_bytes)
    ctx.fail(fmt::format("needs {} bytes of shared memory; the device has {}", 4 * shared_floats,
                         ctx.caps.max_shared_memory_bytes));

  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("hk{}_hv{}_dk{}_dv{}_k{}_s{}_p{}{}", key_heads, value_heads, key_dim,
                                           value_dim, taps, ir::to_string(conv_state[0]), parts,
                                           ctx.op.attr_bool("qk_l2norm", false) ? "_l2norm" : ""));
  plan.arg_names = {"qkv",    "z",     "a",        "b",        "conv_w", "conv_state", "a_log",         "dt_bias",
                    "norm_w", "state", "src_slot", "dst_slot", "result", "new_conv_state", "new_state"};
  plan.local_size = local;
  // x: the key head; y: the row that may start a chain.
  plan.grid[0] = GridDim{key_heads, {}, 1};
  plan.grid[1] = qkv[0].is_const() ? GridDim{qkv[0].value, {}, 1} : GridDim{1, {qkv[0].sym}, 1};

  const std::map<std::string, std::string> vars{
      {"T", ctx.dim(qkv[0])},
      {"S", ctx.dim(conv_state[0])},
      {"C", glsl_uint(channels)},
      {"K", glsl_uint(taps)},
      {"KM1", glsl_uint(taps - 1)},
      {"WINDOW", glsl_uint(std::max<int64_t>(1, conv_per_invocation * (taps - 1)))},
      {"HV", glsl_uint(value_heads)},
      {"G", glsl_uint(group)},
      {"DK", glsl_uint(key_dim)},
      {"DV", glsl_uint(value_dim)},
      {"NC", glsl_uint(columns)},
      {"CH", glsl_uint(local_channels)},
      {"QK", glsl_uint(key_heads * key_dim)},
      {"P", glsl_uint(parts)},
      {"R", glsl_uint(key_dim / parts)},
      {"L", glsl_uint(local)},
      {"CPT", glsl_uint(conv_per_invocation)},
      {"SCALE", glsl_float(ctx.op.attr_float("scale"))},
      {"L2NORM", ctx.op.attr_bool("qk_l2norm", false) ? "true" : "false"},
      {"L2EPS", glsl_float(ctx.op.attr_float("l2norm_eps", 1e-6))},
      {"EPS", glsl_float(ctx.op.attr_float("eps"))},
      {"OFFSET", glsl_float(ctx.op.attr_float("offset", 0.0))},
      // The two column sums across parts (P > 1 only): store, barrier, add the P partials.
      {"SUM_KV_PARTS", parts > 1 ? R"(if (owns_column) part_kv[tid] = kv;
    barrier();
    kv = 0.0;
    if (owns_column)
      for (uint p = 0u; p < $P; ++p) kv += part_kv[p * $NC + col];)"
                                 : ""},
      {"SUM_O_PARTS", parts > 1 ? R"(if (owns_column) part_o[tid] = o;
    barrier();
    o = 0.0;
    if (owns_column)
      for (uint p = 0u; p < $P; ++p) o += part_o[p * $NC + col];)"
                                : ""},
      {"SHIFT_IN", taps > 1 ? "window[m * $KM1 + $KM1 - 1u] = x;" : ""},
      {"PART_SHARED", parts > 1 ? "shared float part_kv[$P * $NC];\nshared float part_o[$P * $NC];\n" : ""},
  };
  // The part sums' text holds $ names itself: rendered twice.
  plan.body = workgroup_reductions(ctx.caps, local) +
              workgroup_lane_sums(ctx.caps, local, static_cast<uint32_t>(group)) + render(render(kBody, vars), vars);
  return plan;
}

}  // namespace vkllm::codegen::ops
