// Fuzz target: arbitrary bytes as a GGUF file image, read, walked and mapped to a HF model.
// Must only ever throw FormatError; the tokenizer JSON it produces must always serialize.
#include <cstdint>
#include <optional>
#include <span>

#include "frontends/gguf/gguf_file.h"
#include "frontends/gguf/gguf_model.h"

using namespace vkllm::frontends;

namespace {

uint64_t touch(const GgufValue& v) {
  if (!v.is_array()) return v.describe().size();
  uint64_t sum = v.size();
  if (v.element_type() == GgufType::Array)
    for (uint64_t i = 0; i < v.size(); ++i) sum += touch(v.array_at(i));
  else if (v.element_type() == GgufType::String)
    for (const std::string& s : v.strings()) sum += s.size();
  else
    for (uint8_t b : v.raw_elements()) sum += b;
  return sum + v.to_json().size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<GgufFile> file;
  try {
    file = GgufFile::parse(std::span<const uint8_t>(data, size), "fuzz");
  } catch (const FormatError&) {
    return 0;
  }
  uint64_t sum = 0;
  for (const auto& [key, value] : file->metadata()) sum += key.size() + touch(value);
  for (const GgufTensorInfo& t : file->tensors()) {
    for (uint8_t b : t.data) sum += b;  // every byte the parser claims is in range
    try {
      sum += dequantize_tensor(*file, t).size();
    } catch (const FormatError&) {
    }
  }
  try {
    const GgufModel model = GgufModel::from_file(std::move(*file));
    sum += model.hf_config().dump().size();
    for (const std::string& name : model.hf_tensor_names()) {
      try {
        sum += model.dequantized(name).size();
      } catch (const FormatError&) {
      }
    }
    try {
      sum += model.hf_tokenizer_json().dump().size() + model.hf_tokenizer_config().dump().size();
    } catch (const FormatError&) {
    }
  } catch (const FormatError&) {
  }
  (void)sum;
  return 0;
}
