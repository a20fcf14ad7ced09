// Graph variants per batch size and per speculative depth (engine::forward_graphs): which graphs a
// model compiles, how their options round-trip through an artifact manifest, that a step runs the
// graph with the smallest row bound holding its rows, and that every variant computes what the
// single widest graph computes — greedy tokens identical, logits within a same-device tolerance —
// for batches of 1, 3 (run by the 4-row graph) and 4, and a verify step of depth d against d + 1
// single decode steps.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <numeric>

#include "artifact/artifact.h"
#include "engine/compile.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "frontends/model/synth.h"
#include "tests/engine/reference_runner.h"

namespace fs = std::filesystem;
using namespace vkllm;
using engine_test::relative_error;

namespace {

// Two device runs whose kernels group rows differently (another activation rows per workgroup, or
// another split of the attention keys): f32 sums in another order.
constexpr double kSameDevice = 1e-4;

fs::path synth_llama() {
  const fs::path d = fs::temp_directory_path() / ("vkllm_graph_variants_" + std::to_string(::getpid()));
  if (!fs::exists(d / "config.json")) {
    frontends::SynthOptions o;
    o.family = "llama";
    o.out_dir = d;
    o.seed = 23;
    frontends::synthesize(o);
  }
  return d;
}

std::vector<int32_t> prompt_of(int n, int vocab, int salt) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) p[static_cast<size_t>(i)] = static_cast<int32_t>((i * 41 + 5 + salt * 17) % (vocab - 8) + 1);
  return p;
}

std::vector<std::string> names_of(const engine::ModelOptions& o) {
  std::vector<std::string> names;
  for (const engine::ForwardGraph& g : engine::forward_graphs(o)) names.push_back(engine::forward_graph_name(g));
  return names;
}

TEST(GraphVariants, DefaultBoundsArePowersOfTwoAndTheWidest) {
  engine::ModelOptions o;
  o.max_decode_rows = 6;
  EXPECT_EQ(engine::decode_row_bounds(o), (std::vector<int64_t>{1, 2, 4, 6}));
  o.max_decode_rows = 1;
  EXPECT_EQ(engine::decode_row_bounds(o), (std::vector<int64_t>{1}));
  o.max_decode_rows = 4;
  o.max_sequences = 2;
  EXPECT_EQ(names_of(o), (std::vector<std::string>{"prefill", "prefill_logits", "decode_b1", "decode_logits_b1",
                                                   "decode_b2", "decode_logits_b2", "decode_b4", "decode_logits_b4"}));
  std::vector<int64_t> max_rows;
  for (const engine::ForwardGraph& g : engine::forward_graphs(o)) max_rows.push_back(g.max_rows);
  EXPECT_EQ(max_rows, (std::vector<int64_t>{256, 256, 1, 1, 2, 2, 4, 4}));
}

TEST(GraphVariants, ExplicitBoundsAndDepths) {
  engine::ModelOptions o;
  o.max_sequences = 2;
  o.max_decode_rows = 4;
  o.decode_row_bounds = {2, 1, 2};  // unordered, repeated: sorted and made distinct; 4 is always added
  o.spec_depths = {5, 3};
  EXPECT_EQ(engine::decode_row_bounds(o), (std::vector<int64_t>{1, 2, 4}));
  const std::vector<engine::ForwardGraph> graphs = engine::forward_graphs(o);
  ASSERT_EQ(graphs.size(), 10u);
  EXPECT_EQ(engine::forward_graph_name(graphs[8]), "verify_d3");
  EXPECT_EQ(graphs[8].max_rows, 2 * (3 + 1));  // every sequence: its last token and 3 drafts
  EXPECT_TRUE(graphs[8].with_logits);
  EXPECT_EQ(engine::forward_graph_name(graphs[9]), "verify_d5");
  EXPECT_EQ(graphs[9].max_rows, 12);
  // Only the widest decode graph, as before there were variants.
  o.decode_row_bounds = {4};
  o.spec_depths = {};
  EXPECT_EQ(names_of(o), (std::vector<std::string>{"prefill", "prefill_logits", "decode_b4", "decode_logits_b4"}));
}

TEST(GraphVariants, BadBoundsAndDepthsAreClearErrors) {
  engine::ModelOptions o;
  o.max_decode_rows = 4;
  auto error_of = [](const engine::ModelOptions& options) {
    try {
      engine::forward_graphs(options);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  o.decode_row_bounds = {8};
  EXPECT_NE(error_of(o).find("batch size (decode row bound) 8 is outside 1..4"), std::string::npos) << error_of(o);
  o.decode_row_bounds = {0};
  EXPECT_NE(error_of(o).find("0 is outside"), std::string::npos) << error_of(o);
  o.decode_row_bounds = {};
  o.spec_depths = {0};
  EXPECT_NE(error_of(o).find("speculative depth 0"), std::string::npos) << error_of(o);
  o.spec_depths = {1000};
  EXPECT_NE(error_of(o).find("speculative depth 1000"), std::string::npos) << error_of(o);
}

TEST(GraphVariants, OptionsRoundTripThroughTheManifest) {
  engine::ModelOptions o;
  o.max_sequences = 3;
  o.max_decode_rows = 3;
  o.spec_depths = {4, 2};
  const nlohmann::json j = engine::options_to_json(o);
  // Stored resolved: what was compiled, not what defaulted.
  EXPECT_EQ(j["decode_row_bounds"], nlohmann::json({1, 2, 3}));
  EXPECT_EQ(j["spec_depths"], nlohmann::json({2, 4}));
  const engine::ModelOptions back = engine::options_from_json(j);
  EXPECT_EQ(back.decode_row_bounds, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(back.spec_depths, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(names_of(back), names_of(o));

  // A version-1 manifest's options (no variant lists), and inconsistent ones.
  auto error_of = [](const nlohmann::json& options) {
    try {
      engine::options_from_json(options);
    } catch (const artifact::ArtifactError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  nlohmann::json old = j;
  old.erase("decode_row_bounds");
  old.erase("spec_depths");
  EXPECT_NE(error_of(old).find("'decode_row_bounds' is missing"), std::string::npos) << error_of(old);
  nlohmann::json bad = j;
  bad["decode_row_bounds"] = {1, "two"};
  EXPECT_NE(error_of(bad).find("not an integer"), std::string::npos) << error_of(bad);
  bad["decode_row_bounds"] = {1, 9};
  EXPECT_NE(error_of(bad).find("9 is outside 1..3"), std::string::npos) << error_of(bad);
  bad = j;
  bad["spec_depths"] = {-1};
  EXPECT_NE(error_of(bad).find("speculative depth -1"), std::string::npos) << error_of(bad);
}

engine::ModelOptions device_options() {
  engine::ModelOptions o;
  o.max_context = 32;
  o.block_size = 4;
  o.max_sequences = 4;
  o.max_decode_rows = 4;
  o.prefill_chunk = 16;
  return o;
}

// What lockstep decoding of several sequences gave: each step's greedy tokens and logits, and the
// graph each step ran.
struct Lockstep {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<ir::HostTensor> logits;
  std::vector<std::string> graphs;
};

// `batch` sequences, each prefilled alone with its own prompt, then `steps` decode steps of all of
// them at once (one row each, every row wanted, with logits), feeding back the greedy tokens.
Lockstep decode_in_lockstep(engine::Model& model, int batch, int steps) {
  const int vocab = static_cast<int>(model.spec().vocab_size);
  std::vector<std::unique_ptr<engine::SequenceCache>> caches;
  std::vector<const engine::SequenceCache*> seqs;
  std::vector<int32_t> next;
  for (int s = 0; s < batch; ++s) {
    caches.push_back(std::make_unique<engine::SequenceCache>(model.blocks(), model.cache_layout().max_blocks_per_seq));
    const std::vector<int32_t> prompt = prompt_of(6 + s, vocab, s);
    const std::vector<int32_t> slots = caches.back()->append(static_cast<int64_t>(prompt.size()));
    std::vector<engine::StepRow> rows;
    for (size_t i = 0; i < prompt.size(); ++i) rows.push_back({prompt[i], static_cast<int32_t>(i), slots[i], 0});
    const int32_t last = static_cast<int32_t>(rows.size() - 1);
    const engine::SequenceCache* one[] = {caches.back().get()};
    next.push_back(model.step(rows, one, {&last, 1}, false).next_tokens[0]);
    seqs.push_back(caches.back().get());
  }
  Lockstep out;
  std::vector<int32_t> wanted(static_cast<size_t>(batch));
  std::iota(wanted.begin(), wanted.end(), 0);
  for (int step = 0; step < steps; ++step) {
    std::vector<engine::StepRow> rows;
    for (int s = 0; s < batch; ++s) {
      int32_t slot = 0;
      caches[static_cast<size_t>(s)]->append({&slot, 1});
      rows.push_back({next[static_cast<size_t>(s)], static_cast<int32_t>(caches[static_cast<size_t>(s)]->length() - 1),
                      slot, s});
    }
    const engine::StepResult& r = model.step(rows, seqs, wanted, true);
    next.assign(r.next_tokens.begin(), r.next_tokens.end());
    out.tokens.push_back(next);
    out.logits.push_back(r.logits);
    out.graphs.push_back(model.last_step_graph());
  }
  return out;
}

class BatchVariants : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    engine::ModelOptions widest = device_options();
    widest.decode_row_bounds = {4};  // the single decode graph pair of a build without variants
    single_ = engine::Model::load(synth_llama(), widest).release();
    variants_ = engine::Model::load(synth_llama(), device_options()).release();
  }
  static void TearDownTestSuite() {
    delete single_;
    delete variants_;
  }
  static engine::Model* single_;
  static engine::Model* variants_;
};
engine::Model* BatchVariants::single_ = nullptr;
engine::Model* BatchVariants::variants_ = nullptr;

TEST_F(BatchVariants, ModelsListTheirGraphs) {
  EXPECT_EQ(single_->graph_names(),
            (std::vector<std::string>{"decode_b4", "decode_logits_b4", "prefill", "prefill_logits"}));
  EXPECT_EQ(variants_->graph_names(),
            (std::vector<std::string>{"decode_b1", "decode_logits_b1", "decode_b2", "decode_logits_b2", "decode_b4",
                                      "decode_logits_b4", "prefill", "prefill_logits"}));
}

TEST_F(BatchVariants, EachBatchSizeMatchesTheWidestGraph) {
  // 3 sequences run in the 4-row graph: the smallest bound holding them.
  for (const auto& [batch, graph] : {std::pair{1, "decode_logits_b1"}, std::pair{3, "decode_logits_b4"},
                                     std::pair{4, "decode_logits_b4"}, std::pair{2, "decode_logits_b2"}}) {
    SCOPED_TRACE(fmt::format("batch {}", batch));
    const Lockstep want = decode_in_lockstep(*single_, batch, 4);
    const Lockstep got = decode_in_lockstep(*variants_, batch, 4);
    for (size_t step = 0; step < want.tokens.size(); ++step) {
      SCOPED_TRACE(fmt::format("step {}", step));
      EXPECT_EQ(want.graphs[step], "decode_logits_b4");
      EXPECT_EQ(got.graphs[step], graph);
      EXPECT_EQ(got.tokens[step], want.tokens[step]);
      EXPECT_LT(relative_error(got.logits[step], want.logits[step]), kSameDevice);
    }
  }
}

TEST_F(BatchVariants, GenerationRunsTheOneRowGraph) {
  const std::vector<int32_t> prompt = prompt_of(9, static_cast<int>(variants_->spec().vocab_size), 4);
  engine::GenerateOptions g;
  g.max_tokens = 8;
  const engine::Generation want = engine::generate(*single_, prompt, g);
  EXPECT_EQ(single_->last_step_graph(), "decode_b4");
  const engine::Generation got = engine::generate(*variants_, prompt, g);
  EXPECT_EQ(variants_->last_step_graph(), "decode_b1");
  EXPECT_EQ(got.tokens, want.tokens);
  ASSERT_EQ(got.logprobs.size(), want.logprobs.size());
  for (size_t i = 0; i < got.logprobs.size(); ++i) EXPECT_NEAR(got.logprobs[i], want.logprobs[i], 1e-4) << i;
  // A prompt step longer than the widest decode bound runs the prefill graph.
  const std::vector<int32_t> wanted = {8};
  engine::SequenceCache seq(variants_->blocks(), variants_->cache_layout().max_blocks_per_seq);
  const std::vector<int32_t> slots = seq.append(9);
  std::vector<engine::StepRow> rows;
  for (int32_t i = 0; i < 9; ++i) rows.push_back({prompt[static_cast<size_t>(i)], i, slots[static_cast<size_t>(i)], 0});
  const engine::SequenceCache* seqs[] = {&seq};
  variants_->step(rows, seqs, wanted, false);
  EXPECT_EQ(variants_->last_step_graph(), "prefill");
}

// A verify graph of depth 3 for 2 sequences takes up to 8 rows: between the decode bound (2) and the
// prefill chunk (16), so a verify step of one or both sequences runs it.
TEST(VerifyVariant, VerifyStepEqualsDecodeSteps) {
  engine::ModelOptions o = device_options();
  o.max_sequences = 2;
  o.max_decode_rows = 2;
  o.spec_depths = {3};
  auto verifier = engine::Model::load(synth_llama(), o);
  auto stepper = engine::Model::load(synth_llama(), o);
  const int vocab = static_cast<int>(verifier->spec().vocab_size);
  const int depth = 3;

  // Both sequences prefilled on both models.
  std::vector<std::unique_ptr<engine::SequenceCache>> v_seqs, s_seqs;
  std::vector<std::vector<int32_t>> prompts = {prompt_of(7, vocab, 1), prompt_of(5, vocab, 2)};
  for (engine::Model* m : {verifier.get(), stepper.get()}) {
    auto& seqs = m == verifier.get() ? v_seqs : s_seqs;
    for (const std::vector<int32_t>& prompt : prompts) {
      seqs.push_back(std::make_unique<engine::SequenceCache>(m->blocks(), m->cache_layout().max_blocks_per_seq));
      const std::vector<int32_t> slots = seqs.back()->append(static_cast<int64_t>(prompt.size()));
      std::vector<engine::StepRow> rows;
      for (size_t i = 0; i < prompt.size(); ++i) rows.push_back({prompt[i], static_cast<int32_t>(i), slots[i], 0});
      const int32_t last = static_cast<int32_t>(prompt.size() - 1);
      const engine::SequenceCache* one[] = {seqs.back().get()};
      m->step(rows, one, {&last, 1}, false);
    }
  }
  // Per sequence: its next token and `depth` drafts, as one verify step of both sequences (8 rows).
  const std::vector<std::vector<int32_t>> fed = {prompt_of(depth + 1, vocab, 7), prompt_of(depth + 1, vocab, 8)};
  std::vector<engine::StepRow> rows;
  for (int32_t s = 0; s < 2; ++s) {
    const std::vector<int32_t> slots = v_seqs[static_cast<size_t>(s)]->append(depth + 1);
    const int32_t first = static_cast<int32_t>(v_seqs[static_cast<size_t>(s)]->length()) - (depth + 1);
    for (int32_t i = 0; i <= depth; ++i)
      rows.push_back({fed[static_cast<size_t>(s)][static_cast<size_t>(i)], first + i, slots[static_cast<size_t>(i)], s});
  }
  std::vector<int32_t> wanted(rows.size());
  std::iota(wanted.begin(), wanted.end(), 0);
  const engine::SequenceCache* both[] = {v_seqs[0].get(), v_seqs[1].get()};
  const engine::StepResult& verified = verifier->step(rows, both, wanted, true);
  EXPECT_EQ(verifier->last_step_graph(), "verify_d3");
  const ir::HostTensor verify_logits = verified.logits;
  const std::vector<int32_t> verify_tokens(verified.next_tokens.begin(), verified.next_tokens.end());

  // The same rows as depth + 1 decode steps of both sequences (2 rows each: decode_logits_b2).
  const engine::SequenceCache* s_both[] = {s_seqs[0].get(), s_seqs[1].get()};
  const std::vector<int32_t> pair = {0, 1};
  for (int32_t i = 0; i <= depth; ++i) {
    SCOPED_TRACE(fmt::format("position {}", i));
    std::vector<engine::StepRow> step_rows;
    for (int32_t s = 0; s < 2; ++s) {
      int32_t slot = 0;
      s_seqs[static_cast<size_t>(s)]->append({&slot, 1});
      step_rows.push_back({fed[static_cast<size_t>(s)][static_cast<size_t>(i)],
                           static_cast<int32_t>(s_seqs[static_cast<size_t>(s)]->length() - 1), slot, s});
    }
    const engine::StepResult& r = stepper->step(step_rows, s_both, pair, true);
    EXPECT_EQ(stepper->last_step_graph(), "decode_logits_b2");
    for (int64_t s = 0; s < 2; ++s) {
      const int64_t verify_row = s * (depth + 1) + i;
      EXPECT_LT(relative_error(verify_logits, verify_row, r.logits, s, 1), kSameDevice) << "sequence " << s;
      EXPECT_EQ(verify_tokens[static_cast<size_t>(verify_row)], r.next_tokens[static_cast<size_t>(s)]) << "sequence " << s;
    }
  }

  // One sequence's verify (4 rows) runs the verify graph too.
  engine::SequenceCache extra(verifier->blocks(), verifier->cache_layout().max_blocks_per_seq);
  const std::vector<int32_t> tokens = prompt_of(depth + 1, vocab, 9);
  const std::vector<int32_t> slots = extra.append(depth + 1);
  std::vector<engine::StepRow> one_rows;
  for (int32_t i = 0; i <= depth; ++i) one_rows.push_back({tokens[static_cast<size_t>(i)], i, slots[static_cast<size_t>(i)], 0});
  const engine::SequenceCache* one[] = {&extra};
  verifier->step(one_rows, one, std::vector<int32_t>{0, 1, 2, 3}, true);
  EXPECT_EQ(verifier->last_step_graph(), "verify_d3");
}

}  // namespace
