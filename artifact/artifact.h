// The .vkm artifact: a model compiled once for a target, loaded without passes or codegen.
// Layout (docs/FORMATS.md, ".vkm"): a 64-byte header (magic, format version, where the manifest is,
// checksums), sections (IR text of each graph, each kernel's GLSL and SPIR-V, model and tokenizer
// files), the weights as aligned raw tensors in the exact bytes the kernels read, and the manifest
// (JSON) last. Every section and weight carries a CRC32; every offset and length is checked.
// Writing is deterministic: the same contents give the same bytes.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "codegen/compile_graph.h"
#include "codegen/target.h"
#include "ir/host_tensor.h"
#include "ir/ir.h"

namespace vkllm::artifact {

// Malformed, truncated, corrupted or version-mismatched artifacts. what() names the file and the part.
struct ArtifactError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr char kMagic[8] = {'V', 'K', 'L', 'L', 'M', 'V', 'K', 'M'};
// 1: four forward graphs (prefill, prefill_logits, decode, decode_logits). 2: a decode graph pair
// per batch size (decode_b N, decode_logits_b N) and verify graphs (verify_d N); the options list
// decode_row_bounds and spec_depths (docs/FORMATS.md). Readers accept only their own version.
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint64_t kHeaderBytes = 64;
inline constexpr uint64_t kSectionAlignment = 16;
inline constexpr uint64_t kWeightAlignment = 4096;  // page-aligned: mappable, importable as host memory

// The fixed header at offset 0; integers little-endian.
//   0 magic[8]  8 u32 version  12 u32 header bytes (64)  16 u64 file bytes  24 u64 manifest offset
//  32 u64 manifest bytes  40 u32 manifest crc32  44..60 zero  60 u32 crc32 of bytes 0..60
struct Header {
  uint32_t version = kFormatVersion;
  uint64_t file_bytes = 0;
  uint64_t manifest_offset = 0;
  uint64_t manifest_bytes = 0;
  uint32_t manifest_crc32 = 0;
};
std::array<uint8_t, kHeaderBytes> encode_header(const Header& h);
// Throws ArtifactError (prefixed with `origin`) on a bad magic, version or header checksum.
Header decode_header(std::span<const uint8_t> bytes, const std::string& origin);
uint32_t crc32(std::span<const uint8_t> bytes);

// A weight as the kernels read it: constant shape, kernel dtype (ir/dtype.h).
struct WeightEntry {
  std::string name;
  ir::Type type;
  uint64_t bytes() const;
};

// Everything of a compiled model except its weights.
struct Contents {
  std::string family;                         // frontends::ModelSpec::architecture
  std::string source_format;                  // what it was compiled from ("safetensors", "GGUF", ...)
  nlohmann::json options = nlohmann::json::object();  // the engine::ModelOptions it was compiled with
  codegen::TargetCaps target;                 // what the kernels assume of the device
  std::vector<std::string> passes;            // the pass pipeline run before codegen
  std::vector<codegen::CompiledGraph> graphs; // each named by graph.name
  // Each graph's IR as lowered, before the passes (text form; `vkllm inspect --dump-after`), by name.
  std::map<std::string, std::string> lowered_ir;
  // Files the model needs at run time, by name: "config.json", "generation_config.json",
  // "tokenizer.json", "tokenizer_config.json" (with its chat template).
  std::map<std::string, std::string> files;

  const codegen::CompiledGraph* find_graph(std::string_view name) const;
};

// The kernel table: one entry per distinct kernel of every graph (dispatches refer to it by index).
struct KernelTable {
  std::vector<const codegen::Kernel*> kernels;
  std::vector<std::vector<size_t>> kernel_of_dispatch;  // [graph][dispatch]
};
KernelTable kernel_table(const Contents& c);

nlohmann::json caps_to_json(const codegen::TargetCaps& caps);
codegen::TargetCaps caps_from_json(const nlohmann::json& j);  // throws ArtifactError on missing fields

// Called once per weight written, and at the end with done == total.
using ProgressFn = std::function<void(size_t done, size_t total, const std::string& weight)>;
using WeightDataFn = std::function<ir::HostTensor(const WeightEntry&)>;

// Writes `out` (through a temporary file renamed into place). `weight_data` must return each weight
// in exactly its entry's dtype and size. Throws ArtifactError / std::runtime_error on I/O failure.
void write_artifact(const std::filesystem::path& out, const Contents& contents, std::vector<WeightEntry> weights,
                    const WeightDataFn& weight_data, const ProgressFn& progress = {});

// A .vkm read through a read-only memory map (or from bytes, for tests and fuzzing). Opening checks
// the header, the manifest and every section's checksum and decodes all graphs; weights are
// checked when read (weight_data), so a model's gigabytes are touched once, while uploading.
class Artifact {
 public:
  static Artifact open(const std::filesystem::path& path);
  static Artifact from_bytes(std::vector<uint8_t> bytes, std::string origin = "<memory>");

  const std::string& origin() const { return origin_; }
  const Contents& contents() const { return contents_; }
  const std::vector<WeightEntry>& weights() const { return weights_; }
  const WeightEntry* find_weight(std::string_view name) const;
  // The stored bytes of weight `name`, checksum verified. Throws ArtifactError when absent or corrupt.
  std::span<const uint8_t> weight_data(std::string_view name) const;
  // The raw manifest, for `vkllm inspect --json`.
  const nlohmann::json& manifest() const { return manifest_; }
  uint64_t file_bytes() const { return data_.size(); }

 private:
  Artifact() = default;
  void decode();
  std::string origin_;
  std::shared_ptr<const void> owner_;  // the mapping or byte vector data_ points into
  std::span<const uint8_t> data_;
  nlohmann::json manifest_;
  Contents contents_;
  std::vector<WeightEntry> weights_;
  struct Stored {
    uint64_t offset, bytes;
    uint32_t crc;
  };
  std::vector<Stored> weight_places_;
  std::map<std::string, size_t, std::less<>> weight_index_;
};

// Whether `path` names an artifact: a regular file starting with the magic.
bool is_artifact(const std::filesystem::path& path);

}  // namespace vkllm::artifact
