// How the next token of a sequence is chosen. One SamplingParams per sequence; the forward graph's
// `sample` op applies it on the device (ir/README.md, "sample"), so the host never reads logits.
#pragma once
#include <cstdint>

namespace vkllm::engine {

struct SamplingParams {
  double temperature = 0.0;         // 0: greedy (the argmax; the other fields are then ignored)
  int64_t top_k = 0;                // keep the k most likely tokens; 0: all
  double top_p = 1.0;               // keep the smallest set whose probability reaches p; 1: all
  double min_p = 0.0;               // drop tokens less likely than min_p * the most likely; 0: none
  double repetition_penalty = 1.0;  // llama.cpp/HF style: logit / r if > 0 else logit * r, seen tokens
  double presence_penalty = 0.0;    // OpenAI style: logit - p for each token seen in the history
  double frequency_penalty = 0.0;   // OpenAI style: logit - f * count in the history
  uint64_t seed = 0;                // same seed, same prompt, same params: same tokens

  bool greedy() const { return temperature <= 0.0; }
  bool operator==(const SamplingParams&) const = default;
};

}  // namespace vkllm::engine
