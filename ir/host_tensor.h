// A tensor in host memory with concrete dims: test inputs, reference results, weights to upload.
// Elements are stored in the tensor's dtype (bytes as on the device); get/set convert through
// double, rounding to nearest even on set.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "ir/dtype.h"

namespace vkllm::ir {

// IEEE half and bfloat16 conversions (round to nearest even; NaN stays NaN).
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float bf16_to_f32(uint16_t h);

struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  static HostTensor zeros(DType dtype, std::vector<int64_t> shape);
  // Uniform in [lo, hi) (for i32: integers in [lo, hi)). Quantized types: random blocks whose
  // scales keep values within about [lo, hi).
  static HostTensor random(DType dtype, std::vector<int64_t> shape, std::mt19937_64& rng, double lo = -1.0,
                           double hi = 1.0);

  int64_t numel() const;
  int64_t size_bytes() const { return static_cast<int64_t>(bytes.size()); }
  void* data() { return bytes.data(); }
  const void* data() const { return bytes.data(); }

  // Element i in row-major order. For quantized dtypes get() dequantizes; set() is not allowed.
  double get(int64_t i) const;
  void set(int64_t i, double v);
};

}  // namespace vkllm::ir
