// IEEE half (f16) and bfloat16 conversions. Both directions round to nearest even, as ggml's
// GGML_FP32_TO_FP16 (F16C or its software fallback) and torch's bfloat16 casts do, so scales
// written here are the ones those tools write.
#pragma once
#include <cstdint>

namespace vkllm::frontends::quant {

float f16_to_f32(uint16_t h);
// Overflow gives ±inf, NaN gives a quiet NaN (0x7E00 with the sign), subnormals are kept.
uint16_t f32_to_f16(float f);

float bf16_to_f32(uint16_t h);
// NaN stays NaN (quiet bit set).
uint16_t f32_to_bf16(float f);

}  // namespace vkllm::frontends::quant
