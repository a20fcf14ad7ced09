// HostTensor and the f16/bf16 conversions, checked against known IEEE bit patterns and hand-built
// GGML blocks.
#include "ir/host_tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "ir/ir.h"

namespace vkllm::ir {
namespace {

float from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
uint32_t to_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}
bool is_f16_nan(uint16_t h) { return (h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0; }
bool is_bf16_nan(uint16_t h) { return (h & 0x7F80) == 0x7F80 && (h & 0x007F) != 0; }

TEST(F16, EncodesKnownValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(-2.5f), 0xC100);
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);  // largest finite half
  EXPECT_EQ(f32_to_f16(1.0f / 3.0f), 0x3555);
}

TEST(F16, OverflowsToInfinity) {
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7BFF);  // below the midpoint to 65536
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // the midpoint: ties to even, which is "65536" = inf
  EXPECT_EQ(f32_to_f16(1e6f), 0x7C00);
  EXPECT_EQ(f32_to_f16(-1e6f), 0xFC00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xFC00);
}

TEST(F16, Subnormals) {
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);     // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1023.0f, -24)), 0x03FF);  // largest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);     // smallest normal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);     // half the smallest: tie to even 0
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);     // above the tie
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);     // 1.5 units: tie to even 2
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -26)), 0x0000);
  EXPECT_EQ(f32_to_f16(-std::ldexp(1.0f, -24)), 0x8001);
  EXPECT_EQ(f32_to_f16(std::ldexp(2047.0f, -25)), 0x0400);  // largest subnormal + half: carries to normal
}

TEST(F16, RoundsToNearestEven) {
  EXPECT_EQ(f32_to_f16(0.1f), 0x2E66);                                                  // 614.4 units: down
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);                          // tie, even is 1.0
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(3.0f, -11)), 0x3C02);                          // tie, even is 1 + 2^-9
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3C01);  // above the tie
  EXPECT_EQ(f32_to_f16(2.0f - std::ldexp(1.0f, -11)), 0x4000);  // tie carrying into the next binade
}

TEST(F16, NanStaysNan) {
  EXPECT_TRUE(is_f16_nan(f32_to_f16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(is_f16_nan(f32_to_f16(from_bits(0x7F800001))));  // signalling NaN with a low payload
  EXPECT_TRUE(is_f16_nan(f32_to_f16(from_bits(0xFFC00000))));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7E00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7C01)));
}

TEST(F16, DecodesKnownPatterns) {
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xC100), -2.5f);
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), 5.9604644775390625e-08f);
  EXPECT_EQ(f16_to_f32(0x03FF), 6.097555160522461e-05f);
  EXPECT_EQ(f16_to_f32(0x0400), 6.103515625e-05f);
  EXPECT_EQ(f16_to_f32(0x2E66), 0.0999755859375f);
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(f16_to_f32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f16_to_f32(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(to_bits(f16_to_f32(0x8000)), 0x80000000u);  // -0 keeps its sign
}

TEST(F16, EveryFiniteHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    if ((bits & 0x7C00) == 0x7C00) continue;  // inf and NaN are checked above
    ASSERT_EQ(f32_to_f16(f16_to_f32(bits)), bits) << std::hex << h;
  }
}

TEST(BF16, EncodesKnownValues) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(-2.5f), 0xC020);
  EXPECT_EQ(f32_to_bf16(0.1f), 0x3DCD);  // 0x3DCCCCCD: remainder 0xCCCD > half
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7F80);
}

TEST(BF16, RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808000)), 0x3F80);  // tie, even is 0x3F80
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F818000)), 0x3F82);  // tie, even is 0x3F82
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808001)), 0x3F81);  // just above the tie
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F807FFF)), 0x3F80);  // just below the tie
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F7F7FFF)), 0x7F7F);  // stays the largest finite bf16
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F7FFFFF)), 0x7F80);  // FLT_MAX rounds up to inf
  EXPECT_EQ(f32_to_bf16(from_bits(0x3FFF8000)), 0x4000);  // tie carrying into the next binade
}

TEST(BF16, Subnormals) {
  EXPECT_EQ(f32_to_bf16(from_bits(0x00010000)), 0x0001);
  EXPECT_EQ(f32_to_bf16(from_bits(0x00008000)), 0x0000);  // tie to even 0
  EXPECT_EQ(f32_to_bf16(from_bits(0x00018000)), 0x0002);  // tie to even 2
  EXPECT_EQ(f32_to_bf16(from_bits(0x80008001)), 0x8001);
  EXPECT_EQ(f32_to_bf16(from_bits(0x00000001)), 0x0000);  // smallest f32 subnormal
  EXPECT_EQ(bf16_to_f32(0x0001), std::ldexp(1.0f, -133));
}

TEST(BF16, NanStaysNan) {
  EXPECT_TRUE(is_bf16_nan(f32_to_bf16(std::numeric_limits<float>::quiet_NaN())));
  // Truncating the signalling NaN 0x7F800001 would give 0x7F80, which is inf.
  EXPECT_TRUE(is_bf16_nan(f32_to_bf16(from_bits(0x7F800001))));
  EXPECT_TRUE(is_bf16_nan(f32_to_bf16(from_bits(0xFF800001))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(0x7FC0)));
}

TEST(BF16, DecodesKnownPatterns) {
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xC020), -2.5f);
  EXPECT_EQ(bf16_to_f32(0x3DCD), 0.10009765625f);
  EXPECT_EQ(bf16_to_f32(0xFF80), -std::numeric_limits<float>::infinity());
}

TEST(HostTensor, ZerosAndSizes) {
  HostTensor a = HostTensor::zeros(DType::F16, {3, 5});
  EXPECT_EQ(a.numel(), 15);
  EXPECT_EQ(a.size_bytes(), 30);
  for (int64_t i = 0; i < a.numel(); ++i) EXPECT_EQ(a.get(i), 0.0);
  EXPECT_EQ(HostTensor::zeros(DType::F32, {}).numel(), 1);  // a scalar
  EXPECT_EQ(HostTensor::zeros(DType::I32, {4, 0}).size_bytes(), 0);
  EXPECT_EQ(HostTensor::zeros(DType::Q8_0, {2, 64}).size_bytes(), 4 * 34);
  EXPECT_EQ(HostTensor::zeros(DType::Q4_0, {3, 32}).size_bytes(), 3 * 18);
  EXPECT_THROW(HostTensor::zeros(DType::F32, {2, -1}), IrError);
  EXPECT_THROW(HostTensor::zeros(DType::Q8_0, {2, 31}), IrError);  // rows hold whole blocks
  EXPECT_THROW(HostTensor::zeros(DType::Q4_0, {}), IrError);
}

TEST(HostTensor, SetRoundsTheDoubleOnce) {
  HostTensor h = HostTensor::zeros(DType::F16, {2});
  // Just above the tie between 1 and 1 + 2^-10; a double -> float -> half chain would land on the tie.
  h.set(0, 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40));
  EXPECT_EQ(h.get(0), 1.0 + std::ldexp(1.0, -10));
  h.set(1, -2.5);
  EXPECT_EQ(h.get(1), -2.5);
  uint16_t stored;
  std::memcpy(&stored, h.bytes.data() + 2, 2);
  EXPECT_EQ(stored, 0xC100);

  HostTensor b = HostTensor::zeros(DType::BF16, {1});
  b.set(0, 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40));
  EXPECT_EQ(b.get(0), 1.0 + std::ldexp(1.0, -7));

  HostTensor f = HostTensor::zeros(DType::F32, {1});
  f.set(0, 0.1);
  EXPECT_EQ(f.get(0), static_cast<double>(0.1f));
}

TEST(HostTensor, I32) {
  HostTensor t = HostTensor::zeros(DType::I32, {3});
  t.set(0, 7);
  t.set(1, -3);
  t.set(2, 2.5);  // ties to even
  EXPECT_EQ(t.get(0), 7);
  EXPECT_EQ(t.get(1), -3);
  EXPECT_EQ(t.get(2), 2);
  int32_t stored;
  std::memcpy(&stored, t.bytes.data() + 4, 4);
  EXPECT_EQ(stored, -3);
  EXPECT_THROW(t.set(0, 1e10), IrError);
  EXPECT_THROW(t.set(0, std::numeric_limits<double>::quiet_NaN()), IrError);
}

TEST(HostTensor, OutOfRangeAccessThrows) {
  HostTensor t = HostTensor::zeros(DType::F32, {2, 2});
  EXPECT_THROW(t.get(4), IrError);
  EXPECT_THROW(t.get(-1), IrError);
  EXPECT_THROW(t.set(4, 1.0), IrError);
  HostTensor q = HostTensor::zeros(DType::Q4_0, {1, 32});
  EXPECT_THROW(q.get(32), IrError);
  t.bytes.resize(6);  // a malformed tensor: fewer bytes than its shape needs
  EXPECT_THROW(t.get(2), IrError);
}

// One q8_0 block: f16 scale bits, then 32 signed quants.
void append_q8_block(std::vector<uint8_t>& bytes, uint16_t scale_bits, const int8_t (&quants)[32]) {
  bytes.push_back(static_cast<uint8_t>(scale_bits & 0xFF));
  bytes.push_back(static_cast<uint8_t>(scale_bits >> 8));
  for (int8_t q : quants) bytes.push_back(static_cast<uint8_t>(q));
}

TEST(HostTensor, DequantizesQ8_0) {
  HostTensor t;
  t.dtype = DType::Q8_0;
  t.shape = {2, 32};
  int8_t first[32], second[32];
  for (int j = 0; j < 32; ++j) {
    first[j] = static_cast<int8_t>(j - 16);
    second[j] = static_cast<int8_t>(3);
  }
  first[0] = -128;
  first[31] = 127;
  append_q8_block(t.bytes, 0x3800, first);   // d = 0.5
  append_q8_block(t.bytes, 0xC000, second);  // d = -2
  ASSERT_EQ(t.size_bytes(), 68);
  EXPECT_EQ(t.get(0), -64.0);
  EXPECT_EQ(t.get(1), -7.5);
  EXPECT_EQ(t.get(16), 0.0);
  EXPECT_EQ(t.get(17), 0.5);
  EXPECT_EQ(t.get(30), 7.0);
  EXPECT_EQ(t.get(31), 63.5);
  EXPECT_EQ(t.get(32), -6.0);
  EXPECT_EQ(t.get(63), -6.0);
  EXPECT_THROW(t.set(0, 1.0), IrError);
}

TEST(HostTensor, DequantizesQ4_0) {
  HostTensor t;
  t.dtype = DType::Q4_0;
  t.shape = {1, 64};
  // Block 0: d = 0.25; byte j holds element j (low nibble j) and element j+16 (high nibble 15-j).
  t.bytes = {0x00, 0x34};
  for (int j = 0; j < 16; ++j) t.bytes.push_back(static_cast<uint8_t>(j | (15 - j) << 4));
  // Block 1: d = 1.5; every byte 0x9A: low nibble 10 (+2), high nibble 9 (+1).
  t.bytes.push_back(0x00);
  t.bytes.push_back(0x3E);
  for (int j = 0; j < 16; ++j) t.bytes.push_back(0x9A);
  ASSERT_EQ(t.size_bytes(), 36);
  EXPECT_EQ(t.get(0), -2.0);   // (0 - 8) * 0.25
  EXPECT_EQ(t.get(8), 0.0);    // (8 - 8) * 0.25
  EXPECT_EQ(t.get(15), 1.75);  // (15 - 8) * 0.25
  EXPECT_EQ(t.get(16), 1.75);  // high nibble of byte 0: 15
  EXPECT_EQ(t.get(20), 0.75);  // high nibble of byte 4: 11
  EXPECT_EQ(t.get(31), -2.0);  // high nibble of byte 15: 0
  EXPECT_EQ(t.get(32), 3.0);
  EXPECT_EQ(t.get(47), 3.0);
  EXPECT_EQ(t.get(48), 1.5);
  EXPECT_EQ(t.get(63), 1.5);
  EXPECT_THROW(t.set(1, 0.0), IrError);
}

TEST(HostTensor, RandomFloatsAreUniformInRange) {
  std::mt19937_64 rng(1);
  HostTensor t = HostTensor::random(DType::F32, {40, 25}, rng, -3.0, 5.0);
  double lo = 1e9, hi = -1e9;
  for (int64_t i = 0; i < t.numel(); ++i) {
    lo = std::min(lo, t.get(i));
    hi = std::max(hi, t.get(i));
  }
  EXPECT_GE(lo, -3.0);
  EXPECT_LT(hi, 5.0);
  EXPECT_LT(lo, -2.9);
  EXPECT_GT(hi, 4.9);

  for (DType dtype : {DType::F16, DType::BF16}) {
    HostTensor h = HostTensor::random(dtype, {500}, rng, 0.5, 2.0);
    std::set<double> distinct;
    for (int64_t i = 0; i < h.numel(); ++i) {
      EXPECT_GE(h.get(i), 0.5);
      EXPECT_LE(h.get(i), 2.0);  // rounding may reach hi
      distinct.insert(h.get(i));
    }
    EXPECT_GT(distinct.size(), 100u);
  }
  EXPECT_THROW(HostTensor::random(DType::F32, {2}, rng, 1.0, 1.0), IrError);
}

TEST(HostTensor, RandomI32CoversTheHalfOpenRange) {
  std::mt19937_64 rng(2);
  HostTensor t = HostTensor::random(DType::I32, {1000}, rng, -2, 3);
  std::set<double> seen;
  for (int64_t i = 0; i < t.numel(); ++i) seen.insert(t.get(i));
  EXPECT_EQ(seen, (std::set<double>{-2, -1, 0, 1, 2}));
  EXPECT_THROW(HostTensor::random(DType::I32, {2}, rng, 0.2, 0.7), IrError);  // no integer inside
}

TEST(HostTensor, RandomQuantizedBlocksStayInRange) {
  std::mt19937_64 rng(3);
  for (DType dtype : {DType::Q8_0, DType::Q4_0}) {
    for (auto [lo, hi] : {std::pair{-1.0, 1.0}, std::pair{0.0, 2.0}}) {
      HostTensor t = HostTensor::random(dtype, {8, 64}, rng, lo, hi);
      ASSERT_EQ(t.size_bytes(), storage_bytes(dtype, 8 * 64));
      std::set<double> distinct, block_max;
      for (int64_t block = 0; block < 16; ++block) {
        double amax = 0;
        for (int64_t i = block * 32; i < block * 32 + 32; ++i) {
          const double v = t.get(i);
          EXPECT_GE(v, lo) << name(dtype);
          EXPECT_LT(v, hi) << name(dtype);
          distinct.insert(v);
          amax = std::max(amax, std::fabs(v));
        }
        block_max.insert(amax);
      }
      EXPECT_GT(distinct.size(), 50u) << name(dtype);
      EXPECT_GT(block_max.size(), 8u) << name(dtype);  // scales differ between blocks
    }
  }
}

}  // namespace
}  // namespace vkllm::ir
