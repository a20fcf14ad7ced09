// Lossless repacks of every supported source format into the weight formats vkllm's kernels read
// (ir/dtype.h; the choice of formats is explained in docs/QUANTIZATION.md):
//   ggml q8_0 q4_0 q4_K q5_K q6_K -> the same layout (identity);  q5_0 -> q8_0 (q in [-16, 15] fits
//   int8);  q4_1 -> qa4h;  MLX affine 2/3/4 bits -> qa4h_g64 (group 64 / 128) or qa4h (group 32),
//   qa4 when a scale or bias is not exactly an f16; 5/6/8 bits -> qa8h_g64 / qa8h / qa8 likewise.
// "Lossless" is checked bit for bit: every repacked tensor, read with ir::HostTensor::get (the
// reference the kernels are tested against), gives exactly the f32 values that frontends/quant's
// dequantizers give for the source (tests/quant/repack_test.cpp).
// Also the load-time quantizers of `--quant`: bf16/f16/f32 values into a kernel format.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "frontends/quant/blocks.h"
#include "ir/dtype.h"

namespace vkllm::frontends {

// The kernel format a ggml block type repacks into.
ir::DType kernel_dtype(quant::BlockType t);
// The kernel format MLX affine values of `bits` bits with these scales and biases repack into: 4-bit
// values up to 4 bits, 8-bit above; f16 scale and bias when every one converts to f16 exactly
// (always for f16 checkpoints, almost always for bf16 ones) — in 64-value blocks (qa4h_g64,
// qa8h_g64) for groups of 64 or 128, else 32-value ones (qa4h, qa8h) — otherwise f32 (qa4, qa8).
ir::DType mlx_kernel_dtype(int bits, int group_size, std::span<const float> scales, std::span<const float> biases);

// `blocks`: whole ggml blocks of type t (row-major, rows of whole blocks). Returns kernel_dtype(t)'s
// bytes for the same values. Throws std::invalid_argument when blocks is not a whole number of blocks.
std::vector<uint8_t> repack_ggml(quant::BlockType t, std::span<const uint8_t> blocks);

// One MLX-quantized matrix of `rows` x `cols`: `packed` = rows x cols·bits/32 words (the bit stream
// of each row), `scales`/`biases` = rows x cols/group_size values (already widened to f32, which
// every stored dtype converts to exactly). Returns `target`'s bytes (an affine format, as
// mlx_kernel_dtype chooses or the caller requires; its blocks must not span groups). Throws std::invalid_argument on size mismatches,
// unsupported bits / group sizes, values that do not fit the target's bits, and scales or biases that
// are not f16 values for qa4h / qa8h.
std::vector<uint8_t> repack_mlx(ir::DType target, int bits, int group_size, int64_t rows, int64_t cols,
                                std::span<const uint32_t> packed, std::span<const float> scales,
                                std::span<const float> biases);

// Kernel formats `--quant` can produce, and the load-time quantizer: `values` (row-major, rows of
// `cols`) into `target` with the reference quantizers (ggml's quantize_row_*_ref for q8_0 q4_0 q4_K
// q5_K q6_K; MLX's affine quantizer with groups of the format's block size, f32 scales for qa4 / qa8
// and f16 ones for the h formats). Throws std::invalid_argument
// when cols is not a multiple of target's block size or a value is not finite (naming its row and
// column).
// Every block lies inside one row and is quantized on its own, so the rows are split across threads
// (whole rows per thread, whole rows per chunk) and the bytes are those of one thread, whatever the
// split (tests/quant/repack_test.cpp checks every format).
bool can_quantize_to(ir::DType target);

// How the load-time quantizer splits a matrix.
struct QuantizeSplit {
  // Threads, the caller's included; 0: default_quantize_threads(), fewer when the matrix is too small
  // to pay for them. An explicit count is used as given (at most one thread per row).
  unsigned threads = 0;
  // Values each thread widens to f32 and quantizes at a time (rounded down to whole rows, at least
  // one): the size of its one reused buffer, small enough to stay in its core's cache.
  int64_t chunk_values = int64_t{1} << 16;
};
// std::thread::hardware_concurrency(), between 1 and 64.
unsigned default_quantize_threads();

// out.size() values of float dtype `stored` (f32, f16 or bf16) from `bytes` (any alignment), exactly as
// HostTensor::get reads them. Throws std::invalid_argument for another dtype or a size mismatch.
void widen_to_f32(ir::DType stored, std::span<const uint8_t> bytes, std::span<float> out);

std::vector<uint8_t> quantize_for_kernel(ir::DType target, int64_t cols, std::span<const float> values,
                                         const QuantizeSplit& split = {});
// The same for a stored float matrix: `bytes` holds rows x cols values of `stored` (f32, f16 or bf16,
// as a checkpoint stores them; any alignment), widened chunk by chunk, never as a whole f32 copy.
// Gives exactly quantize_for_kernel of the widened values. Throws std::invalid_argument also when
// `stored` is not a float dtype or bytes.size() is not rows·cols of it.
std::vector<uint8_t> quantize_matrix_for_kernel(ir::DType target, ir::DType stored, int64_t rows, int64_t cols,
                                                std::span<const uint8_t> bytes, const QuantizeSplit& split = {});

// Bits per weight of a kernel format (block bytes · 8 / block values).
double bits_per_weight(ir::DType t);

}  // namespace vkllm::frontends
