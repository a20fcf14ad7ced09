// split-decode-sample on built graphs: which sample ops split and how (splits, candidates, the
// partials' type), that the reference executor gives the same tokens and scores before and after, and
// that the partials the reference computes summarize the row as sample_finish relies on (ir/README.md
// "split sample"): the chunks' maxima, argmaxes and sums give the row's, and when every chunk stored
// all it found and each incomplete chunk's threshold is at or below the union's k-th largest logit,
// the candidates at or above it are exactly the row's top k. The FileCheck file beside this one covers
// the text form and the samples that must stay whole.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "ir/reference.h"
#include "ir/sampling.h"
#include "passes/pass.h"
#include "tests/passes/pass_test_support.h"

namespace vkllm::passes {
namespace {

using ir::DType;
using ir::Graph;
using ir::ValueId;

const ir::Dim kRows = ir::Dim::symbol("tokens");
constexpr int64_t kHistory = 16;

Graph decode_sample(int64_t vocab) {
  ir::Builder b("decode");
  auto [tokens, scores] = b.sample(b.input("logits", {DType::F32, {kRows, ir::Dim::of(vocab)}}),
                                   b.input("params", {DType::F32, {kRows, ir::Dim::of(8)}}),
                                   b.input("rng", {DType::I32, {kRows, ir::Dim::of(2)}}),
                                   b.input("history", {DType::I32, {kRows, ir::Dim::of(kHistory)}}));
  b.set_name(tokens, "tokens");
  b.output(tokens);
  b.output(scores);
  return b.finish();
}

Graph split(Graph g, const SymbolBounds& bounds) { return run_passes_on(std::move(g), {"split-decode-sample"}, bounds); }

// {temperature, top_k, top_p, min_p, repetition, presence, frequency} of each of the 6 rows.
const ir::SampleRowParams kRowParams[] = {{0, 0, 1, 0, 1.3, 0.4, 0.3},     {0.7, 40, 0.9, 0.05, 1.1, 0.2, 0.1},
                                          {0.9, 512, 1, 0, 1, 0, 0},      {1.2, 1, 1, 0, 1, 0, 0},
                                          {0.8, 0, 0.9, 0, 1, 0, 0},      {0.6, 100, 1, 0.1, 1.2, 0, 0.5}};
constexpr int64_t kRowsRun = 6;

std::map<std::string, ir::HostTensor> inputs(int64_t vocab) {
  std::mt19937_64 rng(3);
  std::map<std::string, ir::HostTensor> in{
      {"logits", ir::HostTensor::random(DType::F32, {kRowsRun, vocab}, rng, -4.0, 4.0)},
      {"params", ir::HostTensor::zeros(DType::F32, {kRowsRun, 8})},
      {"rng", ir::HostTensor::random(DType::I32, {kRowsRun, 2}, rng, -100000, 100000)},
      {"history", ir::HostTensor::random(DType::I32, {kRowsRun, kHistory}, rng, -1, vocab + 2)}};
  for (int64_t r = 0; r < kRowsRun; ++r) {
    const ir::SampleRowParams& p = kRowParams[r];
    const double columns[8] = {p.temperature,        p.top_k,           p.top_p, p.min_p, p.repetition_penalty,
                               p.presence_penalty, p.frequency_penalty, 0.0};
    for (int col = 0; col < 8; ++col) in["params"].set(r * 8 + col, columns[col]);
  }
  return in;
}

TEST(SplitDecodeSample, SplitsDecodeRowsAndKeepsTheSample) {
  struct Split {
    int64_t vocab, splits, candidates;
  };
  for (const auto& [vocab, splits, candidates] :
       std::vector<Split>{{151936, 75, 54}, {128256, 63, 64}, {262144, 128, 32}, {5000, 3, 64}}) {
    SCOPED_TRACE("vocab " + std::to_string(vocab));
    const Graph before = decode_sample(vocab);
    const Graph after = split(before, {{"tokens", 4}});
    ASSERT_EQ(after.ops.size(), 2u);
    const ir::Op &partial = after.ops[0], &finish = after.ops[1];
    ASSERT_EQ(partial.kind, ir::OpKind::SamplePartial);
    ASSERT_EQ(finish.kind, ir::OpKind::SampleFinish);
    EXPECT_EQ(partial.attr_int("splits"), splits);
    EXPECT_EQ(partial.attr_int("candidates"), candidates);
    EXPECT_EQ(ir::to_string(after.type(partial.results[0])),
              "f32[tokens, " + std::to_string(splits) + ", " + std::to_string(5 + 2 * candidates) + "]");
    EXPECT_EQ(after.value(finish.results[0]).name, "tokens");
    EXPECT_EQ(after.outputs, (std::vector<ValueId>{finish.results[0], finish.results[1]}));

    const auto in = inputs(vocab);
    const std::vector<ir::HostTensor> want = ir::run_reference(before, {{"tokens", kRowsRun}}, in, {}).outputs;
    const std::vector<ir::HostTensor> got = ir::run_reference(after, {{"tokens", kRowsRun}}, in, {}).outputs;
    for (size_t i = 0; i < want.size(); ++i)
      for (int64_t r = 0; r < kRowsRun; ++r) EXPECT_EQ(got[i].get(r), want[i].get(r)) << "output " << i << ", row " << r;
  }
}

TEST(SplitDecodeSample, LeavesPrefillAndSmallVocabulariesWhole) {
  EXPECT_EQ(split(decode_sample(151936), {}).ops[0].kind, ir::OpKind::Sample);                // no bound
  EXPECT_EQ(split(decode_sample(151936), {{"tokens", 64}}).ops[0].kind, ir::OpKind::Sample);  // prefill
  EXPECT_EQ(split(decode_sample(2048), {{"tokens", 1}}).ops[0].kind, ir::OpKind::Sample);     // one chunk
  EXPECT_EQ(split(decode_sample(262145), {{"tokens", 1}}).ops[0].kind, ir::OpKind::Sample);   // over 128 chunks
}

// The reference's partials against sample's own view of each row (penalized logits, f64).
TEST(SplitDecodeSample, PartialsSummarizeTheRow) {
  constexpr int64_t kVocab = 5000, kSplits = 7, kCandidates = 24;
  ir::Builder b("partials");
  const ValueId logits = b.input("logits", {DType::F32, {kRows, ir::Dim::of(kVocab)}});
  const ValueId params = b.input("params", {DType::F32, {kRows, ir::Dim::of(8)}});
  const ValueId history = b.input("history", {DType::I32, {kRows, ir::Dim::of(kHistory)}});
  b.input("rng", {DType::I32, {kRows, ir::Dim::of(2)}});
  b.output(b.emit(ir::OpKind::SamplePartial, {logits, params, history},
                  {{"splits", kSplits}, {"candidates", kCandidates}})[0]);
  const Graph g = b.finish();
  const auto in = inputs(kVocab);
  const ir::HostTensor partials = ir::run_reference(g, {{"tokens", kRowsRun}}, in, {}).outputs[0];
  const int64_t width = ir::kSamplePartialHeader + 2 * kCandidates, chunk = (kVocab + kSplits - 1) / kSplits;
  int top_k_rows_checked = 0;
  for (int64_t r = 0; r < kRowsRun; ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    const ir::SampleRowParams& p = kRowParams[r];
    std::vector<double> row(static_cast<size_t>(kVocab));
    for (int64_t i = 0; i < kVocab; ++i) row[static_cast<size_t>(i)] = in.at("logits").get(r * kVocab + i);
    std::vector<int32_t> ids(kHistory);
    for (int64_t j = 0; j < kHistory; ++j) ids[static_cast<size_t>(j)] = static_cast<int32_t>(in.at("history").get(r * kHistory + j));
    const std::vector<double> l = ir::sample_penalized_logits(row, p, ids);
    auto at = [&](int64_t j, int64_t field) { return partials.get((r * kSplits + j) * width + field); };

    // Maxima, argmax and the sum at the row's maximum.
    const auto best = std::max_element(l.begin(), l.end()) - l.begin();  // the first of equal maxima
    const double max = l[static_cast<size_t>(best)], inv_t = p.temperature > 0 ? 1 / p.temperature : 1.0;
    int64_t best_chunk = 0;
    double z = 0, want_z = 0;
    for (int64_t j = 0; j < kSplits; ++j) {
      if (at(j, 0) > at(best_chunk, 0)) best_chunk = j;
      z += at(j, 2) * std::exp((at(j, 0) - static_cast<float>(max)) * inv_t);
    }
    for (double x : l) want_z += std::exp((x - max) * inv_t);
    EXPECT_EQ(at(best_chunk, 1), static_cast<double>(best));
    EXPECT_NEAR(z, want_z, 1e-5 * want_z);

    // Candidates: the union's cut is the row's k-th largest logit and holds every token at or above it.
    const auto k = static_cast<int64_t>(p.top_k);
    if (!(p.temperature > 0) || k <= 0) {
      for (int64_t j = 0; j < kSplits; ++j) EXPECT_EQ(at(j, 3), 0.0) << "chunk " << j;
      continue;
    }
    std::vector<double> stored;
    std::vector<int64_t> stored_index;
    bool provable = true;
    for (int64_t j = 0; j < kSplits; ++j) {
      const auto n = static_cast<int64_t>(at(j, 3));
      provable = provable && n <= kCandidates;
      for (int64_t e = 0; e < std::min(n, kCandidates); ++e) {
        stored_index.push_back(static_cast<int64_t>(at(j, ir::kSamplePartialHeader + 2 * e)));
        stored.push_back(at(j, ir::kSamplePartialHeader + 2 * e + 1));
        EXPECT_EQ(static_cast<float>(stored.back()), static_cast<float>(l[static_cast<size_t>(stored_index.back())]));
      }
    }
    EXPECT_TRUE(std::is_sorted(stored_index.begin(), stored_index.end())) << "the union is in index order";
    if (!provable || static_cast<int64_t>(stored.size()) < k) continue;
    std::vector<double> sorted = stored;
    std::sort(sorted.rbegin(), sorted.rend());
    const double cut = sorted[static_cast<size_t>(k - 1)];
    for (int64_t j = 0; j < kSplits; ++j) {
      const int64_t length = std::min(chunk, kVocab - j * chunk);
      if (static_cast<int64_t>(at(j, 3)) != length && static_cast<float>(at(j, 4)) > static_cast<float>(cut)) provable = false;
    }
    if (!provable) continue;
    std::vector<double> all = l;
    std::sort(all.rbegin(), all.rend());
    EXPECT_EQ(static_cast<float>(cut), static_cast<float>(all[static_cast<size_t>(k - 1)]));
    int64_t want_kept = 0, got_kept = 0;
    for (double x : l) want_kept += x >= all[static_cast<size_t>(k - 1)];
    for (double x : stored) got_kept += static_cast<float>(x) >= static_cast<float>(cut);
    EXPECT_EQ(got_kept, want_kept);
    ++top_k_rows_checked;
  }
  EXPECT_GE(top_k_rows_checked, 2) << "no top-k row was provable from the candidates: the test would see nothing";
}

}  // namespace
}  // namespace vkllm::passes
