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

// The `sample` op's 64-bit draw key (its rng operand) for the token_index-th generated token (0: the
// first) of a sequence sampled with `seed`: output number token_index of SplitMix64 seeded with
// `seed`. The noise depends on nothing else, so a sequence draws the same tokens alone or batched.
inline uint64_t draw_key(uint64_t seed, uint64_t token_index) {
  uint64_t z = seed + (token_index + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace vkllm::engine
