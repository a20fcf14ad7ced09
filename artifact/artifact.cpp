#include "artifact/artifact.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <set>
#include <thread>

#include "codegen/cost.h"
#include "ir/text.h"

namespace vkllm::artifact {
namespace {

using nlohmann::json;

void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

uint64_t align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// ---- JSON of the compiled pieces -------------------------------------------------------------

json kernel_to_json(const codegen::Kernel& k, const std::string& glsl_section, const std::string& spirv_section) {
  json args = json::array();
  for (const codegen::KernelArg& a : k.args) args.push_back({{"name", a.name}, {"written", a.written}});
  json grid = json::array();
  for (const codegen::GridDim& g : k.grid)
    grid.push_back({{"factor", g.factor}, {"symbols", g.symbols}, {"divisor", g.divisor}});
  return {{"name", k.name},
          {"glsl", glsl_section},
          {"spirv", spirv_section},
          {"local_size", k.local_size},
          {"required_subgroup_size", k.required_subgroup_size},
          {"args", args},
          {"grid", grid}};
}

// Kernels are equal when every field is; the key is their full serialization.
std::string kernel_key(const codegen::Kernel& k) {
  std::string key = kernel_to_json(k, "", "").dump();
  key += '\0';
  key += k.glsl;
  key += '\0';
  key.append(reinterpret_cast<const char*>(k.spirv.data()), k.spirv.size() * sizeof(uint32_t));
  return key;
}

std::string kernel_section(size_t index, const char* ext) { return fmt::format("kernel/{:04}.{}", index, ext); }
std::string graph_section(const std::string& name) { return fmt::format("graph/{}.ir", name); }
std::string file_section(const std::string& name) { return fmt::format("file/{}", name); }

json memory_plan_json(const codegen::CompiledGraph& g) {
  const codegen::MemoryPlan p = codegen::memory_plan(g);
  return {{"weights", p.weights},
          {"weight_bytes", p.weight_bytes},
          {"states", p.states},
          {"state_bytes", p.state_bytes},
          {"activations", p.activations},
          {"activation_bytes", p.activation_bytes}};
}

json graph_to_json(const codegen::CompiledGraph& g, const std::vector<size_t>& kernel_of_dispatch) {
  json storage = json::object();
  for (size_t v = 0; v < g.storage_of.size(); ++v)
    if (g.storage_of[v] != static_cast<ir::ValueId>(v))
      storage[g.graph.values[v].name] = g.graph.value(g.storage_of[v]).name;
  json dispatches = json::array();
  for (size_t i = 0; i < g.dispatches.size(); ++i) {
    const codegen::Dispatch& d = g.dispatches[i];
    json args = json::array();
    for (ir::ValueId a : d.args) args.push_back(g.graph.value(a).name);
    dispatches.push_back({{"op", d.op_index}, {"kernel", kernel_of_dispatch[i]}, {"args", args}});
  }
  return {{"name", g.graph.name},      {"ir", graph_section(g.graph.name)}, {"symbols", g.symbols},
          {"max_symbols", g.max_symbols}, {"storage_of", storage},            {"dispatches", dispatches},
          {"memory_plan", memory_plan_json(g)}};
}

// ---- Reading with checks ------------------------------------------------------------------------

class Decoder {
 public:
  Decoder(std::string origin, std::span<const uint8_t> data, uint64_t payload_end)
      : origin_(std::move(origin)), data_(data), payload_end_(payload_end) {}

  [[noreturn]] void fail(const std::string& what) const { throw ArtifactError(fmt::format("{}: {}", origin_, what)); }

  const json& field(const json& j, const char* key, json::value_t type, const std::string& where) const {
    if (!j.is_object()) fail(fmt::format("manifest: {} is not an object", where));
    auto it = j.find(key);
    if (it == j.end()) fail(fmt::format("manifest: {} has no '{}'", where, key));
    const bool ok = it->type() == type || (type == json::value_t::number_integer && it->is_number_unsigned()) ||
                    (type == json::value_t::number_unsigned && it->is_number_integer() && it->get<int64_t>() >= 0);
    if (!ok) fail(fmt::format("manifest: {}.{} has the wrong type ({})", where, key, it->type_name()));
    return *it;
  }
  std::string str(const json& j, const char* key, const std::string& where) const {
    return field(j, key, json::value_t::string, where).get<std::string>();
  }
  int64_t integer(const json& j, const char* key, const std::string& where, int64_t lo, int64_t hi) const {
    const json& v = field(j, key, json::value_t::number_integer, where);
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(fmt::format("manifest: {}.{} is out of range", where, key));
    const int64_t n = v.get<int64_t>();
    if (n < lo || n > hi) fail(fmt::format("manifest: {}.{} = {} is outside [{}, {}]", where, key, n, lo, hi));
    return n;
  }
  const json& array(const json& j, const char* key, const std::string& where) const {
    return field(j, key, json::value_t::array, where);
  }

  // A stored byte range [offset, offset + bytes) that must lie between the header and the manifest.
  std::span<const uint8_t> range(const json& place, const std::string& what) const {
    const auto max = static_cast<int64_t>(std::numeric_limits<int64_t>::max());
    const auto offset = static_cast<uint64_t>(integer(place, "offset", what, 0, max));
    const auto bytes = static_cast<uint64_t>(integer(place, "bytes", what, 0, max));
    if (offset < kHeaderBytes || bytes > payload_end_ || offset > payload_end_ - bytes)
      fail(fmt::format("{} lies outside the file's data ([{}, {}) of [{}, {})); the file is truncated or corrupt", what,
                       offset, offset + bytes, kHeaderBytes, payload_end_));
    const auto crc = static_cast<uint32_t>(integer(place, "crc32", what, 0, 0xffffffffll));
    std::span<const uint8_t> r = data_.subspan(offset, bytes);
    checked_.push_back({r, crc, what});
    return r;
  }
  // Verifies the checksum of `r`, which range() returned.
  void verify(std::span<const uint8_t> r, uint32_t crc, const std::string& what) const {
    if (crc32(r) != crc) fail(fmt::format("{} is corrupt (checksum mismatch)", what));
  }
  void verify_all() const {
    for (const auto& c : checked_) verify(c.bytes, c.crc, c.what);
  }

 private:
  struct Pending {
    std::span<const uint8_t> bytes;
    uint32_t crc;
    std::string what;
  };
  std::string origin_;
  std::span<const uint8_t> data_;
  uint64_t payload_end_;
  mutable std::vector<Pending> checked_;
};

std::string as_string(std::span<const uint8_t> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

}  // namespace

// ---- Header ---------------------------------------------------------------------------------------

namespace {

uLong serial_crc32(std::span<const uint8_t> bytes) {
  uLong c = ::crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large spans in pieces.
  size_t done = 0;
  while (done < bytes.size()) {
    const size_t n = std::min<size_t>(bytes.size() - done, 1u << 30);
    c = ::crc32(c, bytes.data() + done, static_cast<uInt>(n));
    done += n;
  }
  return c;
}

// zlib's CRC32 runs at ~3 GB/s on one core: a multi-gigabyte model's weights are checked in
// parallel pieces (combined with crc32_combine) so the checksum does not bound the load time.
constexpr size_t kMinBytesPerCrcThread = 8u << 20;
constexpr unsigned kMaxCrcThreads = 8;

}  // namespace

uint32_t crc32(std::span<const uint8_t> bytes) {
  const size_t threads = std::clamp<size_t>(bytes.size() / kMinBytesPerCrcThread, 1,
                                            std::clamp(std::thread::hardware_concurrency(), 1u, kMaxCrcThreads));
  if (threads == 1) return static_cast<uint32_t>(serial_crc32(bytes));
  const size_t per_part = (bytes.size() + threads - 1) / threads;
  auto part = [&](size_t p) { return bytes.subspan(p * per_part, std::min(per_part, bytes.size() - p * per_part)); };
  std::vector<uLong> part_crc(threads);
  {
    std::vector<std::jthread> helpers;
    helpers.reserve(threads - 1);
    for (size_t p = 1; p < threads; ++p) helpers.emplace_back([&, p] { part_crc[p] = serial_crc32(part(p)); });
    part_crc[0] = serial_crc32(part(0));
  }  // the helpers join here
  uLong c = part_crc[0];
  for (size_t p = 1; p < threads; ++p) c = ::crc32_combine(c, part_crc[p], static_cast<z_off_t>(part(p).size()));
  return static_cast<uint32_t>(c);
}

std::array<uint8_t, kHeaderBytes> encode_header(const Header& h) {
  std::array<uint8_t, kHeaderBytes> b{};
  std::memcpy(b.data(), kMagic, sizeof kMagic);
  put_u32(b.data() + 8, h.version);
  put_u32(b.data() + 12, static_cast<uint32_t>(kHeaderBytes));
  put_u64(b.data() + 16, h.file_bytes);
  put_u64(b.data() + 24, h.manifest_offset);
  put_u64(b.data() + 32, h.manifest_bytes);
  put_u32(b.data() + 40, h.manifest_crc32);
  put_u32(b.data() + 60, crc32(std::span<const uint8_t>(b.data(), 60)));
  return b;
}

Header decode_header(std::span<const uint8_t> bytes, const std::string& origin) {
  auto fail = [&](const std::string& what) { throw ArtifactError(fmt::format("{}: {}", origin, what)); };
  if (bytes.size() < kHeaderBytes)
    fail(fmt::format("not a vkllm artifact: {} bytes, shorter than the {}-byte header (truncated?)", bytes.size(),
                     kHeaderBytes));
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    fail("not a vkllm artifact (bad magic; compile one with `vkllm compile MODEL -o OUT.vkm`)");
  Header h;
  h.version = get_u32(bytes.data() + 8);
  if (h.version != kFormatVersion)
    fail(fmt::format("artifact format version {}, this vkllm reads version {}: recompile it with `vkllm compile`",
                     h.version, kFormatVersion));
  if (get_u32(bytes.data() + 60) != crc32(bytes.subspan(0, 60))) fail("header is corrupt (checksum mismatch)");
  if (get_u32(bytes.data() + 12) != kHeaderBytes) fail("header size field is not 64");
  h.file_bytes = get_u64(bytes.data() + 16);
  h.manifest_offset = get_u64(bytes.data() + 24);
  h.manifest_bytes = get_u64(bytes.data() + 32);
  h.manifest_crc32 = get_u32(bytes.data() + 40);
  return h;
}

uint64_t WeightEntry::bytes() const {
  return static_cast<uint64_t>(ir::storage_bytes(type.dtype, ir::num_elements(type.shape, {})));
}

const codegen::CompiledGraph* Contents::find_graph(std::string_view name) const {
  for (const codegen::CompiledGraph& g : graphs)
    if (g.graph.name == name) return &g;
  return nullptr;
}

KernelTable kernel_table(const Contents& c) {
  KernelTable t;
  std::map<std::string, size_t> index_of;
  for (const codegen::CompiledGraph& g : c.graphs) {
    std::vector<size_t>& of = t.kernel_of_dispatch.emplace_back();
    for (const codegen::Dispatch& d : g.dispatches) {
      auto [it, added] = index_of.emplace(kernel_key(d.kernel), t.kernels.size());
      if (added) t.kernels.push_back(&d.kernel);
      of.push_back(it->second);
    }
  }
  return t;
}

nlohmann::json caps_to_json(const codegen::TargetCaps& c) {
  return {{"name", c.name},
          {"subgroup_size", c.subgroup_size},
          {"subgroup_size_control", c.subgroup_size_control},
          {"subgroup_arithmetic", c.subgroup_arithmetic},
          {"subgroup_shuffle", c.subgroup_shuffle},
          {"float16_arithmetic", c.float16_arithmetic},
          {"int8_arithmetic", c.int8_arithmetic},
          {"storage_16bit", c.storage_16bit},
          {"storage_8bit", c.storage_8bit},
          {"integer_dot_product", c.integer_dot_product},
          {"cooperative_matrix_nv", c.cooperative_matrix_nv},
          {"max_workgroup_invocations", c.max_workgroup_invocations},
          {"max_shared_memory_bytes", c.max_shared_memory_bytes},
          {"max_push_constant_bytes", c.max_push_constant_bytes}};
}

codegen::TargetCaps caps_from_json(const nlohmann::json& j) {
  const Decoder d("target caps", {}, 0);  // its errors read "target caps: manifest: target ..."

  const std::string w = "target";
  codegen::TargetCaps c;
  auto flag = [&](const char* key) { return d.field(j, key, json::value_t::boolean, w).get<bool>(); };
  auto u32 = [&](const char* key) { return static_cast<uint32_t>(d.integer(j, key, w, 0, 0xffffffffll)); };
  c.name = d.str(j, "name", w);
  c.subgroup_size = u32("subgroup_size");
  c.subgroup_size_control = flag("subgroup_size_control");
  c.subgroup_arithmetic = flag("subgroup_arithmetic");
  c.subgroup_shuffle = flag("subgroup_shuffle");
  c.float16_arithmetic = flag("float16_arithmetic");
  c.int8_arithmetic = flag("int8_arithmetic");
  c.storage_16bit = flag("storage_16bit");
  c.storage_8bit = flag("storage_8bit");
  c.integer_dot_product = flag("integer_dot_product");
  c.cooperative_matrix_nv = flag("cooperative_matrix_nv");
  c.max_workgroup_invocations = u32("max_workgroup_invocations");
  c.max_shared_memory_bytes = u32("max_shared_memory_bytes");
  c.max_push_constant_bytes = u32("max_push_constant_bytes");
  return c;
}

// ---- Writing ---------------------------------------------------------------------------------------

void write_artifact(const std::filesystem::path& out, const Contents& contents, std::vector<WeightEntry> weights,
                    const WeightDataFn& weight_data, const ProgressFn& progress) {
  std::sort(weights.begin(), weights.end(), [](const WeightEntry& a, const WeightEntry& b) { return a.name < b.name; });
  for (size_t i = 1; i < weights.size(); ++i)
    if (weights[i].name == weights[i - 1].name)
      throw ArtifactError(fmt::format("weight '{}' is listed twice", weights[i].name));
  std::set<std::string> graph_names;
  for (const codegen::CompiledGraph& g : contents.graphs)
    if (!graph_names.insert(g.graph.name).second)
      throw ArtifactError(fmt::format("two graphs are named '{}'", g.graph.name));

  // Sections in a fixed order: files (sorted), graphs, kernels.
  std::vector<std::pair<std::string, std::string>> sections;
  json files = json::object();
  for (const auto& [name, text] : contents.files) {
    files[name] = file_section(name);
    sections.emplace_back(file_section(name), text);
  }
  json graphs = json::array();
  const KernelTable table = kernel_table(contents);
  for (size_t i = 0; i < contents.graphs.size(); ++i) {
    const codegen::CompiledGraph& g = contents.graphs[i];
    sections.emplace_back(graph_section(g.graph.name), ir::print(g.graph));
    graphs.push_back(graph_to_json(g, table.kernel_of_dispatch[i]));
  }
  json lowered = json::object();
  for (const auto& [name, text] : contents.lowered_ir) {
    if (!graph_names.count(name)) throw ArtifactError(fmt::format("lowered IR of '{}', which is no graph", name));
    lowered[name] = fmt::format("lowered/{}.ir", name);
    sections.emplace_back(fmt::format("lowered/{}.ir", name), text);
  }
  json kernels = json::array();
  for (size_t i = 0; i < table.kernels.size(); ++i) {
    const codegen::Kernel& k = *table.kernels[i];
    sections.emplace_back(kernel_section(i, "glsl"), k.glsl);
    sections.emplace_back(kernel_section(i, "spv"),
                          std::string(reinterpret_cast<const char*>(k.spirv.data()), k.spirv.size() * sizeof(uint32_t)));
    kernels.push_back(kernel_to_json(k, kernel_section(i, "glsl"), kernel_section(i, "spv")));
  }

  const std::filesystem::path tmp = out.string() + ".partial";
  // No half-written file is left behind, under either name.
  struct RemoveOnError {
    const std::filesystem::path& path;
    bool done = false;
    ~RemoveOnError() {
      std::error_code ec;
      if (!done) std::filesystem::remove(path, ec);
    }
  } cleanup{tmp};
  std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
  if (!f) throw ArtifactError(fmt::format("cannot create '{}': {}", tmp.string(), std::strerror(errno)));
  uint64_t at = 0;
  auto write = [&](const void* p, uint64_t n) {
    f.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    if (!f) throw ArtifactError(fmt::format("writing '{}' failed: {}", tmp.string(), std::strerror(errno)));
    at += n;
  };
  auto pad_to = [&](uint64_t alignment) {
    static const char zeros[kWeightAlignment] = {};
    const uint64_t target = align_up(at, alignment);
    while (at < target) write(zeros, std::min<uint64_t>(target - at, sizeof zeros));
  };
  const std::array<uint8_t, kHeaderBytes> blank{};
  write(blank.data(), blank.size());

  json section_table = json::object();
  for (const auto& [name, bytes] : sections) {
    pad_to(kSectionAlignment);
    section_table[name] = {{"offset", at}, {"bytes", bytes.size()}, {"crc32", crc32(as_bytes(bytes))}};
    write(bytes.data(), bytes.size());
  }
  json weight_table = json::array();
  for (size_t i = 0; i < weights.size(); ++i) {
    const WeightEntry& w = weights[i];
    for (const ir::Dim& d : w.type.shape)
      if (!d.is_const()) throw ArtifactError(fmt::format("weight '{}' has a symbolic shape", w.name));
    if (progress) progress(i, weights.size(), w.name);
    const ir::HostTensor t = weight_data(w);
    if (t.dtype != w.type.dtype || t.bytes.size() != w.bytes())
      throw ArtifactError(fmt::format("weight '{}': expected {} ({} bytes), got {} with {} bytes", w.name,
                                      ir::to_string(w.type), w.bytes(), ir::name(t.dtype), t.bytes.size()));
    pad_to(kWeightAlignment);
    json shape = json::array();
    for (const ir::Dim& d : w.type.shape) shape.push_back(d.value);
    weight_table.push_back({{"name", w.name},
                            {"dtype", ir::name(w.type.dtype)},
                            {"shape", shape},
                            {"offset", at},
                            {"bytes", t.bytes.size()},
                            {"crc32", crc32(t.bytes)}});
    write(t.bytes.data(), t.bytes.size());
  }
  if (progress) progress(weights.size(), weights.size(), "");

  const json manifest = {{"format", "vkllm artifact"},
                         {"version", kFormatVersion},
                         {"family", contents.family},
                         {"source_format", contents.source_format},
                         {"options", contents.options},
                         {"target", caps_to_json(contents.target)},
                         {"passes", contents.passes},
                         {"files", files},
                         {"graphs", graphs},
                         {"lowered", lowered},
                         {"kernels", kernels},
                         {"sections", section_table},
                         {"weights", weight_table}};
  const std::string text = manifest.dump(1);
  pad_to(kSectionAlignment);
  Header h;
  h.manifest_offset = at;
  h.manifest_bytes = text.size();
  h.manifest_crc32 = crc32(as_bytes(text));
  write(text.data(), text.size());
  h.file_bytes = at;
  const std::array<uint8_t, kHeaderBytes> header = encode_header(h);
  f.seekp(0);
  f.write(reinterpret_cast<const char*>(header.data()), header.size());
  f.close();
  if (!f) throw ArtifactError(fmt::format("writing '{}' failed: {}", tmp.string(), std::strerror(errno)));
  std::filesystem::rename(tmp, out);
  cleanup.done = true;
}

// ---- Reading ---------------------------------------------------------------------------------------

Artifact Artifact::open(const std::filesystem::path& path) {
  const std::string origin = path.string();
  const int fd = ::open(origin.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ArtifactError(fmt::format("cannot open '{}': {}", origin, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ArtifactError(fmt::format("'{}' is not a regular file", origin));
  }
  const auto size = static_cast<size_t>(st.st_size);
  void* map = size ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0) : nullptr;
  const int map_errno = errno;
  ::close(fd);
  if (map == MAP_FAILED) throw ArtifactError(fmt::format("cannot map '{}': {}", origin, std::strerror(map_errno)));
  if (map) {
    // Loading reads the weights front to back once: read ahead aggressively and start reading now,
    // so a cold file streams from disk while earlier weights are checked and uploaded. Advice only:
    // failure changes nothing.
    ::madvise(map, size, MADV_SEQUENTIAL);
    ::madvise(map, size, MADV_WILLNEED);
  }
  Artifact a;
  a.origin_ = origin;
  a.owner_ = std::shared_ptr<const void>(map, [size](const void* p) {
    if (p) ::munmap(const_cast<void*>(p), size);
  });
  a.data_ = std::span<const uint8_t>(static_cast<const uint8_t*>(map), size);
  a.decode();
  return a;
}

Artifact Artifact::from_bytes(std::vector<uint8_t> bytes, std::string origin) {
  Artifact a;
  a.origin_ = std::move(origin);
  auto owned = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  a.data_ = std::span<const uint8_t>(owned->data(), owned->size());
  a.owner_ = std::move(owned);
  a.decode();
  return a;
}

void Artifact::decode() {
  const Header h = decode_header(data_, origin_);
  const Decoder d(origin_, data_, h.manifest_offset);
  if (h.file_bytes != data_.size())
    d.fail(fmt::format("the header says {} bytes, the file has {} (truncated or appended to)", h.file_bytes, data_.size()));
  if (h.manifest_offset < kHeaderBytes || h.manifest_offset > h.file_bytes ||
      h.manifest_bytes != h.file_bytes - h.manifest_offset)
    d.fail("the manifest's place in the header is inconsistent with the file size");
  const std::span<const uint8_t> manifest_bytes = data_.subspan(h.manifest_offset, h.manifest_bytes);
  d.verify(manifest_bytes, h.manifest_crc32, "manifest");
  try {
    manifest_ = json::parse(manifest_bytes.begin(), manifest_bytes.end());
  } catch (const json::exception& e) {
    d.fail(fmt::format("manifest is not valid JSON: {}", e.what()));
  }
  const json& m = manifest_;
  if (d.str(m, "format", "manifest") != "vkllm artifact") d.fail("manifest: 'format' is not \"vkllm artifact\"");
  if (d.integer(m, "version", "manifest", 0, 0xffffffffll) != kFormatVersion)
    d.fail("manifest version differs from the header's");

  // Sections, by name; each checked once, here (they are small next to the weights).
  const json& sections = d.field(m, "sections", json::value_t::object, "manifest");
  std::map<std::string, std::span<const uint8_t>> section;
  for (const auto& [name, place] : sections.items()) section[name] = d.range(place, fmt::format("section '{}'", name));
  d.verify_all();
  auto section_text = [&](const json& j, const char* key, const std::string& where) {
    const std::string name = d.str(j, key, where);
    auto it = section.find(name);
    if (it == section.end()) d.fail(fmt::format("manifest: {} refers to a missing section '{}'", where, name));
    return it->second;
  };

  Contents& c = contents_;
  c.family = d.str(m, "family", "manifest");
  c.source_format = d.str(m, "source_format", "manifest");
  c.options = d.field(m, "options", json::value_t::object, "manifest");
  try {
    c.target = caps_from_json(d.field(m, "target", json::value_t::object, "manifest"));
  } catch (const ArtifactError& e) {
    d.fail(e.what());
  }
  for (const json& p : d.array(m, "passes", "manifest")) {
    if (!p.is_string()) d.fail("manifest: passes must be strings");
    c.passes.push_back(p.get<std::string>());
  }
  const json& files = d.field(m, "files", json::value_t::object, "manifest");
  for (const auto& [name, unused] : files.items()) c.files[name] = as_string(section_text(files, name.c_str(), "files"));

  const json& lowered = d.field(m, "lowered", json::value_t::object, "manifest");
  for (const auto& [name, unused] : lowered.items())
    c.lowered_ir[name] = as_string(section_text(lowered, name.c_str(), "lowered"));

  // Kernels.
  std::vector<codegen::Kernel> kernels;
  const json& kernel_list = d.array(m, "kernels", "manifest");
  for (size_t i = 0; i < kernel_list.size(); ++i) {
    const json& kj = kernel_list[i];
    const std::string w = fmt::format("kernels[{}]", i);
    codegen::Kernel k;
    k.name = d.str(kj, "name", w);
    k.glsl = as_string(section_text(kj, "glsl", w));
    const std::span<const uint8_t> spirv = section_text(kj, "spirv", w);
    if (spirv.size() % 4 != 0 || spirv.size() < 20) d.fail(fmt::format("{} ('{}'): SPIR-V is not whole words", w, k.name));
    k.spirv.resize(spirv.size() / 4);
    std::memcpy(k.spirv.data(), spirv.data(), spirv.size());
    if (k.spirv[0] != 0x07230203u) d.fail(fmt::format("{} ('{}'): not SPIR-V (bad magic)", w, k.name));
    const json& local = d.array(kj, "local_size", w);
    if (local.size() != 3) d.fail(fmt::format("{}: local_size needs 3 entries", w));
    for (size_t a = 0; a < 3; ++a) {
      if (!local[a].is_number_unsigned() || local[a].get<uint64_t>() < 1 || local[a].get<uint64_t>() > 65535)
        d.fail(fmt::format("{}: local_size[{}] must be in [1, 65535]", w, a));
      k.local_size[a] = local[a].get<uint32_t>();
    }
    k.required_subgroup_size = static_cast<uint32_t>(d.integer(kj, "required_subgroup_size", w, 0, 1024));
    for (const json& a : d.array(kj, "args", w))
      k.args.push_back({d.str(a, "name", w + ".args"), d.field(a, "written", json::value_t::boolean, w + ".args").get<bool>()});
    if (k.args.empty()) d.fail(fmt::format("{}: a kernel has at least the params argument", w));
    const json& grid = d.array(kj, "grid", w);
    if (grid.size() != 3) d.fail(fmt::format("{}: grid needs 3 axes", w));
    for (size_t a = 0; a < 3; ++a) {
      const std::string ga = fmt::format("{}.grid[{}]", w, a);
      k.grid[a].factor = d.integer(grid[a], "factor", ga, 0, int64_t{1} << 40);
      k.grid[a].divisor = d.integer(grid[a], "divisor", ga, 1, int64_t{1} << 40);
      for (const json& s : d.array(grid[a], "symbols", ga)) {
        if (!s.is_string()) d.fail(ga + ": symbols must be strings");
        k.grid[a].symbols.push_back(s.get<std::string>());
      }
    }
    kernels.push_back(std::move(k));
  }

  // Graphs.
  for (const json& gj : d.array(m, "graphs", "manifest")) {
    const std::string name = d.str(gj, "name", "graphs[]");
    const std::string w = fmt::format("graph '{}'", name);
    if (c.find_graph(name)) d.fail(fmt::format("manifest: two graphs are named '{}'", name));
    codegen::CompiledGraph g;
    ir::Module module;
    try {
      module = ir::parse_module(as_string(section_text(gj, "ir", w)), fmt::format("{}:{}", origin_, name));
    } catch (const ir::IrError& e) {
      d.fail(fmt::format("{}: its IR does not parse: {}", w, e.what()));
    }
    if (module.graphs.size() != 1 || module.graphs[0].name != name)
      d.fail(fmt::format("{}: its IR section must hold exactly that graph", w));
    g.graph = std::move(module.graphs[0]);
    auto value = [&](const json& v, const std::string& where) {
      if (!v.is_string()) d.fail(fmt::format("{}: {} must be a value name", w, where));
      const ir::ValueId id = g.graph.find(v.get<std::string>());
      if (id < 0) d.fail(fmt::format("{}: {} names no value ('{}')", w, where, v.get<std::string>()));
      return id;
    };
    std::set<std::string> graph_symbols;
    for (const ir::Value& v : g.graph.values)
      for (const ir::Dim& dim : v.type.shape)
        if (!dim.is_const()) graph_symbols.insert(dim.sym);
    for (const json& s : d.array(gj, "symbols", w)) {
      if (!s.is_string() || !graph_symbols.count(s.get<std::string>()))
        d.fail(fmt::format("{}: symbols must name the graph's symbolic dims", w));
      g.symbols.push_back(s.get<std::string>());
    }
    if (g.symbols.size() != graph_symbols.size()) d.fail(fmt::format("{}: symbols must list every symbolic dim once", w));
    const json& max_symbols = d.field(gj, "max_symbols", json::value_t::object, w);
    for (const auto& [sym, v] : max_symbols.items())
      g.max_symbols[sym] = d.integer(max_symbols, sym.c_str(), w + ".max_symbols", 1, int64_t{1} << 31);
    for (const std::string& sym : graph_symbols)  // the runtime sizes every buffer at these bounds
      if (!g.max_symbols.count(sym)) d.fail(fmt::format("{}: max_symbols does not bound symbol '{}'", w, sym));
    g.storage_of.resize(g.graph.values.size());
    std::iota(g.storage_of.begin(), g.storage_of.end(), 0);
    for (const auto& [v, owner] : d.field(gj, "storage_of", json::value_t::object, w).items())
      g.storage_of[static_cast<size_t>(value(json(v), "storage_of"))] = value(owner, "storage_of");
    for (const json& dj : d.array(gj, "dispatches", w)) {
      codegen::Dispatch disp;
      disp.op_index = static_cast<int>(d.integer(dj, "op", w, 0, static_cast<int64_t>(g.graph.ops.size()) - 1));
      const auto k = static_cast<size_t>(d.integer(dj, "kernel", w, 0, static_cast<int64_t>(kernels.size()) - 1));
      disp.kernel = kernels[k];
      for (const json& a : d.array(dj, "args", w)) disp.args.push_back(value(a, "a dispatch argument"));
      // A dispatch binds its op's operands then results (codegen/README.md): anything else would
      // hand a kernel buffers of other sizes than it was generated for.
      const ir::Op& op = g.graph.ops[static_cast<size_t>(disp.op_index)];
      std::vector<ir::ValueId> expected = op.inputs;
      expected.insert(expected.end(), op.results.begin(), op.results.end());
      if (disp.args != expected) d.fail(fmt::format("{}: the dispatch of op {} does not bind that op's values", w, disp.op_index));
      if (disp.args.size() + 1 != disp.kernel.args.size())
        d.fail(fmt::format("{}: a dispatch of kernel '{}' binds {} values, the kernel takes {}", w, disp.kernel.name,
                           disp.args.size(), disp.kernel.args.size() - 1));
      for (const codegen::GridDim& gd : disp.kernel.grid)
        for (const std::string& s : gd.symbols)
          if (!graph_symbols.count(s)) d.fail(fmt::format("{}: kernel '{}' grids over unknown symbol '{}'", w, disp.kernel.name, s));
      g.dispatches.push_back(std::move(disp));
    }
    c.graphs.push_back(std::move(g));
  }

  // Weights: places checked now, contents when read.
  std::set<std::string> weight_names;
  const json& weight_list = d.array(m, "weights", "manifest");
  for (size_t i = 0; i < weight_list.size(); ++i) {
    const json& wj = weight_list[i];
    WeightEntry e;
    e.name = d.str(wj, "name", fmt::format("weights[{}]", i));
    const std::string w = fmt::format("weight '{}'", e.name);
    if (!weight_names.insert(e.name).second) d.fail(fmt::format("manifest: {} is listed twice", w));
    const std::optional<ir::DType> dt = ir::parse_dtype(d.str(wj, "dtype", w));
    if (!dt) d.fail(fmt::format("{}: unknown dtype", w));
    e.type.dtype = *dt;
    int64_t elements = 1;
    for (const json& n : d.array(wj, "shape", w)) {
      if (!n.is_number_unsigned() || n.get<uint64_t>() > (uint64_t{1} << 40)) d.fail(fmt::format("{}: bad shape", w));
      const auto dim = n.get<int64_t>();
      if (dim != 0 && elements > (int64_t{1} << 50) / dim) d.fail(fmt::format("{}: shape too large", w));
      elements *= dim;
      e.type.shape.push_back(ir::Dim::of(dim));
    }
    if (elements % ir::info(e.type.dtype).block_elems != 0)
      d.fail(fmt::format("{}: {} elements do not fill whole {} blocks", w, elements, ir::name(e.type.dtype)));
    const std::span<const uint8_t> r = d.range(wj, w);
    if (r.size() != e.bytes()) d.fail(fmt::format("{}: {} bytes stored, its type needs {}", w, r.size(), e.bytes()));
    weight_places_.push_back({static_cast<uint64_t>(r.data() - data_.data()), r.size(),
                              static_cast<uint32_t>(d.integer(wj, "crc32", w, 0, 0xffffffffll))});
    weight_index_.emplace(e.name, weights_.size());
    weights_.push_back(std::move(e));
  }
  // Every weight op of every graph has its data, with the type the graph declares.
  for (const codegen::CompiledGraph& g : c.graphs)
    for (const ir::Op& op : g.graph.ops) {
      if (op.kind != ir::OpKind::Weight) continue;
      const std::string& wname = op.attr_str("name");
      const WeightEntry* e = find_weight(wname);
      if (!e) d.fail(fmt::format("graph '{}' uses weight '{}', which the artifact does not hold", g.graph.name, wname));
      if (!(e->type == g.graph.type(op.results[0])))
        d.fail(fmt::format("weight '{}' is stored as {}, graph '{}' reads it as {}", wname, ir::to_string(e->type),
                           g.graph.name, ir::to_string(g.graph.type(op.results[0]))));
    }
}

const WeightEntry* Artifact::find_weight(std::string_view name) const {
  auto it = weight_index_.find(name);
  return it == weight_index_.end() ? nullptr : &weights_[it->second];
}

std::span<const uint8_t> Artifact::weight_data(std::string_view name) const {
  auto it = weight_index_.find(name);
  if (it == weight_index_.end()) throw ArtifactError(fmt::format("{}: no weight '{}'", origin_, name));
  const Stored& s = weight_places_[it->second];
  std::span<const uint8_t> r = data_.subspan(s.offset, s.bytes);
  if (crc32(r) != s.crc) throw ArtifactError(fmt::format("{}: weight '{}' is corrupt (checksum mismatch)", origin_, name));
  return r;
}

bool is_artifact(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream f(path, std::ios::binary);
  char magic[sizeof kMagic] = {};
  f.read(magic, sizeof magic);
  return f.gcount() == sizeof magic && std::memcmp(magic, kMagic, sizeof kMagic) == 0;
}

}  // namespace vkllm::artifact
