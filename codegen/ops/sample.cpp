// sample, and its split form sample_partial + sample_finish (ir/README.md "split sample").
//
// sample: one workgroup per row; every step is a pass over the row's V logits with strided
// invocations (no sort of the row, no scratch buffer, so V is bounded only by 32-bit indexing).
// - Penalties: invocation 0 counts the distinct history ids into a shared-memory hash set (at most
//   half full, so a probe always ends), the others then compute each id's penalized logit once;
//   every later read of logit i checks a 4096-bit filter of the set's ids and probes the set only on
//   a hit (all skipped when the penalties are off).
// - Greedy: the argmax pass of `argmax` (same keys, same tie rule, so the same token) and a sum pass
//   for the log-softmax score.
// - top-k and top-p are thresholds on the float order key (order_key) of the logits, found by a
//   search: each pass counts (top-k) or sums exp((l - max)/T) (top-p) above up to 15 candidate
//   keys at once (one bucket add per token, then suffix sums) and keeps the sub-range where the
//   predicate flips (9 to 16 parts per pass, so 32-bit keys take 8 to 11 passes). min-p is a direct
//   threshold. Ties at a threshold are kept, as the reference does.
// - When top-k leaves at most kCandidates tokens (the usual k of 20-100), one more pass copies them
//   into shared memory (atomic slots, then a bitonic sort by index so every sum runs in a fixed
//   order) and top-p, min-p and the draw work on that list instead of passes over V. The same GLSL
//   serves both: the row-wide and the candidate versions differ only in the loop that visits tokens.
// - The draw: Gumbel-max over the kept tokens with the integer hash of ir/sampling.h and a log
//   accurate near 1 (the builtin's absolute error there would swamp −log(−log(u)) for u near 1).
//
// Why split: one workgroup per row runs on one SM, which reads ~100-200 GB/s and pays 10-15
// dependent passes over V; at batch 1 a 151k vocabulary costs ~0.3 ms while the GPU idles. The
// split-decode-sample pass (decode graphs) spreads each row over P chunks of C = ceil(V / P) tokens:
// - sample_partial: one workgroup per (row, chunk). It stages the chunk's logits in shared memory
//   (one read of V per row in all), applies the penalties there (each history id in the chunk is
//   penalized once, by the invocation holding its first occurrence, from its count in the history:
//   the same f32 expression as sample), then writes the chunk's (max, argmax with the lowest-index
//   tie rule, Σ exp((l - max)·inv_t)) and, when top-k is on, the chunk's own threshold q = its
//   min(k, Q)-th largest logit (the same count search as sample, over shared memory) and every token
//   with l >= q, in index order (a workgroup prefix sum places them), at most Q of them.
// - sample_finish: one workgroup per row, reading only the P entries in the common cases:
//   greedy: argmax over the chunks' (max key, argmax) pairs — the same key and tie rule as one pass,
//   so the same token — and Z = Σ_j s_j·exp(m_j − M) for the score.
//   top-k with k <= kCandidates: the chunks' candidates (at most P·Q, index-ordered) are copied to
//   shared memory and the k-th largest key of that union is found by the same search. Every token
//   left out of the union is below its chunk's q, so the union holds every kept token exactly when
//   each chunk kept all it found (count <= Q) and each incomplete chunk has q <= the cut: then the
//   cut is the row's and the survivors (<= kCandidates, copied in index order) are the very list
//   sample builds, and top-p, min-p and the draw run on it unchanged — same tokens, same sums in the
//   same order. Otherwise (ties or a chunk holding more than Q of the top k), and for top-p / min-p /
//   temperature without top-k or k > kCandidates, the finish falls back to sample's row-wide passes
//   (it still saves the max pass: M comes from the chunks). A device whose shared memory cannot hold
//   the P·Q candidates next to the row-wide kernel's arrays (the 16 KiB generic profile) gets a finish
//   without the candidate path (kernel name ending `_rowwide`): top-k then always goes row-wide.
// Chunks (at most kMaxChunk, the pass picks <= 2048) and P·Q (<= kMaxUnion) are bounded by shared
// memory, not by correctness. Why not "the last workgroup finishes" with an atomic counter: it needs
// release/acquire across workgroups through device memory, which lavapipe and NVIDIA both support
// under the Vulkan memory model but which this codebase has no tested pattern for; a second dispatch
// costs ~2 µs and keeps each kernel's reads plain.
// Two dispatches instead of one (+1 per decode step). The combine over chunks is a plain two-level
// sum, deterministic for a given P. Expected H200 cost at V = 151936 (P = 75 chunks of 2026 tokens,
// Q = 54): partial ~3-5 µs (75 workgroups per row, 8 KB each, ~10 barrier-separated steps plus the
// count search when top-k is on), finish ~2-3 µs greedy, ~6-10 µs for top-k (a search over <= 4096
// values in shared memory, then sample's candidate finish), against ~320 µs for sample.
#include <fmt/format.h>

#include <functional>

#include "codegen/ops/glsl.h"
#include "ir/sampling.h"

namespace vkllm::codegen::ops {
namespace {

constexpr uint32_t kSearchLanes = 15;    // candidate thresholds per search pass
constexpr uint32_t kFilterBits = 4096;   // bitmap in front of the hash set: most ids are not in it
constexpr uint32_t kCandidates = 512;    // top-k survivors kept in shared memory
constexpr int64_t kMaxChunk = 4096;      // sample_partial: logits of a chunk staged in shared memory
constexpr int64_t kMaxUnion = 4096;      // sample_finish: chunk candidates staged in shared memory (P·Q)

uint32_t next_pow2(uint32_t x) {
  uint32_t p = 1;
  while (p < x) p *= 2;
  return p;
}

// Shared memory of the reductions and lane sums every kernel here declares for `local` invocations.
uint32_t reduction_bytes(uint32_t local) { return 4 * (local * kSearchLanes + 3 * local + kSearchLanes); }

// Shared memory of the row-wide kernel (sample, and sample_finish's fallback) with a hash set of
// `table` slots.
uint32_t row_bytes(uint32_t local, uint32_t table) {
  return reduction_bytes(local) + 4 * (3 * table + 2 * kCandidates + 2) + kFilterBits / 8;
}

// The largest local size (from `local` down, halving) whose shared memory fits the device.
uint32_t fit_local(const EmitContext& ctx, uint32_t local, const std::function<uint32_t(uint32_t)>& bytes) {
  while (local > kSearchLanes + 1 && bytes(local) > ctx.caps.max_shared_memory_bytes) local /= 2;
  if (bytes(local) > ctx.caps.max_shared_memory_bytes)
    ctx.fail(fmt::format("needs {} bytes of shared memory; the device has {}", bytes(local),
                         ctx.caps.max_shared_memory_bytes));
  return local;
}

// The search, instantiated per token visit: $SUF names it, $VISIT opens a loop body with `uint i`
// (token) and `float x` (its logit).
constexpr const char* kSearchSource = R"(
// The largest key K in [lo, hi] whose total reaches `target`, where total(K) adds, over the tokens
// with order_key(logit) >= K, 1 (mass = false: a count) or exp((logit - m) * inv_t). total(lo) >=
// target is the caller's to ensure. Every invocation returns the same K.
// Every key of the row is <= hi. Candidates are lo + (j + 1) * 2^shift for j < J (those <= hi), with
// 2^(shift + 4) > hi - lo: 8 to 15 candidates, so a pass leaves at most 1/9 of the range. A pass adds each token
// into one bucket (how many candidates its key reaches); the totals are the buckets' suffix sums.
uint search_keys$SUF(uint base, bool penalties, uint n, uint lo, uint hi, float target, bool mass, float m, float inv_t) {
  uint tid = gl_LocalInvocationID.x;
  while (lo < hi) {
    uint shift = uint(max(findMSB(hi - lo) - 3, 0));
    float bucket[$J];
    for (uint j = 0u; j < $J; ++j) bucket[j] = 0.0;
    $VISIT
      uint key = order_key(x);
      if (key < lo || ((key - lo) >> shift) == 0u) continue;  // below every candidate
      bucket[min((key - lo) >> shift, $J) - 1u] += mass ? exp((x - m) * inv_t) : 1.0;
    }
    float total = wg_sum_lanes(bucket);
    if (tid < $J) search_total[tid] = total;
    barrier();
    uint new_lo = lo, new_hi = hi;
    float reached = 0.0;  // total of candidate j: the tokens in buckets j and above
    uint last = min((hi - lo) >> shift, $J);  // candidates <= hi
    for (uint j = $J; j-- > 0u;) {
      reached += search_total[j];
      if (j >= last) continue;
      if (reached >= target) {
        new_lo = lo + ((j + 1u) << shift);
        if (j + 1u < last) new_hi = lo + ((j + 2u) << shift) - 1u;
        break;
      }
      if (j == 0u) new_hi = lo + (1u << shift) - 1u;
    }
    barrier();
    lo = new_lo;
    hi = new_hi;
  }
  return lo;
}
)";

// top-p over the tokens with key >= cut, then min-p and the draw; writes the row's results.
constexpr const char* kFinishSource = R"(
void finish$SUF(uint row, uint base, bool penalties, uint n, float m, float inv_t, uint max_key, uint cut,
                float top_p, float min_p) {
  uint tid = gl_LocalInvocationID.x;
  if (top_p < 1.0) {
    float z = 0.0;
    $VISIT
      if (order_key(x) >= cut) z += exp((x - m) * inv_t);
    }
    z = wg_sum(z);
    cut = search_keys$SUF(base, penalties, n, cut, max_key, top_p * z, true, m, inv_t);
  }
  float log_min_p = min_p > 0.0 ? ln_f32(min(min_p, 1.0)) : uintBitsToFloat(0xff800000u);
  uint a = sample_mix32(uint(ld_rng(row * 2u)) ^ 0x9e3779b9u);
  uint b = sample_mix32(uint(ld_rng(row * 2u + 1u)) ^ a);
  uint best_key = 0u;
  int best_index = 0x7fffffff;
  float best_x = 0.0, kept = 0.0;
  $VISIT
    if (order_key(x) < cut) continue;
    float scaled = (x - m) * inv_t;
    if (scaled < log_min_p) continue;
    kept += exp(scaled);
    uint key = order_key(scaled + gumbel(a, b, i));
    if (wg_better(key, int(i), best_key, best_index)) {
      best_key = key;
      best_index = int(i);
      best_x = x;
    }
  }
  int own_index = best_index;
  wg_argmax(best_key, best_index);
  bool found = best_index != 0x7fffffff;  // false only for NaN logits
  if (found && own_index == best_index) chosen_logit = best_x;  // the invocation that visited the token
  barrier();
  kept = wg_sum(kept);
  if (tid == 0u) {
    st_tokens(row, found ? best_index : -1);
    st_scores(row, found ? (chosen_logit - m) * inv_t - log(kept) : uintBitsToFloat(0x7fc00000u));
  }
}
)";

std::string instantiate(const char* source, const std::string& suffix, const std::string& visit) {
  std::string out = source;
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"$SUF", suffix}, {"$VISIT", visit}})
    for (size_t at = out.find(from); at != std::string::npos; at = out.find(from, at + to.size()))
      out.replace(at, from.size(), to);
  return out;
}

// Token visits: every token of the row (penalized through the hash set), the candidates copied to
// shared memory, the chunk staged by sample_partial, the union of the chunks' candidates.
const std::string kVisitRow = "for (uint i = tid; i < $V; i += $L) {\n    float x = logit_at(base, i, penalties);";
const std::string kVisitKept = "for (uint c = tid; c < n; c += $L) {\n    uint i = cand_index[c];\n    float x = cand_value[c];";
const std::string kVisitChunk = "for (uint i = tid; i < n; i += $L) {\n    float x = chunk_value[i];";
const std::string kVisitUnion = "for (uint i = tid; i < n; i += $L) {\n    float x = union_value[i];";

// The row-wide machinery: hash set of the history, logit reads, noise, candidate sort, the search
// and the finish over the row and over the candidates. Declares `chosen_logit`.
constexpr const char* kRowSource = R"(
shared int table_id[$TBL];       // distinct history ids (-1: empty slot)
shared int table_count[$TBL];    // occurrences of each in the history
shared float table_value[$TBL];  // its penalized logit
shared uint table_filter[$FILTER_WORDS];  // bit (id & $FILTER_MASK) set for every id in the set
shared float search_total[$J];   // one search pass's totals, for every invocation
shared uint cand_count;          // top-k survivors: how many, which tokens, their logits
shared uint cand_index[$CAP];
shared float cand_value[$CAP];
shared float chosen_logit;       // the drawn token's logit, from the invocation that visited it

uint sample_mix32(uint x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}
uint table_slot(uint id) { return sample_mix32(id) & ($TBL - 1u); }

// Logit i of the row at `base`, penalized when its id is in the history.
float logit_at(uint base, uint i, bool penalties) {
  uint bit = i & $FILTER_MASK;
  if (penalties && (table_filter[bit >> 5u] & (1u << (bit & 31u))) != 0u) {
    for (uint s = table_slot(i);; s = (s + 1u) & ($TBL - 1u)) {
      int id = table_id[s];
      if (id == int(i)) return table_value[s];
      if (id < 0) break;
    }
  }
  return ld_logits(base + i);
}

// Fills the hash set with the row's distinct history ids in [0, V), their counts and penalized logits.
void build_penalty_table(uint row, uint base, float repetition, float presence, float frequency) {
  uint tid = gl_LocalInvocationID.x;
  for (uint s = tid; s < $TBL; s += $L) {
    table_id[s] = -1;
    table_count[s] = 0;
  }
  for (uint w = tid; w < $FILTER_WORDS; w += $L) table_filter[w] = 0u;
  barrier();
  if (tid == 0u) {
    for (uint j = 0u; j < $H; ++j) {
      int id = ld_history(row * $H + j);
      if (id < 0 || uint(id) >= $V) continue;
      uint s = table_slot(uint(id));
      while (table_id[s] >= 0 && table_id[s] != id) s = (s + 1u) & ($TBL - 1u);
      table_id[s] = id;
      table_count[s] += 1;
      uint bit = uint(id) & $FILTER_MASK;
      table_filter[bit >> 5u] |= 1u << (bit & 31u);
    }
  }
  barrier();
  for (uint s = tid; s < $TBL; s += $L) {
    int id = table_id[s];
    if (id < 0) continue;
    float x = ld_logits(base + uint(id));
    x = x > 0.0 ? x / repetition : x * repetition;
    table_value[s] = x - (presence + frequency * float(table_count[s]));
  }
  barrier();
}

// ln(x) for finite x > 0 with a few ulps of relative error, near 1 included.
float ln_f32(float x) {
  int e;
  float f = frexp(x, e);  // x = f * 2^e, f in [0.5, 1)
  if (f < 0.70710678) {
    f *= 2.0;
    e -= 1;
  }
  float s = (f - 1.0) / (f + 1.0);  // |s| <= 0.1716; f - 1 is exact
  float s2 = s * s;
  float series = 1.0 + s2 * (0.33333333 + s2 * (0.2 + s2 * (0.14285714 + s2 * 0.11111111)));
  return float(e) * 0.69314718 + 2.0 * s * series;
}

// Gumbel noise of token i for the row key's halves mixed into a and b (ir/sampling.h).
float gumbel(uint a, uint b, uint i) {
  uint h = sample_mix32(sample_mix32(i + b) ^ a);
  float u = (float(h >> 9u) + 0.5) * 1.1920928955078125e-7;  // exact, in (0, 1)
  return -ln_f32(-ln_f32(u));
}

// Sorts the first n candidates by token index (bitonic, over the next power of two, padded with
// indices that sort last), so that sums over them run in one fixed order.
void sort_candidates(uint n) {
  uint tid = gl_LocalInvocationID.x, size = 1u;
  while (size < n) size <<= 1u;
  for (uint c = n + tid; c < size; c += $L) cand_index[c] = 0xffffffffu;
  barrier();
  for (uint k = 2u; k <= size; k <<= 1u)
    for (uint j = k >> 1u; j > 0u; j >>= 1u) {
      for (uint c = tid; c < size; c += $L) {
        uint partner = c ^ j;
        if (partner <= c) continue;
        uint ic = cand_index[c], ip = cand_index[partner];
        if ((ic > ip) == ((c & k) == 0u)) {
          cand_index[c] = ip;
          cand_index[partner] = ic;
          float t = cand_value[c];
          cand_value[c] = cand_value[partner];
          cand_value[partner] = t;
        }
      }
      barrier();
    }
}
)";

// The row-wide path from the maximum m on: the top-k search, the copy of few survivors, the finish.
constexpr const char* kRowPath = R"(
 {
  uint max_key = order_key(m);
  uint cut = 0u;  // kept: order_key(logit) >= cut
  if (top_k >= 1.0 && top_k < float($V)) {
    cut = search_keys_all(base, penalties, 0u, 0u, max_key, floor(top_k), false, m, inv_t);
    if (top_k < float($CAP) + 1.0) {
      // Few survivors (more only through ties at the k-th logit): continue on a copy of them.
      if (tid == 0u) cand_count = 0u;
      barrier();
      for (uint i = tid; i < $V; i += $L) {
        float x = logit_at(base, i, penalties);
        if (order_key(x) < cut) continue;
        uint slot = atomicAdd(cand_count, 1u);
        if (slot < $CAP) {
          cand_index[slot] = i;
          cand_value[slot] = x;
        }
      }
      barrier();
      uint n = cand_count;
      if (n <= $CAP) {
        sort_candidates(n);
        finish_kept(row, base, penalties, n, m, inv_t, max_key, cut, top_p, min_p);
        return;
      }
    }
  }
  finish_all(row, base, penalties, 0u, m, inv_t, max_key, cut, top_p, min_p);
 }
)";

// Reads a row's parameters (every kernel here has the `settings` operand at its usual place).
constexpr const char* kReadParams = R"(
  float temperature = ld_settings(row * 8u + 0u), top_k = ld_settings(row * 8u + 1u);
  float top_p = ld_settings(row * 8u + 2u), min_p = ld_settings(row * 8u + 3u);
  float repetition = ld_settings(row * 8u + 4u), presence = ld_settings(row * 8u + 5u);
  float frequency = ld_settings(row * 8u + 6u);
  bool penalties = repetition != 1.0 || presence != 0.0 || frequency != 0.0;
)";

// Exclusive prefix sum of one uint per invocation, in invocation order (Hillis-Steele over shared
// memory); `total` receives the sum over the workgroup.
constexpr const char* kScanSource = R"(
shared uint scan_part[$L];
uint wg_exclusive_scan(uint v, out uint total) {
  uint tid = gl_LocalInvocationID.x;
  scan_part[tid] = v;
  barrier();
  for (uint d = 1u; d < $L; d <<= 1u) {
    uint add = tid >= d ? scan_part[tid - d] : 0u;
    barrier();
    scan_part[tid] += add;
    barrier();
  }
  total = scan_part[$L - 1u];
  uint before = scan_part[tid] - v;
  barrier();
  return before;
}
// The float whose order_key is `key` (not NaN; -0 comes back as +0).
float key_value(uint key) { return uintBitsToFloat((key & 0x80000000u) != 0u ? key & 0x7fffffffu : ~key); }
)";

// What the row-wide kernels share: the history's hash set size and the template variables.
struct RowSetup {
  uint32_t table = 16;
  std::map<std::string, std::string> vars;
};

RowSetup row_setup(const EmitContext& ctx, const ir::Dim& vocab, int64_t history) {
  // Counts are summed in f32, exact below 2^24.
  if (vocab.is_const() && vocab.value >= (int64_t{1} << 24))
    ctx.fail(fmt::format("a vocabulary of {} is too large for sample (at most 2^24 - 1)", vocab.value));
  if (history > (1 << 20)) ctx.fail(fmt::format("a history of {} tokens is too long for shared memory", history));
  RowSetup s;
  s.table = std::max<uint32_t>(16, next_pow2(static_cast<uint32_t>(2 * history)));
  s.vars = {{"V", ctx.dim(vocab)},
            {"H", glsl_uint(history)},
            {"TBL", glsl_uint(s.table)},
            {"FILTER_WORDS", glsl_uint(kFilterBits / 32)},
            {"FILTER_MASK", glsl_uint(kFilterBits - 1)},
            {"CAP", glsl_uint(kCandidates)},
            {"J", glsl_uint(kSearchLanes)}};
  return s;
}

// The row-wide GLSL (helpers, searches, finishes) for `local` invocations.
std::string row_functions(const EmitContext& ctx, uint32_t local, std::map<std::string, std::string> vars) {
  vars["L"] = glsl_uint(local);
  const std::string per_source = instantiate(kSearchSource, "_all", kVisitRow) +
                                 instantiate(kSearchSource, "_kept", kVisitKept) +
                                 instantiate(kFinishSource, "_all", kVisitRow) +
                                 instantiate(kFinishSource, "_kept", kVisitKept);
  return workgroup_reductions(ctx.caps, local) + workgroup_lane_sums(ctx.caps, local, kSearchLanes) +
         render(kRowSource, vars) + render(per_source, vars);
}

}  // namespace

KernelPlan emit_sample(const EmitContext& ctx) {
  const ir::Shape& shape = ctx.input(0).shape;  // logits [R, V]
  const int64_t history = const_dim(ctx, ctx.input(3).shape[1], "the history length H of sample");
  RowSetup setup = row_setup(ctx, shape[1], history);
  const uint32_t local =
      fit_local(ctx, std::max<uint32_t>(local_size_for(ctx, shape[1], 256), kSearchLanes + 1),
                [&](uint32_t l) { return row_bytes(l, setup.table); });
  std::map<std::string, std::string> vars = setup.vars;
  vars["L"] = glsl_uint(local);

  ItemLayout layout = item_layout(ctx, shape, 0, 1, 1);
  vars["LAYOUT"] = layout.glsl;
  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("h{}", history));
  plan.arg_names = {"logits", "settings", "rng", "history", "tokens", "scores"};  // "params" is the step-params buffer
  plan.local_size = local;
  plan.grid = layout.grid;
  plan.body = row_functions(ctx, local, vars) + render(std::string(R"(
void main() {
$LAYOUT
  uint row = item_begin, base = row * $V, tid = gl_LocalInvocationID.x;)") + kReadParams + R"(
  if (penalties) build_penalty_table(row, base, repetition, presence, frequency);

  if (!(temperature > 0.0)) {
    // Greedy: argmax (as the argmax op) and its log-softmax.
    uint best_key = 0u;
    int best_index = 0x7fffffff;
    for (uint i = tid; i < $V; i += $L) {
      uint key = order_key(logit_at(base, i, penalties));
      if (wg_better(key, int(i), best_key, best_index)) {
        best_key = key;
        best_index = int(i);
      }
    }
    wg_argmax(best_key, best_index);
    bool found = best_index != 0x7fffffff;  // false only for an empty row
    float best = found ? logit_at(base, uint(best_index), penalties) : 0.0;
    float sum = 0.0;
    for (uint i = tid; i < $V; i += $L) sum += exp(logit_at(base, i, penalties) - best);
    sum = wg_sum(sum);
    if (tid == 0u) {
      st_tokens(row, found ? best_index : -1);
      st_scores(row, found ? -log(sum) : uintBitsToFloat(0x7fc00000u));
    }
    return;
  }

  float inv_t = 1.0 / temperature;
  float m = uintBitsToFloat(0xff800000u);
  for (uint i = tid; i < $V; i += $L) m = max(m, logit_at(base, i, penalties));
  m = wg_max(m);
)" + kRowPath + "}\n",
                                                                                 vars);
  return plan;
}

// Geometry of the split form, from the partials' type [R, P, 5 + 2Q] and V.
struct SplitGeometry {
  int64_t vocab, splits, candidates, width, chunk;
};

SplitGeometry split_geometry(const EmitContext& ctx, const ir::Shape& logits, const ir::Shape& partials) {
  SplitGeometry g{};
  g.vocab = const_dim(ctx, logits[1], "the vocabulary V of a split sample");
  g.splits = partials[1].value;  // constants (verifier)
  g.width = partials[2].value;
  g.candidates = (g.width - ir::kSamplePartialHeader) / 2;
  g.chunk = (g.vocab + g.splits - 1) / g.splits;
  if (g.chunk > kMaxChunk)
    ctx.fail(fmt::format("chunks of {} logits ({} over {} splits) exceed the {} sample_partial stages in shared memory",
                         g.chunk, g.vocab, g.splits, kMaxChunk));
  if (g.splits * g.candidates > kMaxUnion)
    ctx.fail(fmt::format("{} splits x {} candidates exceed the {} candidates sample_finish stages in shared memory",
                         g.splits, g.candidates, kMaxUnion));
  return g;
}

KernelPlan emit_sample_partial(const EmitContext& ctx) {
  const ir::Shape& shape = ctx.input(0).shape;  // logits [R, V]
  const int64_t history = const_dim(ctx, ctx.input(2).shape[1], "the history length H of sample_partial");
  const SplitGeometry g = split_geometry(ctx, shape, ctx.result(0).shape);
  const uint32_t local = fit_local(ctx, std::max<uint32_t>(local_size_for(ctx, ir::Dim::of(g.chunk), 256), kSearchLanes + 1),
                                   [&](uint32_t l) { return reduction_bytes(l) + 4 * (static_cast<uint32_t>(g.chunk) + l); });
  ItemLayout layout = item_layout(ctx, ctx.result(0).shape, 0, 2, 1);  // one workgroup per (row, chunk)
  const std::map<std::string, std::string> vars{{"LAYOUT", layout.glsl},
                                                {"V", glsl_uint(g.vocab)},
                                                {"H", glsl_uint(history)},
                                                {"P", glsl_uint(g.splits)},
                                                {"Q", glsl_uint(g.candidates)},
                                                {"W", glsl_uint(g.width)},
                                                {"C", glsl_uint(g.chunk)},
                                                {"J", glsl_uint(kSearchLanes)},
                                                {"L", glsl_uint(local)}};
  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("p{}q{}h{}", g.splits, g.candidates, history));
  plan.arg_names = {"logits", "settings", "history", "partials"};
  plan.local_size = local;
  plan.grid = layout.grid;
  plan.body = workgroup_reductions(ctx.caps, local) + workgroup_lane_sums(ctx.caps, local, kSearchLanes) +
              render(kScanSource, vars) + render(R"(
shared float search_total[$J];
shared float chunk_value[$C];  // the chunk's logits, penalized
)", vars) + render(instantiate(kSearchSource, "_chunk", kVisitChunk), vars) +
              render(std::string(R"(
void main() {
$LAYOUT
  uint row = item_begin / $P, chunk = item_begin % $P, tid = gl_LocalInvocationID.x;
  uint start = chunk * $C, len = start < $V ? min($C, $V - start) : 0u;
  uint base = row * $V + start, entry = item_begin * $W;)") + kReadParams + R"(
  for (uint t = tid; t < len; t += $L) chunk_value[t] = ld_logits(base + t);
  barrier();
  if (penalties) {
    // Each distinct history id of the chunk, by the invocation holding its first occurrence.
    for (uint h = tid; h < $H; h += $L) {
      int id = ld_history(row * $H + h);
      if (id < int(start) || id >= int(start + len)) continue;
      uint earlier = 0u, count = 0u;  // one branch-free pass: independent loads, no early exit
      for (uint e = 0u; e < $H; ++e) {
        bool same = ld_history(row * $H + e) == id;
        earlier += same && e < h ? 1u : 0u;
        count += same ? 1u : 0u;
      }
      if (earlier != 0u) continue;
      float x = chunk_value[uint(id) - start];
      x = x > 0.0 ? x / repetition : x * repetition;
      chunk_value[uint(id) - start] = x - (presence + frequency * float(count));
    }
    barrier();
  }

  uint best_key = 0u;
  int best_index = 0x7fffffff;
  for (uint t = tid; t < len; t += $L) {
    uint key = order_key(chunk_value[t]);
    if (wg_better(key, int(t), best_key, best_index)) {
      best_key = key;
      best_index = int(t);
    }
  }
  wg_argmax(best_key, best_index);
  bool found = best_index != 0x7fffffff;  // false only for an empty chunk
  float m = found ? chunk_value[best_index] : uintBitsToFloat(0xff800000u);
  float inv_t = temperature > 0.0 ? 1.0 / temperature : 1.0;
  float sum = 0.0;
  for (uint t = tid; t < len; t += $L) sum += exp((chunk_value[t] - m) * inv_t);
  sum = wg_sum(sum);

  // top-k on: every token at or above the chunk's min(k, Q)-th largest logit, in index order.
  uint n = 0u;
  float threshold = 0.0;
  uint k = top_k >= 1.0 && top_k < float($V) ? uint(top_k) : 0u;
  if (temperature > 0.0 && k > 0u && len > 0u) {
    uint cut = search_keys_chunk(0u, false, len, 0u, best_key, float(min(min(k, $Q), len)), false, m, inv_t);
    threshold = key_value(cut);
    const uint seg = ($C + $L - 1u) / $L;
    uint from = min(tid * seg, len), to = min(from + seg, len), mine = 0u;
    for (uint t = from; t < to; ++t) mine += order_key(chunk_value[t]) >= cut ? 1u : 0u;
    uint at = wg_exclusive_scan(mine, n);
    for (uint t = from; t < to; ++t) {
      if (order_key(chunk_value[t]) < cut) continue;
      if (at < $Q) {
        st_partials(entry + 5u + 2u * at, float(start + t));
        st_partials(entry + 6u + 2u * at, chunk_value[t]);
      }
      ++at;
    }
  }
  for (uint e = min(n, $Q) + tid; e < $Q; e += $L) {
    st_partials(entry + 5u + 2u * e, 0.0);
    st_partials(entry + 6u + 2u * e, 0.0);
  }
  if (tid == 0u) {
    st_partials(entry, m);
    st_partials(entry + 1u, found ? float(start + uint(best_index)) : -1.0);
    st_partials(entry + 2u, sum);
    st_partials(entry + 3u, float(n));
    st_partials(entry + 4u, threshold);
  }
}
)",
                     vars);
  return plan;
}

KernelPlan emit_sample_finish(const EmitContext& ctx) {
  const ir::Shape& shape = ctx.input(0).shape;  // logits [R, V]
  const int64_t history = const_dim(ctx, ctx.input(3).shape[1], "the history length H of sample_finish");
  const SplitGeometry g = split_geometry(ctx, shape, ctx.input(4).shape);
  RowSetup setup = row_setup(ctx, shape[1], history);
  const auto union_bytes = [&](uint32_t l) {
    return 4 * static_cast<uint32_t>(g.splits * g.candidates + 2 * g.splits + 2) + 4 * l;
  };
  // A device with too little shared memory for the candidates (16 KiB: the generic profile) gets a
  // finish whose top-k always takes the row-wide path; greedy still reads the entries only.
  constexpr uint32_t kFewest = kSearchLanes + 1;
  const bool use_union = row_bytes(kFewest, setup.table) + union_bytes(kFewest) <= ctx.caps.max_shared_memory_bytes;
  const uint32_t local =
      fit_local(ctx, std::max<uint32_t>(local_size_for(ctx, shape[1], 256), kFewest),
                [&](uint32_t l) { return row_bytes(l, setup.table) + (use_union ? union_bytes(l) : 4 * l); });
  std::map<std::string, std::string> vars = setup.vars;
  vars["L"] = glsl_uint(local);
  vars["P"] = glsl_uint(g.splits);
  vars["Q"] = glsl_uint(g.candidates);
  vars["W"] = glsl_uint(g.width);
  vars["C"] = glsl_uint(g.chunk);
  vars["PQ"] = glsl_uint(use_union ? g.splits * g.candidates : 1);
  vars["UNION"] = use_union ? "true" : "false";

  ItemLayout layout = item_layout(ctx, shape, 0, 1, 1);
  vars["LAYOUT"] = layout.glsl;
  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("p{}q{}h{}{}", g.splits, g.candidates, history, use_union ? "" : "_rowwide"));
  plan.arg_names = {"logits", "settings", "rng", "history", "partials", "tokens", "scores"};
  plan.local_size = local;
  plan.grid = layout.grid;
  plan.body = row_functions(ctx, local, vars) + render(kScanSource, vars) + render(R"(
shared float union_value[$PQ];  // the chunks' candidates, chunk after chunk: index order
shared uint chunk_count[$P];    // candidates each chunk found (more than Q: some not stored)
shared uint chunk_offset[$P + 1u];
shared uint union_complete;     // every chunk stored all it found, and they are at least k
)", vars) + render(instantiate(kSearchSource, "_union", kVisitUnion), vars) +
              render(std::string(R"(
uint chunk_length(uint j) { return j * $C < $V ? min($C, $V - j * $C) : 0u; }

void main() {
$LAYOUT
  uint row = item_begin, base = row * $V, tid = gl_LocalInvocationID.x, entries = row * $P * $W;)") +
                         kReadParams + R"(
  // The row's argmax and maximum from the chunks' (same keys and tie rule as one pass over the row),
  // and Z = Σ exp((l - M) * inv_t) from their sums.
  float inv_t = temperature > 0.0 ? 1.0 / temperature : 1.0;
  uint best_key = 0u;
  int best_index = 0x7fffffff;
  float m = uintBitsToFloat(0xff800000u);
  for (uint j = tid; j < $P; j += $L) {
    int index = int(ld_partials(entries + j * $W + 1u));
    if (index < 0) continue;  // an empty chunk
    float mj = ld_partials(entries + j * $W);
    m = max(m, mj);
    if (wg_better(order_key(mj), index, best_key, best_index)) {
      best_key = order_key(mj);
      best_index = index;
    }
  }
  wg_argmax(best_key, best_index);
  m = wg_max(m);
  if (!(temperature > 0.0)) {
    float z = 0.0;
    for (uint j = tid; j < $P; j += $L)
      if (ld_partials(entries + j * $W + 1u) >= 0.0)
        z += ld_partials(entries + j * $W + 2u) * exp(ld_partials(entries + j * $W) - m);
    z = wg_sum(z);
    if (tid == 0u) {
      bool found = best_index != 0x7fffffff;  // false only for an empty row
      st_tokens(row, found ? best_index : -1);
      st_scores(row, found ? -log(z) : uintBitsToFloat(0x7fc00000u));
    }
    return;
  }

  uint max_key = order_key(m);
  uint k = top_k >= 1.0 && top_k < float($V) ? uint(top_k) : 0u;
  if ($UNION && k > 0u && k <= $CAP) {
    for (uint j = tid; j < $P; j += $L) chunk_count[j] = uint(ld_partials(entries + j * $W + 3u));
    barrier();
    if (tid == 0u) {
      uint total = 0u;
      bool stored = true;
      for (uint j = 0u; j < $P; ++j) {
        chunk_offset[j] = total;
        stored = stored && chunk_count[j] <= $Q;
        total += min(chunk_count[j], $Q);
      }
      chunk_offset[$P] = total;
      union_complete = stored && total >= k ? 1u : 0u;
    }
    barrier();
    if (union_complete != 0u) {
      uint n = chunk_offset[$P];
      for (uint w = tid; w < $PQ; w += $L) {
        uint j = w / $Q, e = w % $Q;
        if (chunk_offset[j] + e < chunk_offset[j + 1u])
          union_value[chunk_offset[j] + e] = ld_partials(entries + j * $W + 6u + 2u * e);
      }
      barrier();
      uint cut = search_keys_union(base, false, n, 0u, max_key, float(k), false, m, inv_t);
      // A chunk's tokens left out of the union are below its threshold: they stay out of the row's
      // top k when that threshold is <= the cut.
      float missed = 0.0;
      for (uint j = tid; j < $P; j += $L)
        if (chunk_count[j] != chunk_length(j) && order_key(ld_partials(entries + j * $W + 4u)) > cut) missed = 1.0;
      missed = wg_max(missed);
      uint seg = (n + $L - 1u) / $L, from = min(tid * seg, n), to = min(from + seg, n), mine = 0u;
      for (uint u = from; u < to; ++u) mine += order_key(union_value[u]) >= cut ? 1u : 0u;
      uint kept;
      uint at = wg_exclusive_scan(mine, kept);
      if (missed == 0.0 && kept <= $CAP) {
        // The survivors, in index order: exactly the candidate list of the row-wide path.
        uint j = 0u;
        for (uint u = from; u < to; ++u) {
          if (order_key(union_value[u]) < cut) continue;
          while (chunk_offset[j + 1u] <= u) ++j;
          cand_index[at] = uint(ld_partials(entries + j * $W + 5u + 2u * (u - chunk_offset[j])));
          cand_value[at] = union_value[u];
          ++at;
        }
        barrier();
        finish_kept(row, base, false, kept, m, inv_t, max_key, cut, top_p, min_p);
        return;
      }
    }
  }

  // The row-wide path of sample (its maximum pass saved: m is the row's maximum already).
  if (penalties) build_penalty_table(row, base, repetition, presence, frequency);
)" + kRowPath + "}\n",
                     vars);
  return plan;
}

}  // namespace vkllm::codegen::ops
