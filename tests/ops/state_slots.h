// Recurrent-state slot patterns for the ops that read state slot src[t] and store slot dst[t] per
// row (gated_delta_net, paged conv1d, fused_gated_delta_net; ir/README.md "recurrent state slots"):
// -1 = no slot (read nothing / store nothing: the row continues the previous row's chain), -2 = a
// new sequence (read zeros). Shared by the cases of those ops.
#pragma once
#include <utility>
#include <vector>

#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {

// Slots of the test states (state tensors hold kStateSlots slots).
constexpr int64_t kStateSlots = 8;

enum class Slots {
  Decode,           // one row per sequence, src = dst; row 1 a new sequence
  DecodeElsewhere,  // one row per sequence: row t reads slot t and stores slot t + 4; row 2 new
  Verify,           // one chain from slot 0 storing every row into its own slot
  Prefill,          // one chain from slot 2 back into slot 2
  PrefillNew,       // one chain of a new sequence into slot 5
  TwoPrefills,      // two chains in one step, the second with a store mid-chain
};

// (src_slot, dst_slot) of `rows` rows.
inline std::pair<std::vector<int>, std::vector<int>> slot_pattern(Slots pattern, int rows) {
  std::vector<int> src(static_cast<size_t>(rows), -1), dst(static_cast<size_t>(rows), -1);
  const int half = rows / 2;
  switch (pattern) {
    case Slots::Decode:
      for (int t = 0; t < rows; ++t) src[t] = dst[t] = (2 * t + 1) % kStateSlots;
      if (rows > 1) src[1] = -2;
      break;
    case Slots::DecodeElsewhere:
      for (int t = 0; t < rows; ++t) {
        src[t] = t;
        dst[t] = t + 4;
      }
      if (rows > 2) src[2] = -2;
      break;
    case Slots::Verify:
      src[0] = 0;
      for (int t = 0; t < rows; ++t) dst[t] = t + 1;
      break;
    case Slots::Prefill:
      src[0] = 2;
      dst[rows - 1] = 2;
      break;
    case Slots::PrefillNew:
      src[0] = -2;
      dst[rows - 1] = 5;
      break;
    case Slots::TwoPrefills:
      src[0] = 3;
      dst[half - 1] = 3;
      src[half] = -2;
      dst[half + (rows - half) / 2] = 7;
      dst[rows - 1] = 6;
      break;
  }
  return {src, dst};
}

// An i32 input of the src (or, with `destination`, the dst) slots of `pattern`.
inline TensorFn slots_of(Slots pattern, bool destination) {
  return [pattern, destination](ir::DType, const std::vector<int64_t>& shape, const ir::SymbolBindings&,
                                std::mt19937_64&) {
    auto [src, dst] = slot_pattern(pattern, static_cast<int>(shape[0]));
    const std::vector<int>& v = destination ? dst : src;
    ir::HostTensor t = ir::HostTensor::zeros(ir::DType::I32, shape);
    for (size_t i = 0; i < v.size(); ++i) t.set(static_cast<int64_t>(i), v[i]);
    return t;
  };
}

}  // namespace vkllm::ops_test
