// Fuzz target: the .vkm reader (artifact/artifact.h). Must only ever throw ArtifactError.
// The first byte picks what the rest is:
//   even: a whole artifact file (header, sections, weights, manifest);
//   odd:  a u32 (little-endian) manifest offset into the body, then the body (everything after the
//         header). The target writes a header with matching checksums around it, so mutations of
//         the manifest reach the manifest decoder instead of stopping at the checksum.
#include <cstdint>
#include <vector>

#include "artifact/artifact.h"
#include "codegen/cost.h"

using namespace vkllm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<uint8_t> file;
  if (data[0] % 2 == 0) {
    file.assign(data + 1, data + size);
  } else {
    if (size < 5) return 0;
    const uint32_t offset = data[1] | data[2] << 8 | data[3] << 16 | static_cast<uint32_t>(data[4]) << 24;
    const std::span<const uint8_t> body(data + 5, size - 5);
    const uint64_t manifest_at = std::min<uint64_t>(offset, body.size());
    artifact::Header h;
    h.file_bytes = artifact::kHeaderBytes + body.size();
    h.manifest_offset = artifact::kHeaderBytes + manifest_at;
    h.manifest_bytes = body.size() - manifest_at;
    h.manifest_crc32 = artifact::crc32(body.subspan(manifest_at));
    const auto header = artifact::encode_header(h);
    file.assign(header.begin(), header.end());
    file.insert(file.end(), body.begin(), body.end());
  }
  try {
    const artifact::Artifact a = artifact::Artifact::from_bytes(std::move(file), "fuzz.vkm");
    uint64_t sum = 0;
    for (const artifact::WeightEntry& w : a.weights()) {
      try {
        for (uint8_t b : a.weight_data(w.name)) sum += b;  // every byte the reader hands out is in range
      } catch (const artifact::ArtifactError&) {
      }
    }
    for (const codegen::CompiledGraph& g : a.contents().graphs) sum += codegen::memory_plan(g).activation_bytes;
    sum += artifact::kernel_table(a.contents()).kernels.size();
    return sum == 1 ? 1 : 0;
  } catch (const artifact::ArtifactError&) {
    return 0;
  }
}
