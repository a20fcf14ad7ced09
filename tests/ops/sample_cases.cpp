// Cases for sample: greedy, temperature alone, each filter alone and all together, penalties on the
// tokens that compete for the choice (repeated ids, ids outside the vocabulary, -1 padding), rows
// with different parameters in one batch, vocabularies of 1, 2, 7, 300, 777, 50000 and 262144, exact
// ties, f16 / bf16 logits, the shared-memory reductions; top-k survivors copied to shared memory
// (k from 1 to 512, the most it copies) and ties at the k-th logit overflowing that copy.
// Tokens must equal the reference's exactly; scores are compared within tolerance.
//
// The kernel computes in f32 and the reference in f64, so a choice that sits within rounding of
// flipping could legitimately differ (ir/README.md "sample"). Inputs are therefore constructed with
// margins: each row's draw key (and, when that is not enough, its logits and history) is redrawn until
// ir::sample_row reports every margin far above f32 rounding. The tie case uses exact arithmetic
// (power-of-two temperature and penalties on a grid of logits), so its ties stay exact on both sides.
//
// Two more device tests: greedy rows give the argmax kernel's tokens (32000 logits per row), and 512
// draws from fixed logits (consecutive keys) follow the softmax of the kept tokens by a chi-square
// bound, token for token equal to the reference's (its 2000-draw version: tests/ir/sample_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <stdexcept>

#include "codegen/compile_graph.h"
#include "ir/sampling.h"
#include "runtime/device.h"
#include "runtime/graph_executor.h"
#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;
using ir::SampleRowParams;

// Smallest margins accepted (ir::SampleChoice): about ten times what f32 rounding of the keys, the
// exp sums and the scaled logits can reach.
constexpr double kKeyMargin = 1e-4, kMassMargin = 1e-5, kMinPMargin = 2e-5, kPenaltyMargin = 1e-4;

const Dim kRows = Dim::symbol("rows");

enum class Logits {
  Uniform,  // uniform in [-4, 4): no ties (but those of the dtype's rounding)
  Grid,     // 0.5 steps over 6 levels: full of exact ties
  Clustered,  // Uniform, with the first eighth of the vocabulary 6 higher: the top k in one place
};

struct SampleCase {
  const char* name;
  DType dtype;
  int64_t vocab, history;
  std::vector<SampleRowParams> params;  // row r uses params[r % size]
  std::vector<ir::SymbolBindings> runs;
  Logits logits = Logits::Uniform;
  bool subgroup_arithmetic = true;
  int64_t splits = 0, candidates = 0;  // splits > 0: sample_finish(sample_partial {splits, candidates})
};

// The inputs besides the logits, made together with them so that margins can be checked.
struct Companions {
  ir::HostTensor params, rng, history;
};

void fill_logits_row(ir::HostTensor& t, int64_t row, int64_t vocab, Logits kind, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> uniform(-4.0, 4.0);
  std::uniform_int_distribution<int> level(0, 5);
  for (int64_t i = 0; i < vocab; ++i)
    t.set(row * vocab + i, kind == Logits::Grid        ? 0.5 * level(rng) - 1.5
                           : kind == Logits::Clustered ? uniform(rng) + (i < vocab / 8 ? 6.0 : 0.0)
                                                       : uniform(rng));
}

// Between H/2 and H ids, mostly among the row's highest logits (so the penalties change which tokens
// compete), repeated, a few outside the vocabulary; -1 after them.
void fill_history_row(ir::HostTensor& history, const ir::HostTensor& logits, int64_t row, int64_t vocab, int64_t h,
                      std::mt19937_64& rng) {
  std::vector<int64_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  const size_t pool = static_cast<size_t>(std::min<int64_t>(vocab, std::max<int64_t>(3, h / 3)));
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(pool), order.end(),
                    [&](int64_t a, int64_t b) { return logits.get(row * vocab + a) > logits.get(row * vocab + b); });
  const int64_t used = std::uniform_int_distribution<int64_t>((h + 1) / 2, h)(rng);
  std::uniform_int_distribution<size_t> pick(0, pool - 1);
  std::uniform_int_distribution<int> percent(0, 99);
  for (int64_t j = 0; j < h; ++j) {
    double id = -1;
    if (j < used) id = percent(rng) < 90 ? static_cast<double>(order[pick(rng)]) : static_cast<double>(vocab + percent(rng));
    history.set(row * h + j, id);
  }
}

ir::SampleChoice choose(const ir::HostTensor& logits, const Companions& c, int64_t row, int64_t vocab, int64_t h) {
  std::vector<double> l(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) l[static_cast<size_t>(i)] = logits.get(row * vocab + i);
  auto param = [&](int column) { return c.params.get(row * ir::kSampleParamColumns + column); };
  const SampleRowParams p{param(ir::kSampleTemperature),       param(ir::kSampleTopK),
                          param(ir::kSampleTopP),              param(ir::kSampleMinP),
                          param(ir::kSampleRepetitionPenalty), param(ir::kSamplePresencePenalty),
                          param(ir::kSampleFrequencyPenalty)};
  auto half = [&](int64_t i) { return static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(c.rng.get(i)))); };
  std::vector<int32_t> ids(static_cast<size_t>(h));
  for (int64_t j = 0; j < h; ++j) ids[static_cast<size_t>(j)] = static_cast<int32_t>(c.history.get(row * h + j));
  return ir::sample_row(l, p, half(2 * row) | half(2 * row + 1) << 32, ids);
}

void set_params_row(ir::HostTensor& t, int64_t row, const SampleRowParams& p) {
  const double columns[ir::kSampleParamColumns] = {p.temperature,        p.top_k,
                                                   p.top_p,              p.min_p,
                                                   p.repetition_penalty, p.presence_penalty,
                                                   p.frequency_penalty,  0.0};
  for (int col = 0; col < ir::kSampleParamColumns; ++col) t.set(row * ir::kSampleParamColumns + col, columns[col]);
}

// The logits maker: draws every input of the run, row by row, until the row's margins are large.
TensorFn logits_with_margins(const SampleCase& sc, std::shared_ptr<Companions> made) {
  return [sc, made](DType dtype, const std::vector<int64_t>& shape, const ir::SymbolBindings&, std::mt19937_64& rng) {
    const int64_t rows = shape[0], vocab = shape[1], h = sc.history;
    ir::HostTensor logits = ir::HostTensor::zeros(dtype, shape);
    made->params = ir::HostTensor::zeros(DType::F32, {rows, ir::kSampleParamColumns});
    made->rng = ir::HostTensor::zeros(DType::I32, {rows, 2});
    made->history = ir::HostTensor::zeros(DType::I32, {rows, h});
    std::uniform_int_distribution<int32_t> any_i32(INT32_MIN, INT32_MAX);
    for (int64_t r = 0; r < rows; ++r) {
      set_params_row(made->params, r, sc.params[static_cast<size_t>(r) % sc.params.size()]);
      bool ok = false;
      for (int attempt = 0; attempt < 400 && !ok; ++attempt) {
        if (attempt % 20 == 0) {  // keys alone cannot fix a top-p, min-p or penalty margin
          fill_logits_row(logits, r, vocab, sc.logits, rng);
          fill_history_row(made->history, logits, r, vocab, h, rng);
        }
        made->rng.set(2 * r, any_i32(rng));
        made->rng.set(2 * r + 1, any_i32(rng));
        const ir::SampleChoice c = choose(logits, *made, r, vocab, h);
        ok = c.key_gap >= kKeyMargin && c.mass_margin >= kMassMargin && c.min_p_margin >= kMinPMargin &&
             (sc.logits == Logits::Grid || c.penalty_margin >= kPenaltyMargin);
      }
      if (!ok) throw std::logic_error(std::string(sc.name) + ": found no inputs with margins for row " + std::to_string(r));
    }
    return logits;
  };
}

TensorFn companion(std::shared_ptr<Companions> made, ir::HostTensor Companions::*member) {
  return [made, member](DType, const std::vector<int64_t>& shape, const ir::SymbolBindings&, std::mt19937_64&) {
    const ir::HostTensor& t = (*made).*member;
    if (t.shape != shape) throw std::logic_error("sample case: the logits input must be made first");
    return t;
  };
}

// sample_finish(logits, params, rng, history, sample_partial(logits, params, history)): tokens, scores.
std::pair<ir::ValueId, ir::ValueId> split_sample(ir::Builder& b, ir::ValueId logits, ir::ValueId params, ir::ValueId rng,
                                                 ir::ValueId history, int64_t splits, int64_t candidates) {
  const ir::ValueId partials =
      b.emit(ir::OpKind::SamplePartial, {logits, params, history}, {{"splits", splits}, {"candidates", candidates}})[0];
  const std::vector<ir::ValueId> out = b.emit(ir::OpKind::SampleFinish, {logits, params, rng, history, partials});
  return {out[0], out[1]};
}

std::vector<OpCase> sample_cases() {
  // {temperature, top_k, top_p, min_p, repetition, presence, frequency}
  const SampleRowParams greedy{0, 0, 1, 0, 1, 0, 0};
  const SampleRowParams greedy_penalized{0, 0, 1, 0, 1.3, 0.4, 0.3};
  const SampleRowParams greedy_boosted{0, 0, 1, 0, 0.8, -0.2, 0};  // penalties below 1 / negative favour the history
  const SampleRowParams warm{0.7, 0, 1, 0, 1, 0, 0};
  const SampleRowParams hot{1.5, 0, 1, 0, 1, 0, 0};
  const SampleRowParams top_k_40{0.7, 40, 1, 0, 1, 0, 0};
  const SampleRowParams top_k_1{0.7, 1, 1, 0, 1, 0, 0};
  const SampleRowParams top_k_huge{0.7, 1e9, 1, 0, 1, 0, 0};  // >= V: off
  const SampleRowParams top_p_90{0.7, 0, 0.9, 0, 1, 0, 0};
  const SampleRowParams top_p_30{0.7, 0, 0.3, 0, 1, 0, 0};
  const SampleRowParams top_p_0{0.7, 0, 0, 0, 1, 0, 0};  // keeps the largest logit only
  const SampleRowParams min_p_5{0.7, 0, 1, 0.05, 1, 0, 0};
  const SampleRowParams min_p_30{0.7, 0, 1, 0.3, 1, 0, 0};
  const SampleRowParams all{0.7, 50, 0.9, 0.05, 1.1, 0.2, 0.1};
  const SampleRowParams all_hot{1.2, 40, 0.95, 0.02, 1.3, 0.5, 0.25};
  const SampleRowParams exact_ties{0.5, 5, 0.6, 0, 2, 0.5, 0.25};  // powers of two: exact in f32
  const SampleRowParams exact_ties_min_p{0.5, 0, 1, 0.1, 0.5, 0, 0.25};
  const SampleRowParams exact_ties_greedy{0, 0, 1, 0, 2, 0.5, 0.25};
  const SampleRowParams top_k_512{0.9, 512, 0.9, 0.01, 1, 0, 0};  // exactly as many as the kernel copies
  const SampleRowParams top_k_20{0.7, 20, 1, 0, 1, 0, 0};
  const SampleRowParams top_k_20_all{0.9, 20, 0.9, 0.05, 1.1, 0.2, 0.1};

  const std::vector<SampleCase> specs = {
      {"sample_greedy_f32", DType::F32, 1000, 16, {greedy}, {{{"rows", 1}}, {{"rows", 4}}}},
      {"sample_greedy_penalties_bf16", DType::BF16, 300, 32, {greedy_penalized, greedy_boosted}, {{{"rows", 4}}}},
      {"sample_temperature_vocab_50000", DType::F32, 50000, 64, {warm, hot}, {{{"rows", 2}}}},
      {"sample_top_k", DType::F32, 5000, 64, {top_k_40, top_k_1, top_k_huge}, {{{"rows", 3}}}},
      {"sample_top_p", DType::F32, 5000, 64, {top_p_90, top_p_30, top_p_0}, {{{"rows", 3}}}},
      {"sample_min_p", DType::F32, 2000, 64, {min_p_5, min_p_30}, {{{"rows", 2}}}},
      {"sample_all_filters_penalties_vocab_50000", DType::F32, 50000, 64, {all, all_hot}, {{{"rows", 2}}}},
      {"sample_mixed_rows_f16", DType::F16, 777, 8,
       {greedy, hot, top_k_40, top_p_30, min_p_30, all_hot, greedy_penalized}, {{{"rows", 7}}, {{"rows", 3}}}},
      {"sample_vocab_1", DType::F32, 1, 4, {greedy, all, top_p_0}, {{{"rows", 3}}}},
      {"sample_vocab_2", DType::F32, 2, 4, {greedy_penalized, all_hot, top_k_1}, {{{"rows", 3}}}},
      {"sample_vocab_7", DType::F32, 7, 8, {all, all_hot, top_p_30, min_p_30}, {{{"rows", 4}}}},
      {"sample_exact_ties", DType::F32, 64, 16, {exact_ties, exact_ties_min_p, exact_ties_greedy}, {{{"rows", 6}}},
       Logits::Grid},
      // Ties at the 5th logit keep about 830 tokens: more than the kernel copies to shared memory.
      {"sample_top_k_ties_overflow", DType::F32, 5000, 16, {exact_ties}, {{{"rows", 2}}}, Logits::Grid},
      {"sample_top_k_512", DType::F32, 5000, 16, {top_k_512}, {{{"rows", 2}}}},
      {"sample_vocab_262144", DType::F32, 262144, 256, {all, greedy_penalized}, {{{"rows", 2}}}},
      {"sample_no_subgroup_ops", DType::F32, 3000, 64, {all_hot, greedy_penalized, top_p_90}, {{{"rows", 3}}},
       Logits::Uniform, false},

      // The split form (sample_partial + sample_finish, ir/README.md "split sample"): the splits the
      // split-decode-sample pass picks for real vocabularies, then small and odd ones that reach every
      // path of the finish — greedy from the chunks, top-k from the chunks' candidates (k <= Q, and
      // k > Q when the union still provably holds the top k), and the row-wide fallback (top-p / min-p
      // / temperature without top-k, a chunk with more candidates than it stores, too few candidates).
      {"sample_split_greedy_vocab_151936", DType::F32, 151936, 64, {greedy, greedy_penalized, greedy_boosted},
       {{{"rows", 3}}}, Logits::Uniform, true, 75, 54},
      {"sample_split_top_k_vocab_151936", DType::F32, 151936, 64, {top_k_40, top_k_1, all}, {{{"rows", 3}}},
       Logits::Uniform, true, 75, 54},
      {"sample_split_top_k_512_vocab_128256_bf16", DType::BF16, 128256, 64, {top_k_512, all_hot}, {{{"rows", 2}}},
       Logits::Uniform, true, 63, 64},
      {"sample_split_fallbacks_vocab_128256", DType::F32, 128256, 64, {warm, top_k_huge}, {{{"rows", 2}}},
       Logits::Uniform, true, 63, 64},
      {"sample_split_mixed_rows_vocab_1000", DType::F32, 1000, 16,
       {greedy, hot, top_k_40, top_p_30, min_p_30, all_hot, greedy_penalized, top_k_512},
       {{{"rows", 8}}, {{"rows", 3}}}, Logits::Uniform, true, 4, 64},
      {"sample_split_k_above_candidates_vocab_5000", DType::F32, 5000, 64, {top_k_512, all, top_p_90},
       {{{"rows", 3}}}, Logits::Uniform, true, 16, 64},
      {"sample_split_few_candidates_vocab_1000_f16", DType::F16, 1000, 16, {top_k_40, top_k_1, all, all_hot},
       {{{"rows", 4}}}, Logits::Uniform, true, 4, 8},
      {"sample_split_vocab_7", DType::F32, 7, 8, {all, all_hot, top_p_30, greedy_penalized, top_k_1},
       {{{"rows", 5}}}, Logits::Uniform, true, 3, 2},
      {"sample_split_empty_chunks_vocab_7", DType::F32, 7, 8, {greedy_penalized, top_k_1, all_hot}, {{{"rows", 3}}},
       Logits::Uniform, true, 5, 1},
      // k = 20 > Q = 8 with 32 candidates in all, but the top 20 sit in chunk 0, which stored only 8 of
      // them: its threshold is above the union's cut, so the finish must go row-wide.
      {"sample_split_clustered_top_k_vocab_1000", DType::F32, 1000, 16, {top_k_20, top_k_20_all}, {{{"rows", 2}}},
       Logits::Clustered, true, 4, 8},
      {"sample_split_exact_ties", DType::F32, 64, 16, {exact_ties, exact_ties_min_p, exact_ties_greedy},
       {{{"rows", 6}}}, Logits::Grid, true, 4, 4},
      {"sample_split_ties_overflow", DType::F32, 5000, 16, {exact_ties, exact_ties_greedy}, {{{"rows", 2}}},
       Logits::Grid, true, 16, 64},
      {"sample_split_no_subgroup_ops", DType::F32, 3000, 64, {all_hot, greedy_penalized, top_p_90, top_k_40},
       {{{"rows", 4}}}, Logits::Uniform, false, 8, 64},
  };
  std::vector<OpCase> cases;
  for (const SampleCase& s : specs) {
    OpCase c;
    c.name = s.name;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto logits = b.input("logits", {s.dtype, {kRows, Dim::of(s.vocab)}});
      auto params = b.input("params", {DType::F32, {kRows, Dim::of(ir::kSampleParamColumns)}});
      auto rng = b.input("rng", {DType::I32, {kRows, Dim::of(2)}});
      auto history = b.input("history", {DType::I32, {kRows, Dim::of(s.history)}});
      auto [tokens, scores] = s.splits > 0 ? split_sample(b, logits, params, rng, history, s.splits, s.candidates)
                                           : b.sample(logits, params, rng, history);
      b.set_name(tokens, "tokens");
      b.set_name(scores, "scores");
      b.output(tokens);
      b.output(scores);
    });
    c.runs = s.runs;
    auto made = std::make_shared<Companions>();
    c.inputs["logits"] = logits_with_margins(s, made);
    c.inputs["params"] = companion(made, &Companions::params);
    c.inputs["rng"] = companion(made, &Companions::rng);
    c.inputs["history"] = companion(made, &Companions::history);
    c.exact_outputs = {"tokens"};
    c.subgroup_arithmetic = s.subgroup_arithmetic;
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegistered = add_cases(sample_cases());

// ---- Statistics of the device's draws ----------------------------------------------------------

// Pearson's chi-square of `counts` against probabilities `p` (every expected count must be >= 5).
double chi_square(const std::vector<int>& counts, const std::vector<double>& p, int draws) {
  double x2 = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double expected = p[i] * draws;
    EXPECT_GE(expected, 5.0) << "token " << i << ": too few draws for a chi-square test";
    x2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return x2;
}

runtime::Device& device() {
  static runtime::Device d;
  return d;
}

// Runs `g` once on the device with `rows` rows; returns the executor to read outputs from.
// `shared_bytes` > 0: compile as if the device had that much shared memory.
std::unique_ptr<runtime::GraphExecutor> run_on_device(const ir::Graph& g, int64_t rows,
                                                      const std::map<std::string, ir::HostTensor>& inputs,
                                                      uint32_t shared_bytes = 0) {
  codegen::TargetCaps caps = device().target_caps();
  if (shared_bytes > 0) caps.max_shared_memory_bytes = shared_bytes;
  codegen::CompiledGraph compiled = codegen::compile_graph(g, caps);
  if (shared_bytes > 0) {
    bool row_wide = false;
    for (const codegen::Dispatch& d : compiled.dispatches) row_wide = row_wide || d.kernel.name.find("_rowwide") != std::string::npos;
    EXPECT_TRUE(row_wide) << "with " << shared_bytes << " bytes of shared memory the finish should leave out the candidates";
  }
  auto exec = std::make_unique<runtime::GraphExecutor>(device(), std::move(compiled),
                                                       ir::SymbolBindings{{"rows", rows}}, ir::WeightFn{});
  exec->fill_activations(0x7fc07fc0u);
  for (const auto& [name, t] : inputs) exec->set_input(name, t.data(), static_cast<size_t>(t.size_bytes()));
  exec->run({{"rows", rows}});
  return exec;
}

// Greedy without penalties is the argmax op, token for token, on the device too.
TEST(SampleKernelGreedy, EqualsTheArgmaxKernel) {
  constexpr int64_t kRowsRun = 4, kVocab = 32000;
  ir::Graph g = make_graph("sample_greedy_vs_argmax", [](ir::Builder& b) {
    auto logits = b.input("logits", {DType::F32, {kRows, Dim::of(kVocab)}});
    auto [tokens, scores] = b.sample(logits, b.input("params", {DType::F32, {kRows, Dim::of(8)}}),
                                     b.input("rng", {DType::I32, {kRows, Dim::of(2)}}),
                                     b.input("history", {DType::I32, {kRows, Dim::of(4)}}));
    b.set_name(tokens, "tokens");
    b.output(tokens);
    b.output(scores);
    auto best = b.argmax(logits);
    b.set_name(best, "best");
    b.output(best);
  });
  std::mt19937_64 rng(7);
  std::map<std::string, ir::HostTensor> inputs{
      {"logits", ir::HostTensor::random(DType::F32, {kRowsRun, kVocab}, rng, -8.0, 8.0)},
      {"params", ir::HostTensor::zeros(DType::F32, {kRowsRun, 8})},
      {"rng", ir::HostTensor::random(DType::I32, {kRowsRun, 2}, rng, -1000, 1000)},
      {"history", ir::HostTensor::random(DType::I32, {kRowsRun, 4}, rng, 0, kVocab)}};
  for (int64_t r = 0; r < kRowsRun; ++r) set_params_row(inputs["params"], r, SampleRowParams{0, 0, 1, 0, 1, 0, 0});
  auto exec = run_on_device(g, kRowsRun, inputs);
  const ir::HostTensor tokens = exec->read_output("tokens"), best = exec->read_output("best");
  for (int64_t r = 0; r < kRowsRun; ++r) EXPECT_EQ(tokens.get(r), best.get(r)) << "row " << r;
}

TEST(SampleKernelDraws, FollowTheSoftmaxOfTheKeptTokens) {
  constexpr int kDraws = 512, kVocab = 8;
  const std::vector<double> logits_row = {1.0, 0.2, -0.5, 2.0, 0.0, -0.3, 1.5, 0.7};
  ir::Graph g = make_graph("sample_draws", [](ir::Builder& b) {
    auto [tokens, scores] = b.sample(b.input("logits", {DType::F32, {kRows, Dim::of(kVocab)}}),
                                     b.input("params", {DType::F32, {kRows, Dim::of(8)}}),
                                     b.input("rng", {DType::I32, {kRows, Dim::of(2)}}),
                                     b.input("history", {DType::I32, {kRows, Dim::of(1)}}));
    b.set_name(tokens, "tokens");
    b.output(tokens);
    b.output(scores);
  });
  // Rows [0, 256): T = 1, no filter. Rows [256, 512): T = 0.8 and top-k 3 (tokens 3, 6, 0).
  const SampleRowParams plain{1.0, 0, 1, 0, 1, 0, 0}, top3{0.8, 3, 1, 0, 1, 0, 0};
  ir::HostTensor logits = ir::HostTensor::zeros(DType::F32, {kDraws, kVocab});
  ir::HostTensor params = ir::HostTensor::zeros(DType::F32, {kDraws, 8});
  ir::HostTensor rng = ir::HostTensor::zeros(DType::I32, {kDraws, 2});
  ir::HostTensor history = ir::HostTensor::zeros(DType::I32, {kDraws, 1});
  for (int r = 0; r < kDraws; ++r) {
    for (int i = 0; i < kVocab; ++i) logits.set(r * kVocab + i, logits_row[static_cast<size_t>(i)]);
    set_params_row(params, r, r < kDraws / 2 ? plain : top3);
    history.set(r, -1);
    // Consecutive keys (the hash must decorrelate them), skipping the rare one whose two best Gumbel
    // keys are within f32 rounding of each other.
    Companions row_inputs{params, rng, history};
    for (int attempt = 0;; ++attempt) {
      rng.set(2 * r, 1000 + r + 100000 * attempt);
      rng.set(2 * r + 1, 77);
      row_inputs.rng = rng;
      if (choose(logits, row_inputs, r, kVocab, 1).key_gap >= kKeyMargin) break;
    }
  }
  const std::map<std::string, ir::HostTensor> inputs{
      {"logits", logits}, {"params", params}, {"rng", rng}, {"history", history}};
  const ir::ReferenceRun want = ir::run_reference(g, {{"rows", kDraws}}, inputs, {});
  const ir::HostTensor got = run_on_device(g, kDraws, inputs)->read_output("tokens");
  expect_close(got, want.outputs[0], true, "tokens");

  auto softmax = [&](double t, int keep) {
    std::vector<int> order(kVocab);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return logits_row[static_cast<size_t>(a)] > logits_row[static_cast<size_t>(b)]; });
    std::vector<double> p(kVocab, 0.0);
    double z = 0.0;
    for (int j = 0; j < keep; ++j) z += p[static_cast<size_t>(order[static_cast<size_t>(j)])] = std::exp(logits_row[static_cast<size_t>(order[static_cast<size_t>(j)])] / t);
    for (double& x : p) x /= z;
    return p;
  };
  for (int half = 0; half < 2; ++half) {
    const std::vector<double> p = half == 0 ? softmax(1.0, kVocab) : softmax(0.8, 3);
    std::vector<int> counts(kVocab, 0);
    for (int r = half * kDraws / 2; r < (half + 1) * kDraws / 2; ++r) {
      const auto token = static_cast<int>(got.get(r));
      ASSERT_TRUE(token >= 0 && token < kVocab) << "row " << r;
      ASSERT_GT(p[static_cast<size_t>(token)], 0.0) << "row " << r << " drew token " << token << ", which top-k drops";
      ++counts[static_cast<size_t>(token)];
    }
    std::vector<int> kept_counts;
    std::vector<double> kept_p;
    for (int i = 0; i < kVocab; ++i)
      if (p[static_cast<size_t>(i)] > 0) kept_counts.push_back(counts[static_cast<size_t>(i)]), kept_p.push_back(p[static_cast<size_t>(i)]);
    // 99.9% quantiles of chi-square with 7 and 2 degrees of freedom.
    const double bound = kept_p.size() == 8 ? 24.32 : 13.82;
    EXPECT_LT(chi_square(kept_counts, kept_p, kDraws / 2), bound) << (half == 0 ? "T = 1" : "T = 0.8, top-k 3");
  }
}

// ---- The split form's parts -------------------------------------------------------------------

// sample_partial's entries against the reference's, field by field: maxima, thresholds and candidate
// logits within f32 rounding of the penalties, sums within 1e-5, indices and counts exactly.
TEST(SampleSplitPartials, MatchTheReference) {
  struct Shape {
    int64_t vocab, splits, candidates;
  };
  for (const Shape& shape : {Shape{1000, 4, 64}, Shape{777, 5, 16}, Shape{7, 5, 1}}) {
    SCOPED_TRACE("vocab " + std::to_string(shape.vocab) + ", splits " + std::to_string(shape.splits));
    constexpr int64_t kRowsRun = 4, kHistory = 16;
    ir::Graph g = make_graph("sample_partials", [&](ir::Builder& b) {
      auto partials = b.emit(ir::OpKind::SamplePartial,
                             {b.input("logits", {DType::F32, {kRows, Dim::of(shape.vocab)}}),
                              b.input("params", {DType::F32, {kRows, Dim::of(8)}}),
                              b.input("history", {DType::I32, {kRows, Dim::of(kHistory)}})},
                             {{"splits", shape.splits}, {"candidates", shape.candidates}})[0];
      b.set_name(partials, "partials");
      b.output(partials);
    });
    std::mt19937_64 rng(11);
    std::map<std::string, ir::HostTensor> inputs{
        {"logits", ir::HostTensor::random(DType::F32, {kRowsRun, shape.vocab}, rng, -4.0, 4.0)},
        {"params", ir::HostTensor::zeros(DType::F32, {kRowsRun, 8})},
        {"history", ir::HostTensor::random(DType::I32, {kRowsRun, kHistory}, rng, -2, shape.vocab + 3)}};
    // greedy with penalties; top-k 40 with penalties; top-k 3; temperature alone (no candidates).
    const SampleRowParams rows[kRowsRun] = {
        {0, 0, 1, 0, 1.3, 0.4, 0.3}, {0.7, 40, 0.9, 0.05, 1.1, 0.2, 0.1}, {1.5, 3, 1, 0, 1, 0, 0}, {0.7, 0, 1, 0, 1, 0, 0}};
    for (int64_t r = 0; r < kRowsRun; ++r) set_params_row(inputs["params"], r, rows[r]);
    const ir::HostTensor want = ir::run_reference(g, {{"rows", kRowsRun}}, inputs, {}).outputs[0];
    const ir::HostTensor got = run_on_device(g, kRowsRun, inputs)->read_output("partials");
    const int64_t width = ir::kSamplePartialHeader + 2 * shape.candidates;
    int candidates_seen = 0;
    for (int64_t r = 0; r < kRowsRun; ++r)
      for (int64_t j = 0; j < shape.splits; ++j) {
        const int64_t e = (r * shape.splits + j) * width;
        auto near = [&](int64_t i, double tolerance, const char* what) {
          const double w = want.get(e + i), v = got.get(e + i);
          if (std::isinf(w)) EXPECT_EQ(v, w) << what << ", row " << r << ", chunk " << j;
          else EXPECT_NEAR(v, w, tolerance * std::max(1.0, std::fabs(w))) << what << ", row " << r << ", chunk " << j;
        };
        near(0, 1e-6, "max");
        near(1, 0, "argmax");
        near(2, 1e-5, "sum");
        near(3, 0, "count");
        near(4, 1e-6, "threshold");
        for (int64_t c = 0; c < shape.candidates; ++c) {
          near(ir::kSamplePartialHeader + 2 * c, 0, "candidate index");
          near(ir::kSamplePartialHeader + 2 * c + 1, 1e-6, "candidate logit");
        }
        candidates_seen += static_cast<int>(want.get(e + 3));
      }
    EXPECT_GT(candidates_seen, 0) << "no row stored candidates: the test would not see them";
  }
}

// The finish reads the partials, not the logits, where they hold the answer (greedy; top-k whose
// candidates provably contain the kept tokens) and the logits otherwise: partials of logits A with
// the finish given logits B draw from A in the first case and from B in the second. Run on a small
// geometry and on the one split-decode-sample picks for a 151936 vocabulary.
struct SourceRow {
  SampleRowParams params;
  bool from_partials;
};

void expect_sources(int64_t vocab, int64_t splits, int64_t candidates, const std::vector<SourceRow>& rows,
                    uint32_t shared_bytes = 0) {
  constexpr int64_t kHistory = 8;
  const auto count = static_cast<int64_t>(rows.size());
  ir::Graph g = make_graph("sample_split_sources", [&](ir::Builder& b) {
    auto params = b.input("params", {DType::F32, {kRows, Dim::of(8)}});
    auto rng = b.input("rng", {DType::I32, {kRows, Dim::of(2)}});
    auto history = b.input("history", {DType::I32, {kRows, Dim::of(kHistory)}});
    auto partials = b.emit(ir::OpKind::SamplePartial,
                           {b.input("logits_a", {DType::F32, {kRows, Dim::of(vocab)}}), params, history},
                           {{"splits", splits}, {"candidates", candidates}})[0];
    auto out = b.emit(ir::OpKind::SampleFinish,
                      {b.input("logits_b", {DType::F32, {kRows, Dim::of(vocab)}}), params, rng, history, partials});
    b.set_name(out[0], "tokens");
    b.output(out[0]);
    b.output(out[1]);
  });
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int32_t> any_i32(INT32_MIN, INT32_MAX);
  ir::HostTensor a = ir::HostTensor::random(DType::F32, {count, vocab}, rng, -4.0, 4.0);
  ir::HostTensor b = ir::HostTensor::random(DType::F32, {count, vocab}, rng, -4.0, 4.0);
  Companions made{ir::HostTensor::zeros(DType::F32, {count, 8}), ir::HostTensor::zeros(DType::I32, {count, 2}),
                  ir::HostTensor::zeros(DType::I32, {count, kHistory})};
  std::vector<int64_t> want_a(rows.size()), want_b(rows.size());
  for (int64_t r = 0; r < count; ++r) {
    set_params_row(made.params, r, rows[static_cast<size_t>(r)].params);
    bool ok = false;
    for (int attempt = 0; attempt < 400 && !ok; ++attempt) {
      if (attempt % 20 == 0) fill_history_row(made.history, a, r, vocab, kHistory, rng);
      made.rng.set(2 * r, any_i32(rng));
      made.rng.set(2 * r + 1, any_i32(rng));
      const ir::SampleChoice ca = choose(a, made, r, vocab, kHistory), cb = choose(b, made, r, vocab, kHistory);
      auto wide = [](const ir::SampleChoice& c) {
        return c.key_gap >= kKeyMargin && c.mass_margin >= kMassMargin && c.min_p_margin >= kMinPMargin &&
               c.penalty_margin >= kPenaltyMargin;
      };
      ok = wide(ca) && wide(cb) && ca.token != cb.token;
      want_a[static_cast<size_t>(r)] = ca.token;
      want_b[static_cast<size_t>(r)] = cb.token;
    }
    ASSERT_TRUE(ok) << "found no inputs with margins for row " << r;
  }
  const ir::HostTensor got = run_on_device(g, count, {{"logits_a", a}, {"logits_b", b}, {"params", made.params},
                                                      {"rng", made.rng}, {"history", made.history}},
                                      shared_bytes)
                                 ->read_output("tokens");
  for (size_t r = 0; r < rows.size(); ++r)
    EXPECT_EQ(got.get(static_cast<int64_t>(r)), rows[r].from_partials ? want_a[r] : want_b[r])
        << "row " << r << " should be drawn from " << (rows[r].from_partials ? "the partials" : "the logits");
}

TEST(SampleSplitFinish, ReadsThePartialsWhereTheyHoldTheAnswer) {
  // {temperature, top_k, top_p, min_p, repetition, presence, frequency}
  const SampleRowParams greedy_penalized{0, 0, 1, 0, 1.2, 0.1, 0}, top_1{0.8, 1, 1, 0, 1, 0, 0},
      top_12_all{0.9, 12, 0.9, 0.02, 1.3, 0.5, 0.25}, top_p_only{0.7, 0, 0.8, 0, 1, 0, 0},
      warm{1.1, 0, 1, 0, 1, 0, 0};
  {
    SCOPED_TRACE("vocab 3000, 8 splits x 16 candidates");
    // top-k 200: 8 chunks x 16 candidates cannot hold a top 200.
    expect_sources(3000, 8, 16,
                   {{greedy_penalized, true}, {top_1, true}, {top_12_all, true}, {top_p_only, false},
                    {{1.1, 200, 1, 0, 1, 0, 0}, false}});
  }
  {
    SCOPED_TRACE("vocab 151936, 75 splits x 54 candidates");
    // top-k 40 and 512 from the candidates (512 > Q: random logits spread the top 512 about 7 per
    // chunk); temperature alone and k = 600 > kCandidates from the logits.
    expect_sources(151936, 75, 54,
                   {{greedy_penalized, true}, {{0.7, 40, 0.95, 0.01, 1.1, 0.2, 0.1}, true},
                    {{0.9, 512, 1, 0, 1, 0, 0}, true}, {warm, false}, {{0.9, 600, 1, 0, 1, 0, 0}, false}});
  }
  {
    SCOPED_TRACE("vocab 5000, 64 splits x 64 candidates, 16 KiB of shared memory (the generic profile)");
    // No room for the 4096 candidates: top-k takes the row-wide path; greedy still reads the entries.
    expect_sources(5000, 64, 64, {{greedy_penalized, true}, {top_1, false}, {top_12_all, false}}, 16384);
  }
}

}  // namespace
}  // namespace vkllm::ops_test
