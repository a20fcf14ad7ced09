// A test-only transcription of llama.cpp's convert_hf_to_gguf.py for the tiny checkpoints vkllm
// synthesizes: tensor renaming, the Q/K row permutation of llama, Gemma's +1 norms, llama3
// rope_freqs, the GPT-2 tokenizer arrays; 2-D tensors optionally quantized to ggml block types
// with frontends/quant's reference quantizers (as llama-quantize does without an imatrix).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "frontends/checkpoint/checkpoint.h"
#include "frontends/gguf/gguf_file.h"
#include "frontends/quant/blocks.h"

namespace vkllm::frontends::gguf_testing {

// GGUF name of an HF tensor ("" when it has none).
std::string gguf_tensor_name(const std::string& hf, bool gemma);
std::vector<float> as_floats(const TensorView& t);  // F32 / F16 / BF16 values
std::vector<uint8_t> float_bytes(const std::vector<float>& v);
// LlamaModel.permute: rows reshaped [heads, 2, head_dim/2], the last two axes swapped.
std::vector<uint8_t> permute_rows(std::span<const uint8_t> data, int64_t rows, int64_t heads);
GgmlType ggml_type(StDType t);
GgmlType ggml_block_type(quant::BlockType t);
std::vector<float> llama3_rope_factors(const nlohmann::json& config, int64_t dim);

struct ConvertOptions {
  bool q8_0_matrices = false;  // quantize 2-D tensors but the embedding to q8_0, else keep their dtype
  // When set, the block type of each 2-D tensor (by HF name; nullopt keeps its float dtype).
  std::function<std::optional<quant::BlockType>(const std::string& hf_name)> matrix_types;
};

// Writes `out` from the HF folder (which needs tokenizer.json and tokenizer_config.json).
void convert_to_gguf(const std::filesystem::path& hf_dir, const std::filesystem::path& out,
                     const ConvertOptions& opts = {});

}  // namespace vkllm::frontends::gguf_testing
