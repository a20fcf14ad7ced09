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
#include <fmt/format.h>

#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {
namespace {

constexpr uint32_t kSearchLanes = 15;    // candidate thresholds per search pass
constexpr uint32_t kFilterBits = 4096;   // bitmap in front of the hash set: most ids are not in it
constexpr uint32_t kCandidates = 512;    // top-k survivors kept in shared memory

uint32_t next_pow2(uint32_t x) {
  uint32_t p = 1;
  while (p < x) p *= 2;
  return p;
}

// Shared memory the kernel declares for `local` invocations and a hash set of `table` slots.
uint32_t shared_bytes(uint32_t local, uint32_t table) {
  return 4 * (local * kSearchLanes + 3 * local + 3 * table + kSearchLanes + 2 * kCandidates + 1) + kFilterBits / 8;
}

// Functions instantiated twice: $SUF `_all` visits every token of the row, `_kept` the candidates
// in shared memory. $VISIT opens a loop body with `uint i` (token) and `float x` (its logit).
constexpr const char* kPerSource = R"(
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

// top-p over the tokens with key >= cut, then min-p and the draw; writes the row's results.
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
    }
  }
  wg_argmax(best_key, best_index);
  kept = wg_sum(kept);
  if (tid == 0u) {
    bool found = best_index != 0x7fffffff;  // false only for NaN logits
    st_tokens(row, found ? best_index : -1);
    st_scores(row, found ? (logit_at(base, uint(best_index), penalties) - m) * inv_t - log(kept)
                         : uintBitsToFloat(0x7fc00000u));
  }
}
)";

std::string instantiate(const std::string& suffix, const std::string& visit) {
  std::string out = kPerSource;
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"$SUF", suffix}, {"$VISIT", visit}})
    for (size_t at = out.find(from); at != std::string::npos; at = out.find(from, at + to.size()))
      out.replace(at, from.size(), to);
  return out;
}

}  // namespace

KernelPlan emit_sample(const EmitContext& ctx) {
  const ir::Shape& shape = ctx.input(0).shape;  // logits [R, V]
  const int64_t history = const_dim(ctx, ctx.input(3).shape[1], "the history length H of sample");
  // Counts are summed in f32, exact below 2^24.
  if (shape[1].is_const() && shape[1].value >= (int64_t{1} << 24))
    ctx.fail(fmt::format("a vocabulary of {} is too large for sample (at most 2^24 - 1)", shape[1].value));
  if (history > (1 << 20)) ctx.fail(fmt::format("a history of {} tokens is too long for shared memory", history));
  const uint32_t table = std::max<uint32_t>(16, next_pow2(static_cast<uint32_t>(2 * history)));
  uint32_t local = std::max<uint32_t>(local_size_for(ctx, shape[1], 256), kSearchLanes + 1);
  while (local > kSearchLanes + 1 && shared_bytes(local, table) > ctx.caps.max_shared_memory_bytes) local /= 2;
  if (shared_bytes(local, table) > ctx.caps.max_shared_memory_bytes)
    ctx.fail(fmt::format("needs {} bytes of shared memory for a history of {} tokens; the device has {}",
                         shared_bytes(local, table), history, ctx.caps.max_shared_memory_bytes));

  ItemLayout layout = item_layout(ctx, shape, 0, 1, 1);
  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("h{}", history));
  plan.arg_names = {"logits", "settings", "rng", "history", "tokens", "scores"};  // "params" is the step-params buffer
  plan.local_size = local;
  plan.grid = layout.grid;
  const std::map<std::string, std::string> vars{{"LAYOUT", layout.glsl},
                                                {"V", ctx.dim(shape[1])},
                                                {"H", glsl_uint(history)},
                                                {"TBL", glsl_uint(table)},
                                                {"FILTER_WORDS", glsl_uint(kFilterBits / 32)},
                                                {"FILTER_MASK", glsl_uint(kFilterBits - 1)},
                                                {"CAP", glsl_uint(kCandidates)},
                                                {"J", glsl_uint(kSearchLanes)},
                                                {"L", glsl_uint(local)}};
  const std::string per_source =
      instantiate("_all", "for (uint i = tid; i < $V; i += $L) {\n    float x = logit_at(base, i, penalties);") +
      instantiate("_kept", "for (uint c = tid; c < n; c += $L) {\n    uint i = cand_index[c];\n    float x = cand_value[c];");
  plan.body = workgroup_reductions(ctx.caps, local) + workgroup_lane_sums(ctx.caps, local, kSearchLanes) +
              render(R"(
shared int table_id[$TBL];       // distinct history ids (-1: empty slot)
shared int table_count[$TBL];    // occurrences of each in the history
shared float table_value[$TBL];  // its penalized logit
shared uint table_filter[$FILTER_WORDS];  // bit (id & $FILTER_MASK) set for every id in the set
shared float search_total[$J];   // one search pass's totals, for every invocation
shared uint cand_count;          // top-k survivors: how many, which tokens, their logits
shared uint cand_index[$CAP];
shared float cand_value[$CAP];

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
)",
                     vars) +
              render(per_source, vars) + render(R"(
void main() {
$LAYOUT
  uint row = item_begin, base = row * $V, tid = gl_LocalInvocationID.x;
  float temperature = ld_settings(row * 8u + 0u), top_k = ld_settings(row * 8u + 1u);
  float top_p = ld_settings(row * 8u + 2u), min_p = ld_settings(row * 8u + 3u);
  float repetition = ld_settings(row * 8u + 4u), presence = ld_settings(row * 8u + 5u);
  float frequency = ld_settings(row * 8u + 6u);
  bool penalties = repetition != 1.0 || presence != 0.0 || frequency != 0.0;

  if (penalties) {
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
)",
                                                                vars);
  return plan;
}

}  // namespace vkllm::codegen::ops
