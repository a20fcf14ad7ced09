// Writing GGUF version 3 files: metadata in insertion order, then tensor descriptions, then each
// tensor's data at the next multiple of the alignment (padding is zeros). Used by tests, tools and
// the fuzz seeds; the layout is the one llama.cpp's gguf writer produces.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "frontends/gguf/gguf_file.h"

namespace vkllm::frontends {

class GgufWriter {
 public:
  // `alignment` must be a power of two; other than 32 it is written as general.alignment (u32).
  explicit GgufWriter(uint32_t alignment = 32);

  // Adds a metadata entry, or replaces the value of an existing key in place.
  void set(const std::string& key, GgufValue value);

  // `dims` in GGUF order (dims[0] contiguous). For known types the data size must match the dims
  // (FormatError otherwise); data of unknown type ids is written as given.
  void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> dims, std::vector<uint8_t> data);

  std::vector<uint8_t> bytes() const;
  void write(const std::filesystem::path& path) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> dims;
    std::vector<uint8_t> data;
  };
  uint32_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace vkllm::frontends
