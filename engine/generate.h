// Running one sequence through a Model: chunked prefill, then decode steps until a stop condition.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/model.h"

namespace vkllm::engine {

enum class FinishReason { Eos, Length, Stopped };

struct GenerateOptions {
  int64_t max_tokens = 128;            // generated tokens at most
  std::vector<int64_t> eos_ids;        // any of these ends the generation (not emitted)
};

struct Generation {
  std::vector<int32_t> tokens;         // generated tokens, without the prompt
  FinishReason finish = FinishReason::Length;
};

// Greedy generation. `on_token` sees each new token as it is produced and may return false to stop
// (FinishReason::Stopped, e.g. a stop string matched). Throws ContextOverflow when prompt plus
// generation would exceed the model's context, before running anything.
Generation generate(Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                    const std::function<bool(int32_t)>& on_token = {});

// Logits of a prompt: the last position's [1, vocab], or every position's [n, vocab].
ir::HostTensor prompt_logits(Model& model, std::span<const int32_t> prompt, bool all_positions);

}  // namespace vkllm::engine
