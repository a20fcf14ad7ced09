// Reading and writing the safetensors format: an 8-byte little-endian header length, a JSON header
// ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}), then the data.
// Files are memory-mapped; every length and offset is checked before use, so a corrupt or
// truncated file is an error that names the file and the problem, never an out-of-bounds read.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace vkllm::frontends {

struct FormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Element types of the format. Only F32/F16/BF16 are model float types; the integer types appear in
// quantized checkpoints (packed U32 weights) and are kept as raw bytes.
enum class StDType { F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL };
std::string_view to_string(StDType t);
int element_size(StDType t);

struct TensorView {
  std::string name;
  StDType dtype;
  std::vector<int64_t> shape;
  std::span<const uint8_t> bytes;  // points into the mapped file
  int64_t numel() const;
};

// A read-only memory map of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path);
  // Parses a complete file image held in memory (the fuzz target uses this); `name` is for messages.
  static SafetensorsFile parse(std::span<const uint8_t> file, const std::string& name);

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  StDType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Writes a file whose tensors are described by `infos` (bytes left empty); `fill(i, out)` produces
// tensor i's data into `out`, in order, so files larger than memory can be written.
struct TensorHeader {
  std::string name;
  StDType dtype;
  std::vector<int64_t> shape;
  int64_t bytes() const;
};
void write_safetensors_streaming(const std::filesystem::path& path, const std::vector<TensorHeader>& infos,
                                 const std::function<void(size_t index, std::span<uint8_t> out)>& fill,
                                 const std::map<std::string, std::string>& metadata = {});

// Writes tensors in the given order (data aligned to 8 bytes, header padded with spaces as HF does).
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace vkllm::frontends
