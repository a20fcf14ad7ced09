#include "frontends/checkpoint/safetensors.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace vkllm::frontends {
namespace {

struct DTypeEntry {
  StDType type;
  const char* name;
  int size;
};
constexpr DTypeEntry kDTypes[] = {
    {StDType::F64, "F64", 8}, {StDType::F32, "F32", 4},   {StDType::F16, "F16", 2}, {StDType::BF16, "BF16", 2},
    {StDType::I64, "I64", 8}, {StDType::I32, "I32", 4},   {StDType::I16, "I16", 2}, {StDType::I8, "I8", 1},
    {StDType::U64, "U64", 8}, {StDType::U32, "U32", 4},   {StDType::U16, "U16", 2}, {StDType::U8, "U8", 1},
    {StDType::BOOL, "BOOL", 1},
};

// A header larger than this is not a model header; refusing it bounds memory use on corrupt files.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

}  // namespace

std::string_view to_string(StDType t) { return kDTypes[static_cast<int>(t)].name; }
int element_size(StDType t) { return kDTypes[static_cast<int>(t)].size; }

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw FormatError(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw FormatError(fmt::format("{}: cannot stat: {}", path.string(), std::strerror(err)));
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw FormatError(fmt::format("{}: cannot map: {}", path.string(), std::strerror(err)));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  auto file = std::make_shared<MappedFile>(path);
  SafetensorsFile st = parse(file->bytes(), path.string());
  st.file_ = std::move(file);
  return st;
}

SafetensorsFile SafetensorsFile::parse(std::span<const uint8_t> file, const std::string& name) {
  auto fail = [&](const std::string& what) -> FormatError {
    return FormatError(fmt::format("{}: not a valid safetensors file: {}", name, what));
  };
  if (file.size() < 8) throw fail(fmt::format("file is {} bytes, shorter than the 8-byte header length", file.size()));
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | file[static_cast<size_t>(i)];
  if (header_len > file.size() - 8)
    throw fail(fmt::format("header length {} exceeds the file size {} (truncated file?)", header_len, file.size()));
  if (header_len > kMaxHeaderBytes) throw fail(fmt::format("header length {} is implausibly large", header_len));

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + static_cast<std::ptrdiff_t>(header_len));
  } catch (const nlohmann::json::exception& e) {
    throw fail(fmt::format("header is not valid JSON ({})", e.what()));
  }
  if (!header.is_object()) throw fail("header is not a JSON object");

  SafetensorsFile st;
  const std::span<const uint8_t> data = file.subspan(8 + header_len);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) throw fail("__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw fail(fmt::format("__metadata__ value of '{}' is not a string", m.key()));
        st.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& what) { return fail(fmt::format("tensor '{}': {}", key, what)); };
    if (!v.is_object()) throw bad("entry is not an object");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) throw bad("missing or non-string 'dtype'");
    if (sh == v.end() || !sh->is_array()) throw bad("missing or non-array 'shape'");
    if (off == v.end() || !off->is_array() || off->size() != 2) throw bad("'data_offsets' must be [begin, end]");
    TensorView t;
    t.name = key;
    const std::string dname = dt->get<std::string>();
    bool found = false;
    for (const DTypeEntry& e : kDTypes)
      if (dname == e.name) {
        t.dtype = e.type;
        found = true;
      }
    if (!found) throw bad(fmt::format("unsupported dtype '{}'", dname));
    uint64_t numel = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) throw bad("shape entries must be non-negative integers");
      uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && numel > (uint64_t{1} << 62) / dim) throw bad("shape is too large");
      numel *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    for (const auto& o : *off)
      if (!o.is_number_unsigned()) throw bad("data_offsets must be non-negative integers");
    uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
    if (begin > end || end > data.size())
      throw bad(fmt::format("data_offsets [{}, {}) fall outside the {} data bytes (truncated file?)", begin, end,
                            data.size()));
    uint64_t want = numel * static_cast<uint64_t>(element_size(t.dtype));
    if (end - begin != want)
      throw bad(fmt::format("holds {} bytes but {} {} needs {}", end - begin, dname,
                            fmt::join(t.shape, "x"), want));
    t.bytes = data.subspan(begin, end - begin);
    ranges.emplace_back(begin, end);
    st.tensors_.emplace(key, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) throw fail("two tensors' data ranges overlap");
  return st;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

int64_t TensorHeader::bytes() const {
  int64_t n = element_size(dtype);
  for (int64_t d : shape) n *= d;
  return n;
}

void write_safetensors_streaming(const std::filesystem::path& path, const std::vector<TensorHeader>& infos,
                                 const std::function<void(size_t, std::span<uint8_t>)>& fill,
                                 const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorHeader& t : infos) {
    const uint64_t n = static_cast<uint64_t>(t.bytes());
    header[t.name] = {{"dtype", to_string(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary);
  if (!out) throw FormatError(fmt::format("cannot write {}", path.string()));
  uint64_t n = text.size();
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  std::vector<uint8_t> buffer;
  for (size_t i = 0; i < infos.size(); ++i) {
    buffer.resize(static_cast<size_t>(infos[i].bytes()));
    fill(i, buffer);
    out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
  }
  if (!out) throw FormatError(fmt::format("write {} failed (disk full?)", path.string()));
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorHeader> infos;
  for (const TensorToWrite& t : tensors) {
    infos.push_back({t.name, t.dtype, t.shape});
    if (static_cast<uint64_t>(infos.back().bytes()) != t.bytes.size())
      throw FormatError(fmt::format("write {}: tensor '{}' has {} bytes, its shape needs {}", path.string(), t.name,
                                    t.bytes.size(), infos.back().bytes()));
  }
  write_safetensors_streaming(
      path, infos, [&](size_t i, std::span<uint8_t> out) { std::copy(tensors[i].bytes.begin(), tensors[i].bytes.end(), out.begin()); },
      metadata);
}

}  // namespace vkllm::frontends
