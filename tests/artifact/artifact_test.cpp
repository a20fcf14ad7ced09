// The .vkm writer and reader without a device: graphs compiled by codegen directly round-trip
// exactly, writing is deterministic, and truncated, bit-flipped, version-mismatched or inconsistent
// files are clear ArtifactErrors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "artifact/artifact.h"
#include "codegen/profiles.h"
#include "ir/reference.h"
#include "ir/text.h"

namespace vkllm {
namespace {

namespace fs = std::filesystem;
using ir::Dim;
using ir::DType;
using nlohmann::json;

// norm → matmul (f16 weight) → silu, plus an embedding: a few kernels, two weights of different dtypes.
ir::Graph small_graph(const std::string& name, int64_t n) {
  ir::Builder b(name);
  const Dim rows = Dim::symbol("rows");
  auto ids = b.input("ids", {DType::I32, {rows}});
  auto table = b.weight("embed", {DType::F16, {Dim::of(16), Dim::of(8)}});
  auto norm = b.weight("norm", {DType::F32, {Dim::of(8)}});
  auto w = b.weight("proj", {DType::F16, {Dim::of(n), Dim::of(8)}});
  auto x = b.rms_norm(b.embedding(table, ids), norm, 1e-6);
  auto y = b.silu(b.matmul(x, w));
  b.set_name(y, "out");
  b.output(y);
  return b.finish();
}

artifact::Contents small_contents() {
  artifact::Contents c;
  c.family = "TestForCausalLM";
  c.source_format = "test";
  c.options = {{"max_context", 64}, {"kv_dtype", "f16"}};
  c.target = codegen::target_profile("lavapipe");
  c.passes = {"dedupe-weights", "dce"};
  c.graphs.push_back(codegen::compile_graph(small_graph("prefill", 4), c.target, {{"rows", 8}}));
  c.graphs.push_back(codegen::compile_graph(small_graph("decode", 4), c.target, {{"rows", 1}}));
  c.lowered_ir["decode"] = ir::print(small_graph("decode", 4));
  c.files["config.json"] = R"({"architectures": ["TestForCausalLM"]})";
  c.files["tokenizer.json"] = "{}";
  c.files["notes.txt"] = "twenty bytes of text";  // whole words, not SPIR-V
  return c;
}

std::vector<artifact::WeightEntry> small_weights() {
  return {{"proj", {DType::F16, {Dim::of(4), Dim::of(8)}}},
          {"embed", {DType::F16, {Dim::of(16), Dim::of(8)}}},
          {"norm", {DType::F32, {Dim::of(8)}}}};
}

ir::HostTensor weight_data(const artifact::WeightEntry& w) {
  std::mt19937_64 rng(std::hash<std::string>{}(w.name));
  return ir::HostTensor::random(w.type.dtype, ir::concrete_shape(w.type.shape, {}), rng);
}

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), {});
}

fs::path test_dir() { return fs::temp_directory_path() / ("vkllm_artifact_test_" + std::to_string(::getpid())); }

class ArtifactTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { fs::remove_all(test_dir()); }
  fs::path path(const std::string& name) {
    fs::create_directories(test_dir());
    return test_dir() / name;
  }
  std::vector<uint8_t> written() {
    const fs::path p = path("small.vkm");
    if (!fs::exists(p)) artifact::write_artifact(p, small_contents(), small_weights(), weight_data);
    return read_file(p);
  }
  // The error of opening `bytes`, or "" when it opened.
  static std::string open_error(std::vector<uint8_t> bytes) {
    try {
      artifact::Artifact::from_bytes(std::move(bytes), "t.vkm");
    } catch (const artifact::ArtifactError& e) {
      return e.what();
    }
    return "";
  }
  // `bytes` with its manifest replaced by `edit(manifest)` and the header fixed up (checksums right),
  // so the reader's checks beyond the checksums are reached.
  static std::vector<uint8_t> with_manifest(const std::vector<uint8_t>& bytes, const std::function<void(json&)>& edit) {
    const artifact::Header h = artifact::decode_header(bytes, "t");
    json m = json::parse(bytes.begin() + static_cast<std::ptrdiff_t>(h.manifest_offset), bytes.end());
    edit(m);
    const std::string text = m.dump();
    std::vector<uint8_t> out(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(h.manifest_offset));
    out.insert(out.end(), text.begin(), text.end());
    artifact::Header nh = h;
    nh.manifest_bytes = text.size();
    nh.file_bytes = out.size();
    nh.manifest_crc32 = artifact::crc32({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
    const auto header = artifact::encode_header(nh);
    std::copy(header.begin(), header.end(), out.begin());
    return out;
  }
};

TEST_F(ArtifactTest, RoundTripsEveryPart) {
  const artifact::Contents in = small_contents();
  const fs::path p = path("roundtrip.vkm");
  size_t progress_calls = 0;
  artifact::write_artifact(p, in, small_weights(), weight_data, [&](size_t done, size_t total, const std::string&) {
    EXPECT_LE(done, total);
    ++progress_calls;
  });
  EXPECT_EQ(progress_calls, 4u);  // three weights and the end
  ASSERT_TRUE(artifact::is_artifact(p));
  EXPECT_FALSE(artifact::is_artifact(fs::temp_directory_path()));
  const artifact::Artifact a = artifact::Artifact::open(p);
  const artifact::Contents& out = a.contents();
  EXPECT_EQ(out.family, in.family);
  EXPECT_EQ(out.options, in.options);
  EXPECT_EQ(out.passes, in.passes);
  EXPECT_EQ(out.files, in.files);
  EXPECT_EQ(out.lowered_ir, in.lowered_ir);
  EXPECT_EQ(artifact::caps_to_json(out.target), artifact::caps_to_json(in.target));
  ASSERT_EQ(out.graphs.size(), in.graphs.size());
  for (size_t g = 0; g < in.graphs.size(); ++g) {
    const codegen::CompiledGraph &x = in.graphs[g], &y = out.graphs[g];
    EXPECT_EQ(ir::print(x.graph), ir::print(y.graph));
    EXPECT_EQ(x.symbols, y.symbols);
    EXPECT_EQ(x.max_symbols, y.max_symbols);
    EXPECT_EQ(x.storage_of, y.storage_of);
    ASSERT_EQ(x.dispatches.size(), y.dispatches.size());
    for (size_t i = 0; i < x.dispatches.size(); ++i) {
      const codegen::Dispatch &dx = x.dispatches[i], &dy = y.dispatches[i];
      EXPECT_EQ(dx.op_index, dy.op_index);
      EXPECT_EQ(dx.args, dy.args);
      EXPECT_EQ(dx.kernel.name, dy.kernel.name);
      EXPECT_EQ(dx.kernel.glsl, dy.kernel.glsl);
      EXPECT_EQ(dx.kernel.spirv, dy.kernel.spirv);
      EXPECT_EQ(dx.kernel.local_size, dy.kernel.local_size);
      EXPECT_EQ(dx.kernel.required_subgroup_size, dy.kernel.required_subgroup_size);
      ASSERT_EQ(dx.kernel.args.size(), dy.kernel.args.size());
      for (size_t k = 0; k < dx.kernel.args.size(); ++k) {
        EXPECT_EQ(dx.kernel.args[k].name, dy.kernel.args[k].name);
        EXPECT_EQ(dx.kernel.args[k].written, dy.kernel.args[k].written);
      }
      for (size_t k = 0; k < 3; ++k) {
        EXPECT_EQ(dx.kernel.grid[k].factor, dy.kernel.grid[k].factor);
        EXPECT_EQ(dx.kernel.grid[k].symbols, dy.kernel.grid[k].symbols);
        EXPECT_EQ(dx.kernel.grid[k].divisor, dy.kernel.grid[k].divisor);
      }
    }
  }
  ASSERT_EQ(a.weights().size(), 3u);
  EXPECT_EQ(a.weights()[0].name, "embed");  // sorted by name
  for (const artifact::WeightEntry& w : small_weights()) {
    const artifact::WeightEntry* e = a.find_weight(w.name);
    ASSERT_NE(e, nullptr) << w.name;
    EXPECT_EQ(e->type, w.type);
    const std::span<const uint8_t> bytes = a.weight_data(w.name);
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end()), weight_data(w).bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(bytes.data()) % artifact::kWeightAlignment, 0u) << "weights are page-aligned";
  }
  EXPECT_THROW(a.weight_data("absent"), artifact::ArtifactError);
  // Identical kernels of the two graphs are stored once.
  const artifact::KernelTable t = artifact::kernel_table(in);
  EXPECT_LT(t.kernels.size(), in.graphs[0].dispatches.size() + in.graphs[1].dispatches.size());
  EXPECT_EQ(a.manifest()["kernels"].size(), t.kernels.size());
  EXPECT_EQ(a.manifest()["graphs"][0]["memory_plan"]["weights"], 3);
}

TEST_F(ArtifactTest, SameInputsGiveTheSameBytes) {
  const fs::path a = path("det_a.vkm"), b = path("det_b.vkm");
  artifact::write_artifact(a, small_contents(), small_weights(), weight_data);
  std::vector<artifact::WeightEntry> reversed = small_weights();
  std::reverse(reversed.begin(), reversed.end());
  artifact::write_artifact(b, small_contents(), reversed, weight_data);
  EXPECT_EQ(read_file(a), read_file(b));
  EXPECT_FALSE(fs::exists(a.string() + ".partial"));
}

TEST_F(ArtifactTest, TruncatedFilesAreClearErrors) {
  const std::vector<uint8_t> bytes = written();
  for (size_t keep : {size_t{0}, size_t{7}, size_t{63}, size_t{64}, bytes.size() / 2, bytes.size() - 1}) {
    const std::string e = open_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep)));
    EXPECT_NE(e.find("t.vkm: "), std::string::npos) << keep << ": " << e;
    EXPECT_NE(e.find("truncated"), std::string::npos) << keep << ": " << e;
  }
}

TEST_F(ArtifactTest, BitFlipsAreCaughtByChecksums) {
  const std::vector<uint8_t> bytes = written();
  const artifact::Header h = artifact::decode_header(bytes, "t");
  const json m = json::parse(bytes.begin() + static_cast<std::ptrdiff_t>(h.manifest_offset), bytes.end());
  auto flipped = [&](uint64_t at) {
    std::vector<uint8_t> b = bytes;
    b[at] ^= 0x10;
    return b;
  };
  EXPECT_NE(open_error(flipped(20)).find("header is corrupt"), std::string::npos);
  EXPECT_NE(open_error(flipped(h.manifest_offset + 5)).find("manifest is corrupt"), std::string::npos);
  const json& spv = m["sections"]["kernel/0000.spv"];
  EXPECT_NE(open_error(flipped(spv["offset"].get<uint64_t>() + 30)).find("section 'kernel/0000.spv' is corrupt"),
            std::string::npos);
  const json& ir_text = m["sections"]["graph/decode.ir"];
  EXPECT_NE(open_error(flipped(ir_text["offset"].get<uint64_t>() + 3)).find("section 'graph/decode.ir' is corrupt"),
            std::string::npos);
  // A weight opens (its checksum is checked when it is read, once, while uploading) and then fails.
  const artifact::Artifact a = artifact::Artifact::from_bytes(flipped(m["weights"][1]["offset"].get<uint64_t>() + 2), "t.vkm");
  try {
    a.weight_data("norm");
    FAIL() << "a corrupt weight was read";
  } catch (const artifact::ArtifactError& e) {
    EXPECT_NE(std::string(e.what()).find("weight 'norm' is corrupt"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(a.weight_data("embed"));
}

TEST_F(ArtifactTest, OtherFormatVersionsAndFilesAreRefused) {
  // Version 1 (four graphs, no per-batch-size decode graphs) and a future version.
  for (const uint32_t version : {1u, artifact::kFormatVersion + 1}) {
    std::vector<uint8_t> bytes = written();
    artifact::Header h = artifact::decode_header(bytes, "t");
    h.version = version;
    const auto header = artifact::encode_header(h);
    std::copy(header.begin(), header.end(), bytes.begin());
    const std::string e = open_error(bytes);
    EXPECT_NE(e.find(fmt::format("format version {}, this vkllm reads version {}", version, artifact::kFormatVersion)),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("vkllm compile"), std::string::npos) << e;
  }
  const std::string text = "{\"architectures\": []}" + std::string(100, ' ');
  EXPECT_NE(open_error(std::vector<uint8_t>(text.begin(), text.end())).find("not a vkllm artifact"), std::string::npos);
}

TEST_F(ArtifactTest, InconsistentManifestsAreClearErrors) {
  const std::vector<uint8_t> bytes = written();
  ASSERT_EQ(open_error(with_manifest(bytes, [](json&) {})), "");  // the rewrapping itself is sound
  auto expect = [&](const std::function<void(json&)>& edit, const std::string& message) {
    const std::string e = open_error(with_manifest(bytes, edit));
    EXPECT_NE(e.find(message), std::string::npos) << "expected '" << message << "', got: " << e;
  };
  expect([](json& m) { m["sections"]["graph/decode.ir"]["offset"] = 1u << 30; }, "lies outside the file's data");
  expect([](json& m) { m["sections"]["graph/decode.ir"]["bytes"] = uint64_t{1} << 62; }, "lies outside the file's data");
  expect([](json& m) { m["weights"][0]["offset"] = 3; }, "lies outside the file's data");
  expect([](json& m) { m["weights"][0]["shape"] = {3, 8}; }, "bytes stored, its type needs");
  expect([](json& m) { m["weights"].erase(2); }, "uses weight 'proj', which the artifact does not hold");
  expect([](json& m) { m["weights"][2]["dtype"] = "f32"; }, "weight 'proj'");
  expect([](json& m) { m["graphs"][0]["dispatches"][0]["kernel"] = 999; }, "kernel = 999 is outside");
  expect([](json& m) { m["graphs"][0]["dispatches"][0]["args"][0] = "nope"; }, "names no value ('nope')");
  expect([](json& m) { m["graphs"][0]["dispatches"][1]["args"] = m["graphs"][0]["dispatches"][0]["args"]; },
         "does not bind that op's values");
  expect([](json& m) { m["graphs"][1]["name"] = "prefill"; }, "two graphs are named 'prefill'");
  expect([](json& m) { m["graphs"][1]["name"] = "other"; }, "its IR section must hold exactly that graph");
  expect([](json& m) { m["kernels"][0]["local_size"] = {0, 1, 1}; }, "local_size[0] must be in [1, 65535]");
  expect([](json& m) { m["kernels"][0]["grid"][0]["divisor"] = 0; }, "divisor = 0 is outside");
  expect([](json& m) { m["kernels"][0]["spirv"] = "graph/decode.ir"; }, "): SPIR-V is not whole words");
  expect([](json& m) { m["kernels"][0]["spirv"] = "file/notes.txt"; }, "not SPIR-V (bad magic)");
  expect([](json& m) { m["target"].erase("subgroup_size"); }, "target has no 'subgroup_size'");
  expect([](json& m) { m["files"]["x"] = "file/none"; }, "missing section 'file/none'");
  expect([](json& m) { m["version"] = "1"; }, "manifest.version has the wrong type");
  expect([](json& m) { m = json::array(); }, "manifest is not an object");
}

// The smallest useful artifact: one kernel, one weight (also the seed of the fuzz corpus,
// tests/fuzz/corpus/artifact_fuzz/).
TEST_F(ArtifactTest, OneKernelArtifact) {
  ir::Builder b("g");
  b.output(b.add(b.input("x", {DType::F32, {Dim::symbol("n"), Dim::of(4)}}), b.weight("b", {DType::F32, {Dim::of(4)}})));
  artifact::Contents c;
  c.family = "tiny";
  c.graphs.push_back(codegen::compile_graph(b.finish(), c.target, {{"n", 2}}));
  const fs::path p = path("tiny.vkm");
  artifact::write_artifact(p, c, {{"b", {DType::F32, {Dim::of(4)}}}}, weight_data);
  const artifact::Artifact a = artifact::Artifact::open(p);
  ASSERT_EQ(a.contents().graphs.size(), 1u);
  EXPECT_EQ(a.contents().graphs[0].dispatches.size(), 1u);
  EXPECT_EQ(a.contents().graphs[0].max_symbols.at("n"), 2);
  EXPECT_EQ(a.weight_data("b").size(), 16u);
  // Every symbol must be bounded: the runtime sizes buffers at the bounds.
  const std::string e = open_error(with_manifest(read_file(p), [](json& m) { m["graphs"][0]["max_symbols"] = json::object(); }));
  EXPECT_NE(e.find("max_symbols does not bound symbol 'n'"), std::string::npos) << e;
}

TEST_F(ArtifactTest, WriterRefusesWrongWeightData) {
  auto wrong = [](const artifact::WeightEntry& w) {
    ir::HostTensor t = weight_data(w);
    if (w.name == "norm") t.bytes.pop_back();
    return t;
  };
  try {
    artifact::write_artifact(path("wrong.vkm"), small_contents(), small_weights(), wrong);
    FAIL() << "wrote a weight of the wrong size";
  } catch (const artifact::ArtifactError& e) {
    EXPECT_NE(std::string(e.what()).find("weight 'norm': expected f32[8] (32 bytes)"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path("wrong.vkm.partial")));
  EXPECT_FALSE(fs::exists(path("wrong.vkm")));
}

// Large spans are checksummed in parallel pieces combined with crc32_combine: the result must be the
// plain CRC32 (checked against a byte-at-a-time table CRC) at every size around the piece boundaries.
TEST(Crc32, ParallelPiecesGiveThePlainCrc) {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  auto table_crc = [&](std::span<const uint8_t> bytes) {
    uint32_t c = 0xFFFFFFFFu;
    for (uint8_t b : bytes) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
  };
  std::mt19937_64 rng(3);
  std::vector<uint8_t> bytes((24u << 20) + 7);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  const std::string check = "123456789";  // CRC-32's standard check value
  const std::span<const uint8_t> check_bytes(reinterpret_cast<const uint8_t*>(check.data()), check.size());
  ASSERT_EQ(table_crc(check_bytes), 0xCBF43926u);
  EXPECT_EQ(artifact::crc32(check_bytes), 0xCBF43926u);
  for (size_t n : {bytes.size(), bytes.size() - 7, size_t{16u << 20}, size_t{(16u << 20) + 1}, size_t{(8u << 20) - 1}})
    EXPECT_EQ(artifact::crc32(std::span<const uint8_t>(bytes.data(), n)), table_crc(std::span<const uint8_t>(bytes.data(), n)))
        << n << " bytes";
}

TEST(TargetProfiles, NamedProfilesAndMissingFeatures) {
  for (const codegen::TargetProfile& p : codegen::target_profiles()) {
    EXPECT_EQ(p.caps.name, p.name);
    EXPECT_TRUE(codegen::missing_features(p.caps, p.caps).empty()) << p.name;
    EXPECT_TRUE(codegen::missing_features(codegen::target_profile("generic"), p.caps).empty()) << p.name;
  }
  try {
    codegen::target_profile("nvidia-h9000");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("known: generic, lavapipe"), std::string::npos) << e.what();
  }
  const std::vector<std::string> missing =
      codegen::missing_features(codegen::target_profile("nvidia-h100"), codegen::target_profile("lavapipe"));
  auto has = [&](const std::string& s) {
    return std::any_of(missing.begin(), missing.end(), [&](const std::string& m) { return m.find(s) != std::string::npos; });
  };
  EXPECT_TRUE(has("VK_NV_cooperative_matrix"));
  EXPECT_TRUE(has("shared memory bytes of 49152 (the device has 32768)"));
  EXPECT_FALSE(has("subgroup size"));  // lavapipe can require a subgroup size
  codegen::TargetCaps fixed = codegen::target_profile("lavapipe");
  fixed.subgroup_size_control = false;
  const std::vector<std::string> m2 = codegen::missing_features(codegen::target_profile("amd-rdna3"), fixed);
  ASSERT_FALSE(m2.empty());
  EXPECT_NE(m2[0].find("subgroup size 64 (the device runs 8"), std::string::npos) << m2[0];
}

}  // namespace
}  // namespace vkllm
