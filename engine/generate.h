// Running one sequence through a Model: chunked prefill, then decode steps until a stop condition.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/model.h"
#include "engine/sampling.h"

namespace vkllm::engine {

enum class FinishReason { Eos, Length, Stopped };

struct GenerateOptions {
  int64_t max_tokens = 128;            // generated tokens at most
  std::vector<int64_t> eos_ids;        // any of these ends the generation (not emitted)
  SamplingParams sampling;             // how each token is chosen (default: greedy)
};

struct Generation {
  std::vector<int32_t> tokens;         // generated tokens, without the prompt
  std::vector<float> logprobs;         // each token's log-probability under `sampling` (ir/README.md "sample")
  FinishReason finish = FinishReason::Length;
};

// Throws std::invalid_argument naming the first parameter out of range: temperature, presence and
// frequency penalties must be finite, temperature >= 0, top_k >= 0, top_p and min_p in [0, 1],
// repetition_penalty > 0.
void check_sampling(const SamplingParams& params);

// Generation under options.sampling: the token_index-th generated token is drawn with
// draw_key(seed, token_index), so the same seed, prompt and parameters give the same tokens.
// `on_token` sees each new token as it is produced and may return false to stop
// (FinishReason::Stopped, e.g. a stop string matched). Throws ContextOverflow when prompt plus
// generation would exceed the model's context, before running anything.
Generation generate(Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                    const std::function<bool(int32_t)>& on_token = {});

// Logits of a prompt: the last position's [1, vocab], or every position's [n, vocab].
ir::HostTensor prompt_logits(Model& model, std::span<const int32_t> prompt, bool all_positions);

}  // namespace vkllm::engine
