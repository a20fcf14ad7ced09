// attention and paged_attention: one workgroup per (query row t, query head h), two kernels.
//
// Subgroup kernel (subgroup arithmetic and a fixable subgroup size): each subgroup of the workgroup
// walks its own share of the row's visible keys, KB keys at a time, with its own online softmax
// (running max, sum and output in registers: lane i owns output dims i, i + SG, ...). A key's score
// is one subgroupAdd over the lanes' slices of q.k — no barrier inside the key loop, and every load
// of a key or value row is one coalesced read by the whole subgroup. At the end the subgroups'
// (max, sum, output) triples are merged through shared memory. Decode graphs (few rows, known from
// compile_graph's bounds) get 1024-invocation workgroups so a single query row still has 32
// subgroups' worth of loads in flight; prefill uses 256.
//
// Generic kernel (any device): the query row sits in shared memory; the visible keys are visited in
// chunks of one key per invocation: scores, then an online softmax (running max and sum, rescaling
// the partial output), and each invocation accumulates its own output dims over the chunk's values.
//
// The two ops differ only in where key s lives: row s of k and v, or row s % B of cache block
// block_table[sequence, s / B].
#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {
namespace {

struct AttentionShape {
  int64_t q_heads, kv_heads, head_dim, value_dim;
};

// Where a query row's keys are. `helpers` (GLSL before main) defines
//   bool key_rows(int s, uint kv_head, out uint k_base, out uint v_base)
// giving the first element of key s's row in ld_k and of its value row in ld_v, or false when the
// key is not in memory (the row skips it). `range` (GLSL in main, after `uint t`, `int p` and
// `int first` are set) declares `int last`, the last key position to visit.
struct KeyLocation {
  std::string helpers;
  std::string range;
};

// Keys one subgroup scores per step of the subgroup kernel (independent loads in flight).
constexpr int64_t kKeysPerStep = 4;

bool subgroup_kernel_fits(const EmitContext& ctx, const AttentionShape& shape) {
  const uint32_t sg = ctx.caps.subgroup_size;
  return ctx.caps.subgroup_arithmetic && ctx.caps.subgroup_size_control && sg >= 4 && (sg & (sg - 1)) == 0 &&
         ctx.caps.max_workgroup_invocations >= 256 && shape.value_dim <= 1024;
}

std::string subgroup_kernel_body(const EmitContext& ctx, const AttentionShape& shape, uint32_t local,
                                 const std::map<std::string, std::string>& common) {
  const uint32_t sg = ctx.caps.subgroup_size;
  std::map<std::string, std::string> vars = common;
  vars["SG"] = glsl_uint(sg);
  vars["NSG"] = glsl_uint(local / sg);
  vars["KB"] = fmt::format("{}", kKeysPerStep);
  vars["DVL"] = glsl_uint((shape.value_dim + sg - 1) / sg);  // output dims per lane
  return render(R"(
shared float q_row[$D];
shared float part_max[$NSG], part_sum[$NSG];
shared float part_out[$NSG * $DV];
$KEY_HELPERS
void main() {
$LAYOUT
  uint item = item_begin;  // = t * HQ + h
  uint t = item / $HQ, kv_head = (item % $HQ) / $GROUP;
  uint tid = gl_LocalInvocationID.x, sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  for (uint d = tid; d < $D; d += $L) q_row[d] = ld_q(item * $D + d);
  barrier();

  int p = ld_pos(t);
  int first = $WINDOW > 0 ? max(0, p - $WINDOW + 1) : 0;
$KEY_RANGE
  float out_acc[$DVL];
  for (uint a = 0u; a < $DVL; ++a) out_acc[a] = 0.0;
  float run_max = $NEG_INF, run_sum = 0.0;
  // Subgroup sg takes keys [s0, s0 + KB) for s0 = first + KB * (sg + NSG * i): everything below is
  // uniform in the subgroup, so the subgroupAdd calls are too.
  for (int s0 = first + $KB * int(sg); s0 <= last; s0 += $KB * int($NSG)) {
    float score[$KB];
    uint v_base[$KB];
    for (int j = 0; j < $KB; ++j) {
      uint k_base;
      bool present = s0 + j <= last && key_rows(s0 + j, kv_head, k_base, v_base[j]);
      float dot = 0.0;
      if (present)
        for (uint d = lane; d < $D; d += $SG) dot += q_row[d] * ld_k(k_base + d);
      dot = subgroupAdd(dot);
      float score_j = $SCALE * dot;
      score[j] = present ? $CAPPED_J : $NEG_INF;
    }
    float step_max = $NEG_INF;
    for (int j = 0; j < $KB; ++j) step_max = max(step_max, score[j]);
    if (step_max == $NEG_INF) continue;  // no key present in this step
    float new_max = max(run_max, step_max);
    float correction = run_max == $NEG_INF ? 0.0 : exp(run_max - new_max);
    run_sum *= correction;
    for (uint a = 0u; a < $DVL; ++a) out_acc[a] *= correction;
    for (int j = 0; j < $KB; ++j) {
      if (score[j] == $NEG_INF) continue;
      float w = exp(score[j] - new_max);
      run_sum += w;
      for (uint a = 0u; a < $DVL; ++a) {
        uint d = lane + a * $SG;
        if (d < $DV) out_acc[a] += w * ld_v(v_base[j] + d);
      }
    }
    run_max = new_max;
  }

  // Merge the subgroups: out = sum_i e^(m_i - M) acc_i / sum_i e^(m_i - M) l_i.
  if (lane == 0u) {
    part_max[sg] = run_max;
    part_sum[sg] = run_sum;
  }
  for (uint a = 0u; a < $DVL; ++a) {
    uint d = lane + a * $SG;
    if (d < $DV) part_out[sg * $DV + d] = out_acc[a];
  }
  barrier();
  float m = $NEG_INF;
  for (uint i = 0u; i < $NSG; ++i) m = max(m, part_max[i]);
  float total = 0.0;
  for (uint i = 0u; i < $NSG; ++i)
    if (part_max[i] != $NEG_INF) total += part_sum[i] * exp(part_max[i] - m);
  for (uint d = tid; d < $DV; d += $L) {
    float o = 0.0;
    for (uint i = 0u; i < $NSG; ++i)
      if (part_max[i] != $NEG_INF) o += part_out[i * $DV + d] * exp(part_max[i] - m);
    st_result(item * $DV + d, total > 0.0 ? o / total : 0.0);
  }
}
)", vars);
}

// Kernel arguments: q, k, v first (ld_q, ld_k, ld_v), pos (ld_pos) among the rest, result last.
KernelPlan attention_plan(const EmitContext& ctx, const AttentionShape& shape, std::vector<std::string> arg_names,
                          const std::string& name_extra, const KeyLocation& keys) {
  const int64_t window = ctx.op.attr_int("window", 0);
  const double softcap = ctx.op.attr_float("softcap", 0.0);
  const bool subgroup_kernel = subgroup_kernel_fits(ctx, shape);
  // Decode (a handful of rows): the widest workgroup, so one row keeps many loads in flight.
  const std::optional<int64_t> max_rows = ctx.max_value(ctx.input(0).shape[0]);
  const uint32_t wide = std::min<uint32_t>(1024, ctx.caps.max_workgroup_invocations);
  const uint32_t local = !subgroup_kernel                ? local_size_for(ctx, ir::Dim::of(64), 64)
                         : max_rows && *max_rows <= 16 ? wide
                                                         : 256;
  const int64_t dims_per_invocation = (shape.value_dim + local - 1) / local;
  ItemLayout layout = item_layout(ctx, ctx.input(0).shape, 0, 2, 1);

  std::string capped = "score", capped_j = "score_j";
  if (softcap > 0) {
    capped = fmt::format("{0} * tanh_stable(score / {0})", glsl_float(softcap));
    capped_j = fmt::format("{0} * tanh_stable(score_j / {0})", glsl_float(softcap));
  }

  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("hq{}_hkv{}_d{}_dv{}{}{}{}", shape.q_heads, shape.kv_heads, shape.head_dim,
                                           shape.value_dim, name_extra, window ? fmt::format("_w{}", window) : "",
                                           softcap > 0 ? "_softcap" : ""));
  plan.arg_names = std::move(arg_names);
  plan.local_size = local;
  plan.grid = layout.grid;
  const std::map<std::string, std::string> vars{{"LAYOUT", layout.glsl},
                                                {"KEY_HELPERS", keys.helpers},
                                                {"KEY_RANGE", keys.range},
                                                {"HQ", glsl_uint(shape.q_heads)},
                                                {"GROUP", glsl_uint(shape.q_heads / shape.kv_heads)},
                                                {"D", glsl_uint(shape.head_dim)},
                                                {"DV", glsl_uint(shape.value_dim)},
                                                {"WINDOW", fmt::format("{}", window)},
                                                {"SCALE", glsl_float(ctx.op.attr_float("scale"))},
                                                {"CAPPED", capped},
                                                {"CAPPED_J", capped_j},
                                                {"ACC", glsl_uint(dims_per_invocation)},
                                                {"L", glsl_uint(local)},
                                                {"ABSENT", "0xffffffffu"},
                                                {"NEG_INF", "uintBitsToFloat(0xff800000u)"}};
  if (subgroup_kernel) {
    plan.name += fmt::format("_sg{}x{}", ctx.caps.subgroup_size, local / ctx.caps.subgroup_size);
    plan.required_subgroup_size = ctx.caps.subgroup_size;
    plan.body = subgroup_kernel_body(ctx, shape, local, vars);
    return plan;
  }
  plan.body = workgroup_reductions(ctx.caps, local) + render(R"(
shared float q_row[$D];
shared float chunk_weights[$L];
shared uint chunk_v_base[$L];  // $ABSENT: the key is skipped
$KEY_HELPERS
void main() {
$LAYOUT
  uint item = item_begin;  // = t * HQ + h
  uint t = item / $HQ, kv_head = (item % $HQ) / $GROUP;
  uint tid = gl_LocalInvocationID.x;
  for (uint d = tid; d < $D; d += $L) q_row[d] = ld_q(item * $D + d);
  barrier();

  int p = ld_pos(t);
  int first = $WINDOW > 0 ? max(0, p - $WINDOW + 1) : 0;
$KEY_RANGE
  float acc[$ACC];
  for (uint a = 0u; a < $ACC; ++a) acc[a] = 0.0;
  // run_sum stays 0 until a key is present: nothing to rescale before that.
  float run_max = $NEG_INF, run_sum = 0.0;
  for (int chunk = first; chunk <= last; chunk += int($L)) {
    int s = chunk + int(tid);
    uint k_base, v_base;
    bool present = s <= last && key_rows(s, kv_head, k_base, v_base);
    float score = $NEG_INF;
    if (present) {
      float dot = 0.0;
      for (uint d = 0u; d < $D; ++d) dot += q_row[d] * ld_k(k_base + d);
      score = $SCALE * dot;
      score = $CAPPED;
    }
    float new_max = max(run_max, wg_max(score));
    float weight = present ? exp(score - new_max) : 0.0;
    chunk_weights[tid] = weight;  // visible to all after wg_sum's barrier
    chunk_v_base[tid] = present ? v_base : $ABSENT;
    float correction = run_sum > 0.0 ? exp(run_max - new_max) : 0.0;
    run_sum = run_sum * correction + wg_sum(weight);
    run_max = new_max;
    uint count = uint(min(int($L), last - chunk + 1));
    for (uint a = 0u; a < $ACC; ++a) {
      uint d = tid + a * $L;
      float sum = acc[a] * correction;
      if (d < $DV)
        for (uint j = 0u; j < count; ++j)
          if (chunk_v_base[j] != $ABSENT) sum += chunk_weights[j] * ld_v(chunk_v_base[j] + d);
      acc[a] = sum;
    }
    barrier();  // chunk_weights and chunk_v_base are rewritten by the next chunk
  }
  for (uint a = 0u; a < $ACC; ++a) {
    uint d = tid + a * $L;
    if (d < $DV) st_result(item * $DV + d, run_sum > 0.0 ? acc[a] / run_sum : 0.0);
  }
}
)", vars);
  return plan;
}

}  // namespace

KernelPlan emit_attention(const EmitContext& ctx) {
  const ir::Shape& q = ctx.input(0).shape;
  const ir::Shape& k = ctx.input(1).shape;
  const ir::Shape& v = ctx.input(2).shape;
  const AttentionShape shape{q[1].value, k[1].value,  // head counts are constants (verifier)
                             const_dim(ctx, q[2], "head dim of q and k"), const_dim(ctx, v[2], "head dim of v")};
  const std::map<std::string, std::string> vars{{"HKV", glsl_uint(shape.kv_heads)},
                                                {"D", glsl_uint(shape.head_dim)},
                                                {"DV", glsl_uint(shape.value_dim)},
                                                {"S", ctx.dim(k[0])}};
  KeyLocation keys;
  keys.helpers = render(R"(
bool key_rows(int s, uint kv_head, out uint k_base, out uint v_base) {
  k_base = (uint(s) * $HKV + kv_head) * $D;
  v_base = (uint(s) * $HKV + kv_head) * $DV;
  return true;
}
)", vars);
  keys.range = render("  int last = min(p, int($S) - 1);\n", vars);
  return attention_plan(ctx, shape, {"q", "k", "v", "pos", "result"}, "", keys);
}

KernelPlan emit_paged_attention(const EmitContext& ctx) {
  const ir::Shape& q = ctx.input(0).shape;
  const ir::Shape& k = ctx.input(1).shape;  // [N, B, Hkv, D]
  const ir::Shape& v = ctx.input(2).shape;  // [N, B, Hkv, Dv]
  const ir::Shape& table = ctx.input(3).shape;  // [S, M]
  const AttentionShape shape{q[1].value, k[2].value,  // head counts are constants (verifier)
                             const_dim(ctx, q[2], "head dim of q and k_cache"),
                             const_dim(ctx, v[3], "head dim of v_cache")};
  const std::map<std::string, std::string> vars{{"HKV", glsl_uint(shape.kv_heads)},
                                                {"D", glsl_uint(shape.head_dim)},
                                                {"DV", glsl_uint(shape.value_dim)},
                                                {"N", ctx.dim(k[0])},
                                                {"B", ctx.dim(k[1])},
                                                {"SEQS", ctx.dim(table[0])},
                                                {"M", ctx.dim(table[1])}};
  // Unknown sequences, positions past the block table and block ids outside the cache have no key.
  KeyLocation keys;
  keys.helpers = render(R"(
uint table_row;  // this row's sequence's first entry in block_table
bool key_rows(int s, uint kv_head, out uint k_base, out uint v_base) {
  int block = ld_block_table(table_row + uint(s) / $B);
  if (block < 0 || uint(block) >= $N) return false;
  uint cache_row = uint(block) * $B + uint(s) % $B;
  k_base = (cache_row * $HKV + kv_head) * $D;
  v_base = (cache_row * $HKV + kv_head) * $DV;
  return true;
}
)", vars);
  keys.range = render(R"(  int seq = ld_row_seq(t);
  bool known_seq = seq >= 0 && uint(seq) < $SEQS;
  table_row = known_seq ? uint(seq) * $M : 0u;
  int last = known_seq ? min(p, int($M * $B) - 1) : -1;
)", vars);
  return attention_plan(ctx, shape, {"q", "k", "v", "block_table", "row_seq", "pos", "result"},
                        "_b" + ir::to_string(k[1]), keys);
}

}  // namespace vkllm::codegen::ops
