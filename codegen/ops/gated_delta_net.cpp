// gated_delta_net (ir/README.md): the gated delta rule over per-sequence state slots.
//
// Both kernels give a workgroup (chain, value head, block of state columns): columns of a head's
// Dk x Dv state evolve independently (column j needs only k, q, v[j], g and beta). Only rows that
// start a chain (src_slot != -1) work: their workgroup loads the source slot (zeros for -2 or a slot
// past S) and walks the chain's rows, storing the state into slot dst_slot after each row that names
// one (slots past S are skipped). A chain reads its source slot before it writes anything and no
// other chain writes that slot (the op's contract), so the in-place writes need no synchronization.
// The recurrent kernel has a workgroup row per row; the chunked one a workgroup row per window of
// kChunkedWindowRows rows, walking the chains that start there one after another (a 256-row prefill
// of one chain: 16 workgroup rows, 15 of which exit at once, rather than 256).
//
// Selection (codegen, not the graph): the recurrent kernel when the row count is at most
// kRecurrentMaxRows — a constant, or a symbol compile_graph was given that bound (the engine's
// decode and verify graphs) — the chunked kernel otherwise (prefill).
//
// Recurrent kernel: each invocation keeps its column S[:, j] in registers. Per row, q and k of the
// key head go to shared memory (l2-normalized through one workgroup sum each when qk_l2norm), then
// S *= exp(g), kv = S^T k, delta = (v - kv) * beta, S += k delta^T, o = S^T (q * scale).
//
// Chunked kernel (HF torch_chunk_gated_delta_rule's WY form, f32). A chain's rows go in chunks of up
// to C rows; a chunk also ends at a row that stores its state (dst_slot >= 0), so every stored state
// is a chunk's last. Rows past a chunk's end are staged as zeros (k = q = v = g = beta = 0), which
// changes nothing below, so every chunk is computed at its full C rows. With G the cumulative sum of
// g from the chunk's start (decays are exp of differences of G, at most 1 for g <= 0), q and k
// l2-normalized (factors kept per row, applied to the products) and q scaled:
//   A[t][m] = beta_t exp(G_t - G_m) k_t.k_m (m < t),   QK[t][m] = exp(G_t - G_m) q_t.k_m (m <= t),
//   T = (I + A)^-1,   U = T R,   R_t = beta_t (v_t - exp(G_t) S^T k_t),
//   o_t = exp(G_t) S^T q_t + sum_{m <= t} QK[t][m] u_m,
//   S <- exp(G_last) S + sum_m exp(G_last - G_m) k_m u_m^T.
// Layout: BV = 32 state columns per workgroup, P = min(8, subgroup size, Dk / 4) invocations per
// column (1 without subgroup shuffles, then C = 16), each holding Dk / P rows of its column in
// registers (vec4 s<g> holds rows 4 (g P + p) .. + 3, so P lanes read one k row's consecutive
// vec4s). S^T k_t and S^T q_t are partial dot products summed over the P lanes by
// subgroupShuffleXor, 8 rows t at a time (independent sums in flight). The chunk's q and k rows live in shared memory (rows padded by one vec4 so lanes
// reading rows m, m + 1 hit different banks); A and QK are computed once per workgroup (4 entries of
// each per invocation, blocks wholly above the diagonal skipped); T by inverting the 8 x 8 diagonal
// blocks by forward substitution and merging pairs of inverted blocks (T21 = -T22 A21 T11) in log2(C
// / 8) steps, every invocation busy; U = T R with C / P entries per invocation. The next chunk's q, k,
// v, g and beta rows are loaded into registers while the current one computes.
//
// Budget (Qwen3.5-9B: Hk 16, Hv 32, Dk = Dv = 128; a 256-row prefill chunk, one sequence; H200):
// the only thing carried from chunk to chunk is S, so a chain is 8 sequential steps of C = 32 rows
// (C is the largest power of two whose q, k, A, QK, U and scratch fit 48 KiB of shared memory: 47 KiB).
// Per step and workgroup (one value head, 32 columns; 4 workgroups per head, 128 in all on 132 SMs),
// in multiply-adds: A and QK 2 C^2 Dk = 262K (164K with the triangle skip; each column block
// recomputes them, but on its own SM), S^T k and S^T q 2 C Dk BV = 262K, the state update C Dk BV =
// 131K, U and the intra-chunk outputs 2 C^2 BV = 66K, T ~10K: ~630K, 2.5K per invocation. One SM
// issues 128 per clock: ~4.9K clocks, 2.6 us at ~1.9 GHz if FMA-bound, against ~85 us per step for
// the previous kernel (global loads in its inner loops, a 32-invocation forward substitution, a
// serial scan); with ~12 barriers, the shuffles (2 x 32 rows x 3 per invocation) and one load round
// trip, ~4-6 us per step, ~35-50 us per layer (677 us before). Measured on the H200: 171 us per layer
// (~21 us per step: 4-5x over the budget; bench/results/2026-12-03-h200-session5/run4). Bytes
// are not the limit: q, k, v, o and the states of one layer move ~16 MB (~4 us at 4 TB/s).
// Next, if the step stays above ~4 us: a pre-pass over all chunks at once (A, QK, T, T beta exp(G)
// K and T beta V need no S), a second dispatch (an op is one kernel today), leaving only S^T (.)
// and the update — ~60% of the work — on the sequential path.
#include <fmt/format.h>

#include <algorithm>

#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {
namespace {

// A constant row count up to this uses the recurrent kernel.
constexpr int64_t kRecurrentMaxRows = 32;
// Rows per workgroup row of the chunked kernel's grid: a workgroup walks the chains starting there.
constexpr int64_t kChunkedWindowRows = 16;

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

// The chunked kernel's shape: C rows per chunk, BV state columns per workgroup, P invocations per
// column (each holds DKP / P rows of the column in registers; DKP = Dk rounded up to a multiple of 4P,
// the padding rows all zero).
struct ChunkedLayout {
  int64_t chunk = 32, columns = 32, parts = 1, padded_key_dim = 0;
  int64_t local() const { return columns * parts; }
  int64_t inverse_block() const { return std::min<int64_t>(8, chunk); }  // diagonal blocks inverted directly
  int64_t scratch_floats() const { return std::max(chunk * inverse_block(), chunk * chunk / 4); }
  int64_t u_stride() const { return columns + 1; }  // padded: lanes of one column read rows p, p + P, ...
  int64_t qk_row_vec4() const { return padded_key_dim / 4 + 1; }  // padded: lanes reading rows m, m + 1 differ in bank
  int64_t shared_floats() const {
    return 2 * chunk * 4 * qk_row_vec4() + 2 * chunk * chunk + scratch_floats() + chunk * u_stride() + 8 * chunk + 2;
  }
};

ChunkedLayout chunked_layout(const EmitContext& ctx, const GdnShape& s) {
  ChunkedLayout l;
  // The cross-part sums go through subgroupShuffleXor within clusters of P lanes. The harness's
  // "no subgroup operations" cases clear subgroup_arithmetic, so that flag gates them too.
  if (ctx.caps.subgroup_shuffle && ctx.caps.subgroup_arithmetic)
    while (l.parts < 8 && l.parts * 2 <= int64_t{ctx.caps.subgroup_size} && l.parts * 8 <= s.key_dim) l.parts *= 2;
  // Without them every invocation owns C rows of v and U (unrolled code): a shorter chunk.
  if (l.parts == 1) l.chunk = 16;
  l.padded_key_dim = (s.key_dim + 4 * l.parts - 1) / (4 * l.parts) * (4 * l.parts);
  l.columns = 1;
  while (l.columns < 32 && l.columns < s.value_dim) l.columns *= 2;
  // Whole subgroups, and at least 32 invocations for the staging (idle columns past Dv are cheap).
  while (l.local() < std::max<int64_t>(32, ctx.caps.subgroup_size)) l.columns *= 2;
  while (l.columns > 1 && l.local() > int64_t{ctx.caps.max_workgroup_invocations}) l.columns /= 2;
  const int64_t budget = ctx.caps.max_shared_memory_bytes / 4;
  while (l.chunk > 8 && l.shared_floats() > budget) l.chunk /= 2;
  while (l.columns > 1 && l.shared_floats() > budget) l.columns /= 2;
  if (l.shared_floats() > budget)
    ctx.fail(fmt::format("key head dim {} needs {} bytes of shared memory; the device has {}", s.key_dim,
                         4 * l.shared_floats(), ctx.caps.max_shared_memory_bytes));
  return l;
}

KernelPlan chunked_kernel(const EmitContext& ctx) {
  const GdnShape shape = gdn_shape(ctx);
  const ChunkedLayout l = chunked_layout(ctx, shape);
  const int64_t C = l.chunk, P = l.parts, DKV = l.padded_key_dim / 4, groups = DKV / P;  // vec4 groups per invocation
  const int64_t column_blocks = (shape.value_dim + l.columns - 1) / l.columns;
  KernelPlan plan = base_plan(ctx, shape, fmt::format("chunk{}_bv{}_p{}", C, l.columns, P),
                              static_cast<uint32_t>(l.local()), column_blocks);
  // y: a window of kChunkedWindowRows rows whose chain starts the workgroup walks.
  const ir::Dim& rows = ctx.input(0).shape[0];
  plan.grid[1] = rows.is_const() ? GridDim{(rows.value + kChunkedWindowRows - 1) / kChunkedWindowRows, {}, 1}
                                 : GridDim{1, {rows.sym}, kChunkedWindowRows};
  if (P > 1 && ctx.caps.subgroup_size_control) plan.required_subgroup_size = ctx.caps.subgroup_size;
  std::map<std::string, std::string> vars = common_vars(ctx, shape);
  vars["L"] = glsl_uint(l.local());
  vars["C"] = glsl_uint(C);
  vars["BV"] = glsl_uint(l.columns);
  vars["P"] = glsl_uint(P);
  vars["DKV"] = glsl_uint(DKV);
  vars["KROW"] = glsl_uint(l.qk_row_vec4());
  vars["WINDOW"] = glsl_uint(kChunkedWindowRows);
  vars["UST"] = glsl_uint(l.u_stride());
  vars["XN"] = glsl_uint(l.scratch_floats());
  vars["BLOCKS"] = glsl_uint(column_blocks);
  vars["MG"] = glsl_uint(C / 4);
  vars["TID"] = P > 1 ? "gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID" : "gl_LocalInvocationID.x";
  const bool padded = l.padded_key_dim != shape.key_dim;
  const char* lane[4] = {"x", "y", "z", "w"};

  // Straight-line pieces over this invocation's state rows: vec4 sN holds rows 4 (N P + p) .. + 3.
  // `sum_rows(a, row)`: the dot product of row `row` of the vec4 array `a` with them.
  auto sum_rows = [&](const std::string& array, const std::string& row) {
    std::string s;
    for (int64_t g = 0; g < groups; ++g)
      s += fmt::format("{}dot({}[{} * {} + {}u + p], s{})", g ? " + " : "", array, row,
                       glsl_uint(l.qk_row_vec4()), g * P, g);
    return s;
  };
  // `body_of_row` ({i}: the row, {v}: its register) for each state row this invocation holds, below Dk.
  auto state_rows = [&](const std::string& indent, const std::string& body_of_row) {
    std::string s;
    for (int64_t g = 0; g < groups; ++g)
      for (int e = 0; e < 4; ++e) {
        const std::string i = fmt::format("({}u + p) * 4u + {}u", g * P, e);
        std::string stmt = fmt::format(fmt::runtime(body_of_row), fmt::arg("i", i), fmt::arg("v", fmt::format("s{}.{}", g, lane[e])));
        s += indent + (padded ? fmt::format("if ({} < $DK) {}", i, stmt) : stmt) + "\n";
      }
    return s;
  };
  // Sums `part<k>` over the P invocations of a column (every one gets the total).
  auto reduce_parts = [&](int64_t count, const std::string& indent) {
    std::string s;
    for (int64_t mask = 1; mask < P; mask *= 2)
      for (int64_t k = 0; k < count; ++k)
        s += fmt::format("{}part{} += subgroupShuffleXor(part{}, {}u);\n", indent, k, k, mask);
    return s;
  };
  // Rows per step of the row loops (independent sums in flight): 8 to cover three shuffle levels,
  // else 4 (lavapipe compiles the unrolled code slowly).
  const int64_t unroll = std::min<int64_t>(P >= 8 ? 8 : 4, C);

  std::string decl_state, load_state, store_state, decay_state, update_state;
  for (int64_t g = 0; g < groups; ++g) {
    decl_state += fmt::format("  vec4 s{} = vec4(0.0);\n", g);
    decay_state += fmt::format("    s{} *= chunk_decay;\n", g);
    update_state += fmt::format("      s{} += w * k_sh[m * $KROW + {}u + p];\n", g, g * P);
  }
  load_state = state_rows("    ", "{v} = ld_state((from_base + {i}) * $DV + j);");
  store_state = state_rows("      ", "st_new_state((to_base + {i}) * $DV + j, {v});");

  // Rows t0 .. t0 + unroll - 1 of K S (into R) and of the outputs.
  std::string ks_rows, out_rows;
  for (int64_t k = 0; k < unroll; ++k)
    ks_rows += fmt::format("      float part{} = {};\n", k, sum_rows("k_sh", fmt::format("(t0 + {}u)", k)));
  ks_rows += reduce_parts(unroll, "      ");
  for (int64_t k = 0; k < unroll; ++k)
    ks_rows += fmt::format("      if (p == 0u) {{ uint t = t0 + {}u, e = t * $UST + jl; u_sh[e] = beta_sh[t] * (u_sh[e] - kg_sh[t] * part{}); }}\n", k, k);
  for (int64_t k = 0; k < unroll; ++k) {
    // The sum over m = p + s P of QK[t][m] U[m][j] (zero past t): unrolled for a few terms.
    std::string intra;
    if (C / P <= 4) {
      for (int64_t s = 0; s < C / P; ++s)
        intra += fmt::format(" + qk_sh[row{0} * $C + p + {1}u] * u_sh[(p + {1}u) * $UST + jl]", k, s * P);
      intra += ";\n";
    } else {
      intra = fmt::format(";\n      for (uint m = p; m <= row{0}; m += $P) part{0} += qk_sh[row{0} * $C + m] * u_sh[m * $UST + jl];\n", k);
    }
    out_rows += fmt::format("      uint row{0} = t0 + {0}u;\n      float part{0} = qd_sh[row{0}] * ({1}){2}", k,
                            sum_rows("q_sh", fmt::format("row{}", k)), intra);
  }
  out_rows += reduce_parts(unroll, "      ");
  for (int64_t k = 0; k < unroll; ++k)
    out_rows += fmt::format("      if (p == 0u && column && row{0} < n) st_o(((r + row{0}) * $HV + head) * $DV + j, part{0});\n", k);

  // A and QK: item (t, mg) computes m = mg + s C/4 for s < 4.
  std::string aqk_acc, aqk_loop, aqk_store;
  for (int s = 0; s < 4; ++s) {
    aqk_acc += fmt::format("      float a{0} = 0.0, b{0} = 0.0;\n", s);
    // Rows m >= s C/4 lie past t for every item when s C/4 > t (uniform over a subgroup's 4 rows t).
    aqk_loop += fmt::format(
        "        if ({1}u <= t) {{ vec4 k{0} = k_sh[(mg + {1}u) * $KROW + c]; a{0} += dot(kt, k{0}); b{0} += dot(qt, k{0}); }}\n",
        s, s * (C / 4));
    aqk_store += fmt::format(
        "      {{ uint m = mg + {1}u; float d = exp(gt - gc_sh[m]) * kf_sh[m];\n"
        "        a_sh[t * $C + m] = m < t ? bt * d * a{0} : 0.0;\n"
        "        qk_sh[t * $C + m] = m <= t ? qt_factor * d * b{0} : 0.0; }}\n", s, s * (C / 4));
  }

  // T = (I + A)^-1: the diagonal blocks of B0 rows by forward substitution (one invocation per block
  // column, into x_sh, then copied over A's blocks), then pairs of inverted blocks of h rows merged:
  // T21 = -T22 A21 T11, through X = A21 T11 in x_sh.
  const int64_t B0 = l.inverse_block();
  std::string invert = "    for (uint e = tid; e < $C; e += $L) {\n      uint b = e - e % " + glsl_uint(B0) + ", c = e % " + glsl_uint(B0) + ";\n";
  for (int64_t t = 0; t < B0; ++t) {
    std::string x = fmt::format("c == {}u ? 1.0 : 0.0", t);
    std::string sub;
    for (int64_t m = 0; m < t; ++m) sub += fmt::format(" - a_sh[(b + {}u) * $C + b + {}u] * x{}", t, m, m);
    invert += fmt::format("      float x{} = ({}){};\n", t, x, sub);
  }
  for (int64_t t = 0; t < B0; ++t)
    invert += fmt::format("      x_sh[(b + {}u) * {} + c] = x{};\n", t, glsl_uint(B0), t);
  invert += "    }\n    barrier();\n";
  invert += fmt::format("    for (uint e = tid; e < $C * {0}; e += $L) {{ uint row = e / {0}; a_sh[row * $C + row - row % {0} + e % {0}] = x_sh[e]; }}\n    barrier();\n", glsl_uint(B0));
  for (int64_t h = B0; h < C; h *= 2) {
    std::map<std::string, std::string> hv = vars;
    hv["H"] = glsl_uint(h);
    hv["HH"] = glsl_uint(h * h);
    hv["H2"] = glsl_uint(2 * h);
    hv["N"] = glsl_uint(C * h / 2);
    invert += render(R"(    for (uint e = tid; e < $N; e += $L) {
      uint b = e / $HH * $H2, i = e / $H % $H, c = e % $H;
      float x = 0.0;
      for (uint m = c; m < $H; ++m) x += a_sh[(b + $H + i) * $C + b + m] * a_sh[(b + m) * $C + b + c];
      x_sh[e] = x;
    }
    barrier();
    for (uint e = tid; e < $N; e += $L) {
      uint b = e / $HH * $H2, i = e / $H % $H, c = e % $H, xb = e - e % $HH;
      float y = 0.0;
      for (uint m = 0u; m <= i; ++m) y += a_sh[(b + $H + i) * $C + b + $H + m] * x_sh[xb + m * $H + c];
      a_sh[(b + $H + i) * $C + b + c] = -y;
    }
    barrier();
)", hv);
  }

  // U = T R: this invocation's C / P entries (rows ut + s P, column uj), kept in registers until every
  // invocation has read R (T is lower triangular: the sums may run over all rows m < n).
  std::string solve = "    uint ut = tid / $BV, uj = tid % $BV;\n", solve_step, solve_store;
  for (int64_t s = 0; s < C / P; ++s) {
    solve += fmt::format("    float u{} = 0.0;\n", s);
    solve_step += fmt::format("      u{0} += a_sh[(ut + {1}u) * $C + m] * x;\n", s, s * P);
    solve_store += fmt::format("    u_sh[(ut + {}u) * $UST + uj] = u{};\n", s * P, s);
  }
  solve += "    for (uint m = 0u; m < n; ++m) {\n      float x = u_sh[m * $UST + uj];\n" + solve_step + "    }\n";

  // The next chunk's rows, loaded into registers (`prefetch`, rows from `next` on, zeros past T and
  // past Dk) while this chunk computes, then staged in shared memory (`stage`, zeros from row n on).
  // Rows past the chunk's end are loaded and dropped.
  const int64_t qk_items = (C * DKV + l.local() - 1) / l.local(), row_items = (C + l.local() - 1) / l.local();
  const bool qk_ragged = C * DKV % l.local() != 0, rows_ragged = C % l.local() != 0;
  std::string prefetch_decl, prefetch, stage;
  for (int64_t it = 0; it < qk_items; ++it) {
    prefetch_decl += fmt::format("  vec4 pk{0} = vec4(0.0), pq{0} = vec4(0.0);\n", it);
    prefetch += fmt::format("      {{ uint e = tid + {}u, t = e / $DKV, i = e % $DKV * 4u;\n", it * l.local());
    prefetch += fmt::format("        pk{0} = vec4(0.0);\n        pq{0} = vec4(0.0);\n", it);
    prefetch += fmt::format("        if ({}next + t < $T) {{\n          uint base = ((next + t) * $HK + key_head) * $DK + i;\n",
                            qk_ragged ? "e < $C * $DKV && " : "");
    for (int e = 0; e < 4; ++e) {
      const std::string stmt = fmt::format("{{ pk{0}.{1} = ld_k(base + {2}u); pq{0}.{1} = ld_q(base + {2}u); }}", it, lane[e], e);
      prefetch += padded ? fmt::format("          if (i + {}u < $DK) {}\n", e, stmt) : "          " + stmt + "\n";
    }
    prefetch += "        }\n      }\n";
    stage += fmt::format("      {{ uint e = tid + {}u, t = e / $DKV, c = e % $DKV;\n", it * l.local());
    stage += fmt::format("        {0}{{ k_sh[t * $KROW + c] = t < n ? pk{1} : vec4(0.0); q_sh[t * $KROW + c] = t < n ? pq{1} : vec4(0.0); }}\n      }}\n",
                         qk_ragged ? "if (e < $C * $DKV) " : "", it);
  }
  for (int64_t s = 0; s < C / P; ++s) {  // v: C BV entries, C / P per invocation
    prefetch_decl += fmt::format("  float pv{} = 0.0;\n", s);
    prefetch += fmt::format(
        "      {{ uint e = tid + {1}u, t = e / $BV, jj = e % $BV;\n"
        "        pv{0} = next + t < $T && col0 + jj < $DV ? ld_v(((next + t) * $HV + head) * $DV + col0 + jj) : 0.0; }}\n",
        s, s * l.local());
    stage += fmt::format("      {{ uint e = tid + {1}u, t = e / $BV; u_sh[t * $UST + e % $BV] = t < n ? pv{0} : 0.0; }}\n", s,
                         s * l.local());
  }
  for (int64_t s = 0; s < row_items; ++s) {  // g and beta
    prefetch_decl += fmt::format("  float pg{0} = 0.0, pb{0} = 0.0;\n", s);
    prefetch += fmt::format(
        "      {{ uint t = tid + {1}u; bool live = {2}next + t < $T;\n"
        "        pg{0} = live ? ld_g((next + t) * $HV + head) : 0.0;\n"
        "        pb{0} = live ? ld_beta((next + t) * $HV + head) : 0.0; }}\n",
        s, s * l.local(), rows_ragged ? "t < $C && " : "");
    stage += fmt::format("      {{ uint t = tid + {1}u; {2}{{ g_sh[t] = t < n ? pg{0} : 0.0; beta_sh[t] = t < n ? pb{0} : 0.0; }} }}\n", s,
                         s * l.local(), rows_ragged ? "if (t < $C) " : "");
  }

  // The pieces sit inside the loop over the window's chains: two more spaces.
  auto nested = [](const std::string& code) {
    std::string out;
    size_t begin = 0;
    while (begin < code.size()) {
      size_t end = code.find('\n', begin);
      end = end == std::string::npos ? code.size() : end + 1;
      if (end - begin > 1) out += "  ";
      out.append(code, begin, end - begin);
      begin = end;
    }
    return out;
  };
  for (std::string* piece : {&decl_state, &load_state, &store_state, &decay_state, &update_state, &ks_rows, &out_rows,
                             &aqk_acc, &aqk_loop, &aqk_store, &invert, &solve, &solve_store, &prefetch_decl, &prefetch,
                             &stage})
    *piece = nested(*piece);
  vars["DECL_STATE"] = decl_state;
  vars["LOAD_STATE"] = load_state;
  vars["STORE_STATE"] = store_state;
  vars["DECAY_STATE"] = decay_state;
  vars["UPDATE_STATE"] = update_state;
  vars["KS_ROWS"] = ks_rows;
  vars["OUT_ROWS"] = out_rows;
  vars["UNROLL"] = glsl_uint(unroll);
  vars["AQK_ACC"] = aqk_acc;
  vars["AQK_LOOP"] = aqk_loop;
  vars["AQK_STORE"] = aqk_store;
  vars["PREFETCH_DECL"] = prefetch_decl;
  vars["PREFETCH"] = prefetch;
  vars["STAGE"] = stage;
  vars["SHUFFLE_EXT"] = P > 1 ? "#extension GL_KHR_shader_subgroup_shuffle : require\n" : "";
  // The generated pieces hold $NAME placeholders of their own: render them first.
  for (const char* key : {"LOAD_STATE", "STORE_STATE", "UPDATE_STATE", "KS_ROWS", "OUT_ROWS", "AQK_LOOP", "AQK_STORE",
                          "PREFETCH", "STAGE"})
    vars[key] = render(vars[key], vars);
  vars["INVERT"] = render(invert, vars);
  vars["SOLVE"] = render(solve, vars);
  vars["SOLVE_STORE"] = render(solve_store, vars);
  plan.body = render(R"($SHUFFLE_EXT
shared vec4 k_sh[$C * $KROW];  // the chunk's k rows (l2-normalized later through kf_sh)
shared vec4 q_sh[$C * $KROW];  // its q rows (likewise through qf_sh)
shared float a_sh[$C * $C];    // A[t][m] (m < t, else 0), then T = (I + A)^-1
shared float qk_sh[$C * $C];   // QK[t][m] (m <= t, else 0)
shared float x_sh[$XN];        // inversion scratch
shared float u_sh[$C * $UST];  // v[t][column], then R, then U
shared float g_sh[$C], beta_sh[$C], gc_sh[$C], kf_sh[$C], qf_sh[$C], qd_sh[$C], kg_sh[$C], kd_sh[$C];
shared uint n_sh;              // rows in the chunk
shared uint starts_sh;         // bit t: a chain starts at row t of the window

// n_sh = min(n_sh, the first t in [1, C) before which a chunk from row r must end: the chain ends
// there, or row r + t - 1 stores its state).
void chunk_ends(uint r, uint tid) {
  for (uint t = tid + 1u; t < $C; t += $L)
    if (r + t >= $T || ld_src_slot(r + t) != -1 || ld_dst_slot(r + t - 1u) >= 0) atomicMin(n_sh, t);
}

void main() {
  uint head = gl_WorkGroupID.x / $BLOCKS, key_head = head / $GROUP;
  uint col0 = (gl_WorkGroupID.x % $BLOCKS) * $BV;
  uint tid = $TID;
  uint jl = tid / $P, p = tid % $P, j = col0 + jl;  // this invocation's column, and its part of the rows
  bool column = j < $DV;
  uint window = gl_WorkGroupID.y * $WINDOW;
  if (window >= $T) return;
  if (tid == 0u) starts_sh = 0u;
  barrier();
  for (uint t = tid; t < $WINDOW; t += $L)
    if (window + t < $T && ld_src_slot(window + t) != -1) atomicOr(starts_sh, 1u << t);
  barrier();
  uint starts = starts_sh;
  while (starts != 0u) {  // the chains starting in the window, one after another
    uint first = window + uint(findLSB(starts));
    starts &= starts - 1u;
    int from = ld_src_slot(first);
$DECL_STATE$PREFETCH_DECL    if (from >= 0 && uint(from) < $S && column) {
      uint from_base = (uint(from) * $HV + head) * $DK;
$LOAD_STATE    }
    if (tid == 0u) n_sh = $C;
    barrier();
    chunk_ends(first, tid);
    uint r = first, next = first;
$PREFETCH    barrier();
    while (true) {
      uint n = n_sh;
      // Stage the chunk; rows past n are zeros (beta = g = 0), so they change nothing. Then fetch
      // the next chunk's rows and the slots this chunk ends with.
$STAGE      next = r + n;
$PREFETCH      int to = ld_dst_slot(r + n - 1u);
      bool more = next < $T && ld_src_slot(next) == -1;  // the chain goes on
      barrier();
      // Per row: the l2-norm and scale factors, G (cumulative g) and the decays built from it.
      for (uint t = tid; t < $C; t += $L) {
        float qf = $SCALE, kf = 1.0;
        if ($L2NORM) {
          float qq = 0.0, kk = 0.0;
          for (uint c = 0u; c < $DKV; ++c) {
            vec4 a = q_sh[t * $KROW + c], b = k_sh[t * $KROW + c];
            qq += dot(a, a);
            kk += dot(b, b);
          }
          qf *= inversesqrt(qq + $EPS);
          kf = inversesqrt(kk + $EPS);
        }
        float gt = 0.0, gl = 0.0;
        for (uint m = 0u; m < $C; ++m) {
          gl += g_sh[m];
          if (m == t) gt = gl;
        }
        gc_sh[t] = gt;
        kf_sh[t] = kf;
        qf_sh[t] = qf;
        qd_sh[t] = exp(gt) * qf;       // o_t: exp(G_t) q_t . S
        kg_sh[t] = exp(gt) * kf;       // R_t: exp(G_t) k_t . S
        kd_sh[t] = exp(gl - gt) * kf;  // S': exp(G_last - G_t) k_t u_t
      }
      barrier();
      // A and QK (4 entries of each per item), and R = beta (v - exp(G) K S) into u_sh.
      for (uint e = tid; e < $C * $MG; e += $L) {
        uint t = e / $MG, mg = e % $MG;
$AQK_ACC        for (uint c = 0u; c < $DKV; ++c) {
          vec4 kt = k_sh[t * $KROW + c], qt = q_sh[t * $KROW + c];
$AQK_LOOP        }
        float gt = gc_sh[t], bt = beta_sh[t] * kf_sh[t], qt_factor = qf_sh[t];
$AQK_STORE      }
      for (uint t0 = 0u; t0 < n; t0 += $UNROLL) {
$KS_ROWS      }
      barrier();
$INVERT$SOLVE      barrier();
$SOLVE_STORE      if (tid == 0u) n_sh = $C;
      barrier();
      // Outputs, from the state before the chunk; then the state after it.
      for (uint t0 = 0u; t0 < n; t0 += $UNROLL) {
$OUT_ROWS      }
      float chunk_decay = exp(gc_sh[$C - 1u]);
$DECAY_STATE      for (uint m = 0u; m < n; ++m) {
        float w = kd_sh[m] * u_sh[m * $UST + jl];
$UPDATE_STATE      }
      if (to >= 0 && uint(to) < $S && column) {
        uint to_base = (uint(to) * $HV + head) * $DK;
$STORE_STATE      }
      r = next;
      if (more) chunk_ends(r, tid);
      barrier();
      if (!more) break;
    }
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
