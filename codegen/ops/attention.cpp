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
// head (GQA). Split j walks only its own run of the row's keys (ir/README.md "split attention"):
// a run past the context writes its zero entries and returns. Inside, the subgroup kernel's scheme:
// 4 subgroups take KB keys at a time, each lane loading its contiguous slice of a key or value row
// in units of up to 16 bytes, value rows loaded together with key rows so the two latencies overlap;
// one subgroupAdd per (head, key); the subgroups' (max, sum, output) merge through shared memory
// into the split's entry. Without subgroup arithmetic the generic kernel serves one (t, h, split).
// With rope attributes (passes/fuse_attention_rope.cpp) the query is roped at pos as it is loaded
// (ld_q_at; the GQA kernel stages its HG roped query rows in shared memory once).
// attention_combine: one workgroup per (t, h), merging the row's entries at their common maximum.
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

// paged_attention_partial's split of each row's keys (ir/README.md "split attention").
struct SplitSpec {
  int64_t splits, granule;
  bool combine = false;  // paged_attention_split: the last workgroup of a (row, head) merges the entries
};

// paged_attention_split's arguments: the partial's, the counters; then out, the entries, the counters.
const std::vector<std::string> kSplitArgs = {"q",        "k",   "v",      "block_table", "row_seq",
                                             "pos",      "counters", "attn_out", "result", "counters_out"};

// paged_attention_split (ir/README.md "split attention that combines itself"): GLSL before main
// defining `st_entry` (entries are stored through a coherent view) and `combine_when_last(t, h0)`,
// which every invocation of a workgroup calls, in uniform control flow, once the workgroup's entries
// (of query heads h0 .. h0 + heads - 1 of row t, split `split`) are stored. The workgroup's stores are
// made visible at device scope (coherent stores, then memoryBarrierBuffer) before invocation 0 counts
// the workgroup on the (row, h0) counter (a device-scope atomic on a coherent buffer); the workgroup
// that brings it to `splits` is the last, so every other one's entries are visible to it after its
// own memoryBarrierBuffer: it reads them through the coherent view, writes the merged output
// (attention_combine's arithmetic) and sets the counter back to 0 for the next dispatch.
std::string combine_helpers(const AttentionShape& shape, const SplitSpec& split, int64_t heads, int64_t rows,
                            uint32_t local) {
  return render(R"(
layout(buffer_reference, std430, buffer_reference_align = 4) coherent buffer AttnCoherentF { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) coherent buffer AttnCounters { int v[]; };
void st_entry(uint i, float x) { AttnCoherentF(args.result).v[i] = x; }
shared bool attn_last_split;
void combine_when_last(uint t, uint h0) {
  if (t >= $ROWS) return;  // no counter (the op's contract excludes it)
  memoryBarrierBuffer();
  barrier();
  if (gl_LocalInvocationID.x == 0u) {
    int arrived = atomicAdd(AttnCounters(args.counters).v[t * $HQ + h0], 1);
    attn_last_split = arrived == $SPLITS_I - 1;
  }
  barrier();
  if (!attn_last_split) return;
  memoryBarrierBuffer();
  AttnCoherentF entries = AttnCoherentF(args.result);
  for (uint e = gl_LocalInvocationID.x; e < $HEADS * $DV; e += $L) {
    uint h = h0 + e / $DV, d = e % $DV;
    uint base = (t * $HQ + h) * $SPLITS * $ENTRY;
    float m = uintBitsToFloat(0xff800000u);
    for (uint j = 0u; j < $SPLITS; ++j)
      if (entries.v[base + j * $ENTRY + $DV + 1u] > 0.0) m = max(m, entries.v[base + j * $ENTRY + $DV]);
    float total = 0.0, o = 0.0;
    for (uint j = 0u; j < $SPLITS; ++j) {
      uint at = base + j * $ENTRY;
      float l = entries.v[at + $DV + 1u];
      if (l > 0.0) {
        float w = exp(entries.v[at + $DV] - m);
        total += l * w;
        o += entries.v[at + d] * w;
      }
    }
    st_attn_out((t * $HQ + h) * $DV + d, total > 0.0 ? o / total : 0.0);
  }
  if (gl_LocalInvocationID.x == 0u) atomicExchange(AttnCounters(args.counters).v[t * $HQ + h0], 0);
}
)", {{"ROWS", glsl_uint(rows)},
     {"HQ", glsl_uint(shape.q_heads)},
     {"SPLITS", glsl_uint(split.splits)},
     {"SPLITS_I", fmt::format("{}", split.splits)},
     {"ENTRY", glsl_uint(shape.value_dim + 2)},
     {"DV", glsl_uint(shape.value_dim)},
     {"HEADS", glsl_uint(heads)},
     {"L", glsl_uint(local)}});
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
    vars["SPLIT_RANGE"] = render(R"(  {  // this split's run of the n visible keys
    int n = last - first + 1;
    int run = n > 0 ? $GRANULE * ((n + $GRANULE * $SPLITS_I - 1) / ($GRANULE * $SPLITS_I)) : 0;
    first += int(split) * run;
    last = min(last, first + run - 1);
  }
)", {{"GRANULE", fmt::format("{}", split->granule)}, {"SPLITS_I", fmt::format("{}", split->splits)}});
    vars["FINISH"] = split->combine ? render("  combine_when_last(t, head_item % $HQ);\n", vars) : "";
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
)", vars);
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
    plan.body = combine_helpers(shape, *split, 1, rows, local) + entries_through_coherent_view(plan.body);
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

// GLSL `void <name>(uint base, out float r[n])`: this lane's slice of the row whose first element is
// `base` of argument `arg`, with the widest loads the slice allows (base is a multiple of the row
// length, which a contiguous slice's load unit divides; buffers are 16-byte aligned).
std::string lane_slice_loader(const std::string& name, const std::string& arg, ir::DType dtype, const LaneSlice& s) {
  const int64_t n = s.per_lane;
  const bool half = dtype == ir::DType::F16 || dtype == ir::DType::BF16;
  int64_t unit = 1;  // elements per load
  if (s.contiguous && half) unit = n % 8 == 0 ? 8 : n % 4 == 0 ? 4 : n % 2 == 0 ? 2 : 1;
  if (s.contiguous && dtype == ir::DType::F32 && n % 4 == 0) unit = 4;
  std::map<std::string, std::string> v{{"NAME", name},
                                       {"A", arg},
                                       {"N", glsl_uint(n)},
                                       {"UNIT", glsl_uint(unit)},
                                       {"ROW", glsl_uint(s.row)},
                                       {"START", fmt::format("base + gl_SubgroupInvocationID * {}", glsl_uint(n))}};
  if (unit == 1) {
    const std::string element = s.contiguous ? "ld_$A($START + i)"
                                             : "d < $ROW ? ld_$A(base + d) : 0.0";
    return render(R"(void $NAME(uint base, out float r[$N]) {
  for (uint i = 0u; i < $N; ++i) {
    uint d = gl_SubgroupInvocationID + i * gl_SubgroupSize;
    r[i] = )" + element + R"(;
  }
}
)", v);
  }
  if (dtype == ir::DType::F32)
    return render(R"(void $NAME(uint base, out float r[$N]) {
  AttnF4 b = AttnF4(args.$A);
  uint o = ($START) / 4u;
  for (uint i = 0u; i < $N / 4u; ++i) {
    vec4 x = b.v[o + i];
    r[4u * i] = x.x; r[4u * i + 1u] = x.y; r[4u * i + 2u] = x.z; r[4u * i + 3u] = x.w;
  }
}
)", v);
  // Two 16-bit values per 32-bit word, the lower first.
  v["PAIR"] = dtype == ir::DType::F16 ? "unpackHalf2x16(w)"
                                      : "vec2(uintBitsToFloat(w << 16), uintBitsToFloat(w & 0xffff0000u))";
  v["WIDE"] = unit == 8 ? "AttnU4" : unit == 4 ? "AttnU2" : "AttnU1";
  v["WORDS"] = glsl_uint(unit / 2);
  v["WORD"] = unit == 2 ? "u" : "u[q]";
  v["WIDE_T"] = unit == 8 ? "uvec4" : unit == 4 ? "uvec2" : "uint";
  return render(R"(void $NAME(uint base, out float r[$N]) {
  $WIDE b = $WIDE(args.$A);
  uint o = ($START) / $UNIT;
  for (uint i = 0u; i < $N / $UNIT; ++i) {
    $WIDE_T u = b.v[o + i];
    for (uint q = 0u; q < $WORDS; ++q) {
      uint w = $WORD;
      vec2 x = $PAIR;
      r[$UNIT * i + 2u * q] = x.x;
      r[$UNIT * i + 2u * q + 1u] = x.y;
    }
  }
}
)", v);
}

// The GQA split kernel of paged_attention_partial (see the top of this file), or nullopt when it
// does not fit the device or the shape (then the generic kernel serves each head alone).
std::optional<KernelPlan> split_subgroup_plan(const EmitContext& ctx, const AttentionShape& shape,
                                              const SplitSpec& split) {
  if (!subgroup_kernel_fits(ctx, shape)) return std::nullopt;
  const uint32_t sg = ctx.caps.subgroup_size;
  const LaneSlice k_slice(shape.head_dim, sg), v_slice(shape.value_dim, sg);
  // Registers per lane: the q slices and outputs of HG heads, KB value slices, HG x KB scores.
  constexpr int64_t kRegisterBudget = 64;
  if (k_slice.per_lane > kRegisterBudget || v_slice.per_lane > kRegisterBudget) return std::nullopt;
  constexpr uint32_t kSubgroups = 4;
  const uint32_t local = kSubgroups * sg;
  if (local > ctx.caps.max_workgroup_invocations) return std::nullopt;
  const int64_t shared_budget = std::min<int64_t>(ctx.caps.max_shared_memory_bytes, 24 * 1024);
  const int64_t group = shape.q_heads / shape.kv_heads;
  // With a rope, the HG roped query rows are staged in shared memory once (one rope call site:
  // unrolled per lane element it makes the kernel several times larger to compile).
  const bool rope = ctx.op.has("theta");
  int64_t heads = 0;  // HG: the most heads of one kv head that fit, dividing the group
  for (int64_t hg = group; hg >= 1 && heads == 0; --hg)
    if (group % hg == 0 && hg * std::max(k_slice.per_lane, v_slice.per_lane) <= kRegisterBudget &&
        (static_cast<int64_t>(kSubgroups) * (shape.value_dim + 2) + (rope ? shape.head_dim : 0)) * hg * 4 <=
            shared_budget)
      heads = hg;
  if (heads == 0) return std::nullopt;
  int64_t keys_per_step = 8;  // KB
  while (keys_per_step > 1 &&
         (keys_per_step * v_slice.per_lane > kRegisterBudget || keys_per_step * heads > kRegisterBudget))
    keys_per_step /= 2;

  const ir::Shape& q = ctx.input(0).shape;
  const int64_t head_blocks = shape.q_heads / heads;
  ItemLayout layout = item_layout(ctx, {q[0], ir::Dim::of(head_blocks), ir::Dim::of(split.splits)}, 0, 3, 1);
  const ir::Shape& k = ctx.input(1).shape;
  const int64_t window = ctx.op.attr_int("window", 0);
  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("hq{}_hkv{}_d{}_dv{}_b{}{}{}{}_s{}_g{}_hg{}_sg{}x{}", shape.q_heads,
                                           shape.kv_heads, shape.head_dim, shape.value_dim, ir::to_string(k[1]),
                                           window ? fmt::format("_w{}", window) : "",
                                           ctx.op.attr_float("softcap", 0.0) > 0 ? "_softcap" : "",
                                           ctx.op.has("theta") ? "_rope" : "", split.splits, split.granule, heads, sg,
                                           kSubgroups) +
                               (split.combine ? "_combine" : ""));
  plan.arg_names = split.combine ? kSplitArgs : kPagedArgs;
  plan.local_size = local;
  plan.grid = layout.grid;
  plan.required_subgroup_size = sg;
  const KeyLocation keys = paged_keys(ctx, shape);
  const std::map<std::string, std::string> vars{
      {"LAYOUT", layout.glsl},
      {"KEY_HELPERS", keys.helpers + query_loader(ctx, shape.head_dim) +
                          (rope ? render("shared float q_roped[$HG * $D];\n",
                                         {{"HG", glsl_uint(heads)}, {"D", glsl_uint(shape.head_dim)}})
                                : "")},
      {"Q_STAGE", rope ? render(R"(  for (uint e = tid; e < $HG * $D; e += $L)
    q_roped[e] = ld_q_at((t * $HQ + h0 + e / $D) * $D, e % $D, t);
  barrier();
)",
                                {{"HG", glsl_uint(heads)},
                                 {"D", glsl_uint(shape.head_dim)},
                                 {"L", glsl_uint(local)},
                                 {"HQ", glsl_uint(shape.q_heads)}})
                       : ""},
      {"Q_LOAD", render(rope ? "q_roped[h * $D + d]" : "ld_q((t * $HQ + h0 + h) * $D + d)",
                        {{"D", glsl_uint(shape.head_dim)}, {"HQ", glsl_uint(shape.q_heads)}})},
      {"KEY_RANGE", keys.range},
      {"LOADERS", lane_dim_function("k_dim", k_slice, sg) + lane_dim_function("v_dim", v_slice, sg) +
                      lane_slice_loader("load_k", "k", ctx.input(1).dtype, k_slice) +
                      lane_slice_loader("load_v", "v", ctx.input(2).dtype, v_slice)},
      {"HQ", glsl_uint(shape.q_heads)},
      {"GROUP", glsl_uint(group)},
      {"HG", glsl_uint(heads)},
      {"HB", glsl_uint(head_blocks)},
      {"D", glsl_uint(shape.head_dim)},
      {"DV", glsl_uint(shape.value_dim)},
      {"DL", glsl_uint(k_slice.per_lane)},
      {"DVL", glsl_uint(v_slice.per_lane)},
      {"ENTRY", glsl_uint(shape.value_dim + 2)},
      {"SPLITS", glsl_uint(split.splits)},
      {"SPLITS_I", fmt::format("{}", split.splits)},
      {"GRANULE", fmt::format("{}", split.granule)},
      {"NSG", glsl_uint(kSubgroups)},
      {"NSG_I", fmt::format("{}", kSubgroups)},
      {"KB", fmt::format("{}", keys_per_step)},
      {"L", glsl_uint(local)},
      {"WINDOW", fmt::format("{}", window)},
      {"SCALE", glsl_float(ctx.op.attr_float("scale"))},
      {"CAPPED_J", softcapped(ctx, "score_j")},
      {"NEG_INF", "uintBitsToFloat(0xff800000u)"},
      {"EMPTY_DONE", split.combine ? "combine_when_last(t, h0);\n    return;" : "return;"},
      {"FINISH", split.combine ? "  combine_when_last(t, h0);\n" : ""}};
  plan.body = render(R"(
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer AttnU4 { uvec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) readonly buffer AttnU2 { uvec2 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) readonly buffer AttnU1 { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer AttnF4 { vec4 v[]; };
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

  int p = ld_pos(t);
  int first = $WINDOW > 0 ? max(0, p - $WINDOW + 1) : 0;
$KEY_RANGE
  // This split's run [begin, end) of the n visible keys (ir/README.md "split attention").
  int n = last - first + 1;
  int run = n > 0 ? $GRANULE * ((n + $GRANULE * $SPLITS_I - 1) / ($GRANULE * $SPLITS_I)) : 0;
  int begin = first + int(split) * run, end = min(last + 1, begin + run);
  if (begin >= end) {  // a run past the context (or no context): its entries are zeros
    for (uint e = tid; e < $HG * $ENTRY; e += $L)
      st_result(((t * $HQ + h0 + e / $ENTRY) * $SPLITS + split) * $ENTRY + e % $ENTRY, 0.0);
    $EMPTY_DONE  // the whole workgroup: begin and end are uniform
  }

$Q_STAGE  float q_slice[$HG][$DL];
  for (uint h = 0u; h < $HG; ++h)
    for (uint i = 0u; i < $DL; ++i) {
      uint d = k_dim(i);
      q_slice[h][i] = d < $D ? $Q_LOAD : 0.0;
    }
  float out_acc[$HG][$DVL];
  float run_max[$HG], run_sum[$HG];
  for (uint h = 0u; h < $HG; ++h) {
    run_max[h] = $NEG_INF;
    run_sum[h] = 0.0;
    for (uint i = 0u; i < $DVL; ++i) out_acc[h][i] = 0.0;
  }
  // Subgroup sg takes keys [s0, s0 + KB) for s0 = begin + KB * (sg + NSG * i): uniform in the
  // subgroup, so the subgroupAdd calls are too.
  for (int s0 = begin + $KB * int(sg); s0 < end; s0 += $KB * $NSG_I) {
    float score[$HG][$KB];
    float v_rows[$KB][$DVL];
    bool present[$KB];
    bool any_present = false;
    for (int j = 0; j < $KB; ++j) {
      uint k_base, v_base;
      present[j] = s0 + j < end && key_rows(s0 + j, kv_head, k_base, v_base);
      any_present = any_present || present[j];
      float k_row[$DL], v_row[$DVL];
      if (present[j]) {
        load_k(k_base, k_row);
        load_v(v_base, v_row);  // issued with the key: its latency overlaps the scores'
      } else {
        for (uint i = 0u; i < $DL; ++i) k_row[i] = 0.0;
        for (uint i = 0u; i < $DVL; ++i) v_row[i] = 0.0;
      }
      for (uint i = 0u; i < $DVL; ++i) v_rows[j][i] = v_row[i];
      for (uint h = 0u; h < $HG; ++h) {
        float dot = 0.0;
        for (uint i = 0u; i < $DL; ++i) dot += q_slice[h][i] * k_row[i];
        score[h][j] = dot;
      }
    }
    if (!any_present) continue;
    for (uint h = 0u; h < $HG; ++h) {
      float step_max = $NEG_INF;
      for (int j = 0; j < $KB; ++j) {
        float score_j = $SCALE * subgroupAdd(score[h][j]);
        score[h][j] = present[j] ? $CAPPED_J : $NEG_INF;
        step_max = max(step_max, score[h][j]);
      }
      float new_max = max(run_max[h], step_max);
      float correction = run_max[h] == $NEG_INF ? 0.0 : exp(run_max[h] - new_max);
      run_sum[h] *= correction;
      for (uint i = 0u; i < $DVL; ++i) out_acc[h][i] *= correction;
      for (int j = 0; j < $KB; ++j) {
        if (!present[j]) continue;
        float w = exp(score[h][j] - new_max);
        run_sum[h] += w;
        for (uint i = 0u; i < $DVL; ++i) out_acc[h][i] += w * v_rows[j][i];
      }
      run_max[h] = new_max;
    }
  }

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
    float value = 0.0;
    if (m != $NEG_INF) {
      if (d == $DV) {
        value = m;
      } else {
        for (uint i = 0u; i < $NSG; ++i) {
          uint at = i * $HG + h;
          if (part_sum[at] > 0.0)
            value += (d < $DV ? part_out[at * $DV + d] : part_sum[at]) * exp(part_max[at] - m);
        }
      }
    }
    st_result(((t * $HQ + h0 + h) * $SPLITS + split) * $ENTRY + d, value);
  }
$FINISH}
)", vars);
  if (split.combine)
    plan.body = combine_helpers(shape, split, heads, ctx.input(6).shape[0].value, local) +
                entries_through_coherent_view(plan.body);
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
