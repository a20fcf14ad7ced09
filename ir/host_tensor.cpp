#include "ir/host_tensor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ir/ir.h"

namespace vkllm::ir {
namespace {

// An IEEE-754 binary format narrower than double, 16 bits wide.
struct Narrow16 {
  int exp_bits;   // exponent field width
  int mant_bits;  // stored mantissa (fraction) width
};
constexpr Narrow16 kHalf{5, 10};
constexpr Narrow16 kBFloat16{8, 7};

// Rounds to the nearest integer, ties to even, without depending on the floating-point environment.
double round_half_even(double x) {
  double floor = std::floor(x);
  double frac = x - floor;
  if (frac > 0.5 || (frac == 0.5 && std::fmod(floor, 2.0) != 0.0)) floor += 1.0;
  return floor;
}

// Bit pattern of the value of format `f` nearest to v (ties to even). Rounding straight from
// double avoids the double rounding of a double -> float -> half chain.
uint16_t encode(double v, Narrow16 f) {
  const uint32_t sign = std::signbit(v) ? 1u << (f.exp_bits + f.mant_bits) : 0u;
  const uint32_t exp_all_ones = (1u << f.exp_bits) - 1;
  const uint32_t infinity = sign | exp_all_ones << f.mant_bits;
  if (std::isnan(v)) return static_cast<uint16_t>(infinity | 1u << (f.mant_bits - 1));  // quiet NaN
  if (std::isinf(v)) return static_cast<uint16_t>(infinity);
  if (v == 0.0) return static_cast<uint16_t>(sign);

  const int bias = (1 << (f.exp_bits - 1)) - 1;
  const int min_normal_exp = 1 - bias;
  // Representable values near |v| are multiples of 2^quantum_exp; below the normal range the
  // spacing stays that of the smallest normal binade (subnormals).
  int quantum_exp = std::max(std::ilogb(v), min_normal_exp) - f.mant_bits;
  auto units = static_cast<uint32_t>(round_half_even(std::ldexp(std::fabs(v), -quantum_exp)));
  const uint32_t hidden_bit = 1u << f.mant_bits;
  if (units == 2 * hidden_bit) {  // rounding carried into the next binade
    units = hidden_bit;
    ++quantum_exp;
  }
  if (units < hidden_bit) return static_cast<uint16_t>(sign | units);  // subnormal
  const int biased_exp = quantum_exp + f.mant_bits + bias;
  if (biased_exp >= static_cast<int>(exp_all_ones)) return static_cast<uint16_t>(infinity);
  return static_cast<uint16_t>(sign | static_cast<uint32_t>(biased_exp) << f.mant_bits | (units - hidden_bit));
}

double decode(uint16_t bits, Narrow16 f) {
  const bool negative = (bits >> (f.exp_bits + f.mant_bits)) & 1u;
  const uint32_t exp_field = (bits >> f.mant_bits) & ((1u << f.exp_bits) - 1);
  const uint32_t mantissa = bits & ((1u << f.mant_bits) - 1);
  const int bias = (1 << (f.exp_bits - 1)) - 1;
  double magnitude;
  if (exp_field == (1u << f.exp_bits) - 1)
    magnitude = mantissa ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else if (exp_field == 0)
    magnitude = std::ldexp(static_cast<double>(mantissa), 1 - bias - f.mant_bits);
  else
    magnitude =
        std::ldexp(static_cast<double>(mantissa | 1u << f.mant_bits), static_cast<int>(exp_field) - bias - f.mant_bits);
  return negative ? -magnitude : magnitude;
}

std::string describe(DType dtype, const std::vector<int64_t>& shape) {
  return fmt::format("{}[{}]", name(dtype), fmt::join(shape, ", "));
}

int64_t checked_numel(DType dtype, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw IrError(fmt::format("HostTensor {}: dims must be >= 0", describe(dtype, shape)));
    n *= d;
  }
  return n;
}

// Quantized tensors are stored as whole blocks along each row (the GGML layout).
void check_block_rows(DType dtype, const std::vector<int64_t>& shape) {
  if (!is_quantized(dtype)) return;
  const int block = info(dtype).block_elems;
  if (shape.empty() || shape.back() % block != 0)
    throw IrError(fmt::format("HostTensor {}: the last dim of a {} tensor must be a multiple of its block size {}",
                              describe(dtype, shape), name(dtype), block));
}

// Random scale of one quantized block and the quant range that keeps d·q within [lo, hi).
struct BlockDraw {
  uint16_t scale_bits;
  int q_min, q_max;
};

BlockDraw draw_block(double lo, double hi, int q_lowest, int q_highest, std::mt19937_64& rng) {
  const double amax = std::max(std::fabs(lo), std::fabs(hi));
  const int q_span = std::max(-q_lowest, q_highest);
  const uint16_t scale_bits = encode(amax / q_span * std::uniform_real_distribution<double>(0.5, 1.0)(rng), kHalf);
  const double d = decode(scale_bits, kHalf);
  if (d == 0.0) return {scale_bits, q_lowest, q_highest};
  int q_min = static_cast<int>(std::max<double>(q_lowest, std::ceil(lo / d)));
  int q_max = static_cast<int>(std::min<double>(q_highest, std::ceil(hi / d) - 1));
  if (q_min > q_max) {  // no multiple of d inside [lo, hi): take the one nearest its middle
    q_min = q_max = static_cast<int>(std::clamp<double>(std::round((lo + hi) / 2 / d), q_lowest, q_highest));
  }
  return {scale_bits, q_min, q_max};
}

float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return static_cast<float>(decode(h, kHalf));
}
float f32_at(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}

// Element j of a ggml q4_K block (144 bytes: d, dmin (f16), 12 bytes of 6-bit sub-block scales and
// mins, 128 bytes of nibbles) or q5_K block (176 bytes: the same with 32 bytes of fifth bits before
// the nibbles). Computed as ggml's dequantize_row_q4_K / q5_K do, in float.
float k_quant_value(const uint8_t* b, int j, bool fifth_bits) {
  const int s = j / 32, l = j % 32;
  const uint8_t* sc = b + 4;
  int scale, min;
  if (s < 4) {
    scale = sc[s] & 63;
    min = sc[s + 4] & 63;
  } else {
    scale = (sc[s + 4] & 0xF) | ((sc[s - 4] >> 6) << 4);
    min = (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4);
  }
  const uint8_t q = b[(fifth_bits ? 48 : 16) + 32 * (s / 2) + l];
  const int high = fifth_bits ? ((b[16 + l] >> s) & 1) * 16 : 0;
  const float d1 = f16_at(b) * static_cast<float>(scale), m1 = f16_at(b + 2) * static_cast<float>(min);
  const float product = d1 * static_cast<float>((s % 2 ? q >> 4 : q & 0xF) + high);
  return product - m1;
}

// Element j of a ggml q6_K block (210 bytes): ql[128], qh[64], int8 scales[16], d (f16); as
// ggml's dequantize_row_q6_K: (d·scale)·(q − 32) in float.
float q6_K_value(const uint8_t* b, int j) {
  const int half = j / 128, quarter = j % 128 / 32, l = j % 32;
  const uint8_t low_byte = b[64 * half + l + 32 * (quarter % 2)];
  const int low = quarter < 2 ? low_byte & 0xF : low_byte >> 4;
  const int high = (b[128 + 32 * half + l] >> (2 * quarter)) & 3;
  const auto scale = static_cast<int8_t>(b[192 + 8 * half + l / 16 + 2 * quarter]);
  const float ds = f16_at(b + 208) * static_cast<float>(scale);
  return ds * static_cast<float>((low | high << 4) - 32);
}

// Element j of an affine block: scale and bias (f32 for qa4 / qa8, f16 for the h formats), then the
// block's 32 or 64 values (4-bit: element j is nibble j % 2 of byte j / 2, low nibble first; 8-bit:
// byte j); the value is scale·q + bias in float.
float affine_value(const uint8_t* b, int j, int bits, bool half_fields) {
  const int header = half_fields ? 4 : 8;
  const int q = bits == 4 ? (b[header + j / 2] >> (4 * (j % 2))) & 0xF : b[header + j];
  const float scale = half_fields ? f16_at(b) : f32_at(b), bias = half_fields ? f16_at(b + 2) : f32_at(b + 4);
  const float product = scale * static_cast<float>(q);
  return product + bias;
}

}  // namespace

uint16_t f32_to_f16(float f) { return encode(f, kHalf); }
float f16_to_f32(uint16_t h) { return static_cast<float>(decode(h, kHalf)); }
uint16_t f32_to_bf16(float f) { return encode(f, kBFloat16); }
float bf16_to_f32(uint16_t h) {
  // bf16 is the top half of an f32: widening is exact, NaN payloads included.
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

HostTensor HostTensor::zeros(DType dtype, std::vector<int64_t> shape) {
  const int64_t n = checked_numel(dtype, shape);
  check_block_rows(dtype, shape);
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.bytes.assign(static_cast<size_t>(storage_bytes(dtype, n)), 0);
  return t;
}

HostTensor HostTensor::random(DType dtype, std::vector<int64_t> shape, std::mt19937_64& rng, double lo, double hi) {
  if (!(lo < hi)) throw IrError(fmt::format("HostTensor::random: empty range [{}, {})", lo, hi));
  HostTensor t = zeros(dtype, std::move(shape));
  const int64_t n = t.numel();
  switch (dtype) {
    case DType::F32:
    case DType::F16:
    case DType::BF16: {
      std::uniform_real_distribution<double> dist(lo, hi);
      for (int64_t i = 0; i < n; ++i) t.set(i, dist(rng));
      break;
    }
    case DType::I32: {
      const double first = std::ceil(lo), last = std::ceil(hi) - 1;
      if (first > last || first < std::numeric_limits<int32_t>::min() || last > std::numeric_limits<int32_t>::max())
        throw IrError(fmt::format("HostTensor::random: [{}, {}) holds no i32 value or exceeds the i32 range", lo, hi));
      std::uniform_int_distribution<int32_t> dist(static_cast<int32_t>(first), static_cast<int32_t>(last));
      for (int64_t i = 0; i < n; ++i) t.set(i, dist(rng));
      break;
    }
    case DType::Q8_0:
      for (int64_t block = 0; block < n / 32; ++block) {
        BlockDraw draw = draw_block(lo, hi, -128, 127, rng);
        std::uniform_int_distribution<int> quant(draw.q_min, draw.q_max);
        uint8_t* out = t.bytes.data() + block * 34;
        std::memcpy(out, &draw.scale_bits, 2);
        for (int j = 0; j < 32; ++j) out[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(quant(rng)));
      }
      break;
    case DType::Q4_0:
      for (int64_t block = 0; block < n / 32; ++block) {
        BlockDraw draw = draw_block(lo, hi, -8, 7, rng);
        std::uniform_int_distribution<int> quant(draw.q_min, draw.q_max);
        uint8_t* out = t.bytes.data() + block * 18;
        std::memcpy(out, &draw.scale_bits, 2);
        for (int j = 0; j < 16; ++j) {
          const int low = quant(rng) + 8, high = quant(rng) + 8;  // elements j and j + 16
          out[2 + j] = static_cast<uint8_t>(low | high << 4);
        }
      }
      break;
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: {
      // Random quants and sub-block scales; the super-block scales keep values within [-amax, amax].
      const double amax = std::max(std::fabs(lo), std::fabs(hi));
      std::uniform_int_distribution<int> byte(0, 255);
      std::uniform_real_distribution<double> share(0.5, 1.0);
      const int block_bytes = info(dtype).block_bytes;
      for (int64_t block = 0; block < n / 256; ++block) {
        uint8_t* out = t.bytes.data() + block * block_bytes;
        for (int i = 0; i < block_bytes; ++i) out[i] = static_cast<uint8_t>(byte(rng));
        if (dtype != DType::Q6_K) {
          const double levels = dtype == DType::Q4_K ? 15.0 : 31.0;
          const uint16_t d = encode(amax / (63.0 * levels) * share(rng), kHalf), dmin = encode(amax / 63.0 * share(rng), kHalf);
          std::memcpy(out, &d, 2);
          std::memcpy(out + 2, &dmin, 2);
        } else {
          const uint16_t d = encode(amax / (128.0 * 32.0) * share(rng), kHalf);
          std::memcpy(out + 208, &d, 2);
        }
      }
      break;
    }
    case DType::QA4:
    case DType::QA8:
    case DType::QA4H:
    case DType::QA8H:
    case DType::QA4H_G64:
    case DType::QA8H_G64: {
      const bool half_fields = dtype != DType::QA4 && dtype != DType::QA8;
      const bool four_bit = dtype == DType::QA4 || dtype == DType::QA4H || dtype == DType::QA4H_G64;
      const int levels = four_bit ? 15 : 255, block_bytes = info(dtype).block_bytes;
      const int header = half_fields ? 4 : 8;
      std::uniform_int_distribution<int> byte(0, 255);
      std::uniform_real_distribution<double> share(0.5, 1.0), offset(0.0, 0.25);
      for (int64_t block = 0; block < n / info(dtype).block_elems; ++block) {
        uint8_t* out = t.bytes.data() + block * block_bytes;
        const double scale = (hi - lo) / (levels + 1) * share(rng), bias = lo + (hi - lo) * offset(rng);
        if (half_fields) {
          const uint16_t s = encode(scale, kHalf), b = encode(bias, kHalf);
          std::memcpy(out, &s, 2);
          std::memcpy(out + 2, &b, 2);
        } else {
          const auto s = static_cast<float>(scale), b = static_cast<float>(bias);
          std::memcpy(out, &s, 4);
          std::memcpy(out + 4, &b, 4);
        }
        for (int i = header; i < block_bytes; ++i) out[i] = static_cast<uint8_t>(byte(rng));
      }
      break;
    }
  }
  return t;
}

int64_t HostTensor::numel() const { return checked_numel(dtype, shape); }

namespace {

// Checks that bytes [offset, offset + len) of t, which hold `element`, lie inside its storage.
int64_t checked_offset(const HostTensor& t, int64_t element, int64_t offset, int64_t len) {
  if (element < 0 || offset < 0 || offset + len > t.size_bytes())
    throw IrError(fmt::format("HostTensor {} ({} bytes): element {} is out of range", describe(t.dtype, t.shape),
                              t.size_bytes(), element));
  return offset;
}

template <typename T>
T load(const HostTensor& t, int64_t element, int64_t offset) {
  T v;
  std::memcpy(&v, t.bytes.data() + checked_offset(t, element, offset, sizeof v), sizeof v);
  return v;
}

}  // namespace

double HostTensor::get(int64_t i) const {
  switch (dtype) {
    case DType::F32:
      return load<float>(*this, i, i * 4);
    case DType::F16:
      return decode(load<uint16_t>(*this, i, i * 2), kHalf);
    case DType::BF16:
      return bf16_to_f32(load<uint16_t>(*this, i, i * 2));
    case DType::I32:
      return load<int32_t>(*this, i, i * 4);
    case DType::Q8_0: {
      // Block: f16 scale d, then 32 int8 quants; value = d·q.
      const int64_t block = checked_offset(*this, i, i / 32 * 34, 34);
      return decode(load<uint16_t>(*this, i, block), kHalf) * load<int8_t>(*this, i, block + 2 + i % 32);
    }
    case DType::Q4_0: {
      // Block: f16 scale d, then 16 bytes; element j < 16 is the low nibble of byte j, element
      // j + 16 its high nibble; value = d·(nibble − 8).
      const int64_t block = checked_offset(*this, i, i / 32 * 18, 18);
      const int j = static_cast<int>(i % 32);
      const int byte = load<uint8_t>(*this, i, block + 2 + j % 16);
      const int nibble = j < 16 ? byte & 0xF : byte >> 4;
      return decode(load<uint16_t>(*this, i, block), kHalf) * (nibble - 8);
    }
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::QA4:
    case DType::QA8:
    case DType::QA4H:
    case DType::QA8H:
    case DType::QA4H_G64:
    case DType::QA8H_G64: {
      const DTypeInfo& q = info(dtype);
      const int64_t block = checked_offset(*this, i, i / q.block_elems * q.block_bytes, q.block_bytes);
      const uint8_t* b = bytes.data() + block;
      const auto j = static_cast<int>(i % q.block_elems);
      if (dtype == DType::Q4_K || dtype == DType::Q5_K) return k_quant_value(b, j, dtype == DType::Q5_K);
      if (dtype == DType::Q6_K) return q6_K_value(b, j);
      const bool four_bit = dtype == DType::QA4 || dtype == DType::QA4H || dtype == DType::QA4H_G64;
      return affine_value(b, j, four_bit ? 4 : 8, dtype != DType::QA4 && dtype != DType::QA8);
    }
  }
  throw IrError(fmt::format("HostTensor: unknown dtype {}", static_cast<int>(dtype)));
}

void HostTensor::set(int64_t i, double v) {
  auto store = [&](const auto& x) {
    const auto size = static_cast<int64_t>(sizeof x);
    std::memcpy(bytes.data() + checked_offset(*this, i, i * size, size), &x, sizeof x);
  };
  switch (dtype) {
    case DType::F32:
      store(static_cast<float>(v));
      return;
    case DType::F16:
      store(encode(v, kHalf));
      return;
    case DType::BF16:
      store(encode(v, kBFloat16));
      return;
    case DType::I32: {
      const double rounded = round_half_even(v);
      if (!(rounded >= std::numeric_limits<int32_t>::min() && rounded <= std::numeric_limits<int32_t>::max()))
        throw IrError(
            fmt::format("HostTensor {}: element {}: {} is not representable as i32", describe(dtype, shape), i, v));
      store(static_cast<int32_t>(rounded));
      return;
    }
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::QA4:
    case DType::QA8:
    case DType::QA4H:
    case DType::QA8H:
    case DType::QA4H_G64:
    case DType::QA8H_G64:
      break;
  }
  throw IrError(
      fmt::format("HostTensor {}: set() on a quantized tensor; quantized tensors are built whole "
                  "(random() or their block bytes)",
                  describe(dtype, shape)));
}

}  // namespace vkllm::ir
