// Qwen3.5 (Gated DeltaNet layers + gated attention layers) end to end on the Vulkan device, on the
// synthesized qwen35 tiny checkpoint: logits against the reference executor running the same lowered
// graph (recurrent states included), chunked prefill, two sequences sharing steps, and the
// speculative verify step (explicit state slots) against single decode steps, states included.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>

#include "engine/generate.h"
#include "engine/model.h"
#include "frontends/checkpoint/checkpoint.h"
#include "frontends/checkpoint/safetensors.h"
#include "tests/engine/reference_runner.h"

namespace fs = std::filesystem;
using namespace vkllm;
using engine_test::ReferenceModel;
using engine_test::ReferenceWeights;
using engine_test::add_rows;
using engine_test::expect_greedy_generation_matches;
using engine_test::expect_prefill_and_decode_match;
using engine_test::prompt_of;
using engine_test::relative_error;
using engine_test::run_alone;

namespace {

// Room for a 40-token prompt and 32 decode steps; prefill chunks of 48 rows.
engine::ModelOptions small_options() { return engine_test::tiny_model_options({.max_context = 96, .prefill_chunk = 48}); }

fs::path synth_qwen35() { return engine_test::synth_tiny_model("qwen35"); }

// The GDN layers of the tiny preset (layer_types [linear, full, linear, full]).
const std::vector<std::string> kRecurrentStates = {"gdn_state.0", "conv_state.0", "gdn_state.2", "conv_state.2"};

// Max |a - b| over one slot (leading-dim index) of two state tensors [S, ...], relative to max |b|.
double slot_error(const ir::HostTensor& a, int32_t slot_a, const ir::HostTensor& b, int32_t slot_b) {
  const int64_t per = b.numel() / b.shape[0];
  double err = 0, scale = 1e-30;
  for (int64_t i = 0; i < per; ++i) {
    double x = a.get(slot_a * per + i), y = b.get(slot_b * per + i);
    err = std::max(err, std::isnan(x) ? INFINITY : std::abs(x - y));
    scale = std::max(scale, std::abs(y));
  }
  return err / scale;
}

constexpr double kTolerance = 2e-3;      // device (f16 KV cache, f32) vs reference (f64)
constexpr double kSameDevice = 1e-4;     // two device runs that group rows differently

TEST(Qwen35, LoadsKeepingMtpAndIgnoringTheVisionTower) {
  const fs::path src = synth_qwen35();
  frontends::Checkpoint ck = frontends::Checkpoint::open(src);
  EXPECT_NE(ck.find("mtp.fc.weight"), nullptr);
  auto model = engine::Model::load(src, small_options());
  EXPECT_EQ(model->spec().mtp_layers, 1);
  EXPECT_EQ(model->blocks().state_slots(), 1);

  // A checkpoint without the (optional) MTP head but with vision tensors still loads.
  const fs::path d = engine_test::scratch_dir() / "visual";
  fs::remove_all(d);
  fs::create_directories(d);
  for (const char* f : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(src / f, d / f);
  std::vector<frontends::TensorToWrite> tensors;
  for (const std::string& name : ck.tensor_names()) {
    if (name.starts_with("mtp.")) continue;
    const frontends::TensorView& v = ck.tensor(name);
    tensors.push_back({name, v.dtype, v.shape, std::vector<uint8_t>(v.bytes.begin(), v.bytes.end())});
  }
  tensors.push_back({"model.visual.patch_embed.proj.weight", frontends::StDType::BF16, {4, 2}, std::vector<uint8_t>(16, 0)});
  frontends::write_safetensors(d / "model.safetensors", tensors);
  auto stripped = engine::Model::load(d, small_options());
  ir::HostTensor a = engine::prompt_logits(*model, prompt_of(5, 512), false);
  ir::HostTensor b = engine::prompt_logits(*stripped, prompt_of(5, 512), false);
  EXPECT_EQ(relative_error(a, 0, b, 0, 1), 0.0);
  fs::remove_all(d);
}

TEST(Qwen35, PrefillAndDecodeLogitsMatchTheReference) {
  auto model = engine::Model::load(synth_qwen35(), small_options());
  ReferenceModel ref(*model, ReferenceWeights::Checkpoint);
  // 40 prompt tokens: more than one chunk of the chunked Gated DeltaNet kernel (32 rows); then 32
  // decode steps.
  expect_prefill_and_decode_match(*model, ref, prompt_of(40, static_cast<int>(model->spec().vocab_size)), 32, kTolerance);
}

TEST(Qwen35, GreedyGenerationMatchesTheReference) {
  auto model = engine::Model::load(synth_qwen35(), small_options());
  ReferenceModel ref(*model, ReferenceWeights::Checkpoint);
  expect_greedy_generation_matches(*model, ref, prompt_of(7, static_cast<int>(model->spec().vocab_size)), 32);
}

TEST(Qwen35, ChunkedPrefillEqualsOnePrefill) {
  engine::ModelOptions chunked = small_options();
  chunked.prefill_chunk = 6;  // 40 tokens: 6 chunks of 6 and one of 4, each continuing the recurrent state
  auto a = engine::Model::load(synth_qwen35(), small_options());
  auto b = engine::Model::load(synth_qwen35(), chunked);
  std::vector<int32_t> prompt = prompt_of(40, static_cast<int>(a->spec().vocab_size));
  ir::HostTensor one = engine::prompt_logits(*a, prompt, true), many = engine::prompt_logits(*b, prompt, true);
  ASSERT_EQ(many.shape, one.shape);
  EXPECT_LT(relative_error(many, 0, one, 0, 40), kSameDevice);
}

TEST(Qwen35, InterleavedSequencesEqualEachAlone) {
  engine::ModelOptions o = small_options();
  o.max_sequences = 2;
  o.max_decode_rows = 4;
  auto both = engine::Model::load(synth_qwen35(), o);
  auto alone = engine::Model::load(synth_qwen35(), o);
  const int vocab = static_cast<int>(both->spec().vocab_size);
  const std::vector<int32_t> ta = prompt_of(16, vocab, 1), tb = prompt_of(16, vocab, 2);
  auto part = [](const std::vector<int32_t>& t, size_t begin, size_t n) {
    return std::vector<int32_t>(t.begin() + static_cast<std::ptrdiff_t>(begin), t.begin() + static_cast<std::ptrdiff_t>(begin + n));
  };
  // Steps of the two sequences: [A tokens, B tokens] per step, with the block-table row order swapped
  // in the last steps. Step 1 is a prefill of both (17 rows); step 2 mixes A's decode row with a
  // 3-row chunk of B; then decode rows of both.
  struct Step {
    size_t a_begin, a_n, b_begin, b_n;
    bool b_first;
  };
  const std::vector<Step> steps = {{0, 10, 0, 7, false}, {10, 1, 7, 3, false}, {11, 1, 10, 1, false},
                                   {12, 1, 11, 1, true}, {13, 1, 12, 1, true}};
  engine::SequenceCache a(both->blocks(), both->cache_layout().max_blocks_per_seq),
      b(both->blocks(), both->cache_layout().max_blocks_per_seq);
  engine::SequenceCache a_alone(alone->blocks(), alone->cache_layout().max_blocks_per_seq),
      b_alone(alone->blocks(), alone->cache_layout().max_blocks_per_seq);
  EXPECT_NE(a.state_slot(), b.state_slot());
  for (size_t s = 0; s < steps.size(); ++s) {
    SCOPED_TRACE(s);
    const Step& st = steps[s];
    std::vector<engine::StepRow> rows;
    std::vector<int32_t> wanted;
    const engine::SequenceCache* seqs[2];
    if (st.b_first) {
      add_rows(rows, b, 0, part(tb, st.b_begin, st.b_n));
      add_rows(rows, a, 1, part(ta, st.a_begin, st.a_n));
      seqs[0] = &b;
      seqs[1] = &a;
    } else {
      add_rows(rows, a, 0, part(ta, st.a_begin, st.a_n));
      add_rows(rows, b, 1, part(tb, st.b_begin, st.b_n));
      seqs[0] = &a;
      seqs[1] = &b;
    }
    wanted.resize(rows.size());
    std::iota(wanted.begin(), wanted.end(), 0);
    ir::HostTensor got = both->step(rows, seqs, wanted, true).logits;
    ir::HostTensor want_a = run_alone(*alone, a_alone, part(ta, st.a_begin, st.a_n));
    ir::HostTensor want_b = run_alone(*alone, b_alone, part(tb, st.b_begin, st.b_n));
    const int64_t a_row = st.b_first ? static_cast<int64_t>(st.b_n) : 0, b_row = st.b_first ? 0 : static_cast<int64_t>(st.a_n);
    EXPECT_LT(relative_error(got, a_row, want_a, 0, static_cast<int64_t>(st.a_n)), kSameDevice) << "sequence A";
    EXPECT_LT(relative_error(got, b_row, want_b, 0, static_cast<int64_t>(st.b_n)), kSameDevice) << "sequence B";
  }
}

TEST(Qwen35, VerifyStepEqualsSingleStepsAndAcceptingSelectsAState) {
  engine::ModelOptions o = small_options();
  o.max_decode_rows = 4;
  o.spare_state_slots = 4;
  auto spec = engine::Model::load(synth_qwen35(), o);
  auto single = engine::Model::load(synth_qwen35(), o);
  ReferenceModel ref(*spec, ReferenceWeights::Checkpoint);
  const int vocab = static_cast<int>(spec->spec().vocab_size);
  const std::vector<int32_t> prompt = prompt_of(8, vocab), drafts = prompt_of(4, vocab, 3);
  engine::SequenceCache seq(spec->blocks(), spec->cache_layout().max_blocks_per_seq);
  engine::SequenceCache seq1(single->blocks(), single->cache_layout().max_blocks_per_seq);
  const engine::SequenceCache* seqs[] = {&seq};
  run_alone(*spec, seq, prompt);
  run_alone(*single, seq1, prompt);
  ref.feed(prompt);

  // k = 4 single decode steps, keeping every state after each.
  std::vector<ir::HostTensor> single_logits;
  std::vector<std::map<std::string, ir::HostTensor>> single_states;
  for (int32_t d : drafts) {
    single_logits.push_back(run_alone(*single, seq1, {d}));
    std::map<std::string, ir::HostTensor> states;
    for (const std::string& s : kRecurrentStates) states[s] = single->read_state(s);
    single_states.push_back(std::move(states));
  }

  // One verify step over the same 4 tokens, the state after each row stored in a scratch slot.
  auto verify = [&](const std::vector<int32_t>& tokens, std::vector<int32_t>& scratch) {
    std::vector<engine::StepRow> rows;
    add_rows(rows, seq, 0, tokens);
    std::vector<int32_t> src(tokens.size(), -1), wanted(tokens.size());
    src[0] = seq.state_slot();
    scratch.clear();
    for (size_t i = 0; i < tokens.size(); ++i) scratch.push_back(spec->blocks().take_state_slot());
    std::iota(wanted.begin(), wanted.end(), 0);
    return spec->step(rows, seqs, wanted, true, src, scratch).logits;
  };
  std::vector<int32_t> scratch;
  const int32_t own_slot = seq.state_slot();
  std::map<std::string, ir::HostTensor> before;
  for (const std::string& s : kRecurrentStates) before[s] = spec->read_state(s);
  ir::HostTensor verified = verify(drafts, scratch);
  for (size_t i = 0; i < drafts.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_LT(relative_error(verified, static_cast<int64_t>(i), single_logits[i], 0, 1), kSameDevice) << "logits";
    for (const std::string& s : kRecurrentStates)
      EXPECT_LT(slot_error(spec->read_state(s), scratch[i], single_states[i].at(s), seq1.state_slot()), kSameDevice)
          << s;
  }
  // The sequence's own slot still holds the state before the drafts (the verify only read it).
  for (const std::string& s : kRecurrentStates)
    EXPECT_EQ(slot_error(spec->read_state(s), own_slot, before.at(s), own_slot), 0.0) << s;

  // Accept 2 of the 4: the state after row 1 becomes the sequence's; the KV cache forgets the rest.
  auto accept = [&](size_t j) {
    std::vector<int32_t> unused = scratch;
    if (j > 0) {
      const int32_t chosen = scratch[j - 1];
      unused.erase(std::find(unused.begin(), unused.end(), chosen));
      unused.push_back(seq.exchange_state_slot(chosen));
    }
    for (int32_t s : unused) spec->blocks().give_back_state_slot(s);
    seq.truncate(seq.length() - static_cast<int64_t>(scratch.size() - j));
  };
  accept(2);
  ref.feed({drafts[0], drafts[1]});
  const int32_t next = prompt_of(1, vocab, 5)[0];
  EXPECT_LT(relative_error(run_alone(*spec, seq, {next}), 0, ref.feed({next}), 0, 1), kTolerance) << "after accepting 2";

  // A verify whose drafts are all rejected leaves the state (conv window included) as it was.
  verify(prompt_of(3, vocab, 6), scratch);
  accept(0);
  const int32_t after = prompt_of(1, vocab, 7)[0];
  EXPECT_LT(relative_error(run_alone(*spec, seq, {after}), 0, ref.feed({after}), 0, 1), kTolerance)
      << "after rejecting every draft";
  EXPECT_EQ(spec->blocks().free_state_slots(), 4);
}

TEST(Qwen35, StepRejectsRowsOfASequenceThatAreNotContiguous) {
  engine::ModelOptions o = small_options();
  o.max_sequences = 2;
  o.max_decode_rows = 4;
  auto model = engine::Model::load(synth_qwen35(), o);
  engine::SequenceCache a(model->blocks(), model->cache_layout().max_blocks_per_seq),
      b(model->blocks(), model->cache_layout().max_blocks_per_seq);
  EXPECT_THROW({ engine::SequenceCache extra(model->blocks(), 1); }, engine::CacheFull);  // 2 slots, both taken
  std::vector<engine::StepRow> rows;
  add_rows(rows, a, 0, {5});
  add_rows(rows, b, 1, {6});
  add_rows(rows, a, 0, {7});
  const engine::SequenceCache* seqs[] = {&a, &b};
  const int32_t wanted[] = {0};
  EXPECT_THROW(model->step(rows, seqs, wanted, false), std::invalid_argument);
}

}  // namespace
