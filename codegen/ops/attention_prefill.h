// The tiled (flash-attention style) prefill kernel of attention and paged_attention
// (attention_prefill.cpp). emit_attention / emit_paged_attention (attention.cpp) try it first.
#pragma once
#include <optional>

#include "codegen/ops/emitter.h"

namespace vkllm::codegen::ops {

// Row bounds above this take the tiled kernel (prefill graphs); decode graphs keep attention.cpp's.
constexpr int64_t kPrefillAttentionMinRows = 16;

// The tiled kernel for this attention / paged_attention op, or nullopt when it does not apply: the
// row count's bound (a constant, or max_symbols) is at most kPrefillAttentionMinRows, the device
// lacks subgroup arithmetic, shuffles or a fixable subgroup size, or the head dims do not fit its
// register and shared-memory budget.
std::optional<KernelPlan> emit_prefill_attention(const EmitContext& ctx);

}  // namespace vkllm::codegen::ops
