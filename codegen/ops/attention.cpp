// attention, paged_attention and split attention (paged_attention_partial + attention_combine).
//
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
//
// paged_attention_partial (flash decoding, made by passes/split_decode_attention.cpp): one workgroup
// per (row t, block of HG query heads sharing one kv head, split j), so a decode row spreads over
// Hkv x splits workgroups and each key and value row is read once for all the query heads of its kv
// head (GQA). The row's n visible keys go to runs of c = G*ceil(n / (G*P)) keys (ir/README.md "split
// attention"): the first busy = ceil(n / c) splits hold keys, the others write their zero entries
// and return at once. So the split count follows the row's context at run time while the grid stays
// fixed: at 640 keys (P 32, G 32) 20 splits of 32 keys, one step each; at 4096, 32 splits of 128.
// Fewer, longer splits would add a dependent step (a DRAM round trip) per subgroup step of keys to
// save the merge a few independent loads, so runs stay at the granule while the splits last.
// Inside a split (the kernel streams K and V; flash-decoding style): 4 subgroups take SG keys at a
// time, one key per lane, so a key's scores need no cross-lane reduction. A step: each lane looks
// its key's block up (issued during the step before), publishes the key's value-row index in shared
// memory, issues the loads of the first VB keys' value slices (lanes own value dims: each value row
// is one coalesced read by the subgroup) and of its whole key row (16-byte loads), and dots the key
// row with the HG query rows (staged once in shared memory as vec4s, roped, read by broadcast).
// Then per head one subgroupMax gives the step's max; each lane keeps its own running sum (summed
// over the subgroup once, at the end) and puts its key's probability in shared memory; finally each
// lane accumulates out[h][its dims] += p_j * v_j over the step's SG keys. The step is generated
// unrolled (C++ loops over keys, heads, dims and row elements), so every register array index is a
// constant and nothing spills to local memory; the only loops left are over steps and subgroups.
// The subgroups' (max, sum, output) merge through shared memory into the split's entry. The
// position, sequence and query loads come first, independent of each other. With rope attributes
// (passes/fuse_attention_rope.cpp) the raw query values and their rope pairs are loaded with them,
// roped once the position is known. Without subgroup arithmetic the generic kernel serves one
// (t, h, split).
//
// paged_attention_split (its combine fused in; ir/README.md "split attention that combines itself"):
// with one busy split the merge of its subgroups is the output (no atomic, nothing re-read); with
// none split 0 writes the zero output. Otherwise each busy workgroup stores its entry through a
// coherent view, makes it visible (memoryBarrierBuffer) and counts itself on the (row, head block)
// counter; the one that brings it to busy merges the busy entries (empty splits are never read):
// (a) a subgroup per head, a lane per split, reads the (m, l) pairs at once, subgroupMax and
// subgroupAdd give M and L, and w_j = e^(m_j - M) / L goes to shared memory; (b) each invocation sums
// w_j o_j for its outputs, BATCH splits' values loaded at a time (the first batch during (a)).
// The former merge walked all P splits twice per output through dependent loads, and its key loop
// waited for each key's table lookup and rows before the next key's: ~30 dependent round trips.
//
// Budget per layer, H200, Llama-3-8B decode (Hq 32, Hkv 8, D 128, f16 cache, 1 row, 32 splits:
// 256 workgroups of 4 subgroups of 32; ~0.6 us per DRAM round trip).
// Per subgroup step (32 keys of one kv head, 16 KiB of K and V), per lane: 16 16-byte key loads
// and 32 8-byte value loads; 512 FMAs (128 vec4 dots) with 128 broadcast shared loads and ~128 f16
// conversions for the scores; 4 subgroupMax and 8 exp; 32 x (16 FMAs + 4 conversions + 4 shared
// loads) for the outputs: ~1.7k instructions, ~53 per key. 4096 keys x 8 kv heads = 1024 steps =
// 1.7M warp instructions over 528 schedulers (~1.7 us, overlapping the loads) against 16.8 MB of
// K and V: 3.8 us at 4.4 TB/s. A subgroup has a whole step's rows in flight (16 KiB), the grid
// ~16 MiB: enough to cover the bandwidth-latency product, so the step is byte-bound.
// Dependent chain: dispatch ~1.5; pos, row_seq, q ~0.5; block lookups ~0.5; key and value rows
// (one step: at 4096 keys each split holds 128 keys, one step per subgroup) ~0.6 + the byte time;
// scores, softmax and outputs ~1; subgroup merge, entry stores, atomic ~0.6; the merge ~0.6;
// output stores ~0.2. So ~5-6 us at 513 keys (17 busy splits of 32 keys, byte time 0.5) and
// ~9-10 us at 4096 (byte time 3.8). The kernel before this one (4 subgroups of 8 keys per step, a
// subgroupAdd per (head, key): 32 five-level reductions per 8 keys) took 36 and ~100 us.
//
// attention_combine: one workgroup per (t, h), merging the row's entries at their common maximum.
#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "codegen/ops/attention_prefill.h"
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

// paged_attention_partial's split of each row's keys (ir/README.md "split attention").
struct SplitSpec {
  int64_t splits, granule;
  bool combine = false;  // paged_attention_split: the last workgroup of a (row, head) merges the entries
};

// paged_attention_split's arguments: the partial's, the counters; then out, the entries, the counters.
const std::vector<std::string> kSplitArgs = {"q",        "k",   "v",      "block_table", "row_seq",
                                             "pos",      "counters", "attn_out", "result", "counters_out"};

// paged_attention_split (ir/README.md "split attention that combines itself"): GLSL before main
// defining `st_entry` (entries are stored through a coherent view) and
// `combine_when_last(t, h0, busy)`, which each of the `busy` (> 1) workgroups of (row t, query heads
// h0 .. h0 + heads - 1) that hold keys calls, in uniform control flow, once its entries are stored.
// Its stores are made visible at device scope (coherent stores, then memoryBarrierBuffer) before
// invocation 0 counts the workgroup on the (row, h0) counter (a device-scope atomic on a coherent
// buffer); the workgroup that brings it to `busy` is the last, so every other one's entries are
// visible to it after its own memoryBarrierBuffer: it reads them through the coherent view, writes
// the merged output (attention_combine's arithmetic) and sets the counter back to 0 for the next
// dispatch. The merge: each head's weights w_j = e^(m_j - M) / sum_i l_i e^(m_i - M) over the busy
// splits with l_j > 0 (0 for the others) into shared memory — with `subgroup_size` > 0 (the
// kernel's required size), a subgroup per head and a lane per split reduced by subgroupMax /
// subgroupAdd; with 0, loaded in parallel into shared memory and reduced by one invocation per head
// — then out = sum_j w_j o_j, each invocation loading `batch` splits' values of its outputs at once.
std::string combine_helpers(const AttentionShape& shape, const SplitSpec& split, int64_t heads, int64_t rows,
                            uint32_t local, uint32_t subgroup_size) {
  const int64_t outputs = heads * shape.value_dim;
  const int64_t per_invocation = (outputs + local - 1) / local;
  // Values in flight per invocation: per_invocation x batch, at most 64 (the key loop's registers
  // are free by then): Llama-3's 4 heads x 128 dims over 128 invocations load 16 splits at once.
  const int64_t batch = std::clamp<int64_t>(64 / per_invocation, 1, 16);
  std::map<std::string, std::string> vars{{"ROWS", glsl_uint(rows)},
                                          {"HQ", glsl_uint(shape.q_heads)},
                                          {"SPLITS", glsl_uint(split.splits)},
                                          {"ENTRY", glsl_uint(shape.value_dim + 2)},
                                          {"DV", glsl_uint(shape.value_dim)},
                                          {"HEADS", glsl_uint(heads)},
                                          {"OUTPUTS", glsl_uint(outputs)},
                                          {"OPI", glsl_uint(per_invocation)},
                                          {"BATCH", glsl_uint(batch)},
                                          {"L", glsl_uint(local)},
                                          {"NEG_INF", "uintBitsToFloat(0xff800000u)"}};
  std::string weights;
  if (subgroup_size > 0) {
    const uint32_t subgroups = local / subgroup_size;
    vars["SG"] = glsl_uint(subgroup_size);
    vars["NSG"] = glsl_uint(subgroups);
    vars["HPS"] = glsl_uint((heads + subgroups - 1) / subgroups);                   // heads per subgroup
    vars["SPL"] = glsl_uint((split.splits + subgroup_size - 1) / subgroup_size);  // splits per lane
    weights = render(R"(
  for (uint hh = 0u; hh < $HPS; ++hh) {
    uint h = gl_SubgroupID + hh * $NSG;
    if (h >= $HEADS) break;  // uniform in the subgroup
    uint base = (t * $HQ + h0 + h) * $SPLITS;
    float m[$SPL], l[$SPL];
    for (uint c = 0u; c < $SPL; ++c) {
      uint j = gl_SubgroupInvocationID + c * $SG;
      l[c] = j < busy ? entries.v[(base + j) * $ENTRY + $DV + 1u] : 0.0;
      m[c] = j < busy ? entries.v[(base + j) * $ENTRY + $DV] : 0.0;
    }
    float top = $NEG_INF;
    for (uint c = 0u; c < $SPL; ++c)
      if (l[c] > 0.0) top = max(top, m[c]);
    top = subgroupMax(top);
    float w[$SPL];
    float total = 0.0;
    for (uint c = 0u; c < $SPL; ++c) {
      w[c] = l[c] > 0.0 ? exp(m[c] - top) : 0.0;
      total += l[c] * w[c];
    }
    total = subgroupAdd(total);
    for (uint c = 0u; c < $SPL; ++c) {
      uint j = gl_SubgroupInvocationID + c * $SG;
      if (j < $SPLITS) comb_w[h * $SPLITS + j] = total > 0.0 ? w[c] / total : 0.0;
    }
  }
)", vars);
  } else {
    weights = render(R"(
  for (uint e = tid; e < $HEADS * $SPLITS; e += $L) {
    uint at = ((t * $HQ + h0) * $SPLITS + e) * $ENTRY;  // entry (h, j) for e = h * SPLITS + j
    bool used = e % $SPLITS < busy;
    comb_l[e] = used ? entries.v[at + $DV + 1u] : 0.0;
    comb_w[e] = used ? entries.v[at + $DV] : 0.0;  // the split's m, until it becomes its weight
  }
  barrier();
  if (tid < $HEADS) {
    float top = $NEG_INF, total = 0.0;
    for (uint j = 0u; j < busy; ++j)
      if (comb_l[tid * $SPLITS + j] > 0.0) top = max(top, comb_w[tid * $SPLITS + j]);
    for (uint j = 0u; j < busy; ++j) {
      uint at = tid * $SPLITS + j;
      if (comb_l[at] > 0.0) total += comb_l[at] * exp(comb_w[at] - top);
    }
    comb_top[tid] = top;
    comb_total[tid] = total;
  }
  barrier();
  for (uint e = tid; e < $HEADS * $SPLITS; e += $L) {
    uint h = e / $SPLITS;
    comb_w[e] = comb_l[e] > 0.0 && comb_total[h] > 0.0 ? exp(comb_w[e] - comb_top[h]) / comb_total[h] : 0.0;
  }
)", vars);
  }
  vars["WEIGHTS"] = weights;

  vars["WEIGHT_SCRATCH"] = subgroup_size > 0 ? ""
                                             : render("shared float comb_l[$HEADS * $SPLITS], comb_top[$HEADS], "
                                                      "comb_total[$HEADS];\n",
                                                      vars);
  return render(R"(
layout(buffer_reference, std430, buffer_reference_align = 4) coherent buffer AttnCoherentF { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) coherent buffer AttnCounters { int v[]; };
void st_entry(uint i, float x) { AttnCoherentF(args.result).v[i] = x; }
shared bool attn_last_split;
shared float comb_w[$HEADS * $SPLITS];  // [head, split]: the split's weight in the output
$WEIGHT_SCRATCH
// This invocation's outputs' values in splits j0 .. j0 + BATCH - 1 (zeros past busy).
void combine_values(AttnCoherentF entries, uint t, uint h0, uint busy, uint j0, out float o[$OPI][$BATCH]) {
  for (uint i = 0u; i < $OPI; ++i)
    for (uint b = 0u; b < $BATCH; ++b) {
      uint e = gl_LocalInvocationID.x + i * $L, j = j0 + b;
      o[i][b] = e < $OUTPUTS && j < busy ? entries.v[((t * $HQ + h0 + e / $DV) * $SPLITS + j) * $ENTRY + e % $DV] : 0.0;
    }
}
void combine_when_last(uint t, uint h0, uint busy) {
  if (t >= $ROWS) return;  // no counter (the op's contract excludes it)
  memoryBarrierBuffer();
  barrier();
  if (gl_LocalInvocationID.x == 0u) {
    int arrived = atomicAdd(AttnCounters(args.counters).v[t * $HQ + h0], 1);
    attn_last_split = arrived == int(busy) - 1;
  }
  barrier();
  if (!attn_last_split) return;
  memoryBarrierBuffer();
  AttnCoherentF entries = AttnCoherentF(args.result);
  uint tid = gl_LocalInvocationID.x;
  // out = sum_j w_j o_j over the busy splits: BATCH splits' values of this invocation's outputs are
  // loaded before any is used, so the loads overlap; the first batch's during the weights.
  float o[$OPI][$BATCH];
  combine_values(entries, t, h0, busy, 0u, o);
$WEIGHTS
  barrier();
  float acc[$OPI];
  for (uint i = 0u; i < $OPI; ++i) acc[i] = 0.0;
  for (uint j0 = 0u; j0 < busy; j0 += $BATCH) {
    if (j0 > 0u) combine_values(entries, t, h0, busy, j0, o);
    for (uint i = 0u; i < $OPI; ++i)
      for (uint b = 0u; b < $BATCH; ++b) {
        uint e = min(tid + i * $L, $OUTPUTS - 1u), j = min(j0 + b, $SPLITS - 1u);
        acc[i] += comb_w[e / $DV * $SPLITS + j] * o[i][b];  // every weight is written: 0 past busy
      }
  }
  for (uint i = 0u; i < $OPI; ++i) {
    uint e = tid + i * $L;
    if (e < $OUTPUTS) st_attn_out((t * $HQ + h0) * $DV + e, acc[i]);
  }
  if (gl_LocalInvocationID.x == 0u) atomicExchange(AttnCounters(args.counters).v[t * $HQ + h0], 0);
}
)", vars);
}

// In the body of a combining kernel, entries go through st_entry.
std::string entries_through_coherent_view(std::string body) {
  for (size_t at = body.find("st_result("); at != std::string::npos; at = body.find("st_result(", at))
    body.replace(at, 10, "st_entry(");
  return body;
}

// Keys one subgroup scores per step of the subgroup kernel (independent loads in flight).
constexpr int64_t kKeysPerStep = 4;

bool subgroup_kernel_fits(const EmitContext& ctx, const AttentionShape& shape) {
  const uint32_t sg = ctx.caps.subgroup_size;
  return ctx.caps.subgroup_arithmetic && ctx.caps.subgroup_size_control && sg >= 4 && (sg & (sg - 1)) == 0 &&
         ctx.caps.max_workgroup_invocations >= 256 && shape.value_dim <= 1024;
}

std::string softcapped(const EmitContext& ctx, const std::string& var) {
  const double softcap = ctx.op.attr_float("softcap", 0.0);
  if (softcap <= 0) return var;
  return fmt::format("{0} * tanh_stable({1} / {0})", glsl_float(softcap), var);
}

// GLSL `float ld_q_at(uint base, uint d, uint t)`: element d of the query row starting at `base`
// (of row t) — roped at pos[t] when the op carries rope attributes (paged_attention_partial after
// passes/fuse_attention_rope.cpp), with the rope kernel's arithmetic.
std::string query_loader(const EmitContext& ctx, int64_t head_dim) {
  if (!ctx.op.has("theta")) return "float ld_q_at(uint base, uint d, uint t) { return ld_q(base + d); }\n";
  return rope_dim_glsl(ctx.op, head_dim, ctx.input(0).dtype) + R"(float ld_q_at(uint base, uint d, uint t) {
  float x = ld_q(base + d);
  return d < ROPE_DIMS ? rope_dim(ld_pos(t), d, x, ld_q(base + rope_pair(d))) : x;
}
)";
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
// With `split` (paged_attention_partial without subgroup arithmetic), the generic kernel serves one
// (row, head, split) and writes that split's entry instead of the normalized output.
KernelPlan attention_plan(const EmitContext& ctx, const AttentionShape& shape, std::vector<std::string> arg_names,
                          const std::string& name_extra, const KeyLocation& keys,
                          const std::optional<SplitSpec>& split = std::nullopt) {
  const int64_t window = ctx.op.attr_int("window", 0);
  const double softcap = ctx.op.attr_float("softcap", 0.0);
  const bool subgroup_kernel = !split && subgroup_kernel_fits(ctx, shape);
  // Decode (a handful of rows): the widest workgroup, so one row keeps many loads in flight.
  const std::optional<int64_t> max_rows = ctx.max_value(ctx.input(0).shape[0]);
  const uint32_t wide = std::min<uint32_t>(1024, ctx.caps.max_workgroup_invocations);
  const uint32_t local = !subgroup_kernel                ? local_size_for(ctx, ir::Dim::of(64), 64)
                         : max_rows && *max_rows <= 16 ? wide
                                                         : 256;
  const int64_t dims_per_invocation = (shape.value_dim + local - 1) / local;
  const int64_t splits = split ? split->splits : 1;
  const ir::Shape& q = ctx.input(0).shape;
  ItemLayout layout = item_layout(ctx, {q[0], q[1], ir::Dim::of(splits)}, 0, 3, 1);

  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("hq{}_hkv{}_d{}_dv{}{}{}{}{}", shape.q_heads, shape.kv_heads, shape.head_dim,
                                           shape.value_dim, name_extra, window ? fmt::format("_w{}", window) : "",
                                           softcap > 0 ? "_softcap" : "", ctx.op.has("theta") ? "_rope" : ""));
  plan.arg_names = std::move(arg_names);
  plan.local_size = local;
  plan.grid = layout.grid;
  std::map<std::string, std::string> vars{{"LAYOUT", layout.glsl},
                                          {"KEY_HELPERS", keys.helpers + query_loader(ctx, shape.head_dim)},
                                          {"KEY_RANGE", keys.range},
                                          {"HQ", glsl_uint(shape.q_heads)},
                                          {"GROUP", glsl_uint(shape.q_heads / shape.kv_heads)},
                                          {"D", glsl_uint(shape.head_dim)},
                                          {"DV", glsl_uint(shape.value_dim)},
                                          {"WINDOW", fmt::format("{}", window)},
                                          {"SCALE", glsl_float(ctx.op.attr_float("scale"))},
                                          {"CAPPED", softcapped(ctx, "score")},
                                          {"CAPPED_J", softcapped(ctx, "score_j")},
                                          {"ACC", glsl_uint(dims_per_invocation)},
                                          {"L", glsl_uint(local)},
                                          {"SPLITS", glsl_uint(splits)},
                                          {"ABSENT", "0xffffffffu"},
                                          {"NEG_INF", "uintBitsToFloat(0xff800000u)"}};
  if (subgroup_kernel) {
    plan.name += fmt::format("_sg{}x{}", ctx.caps.subgroup_size, local / ctx.caps.subgroup_size);
    plan.required_subgroup_size = ctx.caps.subgroup_size;
    plan.body = subgroup_kernel_body(ctx, shape, local, vars);
    return plan;
  }
  if (split) {
    plan.name += fmt::format("_s{}_g{}{}", split->splits, split->granule, split->combine ? "_combine" : "");
    vars["SPLIT_RANGE"] = render(R"(  int busy;  // splits 0 .. busy - 1 hold keys
  {  // this split's run of the n visible keys
    int n = last - first + 1;
    int run = n > 0 ? $GRANULE * ((n + $GRANULE * $SPLITS_I - 1) / ($GRANULE * $SPLITS_I)) : 0;
    busy = n > 0 ? (n + run - 1) / run : 0;
    first += int(split) * run;
    last = min(last, first + run - 1);
  }
)", {{"GRANULE", fmt::format("{}", split->granule)}, {"SPLITS_I", fmt::format("{}", split->splits)}});
    // Combining: a row without keys has split 0 write its zero output; with one busy split, that
    // split's output is its own; with more, the last busy split merges them (combine_when_last).
    vars["FINISH"] = split->combine ? render(R"(  if (int(split) < busy) {
    if (busy > 1) combine_when_last(t, head_item % $HQ, uint(busy));
  } else if (busy == 0 && split == 0u) {
    for (uint d = tid; d < $DV; d += $L) st_attn_out(head_item * $DV + d, 0.0);
  }
)", vars)
                                    : "";
    vars["STORE"] = render(R"(  // The split's entry (o[0..DV), m, l), all zero when it saw no key.
  bool seen = run_sum > 0.0;
  for (uint a = 0u; a < $ACC; ++a) {
    uint d = tid + a * $L;
    if (d < $DV) st_result(item * ($DV + 2u) + d, seen ? acc[a] : 0.0);
  }
  if (tid == 0u) {
    st_result(item * ($DV + 2u) + $DV, seen ? run_max : 0.0);
    st_result(item * ($DV + 2u) + $DV + 1u, run_sum);
  }
)", vars) + (split->combine ? render(R"(  if (busy == 1 && split == 0u)
    for (uint a = 0u; a < $ACC; ++a) {
      uint d = tid + a * $L;
      if (d < $DV) st_attn_out(head_item * $DV + d, seen ? acc[a] / run_sum : 0.0);
    }
)", vars)
                                        : "");
  } else {
    vars["SPLIT_RANGE"] = "";
    vars["FINISH"] = "";
    vars["STORE"] = render(R"(  for (uint a = 0u; a < $ACC; ++a) {
    uint d = tid + a * $L;
    if (d < $DV) st_result(head_item * $DV + d, run_sum > 0.0 ? acc[a] / run_sum : 0.0);
  }
)", vars);
  }
  plan.body = workgroup_reductions(ctx.caps, local) + render(R"(
shared float q_row[$D];
shared float chunk_weights[$L];
shared uint chunk_v_base[$L];  // $ABSENT: the key is skipped
$KEY_HELPERS
void main() {
$LAYOUT
  uint item = item_begin;  // = (t * HQ + h) * SPLITS + split
  uint split = item % $SPLITS, head_item = item / $SPLITS;
  uint t = head_item / $HQ, kv_head = (head_item % $HQ) / $GROUP;
  uint tid = gl_LocalInvocationID.x;
  for (uint d = tid; d < $D; d += $L) q_row[d] = ld_q_at(head_item * $D, d, t);
  barrier();

  int p = ld_pos(t);
  int first = $WINDOW > 0 ? max(0, p - $WINDOW + 1) : 0;
$KEY_RANGE$SPLIT_RANGE
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
$STORE$FINISH}
)", vars);
  if (split && split->combine) {
    const int64_t rows = ctx.input(6).shape[0].value;  // the counters' (a constant: verifier)
    plan.body = combine_helpers(shape, *split, 1, rows, local, 0) + entries_through_coherent_view(plan.body);
  }
  return plan;
}

AttentionShape paged_shape(const EmitContext& ctx) {
  const ir::Shape& q = ctx.input(0).shape;
  const ir::Shape& k = ctx.input(1).shape;  // [N, B, Hkv, D]
  const ir::Shape& v = ctx.input(2).shape;  // [N, B, Hkv, Dv]
  return {q[1].value, k[2].value,  // head counts are constants (verifier)
          const_dim(ctx, q[2], "head dim of q and k_cache"), const_dim(ctx, v[3], "head dim of v_cache")};
}

// Keys of paged_attention and paged_attention_partial: unknown sequences, positions past the block
// table and block ids outside the cache have no key.
KeyLocation paged_keys(const EmitContext& ctx, const AttentionShape& shape) {
  const ir::Shape& k = ctx.input(1).shape;
  const ir::Shape& table = ctx.input(3).shape;  // [S, M]
  const std::map<std::string, std::string> vars{{"HKV", glsl_uint(shape.kv_heads)},
                                                {"D", glsl_uint(shape.head_dim)},
                                                {"DV", glsl_uint(shape.value_dim)},
                                                {"N", ctx.dim(k[0])},
                                                {"B", ctx.dim(k[1])},
                                                {"SEQS", ctx.dim(table[0])},
                                                {"M", ctx.dim(table[1])}};
  KeyLocation keys;
  // key_rows in two halves for kernels that look a key's block up ahead of its rows: key_block
  // (the table lookup: the cache block, -1 when there is none) and key_bases.
  keys.helpers = render(R"(
uint table_row;  // this row's sequence's first entry in block_table
int key_block(int s) {
  int block = ld_block_table(table_row + uint(s) / $B);
  return block >= 0 && uint(block) < $N ? block : -1;
}
void key_bases(int s, int block, uint kv_head, out uint k_base, out uint v_base) {
  uint cache_row = uint(block) * $B + uint(s) % $B;
  k_base = (cache_row * $HKV + kv_head) * $D;
  v_base = (cache_row * $HKV + kv_head) * $DV;
}
bool key_rows(int s, uint kv_head, out uint k_base, out uint v_base) {
  int block = key_block(s);
  if (block < 0) return false;
  key_bases(s, block, kv_head, k_base, v_base);
  return true;
}
)", vars);
  keys.range = render(R"(  int seq = ld_row_seq(t);
  bool known_seq = seq >= 0 && uint(seq) < $SEQS;
  table_row = known_seq ? uint(seq) * $M : 0u;
  int last = known_seq ? min(p, int($M * $B) - 1) : -1;
)", vars);
  return keys;
}

const std::vector<std::string> kPagedArgs = {"q", "k", "v", "block_table", "row_seq", "pos", "result"};

// Dims of a row of `row` elements one lane owns, and how: the contiguous slice [lane·n, lane·n + n)
// when the row splits evenly over the subgroup (wide loads), else dims lane + i·SG (i < n), which
// may pass the row's end (those read as 0 and are not written).
struct LaneSlice {
  int64_t row, per_lane;
  bool contiguous;
  LaneSlice(int64_t row, uint32_t sg) : row(row), per_lane((row + sg - 1) / sg), contiguous(row % sg == 0) {}
};

// GLSL `uint <name>(uint i)`: the dim of element i of this lane's slice.
std::string lane_dim_function(const std::string& name, const LaneSlice& s, uint32_t sg) {
  return fmt::format("uint {}(uint i) {{ return {}; }}\n", name,
                     s.contiguous ? fmt::format("gl_SubgroupInvocationID * {} + i", glsl_uint(s.per_lane))
                                  : fmt::format("gl_SubgroupInvocationID + i * {}", glsl_uint(sg)));
}

// Elements one lane reads from a cache row, as GLSL: `n` consecutive elements (a whole key row, or
// the lane's contiguous slice of a value row) with the widest loads their bytes allow — they start at
// a multiple of n elements and buffers are 16-byte aligned — kept as 32-bit words and converted
// where used; element by element through ld_<arg> when they are not whole words; or, `strided`, the
// lane's dims lane + i * SG of a row of `row` elements (zero past it). Loads are named <name><i>.
struct LaneElements {
  std::string arg;
  ir::DType dtype;
  int64_t elements;
  bool strided = false;
  int64_t row = 0;             // strided: the row length
  uint32_t subgroup = 1;       // strided: SG
  int64_t words_per_load = 0;  // 4, 2 or 1; 0: element loads
  int64_t elements_per_word = 1;

  LaneElements(std::string arg_name, ir::DType type, int64_t n) : arg(std::move(arg_name)), dtype(type), elements(n) {
    const bool half = type == ir::DType::F16 || type == ir::DType::BF16;
    if (half || type == ir::DType::F32) {
      elements_per_word = half ? 2 : 1;
      const int64_t bytes = n * (half ? 2 : 4);
      words_per_load = bytes % 16 == 0 ? 4 : bytes % 8 == 0 ? 2 : bytes % 4 == 0 ? 1 : 0;
    }
    if (words_per_load == 0) elements_per_word = 1;
  }
  static LaneElements strided_slice(std::string arg_name, ir::DType type, const LaneSlice& s, uint32_t sg) {
    LaneElements r(std::move(arg_name), type, s.per_lane);
    r.strided = true;
    r.row = s.row;
    r.subgroup = sg;
    r.words_per_load = 0;
    r.elements_per_word = 1;
    return r;
  }
  int64_t elements_per_load() const { return words_per_load ? words_per_load * elements_per_word : 1; }
  // 32-bit registers the loaded elements take.
  int64_t registers() const { return (elements + elements_per_word - 1) / elements_per_word; }
  // Elements per group of loads issued together: at most 64 words of registers, a multiple of 4.
  int64_t group() const { return 64 * elements_per_word; }
  // Statements declaring the loads of elements [e0, e1) (multiples of elements_per_load, or e1 the
  // end). `first`: the GLSL index of the first load (the first element / elements_per_load); strided:
  // the row's first element.
  std::string loads(const std::string& name, int64_t e0, int64_t e1, const std::string& first) const {
    const int64_t per = elements_per_load();
    std::string out;
    for (int64_t u = e0 / per; u < (e1 + per - 1) / per; ++u) {
      if (strided)
        out += fmt::format("    float {0}{1} = gl_SubgroupInvocationID + {2} < {3} ? ld_{4}({5} + gl_SubgroupInvocationID + "
                           "{2}) : 0.0;\n",
                           name, u, glsl_uint(u * subgroup), glsl_uint(row), arg, first);
      else if (words_per_load == 0)
        out += fmt::format("    float {}{} = ld_{}({} + {});\n", name, u, arg, first, glsl_uint(u));
      else
        out += fmt::format("    {0} {1}{2} = {3}(args.{4}).v[{5} + {6}];\n",
                           words_per_load == 4 ? "uvec4" : words_per_load == 2 ? "uvec2" : "uint", name, u,
                           words_per_load == 4 ? "AttnU4" : words_per_load == 2 ? "AttnU2" : "AttnU1", arg, first,
                           glsl_uint(u));
    }
    return out;
  }
  // Element e as a float (0.0 past the elements).
  std::string element(const std::string& name, int64_t e) const {
    if (e >= elements) return "0.0";
    const int64_t per = elements_per_load(), u = e / per, r = e % per;
    if (words_per_load == 0) return fmt::format("{}{}", name, u);
    const std::string word = words_per_load == 1 ? fmt::format("{}{}", name, u)
                                                 : fmt::format("{}{}.{}", name, u, "xyzw"[r / elements_per_word]);
    if (dtype == ir::DType::F32) return fmt::format("uintBitsToFloat({})", word);
    if (dtype == ir::DType::F16) return fmt::format("unpackHalf2x16({}).{}", word, r % 2 ? "y" : "x");
    return r % 2 ? fmt::format("uintBitsToFloat({} & 0xffff0000u)", word) : fmt::format("uintBitsToFloat({} << 16)", word);
  }
};

// The GQA split kernel of paged_attention_partial and paged_attention_split (see the top of this
// file), or nullopt when it does not fit the device or the shape (then the generic kernel serves
// each head alone).
std::optional<KernelPlan> split_subgroup_plan(const EmitContext& ctx, const AttentionShape& shape,
                                              const SplitSpec& split) {
  if (!subgroup_kernel_fits(ctx, shape)) return std::nullopt;
  const uint32_t sg = ctx.caps.subgroup_size;
  const LaneSlice v_slice(shape.value_dim, sg);
  // Registers per lane: the HG heads' output dims (out_acc); a key row's loads come in groups of
  // at most 64 words (LaneElements::group), and VB keys' value slices.
  constexpr int64_t kRegisterBudget = 64;
  if (v_slice.per_lane > kRegisterBudget) return std::nullopt;
  const AttentionTuning& tuning = ctx.caps.attention;
  const uint32_t kSubgroups = static_cast<uint32_t>(tuning.subgroups);
  const uint32_t local = kSubgroups * sg;
  if (local > ctx.caps.max_workgroup_invocations) return std::nullopt;
  const int64_t shared_budget = std::min<int64_t>(ctx.caps.max_shared_memory_bytes, 32 * 1024);
  const int64_t group = shape.q_heads / shape.kv_heads;
  const int64_t d4 = (shape.head_dim + 3) / 4;  // the query rows in vec4s
  const bool rope = ctx.op.has("theta");
  // Shared floats per head: its query row, a probability per (subgroup, lane), the subgroups'
  // (max, sum, output) and the combine's weight per split; plus a value row index per key.
  const auto shared_bytes = [&](int64_t hg) {
    return (hg * (4 * d4 + int64_t{kSubgroups} * sg + int64_t{kSubgroups} * (shape.value_dim + 2) +
                  (split.combine ? split.splits : 0)) +
            int64_t{kSubgroups} * sg) *
           4;
  };
  int64_t heads = 0;  // HG: the most heads of one kv head that fit, dividing the group
  for (int64_t hg = tuning.heads > 0 ? std::min<int64_t>(group, tuning.heads) : group; hg >= 1 && heads == 0; --hg)
    if (group % hg == 0 && hg * v_slice.per_lane <= kRegisterBudget && shared_bytes(hg) <= shared_budget) heads = hg;
  if (heads == 0) return std::nullopt;
  // The lane's slice of a value row; VB keys' slices (at most 64 registers) are loaded before any
  // is used: the step's first VB with its key rows, the others in batches after the softmax.
  const LaneElements value_slice = v_slice.contiguous
                                       ? LaneElements("v", ctx.input(2).dtype, v_slice.per_lane)
                                       : LaneElements::strided_slice("v", ctx.input(2).dtype, v_slice, sg);
  int64_t value_batch = 1;
  while (value_batch * 2 <= sg && value_batch * 2 * value_slice.registers() <= (tuning.rolled ? 16 : 64))
    value_batch *= 2;

  const ir::Shape& q = ctx.input(0).shape;
  const int64_t head_blocks = shape.q_heads / heads;
  ItemLayout layout = item_layout(ctx, {q[0], ir::Dim::of(head_blocks), ir::Dim::of(split.splits)}, 0, 3, 1);
  const ir::Shape& k = ctx.input(1).shape;
  const int64_t window = ctx.op.attr_int("window", 0);
  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("hq{}_hkv{}_d{}_dv{}_b{}{}{}{}_s{}_g{}_hg{}_sg{}x{}_kl", shape.q_heads,
                                           shape.kv_heads, shape.head_dim, shape.value_dim, ir::to_string(k[1]),
                                           window ? fmt::format("_w{}", window) : "",
                                           ctx.op.attr_float("softcap", 0.0) > 0 ? "_softcap" : "",
                                           rope ? "_rope" : "", split.splits, split.granule, heads, sg, kSubgroups) +
                               (tuning.rolled ? "_rolled" : "") + (split.combine ? "_combine" : ""));
  plan.arg_names = split.combine ? kSplitArgs : kPagedArgs;
  plan.local_size = local;
  plan.grid = layout.grid;
  plan.required_subgroup_size = sg;
  const KeyLocation keys = paged_keys(ctx, shape);
  std::map<std::string, std::string> vars{
      {"LAYOUT", layout.glsl},
      {"KEY_RANGE", keys.range},
      {"LOADERS", lane_dim_function("v_dim", v_slice, sg)},
      {"HQ", glsl_uint(shape.q_heads)},
      {"GROUP", glsl_uint(group)},
      {"HG", glsl_uint(heads)},
      {"HB", glsl_uint(head_blocks)},
      {"D", glsl_uint(shape.head_dim)},
      {"D4", glsl_uint(d4)},
      {"DV", glsl_uint(shape.value_dim)},
      {"DVL", glsl_uint(v_slice.per_lane)},
      {"ENTRY", glsl_uint(shape.value_dim + 2)},
      {"SPLITS", glsl_uint(split.splits)},
      {"SPLITS_I", fmt::format("{}", split.splits)},
      {"GRANULE", fmt::format("{}", split.granule)},
      {"SG", glsl_uint(sg)},
      {"SG_I", fmt::format("{}", sg)},
      {"NSG", glsl_uint(kSubgroups)},
      {"STRIDE", fmt::format("{}", int64_t{sg} * kSubgroups)},
      {"L", glsl_uint(local)},
      {"QE", glsl_uint((heads * shape.head_dim + local - 1) / local)},
      {"WINDOW", fmt::format("{}", window)},
      {"SCALE", glsl_float(ctx.op.attr_float("scale"))},
      {"CAPPED_J", softcapped(ctx, "score_j")},
      {"NEG_INF", "uintBitsToFloat(0xff800000u)"}};
  vars["KEY_HELPERS"] = keys.helpers + (rope ? rope_dim_glsl(ctx.op, shape.head_dim, ctx.input(0).dtype) : "");

  // The query: elements tid + i * L of the HG rows (and with a rope the dims they rotate with,
  // clamped into range: the elements past the rows are never stored) load with the position and
  // sequence; once the position is known they are roped and staged in shared memory as vec4s,
  // zero past D.
  vars["Q_FETCH"] = render(R"(  float q_x[$QE], q_pair[$QE];
  for (uint i = 0u; i < $QE; ++i) {
    uint e = min(tid + i * $L, $HG * $D - 1u), d = e % $D;
    uint row = (t * $HQ + h0 + e / $D) * $D;
    q_x[i] = ld_q(row + d);
    q_pair[i] = )" + std::string(rope ? "ld_q(row + (d < ROPE_DIMS ? rope_pair(d) : d))" : "0.0") + R"(;
  }
)", vars);
  vars["Q_VALUE"] = rope ? "d < ROPE_DIMS ? rope_dim(p, d, q_x[i], q_pair[i]) : q_x[i]" : "q_x[i]";
  vars["Q_PAD"] = shape.head_dim % 4 == 0 ? ""
                                          : render(R"(  for (uint e = tid; e < $HG * (4u * $D4 - $D); e += $L) {
    uint d = $D + e % (4u * $D4 - $D);
    q_s4[e / (4u * $D4 - $D) * $D4 + d / 4u][d % 4u] = 0.0;
  }
)", vars);
  vars["Q_STAGE"] = render(R"(  for (uint i = 0u; i < $QE; ++i) {
    uint e = tid + i * $L, d = e % $D;
    if (e < $HG * $D) q_s4[e / $D * $D4 + d / 4u][d % 4u] = $Q_VALUE;
  }
$Q_PAD  barrier();
)", vars);

  // Scores (unrolled here, so every register array index is a constant): the lane's key row in
  // groups of loads issued together, each 4 elements dotted with the HG query rows' vec4s.
  const LaneElements key_row("k", ctx.input(1).dtype, shape.head_dim);
  std::string scores;
  for (int64_t h = 0; h < heads; ++h) scores += fmt::format("    float dot{} = 0.0;\n", h);
  scores += fmt::format("    uint k_first = k_base / {};\n    vec4 kc;\n", glsl_uint(key_row.elements_per_load()));
  for (int64_t e0 = 0; e0 < shape.head_dim; e0 += key_row.group()) {
    const int64_t e1 = std::min(shape.head_dim, e0 + key_row.group());
    scores += key_row.loads("kw", e0, e1, "k_first");
    for (int64_t c = e0 / 4; c < (e1 + 3) / 4; ++c) {
      scores += fmt::format("    kc = vec4({}, {}, {}, {});\n", key_row.element("kw", 4 * c),
                            key_row.element("kw", 4 * c + 1), key_row.element("kw", 4 * c + 2),
                            key_row.element("kw", 4 * c + 3));
      for (int64_t h = 0; h < heads; ++h)
        scores += fmt::format("    dot{0} += dot(q_s4[{1}], kc);\n", h, glsl_uint(h * d4 + c));
    }
  }
  vars["SCORES"] = scores;

  // The step's online softmax, per head: one subgroupMax; the lane's own probability and running sum
  // (summed over the subgroup once, after the loop); the probability to shared memory for the
  // output phase.
  std::string softmax;
  for (int64_t h = 0; h < heads; ++h) {
    std::map<std::string, std::string> v = vars;
    v["H"] = fmt::format("{}", h);
    v["HU"] = glsl_uint(h);
    std::string rescale;
    for (int64_t i = 0; i < v_slice.per_lane; ++i) rescale += fmt::format("      out_acc[{0}][{1}] *= correction;\n", h, i);
    v["RESCALE"] = rescale;
    softmax += render(R"(    {
      float score_j = $SCALE * dot$H;
      float score = present ? $CAPPED_J : $NEG_INF;
      float new_max = max(run_max[$H], subgroupMax(score));
      float correction = run_max[$H] == $NEG_INF ? 0.0 : exp(run_max[$H] - new_max);
      float w = present ? exp(score - new_max) : 0.0;
      lane_sum[$H] = lane_sum[$H] * correction + w;
$RESCALE      run_max[$H] = new_max;
      step_p[(sg * $SG + lane) * $HG + $HU] = w;
    }
)", v);
  }
  vars["SOFTMAX"] = softmax;

  // The output phase, unrolled over the step's SG keys in batches of VB: key j's value slice (its row
  // read by the whole subgroup at once, coalesced) from step_v_base, then out += p_j * v_j for each
  // head, p_j from step_p. Keys past the run or absent have p = 0 and a readable row.
  const std::string slice_first =
      v_slice.contiguous ? fmt::format("(step_v_base[sg * {0} + {{}}] + gl_SubgroupInvocationID * {1}) / {2}",
                                       glsl_uint(sg), glsl_uint(v_slice.per_lane),
                                       glsl_uint(value_slice.elements_per_load()))
                         : fmt::format("step_v_base[sg * {} + {{}}]", glsl_uint(sg));
  // out += p_j v_j for key j (GLSL index `key`) whose value slice is in registers <name>0...
  const auto value_sum = [&](const std::string& name, const std::string& key) {
    std::string sums = fmt::format("    at = (sg * {} + {}) * {};\n", glsl_uint(sg), key, glsl_uint(heads));
    for (int64_t i = 0; i < v_slice.per_lane; ++i) {
      sums += fmt::format("    vf = {};\n", value_slice.element(name, i));
      for (int64_t h = 0; h < heads; ++h)
        sums += fmt::format("    out_acc[{0}][{1}] = fma(step_p[at + {2}], vf, out_acc[{0}][{1}]);\n", h, i,
                            glsl_uint(h));
    }
    return sums;
  };
  std::vector<std::string> value_loads, value_sums;
  for (int64_t b0 = 0; b0 < sg && !tuning.rolled; b0 += value_batch) {
    std::string loads, sums;
    for (int64_t j = b0; j < b0 + value_batch; ++j)
      loads += value_slice.loads(fmt::format("v{}_", j), 0, value_slice.elements,
                                 fmt::format(fmt::runtime(slice_first), glsl_uint(j)));
    for (int64_t j = b0; j < b0 + value_batch; ++j) sums += value_sum(fmt::format("v{}_", j), glsl_uint(j));
    value_loads.push_back(loads);
    value_sums.push_back(sums);
  }
  if (!tuning.rolled) {
    vars["VALUES_FIRST_LOADS"] = value_loads[0];
    std::string values = value_sums[0];
    for (size_t batch = 1; batch < value_loads.size(); ++batch) values += value_loads[batch] + value_sums[batch];
    vars["VALUES"] = values;
  } else {
    // Rolled: batch b's VB value slices (v<jj>_) are in registers while batch b + 1's load (n<jj>_);
    // the last iteration re-reads the last batch (readable rows, never used).
    const int64_t units = (value_slice.elements + value_slice.elements_per_load() - 1) / value_slice.elements_per_load();
    std::string first, next, sums, rotate;
    for (int64_t jj = 0; jj < value_batch; ++jj) {
      first += value_slice.loads(fmt::format("v{}_", jj), 0, value_slice.elements,
                                 fmt::format(fmt::runtime(slice_first), glsl_uint(jj)));
      next += value_slice.loads(fmt::format("n{}_", jj), 0, value_slice.elements,
                                fmt::format(fmt::runtime(slice_first), fmt::format("(nb + {})", glsl_uint(jj))));
      sums += value_sum(fmt::format("v{}_", jj), fmt::format("(b0 + {})", glsl_uint(jj)));
      for (int64_t u = 0; u < units; ++u) rotate += fmt::format("    v{0}_{1} = n{0}_{1};\n", jj, u);
    }
    vars["VALUES_FIRST_LOADS"] = first;
    vars["VALUES"] = fmt::format("    [[dont_unroll]] for (uint b0 = 0u; b0 < {0}; b0 += {1}) {{\n"
                                 "    uint nb = min(b0 + {1}, {0} - {1});\n",
                                 glsl_uint(sg), glsl_uint(value_batch)) +
                     next + sums + rotate + "    }\n";
  }

  if (split.combine) {
    // A row without keys: split 0 writes its zero output. One busy split: its merge is the output.
    vars["EMPTY_ROW"] = render(R"(    if (busy == 0 && split == 0u)
      for (uint e = tid; e < $HG * $DV; e += $L) st_attn_out((t * $HQ + h0) * $DV + e, 0.0);
)", vars);
    vars["DIRECT_OUT"] = render(R"(    if (busy == 1 && d < $DV)
      st_attn_out((t * $HQ + h0 + h) * $DV + d, l > 0.0 ? value / l : 0.0);
)", vars);
    vars["FINISH"] = "  if (busy > 1) combine_when_last(t, h0, uint(busy));\n";
  } else {
    vars["EMPTY_ROW"] = vars["DIRECT_OUT"] = vars["FINISH"] = "";
  }
  plan.body = std::string(tuning.rolled ? "#extension GL_EXT_control_flow_attributes : require\n" : "") + render(R"(
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer AttnU4 { uvec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) readonly buffer AttnU2 { uvec2 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) readonly buffer AttnU1 { uint v[]; };
shared vec4 q_s4[$HG * $D4];           // the HG query rows (roped), zero past D
shared float step_p[$NSG * $SG * $HG];  // [subgroup, lane, head]: the step's probability of the lane's key
shared uint step_v_base[$NSG * $SG];    // [subgroup, lane]: the first element of the lane's key's value row
shared float part_max[$NSG * $HG], part_sum[$NSG * $HG];
shared float part_out[$NSG * $HG * $DV];
$KEY_HELPERS$LOADERS
void main() {
$LAYOUT
  uint item = item_begin;  // = (t * HB + head block) * SPLITS + split
  uint split = item % $SPLITS, t = item / ($SPLITS * $HB);
  uint h0 = (item / $SPLITS) % $HB * $HG;  // the block's first query head
  uint kv_head = h0 / $GROUP;
  uint tid = gl_LocalInvocationID.x, sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;

  // The loads that depend on nothing first, so their latencies overlap: position, sequence, query.
  int p = ld_pos(t);
$Q_FETCH  int first = $WINDOW > 0 ? max(0, p - $WINDOW + 1) : 0;
$KEY_RANGE
  // The row's runs (ir/README.md "split attention"): splits 0 .. busy - 1 hold keys; this one holds
  // [begin, end).
  int n = last - first + 1;
  int run = n > 0 ? $GRANULE * ((n + $GRANULE * $SPLITS_I - 1) / ($GRANULE * $SPLITS_I)) : 0;
  int busy = n > 0 ? (n + run - 1) / run : 0;
  int begin = first + int(split) * run, end = min(last + 1, begin + run);
  if (int(split) >= busy) {  // no key (uniform in the workgroup): zero entries, nothing to merge
    for (uint e = tid; e < $HG * $ENTRY; e += $L)
      st_result(((t * $HQ + h0 + e / $ENTRY) * $SPLITS + split) * $ENTRY + e % $ENTRY, 0.0);
$EMPTY_ROW    return;
  }

$Q_STAGE  float out_acc[$HG][$DVL];
  float run_max[$HG], lane_sum[$HG];
  for (uint h = 0u; h < $HG; ++h) {
    run_max[h] = $NEG_INF;
    lane_sum[h] = 0.0;
    for (uint i = 0u; i < $DVL; ++i) out_acc[h][i] = 0.0;
  }
  // Steps: subgroup sg takes keys s0 .. s0 + SG - 1 for s0 = begin + SG * (sg + NSG * i), key s0 + lane
  // to this lane (s0 is uniform in the subgroup, so the subgroup operations are too). A step's block
  // lookup is issued during the step before.
  int s0 = begin + $SG_I * int(sg);
  int next_block = s0 + int(lane) < end ? key_block(s0 + int(lane)) : -1;
  for (; s0 < end; s0 += $STRIDE) {
    int s = s0 + int(lane);
    int block = next_block;
    next_block = s + $STRIDE < end ? key_block(s + $STRIDE) : -1;
    bool present = block >= 0;
    uint k_base, v_base;
    key_bases(s, max(block, 0), kv_head, k_base, v_base);  // an absent key reads a row of block 0, unused
    subgroupBarrier();  // the subgroup is done with the step before's step_p and step_v_base
    step_v_base[sg * $SG + lane] = v_base;
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    // The first VB keys' value slices, then this lane's key row, all in flight together.
$VALUES_FIRST_LOADS$SCORES$SOFTMAX    subgroupMemoryBarrierShared();
    subgroupBarrier();
    // Outputs: the lane owns dims v_dim(i) of every head.
    uint at;
    float vf;
$VALUES  }
  float run_sum[$HG];
  for (uint h = 0u; h < $HG; ++h) run_sum[h] = subgroupAdd(lane_sum[h]);

  // Merge the subgroups into the split's entry: m = max_i m_i, l = sum_i e^(m_i - m) l_i,
  // o = sum_i e^(m_i - m) o_i over the subgroups that saw a key; zeros when none did.
  for (uint h = 0u; h < $HG; ++h) {
    if (lane == 0u) {
      part_max[sg * $HG + h] = run_max[h];
      part_sum[sg * $HG + h] = run_sum[h];
    }
    for (uint i = 0u; i < $DVL; ++i) {
      uint d = v_dim(i);
      if (d < $DV) part_out[(sg * $HG + h) * $DV + d] = out_acc[h][i];
    }
  }
  barrier();
  for (uint e = tid; e < $HG * $ENTRY; e += $L) {
    uint h = e / $ENTRY, d = e % $ENTRY;
    float m = $NEG_INF;
    for (uint i = 0u; i < $NSG; ++i)
      if (part_sum[i * $HG + h] > 0.0) m = max(m, part_max[i * $HG + h]);
    float value = 0.0, l = 0.0;
    if (m != $NEG_INF) {
      for (uint i = 0u; i < $NSG; ++i) {
        uint at = i * $HG + h;
        if (part_sum[at] > 0.0) {
          float w = exp(part_max[at] - m);
          l += part_sum[at] * w;
          if (d < $DV) value += part_out[at * $DV + d] * w;
        }
      }
      if (d == $DV) value = m;
      if (d == $DV + 1u) value = l;
    }
    st_result(((t * $HQ + h0 + h) * $SPLITS + split) * $ENTRY + d, value);
$DIRECT_OUT  }
$FINISH}
)", vars);
  if (split.combine)
    plan.body = combine_helpers(shape, split, heads, ctx.input(6).shape[0].value, local, sg) +
                entries_through_coherent_view(plan.body);
  return plan;
}

}  // namespace

KernelPlan emit_attention(const EmitContext& ctx) {
  if (std::optional<KernelPlan> tiled = emit_prefill_attention(ctx)) return *std::move(tiled);  // many rows
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
  if (std::optional<KernelPlan> tiled = emit_prefill_attention(ctx)) return *std::move(tiled);  // many rows
  const AttentionShape shape = paged_shape(ctx);
  return attention_plan(ctx, shape, kPagedArgs, "_b" + ir::to_string(ctx.input(1).shape[1]), paged_keys(ctx, shape));
}

KernelPlan emit_paged_attention_partial(const EmitContext& ctx) {
  const AttentionShape shape = paged_shape(ctx);
  const SplitSpec split{ctx.op.attr_int("splits"), ctx.op.attr_int("granule")};
  if (std::optional<KernelPlan> plan = split_subgroup_plan(ctx, shape, split)) return *std::move(plan);
  return attention_plan(ctx, shape, kPagedArgs, "_b" + ir::to_string(ctx.input(1).shape[1]), paged_keys(ctx, shape),
                        split);
}

KernelPlan emit_paged_attention_split(const EmitContext& ctx) {
  const AttentionShape shape = paged_shape(ctx);
  const SplitSpec split{ctx.op.attr_int("splits"), ctx.op.attr_int("granule"), true};
  if (std::optional<KernelPlan> plan = split_subgroup_plan(ctx, shape, split)) return *std::move(plan);
  return attention_plan(ctx, shape, kSplitArgs, "_b" + ir::to_string(ctx.input(1).shape[1]), paged_keys(ctx, shape),
                        split);
}

KernelPlan emit_attention_combine(const EmitContext& ctx) {
  const ir::Shape& partials = ctx.input(0).shape;  // [T, H, P, Dv + 2]
  const int64_t splits = const_dim(ctx, partials[2], "split count (dim 2 of the partials)");
  const int64_t value_dim = partials[3].value - 2;  // the verifier makes it a constant >= 1
  const uint32_t local = local_size_for(ctx, ir::Dim::of(value_dim), 128);
  ItemLayout layout = item_layout(ctx, partials, 0, 2, 1);
  KernelPlan plan;
  plan.name = kernel_name(ctx);
  plan.arg_names = {"partials", "result"};
  plan.local_size = local;
  plan.grid = layout.grid;
  plan.body = render(R"(
void main() {
$LAYOUT
  uint item = item_begin;  // = t * H + h
  uint base = item * $SPLITS * $ENTRY;
  // Entries with l > 0 saw keys; every other entry is skipped (and its o never read).
  float m = $NEG_INF;
  for (uint j = 0u; j < $SPLITS; ++j)
    if (ld_partials(base + j * $ENTRY + $DV + 1u) > 0.0) m = max(m, ld_partials(base + j * $ENTRY + $DV));
  float total = 0.0;
  for (uint j = 0u; j < $SPLITS; ++j) {
    float l = ld_partials(base + j * $ENTRY + $DV + 1u);
    if (l > 0.0) total += l * exp(ld_partials(base + j * $ENTRY + $DV) - m);
  }
  for (uint d = gl_LocalInvocationID.x; d < $DV; d += $L) {
    float o = 0.0;
    for (uint j = 0u; j < $SPLITS; ++j) {
      uint e = base + j * $ENTRY;
      if (ld_partials(e + $DV + 1u) > 0.0) o += ld_partials(e + d) * exp(ld_partials(e + $DV) - m);
    }
    st_result(item * $DV + d, total > 0.0 ? o / total : 0.0);
  }
}
)", {{"LAYOUT", layout.glsl},
     {"SPLITS", glsl_uint(splits)},
     {"ENTRY", glsl_uint(value_dim + 2)},
     {"DV", glsl_uint(value_dim)},
     {"L", glsl_uint(local)},
     {"NEG_INF", "uintBitsToFloat(0xff800000u)"}});
  return plan;
}

}  // namespace vkllm::codegen::ops
