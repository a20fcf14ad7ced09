#include "ir/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <vector>

#include "ir/ir.h"

namespace vkllm::ir {

uint32_t sample_mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

double sample_uniform(uint64_t key, uint32_t index) {
  const uint32_t a = sample_mix32(static_cast<uint32_t>(key) ^ 0x9e3779b9u);
  const uint32_t b = sample_mix32(static_cast<uint32_t>(key >> 32) ^ a);
  const uint32_t h = sample_mix32(sample_mix32(index + b) ^ a);
  return (static_cast<double>(h >> 9) + 0.5) * 0x1p-23;
}

double sample_gumbel(uint64_t key, uint32_t index) { return -std::log(-std::log(sample_uniform(key, index))); }

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The order of argmax: larger first, NaN below every number, lower index first on ties.
bool ranks_above(double a, int64_t index_a, double b, int64_t index_b) {
  auto greater = [](double x, double y) { return !std::isnan(x) && (std::isnan(y) || x > y); };
  return greater(a, b) || (!greater(b, a) && index_a < index_b);
}

// Distance from a penalized logit to a threshold value t it is compared with. When it equals t
// exactly, its rounding could move t itself: the distance to the nearest other value, or 0 when
// another token shares t (the tie could break differently).
double penalized_distance(const std::vector<double>& l, int64_t i, double t) {
  if (l[static_cast<size_t>(i)] != t) return std::fabs(l[static_cast<size_t>(i)] - t);
  double nearest = kInf;
  for (size_t j = 0; j < l.size(); ++j) {
    if (static_cast<int64_t>(j) == i) continue;
    if (l[j] == t) return 0.0;
    nearest = std::min(nearest, std::fabs(l[j] - t));
  }
  return nearest;
}

bool penalties_on(const SampleRowParams& p) {
  return p.repetition_penalty != 1.0 || p.presence_penalty != 0.0 || p.frequency_penalty != 0.0;
}

// k of the top-k filter, 0 when it is off (ir/README.md "sample": off unless 0 < k < V).
int64_t top_k_of(const SampleRowParams& p, int64_t vocab) {
  const auto k = static_cast<int64_t>(std::trunc(p.top_k));
  return k > 0 && k < vocab ? k : 0;
}

}  // namespace

std::vector<double> sample_penalized_logits(std::span<const double> logits, const SampleRowParams& p,
                                            std::span<const int32_t> history) {
  std::vector<double> l(logits.begin(), logits.end());
  if (!penalties_on(p)) return l;
  const auto vocab = static_cast<int64_t>(logits.size());
  std::map<int32_t, int64_t> count;
  for (int32_t id : history)
    if (id >= 0 && id < vocab) ++count[id];
  for (const auto& [id, c] : count) {
    double& x = l[static_cast<size_t>(id)];
    x = x > 0 ? x / p.repetition_penalty : x * p.repetition_penalty;
    x -= p.presence_penalty + p.frequency_penalty * static_cast<double>(c);
  }
  return l;
}

void sample_partial_entry(std::span<const double> l, const SampleRowParams& p, int64_t begin, int64_t end,
                          int64_t candidates, std::span<double> entry) {
  std::fill(entry.begin(), entry.end(), 0.0);
  if (begin >= end) {  // an empty chunk: nothing to contribute
    entry[0] = -kInf;
    entry[1] = -1;
    return;
  }
  std::vector<int64_t> order(static_cast<size_t>(end - begin));
  std::iota(order.begin(), order.end(), begin);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return ranks_above(l[static_cast<size_t>(a)], a, l[static_cast<size_t>(b)], b);
  });
  const double max = l[static_cast<size_t>(order[0])];
  const double inv_t = p.temperature > 0.0 ? 1.0 / p.temperature : 1.0;
  double sum = 0.0;
  for (int64_t i = begin; i < end; ++i) sum += std::exp((l[static_cast<size_t>(i)] - max) * inv_t);
  entry[0] = max;
  entry[1] = static_cast<double>(order[0]);
  entry[2] = sum;
  const int64_t k = top_k_of(p, static_cast<int64_t>(l.size()));
  if (!(p.temperature > 0.0) || k == 0) return;
  const int64_t kc = std::min({k, candidates, end - begin});
  const double threshold = l[static_cast<size_t>(order[static_cast<size_t>(kc - 1)])];
  int64_t n = 0;
  for (int64_t i = begin; i < end; ++i) {
    if (!(l[static_cast<size_t>(i)] >= threshold)) continue;
    if (n < candidates) {
      entry[static_cast<size_t>(kSamplePartialHeader + 2 * n)] = static_cast<double>(i);
      entry[static_cast<size_t>(kSamplePartialHeader + 2 * n + 1)] = l[static_cast<size_t>(i)];
    }
    ++n;
  }
  entry[3] = static_cast<double>(n);
  entry[4] = threshold;
}

SampleChoice sample_row(std::span<const double> logits, const SampleRowParams& p, uint64_t key,
                        std::span<const int32_t> history) {
  const auto vocab = static_cast<int64_t>(logits.size());
  if (vocab == 0) throw IrError("sample: the vocabulary (last dim of logits) is empty");
  std::vector<double> l(logits.begin(), logits.end());

  // 1. Penalties, once per distinct id of the history.
  std::map<int32_t, int64_t> count;
  for (int32_t id : history)
    if (id >= 0 && id < vocab) ++count[id];
  std::vector<int64_t> penalized;
  if (p.repetition_penalty != 1.0 || p.presence_penalty != 0.0 || p.frequency_penalty != 0.0) {
    for (const auto& [id, c] : count) {
      double& x = l[static_cast<size_t>(id)];
      x = x > 0 ? x / p.repetition_penalty : x * p.repetition_penalty;
      x -= p.presence_penalty + p.frequency_penalty * static_cast<double>(c);
      penalized.push_back(id);
    }
  }

  SampleChoice out;
  out.key_gap = out.mass_margin = out.min_p_margin = out.penalty_margin = kInf;
  std::vector<int64_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return ranks_above(l[static_cast<size_t>(a)], a, l[static_cast<size_t>(b)], b);
  });
  const int64_t best = order[0];
  const double max = l[static_cast<size_t>(best)];

  // 2. Greedy: the argmax; its log-softmax at temperature 1.
  if (!(p.temperature > 0.0)) {
    double sum = 0.0;
    for (double x : l) sum += std::exp(x - max);
    out.token = best;
    out.score = -std::log(sum);
    out.kept = 1;
    for (int64_t i : penalized) {
      if (i != best) out.penalty_margin = std::min(out.penalty_margin, max - l[static_cast<size_t>(i)]);
      else if (vocab > 1) out.penalty_margin = std::min(out.penalty_margin, max - l[static_cast<size_t>(order[1])]);
    }
    return out;
  }

  // 3. Temperature, then the filters, each a threshold on the (penalized) logit.
  const double t = p.temperature;
  const auto k = static_cast<int64_t>(std::trunc(p.top_k));
  double cut = -kInf;  // kept: l_i >= cut (NaN never kept)
  if (k > 0 && k < vocab) {
    cut = l[static_cast<size_t>(order[static_cast<size_t>(k - 1)])];
    for (int64_t i : penalized) out.penalty_margin = std::min(out.penalty_margin, penalized_distance(l, i, cut));
  }
  auto weight = [&](int64_t i) { return std::exp((l[static_cast<size_t>(i)] - max) / t); };
  if (p.top_p < 1.0) {
    double total = 0.0;
    for (int64_t i : order)
      if (l[static_cast<size_t>(i)] >= cut) total += weight(i);
    const double target = p.top_p * total;
    // Walk groups of equal logits in descending order; the first whose cumulative mass reaches the
    // target sets the cut (its ties are all kept).
    double cumulative = 0.0;
    for (size_t g = 0; g < order.size();) {
      const double value = l[static_cast<size_t>(order[g])];
      if (!(value >= cut)) break;
      const double before = cumulative;
      size_t end = g;
      while (end < order.size() && l[static_cast<size_t>(order[end])] == value) cumulative += weight(order[end++]);
      if (cumulative >= target) {
        cut = value;
        // The first group is kept whatever the target; later ones also depend on the mass before.
        out.mass_margin = (g == 0 ? cumulative - target : std::min(cumulative - target, target - before)) / total;
        break;
      }
      g = end;
    }
  }
  const bool use_min_p = p.min_p > 0.0;
  const double log_min_p = std::log(std::min(p.min_p, 1.0));

  // 4. Gumbel-max over the kept tokens; the score is the log-probability in the kept distribution.
  double kept_sum = 0.0, best_key = -kInf, second_key = -kInf;
  int64_t chosen = -1;
  for (int64_t i = 0; i < vocab; ++i) {
    const double x = l[static_cast<size_t>(i)];
    if (!(x >= cut)) continue;
    const double scaled = (x - max) / t;
    if (use_min_p) {
      // The largest logits give exactly 0 on every device; only the others can round across.
      if (x != max) out.min_p_margin = std::min(out.min_p_margin, std::fabs(scaled - log_min_p));
      if (scaled < log_min_p) continue;
    }
    ++out.kept;
    kept_sum += std::exp(scaled);
    const double key_i = scaled + sample_gumbel(key, static_cast<uint32_t>(i));
    if (chosen < 0 || key_i > best_key) {
      second_key = best_key;
      best_key = key_i;
      chosen = i;
    } else {
      second_key = std::max(second_key, key_i);
    }
  }
  if (chosen < 0) {  // only NaN logits leave nothing to choose from
    out.token = -1;
    out.score = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  out.token = chosen;
  out.score = (l[static_cast<size_t>(chosen)] - max) / t - std::log(kept_sum);
  out.key_gap = best_key - second_key;
  return out;
}

}  // namespace vkllm::ir
