// A GGUF model file seen as a Hugging Face checkpoint: config.json fields (that describe_model
// reads), HF tensor names and layouts, and tokenizer.json / tokenizer_config.json objects, all
// derived from the GGUF alone. Undoes what llama.cpp's convert_hf_to_gguf.py changed:
//  - the Q/K row permutation of llama-architecture attention weights (see README.md),
//  - the +1 baked into Gemma 2/3 RMSNorm weights,
//  - llama3 RoPE scaling stored as a rope_freqs tensor instead of config fields.
// Supported architectures: llama (also Mistral), qwen2, qwen3, gemma2, gemma3.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "frontends/gguf/gguf_file.h"

namespace vkllm::frontends {

class GgufModel {
 public:
  struct Tensor {
    std::string hf_name;
    std::string gguf_name;
    GgmlType type;                // F32/F16/BF16 or a block type; for Gemma norms always F32
    std::vector<int64_t> shape;   // HF order: [rows, cols] for matrices
    std::span<const uint8_t> raw; // the data in HF row order (into the file, or converted once)
    int64_t numel() const;
  };

  // Throws FormatError naming the file for malformed files, unsupported architectures and
  // tensors that have no HF equivalent.
  static GgufModel open(const std::filesystem::path& path);
  static GgufModel from_file(GgufFile file);

  const GgufFile& file() const { return file_; }
  const std::string& gguf_architecture() const { return arch_; }

  // config.json fields (HF names): architectures, model_type, sizes, rope, norms, token ids.
  const nlohmann::json& hf_config() const { return config_; }
  // generation_config.json fields: bos and the EOS ids (eos, end-of-turn, end-of-message).
  const nlohmann::json& hf_generation_config() const { return generation_config_; }
  // tokenizer.json and tokenizer_config.json equivalents (see gguf_tokenizer.h).
  nlohmann::json hf_tokenizer_json() const;
  nlohmann::json hf_tokenizer_config() const;

  // HF names of the model's tensors, in file order.
  std::vector<std::string> hf_tensor_names() const;
  bool contains(const std::string& hf_name) const { return index_.contains(hf_name); }
  // The tensor, its data converted to HF layout on first use (thread-safe). Throws FormatError for
  // unknown names and for tensor types vkllm cannot read ("unsupported tensor type X (name)").
  const Tensor& tensor(const std::string& hf_name) const;
  // The values as f32 in HF layout.
  std::vector<float> dequantized(const std::string& hf_name) const;

 private:
  enum class Fixup { None, UnpermuteRows, SubtractOne };
  struct Entry {
    Tensor tensor;
    const GgufTensorInfo* info = nullptr;
    Fixup fixup = Fixup::None;
    int64_t heads = 0;  // UnpermuteRows: head count the converter permuted with
    std::once_flag once;
    std::vector<uint8_t> converted;
  };

  void materialize(Entry& e) const;

  GgufFile file_;
  std::string arch_;
  nlohmann::json config_;
  nlohmann::json generation_config_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::unordered_map<std::string, size_t> index_;
};

// Exposed for tests: the HF name of a GGUF tensor for an architecture, or "" when it has none.
std::string hf_tensor_name(const std::string& gguf_arch, const std::string& gguf_name);

}  // namespace vkllm::frontends
