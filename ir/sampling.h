// The `sample` op for one row (ir/README.md "sample"): penalties, temperature, top-k, top-p, min-p
// and the Gumbel-max draw, in f64. The reference executor runs it per row; tests use it to draw with
// the exact noise the kernels use and to see how close a choice came to going another way.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace vkllm::ir {

// Columns of the `sample` op's params operand (f32[R, 8]); column 7 is reserved (0).
enum SampleParamColumn : int {
  kSampleTemperature = 0,
  kSampleTopK = 1,
  kSampleTopP = 2,
  kSampleMinP = 3,
  kSampleRepetitionPenalty = 4,
  kSamplePresencePenalty = 5,
  kSampleFrequencyPenalty = 6,
  kSampleParamColumns = 8,
};

struct SampleRowParams {
  double temperature = 0.0;  // <= 0: greedy
  double top_k = 0.0;        // truncated to an integer; <= 0 or >= V: off
  double top_p = 1.0;        // >= 1: off
  double min_p = 0.0;        // <= 0: off; above 1 acts as 1
  double repetition_penalty = 1.0;
  double presence_penalty = 0.0;
  double frequency_penalty = 0.0;
};

// The noise. `key` is the row's 64-bit draw key (rng[r, 0] is its low 32 bits, rng[r, 1] the high
// ones). Everything is integer arithmetic mod 2^32 until the last step, so kernels reproduce it
// exactly: a = mix32(lo ^ 0x9e3779b9), b = mix32(hi ^ a), h_i = mix32(mix32(i + b) ^ a),
// u_i = ((h_i >> 9) + 0.5) · 2^-23 (exact in f32, strictly inside (0, 1)), G_i = −log(−log(u_i)).
uint32_t sample_mix32(uint32_t x);  // a bijective 32-bit finalizer (xor-shift / multiply)
double sample_uniform(uint64_t key, uint32_t index);
double sample_gumbel(uint64_t key, uint32_t index);

// One row's choice and how robust it is. The margins are distances from the decision to the nearest
// point where it would change; a kernel computing in f32 can choose differently from this f64
// reference only when one of them is below its rounding error (about 1e-6 of the mass, a few 1e-6
// on keys). Infinity when a margin
// does not apply (that step is off, or nothing it compares is computed).
struct SampleChoice {
  int64_t token = 0;
  double score = 0.0;             // log-probability of token in the final distribution
  int64_t kept = 0;               // tokens left in the final distribution (greedy: 1)
  double key_gap = 0.0;           // Gumbel-max: best key − second key (logit units)
  double mass_margin = 0.0;       // top-p: distance of the kept prefix's mass from top_p (probability)
  double min_p_margin = 0.0;      // min-p: smallest |(l_i − l_max)/T − log(min_p)| over candidates
  double penalty_margin = 0.0;    // penalized logits vs the greedy best / top-k threshold (logit units)
};

// Step 1 of `sample`: the row's logits with the penalties applied to every distinct id of `history`
// in [0, V) (a copy of `logits` when the penalties are off).
std::vector<double> sample_penalized_logits(std::span<const double> logits, const SampleRowParams& params,
                                            std::span<const int32_t> history);

// `sample_partial` (ir/README.md "split sample"): entry = (max, argmax, sum, count, threshold, then
// `candidates` (index, logit) pairs) of tokens [begin, end) of one row's penalized logits.
constexpr int64_t kSamplePartialHeader = 5;
void sample_partial_entry(std::span<const double> penalized, const SampleRowParams& params, int64_t begin,
                          int64_t end, int64_t candidates, std::span<double> entry);

// `logits`: one row (V >= 1); `history`: the row's recent token ids (ids outside [0, V) are ignored).
SampleChoice sample_row(std::span<const double> logits, const SampleRowParams& params, uint64_t key,
                        std::span<const int32_t> history);

}  // namespace vkllm::ir
