// ggml's block-quantized weight formats, byte for byte: q8_0, q4_0, q4_1, q5_0 (32-element blocks
// with an f16 scale) and the K-quants q4_K, q5_K, q6_K (256-element super-blocks with 6- or 8-bit
// sub-block scales). Layouts and bits per weight are in README.md.
//
// dequantize() computes exactly what ggml's dequantize_row_* computes (same operations in the
// same order, float arithmetic without fused multiply-add), so results are bit-identical.
// quantize() follows ggml's reference quantizers (quantize_row_*_ref), including the
// make_qkx2_quants / make_qx_quants searches of the K-quants; README.md lists where it differs
// (only inputs on which ggml's code asserts or has undefined behaviour).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace vkllm::frontends::quant {

enum class BlockType { Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q5_K, Q6_K };
inline constexpr BlockType kAllBlockTypes[] = {BlockType::Q8_0, BlockType::Q4_0, BlockType::Q4_1, BlockType::Q5_0,
                                               BlockType::Q4_K, BlockType::Q5_K, BlockType::Q6_K};

struct BlockInfo {
  int elems;  // values per block
  int bytes;  // bytes per block
};
BlockInfo block_info(BlockType t);
std::string_view name(BlockType t);  // ggml's names: "q8_0", "q4_K", ...
std::optional<BlockType> parse_block_type(std::string_view name);
double bits_per_weight(BlockType t);

// Bytes holding `elems` values; throws std::invalid_argument unless elems is a multiple of the block size.
size_t storage_bytes(BlockType t, size_t elems);

// blocks.size() must be a whole number of blocks and out.size() their element count
// (std::invalid_argument otherwise). Values come out in ggml's element order.
void dequantize(BlockType t, std::span<const uint8_t> blocks, std::span<float> out);

// values.size() must be a multiple of the block size and every value finite (std::invalid_argument).
std::vector<uint8_t> quantize(BlockType t, std::span<const float> values);

}  // namespace vkllm::frontends::quant
