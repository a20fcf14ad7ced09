// MLX affine quantization (mlx.core.quantize, mode "affine"), as found in MLX-quantized checkpoints
// (mlx-community/...): each group of `group_size` consecutive values along a row has a scale and a
// bias, w = scale·q + bias with q in [0, 2^bits). Quantized values are packed as one little-endian
// bit stream, value k at bit offset k·bits; the checkpoint stores that stream as uint32 words
// (for bits 3, 5 and 6 values straddle word boundaries). A group always fills whole words
// (group_size·bits is a multiple of 32), so rows and groups can be processed independently.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace vkllm::frontends::quant {

// Throws std::invalid_argument unless bits is 2, 3, 4, 5, 6 or 8 and group_size 32, 64 or 128.
void check_mlx_format(int bits, int group_size);

// uint32 words holding `elems` packed values (elems must be a multiple of group_size).
size_t mlx_packed_words(int bits, int group_size, size_t elems);

// out.size() values from packed.size() == mlx_packed_words(...) words and one scale and bias per
// group; throws std::invalid_argument on any size mismatch. out[i] = scale·q + bias in float.
void dequantize_mlx(int bits, int group_size, std::span<const uint32_t> packed, std::span<const float> scales,
                    std::span<const float> biases, std::span<float> out);

// The precision scales and biases are stored in (MLX keeps them in the weight's dtype).
enum class MlxScaleType { F32, F16, BF16 };

struct MlxQuantized {
  std::vector<uint32_t> packed;
  std::vector<float> scales;  // exactly representable in the requested MlxScaleType
  std::vector<float> biases;
};

// MLX's affine quantizer (its CPU fast::Quantize): per group, the edge value of larger magnitude
// becomes exactly representable (q = 0 there), scale = (max-min)/(2^bits-1) adjusted to hit it,
// q = clamp(rint((w-bias)/scale)). Quantized values use the float scale; the stored scale and bias
// are then rounded to `scale_type`, as MLX rounds them to the weight dtype. Values must be finite.
MlxQuantized quantize_mlx(int bits, int group_size, std::span<const float> values,
                          MlxScaleType scale_type = MlxScaleType::F32);

}  // namespace vkllm::frontends::quant
