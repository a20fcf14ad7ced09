// gated_delta_net (ir/README.md): the gated delta rule over per-sequence state slots.
//
// Both kernels give a workgroup (chain, value head, block of state columns): columns of a head's
// Dk x Dv state evolve independently (column j needs only k, q, v[j], g and beta). Every row t gets
// a workgroup row; only rows that start a chain (src_slot != -1) work: they load the source slot
// (zeros for -2 or a slot past S) and walk the chain's rows, storing the state into slot dst_slot
// after each row that names one (slots past S are skipped). A chain reads its source slot before it
// writes anything and no other chain writes that slot (the op's contract), so the in-place writes
// need no synchronization.
//
// Selection (codegen, not the graph): the recurrent kernel when the row count is at most
// kRecurrentMaxRows — a constant, or a symbol compile_graph was given that bound (the engine's
// decode and verify graphs) — the chunked kernel otherwise (prefill).
//
// Recurrent kernel: each invocation keeps its column S[:, j] in registers. Per row, q and k of the
// key head go to shared memory (l2-normalized through one workgroup sum each when qk_l2norm), then
// S *= exp(g), kv = S^T k, delta = (v - kv) * beta, S += k delta^T, o = S^T (q * scale).
//
// Chunked kernel (HF torch_chunk_gated_delta_rule's WY form, f32): the block S[:, cols] lives in
// shared memory and a chain's rows go in chunks of up to C rows; a chunk also ends at a row that
// stores its state (dst_slot >= 0), so every stored state is a chunk's last. With G the cumulative
// sum of g from the chunk's start (decays are exp of differences of G, at most 1 for g <= 0),
//   A[t][s] = beta_t exp(G_t - G_s) k_t.k_s (s < t),   QK[t][s] = exp(G_t - G_s) q_t.k_s (s <= t),
//   U = (I + A)^-1 (beta (V - exp(G) K S))   (forward substitution, one invocation per column),
//   o_t = exp(G_t) S^T q_t + sum_{s <= t} QK[t][s] u_s,
//   S <- exp(G_last) S + sum_s exp(G_last - G_s) k_s u_s^T.
// q and k are read from memory with their l2-norm and scale factors applied per row.
#include <fmt/format.h>

#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {
namespace {

// A constant row count up to this uses the recurrent kernel.
constexpr int64_t kRecurrentMaxRows = 32;

struct GdnShape {
  int64_t key_heads, key_dim, value_heads, value_dim;
};

GdnShape gdn_shape(const EmitContext& ctx) {
  const ir::Shape& q = ctx.input(0).shape;
  const ir::Shape& v = ctx.input(2).shape;
  return {q[1].value, q[2].value, v[1].value, v[2].value};  // constants (verifier)
}

std::map<std::string, std::string> common_vars(const EmitContext& ctx, const GdnShape& s) {
  return {{"T", ctx.dim(ctx.input(0).shape[0])},
          {"S", ctx.dim(ctx.input(5).shape[0])},
          {"HK", glsl_uint(s.key_heads)},
          {"HV", glsl_uint(s.value_heads)},
          {"GROUP", glsl_uint(s.value_heads / s.key_heads)},
          {"DK", glsl_uint(s.key_dim)},
          {"DV", glsl_uint(s.value_dim)},
          {"SCALE", glsl_float(ctx.op.attr_float("scale"))},
          {"EPS", glsl_float(ctx.op.attr_float("l2norm_eps", 1e-6))},
          {"L2NORM", ctx.op.attr_bool("qk_l2norm", false) ? "true" : "false"}};
}

KernelPlan base_plan(const EmitContext& ctx, const GdnShape& s, const std::string& kind, uint32_t local,
                     int64_t column_blocks) {
  const ir::Shape& q = ctx.input(0).shape;
  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("hk{}_hv{}_dk{}_dv{}_s{}{}_{}", s.key_heads, s.value_heads, s.key_dim,
                                           s.value_dim, ir::to_string(ctx.input(5).shape[0]),
                                           ctx.op.attr_bool("qk_l2norm", false) ? "_l2norm" : "", kind));
  plan.arg_names = {"q", "k", "v", "g", "beta", "state", "src_slot", "dst_slot", "o", "new_state"};
  plan.local_size = local;
  // x: (value head, column block); y: the row that may start a chain.
  plan.grid[0] = GridDim{s.value_heads * column_blocks, {}, 1};
  plan.grid[1] = q[0].is_const() ? GridDim{q[0].value, {}, 1} : GridDim{1, {q[0].sym}, 1};
  return plan;
}

KernelPlan recurrent_kernel(const EmitContext& ctx) {
  const GdnShape shape = gdn_shape(ctx);
  const uint32_t local = local_size_for(ctx, ctx.input(2).shape[2], 64);
  const int64_t column_blocks = (shape.value_dim + local - 1) / local;
  KernelPlan plan = base_plan(ctx, shape, "recurrent", local, column_blocks);
  std::map<std::string, std::string> vars = common_vars(ctx, shape);
  vars["L"] = glsl_uint(local);
  vars["BLOCKS"] = glsl_uint(column_blocks);
  plan.body = workgroup_reductions(ctx.caps, local) + render(R"(
shared float q_row[$DK];
shared float k_row[$DK];

void main() {
  uint head = gl_WorkGroupID.x / $BLOCKS, key_head = head / $GROUP;
  uint j = (gl_WorkGroupID.x % $BLOCKS) * $L + gl_LocalInvocationID.x;  // this invocation's column
  bool column = j < $DV;
  uint first = gl_WorkGroupID.y;
  if (first >= $T) return;
  int from = ld_src_slot(first);
  if (from == -1) return;  // continues a chain: the workgroup of the chain's first row walks it

  float s[$DK];  // S[:, j]
  bool from_slot = from >= 0 && uint(from) < $S && column;
  for (uint i = 0u; i < $DK; ++i) s[i] = from_slot ? ld_state(((uint(from) * $HV + head) * $DK + i) * $DV + j) : 0.0;

  for (uint t = first; t < $T; ++t) {
    if (t > first && ld_src_slot(t) != -1) break;  // the next chain starts (uniform over the workgroup)
    uint qk_base = (t * $HK + key_head) * $DK;
    float q_squares = 0.0, k_squares = 0.0;
    for (uint i = gl_LocalInvocationID.x; i < $DK; i += $L) {
      float a = ld_q(qk_base + i), b = ld_k(qk_base + i);
      q_row[i] = a;
      k_row[i] = b;
      q_squares += a * a;
      k_squares += b * b;
    }
    float q_factor = $SCALE, k_factor = 1.0;
    if ($L2NORM) {  // the sums' barriers also publish q_row and k_row
      q_factor *= inversesqrt(wg_sum(q_squares) + $EPS);
      k_factor = inversesqrt(wg_sum(k_squares) + $EPS);
    } else {
      barrier();
    }
    uint gate = t * $HV + head;
    float decay = exp(ld_g(gate)), beta = ld_beta(gate);
    if (column) {
      float kv = 0.0;
      for (uint i = 0u; i < $DK; ++i) {
        s[i] *= decay;
        kv += s[i] * k_row[i];
      }
      float delta = (ld_v(gate * $DV + j) - kv * k_factor) * beta * k_factor;
      float o = 0.0;
      for (uint i = 0u; i < $DK; ++i) {
        s[i] += k_row[i] * delta;
        o += s[i] * q_row[i];
      }
      st_o(gate * $DV + j, o * q_factor);
      int to = ld_dst_slot(t);
      if (to >= 0 && uint(to) < $S)
        for (uint i = 0u; i < $DK; ++i) st_new_state(((uint(to) * $HV + head) * $DK + i) * $DV + j, s[i]);
    }
    barrier();  // q_row and k_row are rewritten by the next row
  }
}
)", vars);
  return plan;
}

// Floats of shared memory the chunked kernel needs.
int64_t chunked_shared_floats(int64_t key_dim, int64_t chunk, int64_t columns) {
  return key_dim * columns + 2 * chunk * chunk + chunk * columns + 5 * chunk;
}

KernelPlan chunked_kernel(const EmitContext& ctx) {
  const GdnShape shape = gdn_shape(ctx);
  // Columns per workgroup: up to 32, fewer for a narrow head or a small shared memory.
  int64_t columns = 1, chunk = 32;
  while (columns < 32 && columns < shape.value_dim) columns *= 2;
  const int64_t budget = ctx.caps.max_shared_memory_bytes / 4;
  while (columns > 8 && chunked_shared_floats(shape.key_dim, chunk, columns) > budget) columns /= 2;
  while (chunk > 8 && chunked_shared_floats(shape.key_dim, chunk, columns) > budget) chunk /= 2;
  if (chunked_shared_floats(shape.key_dim, chunk, columns) > budget)
    ctx.fail(fmt::format("key head dim {} needs {} bytes of shared memory; the device has {}", shape.key_dim,
                         4 * chunked_shared_floats(shape.key_dim, chunk, columns), ctx.caps.max_shared_memory_bytes));
  const uint32_t local = local_size_for(ctx, ir::Dim::of(256), 256);
  if (local < chunk || local < columns) ctx.fail("the device's workgroups are too small for the chunked kernel");
  const int64_t column_blocks = (shape.value_dim + columns - 1) / columns;
  KernelPlan plan = base_plan(ctx, shape, fmt::format("chunk{}_bv{}", chunk, columns), local, column_blocks);
  std::map<std::string, std::string> vars = common_vars(ctx, shape);
  vars["L"] = glsl_uint(local);
  vars["C"] = glsl_uint(chunk);
  vars["BV"] = glsl_uint(columns);
  vars["BLOCKS"] = glsl_uint(column_blocks);
  plan.body = render(R"(
shared float s_blk[$DK * $BV];  // S[i][col0 + jj] at i * BV + jj
shared float a_mat[$C * $C];     // A[t][m], m < t
shared float qk_mat[$C * $C];    // QK[t][m], m <= t
shared float u_mat[$C * $BV];    // right-hand sides, then U
shared float g_cum[$C], beta_row[$C], q_factor[$C], k_factor[$C], k_decay[$C];

void main() {
  uint head = gl_WorkGroupID.x / $BLOCKS, key_head = head / $GROUP;
  uint col0 = (gl_WorkGroupID.x % $BLOCKS) * $BV;
  uint tid = gl_LocalInvocationID.x;
  uint first = gl_WorkGroupID.y;
  if (first >= $T) return;
  int from = ld_src_slot(first);
  if (from == -1) return;  // continues a chain: the workgroup of the chain's first row walks it

  bool from_slot = from >= 0 && uint(from) < $S;
  for (uint e = tid; e < $DK * $BV; e += $L) {
    uint i = e / $BV, j = col0 + e % $BV;
    s_blk[e] = from_slot && j < $DV ? ld_state(((uint(from) * $HV + head) * $DK + i) * $DV + j) : 0.0;
  }
  uint r = first;
  while (true) {
    // The chunk: rows [r, r + n) of the chain, at most C, ending at the first row that stores.
    uint n = 1u;
    while (n < $C && r + n < $T && ld_src_slot(r + n) == -1 && ld_dst_slot(r + n - 1u) < 0) ++n;

    // Per-row factors: q and k scaling (l2norm, scale), beta, g.
    if (tid < n) {
      uint t = r + tid, base = (t * $HK + key_head) * $DK;
      float qf = $SCALE, kf = 1.0;
      if ($L2NORM) {
        float q_squares = 0.0, k_squares = 0.0;
        for (uint i = 0u; i < $DK; ++i) {
          float a = ld_q(base + i), b = ld_k(base + i);
          q_squares += a * a;
          k_squares += b * b;
        }
        qf *= inversesqrt(q_squares + $EPS);
        kf = inversesqrt(k_squares + $EPS);
      }
      q_factor[tid] = qf;
      k_factor[tid] = kf;
      beta_row[tid] = ld_beta(t * $HV + head);
      g_cum[tid] = ld_g(t * $HV + head);
    }
    barrier();
    if (tid == 0u)
      for (uint t = 1u; t < n; ++t) g_cum[t] += g_cum[t - 1u];
    barrier();
    if (tid < n) k_decay[tid] = exp(g_cum[n - 1u] - g_cum[tid]) * k_factor[tid];
    // A and QK over pairs (t, m); right-hand sides beta_t (v_t - exp(G_t) S^T k_t) over (t, column).
    for (uint p = tid; p < n * n; p += $L) {
      uint t = p / n, m = p % n;
      float a = 0.0, b = 0.0;
      if (m <= t) {
        uint row_t = ((r + t) * $HK + key_head) * $DK, row_m = ((r + m) * $HK + key_head) * $DK;
        float kk = 0.0, qk = 0.0;
        for (uint i = 0u; i < $DK; ++i) {
          float km = ld_k(row_m + i);
          kk += ld_k(row_t + i) * km;
          qk += ld_q(row_t + i) * km;
        }
        float decay = exp(g_cum[t] - g_cum[m]) * k_factor[m];
        b = decay * q_factor[t] * qk;
        if (m < t) a = beta_row[t] * decay * k_factor[t] * kk;
      }
      a_mat[t * $C + m] = a;
      qk_mat[t * $C + m] = b;
    }
    for (uint p = tid; p < n * $BV; p += $L) {
      uint t = p / $BV, jj = p % $BV, j = col0 + jj;
      uint row_t = ((r + t) * $HK + key_head) * $DK;
      float ks = 0.0;
      for (uint i = 0u; i < $DK; ++i) ks += ld_k(row_t + i) * s_blk[i * $BV + jj];
      float v = j < $DV ? ld_v(((r + t) * $HV + head) * $DV + j) : 0.0;
      u_mat[t * $BV + jj] = beta_row[t] * (v - exp(g_cum[t]) * k_factor[t] * ks);
    }
    barrier();
    // U = (I + A)^-1 (right-hand sides): forward substitution, one invocation per column.
    if (tid < $BV)
      for (uint t = 1u; t < n; ++t) {
        float x = u_mat[t * $BV + tid];
        for (uint m = 0u; m < t; ++m) x -= a_mat[t * $C + m] * u_mat[m * $BV + tid];
        u_mat[t * $BV + tid] = x;
      }
    barrier();
    // Outputs, from the state before the chunk.
    for (uint p = tid; p < n * $BV; p += $L) {
      uint t = p / $BV, jj = p % $BV, j = col0 + jj;
      if (j >= $DV) continue;
      uint row_t = ((r + t) * $HK + key_head) * $DK;
      float qs = 0.0;
      for (uint i = 0u; i < $DK; ++i) qs += ld_q(row_t + i) * s_blk[i * $BV + jj];
      float o = exp(g_cum[t]) * q_factor[t] * qs;
      for (uint m = 0u; m <= t; ++m) o += qk_mat[t * $C + m] * u_mat[m * $BV + jj];
      st_o(((r + t) * $HV + head) * $DV + j, o);
    }
    barrier();
    // The state after the chunk's last row, stored when that row names a slot.
    int to = ld_dst_slot(r + n - 1u);
    bool store = to >= 0 && uint(to) < $S;
    float chunk_decay = exp(g_cum[n - 1u]);
    for (uint e = tid; e < $DK * $BV; e += $L) {
      uint i = e / $BV, jj = e % $BV, j = col0 + jj;
      float x = chunk_decay * s_blk[e];
      for (uint m = 0u; m < n; ++m)
        x += k_decay[m] * ld_k(((r + m) * $HK + key_head) * $DK + i) * u_mat[m * $BV + jj];
      s_blk[e] = x;
      if (store && j < $DV) st_new_state(((uint(to) * $HV + head) * $DK + i) * $DV + j, x);
    }
    barrier();
    r += n;
    if (r >= $T || ld_src_slot(r) != -1) break;  // the chain ends
  }
}
)", vars);
  return plan;
}

}  // namespace

KernelPlan emit_gated_delta_net(const EmitContext& ctx) {
  const ir::Dim& rows = ctx.input(0).shape[0];
  const std::optional<int64_t> max_rows = ctx.max_value(rows);
  if (max_rows && *max_rows <= kRecurrentMaxRows) return recurrent_kernel(ctx);
  return chunked_kernel(ctx);
}

}  // namespace vkllm::codegen::ops
