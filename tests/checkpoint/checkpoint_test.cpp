// Safetensors and HF-folder reading: written files read back exactly, and every kind of corruption
// is an error that names the file and the problem.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "frontends/checkpoint/checkpoint.h"

namespace fs = std::filesystem;
using namespace vkllm::frontends;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("vkllm_ckpt_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TensorToWrite random_tensor(const std::string& name, StDType t, std::vector<int64_t> shape, std::mt19937_64& rng) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<uint8_t> bytes(static_cast<size_t>(n * element_size(t)));
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  return {name, t, std::move(shape), std::move(bytes)};
}

std::vector<uint8_t> file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Builds a file image from a header text and data bytes.
std::vector<uint8_t> image(const std::string& header, size_t data_bytes) {
  std::string s(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>(n >> (8 * i));
  s += header;
  s.append(data_bytes, '\x5a');
  return {s.begin(), s.end()};
}

void expect_error(const std::vector<uint8_t>& img, const std::string& needle) {
  try {
    SafetensorsFile::parse(img, "bad.safetensors");
    FAIL() << "expected an error containing '" << needle << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Safetensors, WriteThenReadIsExact) {
  std::mt19937_64 rng(7);
  fs::path d = temp_dir("rt");
  std::vector<TensorToWrite> ts = {random_tensor("a.weight", StDType::BF16, {3, 5}, rng),
                                   random_tensor("b", StDType::F32, {7}, rng),
                                   random_tensor("c.scales", StDType::U32, {2, 2, 3}, rng),
                                   random_tensor("empty", StDType::F16, {0, 4}, rng)};
  write_safetensors(d / "x.safetensors", ts, {{"format", "pt"}});
  SafetensorsFile f = SafetensorsFile::open(d / "x.safetensors");
  ASSERT_EQ(f.tensors().size(), ts.size());
  EXPECT_EQ(f.metadata().at("format"), "pt");
  for (const auto& t : ts) {
    const TensorView* v = f.find(t.name);
    ASSERT_NE(v, nullptr) << t.name;
    EXPECT_EQ(v->dtype, t.dtype);
    EXPECT_EQ(v->shape, t.shape);
    ASSERT_EQ(v->bytes.size(), t.bytes.size());
    EXPECT_TRUE(std::equal(v->bytes.begin(), v->bytes.end(), t.bytes.begin())) << t.name;
  }
  // Header is padded so data starts 8-byte aligned, as HF writes it.
  auto raw = file_bytes(d / "x.safetensors");
  uint64_t n;
  std::memcpy(&n, raw.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  fs::remove_all(d);
}

TEST(Safetensors, CorruptHeadersAreClearErrors) {
  expect_error({1, 2, 3}, "shorter than the 8-byte header length");
  expect_error({0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'}, "exceeds the file size");
  expect_error(image("{\"a\": ", 0), "not valid JSON");
  expect_error(image("[1, 2]", 0), "not a JSON object");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4), "outside the 4 data bytes");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8), "needs 12");
  expect_error(image(R"({"a": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 8]}})", 8), "unsupported dtype 'Q9'");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8), "non-negative");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", 8), "outside");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [2]}})", 8), "data_offsets");
  expect_error(image(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                         "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}})", 8), "overlap");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})", 8), "too large");
}

TEST(Safetensors, TruncatedFileIsAnError) {
  std::mt19937_64 rng(8);
  fs::path d = temp_dir("trunc");
  write_safetensors(d / "x.safetensors", {random_tensor("w", StDType::F16, {64, 64}, rng)});
  auto raw = file_bytes(d / "x.safetensors");
  raw.resize(raw.size() - 100);
  write_bytes(d / "x.safetensors", raw);
  EXPECT_THROW(SafetensorsFile::open(d / "x.safetensors"), FormatError);
  fs::remove_all(d);
}

TEST(Checkpoint, ShardedFolderResolvesEveryTensor) {
  std::mt19937_64 rng(9);
  fs::path d = temp_dir("shards");
  write_safetensors(d / "model-00001-of-00002.safetensors", {random_tensor("x", StDType::F32, {4}, rng)});
  write_safetensors(d / "model-00002-of-00002.safetensors", {random_tensor("y", StDType::BF16, {2, 2}, rng)});
  std::ofstream(d / "model.safetensors.index.json")
      << R"({"metadata": {}, "weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}})";
  std::ofstream(d / "config.json") << R"({"architectures": ["LlamaForCausalLM"]})";
  Checkpoint c = Checkpoint::open(d);
  EXPECT_EQ(c.tensor("x").shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(c.tensor("y").dtype, StDType::BF16);
  EXPECT_EQ(c.tensor_names().size(), 2u);
  EXPECT_TRUE(c.generation_config().empty());
  try {
    c.tensor("z");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor 'z'"), std::string::npos);
  }
  fs::remove_all(d);
}

TEST(Checkpoint, BrokenFoldersAreClearErrors) {
  std::mt19937_64 rng(10);
  fs::path d = temp_dir("broken");
  auto expect = [&](const std::string& needle) {
    try {
      Checkpoint::open(d);
      FAIL() << "expected: " << needle;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect("no config.json");
  std::ofstream(d / "config.json") << "{\"a\": ";
  expect("invalid JSON");
  std::ofstream(d / "config.json") << R"({"architectures": ["LlamaForCausalLM"]})";
  expect("no model.safetensors");
  std::ofstream(d / "model.safetensors.index.json") << R"({"weight_map": {"x": "missing.safetensors"}})";
  expect("listed but missing");
  write_safetensors(d / "a.safetensors", {random_tensor("y", StDType::F32, {1}, rng)});
  std::ofstream(d / "model.safetensors.index.json") << R"({"weight_map": {"x": "a.safetensors"}})";
  expect("does not contain it");
  std::ofstream(d / "model.safetensors.index.json") << R"({"weight_map": {"x": "../a.safetensors"}})";
  expect("must be a file in the model folder");
  fs::remove_all(d);
}
