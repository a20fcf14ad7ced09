// What the engine's model tests share (model_test, qwen35_test, qwen3_next_test, quantized_model_test,
// sampling_test, decode_allocation_test): the setup — tiny synthesized checkpoints in a per-process
// scratch folder, small model options, prompts, rows of a step —; the reference side: the forward
// graph a Model runs, on the reference executor (ir/reference.h), fed one step at a time with its own
// KV cache and recurrent states; and the comparisons — logits over a prefill and decode steps, and
// greedy generation — against it.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/sampling.h"
#include "ir/reference.h"

namespace vkllm::engine_test {

// ---- setup ----

// A folder for this test process's files (under the system temp folder, named by the process id),
// created on first use and removed when the process exits.
const std::filesystem::path& scratch_dir();

// The tiny preset of `family` synthesized with `seed` (frontends::synthesize) into scratch_dir(),
// once per process.
std::filesystem::path synth_tiny_model(const std::string& family, uint64_t seed = 42);

// Small model options: blocks of 4 positions, `sequences` sequences of `max_context` positions,
// decode graphs of `sequences` rows, prefill chunks of `prefill_chunk` rows.
struct TinyOptions {
  int64_t max_context = 64;
  int64_t prefill_chunk = 32;
  int64_t sequences = 1;
  int64_t sampling_history = 64;
};
engine::ModelOptions tiny_model_options(const TinyOptions& t);

// A prompt of n ids spread over the vocabulary (deterministic, no zeros); `salt` gives another one.
std::vector<int32_t> prompt_of(int n, int vocab, int salt = 0);

// Sampling with every filter and penalty on (temperature 0.8, top-k 40, top-p 0.95, min-p 0.01,
// repetition 1.2, presence 0.3, frequency 0.2).
engine::SamplingParams every_filter(uint64_t seed);

// Appends `tokens` of `seq` (block-table row `seq_row`) to `rows`, allocating their KV slots.
void add_rows(std::vector<engine::StepRow>& rows, engine::SequenceCache& seq, int32_t seq_row,
              const std::vector<int32_t>& tokens);

// One step of `tokens` continuing `seq` alone; every row wanted, with logits ([tokens, vocab]).
ir::HostTensor run_alone(engine::Model& m, engine::SequenceCache& seq, const std::vector<int32_t>& tokens);

// ---- the reference ----

// Where the reference reads its weights.
enum class ReferenceWeights {
  Checkpoint,   // the HF folder's tensors as stored: independent of the model source's conversions
  ModelSource,  // Model::source(): the kernel formats the model uploaded (quantized, repacked)
};

// One sequence through the model's forward graph (with logits) on the reference executor.
class ReferenceModel {
 public:
  ReferenceModel(engine::Model& m, ReferenceWeights weights);

  // Feeds `tokens`, continuing the sequence (recurrent layers: one chain through state slot 0, from
  // zeros at position 0); returns the logits of every row, [tokens, vocab].
  ir::HostTensor feed(const std::vector<int32_t>& tokens);

 private:
  engine::Model& m_;
  ReferenceWeights weights_;
  engine::BlockPool pool_;
  engine::SequenceCache seq_;
  ir::Graph graph_;
  ir::StateMap states_;
  std::map<std::string, ir::HostTensor> source_tensors_;  // ModelSource weights, converted once
};

// Max |a - b| over rows [row_a, row_a + rows) of a and [row_b, ...) of b ([rows, vocab] tensors),
// relative to max |b|; a NaN in `a` counts as infinitely wrong.
double relative_error(const ir::HostTensor& a, int64_t row_a, const ir::HostTensor& b, int64_t row_b, int64_t rows);
// The same over the whole of two tensors of one shape.
double relative_error(const ir::HostTensor& a, const ir::HostTensor& b);

// The argmax of row `row` of [rows, vocab] logits; `gap` receives the top logit minus the second.
int32_t argmax_row(const ir::HostTensor& t, int64_t row, double* gap);

// Runs `prompt` through `model` as one step wanting every row (a fresh sequence), then
// `decode_steps` decode steps, each feeding the reference's greedy token to both. Every step's logits
// must be within `tolerance` of `ref`'s (relative to max |logit|; a decode step beyond it ends the
// run), and the device's token must be the reference's argmax wherever its top two logits are more
// than 1e-2 apart. `ref` must not have been fed yet.
void expect_prefill_and_decode_match(engine::Model& model, ReferenceModel& ref, const std::vector<int32_t>& prompt,
                                     int decode_steps, double tolerance);

// engine::generate (greedy) of `tokens` tokens after `prompt` must follow the reference's argmax
// token by token until the first near-tie (top two within 1e-3, where f32 and f64 may disagree),
// and match at least 8 tokens before one. `ref` must not have been fed yet.
void expect_greedy_generation_matches(engine::Model& model, ReferenceModel& ref, const std::vector<int32_t>& prompt,
                                      int64_t tokens);

}  // namespace vkllm::engine_test
