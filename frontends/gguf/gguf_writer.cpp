#include "frontends/gguf/gguf_writer.h"

#include <fmt/format.h>

#include <cstring>
#include <fstream>

namespace vkllm::frontends {
namespace {

template <class T>
void put(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void put_array_body(std::vector<uint8_t>& out, const GgufValue& v);

void put_value(std::vector<uint8_t>& out, const GgufValue& v) {
  switch (v.type()) {
    case GgufType::U8: put<uint8_t>(out, static_cast<uint8_t>(v.as_int())); break;
    case GgufType::I8: put<int8_t>(out, static_cast<int8_t>(v.as_int())); break;
    case GgufType::U16: put<uint16_t>(out, static_cast<uint16_t>(v.as_int())); break;
    case GgufType::I16: put<int16_t>(out, static_cast<int16_t>(v.as_int())); break;
    case GgufType::U32: put<uint32_t>(out, static_cast<uint32_t>(v.as_int())); break;
    case GgufType::I32: put<int32_t>(out, static_cast<int32_t>(v.as_int())); break;
    case GgufType::U64: put<uint64_t>(out, v.as_u64()); break;
    case GgufType::I64: put<int64_t>(out, v.as_int()); break;
    // F32 values are stored as the float they were created from; as_double() would give its
    // shortest decimal, which rounds back to the same float.
    case GgufType::F32: put<float>(out, static_cast<float>(v.as_double())); break;
    case GgufType::F64: put<double>(out, v.as_double()); break;
    case GgufType::Bool: put<uint8_t>(out, v.as_bool() ? 1 : 0); break;
    case GgufType::String: put_string(out, v.as_string()); break;
    case GgufType::Array: put_array_body(out, v); break;
  }
}

void put_array_body(std::vector<uint8_t>& out, const GgufValue& v) {
  const GgufType element = v.element_type();
  put<uint32_t>(out, static_cast<uint32_t>(element));
  put<uint64_t>(out, v.size());
  if (element == GgufType::String) {
    for (const std::string& s : v.strings()) put_string(out, s);
  } else if (element == GgufType::Array) {
    for (uint64_t i = 0; i < v.size(); ++i) put_array_body(out, v.array_at(i));
  } else {
    const std::span<const uint8_t> raw = v.raw_elements();
    out.insert(out.end(), raw.begin(), raw.end());
  }
}

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw FormatError(fmt::format("GGUF writer: alignment {} is not a power of two", alignment));
  if (alignment != 32) set("general.alignment", GgufValue::u32(alignment));
}

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : metadata_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> dims,
                            std::vector<uint8_t> data) {
  if (const GgmlTypeInfo* info = ggml_type_info(type)) {
    int64_t numel = 1;
    for (int64_t d : dims) numel *= d;
    const int64_t row = dims.empty() ? 1 : dims[0];
    if (row % info->block_elems != 0 ||
        static_cast<uint64_t>(numel / info->block_elems * info->block_bytes) != data.size())
      throw FormatError(fmt::format("GGUF writer: tensor '{}' ({} {}) needs {} bytes, got {}", name, info->name,
                                    fmt::join(dims, "x"), numel / info->block_elems * info->block_bytes, data.size()));
  }
  tensors_.push_back({name, type, std::move(dims), std::move(data)});
}

std::vector<uint8_t> GgufWriter::bytes() const {
  std::vector<uint8_t> out;
  put<uint32_t>(out, 0x46554747);  // "GGUF"
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, metadata_.size());
  for (const auto& [key, value] : metadata_) {
    put_string(out, key);
    put<uint32_t>(out, static_cast<uint32_t>(value.type()));
    put_value(out, value);
  }
  auto aligned = [&](uint64_t n) { return (n + alignment_ - 1) / alignment_ * alignment_; };
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) put<uint64_t>(out, static_cast<uint64_t>(d));
    put<uint32_t>(out, static_cast<uint32_t>(t.type));
    put<uint64_t>(out, offset);
    offset = aligned(offset + t.data.size());
  }
  out.resize(aligned(out.size()), 0);
  for (const Tensor& t : tensors_) {
    out.insert(out.end(), t.data.begin(), t.data.end());
    out.resize(aligned(out.size()), 0);
  }
  return out;
}

void GgufWriter::write(const std::filesystem::path& path) const {
  const std::vector<uint8_t> b = bytes();
  std::ofstream out(path, std::ios::binary);
  if (!out) throw FormatError(fmt::format("cannot write {}", path.string()));
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!out) throw FormatError(fmt::format("write {} failed (disk full?)", path.string()));
}

}  // namespace vkllm::frontends
