// A first-order cost model of compiled graphs, for `vkllm inspect --kernels` and the artifact's
// memory plan. Decode is memory-bound, so what matters per kernel is the bytes it must move; FLOPs
// say when a kernel is not. The model counts what the op must touch (each operand byte once, at the
// bound symbol values), not what a particular kernel's caches do:
//   - default: reads every operand, writes every result, one FLOP per result element;
//   - embedding: reads the ids and one table row per id;
//   - matmul x[..., K] · w[N, K]ᵀ: reads x and w, 2·rows·N·K FLOPs;
//   - add/mul/scale/activations/cast/swiglu/geglu: one FLOP per result element;
//   - rms_norm 4, layer_norm 7, softmax 4 FLOPs per element; rope 3 per rotated element
//     (6 per rotated pair);
//   - attention: every row sees all S keys (an upper bound for causal rows): 2·T·Hq·S·(D + Dv);
//   - paged_attention: every row sees `context` keys (the binding named kContextBinding, else the
//     most a sequence can hold, M·B; at most `window` when set): reads those K/V rows (Hkv heads each)
//     once per row, 2·T·Hq·L·(D + Dv) FLOPs; paged_attention_partial the same, writing its partials;
//   - kv_write: reads x and slots, writes T rows of the cache;
//   - conv1d: 2·T·C·K FLOPs; gated_delta_net: 7·T·Hv·Dk·Dv FLOPs, and one state read and written
//     per row (at most S of them; rows chained within one sequence share it, so this is an upper bound);
//     fused_gated_delta_net: the two together, one conv window and one state per row the same way;
//   - sample: 5 FLOPs per logit; argmax and top_k one per input element.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "codegen/compile_graph.h"

namespace vkllm::codegen {

// Optional binding (not an IR symbol): how many keys each attention row sees.
inline constexpr const char* kContextBinding = "context";

struct DispatchCost {
  std::array<int64_t, 3> groups{};  // workgroups per axis
  int64_t invocations = 0;          // groups × local size
  uint64_t bytes_read = 0, bytes_written = 0;
  uint64_t flops = 0;
};

// The cost of dispatch `index` of `g` with symbols bound by `bind` (missing symbols: g.max_symbols).
// Throws ir::IrError when a symbol is bound by neither.
DispatchCost dispatch_cost(const CompiledGraph& g, size_t index, const std::map<std::string, int64_t>& bind = {});

// The buffers a graph needs at its max_symbols: the weights and states it binds (shared by the
// graphs of a model) and its own activation buffers (one per stored value, as the runtime allocates).
struct MemoryPlan {
  uint64_t weights = 0, weight_bytes = 0;
  uint64_t states = 0, state_bytes = 0;
  uint64_t activations = 0, activation_bytes = 0;
};
MemoryPlan memory_plan(const CompiledGraph& g);

}  // namespace vkllm::codegen
