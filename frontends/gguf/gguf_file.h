// Reading GGUF files (llama.cpp's model format, versions 2 and 3, little-endian): a header, typed
// metadata key/value pairs, tensor descriptions, then the tensor data, aligned. The file is
// memory-mapped; every count, length, dimension, type and offset is checked against the file
// before use, so a corrupt or truncated file is a FormatError naming the file, the byte offset
// and the problem — never a crash, an allocation larger than the file justifies, or a read
// outside it.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "frontends/checkpoint/safetensors.h"
#include "frontends/quant/blocks.h"

namespace vkllm::frontends {

// Metadata value types (the numbers are the file's type ids).
enum class GgufType : uint32_t { U8 = 0, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64 };
std::string_view to_string(GgufType t);

// One metadata value: a scalar, a string, or an array of one element type (arrays may nest).
class GgufValue {
 public:
  GgufValue() = default;
  static GgufValue u8(uint8_t v) { return integer(GgufType::U8, v); }
  static GgufValue i8(int8_t v) { return integer(GgufType::I8, v); }
  static GgufValue u16(uint16_t v) { return integer(GgufType::U16, v); }
  static GgufValue i16(int16_t v) { return integer(GgufType::I16, v); }
  static GgufValue u32(uint32_t v) { return integer(GgufType::U32, v); }
  static GgufValue i32(int32_t v) { return integer(GgufType::I32, v); }
  static GgufValue u64(uint64_t v);
  static GgufValue i64(int64_t v) { return integer(GgufType::I64, v); }
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  // Arrays of scalars: `values` as doubles/integers converted to the element type.
  static GgufValue array_of_ints(GgufType element, const std::vector<int64_t>& values);
  static GgufValue array_of_u64(const std::vector<uint64_t>& values);
  static GgufValue array_of_floats(GgufType element, const std::vector<double>& values);
  static GgufValue array_of_bools(const std::vector<bool>& values);
  static GgufValue array_of_strings(std::vector<std::string> values);
  static GgufValue array_of_arrays(std::vector<GgufValue> values);  // every item must be an array
  // An array from the little-endian element bytes as stored in a file (the reader's representation).
  static GgufValue array_from_bytes(GgufType element, uint64_t count, std::vector<uint8_t> bytes);

  GgufType type() const { return type_; }
  bool is_array() const { return type_ == GgufType::Array; }
  bool is_integer() const;  // any integer type (not Bool)
  bool is_number() const;   // integer or float

  // Scalar access; FormatError("... is a string, not an integer") style errors on type mismatch.
  int64_t as_int() const;     // any integer type; a U64 above INT64_MAX is an error
  uint64_t as_u64() const;    // any non-negative integer
  double as_double() const;   // integers and floats; F32 values come out as the shortest decimal that reads back
  bool as_bool() const;
  const std::string& as_string() const;

  // Array access.
  GgufType element_type() const;
  uint64_t size() const;
  int64_t int_at(uint64_t i) const;
  double double_at(uint64_t i) const;
  bool bool_at(uint64_t i) const;
  const std::string& string_at(uint64_t i) const;
  const GgufValue& array_at(uint64_t i) const;
  const std::vector<std::string>& strings() const;  // array of strings
  // The little-endian element bytes of a numeric or bool array, as stored in a file.
  std::span<const uint8_t> raw_elements() const;

  // The value as JSON (integers, numbers, booleans, strings, nested lists).
  nlohmann::json to_json() const;

  // Describes the value for messages: "u32 7", "string 'abc'", "array of 3 f32".
  std::string describe() const;

  bool operator==(const GgufValue& o) const;

 private:
  static GgufValue integer(GgufType t, int64_t v);
  const GgufValue& expect_array(GgufType element) const;

  GgufType type_ = GgufType::U8;
  std::variant<int64_t, uint64_t, double, bool, std::string> scalar_ = int64_t{0};
  GgufType element_ = GgufType::U8;
  uint64_t count_ = 0;
  std::vector<uint8_t> raw_;            // numeric and bool elements, little-endian
  std::vector<std::string> strings_;    // string elements
  std::vector<GgufValue> arrays_;       // nested array elements
};

// Tensor element types (ggml_type ids). Only those listed in supported_by_vkllm can be read as
// values; the others are recognised (name and block size) so files holding them still open.
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9, Q2_K = 10, Q3_K = 11,
  Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19,
  IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28,
  IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;  // ggml's name: "f32", "q4_K", ...
  int64_t block_elems;
  int64_t block_bytes;
  bool supported_by_vkllm;  // F32, F16, BF16 and the block formats of frontends/quant
};
// nullptr for ids ggml never defined (or defined after this reader was written).
const GgmlTypeInfo* ggml_type_info(GgmlType t);
std::string ggml_type_name(GgmlType t);  // "q4_K", or "type id 41" when unknown
std::optional<quant::BlockType> block_type_of(GgmlType t);

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // GGUF order: dims[0] is the contiguous dimension (ggml's ne0)
  GgmlType type;
  uint64_t offset = 0;        // from the start of the data section
  bool size_known = false;    // false for type ids this reader does not know
  uint64_t bytes = 0;         // data size (0 when !size_known)
  std::span<const uint8_t> data;  // the tensor's bytes in the file (empty when !size_known)
  int64_t numel() const;
};

class GgufFile {
 public:
  static GgufFile open(const std::filesystem::path& path);
  // Parses a complete file image held in memory (the fuzz target uses this); `name` is for
  // messages. The bytes must outlive the result.
  static GgufFile parse(std::span<const uint8_t> file, const std::string& name);

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;

  // Typed access with errors that name the file and the key. The optional forms return nullopt
  // when the key is absent and throw when it holds the wrong type.
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_number(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  int64_t require_int(std::string_view key) const;
  std::string require_string(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;

  // A FormatError whose message starts with the file's name.
  FormatError error(const std::string& what) const;

 private:
  std::shared_ptr<MappedFile> mapped_;
  std::string name_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::unordered_map<std::string, size_t> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

// Tensor data as f32 values, in GGUF element order. F32, F16, BF16 and the quant block types are
// supported; others throw FormatError("<file>: unsupported tensor type X (tensor name)").
std::vector<float> dequantize_tensor(const GgufFile& file, const GgufTensorInfo& tensor);
// The same for bytes of a given type (`what` names the data in messages).
void dequantize_ggml(GgmlType type, std::span<const uint8_t> data, std::span<float> out, const std::string& what);

}  // namespace vkllm::frontends
