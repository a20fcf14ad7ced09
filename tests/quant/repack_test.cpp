// The repacks of every source format into the kernel formats (frontends/source/repack.h) are
// lossless: the repacked tensor read through ir::HostTensor::get — the reference every kernel is
// tested against, which computes each value as the kernels do — gives bit for bit the f32 values
// frontends/quant's dequantizers give for the source. Inputs are fresh random blocks (every bit
// pattern of quants and sub-block scales) and quantizer outputs.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "frontends/quant/blocks.h"
#include "frontends/quant/half.h"
#include "frontends/quant/mlx.h"
#include "frontends/source/repack.h"
#include "ir/host_tensor.h"

using namespace vkllm;
using namespace vkllm::frontends;

namespace {

uint32_t fresh_seed() {
  static std::random_device rd;
  return rd();
}

// Offsets of the f16 scale fields of a ggml block (random bytes there could be NaN or infinite).
std::vector<int> half_fields(quant::BlockType t) {
  switch (t) {
    case quant::BlockType::Q8_0:
    case quant::BlockType::Q4_0:
    case quant::BlockType::Q5_0: return {0};
    case quant::BlockType::Q4_1:
    case quant::BlockType::Q4_K:
    case quant::BlockType::Q5_K: return {0, 2};
    case quant::BlockType::Q6_K: return {208};
  }
  return {};
}

// Random bytes, with finite random halves in the scale fields.
std::vector<uint8_t> random_blocks(quant::BlockType t, size_t blocks, std::mt19937& rng) {
  const int bytes = quant::block_info(t).bytes;
  std::vector<uint8_t> out(blocks * static_cast<size_t>(bytes));
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  for (uint8_t& b : out) b = static_cast<uint8_t>(byte(rng));
  for (size_t b = 0; b < blocks; ++b)
    for (int off : half_fields(t)) {
      const uint16_t h = quant::f32_to_f16(scale(rng));
      std::memcpy(out.data() + b * static_cast<size_t>(bytes) + off, &h, 2);
    }
  return out;
}

// Every value of `t` read through HostTensor::get equals `want` bit for bit.
void expect_bit_exact(ir::DType dtype, int64_t rows, int64_t cols, std::vector<uint8_t> bytes,
                      const std::vector<float>& want) {
  ir::HostTensor t;
  t.dtype = dtype;
  t.shape = {rows, cols};
  t.bytes = std::move(bytes);
  ASSERT_EQ(t.size_bytes(), ir::storage_bytes(dtype, rows * cols));
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < rows * cols; ++i) {
    const auto got = static_cast<float>(t.get(i));
    if (std::bit_cast<uint32_t>(got) != std::bit_cast<uint32_t>(want[static_cast<size_t>(i)])) {
      if (first < 0) first = i;
      ++bad;
    }
  }
  EXPECT_EQ(bad, 0) << "first mismatch at " << first << ": got " << t.get(first) << ", want "
                    << (first >= 0 ? want[static_cast<size_t>(first)] : 0.0f);
}

TEST(Repack, EveryGgmlBlockTypeIsLossless) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  for (quant::BlockType t : quant::kAllBlockTypes) {
    SCOPED_TRACE(std::string(quant::name(t)));
    const int64_t rows = 3, cols = 512;
    const size_t blocks = static_cast<size_t>(rows * cols / quant::block_info(t).elems);
    // Random blocks, then what the reference quantizer writes for random values.
    std::vector<float> values(static_cast<size_t>(rows * cols));
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (float& v : values) v = normal(rng);
    for (const std::vector<uint8_t>& src : {random_blocks(t, blocks, rng), quant::quantize(t, values)}) {
      std::vector<float> want(static_cast<size_t>(rows * cols));
      quant::dequantize(t, src, want);
      expect_bit_exact(kernel_dtype(t), rows, cols, repack_ggml(t, src), want);
    }
  }
}

TEST(Repack, KernelFormatsOfGgmlTypes) {
  EXPECT_EQ(kernel_dtype(quant::BlockType::Q8_0), ir::DType::Q8_0);
  EXPECT_EQ(kernel_dtype(quant::BlockType::Q5_0), ir::DType::Q8_0);
  EXPECT_EQ(kernel_dtype(quant::BlockType::Q4_0), ir::DType::Q4_0);
  EXPECT_EQ(kernel_dtype(quant::BlockType::Q4_1), ir::DType::QA4H);
  EXPECT_EQ(kernel_dtype(quant::BlockType::Q4_K), ir::DType::Q4_K);
  EXPECT_EQ(kernel_dtype(quant::BlockType::Q5_K), ir::DType::Q5_K);
  EXPECT_EQ(kernel_dtype(quant::BlockType::Q6_K), ir::DType::Q6_K);
  EXPECT_THROW(repack_ggml(quant::BlockType::Q5_K, std::vector<uint8_t>(175)), std::invalid_argument);
  EXPECT_THROW(repack_ggml(quant::BlockType::Q4_1, std::vector<uint8_t>(21)), std::invalid_argument);
}

TEST(Repack, EveryMlxFormatIsLossless) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (int bits : {2, 3, 4, 5, 6, 8})
    for (int group : {32, 64, 128})
      for (quant::MlxScaleType st : {quant::MlxScaleType::F32, quant::MlxScaleType::F16, quant::MlxScaleType::BF16}) {
        SCOPED_TRACE(testing::Message() << bits << " bits, group " << group << ", scale type " << static_cast<int>(st));
        const int64_t rows = 4, cols = 256;
        std::vector<float> values(static_cast<size_t>(rows * cols));
        for (float& v : values) v = normal(rng);
        const quant::MlxQuantized q = quant::quantize_mlx(bits, group, values, st);
        std::vector<float> want(values.size());
        quant::dequantize_mlx(bits, group, q.packed, q.scales, q.biases, want);
        // f16 scales always fit the f16-scale formats, these bf16 ones too (all in f16's normal
        // range), f32 ones from the quantizer practically never.
        const ir::DType target = mlx_kernel_dtype(bits, group, q.scales, q.biases);
        const bool half = st != quant::MlxScaleType::F32, wide = group >= 64;
        const ir::DType want_target = !half ? (bits <= 4 ? ir::DType::QA4 : ir::DType::QA8)
                                      : bits <= 4 ? (wide ? ir::DType::QA4H_G64 : ir::DType::QA4H)
                                                  : (wide ? ir::DType::QA8H_G64 : ir::DType::QA8H);
        EXPECT_EQ(target, want_target);
        expect_bit_exact(target, rows, cols, repack_mlx(target, bits, group, rows, cols, q.packed, q.scales, q.biases),
                         want);
        // The f32-scale formats take any scales.
        const ir::DType f32_fields = bits <= 4 ? ir::DType::QA4 : ir::DType::QA8;
        expect_bit_exact(f32_fields, rows, cols,
                         repack_mlx(f32_fields, bits, group, rows, cols, q.packed, q.scales, q.biases), want);
      }
  // Random words (every q value) with random scales and biases.
  for (int bits : {3, 4, 8}) {
    const int64_t rows = 2, cols = 128;
    std::vector<uint32_t> words(static_cast<size_t>(rows * cols * bits / 32));
    for (uint32_t& w : words) w = static_cast<uint32_t>(rng());
    std::vector<float> scales(static_cast<size_t>(rows * cols / 64)), biases(scales.size());
    for (size_t i = 0; i < scales.size(); ++i) scales[i] = normal(rng), biases[i] = normal(rng);
    std::vector<float> want(static_cast<size_t>(rows * cols));
    quant::dequantize_mlx(bits, 64, words, scales, biases, want);
    const ir::DType target = mlx_kernel_dtype(bits, 64, scales, biases);
    EXPECT_EQ(target, bits <= 4 ? ir::DType::QA4 : ir::DType::QA8);  // random f32 scales are not f16 values
    expect_bit_exact(target, rows, cols, repack_mlx(target, bits, 64, rows, cols, words, scales, biases), want);
    EXPECT_THROW(repack_mlx(bits <= 4 ? ir::DType::QA4H_G64 : ir::DType::QA8H_G64, bits, 64, rows, cols, words, scales,
                            biases),
                 std::invalid_argument);
  }
}

TEST(Repack, MlxSizeMismatchesAreErrors) {
  const std::vector<float> two(2), three(3);
  const ir::DType qa4 = ir::DType::QA4;
  EXPECT_NO_THROW(repack_mlx(qa4, 4, 64, 1, 128, std::vector<uint32_t>(16), two, two));
  EXPECT_THROW(repack_mlx(qa4, 4, 64, 1, 128, std::vector<uint32_t>(15), two, two), std::invalid_argument);
  EXPECT_THROW(repack_mlx(qa4, 4, 64, 1, 128, std::vector<uint32_t>(16), three, two), std::invalid_argument);
  EXPECT_THROW(repack_mlx(qa4, 4, 64, 1, 96, std::vector<uint32_t>(12), two, two), std::invalid_argument);  // not whole groups
  EXPECT_THROW(repack_mlx(qa4, 7, 64, 1, 128, std::vector<uint32_t>(28), two, two), std::invalid_argument);
  EXPECT_THROW(repack_mlx(qa4, 8, 64, 1, 128, std::vector<uint32_t>(32), two, two), std::invalid_argument);  // 8 bits in qa4
  EXPECT_THROW(repack_mlx(ir::DType::Q8_0, 8, 64, 1, 128, std::vector<uint32_t>(32), two, two), std::invalid_argument);
  // 64-value blocks cannot take groups of 32.
  EXPECT_THROW(repack_mlx(ir::DType::QA4H_G64, 4, 32, 1, 128, std::vector<uint32_t>(16), std::vector<float>(4),
                          std::vector<float>(4)),
               std::invalid_argument);
}

TEST(QuantizeForKernel, GgmlTargetsAreTheReferenceQuantizers) {
  std::mt19937 rng(fresh_seed());
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> values(2 * 512);
  for (float& v : values) v = normal(rng);
  const std::pair<ir::DType, quant::BlockType> pairs[] = {{ir::DType::Q8_0, quant::BlockType::Q8_0},
                                                          {ir::DType::Q4_0, quant::BlockType::Q4_0},
                                                          {ir::DType::Q4_K, quant::BlockType::Q4_K},
                                                          {ir::DType::Q5_K, quant::BlockType::Q5_K},
                                                          {ir::DType::Q6_K, quant::BlockType::Q6_K}};
  for (auto [dtype, block] : pairs) EXPECT_EQ(quantize_for_kernel(dtype, 512, values), quant::quantize(block, values));
}

// MLX's quantizer makes a group's larger-magnitude edge exact, which can stretch the step past
// (max - min) / levels, so the bound is one nominal step rather than half.
TEST(QuantizeForKernel, AffineTargetsStayWithinAStep) {
  std::mt19937 rng(fresh_seed());
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const int64_t rows = 3, cols = 192;
  std::vector<float> values(static_cast<size_t>(rows * cols));
  for (float& v : values) v = normal(rng);
  for (auto [dtype, levels] : {std::pair{ir::DType::QA4, 15.0}, std::pair{ir::DType::QA8, 255.0},
                               std::pair{ir::DType::QA4H, 15.0}, std::pair{ir::DType::QA8H, 255.0},
                               std::pair{ir::DType::QA4H_G64, 15.0}, std::pair{ir::DType::QA8H_G64, 255.0}}) {
    SCOPED_TRACE(std::string(ir::name(dtype)));
    ir::HostTensor t{dtype, {rows, cols}, quantize_for_kernel(dtype, cols, values)};
    const int64_t group = ir::info(dtype).block_elems;
    for (int64_t g = 0; g < rows * cols / group; ++g) {
      float lo = INFINITY, hi = -INFINITY;
      for (int64_t j = 0; j < group; ++j) {
        lo = std::min(lo, values[static_cast<size_t>(g * group + j)]);
        hi = std::max(hi, values[static_cast<size_t>(g * group + j)]);
      }
      const double step = (hi - lo) / levels;
      for (int64_t j = 0; j < group; ++j)
        EXPECT_LE(std::fabs(t.get(g * group + j) - values[static_cast<size_t>(g * group + j)]), step * 1.001 + 1e-9);
    }
  }
  EXPECT_THROW(quantize_for_kernel(ir::DType::Q4_K, 192, values), std::invalid_argument);  // 192 is not 256·k
  EXPECT_THROW(quantize_for_kernel(ir::DType::BF16, 192, values), std::invalid_argument);
}

TEST(BitsPerWeight, KernelFormats) {
  EXPECT_DOUBLE_EQ(bits_per_weight(ir::DType::Q8_0), 8.5);
  EXPECT_DOUBLE_EQ(bits_per_weight(ir::DType::Q4_0), 4.5);
  EXPECT_DOUBLE_EQ(bits_per_weight(ir::DType::Q4_K), 4.5);
  EXPECT_DOUBLE_EQ(bits_per_weight(ir::DType::Q5_K), 5.5);
  EXPECT_DOUBLE_EQ(bits_per_weight(ir::DType::Q6_K), 6.5625);
  EXPECT_DOUBLE_EQ(bits_per_weight(ir::DType::QA4), 6.0);
  EXPECT_DOUBLE_EQ(bits_per_weight(ir::DType::QA8), 10.0);
  EXPECT_DOUBLE_EQ(bits_per_weight(ir::DType::QA4H), 5.0);
  EXPECT_DOUBLE_EQ(bits_per_weight(ir::DType::QA8H), 9.0);
  EXPECT_DOUBLE_EQ(bits_per_weight(ir::DType::QA4H_G64), 4.5);
  EXPECT_DOUBLE_EQ(bits_per_weight(ir::DType::QA8H_G64), 8.5);
}

}  // namespace
