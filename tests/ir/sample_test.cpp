// The `sample` op on the reference executor (ir/sampling.h, ir/README.md "sample"): each step of the
// semantics on hand-computed rows, greedy against the argmax op, the noise, draws against the softmax
// (chi-square over 2000 draws), the op's wiring of rng halves and rows, and the reported margins.
#include "ir/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "ir/reference.h"

namespace vkllm::ir {
namespace {

SampleRowParams greedy() { return {}; }
SampleRowParams at(double temperature) {
  SampleRowParams p;
  p.temperature = temperature;
  return p;
}

// Distinct, well-mixed 64-bit keys for draw n.
uint64_t key_of(uint64_t n) { return (n + 1) * 0x9e3779b97f4a7c15ull ^ 0x5bd1e995u; }

TEST(SampleNoise, UniformsAreExactF32InsideTheOpenInterval) {
  std::set<double> seen;
  double sum = 0.0;
  for (uint32_t i = 0; i < 100000; ++i) {
    const double u = sample_uniform(key_of(3), i);
    ASSERT_GT(u, 0.0);
    ASSERT_LT(u, 1.0);
    ASSERT_EQ(static_cast<double>(static_cast<float>(u)), u) << "u must be exact in f32 for the kernels";
    sum += u;
    seen.insert(u);
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);
  EXPECT_GT(seen.size(), 99000u);  // 2^23 values: few collisions among 1e5 draws
  EXPECT_NE(sample_uniform(key_of(3), 0), sample_uniform(key_of(4), 0));
  EXPECT_NE(sample_uniform(1, 0), sample_uniform(uint64_t{1} << 32, 0)) << "both key halves matter";
}

TEST(SampleNoise, Mix32IsABijectionOnASample) {
  std::set<uint32_t> out;
  for (uint32_t x = 0; x < 200000; ++x) out.insert(sample_mix32(x * 2654435761u));
  EXPECT_EQ(out.size(), 200000u);
}

TEST(SampleRow, GreedyIsTheArgmaxWithItsLogSoftmax) {
  const std::vector<double> l = {0.5, 2.0, -1.0, 2.0, 1.5};
  const SampleChoice c = sample_row(l, greedy(), key_of(0), {});
  EXPECT_EQ(c.token, 1);  // ties go to the lower index
  double z = 0;
  for (double x : l) z += std::exp(x);
  EXPECT_NEAR(c.score, 2.0 - std::log(z), 1e-12);
  // Temperature <= 0 ignores the filters and the key.
  SampleRowParams p = greedy();
  p.temperature = -1;
  p.top_k = 1;
  p.top_p = 0.1;
  EXPECT_EQ(sample_row(l, p, key_of(9), {}).token, 1);
}

TEST(SampleRow, PenaltiesCountEachDistinctIdOfTheHistory) {
  // l0 = 2 / 2 - (0.5 + 0.25 * 2) = 0; l1 = -1 * 2 - (0.5 + 0.25) = -2.75; l2 untouched; 5 and -1 ignored.
  const std::vector<double> l = {2.0, -1.0, 0.5};
  SampleRowParams p;
  p.repetition_penalty = 2;
  p.presence_penalty = 0.5;
  p.frequency_penalty = 0.25;
  const std::vector<int32_t> history = {0, 0, 1, 5, -1};
  const SampleChoice c = sample_row(l, p, key_of(0), history);
  EXPECT_EQ(c.token, 2);
  EXPECT_NEAR(c.score, 0.5 - std::log(std::exp(0.0) + std::exp(-2.75) + std::exp(0.5)), 1e-12);
  // Without penalties the same history changes nothing.
  EXPECT_EQ(sample_row(l, greedy(), key_of(0), history).token, 0);
}

TEST(SampleRow, TopKKeepsTiesAtTheKthValue) {
  const std::vector<double> l = {1.0, 2.0, 2.0, 0.0, 1.0};
  SampleRowParams p = at(0.7);
  p.top_k = 1;
  EXPECT_EQ(sample_row(l, p, key_of(1), {}).kept, 2);
  p.top_k = 3;
  EXPECT_EQ(sample_row(l, p, key_of(1), {}).kept, 4);
  p.top_k = 3.9;  // truncated
  EXPECT_EQ(sample_row(l, p, key_of(1), {}).kept, 4);
  for (double off : {0.0, -2.0, 5.0, 1e12}) {
    p.top_k = off;
    EXPECT_EQ(sample_row(l, p, key_of(1), {}).kept, 5) << "top_k " << off;
  }
}

TEST(SampleRow, TopPKeepsTheSmallestPrefixReachingP) {
  const std::vector<double> l = {std::log(0.2), std::log(0.5), std::log(0.3)};
  SampleRowParams p = at(1.0);
  const std::vector<std::pair<double, int64_t>> cases = {{0.45, 1}, {0.7, 2}, {0.85, 3}, {0.0, 1}, {1.0, 3}};
  for (const auto& [top_p, kept] : cases) {
    p.top_p = top_p;
    EXPECT_EQ(sample_row(l, p, key_of(2), {}).kept, kept) << "top_p " << top_p;
  }
  // Scores are log-probabilities in the kept distribution: over {1, 2}, token 1 has 0.5 / 0.8.
  p.top_p = 0.7;
  for (uint64_t n = 0; n < 50; ++n) {
    const SampleChoice c = sample_row(l, p, key_of(n), {});
    ASSERT_TRUE(c.token == 1 || c.token == 2);
    EXPECT_NEAR(c.score, std::log((c.token == 1 ? 0.5 : 0.3) / 0.8), 1e-12);
  }
}

TEST(SampleRow, MinPDropsTokensBelowAFractionOfTheBest) {
  const std::vector<double> l = {std::log(0.2), std::log(0.5), std::log(0.3)};
  SampleRowParams p = at(1.0);
  const std::vector<std::pair<double, int64_t>> cases = {{0.5, 2}, {0.7, 1}, {0.3, 3}, {5.0, 1}};
  for (const auto& [min_p, kept] : cases) {
    p.min_p = min_p;
    EXPECT_EQ(sample_row(l, p, key_of(2), {}).kept, kept) << "min_p " << min_p;
  }
}

TEST(SampleRow, FiltersApplyInOrderAfterTheTemperature) {
  // T = 0.5 squares the probabilities (before renormalizing): 0.04, 0.25, 0.09 -> 0.105, 0.658, 0.237.
  const std::vector<double> l = {std::log(0.2), std::log(0.5), std::log(0.3)};
  SampleRowParams p = at(0.5);
  p.top_p = 0.7;  // at T = 1 this keeps two tokens; at T = 0.5 the best two reach 0.895 but the best alone does not
  EXPECT_EQ(sample_row(l, p, key_of(0), {}).kept, 2);
  p.top_p = 0.6;
  EXPECT_EQ(sample_row(l, p, key_of(0), {}).kept, 1);
  p.top_p = 1;
  p.top_k = 2;
  p.min_p = 0.3;  // 0.09 / 0.25 = 0.36 keeps token 2; token 0 went with top-k
  EXPECT_EQ(sample_row(l, p, key_of(0), {}).kept, 2);
}

// Pearson's chi-square of draws against the probabilities p (expected counts >= 5 asserted).
double chi_square(const std::vector<int>& counts, const std::vector<double>& p, int draws) {
  double x2 = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double expected = p[i] * draws;
    EXPECT_GE(expected, 5.0);
    x2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return x2;
}

TEST(SampleRow, DrawsFollowTheKeptSoftmax) {
  constexpr int kDraws = 2000;
  const std::vector<double> l = {1.0, 0.2, -0.5, 2.0, 0.0, -0.3, 1.5, 0.7, -1.0, 0.4};
  struct Config {
    SampleRowParams params;
    std::vector<int> kept;  // the tokens the filters keep, by hand
    double bound;           // chi-square 99.9% quantile for kept.size() - 1 degrees of freedom
  };
  SampleRowParams plain = at(1.0), filtered = at(0.7);
  filtered.top_k = 4;    // tokens 3, 6, 0, 7
  filtered.min_p = 0.2;  // e^{(0.7 - 2) / 0.7} = 0.156 drops token 7
  const std::vector<Config> configs = {{plain, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 27.88}, {filtered, {3, 6, 0}, 13.82}};
  for (const Config& cfg : configs) {
    std::vector<double> p;
    double z = 0;
    for (int i : cfg.kept) z += std::exp(l[static_cast<size_t>(i)] / cfg.params.temperature);
    for (int i : cfg.kept) p.push_back(std::exp(l[static_cast<size_t>(i)] / cfg.params.temperature) / z);
    std::vector<int> counts(cfg.kept.size(), 0);
    for (int n = 0; n < kDraws; ++n) {
      const SampleChoice c = sample_row(l, cfg.params, key_of(static_cast<uint64_t>(n)), {});
      auto it = std::find(cfg.kept.begin(), cfg.kept.end(), static_cast<int>(c.token));
      ASSERT_NE(it, cfg.kept.end()) << "drew token " << c.token << ", which the filters drop";
      ++counts[static_cast<size_t>(it - cfg.kept.begin())];
      EXPECT_EQ(c.kept, static_cast<int64_t>(cfg.kept.size()));
      EXPECT_NEAR(c.score, std::log(p[static_cast<size_t>(it - cfg.kept.begin())]), 1e-9);
    }
    EXPECT_LT(chi_square(counts, p, kDraws), cfg.bound) << "temperature " << cfg.params.temperature;
  }
}

TEST(SampleRow, SameKeySameTokenAndKeysSpreadOverTokens) {
  const std::vector<double> l(64, 0.0);  // uniform: every token equally likely
  std::set<int64_t> tokens;
  for (uint64_t n = 0; n < 200; ++n) {
    const int64_t t = sample_row(l, at(1.0), key_of(n), {}).token;
    EXPECT_EQ(sample_row(l, at(1.0), key_of(n), {}).token, t);
    tokens.insert(t);
  }
  EXPECT_GT(tokens.size(), 40u);
}

TEST(SampleRow, MarginsFlagChoicesOnTheEdge) {
  SampleRowParams p = at(1.0);
  p.top_p = 0.6;
  const std::vector<double> edge = {std::log(0.6), std::log(0.4)};
  EXPECT_LT(sample_row(edge, p, key_of(0), {}).mass_margin, 1e-9);
  p.top_p = 0.8;
  EXPECT_NEAR(sample_row(edge, p, key_of(0), {}).mass_margin, 0.2, 1e-9);
  // A penalized logit landing exactly on another one: the greedy choice hangs on rounding.
  SampleRowParams r = greedy();
  r.repetition_penalty = 2;
  const std::vector<int32_t> history = {1};
  EXPECT_EQ(sample_row(std::vector<double>{1.0, 2.0}, r, key_of(0), history).penalty_margin, 0.0);
  EXPECT_NEAR(sample_row(std::vector<double>{1.0, 3.0}, r, key_of(0), history).penalty_margin, 0.5, 1e-12);
  // Margins that do not apply are infinite.
  const SampleChoice g = sample_row(std::vector<double>{1.0, 3.0}, greedy(), key_of(0), {});
  EXPECT_TRUE(std::isinf(g.key_gap) && std::isinf(g.mass_margin) && std::isinf(g.min_p_margin) &&
              std::isinf(g.penalty_margin));
}

// The op: rng[r] = (low, high) halves of the key, rows independent, tokens i32 and scores f32.
TEST(SampleOp, RunsSampleRowOnEveryRow) {
  constexpr int64_t kRows = 5, kVocab = 40, kHistory = 6;
  Builder b("sample");
  auto [tokens, scores] = b.sample(b.input("logits", {DType::BF16, {Dim::symbol("rows"), Dim::of(kVocab)}}),
                                   b.input("params", {DType::F32, {Dim::symbol("rows"), Dim::of(8)}}),
                                   b.input("rng", {DType::I32, {Dim::symbol("rows"), Dim::of(2)}}),
                                   b.input("history", {DType::I32, {Dim::symbol("rows"), Dim::of(kHistory)}}));
  b.output(tokens);
  b.output(scores);
  b.output(b.argmax(b.input("plain", {DType::BF16, {Dim::symbol("rows"), Dim::of(kVocab)}})));
  const Graph g = b.finish();
  std::mt19937_64 rng(11);
  HostTensor logits = HostTensor::random(DType::BF16, {kRows, kVocab}, rng, -3, 3);
  HostTensor params = HostTensor::zeros(DType::F32, {kRows, 8});
  const std::vector<std::vector<double>> rows = {
      {0, 0, 1, 0, 1, 0, 0}, {0.8, 10, 0.9, 0.05, 1.2, 0.1, 0.1}, {1.5, 0, 1, 0, 1, 0, 0},
      {0, 0, 1, 0, 1.5, 0.5, 0}, {0.3, 3, 1, 0, 1, 0, 0}};
  for (int64_t r = 0; r < kRows; ++r)
    for (int col = 0; col < 7; ++col) params.set(r * 8 + col, rows[static_cast<size_t>(r)][static_cast<size_t>(col)]);
  HostTensor keys = HostTensor::random(DType::I32, {kRows, 2}, rng, -2000000000, 2000000000);
  HostTensor history = HostTensor::random(DType::I32, {kRows, kHistory}, rng, -1, kVocab + 3);
  const ReferenceRun run = run_reference(g, {{"rows", kRows}},
                                         {{"logits", logits}, {"params", params}, {"rng", keys}, {"history", history}, {"plain", logits}}, {});
  EXPECT_EQ(run.outputs[0].dtype, DType::I32);
  EXPECT_EQ(run.outputs[1].dtype, DType::F32);
  for (int64_t r = 0; r < kRows; ++r) {
    std::vector<double> l;
    for (int64_t i = 0; i < kVocab; ++i) l.push_back(logits.get(r * kVocab + i));
    const auto& v = rows[static_cast<size_t>(r)];
    const SampleRowParams p{v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
    const uint64_t key = static_cast<uint32_t>(static_cast<int32_t>(keys.get(2 * r))) |
                         static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(keys.get(2 * r + 1)))) << 32;
    std::vector<int32_t> ids;
    for (int64_t j = 0; j < kHistory; ++j) ids.push_back(static_cast<int32_t>(history.get(r * kHistory + j)));
    const SampleChoice c = sample_row(l, p, key, ids);
    EXPECT_EQ(run.outputs[0].get(r), static_cast<double>(c.token)) << "row " << r;
    EXPECT_NEAR(run.outputs[1].get(r), c.score, 1e-6 * std::max(1.0, std::fabs(c.score))) << "row " << r;
  }
  EXPECT_EQ(run.outputs[0].get(0), run.outputs[2].get(0)) << "greedy without penalties is the argmax op";
}

}  // namespace
}  // namespace vkllm::ir
