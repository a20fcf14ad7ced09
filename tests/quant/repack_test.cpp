// The repacks of every source format into the kernel formats (frontends/source/repack.h) are
// lossless: the repacked tensor read through ir::HostTensor::get — the reference every kernel is
// tested against, which computes each value as the kernels do — gives bit for bit the f32 values
// frontends/quant's dequantizers give for the source. Inputs are fresh random blocks (every bit
// pattern of quants and sub-block scales) and quantizer outputs.
#include <fmt/format.h>
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

// Every --quant format, as the quantizers give it for the whole matrix on one thread: ggml's
// reference quantizer, or MLX's quantizer repacked (what quantize_for_kernel did before it split rows).
constexpr ir::DType kQuantizeTargets[] = {ir::DType::Q8_0, ir::DType::Q4_0, ir::DType::Q4_K, ir::DType::Q5_K,
                                          ir::DType::Q6_K, ir::DType::QA4, ir::DType::QA8, ir::DType::QA4H,
                                          ir::DType::QA8H, ir::DType::QA4H_G64, ir::DType::QA8H_G64};

std::vector<uint8_t> serial_quantization(ir::DType target, int64_t cols, const std::vector<float>& values) {
  switch (target) {
    case ir::DType::Q8_0: return quant::quantize(quant::BlockType::Q8_0, values);
    case ir::DType::Q4_0: return quant::quantize(quant::BlockType::Q4_0, values);
    case ir::DType::Q4_K: return quant::quantize(quant::BlockType::Q4_K, values);
    case ir::DType::Q5_K: return quant::quantize(quant::BlockType::Q5_K, values);
    case ir::DType::Q6_K: return quant::quantize(quant::BlockType::Q6_K, values);
    default: break;
  }
  const bool four = target == ir::DType::QA4 || target == ir::DType::QA4H || target == ir::DType::QA4H_G64;
  const bool f32_scales = target == ir::DType::QA4 || target == ir::DType::QA8;
  const int block = ir::info(target).block_elems;
  const quant::MlxQuantized q = quant::quantize_mlx(four ? 4 : 8, block, values,
                                                    f32_scales ? quant::MlxScaleType::F32 : quant::MlxScaleType::F16);
  return repack_mlx(target, four ? 4 : 8, block, static_cast<int64_t>(values.size()) / cols, cols, q.packed, q.scales,
                    q.biases);
}

// 37 rows (prime: no thread count divides them) of 512 values (whole blocks of every format).
TEST(QuantizeForKernel, AnyThreadSplitGivesTheSerialBytes) {
  std::mt19937 rng(fresh_seed());
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const int64_t rows = 37, cols = 512;
  std::vector<float> values(static_cast<size_t>(rows * cols));
  for (float& v : values) v = normal(rng);
  const QuantizeSplit splits[] = {
      {},                                        // the loader's default
      {.threads = 1},                            // one thread, chunks of 128 rows: the whole matrix at once
      {.threads = 2, .chunk_values = 3 * cols},  // 19 + 18 rows, chunks of 3 rows (the last one shorter)
      {.threads = 3, .chunk_values = 1},         // a row at a time
      {.threads = 4, .chunk_values = 5 * cols + 7},
      {.threads = 8},
      {.threads = 64, .chunk_values = 2 * cols},  // more threads than rows: one row each
  };
  for (ir::DType target : kQuantizeTargets) {
    SCOPED_TRACE(std::string(ir::name(target)));
    const std::vector<uint8_t> serial = serial_quantization(target, cols, values);
    ASSERT_EQ(static_cast<int64_t>(serial.size()), ir::storage_bytes(target, rows * cols));
    for (const QuantizeSplit& split : splits) {
      SCOPED_TRACE(fmt::format("{} threads, chunks of {} values", split.threads, split.chunk_values));
      EXPECT_EQ(quantize_for_kernel(target, cols, values, split), serial);
    }
  }
  EXPECT_TRUE(quantize_for_kernel(ir::DType::Q4_0, cols, {}, {.threads = 4}).empty());
}

// Every f16 and bf16 bit pattern widens to the value HostTensor::get reads (non-finite ones to the same class).
TEST(QuantizeForKernel, WideningIsHostTensorGet) {
  for (ir::DType stored : {ir::DType::F16, ir::DType::BF16}) {
    SCOPED_TRACE(std::string(ir::name(stored)));
    // Read from an odd address: stored matrices are at any offset of a mapped file.
    std::vector<uint8_t> shifted(1 + 2 * 65536, 0x5A);
    for (uint32_t h = 0; h < 65536; ++h) {
      shifted[1 + 2 * h] = static_cast<uint8_t>(h);
      shifted[2 + 2 * h] = static_cast<uint8_t>(h >> 8);
    }
    const ir::HostTensor t{stored, {65536}, {shifted.begin() + 1, shifted.end()}};
    std::vector<float> widened(65536, std::nanf("poison"));
    widen_to_f32(stored, std::span(shifted).subspan(1), widened);
    int64_t bad = 0;
    for (int64_t i = 0; i < 65536; ++i) {
      const auto want = static_cast<float>(t.get(i));
      const float got = widened[static_cast<size_t>(i)];
      bad += std::isfinite(want) ? std::bit_cast<uint32_t>(got) != std::bit_cast<uint32_t>(want)
                                 : std::isnan(want) != std::isnan(got) || std::isinf(want) != std::isinf(got) ||
                                       std::signbit(want) != std::signbit(got);
    }
    EXPECT_EQ(bad, 0);
  }
  std::vector<float> out(4);
  EXPECT_THROW(widen_to_f32(ir::DType::Q8_0, std::vector<uint8_t>(8), out), std::invalid_argument);
  EXPECT_THROW(widen_to_f32(ir::DType::BF16, std::vector<uint8_t>(6), out), std::invalid_argument);
}

// A stored f32 / f16 / bf16 matrix quantizes as its values widened through HostTensor::get would.
TEST(QuantizeForKernel, StoredMatricesQuantizeAsTheirWidenedValues) {
  std::mt19937 rng(fresh_seed());
  const int64_t rows = 23, cols = 256;
  for (ir::DType stored : {ir::DType::F32, ir::DType::F16, ir::DType::BF16}) {
    SCOPED_TRACE(std::string(ir::name(stored)));
    // Random finite values spanning subnormals to ~1e3 (f16: its whole finite range), at an odd offset.
    std::uniform_int_distribution<uint32_t> bits;
    std::vector<uint8_t> buffer(1 + static_cast<size_t>(ir::storage_bytes(stored, rows * cols)), 0xA5);
    const std::span<uint8_t> bytes = std::span(buffer).subspan(1);
    for (int64_t i = 0; i < rows * cols; ++i) {
      const uint32_t r = bits(rng);
      if (stored == ir::DType::F32) {
        const uint32_t f = (r & 0x807FFFFF) | ((r >> 23) % 138) << 23;
        std::memcpy(bytes.data() + 4 * i, &f, 4);
      } else {
        const uint32_t exponent = stored == ir::DType::F16 ? (r >> 16) % 31 : (r >> 16) % 138;
        const uint32_t h = stored == ir::DType::F16 ? (r & 0x83FF) | exponent << 10 : (r & 0x807F) | exponent << 7;
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
    }
    const ir::HostTensor t{stored, {rows, cols}, {bytes.begin(), bytes.end()}};
    std::vector<float> widened(static_cast<size_t>(rows * cols));
    for (size_t i = 0; i < widened.size(); ++i) widened[i] = static_cast<float>(t.get(static_cast<int64_t>(i)));
    for (ir::DType target : kQuantizeTargets) {
      SCOPED_TRACE(std::string(ir::name(target)));
      EXPECT_EQ(quantize_matrix_for_kernel(target, stored, rows, cols, bytes, {.threads = 3, .chunk_values = 2 * cols}),
                serial_quantization(target, cols, widened));
    }
  }
  const std::vector<uint8_t> two_rows(2 * 256 * 2);
  EXPECT_THROW(quantize_matrix_for_kernel(ir::DType::Q4_0, ir::DType::BF16, 3, 256, two_rows), std::invalid_argument);
  EXPECT_THROW(quantize_matrix_for_kernel(ir::DType::Q4_0, ir::DType::I32, 1, 256, two_rows), std::invalid_argument);
  EXPECT_THROW(quantize_matrix_for_kernel(ir::DType::Q4_K, ir::DType::BF16, 4, 128, two_rows), std::invalid_argument);
}

// A value that is not finite is an error naming the first one in row-major order, whichever thread meets it.
TEST(QuantizeForKernel, NonFiniteValuesAreErrorsNamingTheFirst) {
  std::mt19937 rng(fresh_seed());
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const int64_t rows = 37, cols = 64;
  std::vector<float> values(static_cast<size_t>(rows * cols));
  for (float& v : values) v = normal(rng);
  values[30 * cols + 5] = INFINITY;  // the third of four threads' rows
  values[35 * cols + 1] = NAN;       // the fourth's
  for (ir::DType target : {ir::DType::Q4_0, ir::DType::QA8H_G64}) {
    for (unsigned threads : {1u, 4u, 37u}) {
      SCOPED_TRACE(fmt::format("{}, {} threads", ir::name(target), threads));
      try {
        quantize_for_kernel(target, cols, values, {.threads = threads, .chunk_values = 1});
        ADD_FAILURE() << "no error";
      } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("(row 30, column 5) is inf"), std::string::npos) << e.what();
      }
    }
  }
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
