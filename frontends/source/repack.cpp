#include "frontends/source/repack.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "frontends/quant/half.h"
#include "frontends/quant/mlx.h"

namespace vkllm::frontends {
namespace {


float f16_field(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return quant::f16_to_f32(h);
}

bool is_affine(ir::DType t) {
  return t == ir::DType::QA4 || t == ir::DType::QA8 || t == ir::DType::QA4H || t == ir::DType::QA8H ||
         t == ir::DType::QA4H_G64 || t == ir::DType::QA8H_G64;
}
bool is_half_affine(ir::DType t) { return is_affine(t) && t != ir::DType::QA4 && t != ir::DType::QA8; }
int affine_bits(ir::DType t) {
  return t == ir::DType::QA4 || t == ir::DType::QA4H || t == ir::DType::QA4H_G64 ? 4 : 8;
}

bool exact_in_f16(float v) {
  const float back = quant::f16_to_f32(quant::f32_to_f16(v));
  return std::memcmp(&back, &v, 4) == 0;
}

// Writes one affine block of `t`: scale, bias (f32, or f16 — exact, checked by the caller), then the
// block's 32 or 64 values `q` (nibble pairs for 4-bit formats, bytes for 8-bit ones).
void write_affine_block(uint8_t* out, ir::DType t, float scale, float bias, const uint8_t* q) {
  const int n = ir::info(t).block_elems;
  int header = 8;
  if (is_half_affine(t)) {
    const uint16_t s = quant::f32_to_f16(scale), b = quant::f32_to_f16(bias);
    std::memcpy(out, &s, 2);
    std::memcpy(out + 2, &b, 2);
    header = 4;
  } else {
    std::memcpy(out, &scale, 4);
    std::memcpy(out + 4, &bias, 4);
  }
  if (affine_bits(t) == 4) {
    for (int j = 0; j < n / 2; ++j) out[header + j] = static_cast<uint8_t>(q[2 * j] | q[2 * j + 1] << 4);
  } else {
    std::memcpy(out + header, q, static_cast<size_t>(n));
  }
}

size_t whole_blocks(quant::BlockType t, size_t bytes) {
  const int block = quant::block_info(t).bytes;
  if (bytes % static_cast<size_t>(block) != 0)
    throw std::invalid_argument(
        fmt::format("{} bytes are not a whole number of {}-byte {} blocks", bytes, block, quant::name(t)));
  return bytes / static_cast<size_t>(block);
}

}  // namespace

ir::DType kernel_dtype(quant::BlockType t) {
  switch (t) {
    case quant::BlockType::Q8_0:
    case quant::BlockType::Q5_0: return ir::DType::Q8_0;
    case quant::BlockType::Q4_0: return ir::DType::Q4_0;
    case quant::BlockType::Q4_1: return ir::DType::QA4H;
    case quant::BlockType::Q4_K: return ir::DType::Q4_K;
    case quant::BlockType::Q5_K: return ir::DType::Q5_K;
    case quant::BlockType::Q6_K: return ir::DType::Q6_K;
  }
  throw std::invalid_argument("unknown ggml block type");
}

ir::DType mlx_kernel_dtype(int bits, int group_size, std::span<const float> scales, std::span<const float> biases) {
  bool half = true;
  for (size_t i = 0; i < scales.size() && half; ++i) half = exact_in_f16(scales[i]);
  for (size_t i = 0; i < biases.size() && half; ++i) half = exact_in_f16(biases[i]);
  const bool wide_groups = group_size % 64 == 0;
  if (bits <= 4) return !half ? ir::DType::QA4 : wide_groups ? ir::DType::QA4H_G64 : ir::DType::QA4H;
  return !half ? ir::DType::QA8 : wide_groups ? ir::DType::QA8H_G64 : ir::DType::QA8H;
}

std::vector<uint8_t> repack_ggml(quant::BlockType t, std::span<const uint8_t> blocks) {
  const size_t n = whole_blocks(t, blocks.size());
  const int in_bytes = quant::block_info(t).bytes;
  switch (t) {
    case quant::BlockType::Q8_0:
    case quant::BlockType::Q4_0:
    case quant::BlockType::Q4_K:
    case quant::BlockType::Q5_K:
    case quant::BlockType::Q6_K: return {blocks.begin(), blocks.end()};
    default: break;
  }
  const ir::DType target = kernel_dtype(t);
  const auto out_bytes = static_cast<size_t>(ir::info(target).block_bytes);
  const size_t out_per_block = static_cast<size_t>(quant::block_info(t).elems / ir::info(target).block_elems);
  std::vector<uint8_t> out(n * out_per_block * out_bytes);
  for (size_t b = 0; b < n; ++b) {
    const uint8_t* in = blocks.data() + b * static_cast<size_t>(in_bytes);
    uint8_t* dst = out.data() + b * out_per_block * out_bytes;
    uint8_t q[32];
    switch (t) {
      case quant::BlockType::Q5_0: {
        // d, 32 fifth bits, 16 bytes of nibbles (element j low, j + 16 high): q - 16 fits int8, same d.
        uint32_t qh;
        std::memcpy(&qh, in + 2, 4);
        std::memcpy(dst, in, 2);
        for (int j = 0; j < 16; ++j) {
          const int low = (in[6 + j] & 0xF) | (((qh >> j) << 4) & 0x10);
          const int high = (in[6 + j] >> 4) | ((qh >> (j + 12)) & 0x10);
          dst[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(low - 16));
          dst[2 + 16 + j] = static_cast<uint8_t>(static_cast<int8_t>(high - 16));
        }
        break;
      }
      case quant::BlockType::Q4_1: {
        // d, m, nibbles as q4_0: value q·d + m = qa4h with scale d, bias m (the same f16 values).
        for (int j = 0; j < 16; ++j) {
          q[j] = in[4 + j] & 0xF;
          q[j + 16] = in[4 + j] >> 4;
        }
        write_affine_block(dst, target, f16_field(in), f16_field(in + 2), q);
        break;
      }
      default: break;
    }
  }
  return out;
}

std::vector<uint8_t> repack_mlx(ir::DType target, int bits, int group_size, int64_t rows, int64_t cols,
                                std::span<const uint32_t> packed, std::span<const float> scales,
                                std::span<const float> biases) {
  quant::check_mlx_format(bits, group_size);
  if (!is_affine(target))
    throw std::invalid_argument(fmt::format("{} is not an affine kernel format", ir::name(target)));
  const int block = ir::info(target).block_elems;
  if (group_size % block != 0)
    throw std::invalid_argument(
        fmt::format("groups of {} values do not fill {}'s {}-value blocks", group_size, ir::name(target), block));
  if (bits > affine_bits(target))
    throw std::invalid_argument(fmt::format("{}-bit values do not fit {}", bits, ir::name(target)));
  if (rows < 0 || cols <= 0 || cols % group_size != 0)
    throw std::invalid_argument(
        fmt::format("MLX matrix {} x {}: columns must be a positive multiple of the group size {}", rows, cols, group_size));
  const auto n = static_cast<size_t>(rows * cols);
  const size_t groups = n / static_cast<size_t>(group_size);
  if (packed.size() != n * static_cast<size_t>(bits) / 32 || scales.size() != groups || biases.size() != groups)
    throw std::invalid_argument(fmt::format(
        "MLX matrix {} x {} ({} bits, group {}): expected {} words and {} scales and biases, got {}, {} and {}", rows,
        cols, bits, group_size, n * static_cast<size_t>(bits) / 32, groups, packed.size(), scales.size(), biases.size()));
  if (is_half_affine(target))
    for (size_t g = 0; g < groups; ++g)
      if (!exact_in_f16(scales[g]) || !exact_in_f16(biases[g]))
        throw std::invalid_argument(fmt::format("group {}: scale {} or bias {} is not an f16 value ({} needs one)", g,
                                                scales[g], biases[g], ir::name(target)));
  const auto block_bytes = static_cast<size_t>(ir::info(target).block_bytes);
  const auto per_block = static_cast<size_t>(block);
  std::vector<uint8_t> out(n / per_block * block_bytes);
  const uint32_t mask = (1u << bits) - 1;
  for (size_t b = 0; b < n / per_block; ++b) {
    uint8_t q[64];
    for (size_t j = 0; j < per_block; ++j) {
      const size_t bit = (b * per_block + j) * static_cast<size_t>(bits);
      const unsigned shift = bit % 32;
      uint64_t v = packed[bit / 32] >> shift;
      if (shift + static_cast<unsigned>(bits) > 32) v |= static_cast<uint64_t>(packed[bit / 32 + 1]) << (32 - shift);
      q[j] = static_cast<uint8_t>(v & mask);
    }
    const size_t g = b * per_block / static_cast<size_t>(group_size);
    write_affine_block(out.data() + b * block_bytes, target, scales[g], biases[g], q);
  }
  return out;
}

bool can_quantize_to(ir::DType target) {
  switch (target) {
    case ir::DType::Q8_0:
    case ir::DType::Q4_0:
    case ir::DType::Q4_K:
    case ir::DType::Q5_K:
    case ir::DType::Q6_K:
    case ir::DType::QA4:
    case ir::DType::QA8:
    case ir::DType::QA4H:
    case ir::DType::QA8H:
    case ir::DType::QA4H_G64:
    case ir::DType::QA8H_G64: return true;
    default: return false;
  }
}

namespace {

// Below this many values per thread, starting a thread costs more than it saves.
constexpr int64_t kMinValuesPerThread = int64_t{1} << 18;
constexpr unsigned kMaxQuantizeThreads = 64;

// `count` values of float dtype `stored` at `src` (any alignment) as f32, exactly as HostTensor::get reads them.
void widen_into(ir::DType stored, const uint8_t* src, size_t count, float* dst) {
  switch (stored) {
    case ir::DType::F32: std::memcpy(dst, src, count * 4); return;
    case ir::DType::BF16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
      }
      return;
    case ir::DType::F16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = quant::f16_to_f32(h);
      }
      return;
    default: throw std::logic_error(fmt::format("{} is not a float dtype", ir::name(stored)));  // checked by callers
  }
}

// Whole rows of finite values, quantized serially to `target`; writes exactly their storage bytes at `out`.
void quantize_rows(ir::DType target, int64_t cols, std::span<const float> values, uint8_t* out) {
  std::vector<uint8_t> bytes;
  switch (target) {
    case ir::DType::Q8_0: bytes = quant::quantize(quant::BlockType::Q8_0, values); break;
    case ir::DType::Q4_0: bytes = quant::quantize(quant::BlockType::Q4_0, values); break;
    case ir::DType::Q4_K: bytes = quant::quantize(quant::BlockType::Q4_K, values); break;
    case ir::DType::Q5_K: bytes = quant::quantize(quant::BlockType::Q5_K, values); break;
    case ir::DType::Q6_K: bytes = quant::quantize(quant::BlockType::Q6_K, values); break;
    default: {
      const int bits = affine_bits(target), block = ir::info(target).block_elems;
      const quant::MlxQuantized q = quant::quantize_mlx(
          bits, block, values, is_half_affine(target) ? quant::MlxScaleType::F16 : quant::MlxScaleType::F32);
      bytes = repack_mlx(target, bits, block, static_cast<int64_t>(values.size()) / cols, cols, q.packed, q.scales,
                         q.biases);
    }
  }
  std::memcpy(out, bytes.data(), bytes.size());
}

void check_finite(std::span<const float> values, int64_t first_index, int64_t cols) {
  for (size_t k = 0; k < values.size(); ++k)
    if (!std::isfinite(values[k])) {
      const int64_t at = first_index + static_cast<int64_t>(k);
      throw std::invalid_argument(fmt::format("value {} (row {}, column {}) is {}: only finite values can be quantized",
                                              at, at / cols, at % cols, values[k]));
    }
}

// Rows x cols values of `stored` at `src` into `target`, the rows split across threads (module comment in repack.h).
std::vector<uint8_t> quantize_split(ir::DType target, ir::DType stored, int64_t rows, int64_t cols, const uint8_t* src,
                                    const QuantizeSplit& split) {
  const auto stored_bytes = static_cast<size_t>(ir::storage_bytes(stored, 1));
  const auto out_row_bytes = static_cast<size_t>(ir::storage_bytes(target, cols));
  std::vector<uint8_t> out(static_cast<size_t>(rows) * out_row_bytes);
  if (rows == 0) return out;
  unsigned threads = split.threads;
  if (threads == 0)
    threads = static_cast<unsigned>(
        std::clamp<int64_t>(rows * cols / kMinValuesPerThread, 1, default_quantize_threads()));
  threads = static_cast<unsigned>(std::min<int64_t>(threads, rows));
  const int64_t chunk_rows = std::max<int64_t>(1, split.chunk_values / cols);

  // Piece p: rows [rows·p/threads, rows·(p+1)/threads), a chunk of rows at a time through one buffer.
  auto piece = [&](unsigned p) {
    const int64_t first = rows * p / threads, last = rows * (p + 1) / threads;
    std::vector<float> widened(static_cast<size_t>(std::min(chunk_rows, last - first) * cols));
    for (int64_t r = first; r < last; r += chunk_rows) {
      const int64_t n = std::min(chunk_rows, last - r);
      const std::span<const float> chunk(widened.data(), static_cast<size_t>(n * cols));
      widen_into(stored, src + static_cast<size_t>(r * cols) * stored_bytes, chunk.size(), widened.data());
      check_finite(chunk, r * cols, cols);
      quantize_rows(target, cols, chunk, out.data() + static_cast<size_t>(r) * out_row_bytes);
    }
  };
  // Each piece stops at its first error; the lowest piece's is the first value in row-major order,
  // the error one thread would have thrown.
  std::vector<std::exception_ptr> errors(threads);
  auto run = [&](unsigned p) {
    try {
      piece(p);
    } catch (...) {
      errors[p] = std::current_exception();
    }
  };
  {
    std::vector<std::jthread> workers;  // joined before `errors` and `out` are read
    workers.reserve(threads - 1);
    unsigned started = 1;
    for (; started < threads; ++started) {
      try {
        workers.emplace_back(run, started);
      } catch (const std::system_error&) {
        break;  // no more threads to be had: this one runs the pieces left
      }
    }
    run(0);
    for (unsigned p = started; p < threads; ++p) run(p);
  }
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

void check_quantizable(ir::DType target, int64_t cols) {
  if (!can_quantize_to(target))
    throw std::invalid_argument(fmt::format("{} is not a quantized kernel format", ir::name(target)));
  const int block = ir::info(target).block_elems;
  if (cols <= 0 || cols % block != 0)
    throw std::invalid_argument(fmt::format("cannot quantize rows of {} values to {} ({}-value blocks)", cols,
                                            ir::name(target), block));
}

}  // namespace

void widen_to_f32(ir::DType stored, std::span<const uint8_t> bytes, std::span<float> out) {
  if (stored != ir::DType::F32 && stored != ir::DType::F16 && stored != ir::DType::BF16)
    throw std::invalid_argument(fmt::format("{} is not a float dtype (f32, f16 or bf16)", ir::name(stored)));
  if (static_cast<int64_t>(bytes.size()) != ir::storage_bytes(stored, static_cast<int64_t>(out.size())))
    throw std::invalid_argument(fmt::format("{} bytes are not {} {} values", bytes.size(), out.size(), ir::name(stored)));
  widen_into(stored, bytes.data(), out.size(), out.data());
}

unsigned default_quantize_threads() {
  return std::clamp(std::thread::hardware_concurrency(), 1u, kMaxQuantizeThreads);
}

std::vector<uint8_t> quantize_for_kernel(ir::DType target, int64_t cols, std::span<const float> values,
                                         const QuantizeSplit& split) {
  check_quantizable(target, cols);
  if (values.size() % static_cast<size_t>(cols) != 0)
    throw std::invalid_argument(fmt::format("{} values are not whole rows of {}", values.size(), cols));
  return quantize_split(target, ir::DType::F32, static_cast<int64_t>(values.size()) / cols, cols,
                        reinterpret_cast<const uint8_t*>(values.data()), split);
}

std::vector<uint8_t> quantize_matrix_for_kernel(ir::DType target, ir::DType stored, int64_t rows, int64_t cols,
                                                std::span<const uint8_t> bytes, const QuantizeSplit& split) {
  check_quantizable(target, cols);
  if (stored != ir::DType::F32 && stored != ir::DType::F16 && stored != ir::DType::BF16)
    throw std::invalid_argument(fmt::format("cannot quantize a {} matrix (only f32, f16 and bf16 ones)", ir::name(stored)));
  if (rows < 0 || static_cast<int64_t>(bytes.size()) != ir::storage_bytes(stored, rows * cols))
    throw std::invalid_argument(fmt::format("a {} x {} {} matrix takes {} bytes, not {}", rows, cols, ir::name(stored),
                                            ir::storage_bytes(stored, rows * cols), bytes.size()));
  return quantize_split(target, stored, rows, cols, bytes.data(), split);
}

double bits_per_weight(ir::DType t) { return 8.0 * ir::info(t).block_bytes / ir::info(t).block_elems; }

}  // namespace vkllm::frontends
