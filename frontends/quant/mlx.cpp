#include "frontends/quant/mlx.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "frontends/quant/half.h"

namespace vkllm::frontends::quant {
namespace {

uint32_t read_value(std::span<const uint32_t> words, size_t index, int bits) {
  const size_t bit = index * static_cast<size_t>(bits);
  const size_t word = bit / 32;
  const unsigned shift = static_cast<unsigned>(bit % 32);
  uint64_t v = words[word] >> shift;
  if (shift + static_cast<unsigned>(bits) > 32) v |= static_cast<uint64_t>(words[word + 1]) << (32 - shift);
  return static_cast<uint32_t>(v & ((1u << bits) - 1));
}

void write_value(std::vector<uint32_t>& words, size_t index, int bits, uint32_t q) {
  const size_t bit = index * static_cast<size_t>(bits);
  const size_t word = bit / 32;
  const unsigned shift = static_cast<unsigned>(bit % 32);
  const uint64_t v = static_cast<uint64_t>(q) << shift;
  words[word] |= static_cast<uint32_t>(v);
  if (shift + static_cast<unsigned>(bits) > 32) words[word + 1] |= static_cast<uint32_t>(v >> 32);
}

float round_to(MlxScaleType t, float v) {
  switch (t) {
    case MlxScaleType::F32: return v;
    case MlxScaleType::F16: return f16_to_f32(f32_to_f16(v));
    case MlxScaleType::BF16: return bf16_to_f32(f32_to_bf16(v));
  }
  return v;
}

}  // namespace

void check_mlx_format(int bits, int group_size) {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 5 && bits != 6 && bits != 8)
    throw std::invalid_argument(fmt::format("MLX quantization: {} bits is not supported (2, 3, 4, 5, 6 or 8)", bits));
  if (group_size != 32 && group_size != 64 && group_size != 128)
    throw std::invalid_argument(
        fmt::format("MLX quantization: group size {} is not supported (32, 64 or 128)", group_size));
}

size_t mlx_packed_words(int bits, int group_size, size_t elems) {
  check_mlx_format(bits, group_size);
  if (elems % static_cast<size_t>(group_size) != 0)
    throw std::invalid_argument(fmt::format("MLX quantization: {} values are not a whole number of {}-value groups",
                                            elems, group_size));
  return elems * static_cast<size_t>(bits) / 32;
}

void dequantize_mlx(int bits, int group_size, std::span<const uint32_t> packed, std::span<const float> scales,
                    std::span<const float> biases, std::span<float> out) {
  const size_t words = mlx_packed_words(bits, group_size, out.size());
  const size_t groups = out.size() / static_cast<size_t>(group_size);
  if (packed.size() != words || scales.size() != groups || biases.size() != groups)
    throw std::invalid_argument(fmt::format(
        "MLX dequantize ({} bits, group size {}): {} values need {} words and {} scales and biases, got {}, {} and {}",
        bits, group_size, out.size(), words, groups, packed.size(), scales.size(), biases.size()));
  for (size_t i = 0; i < out.size(); ++i) {
    const size_t g = i / static_cast<size_t>(group_size);
    out[i] = scales[g] * static_cast<float>(read_value(packed, i, bits)) + biases[g];
  }
}

MlxQuantized quantize_mlx(int bits, int group_size, std::span<const float> values, MlxScaleType scale_type) {
  const size_t words = mlx_packed_words(bits, group_size, values.size());
  for (size_t k = 0; k < values.size(); ++k)
    if (!std::isfinite(values[k]))
      throw std::invalid_argument(fmt::format("MLX quantize: value {} is {} (only finite values can be quantized)", k,
                                              values[k]));
  const float n_bins = static_cast<float>((1 << bits) - 1);
  const float eps = 1e-7f;
  const size_t gs = static_cast<size_t>(group_size);
  MlxQuantized q;
  q.packed.assign(words, 0);
  for (size_t g = 0; g < values.size() / gs; ++g) {
    const float* w = values.data() + g * gs;
    float w_min = std::numeric_limits<float>::infinity();
    float w_max = -w_min;
    for (size_t j = 0; j < gs; ++j) {
      w_max = std::max(w_max, w[j]);
      w_min = std::min(w_min, w[j]);
    }
    // The edge of larger magnitude is kept exact: q = 0 maps to it and the scale points away from it.
    const bool min_is_edge = std::fabs(w_min) > std::fabs(w_max);
    float scale = std::max((w_max - w_min) / n_bins, eps);
    scale = min_is_edge ? scale : -scale;
    const float edge = min_is_edge ? w_min : w_max;
    const float q0 = std::rint(edge / scale);
    float bias = 0;
    if (q0 != 0) {
      scale = edge / q0;
      bias = edge;
    }
    for (size_t j = 0; j < gs; ++j) {
      const float v = std::min(std::max(std::rint((w[j] - bias) / scale), 0.0f), n_bins);
      write_value(q.packed, g * gs + j, bits, static_cast<uint32_t>(v));
    }
    q.scales.push_back(round_to(scale_type, scale));
    q.biases.push_back(round_to(scale_type, bias));
  }
  return q;
}

}  // namespace vkllm::frontends::quant
