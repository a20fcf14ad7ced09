// Block formats and MLX groups. References are independent of the code under test: half values
// come from a table search over all 65536 halves (and from the compiler's _Float16 where it has
// one), hand-built blocks are decoded from the format description, and the 32-element quantizers
// are checked bit for bit against a transcription of ggml's reference C code written here.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "frontends/quant/blocks.h"
#include "frontends/quant/half.h"
#include "frontends/quant/mlx.h"

using namespace vkllm::frontends::quant;

namespace {

uint32_t fresh_seed() {
  static std::random_device rd;
  return rd();
}

// --- independent half reference ---------------------------------------------------------------------

double decode_half(uint16_t h) {
  const int exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exp == 0x1F) return mant ? std::nan("") : sign * INFINITY;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  return sign * std::ldexp(1024 + mant, exp - 25);
}

// Nearest half by searching the ordered positive halves; ties go to the even bit pattern.
uint16_t reference_f16(float f) {
  static const std::vector<double> positive = [] {
    std::vector<double> v;
    for (uint16_t h = 0; h <= 0x7C00; ++h) v.push_back(decode_half(h));  // 0 .. +inf, increasing
    return v;
  }();
  if (std::isnan(f)) return 0x7E00;
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(f));
  auto it = std::lower_bound(positive.begin(), positive.end(), a);
  if (it == positive.end()) return sign | 0x7C00;
  auto hi = static_cast<uint16_t>(it - positive.begin());
  if (*it == a || hi == 0) return sign | hi;
  const uint16_t lo = static_cast<uint16_t>(hi - 1);
  if (hi == 0x7C00) {  // above the largest finite half: rounds to inf from the midpoint 65520 on
    return sign | (a >= 65520.0 ? 0x7C00 : 0x7BFF);
  }
  const double dlo = a - positive[lo], dhi = positive[hi] - a;
  if (dlo < dhi) return sign | lo;
  if (dhi < dlo) return sign | hi;
  return sign | ((lo & 1) ? hi : lo);
}

TEST(Half, F16ToF32IsExactForEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float got = f16_to_f32(static_cast<uint16_t>(h));
    const double want = decode_half(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << h;
    } else {
      EXPECT_EQ(static_cast<double>(got), want) << std::hex << h;
      EXPECT_EQ(std::signbit(got), (h & 0x8000) != 0) << std::hex << h;
    }
  }
}

TEST(Half, F32ToF16RoundsToNearestEven) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  std::vector<float> values = {0.0f, -0.0f, 1.0f, 65504.0f, 65519.99f, 65520.0f, 1e9f, -1e9f, INFINITY, -INFINITY,
                               5.9604645e-08f /* 2^-24 */, 2.9802322e-08f /* 2^-25: tie to 0 */,
                               4.4703484e-08f /* 1.5·2^-24: tie to 2^-23 */, 6.1035156e-05f, 1.00048828125f,
                               1.00146484375f};
  for (int i = 0; i < 200000; ++i) {
    const uint32_t bits = rng();
    values.push_back(std::bit_cast<float>(bits));
    // Also values near the half range, where rounding matters most.
    values.push_back(std::ldexp(static_cast<float>(rng() % 100000) / 100000.0f + 1.0f, static_cast<int>(rng() % 45) - 28));
  }
  for (float v : values) {
    if (std::isnan(v)) {
      EXPECT_EQ(f32_to_f16(v) & 0x7FFF, 0x7E00);
      continue;
    }
    ASSERT_EQ(f32_to_f16(v), reference_f16(v)) << v;
#if defined(__FLT16_MANT_DIG__) && !defined(__clang__)
    ASSERT_EQ(f32_to_f16(v), std::bit_cast<uint16_t>(static_cast<_Float16>(v))) << v;
#endif
  }
}

TEST(Half, BFloat16) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F808001u)), 0x3F81);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x7F7FFFFFu)), 0x7F80);  // overflows to inf
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  EXPECT_EQ(bf16_to_f32(0x3F81), 1.0078125f);
  EXPECT_EQ(bf16_to_f32(0xC000), -2.0f);
}

// --- hand-built blocks ----------------------------------------------------------------------------

void put_f16(std::vector<uint8_t>& b, size_t at, float v) {
  const uint16_t h = reference_f16(v);
  b[at] = static_cast<uint8_t>(h);
  b[at + 1] = static_cast<uint8_t>(h >> 8);
}

std::vector<float> dequant(BlockType t, const std::vector<uint8_t>& b) {
  std::vector<float> out(b.size() / static_cast<size_t>(block_info(t).bytes) * static_cast<size_t>(block_info(t).elems));
  dequantize(t, b, out);
  return out;
}

TEST(BlockFormats, SizesAndBitsPerWeight) {
  EXPECT_EQ(block_info(BlockType::Q8_0).bytes, 34);
  EXPECT_EQ(block_info(BlockType::Q4_0).bytes, 18);
  EXPECT_EQ(block_info(BlockType::Q4_1).bytes, 20);
  EXPECT_EQ(block_info(BlockType::Q5_0).bytes, 22);
  EXPECT_EQ(block_info(BlockType::Q4_K).bytes, 144);
  EXPECT_EQ(block_info(BlockType::Q5_K).bytes, 176);
  EXPECT_EQ(block_info(BlockType::Q6_K).bytes, 210);
  EXPECT_EQ(bits_per_weight(BlockType::Q6_K), 6.5625);
  EXPECT_EQ(bits_per_weight(BlockType::Q4_K), 4.5);
  EXPECT_EQ(parse_block_type("q5_K"), BlockType::Q5_K);
  EXPECT_FALSE(parse_block_type("q5_k").has_value());
  EXPECT_THROW(storage_bytes(BlockType::Q4_K, 300), std::invalid_argument);
  std::vector<float> out(31);
  std::vector<uint8_t> one(34);
  EXPECT_THROW(dequantize(BlockType::Q8_0, one, out), std::invalid_argument);
  std::vector<float> bad(32, NAN);
  EXPECT_THROW(quantize(BlockType::Q8_0, bad), std::invalid_argument);
}

TEST(BlockFormats, Q8_0HandBuilt) {
  std::vector<uint8_t> b(34);
  put_f16(b, 0, 0.5f);
  for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j * 8 - 128));
  const std::vector<float> v = dequant(BlockType::Q8_0, b);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(v[j], (j * 8 - 128) * 0.5f) << j;
}

TEST(BlockFormats, Q4_0AndQ4_1HandBuilt) {
  std::vector<uint8_t> b(18);
  put_f16(b, 0, 0.25f);
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));  // low nibble j, high 15-j
  std::vector<float> v = dequant(BlockType::Q4_0, b);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(v[j], (j - 8) * 0.25f);             // element j: low nibble of byte j
    EXPECT_EQ(v[j + 16], (15 - j - 8) * 0.25f);   // element j+16: high nibble of byte j
  }
  std::vector<uint8_t> c(20);
  put_f16(c, 0, 0.5f);
  put_f16(c, 2, -1.0f);
  for (int j = 0; j < 16; ++j) c[4 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  v = dequant(BlockType::Q4_1, c);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(v[j], j * 0.5f - 1.0f);
    EXPECT_EQ(v[j + 16], (15 - j) * 0.5f - 1.0f);
  }
}

TEST(BlockFormats, Q5_0HandBuilt) {
  std::vector<uint8_t> b(22);
  put_f16(b, 0, 0.125f);
  const uint32_t qh = 0xA5C3F00Fu;  // bit j: fifth bit of element j
  for (int i = 0; i < 4; ++i) b[2 + i] = static_cast<uint8_t>(qh >> (8 * i));
  for (int j = 0; j < 16; ++j) b[6 + j] = static_cast<uint8_t>((j * 3 % 16) | ((j * 5 % 16) << 4));
  const std::vector<float> v = dequant(BlockType::Q5_0, b);
  for (int j = 0; j < 16; ++j) {
    const int lo = (j * 3 % 16) | static_cast<int>(((qh >> j) & 1) << 4);
    const int hi = (j * 5 % 16) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
    EXPECT_EQ(v[j], (lo - 16) * 0.125f) << j;
    EXPECT_EQ(v[j + 16], (hi - 16) * 0.125f) << j;
  }
}

// The K-quant 12-byte scale/min table as the format describes it: bytes 0-3 and 4-7 hold the 6-bit
// scales and mins of sub-blocks 0-3 in their low bits; sub-blocks 4-7 keep their low nibbles in
// bytes 8-11 (scale low, min high) and their top two bits in bits 6-7 of bytes 0-3 (scale) and
// 4-7 (min).
std::vector<uint8_t> pack_k_scales(const int sc[8], const int mn[8]) {
  std::vector<uint8_t> s(12, 0);
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
  }
  return s;
}

TEST(BlockFormats, Q4_KAndQ5_KHandBuilt) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const int sc[8] = {1, 63, 17, 40, 33, 5, 62, 48};
  const int mn[8] = {60, 2, 31, 47, 16, 63, 9, 35};
  const std::vector<uint8_t> scales = pack_k_scales(sc, mn);
  const float d = 0.0625f, dmin = 0.03125f;
  std::vector<int> q(256);
  for (int& x : q) x = static_cast<int>(rng() % 32);
  // Element e is in sub-block j = e/32 at l = e%32; sub-blocks 2k and 2k+1 share the 32 bytes
  // qs[32k..32k+31], the even one in the low nibbles. q5_K's fifth bit of element e is bit j of qh[l].
  std::vector<uint8_t> q4(144, 0), q5(176, 0);
  put_f16(q4, 0, d);
  put_f16(q4, 2, dmin);
  put_f16(q5, 0, d);
  put_f16(q5, 2, dmin);
  std::copy(scales.begin(), scales.end(), q4.begin() + 4);
  std::copy(scales.begin(), scales.end(), q5.begin() + 4);
  for (int e = 0; e < 256; ++e) {
    const int j = e / 32, l = e % 32;
    const int byte = (j / 2) * 32 + l;
    const int shift = (j % 2) * 4;
    q4[16 + byte] |= static_cast<uint8_t>((q[e] & 0xF) << shift);
    q5[48 + byte] |= static_cast<uint8_t>((q[e] & 0xF) << shift);
    q5[16 + l] |= static_cast<uint8_t>(((q[e] >> 4) & 1) << j);
  }
  const std::vector<float> v4 = dequant(BlockType::Q4_K, q4), v5 = dequant(BlockType::Q5_K, q5);
  for (int e = 0; e < 256; ++e) {
    const int j = e / 32;
    const float scale = d * static_cast<float>(sc[j]), min = dmin * static_cast<float>(mn[j]);
    EXPECT_EQ(v4[e], scale * static_cast<float>(q[e] & 0xF) - min) << e;
    EXPECT_EQ(v5[e], scale * static_cast<float>(q[e]) - min) << e;
  }
}

TEST(BlockFormats, Q6_KHandBuilt) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  std::vector<int> q(256);
  for (int& x : q) x = static_cast<int>(rng() % 64);
  int8_t sc[16];
  for (int i = 0; i < 16; ++i) sc[i] = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
  const float d = 0.00390625f;
  // Element e: half = e/128 (ql bytes 64·half.., qh bytes 32·half..), quarter = (e%128)/32, l = e%32.
  // Its low nibble is in ql[64·half + l + 32·(quarter%2)] (low nibble for quarters 0-1, high for
  // 2-3), its top two bits in bits 2·quarter of qh[32·half + l], its scale is
  // scales[8·half + l/16 + 2·quarter], value = d·scale·(q - 32).
  std::vector<uint8_t> b(210, 0);
  for (int e = 0; e < 256; ++e) {
    const int half = e / 128, quarter = (e % 128) / 32, l = e % 32;
    b[static_cast<size_t>(64 * half + l + 32 * (quarter % 2))] |= static_cast<uint8_t>((q[e] & 0xF) << (quarter / 2 * 4));
    b[static_cast<size_t>(128 + 32 * half + l)] |= static_cast<uint8_t>((q[e] >> 4) << (2 * quarter));
  }
  std::memcpy(b.data() + 192, sc, 16);
  put_f16(b, 208, d);
  const std::vector<float> v = dequant(BlockType::Q6_K, b);
  for (int e = 0; e < 256; ++e) {
    const int half = e / 128, quarter = (e % 128) / 32, l = e % 32;
    const int s = sc[8 * half + l / 16 + 2 * quarter];
    EXPECT_EQ(v[e], d * static_cast<float>(s) * static_cast<float>(q[e] - 32)) << e;
  }
}

// --- quantizers ---------------------------------------------------------------------------------------

std::vector<float> random_values(std::mt19937& rng, size_t n) {
  // Blocks of varying magnitude and offset, as real weights have.
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (size_t b = 0; b < n; b += 32) {
    const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 8) - 4);  // scales stay normal halves
    const float offset = (rng() % 4 == 0) ? u(rng) * scale : 0.0f;
    for (size_t i = b; i < b + 32 && i < n; ++i) v[i] = u(rng) * scale + offset;
  }
  return v;
}

// Transcriptions of ggml's quantize_row_*_ref (ggml-quants.c) with the reference half rounding.
void put_f16_ref(uint8_t* p, float v) {
  const uint16_t h = reference_f16(v);
  p[0] = static_cast<uint8_t>(h);
  p[1] = static_cast<uint8_t>(h >> 8);
}

std::vector<uint8_t> ggml_q8_0(const std::vector<float>& x) {
  std::vector<uint8_t> y(x.size() / 32 * 34);
  for (size_t i = 0; i < x.size() / 32; ++i) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[i * 32 + j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    put_f16_ref(&y[i * 34], d);
    for (int j = 0; j < 32; ++j) y[i * 34 + 2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(x[i * 32 + j] * id)));
  }
  return y;
}

std::vector<uint8_t> ggml_q4_0(const std::vector<float>& x) {
  std::vector<uint8_t> y(x.size() / 32 * 18);
  for (size_t i = 0; i < x.size() / 32; ++i) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
      const float v = x[i * 32 + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    put_f16_ref(&y[i * 18], d);
    for (int j = 0; j < 16; ++j) {
      const float x0 = x[i * 32 + j] * id, x1 = x[i * 32 + 16 + j] * id;
      const uint8_t xi0 = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 8.5f))));
      const uint8_t xi1 = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 8.5f))));
      y[i * 18 + 2 + j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
  }
  return y;
}

std::vector<uint8_t> ggml_q4_1(const std::vector<float>& x) {
  std::vector<uint8_t> y(x.size() / 32 * 20);
  for (size_t i = 0; i < x.size() / 32; ++i) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
      const float v = x[i * 32 + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const float d = (max - min) / ((1 << 4) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    put_f16_ref(&y[i * 20], d);
    put_f16_ref(&y[i * 20 + 2], min);
    for (int j = 0; j < 16; ++j) {
      const float x0 = (x[i * 32 + j] - min) * id, x1 = (x[i * 32 + 16 + j] - min) * id;
      const uint8_t xi0 = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 0.5f))));
      const uint8_t xi1 = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 0.5f))));
      y[i * 20 + 4 + j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
  }
  return y;
}

std::vector<uint8_t> ggml_q5_0(const std::vector<float>& x) {
  std::vector<uint8_t> y(x.size() / 32 * 22);
  for (size_t i = 0; i < x.size() / 32; ++i) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
      const float v = x[i * 32 + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -16;
    const float id = d ? 1.0f / d : 0.0f;
    put_f16_ref(&y[i * 22], d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const float x0 = x[i * 32 + j] * id, x1 = x[i * 32 + 16 + j] * id;
      const uint8_t xi0 = static_cast<uint8_t>(std::min(31, static_cast<int>(static_cast<int8_t>(x0 + 16.5f))));
      const uint8_t xi1 = static_cast<uint8_t>(std::min(31, static_cast<int>(static_cast<int8_t>(x1 + 16.5f))));
      y[i * 22 + 6 + j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
      qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(&y[i * 22 + 2], &qh, 4);
  }
  return y;
}

TEST(Quantize, SmallBlockFormatsMatchGgmlReferenceBitForBit) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  std::vector<float> x = random_values(rng, 32 * 512);
  // Edge cases: an all-zero block, a single spike, equal values, values at the half-range limit.
  std::fill(x.begin(), x.begin() + 32, 0.0f);
  std::fill(x.begin() + 32, x.begin() + 64, 0.0f);
  x[40] = -3.0f;
  std::fill(x.begin() + 64, x.begin() + 96, 0.7f);
  x[100] = 60000.0f;
  EXPECT_EQ(quantize(BlockType::Q8_0, x), ggml_q8_0(x));
  EXPECT_EQ(quantize(BlockType::Q4_0, x), ggml_q4_0(x));
  EXPECT_EQ(quantize(BlockType::Q4_1, x), ggml_q4_1(x));
  EXPECT_EQ(quantize(BlockType::Q5_0, x), ggml_q5_0(x));
}

// Round trips stay within the format's resolution. The bounds follow from each quantizer: q8_0 and
// q5_0/q4_0 round to a grid of step d (q4_0/q5_0 clip the far end by at most one step), q4_1 to
// (max-min)/15; K-quants (sub-block scales of 6 or 8 bits) are checked by RMS error.
TEST(Quantize, RoundTripErrorBounds) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const std::vector<float> x = random_values(rng, 256 * 64);
  for (BlockType t : {BlockType::Q8_0, BlockType::Q4_0, BlockType::Q4_1, BlockType::Q5_0}) {
    SCOPED_TRACE(std::string(name(t)));
    const std::vector<uint8_t> q = quantize(t, x);
    std::vector<float> y(x.size());
    dequantize(t, q, y);
    for (size_t b = 0; b < x.size(); b += 32) {
      float amax = 0, mn = INFINITY, mx = -INFINITY;
      for (size_t i = b; i < b + 32; ++i) {
        amax = std::max(amax, std::fabs(x[i]));
        mn = std::min(mn, x[i]);
        mx = std::max(mx, x[i]);
      }
      float bound = 0;
      switch (t) {
        case BlockType::Q8_0: bound = 0.51f * amax / 127 + amax * 1e-3f; break;
        case BlockType::Q4_0: bound = 1.01f * amax / 8 + amax * 1e-3f; break;
        case BlockType::Q5_0: bound = 1.01f * amax / 16 + amax * 1e-3f; break;
        default: bound = 0.51f * (mx - mn) / 15 + amax * 2e-3f; break;
      }
      for (size_t i = b; i < b + 32; ++i) ASSERT_LE(std::fabs(y[i] - x[i]), bound) << i << " x=" << x[i];
    }
  }
  // K-quants share one f16 scale per 256 values, so they are tested on data whose sub-blocks have
  // comparable ranges (as trained weights do): per 32 values, the RMS error is at most about half a
  // quantization step of the sub-block plus the error of its 6-bit (8-bit for q6_K) scale and min.
  std::uniform_real_distribution<float> u(-1.0f, 1.0f), spread(0.5f, 1.0f);
  std::vector<float> k(256 * 64);
  for (size_t sb = 0; sb < k.size(); sb += 256) {
    const float base = std::ldexp(1.0f, static_cast<int>(rng() % 8) - 4);
    for (size_t b = sb; b < sb + 256; b += 32) {
      const float mag = base * spread(rng), offset = rng() % 3 == 0 ? 0.3f * mag * u(rng) : 0.0f;
      for (size_t i = b; i < b + 32; ++i) k[i] = mag * u(rng) + offset;
    }
  }
  for (auto [t, levels] : {std::pair{BlockType::Q4_K, 15}, {BlockType::Q5_K, 31}, {BlockType::Q6_K, 63}}) {
    SCOPED_TRACE(std::string(name(t)));
    const std::vector<uint8_t> q = quantize(t, k);
    ASSERT_EQ(q.size(), storage_bytes(t, k.size()));
    std::vector<float> y(k.size());
    dequantize(t, q, y);
    for (size_t b = 0; b < k.size(); b += 32) {
      float mn = INFINITY, mx = -INFINITY, amax = 0, sb_amax = 0;
      double se = 0;
      for (size_t i = b; i < b + 32; ++i) {
        mn = std::min(mn, k[i]);
        mx = std::max(mx, k[i]);
        amax = std::max(amax, std::fabs(k[i]));
        se += (y[i] - k[i]) * (y[i] - k[i]);
      }
      for (size_t i = b / 256 * 256; i < b / 256 * 256 + 256; ++i) sb_amax = std::max(sb_amax, std::fabs(k[i]));
      // Affine formats span [min(x, 0), max(x)]; q6_K is symmetric around 0.
      const double range = t == BlockType::Q6_K ? 2 * amax : mx - std::min(mn, 0.0f);
      const double step = range / levels;
      const double scale_error = sb_amax / 63;  // a 6-bit scale/min step of the super-block, at most
      ASSERT_LE(std::sqrt(se / 32), 0.5 * step + 0.5 * scale_error) << "block at " << b;
    }
  }
}

TEST(Quantize, ZeroBlocksStayZero) {
  const std::vector<float> zeros(256 * 2, 0.0f);
  for (BlockType t : kAllBlockTypes) {
    std::vector<float> y(zeros.size(), 1.0f);
    dequantize(t, quantize(t, zeros), y);
    for (float v : y) ASSERT_EQ(v, 0.0f) << name(t);
  }
}

// --- MLX ----------------------------------------------------------------------------------------------

// Bit-by-bit packing: bit b of value k goes to stream bit k·bits + b, stream bit p to bit p%32 of word p/32.
std::vector<uint32_t> pack_bits(const std::vector<uint32_t>& q, int bits) {
  std::vector<uint32_t> w(q.size() * static_cast<size_t>(bits) / 32, 0);
  for (size_t k = 0; k < q.size(); ++k)
    for (int b = 0; b < bits; ++b)
      if ((q[k] >> b) & 1) {
        const size_t p = k * static_cast<size_t>(bits) + static_cast<size_t>(b);
        w[p / 32] |= 1u << (p % 32);
      }
  return w;
}

std::vector<uint32_t> unpack_bits(const std::vector<uint32_t>& w, int bits, size_t n) {
  std::vector<uint32_t> q(n, 0);
  for (size_t k = 0; k < n; ++k)
    for (int b = 0; b < bits; ++b) {
      const size_t p = k * static_cast<size_t>(bits) + static_cast<size_t>(b);
      q[k] |= ((w[p / 32] >> (p % 32)) & 1u) << b;
    }
  return q;
}

TEST(Mlx, HandPackedWords) {
  // 3 bits: values 0..7 repeated. Values 0-7 fill bits 0-23 (octal 76543210 = 0xFAC688); value 8
  // (= 0) at bit 24, value 9 (= 1) at bits 27-29, value 10 (= 2 = 0b010) straddles: its low two
  // bits (0b10) are bits 30-31 of word 0, its top bit (0) is bit 0 of word 1.
  std::vector<uint32_t> words = {0x88FAC688u, 0, 0};
  // Words 1 and 2 hold values 11..31 (3,4,5,6,7,0,1,...): build them from the hand-checked pattern
  // of 3-bit values at bit 1 of word 1.
  uint64_t stream = 0;
  int pos = 1;
  for (int k = 11; k < 32; ++k, pos += 3) stream |= static_cast<uint64_t>(k % 8) << pos;
  words[1] = static_cast<uint32_t>(stream);
  words[2] = static_cast<uint32_t>(stream >> 32);
  std::vector<float> scales = {0.5f}, biases = {-1.0f}, out(32);
  dequantize_mlx(3, 32, words, scales, biases, out);
  for (int k = 0; k < 32; ++k) EXPECT_EQ(out[k], 0.5f * static_cast<float>(k % 8) - 1.0f) << k;

  // 6 bits: values k for k = 0..31. Word 0 = 0 | 1<<6 | 2<<12 | 3<<18 | 4<<24 | (5 & 3)<<30.
  std::vector<uint32_t> w6(6, 0);
  w6[0] = (1u << 6) | (2u << 12) | (3u << 18) | (4u << 24) | (1u << 30);
  EXPECT_EQ(w6[0], 0x440C2040u);
  std::vector<uint32_t> q6(32);
  for (uint32_t k = 0; k < 32; ++k) q6[k] = k;
  const std::vector<uint32_t> packed6 = pack_bits(q6, 6);
  EXPECT_EQ(packed6[0], 0x440C2040u);
  std::vector<float> s6 = {2.0f}, b6 = {0.25f}, o6(32);
  dequantize_mlx(6, 32, packed6, s6, b6, o6);
  for (int k = 0; k < 32; ++k) EXPECT_EQ(o6[k], 2.0f * static_cast<float>(k) + 0.25f);

  // 4 bits: value k of a word at bits 4k (mlx packs power-of-two widths LSB first per uint32).
  std::vector<uint32_t> w4 = {0x76543210u, 0xFEDCBA98u, 0x01234567u, 0x89ABCDEFu};
  std::vector<float> s4 = {1.0f}, b4 = {0.0f}, o4(32);
  dequantize_mlx(4, 32, w4, s4, b4, o4);
  for (int k = 0; k < 16; ++k) EXPECT_EQ(o4[k], static_cast<float>(k));
  for (int k = 16; k < 24; ++k) EXPECT_EQ(o4[k], static_cast<float>(23 - k));
}

TEST(Mlx, PackUnpackRoundTripForEveryWidth) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  for (int bits : {2, 3, 4, 5, 6, 8})
    for (int gs : {32, 64, 128}) {
      SCOPED_TRACE(bits * 1000 + gs);
      const size_t n = static_cast<size_t>(gs) * 5;
      std::vector<uint32_t> q(n);
      for (auto& v : q) v = rng() % (1u << bits);
      const std::vector<uint32_t> words = pack_bits(q, bits);
      ASSERT_EQ(words.size(), mlx_packed_words(bits, gs, n));
      std::vector<float> scales(n / static_cast<size_t>(gs)), biases(scales.size()), out(n);
      for (size_t g = 0; g < scales.size(); ++g) {
        scales[g] = std::ldexp(1.0f, static_cast<int>(rng() % 8) - 4);
        biases[g] = static_cast<float>(static_cast<int>(rng() % 64) - 32);
      }
      dequantize_mlx(bits, gs, words, scales, biases, out);
      for (size_t k = 0; k < n; ++k) {
        const size_t g = k / static_cast<size_t>(gs);
        ASSERT_EQ(out[k], scales[g] * static_cast<float>(q[k]) + biases[g]) << k;
      }

      // Quantizing: packing agrees with the bit-by-bit unpacker, errors stay within half a step,
      // and the group's edge value of larger magnitude is exact.
      std::uniform_real_distribution<float> u(-2.0f, 1.0f);
      std::vector<float> w(n);
      for (float& v : w) v = u(rng);
      for (MlxScaleType st : {MlxScaleType::F32, MlxScaleType::BF16, MlxScaleType::F16}) {
        const MlxQuantized mq = quantize_mlx(bits, gs, w, st);
        std::vector<float> y(n);
        dequantize_mlx(bits, gs, mq.packed, mq.scales, mq.biases, y);
        const std::vector<uint32_t> qs = unpack_bits(mq.packed, bits, n);
        for (size_t k = 0; k < n; ++k) {
          const size_t g = k / static_cast<size_t>(gs);
          ASSERT_LT(qs[k], 1u << bits);
          ASSERT_EQ(y[k], mq.scales[g] * static_cast<float>(qs[k]) + mq.biases[g]);
          // Within one step (the far end of a group can be clipped by one step after the scale is
          // adjusted to hit the edge exactly), plus the rounding of the stored scale and bias.
          const float step = std::fabs(mq.scales[g]);
          const float rel = st == MlxScaleType::F32 ? 1e-6f : st == MlxScaleType::BF16 ? 1.0f / 256 : 1.0f / 2048;
          const float bound = 1.001f * step + rel * (static_cast<float>(qs[k]) * step + std::fabs(mq.biases[g])) + 1e-6f;
          ASSERT_LE(std::fabs(y[k] - w[k]), bound) << "bits " << bits << " k " << k;
        }
        if (st == MlxScaleType::F32)
          for (size_t g = 0; g < n / static_cast<size_t>(gs); ++g) {
            const auto [mn, mx] = std::minmax_element(w.begin() + static_cast<long>(g) * gs, w.begin() + static_cast<long>(g + 1) * gs);
            const auto edge = std::fabs(*mn) > std::fabs(*mx) ? mn : mx;
            EXPECT_EQ(y[static_cast<size_t>(edge - w.begin())], *edge);
          }
      }
    }
  EXPECT_THROW(check_mlx_format(7, 64), std::invalid_argument);
  EXPECT_THROW(check_mlx_format(4, 16), std::invalid_argument);
  std::vector<uint32_t> few(3);
  std::vector<float> s(1), b(1), o(32);
  EXPECT_THROW(dequantize_mlx(4, 32, few, s, b, o), std::invalid_argument);
}

}  // namespace
