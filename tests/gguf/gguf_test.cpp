// GGUF reading, writing and model mapping.
//  - A file assembled byte by byte from the format description parses as expected, and files the
//    writer produces read back exactly (every metadata type, every tensor type).
//  - Malformed files (every truncation of a valid file, bad magic, huge counts, bad offsets,
//    overlaps, unknown types) are FormatErrors that name the file and the problem.
//  - Tiny synthesized HF checkpoints converted the way llama.cpp's convert_hf_to_gguf.py does
//    (transcribed here: renaming, Q/K permutation, Gemma's +1 norms, llama3 rope_freqs, the
//    tokenizer arrays) map back to the original config, tensors and tokenizer.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <random>
#include <regex>
#include <set>

#include "frontends/checkpoint/checkpoint.h"
#include "frontends/gguf/gguf_file.h"
#include "frontends/gguf/gguf_model.h"
#include "frontends/gguf/gguf_tokenizer.h"
#include "frontends/gguf/gguf_writer.h"
#include "frontends/model/model_spec.h"
#include "frontends/model/synth.h"
#include "frontends/quant/blocks.h"
#include "tests/gguf/hf_to_gguf.h"

namespace fs = std::filesystem;
using namespace vkllm::frontends;
using json = nlohmann::json;
using namespace vkllm::frontends::gguf_testing;

namespace {

uint32_t fresh_seed() {
  static std::random_device rd;
  return rd();
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("vkllm_gguf_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Little-endian byte assembly, straight from the GGUF layout.
struct Bytes {
  std::vector<uint8_t> b;
  Bytes& u8(uint8_t v) { b.push_back(v); return *this; }
  Bytes& u32(uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i))); return *this; }
  Bytes& u64(uint64_t v) { for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i))); return *this; }
  Bytes& f32(float f) { uint32_t v; std::memcpy(&v, &f, 4); return u32(v); }
  Bytes& str(const std::string& s) { u64(s.size()); b.insert(b.end(), s.begin(), s.end()); return *this; }
  Bytes& header(uint64_t tensors, uint64_t kvs) { return u32(0x46554747).u32(3).u64(tensors).u64(kvs); }
  Bytes& pad(size_t align) { while (b.size() % align) b.push_back(0); return *this; }
  Bytes& zeros(size_t n) { b.resize(b.size() + n, 0); return *this; }
  // A tensor description: name, dims, type, offset.
  Bytes& tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
};

std::string parse_error(const std::vector<uint8_t>& file, const std::string& name = "bad.gguf") {
  try {
    GgufFile::parse(file, name);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

void expect_parse_error(const std::vector<uint8_t>& file, const std::string& needle) {
  const std::string msg = parse_error(file);
  EXPECT_NE(msg.find(needle), std::string::npos) << "message: '" << msg << "' lacks '" << needle << "'";
  EXPECT_NE(msg.find("bad.gguf"), std::string::npos) << msg;
}

// --- reading and writing ------------------------------------------------------------------------------

TEST(GgufFile, HandAssembledFile) {
  Bytes f;
  f.header(2, 3);
  f.str("general.architecture").u32(8).str("llama");
  f.str("some.count").u32(4).u32(7);
  f.str("some.list").u32(9).u32(6).u64(2).f32(0.5f).f32(-2.0f);
  f.tensor("w", {2, 3}, 0, 0);
  f.tensor("h", {4}, 1, 32);
  f.pad(32);
  for (int i = 0; i < 6; ++i) f.f32(static_cast<float>(i) + 0.25f);
  f.pad(32);
  f.u32(0x40003C00u).u32(0xC0003800u);  // f16: 1, 2, 0.5, -2
  const GgufFile g = GgufFile::parse(f.b, "hand.gguf");
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.alignment(), 32u);
  ASSERT_EQ(g.metadata().size(), 3u);
  EXPECT_EQ(g.require_string("general.architecture"), "llama");
  EXPECT_EQ(g.require_int("some.count"), 7);
  const GgufValue* list = g.find("some.list");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->element_type(), GgufType::F32);
  EXPECT_EQ(list->double_at(1), -2.0);
  ASSERT_EQ(g.tensors().size(), 2u);
  const GgufTensorInfo& w = g.tensors()[0];
  EXPECT_EQ(w.dims, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w.type, GgmlType::F32);
  EXPECT_EQ(w.bytes, 24u);
  EXPECT_EQ(dequantize_tensor(g, w), (std::vector<float>{0.25f, 1.25f, 2.25f, 3.25f, 4.25f, 5.25f}));
  EXPECT_EQ(dequantize_tensor(g, *g.find_tensor("h")), (std::vector<float>{1.0f, 2.0f, 0.5f, -2.0f}));
  EXPECT_EQ(g.data_offset() % 32, 0u);
}

// Metadata of every type, including nested and empty arrays.
std::vector<std::pair<std::string, GgufValue>> every_metadata_type() {
  return {
      {"v.u8", GgufValue::u8(200)},
      {"v.i8", GgufValue::i8(-100)},
      {"v.u16", GgufValue::u16(65000)},
      {"v.i16", GgufValue::i16(-32000)},
      {"v.u32", GgufValue::u32(4000000000u)},
      {"v.i32", GgufValue::i32(-2000000000)},
      {"v.f32", GgufValue::f32(1e-5f)},
      {"v.bool", GgufValue::boolean(true)},
      {"v.string", GgufValue::string("h\xc3\xa9llo \xe2\x96\x81 world")},
      {"v.empty_string", GgufValue::string("")},
      {"v.u64", GgufValue::u64(18000000000000000000ull)},
      {"v.i64", GgufValue::i64(-9000000000000000000ll)},
      {"v.f64", GgufValue::f64(3.141592653589793)},
      {"a.u8", GgufValue::array_of_ints(GgufType::U8, {1, 2, 255})},
      {"a.i16", GgufValue::array_of_ints(GgufType::I16, {-1, 300})},
      {"a.i32", GgufValue::array_of_ints(GgufType::I32, {-5, 6, 7})},
      {"a.u64", GgufValue::array_of_u64({1, 18000000000000000000ull})},
      {"a.f32", GgufValue::array_of_floats(GgufType::F32, {0.5, -1.25})},
      {"a.f64", GgufValue::array_of_floats(GgufType::F64, {1e300})},
      {"a.bool", GgufValue::array_of_bools({true, false, true})},
      {"a.string", GgufValue::array_of_strings({"a", "", "c d"})},
      {"a.empty", GgufValue::array_of_strings({})},
      {"a.nested", GgufValue::array_of_arrays({GgufValue::array_of_strings({"x", "y"}),
                                               GgufValue::array_of_ints(GgufType::U8, {9}),
                                               GgufValue::array_of_arrays({GgufValue::array_of_bools({false})})})},
  };
}

std::vector<uint8_t> random_bytes(std::mt19937& rng, size_t n) {
  std::vector<uint8_t> b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

TEST(GgufFile, WriterRoundTripsEveryTypeBitExactly) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  for (uint32_t alignment : {32u, 64u, 8u}) {
    GgufWriter w(alignment);
    for (auto& [k, v] : every_metadata_type()) w.set(k, v);
    struct T {
      std::string name;
      GgmlType type;
      std::vector<int64_t> dims;
      std::vector<uint8_t> data;
    };
    std::vector<T> tensors;
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1,
                       GgmlType::Q5_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q2_K, GgmlType::IQ4_XS}) {
      const GgmlTypeInfo* info = ggml_type_info(t);
      const std::vector<int64_t> dims = {info->block_elems * 2, 3};
      tensors.push_back({fmt::format("t.{}", info->name), t, dims,
                         random_bytes(rng, static_cast<size_t>(6 * info->block_bytes))});
    }
    tensors.push_back({"t.unknown_type", static_cast<GgmlType>(41), {5}, random_bytes(rng, 13)});
    tensors.push_back({"t.empty", GgmlType::F32, {0, 4}, {}});
    for (const T& t : tensors) w.add_tensor(t.name, t.type, t.dims, t.data);
    const std::vector<uint8_t> image = w.bytes();
    const GgufFile g = GgufFile::parse(image, "rt.gguf");
    EXPECT_EQ(g.alignment(), alignment);
    const auto expected_meta = every_metadata_type();
    ASSERT_EQ(g.metadata().size(), expected_meta.size() + (alignment != 32 ? 1 : 0));
    for (const auto& [k, v] : expected_meta) {
      const GgufValue* got = g.find(k);
      ASSERT_TRUE(got) << k;
      EXPECT_TRUE(*got == v) << k << ": " << got->describe() << " vs " << v.describe();
    }
    EXPECT_EQ(g.find("v.f32")->as_double(), 1e-5);  // the decimal it was written from
    EXPECT_EQ(g.find("a.nested")->array_at(2).array_at(0).bool_at(0), false);
    ASSERT_EQ(g.tensors().size(), tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      const GgufTensorInfo& t = g.tensors()[i];
      EXPECT_EQ(t.name, tensors[i].name);
      EXPECT_EQ(t.dims, tensors[i].dims);
      EXPECT_EQ(t.type, tensors[i].type);
      EXPECT_EQ(t.offset % alignment, 0u);
      if (t.size_known) {
        EXPECT_EQ(std::vector<uint8_t>(t.data.begin(), t.data.end()), tensors[i].data) << t.name;
      }
    }
    EXPECT_FALSE(g.find_tensor("t.unknown_type")->size_known);
    // Values: the f32/f16/bf16 tensors decode as the bytes say; block types as the quant library decodes them.
    const GgufTensorInfo& f32 = *g.find_tensor("t.f32");
    const std::vector<float> f32v = dequantize_tensor(g, f32);
    for (size_t i = 0; i < f32v.size(); ++i) {
      float want;
      std::memcpy(&want, tensors[0].data.data() + 4 * i, 4);
      EXPECT_TRUE(std::memcmp(&f32v[i], &want, 4) == 0);
    }
    const std::vector<float> bf = dequantize_tensor(g, *g.find_tensor("t.bf16"));
    for (size_t i = 0; i < bf.size(); ++i) {
      const uint32_t want = static_cast<uint32_t>(tensors[2].data[2 * i] | (tensors[2].data[2 * i + 1] << 8)) << 16;
      uint32_t got;
      std::memcpy(&got, &bf[i], 4);
      EXPECT_EQ(got, want);
    }
    std::vector<float> q(static_cast<size_t>(2 * 256 * 3));
    vkllm::frontends::quant::dequantize(vkllm::frontends::quant::BlockType::Q6_K, tensors[9].data, q);
    const std::vector<float> q6 = dequantize_tensor(g, *g.find_tensor("t.q6_K"));
    ASSERT_EQ(q6.size(), q.size());
    EXPECT_EQ(std::memcmp(q6.data(), q.data(), q.size() * 4), 0);
    for (const char* unsupported : {"t.q2_K", "t.iq4_xs", "t.unknown_type"}) {
      try {
        dequantize_tensor(g, *g.find_tensor(unsupported));
        ADD_FAILURE() << unsupported;
      } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("unsupported tensor type"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(unsupported), std::string::npos) << e.what();
      }
    }
  }
}

TEST(GgufFile, OpensFromDisk) {
  const fs::path dir = temp_dir("disk");
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  w.add_tensor("x", GgmlType::F32, {4}, std::vector<uint8_t>(16, 0x3f));
  w.write(dir / "m.gguf");
  const GgufFile g = GgufFile::open(dir / "m.gguf");
  EXPECT_EQ(g.name(), (dir / "m.gguf").string());
  EXPECT_EQ(g.find_tensor("x")->data[3], 0x3f);
  fs::remove_all(dir);
}

// --- malformed files ----------------------------------------------------------------------------------

// A small valid file whose last tensor ends exactly at the end of the file, so that every
// truncation removes bytes something needs.
std::vector<uint8_t> small_valid_file() {
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("a.list", GgufValue::array_of_ints(GgufType::I32, {1, 2, 3}));
  w.set("a.strings", GgufValue::array_of_strings({"x", "yz"}));
  w.set("a.nested", GgufValue::array_of_arrays({GgufValue::array_of_bools({true})}));
  w.add_tensor("q", GgmlType::Q8_0, {32}, std::vector<uint8_t>(34, 1));
  w.add_tensor("f", GgmlType::F32, {8}, std::vector<uint8_t>(32, 2));
  return w.bytes();
}

TEST(GgufFile, EveryTruncationIsAnError) {
  const std::vector<uint8_t> file = small_valid_file();
  ASSERT_NO_THROW(GgufFile::parse(file, "ok.gguf"));
  for (size_t n = 0; n < file.size(); ++n) {
    const std::vector<uint8_t> prefix(file.begin(), file.begin() + static_cast<long>(n));
    const std::string msg = parse_error(prefix);
    ASSERT_FALSE(msg.empty()) << "a " << n << "-byte prefix parsed";
    ASSERT_NE(msg.find("bad.gguf"), std::string::npos) << msg;
    ASSERT_NE(msg.find("(truncated file?)"), std::string::npos) << msg;
  }
  EXPECT_NE(parse_error({file.begin(), file.begin() + 30}).find("4 metadata entries cannot fit in the 6 bytes left"),
            std::string::npos);
  EXPECT_NE(parse_error({file.begin(), file.end() - 1}).find("occupies bytes"), std::string::npos);
}

TEST(GgufFile, HeaderErrors) {
  expect_parse_error({'G', 'G', 'M', 'L', 0, 0, 0, 0}, "not a GGUF file: it starts with 'GGML'");
  expect_parse_error(Bytes().u32(0x46554747).u32(1).u32(0).u32(0).b, "version 1");
  expect_parse_error(Bytes().u32(0x46554747).u32(0x03000000).u64(0).u64(0).b, "big-endian");
  expect_parse_error(Bytes().u32(0x46554747).u32(7).u64(0).u64(0).b, "unsupported GGUF version 7");
  expect_parse_error(Bytes().header(uint64_t{1} << 60, 0).b, "tensor descriptions cannot fit");
  expect_parse_error(Bytes().header(0, ~uint64_t{0}).b, "metadata entries cannot fit");
  EXPECT_NO_THROW(GgufFile::parse(Bytes().header(0, 0).b, "empty.gguf"));
}

TEST(GgufFile, MetadataErrors) {
  expect_parse_error(Bytes().header(0, 1).u64(1000).zeros(32).b, "needs 1000 bytes");  // key past the end
  expect_parse_error(Bytes().header(0, 1).str("k").u32(8).u64(~uint64_t{0} / 2).b, "truncated");
  expect_parse_error(Bytes().header(0, 1).str("k").u32(13).u32(0).b, "unknown value type 13");
  expect_parse_error(Bytes().header(0, 1).str("k").u32(7).u8(2).b, "bool stored as 2");
  expect_parse_error(Bytes().header(0, 1).str("k").u32(9).u32(4).u64(uint64_t{1} << 40).b, "cannot fit");
  expect_parse_error(Bytes().header(0, 1).str("k").u32(9).u32(8).u64(3).str("a").u64(99).zeros(64).b, "'k'[1]");
  expect_parse_error(Bytes().header(0, 1).str("k").u32(9).u32(77).u64(0).b, "unknown value type 77");
  expect_parse_error(Bytes().header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).b, "appears twice");
  Bytes deep;
  deep.header(0, 1).str("k").u32(9);
  for (int i = 0; i < 12; ++i) deep.u32(9).u64(1);
  deep.u32(0).u64(0);
  expect_parse_error(deep.b, "nest deeper");
  expect_parse_error(Bytes().header(0, 1).str("general.alignment").u32(4).u32(48).b, "not a power of two");
  expect_parse_error(Bytes().header(0, 1).str("general.alignment").u32(8).str("x").b, "not an integer");
}

TEST(GgufFile, TensorErrors) {
  auto one_tensor = [](std::vector<uint64_t> dims, uint32_t type, uint64_t offset, size_t data) {
    Bytes f;
    f.header(1, 0).tensor("t", std::move(dims), type, offset).pad(32);
    f.b.resize(f.b.size() + data, 0);
    return f.b;
  };
  EXPECT_NO_THROW(GgufFile::parse(one_tensor({4}, 0, 0, 16), "ok.gguf"));
  expect_parse_error(one_tensor({4, 1, 1, 1, 1}, 0, 0, 16), "5 dimensions");
  expect_parse_error(one_tensor({uint64_t{1} << 63}, 0, 0, 16), "implausibly large");
  expect_parse_error(one_tensor({uint64_t{1} << 40, uint64_t{1} << 40}, 0, 0, 16), "more than 2^62 elements");
  expect_parse_error(one_tensor({4}, 0, 4, 16), "not a multiple of the alignment 32");
  expect_parse_error(one_tensor({4}, 0, 64, 16), "occupies bytes [64, 80)");
  expect_parse_error(one_tensor({8}, 0, 0, 16), "truncated");
  expect_parse_error(one_tensor({33}, 8, 0, 68), "not a whole number of 32-value q8_0 blocks");
  // An unknown type id opens (its size is unknown); using it is the error (see the round trip test).
  EXPECT_NO_THROW(GgufFile::parse(one_tensor({4}, 99, 0, 16), "ok.gguf"));
  expect_parse_error(one_tensor({4}, 99, 64, 16), "occupies bytes");
  Bytes two;
  two.header(2, 0).tensor("a", {8}, 0, 0).tensor("b", {4}, 0, 0).pad(32);
  two.b.resize(two.b.size() + 32, 0);
  expect_parse_error(two.b, "overlap");
  Bytes dup;
  dup.header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {4}, 0, 32).pad(32);
  dup.b.resize(dup.b.size() + 64, 0);
  expect_parse_error(dup.b, "tensor name 'a' appears twice");
  Bytes no_data;
  no_data.header(1, 0).tensor("a", {8}, 0, 0);
  expect_parse_error(no_data.b, "tensor data should start at byte 64");
}

TEST(GgufFile, TypedAccessErrorsNameTheKey) {
  GgufWriter w;
  w.set("x.str", GgufValue::string("s"));
  w.set("x.big", GgufValue::u64(~uint64_t{0}));
  const std::vector<uint8_t> image = w.bytes();
  const GgufFile g = GgufFile::parse(image, "typed.gguf");
  try {
    g.get_int("x.str");
    ADD_FAILURE();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("typed.gguf: metadata 'x.str': string 's' is not an integer"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(g.get_int("x.big"), FormatError);
  EXPECT_EQ(g.find("x.big")->as_u64(), ~uint64_t{0});
  EXPECT_FALSE(g.get_int("x.absent").has_value());
  EXPECT_THROW(g.require_int("x.absent"), FormatError);
}

// --- the llama.cpp conversion: tests/gguf/hf_to_gguf.h ----------------------------------------------------

struct Synth {
  fs::path dir, gguf;
  Checkpoint ck;
};

Synth synth_and_convert(const std::string& family, const std::string& dtype, const ConvertOptions& opts = {}) {
  const fs::path dir = temp_dir(family + "_" + dtype);
  SynthOptions so;
  so.family = family;
  so.out_dir = dir / "hf";
  so.seed = fresh_seed();
  so.dtype = dtype;
  synthesize(so);
  convert_to_gguf(dir / "hf", dir / "model.gguf", opts);
  return {dir, dir / "model.gguf", Checkpoint::open(dir / "hf")};
}

void expect_same_spec(const ModelSpec& a, const ModelSpec& b, bool compare_rope) {
  EXPECT_EQ(a.family, b.family);
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.max_position, b.max_position);
  EXPECT_EQ(a.norm_eps, b.norm_eps);
  EXPECT_EQ(a.norm_offset, b.norm_offset);
  EXPECT_EQ(a.activation, b.activation);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
  EXPECT_EQ(a.o_bias, b.o_bias);
  EXPECT_EQ(a.mlp_bias, b.mlp_bias);
  EXPECT_EQ(a.qk_norm, b.qk_norm);
  EXPECT_EQ(a.sandwich_norms, b.sandwich_norms);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.embedding_scale, b.embedding_scale);
  EXPECT_EQ(a.attn_scale, b.attn_scale);
  EXPECT_EQ(a.attn_softcap, b.attn_softcap);
  EXPECT_EQ(a.final_softcap, b.final_softcap);
  EXPECT_EQ(a.sliding_window, b.sliding_window);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    EXPECT_EQ(a.layers[i].kind, b.layers[i].kind) << i;
    if (compare_rope) {
      EXPECT_TRUE(a.layers[i].rope == b.layers[i].rope) << i;
    }
  }
}

// Checks that every HF tensor comes back: matrices byte for byte, 1-D tensors (stored as F32)
// as the same values.
void expect_same_tensors(const GgufModel& m, const Checkpoint& ck, bool gemma) {
  std::vector<std::string> names = m.hf_tensor_names();
  std::vector<std::string> want = ck.tensor_names();
  std::sort(names.begin(), names.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(names, want);
  for (const std::string& name : want) {
    SCOPED_TRACE(name);
    const TensorView& t = ck.tensor(name);
    const GgufModel::Tensor& g = m.tensor(name);
    EXPECT_EQ(g.shape, t.shape);
    if (t.shape.size() == 2) {
      EXPECT_EQ(std::vector<uint8_t>(g.raw.begin(), g.raw.end()), std::vector<uint8_t>(t.bytes.begin(), t.bytes.end()));
      continue;
    }
    const std::vector<float> got = m.dequantized(name), orig = as_floats(t);
    ASSERT_EQ(got.size(), orig.size());
    for (size_t i = 0; i < got.size(); ++i) {
      if (gemma && name.ends_with("norm.weight")) {
        // (w + 1) - 1: exact up to the f32 rounding of w + 1, at most 2^-24 for |w| < 1.
        EXPECT_LE(std::fabs(got[i] - orig[i]), 0x1p-24f) << i;
      } else {
        EXPECT_EQ(got[i], orig[i]) << i;
      }
    }
  }
}

void expect_same_tokenizer(const GgufModel& m, const fs::path& hf_dir) {
  const json want = read_json_file(hf_dir / "tokenizer.json");
  const json got = m.hf_tokenizer_json();
  EXPECT_EQ(got["model"]["type"], "BPE");
  EXPECT_EQ(got["model"]["vocab"], want["model"]["vocab"]);
  EXPECT_EQ(got["model"]["merges"], want["model"]["merges"]);
  ASSERT_EQ(got["added_tokens"].size(), want["added_tokens"].size());
  for (size_t i = 0; i < want["added_tokens"].size(); ++i) {
    EXPECT_EQ(got["added_tokens"][i]["id"], want["added_tokens"][i]["id"]);
    EXPECT_EQ(got["added_tokens"][i]["content"], want["added_tokens"][i]["content"]);
    EXPECT_EQ(got["added_tokens"][i]["special"], want["added_tokens"][i]["special"]);
  }
  EXPECT_EQ(got["pre_tokenizer"], want["pre_tokenizer"]);  // GPT-2's ByteLevel with its regex
  EXPECT_EQ(got["decoder"]["type"], "ByteLevel");
  const json want_config = read_json_file(hf_dir / "tokenizer_config.json");
  const json got_config = m.hf_tokenizer_config();
  EXPECT_EQ(got_config["eos_token"], want_config["eos_token"]);
  EXPECT_EQ(got_config["pad_token"], want_config["pad_token"]);
  EXPECT_EQ(got_config["add_bos_token"], want_config["add_bos_token"]);
  EXPECT_EQ(got_config["chat_template"], want_config["chat_template"]);
  if (want_config["bos_token"].is_string()) {
    EXPECT_EQ(got_config["bos_token"], want_config["bos_token"]);
  }
}

// The rope factors a config implies (HF's llama3 rule), for comparison with the file's rope_freqs.
std::vector<double> hf_llama3_factors(const RopeSpec& r, int64_t dim) {
  std::vector<double> out;
  for (int64_t i = 0; i < dim; i += 2) {
    const double inv = 1.0 / std::pow(r.theta, static_cast<double>(i) / static_cast<double>(dim));
    const double wavelen = 2 * std::numbers::pi / inv;
    const double low_wavelen = static_cast<double>(r.original_max_position) / r.low_freq_factor;
    const double high_wavelen = static_cast<double>(r.original_max_position) / r.high_freq_factor;
    if (wavelen < high_wavelen) out.push_back(1.0);
    else if (wavelen > low_wavelen) out.push_back(r.factor);
    else {
      const double smooth = (static_cast<double>(r.original_max_position) / wavelen - r.low_freq_factor) /
                            (r.high_freq_factor - r.low_freq_factor);
      out.push_back(1 / ((1 - smooth) / r.factor + smooth));
    }
  }
  return out;
}

TEST(GgufModel, LlamaMapsBackToTheHfCheckpoint) {
  for (const char* dtype : {"bfloat16", "float16", "float32"}) {
    SCOPED_TRACE(dtype);
    const Synth s = synth_and_convert("llama", dtype);
    const GgufModel m = GgufModel::open(s.gguf);
    EXPECT_EQ(m.gguf_architecture(), "llama");
    const json& c = m.hf_config();
    EXPECT_EQ(c["architectures"][0], "LlamaForCausalLM");
    const ModelSpec got = describe_model(c, m.hf_generation_config());
    const ModelSpec want = describe_model(s.ck.config(), s.ck.generation_config());
    expect_same_spec(got, want, /*compare_rope=*/false);
    // The converter replaced rope_scaling by per-frequency factors; the config recovered from them
    // must give the same factors.
    const GgufFile& f = m.file();
    const std::vector<float> stored = dequantize_tensor(f, *f.find_tensor("rope_freqs.weight"));
    ASSERT_EQ(got.layers[0].rope.scaling, "llama3");
    EXPECT_EQ(got.layers[0].rope.theta, want.layers[0].rope.theta);
    const std::vector<double> implied = hf_llama3_factors(got.layers[0].rope, got.head_dim);
    ASSERT_EQ(implied.size(), stored.size());
    for (size_t i = 0; i < stored.size(); ++i) EXPECT_NEAR(implied[i], stored[i], 1e-5 * stored[i]) << i;
    // EOS: the file's eos token is tokenizer_config's (the end-of-turn token).
    const int64_t eot = m.hf_generation_config()["eos_token_id"];
    EXPECT_EQ(s.ck.generation_config()["eos_token_id"][1], eot);
    expect_same_tensors(m, s.ck, false);
    expect_same_tokenizer(m, s.dir / "hf");
    fs::remove_all(s.dir);
  }
}

TEST(GgufModel, Qwen3MapsBackToTheHfCheckpoint) {
  const Synth s = synth_and_convert("qwen3", "bfloat16");
  const GgufModel m = GgufModel::open(s.gguf);
  const ModelSpec got = describe_model(m.hf_config(), m.hf_generation_config());
  const ModelSpec want = describe_model(s.ck.config(), s.ck.generation_config());
  expect_same_spec(got, want, /*compare_rope=*/true);
  EXPECT_TRUE(got.qk_norm);
  expect_same_tensors(m, s.ck, false);
  expect_same_tokenizer(m, s.dir / "hf");
  fs::remove_all(s.dir);
}

TEST(GgufModel, Gemma2NormsLoseTheirPlusOne) {
  const Synth s = synth_and_convert("gemma2", "bfloat16");
  const GgufModel m = GgufModel::open(s.gguf);
  const ModelSpec got = describe_model(m.hf_config(), m.hf_generation_config());
  const ModelSpec want = describe_model(s.ck.config(), s.ck.generation_config());
  expect_same_spec(got, want, /*compare_rope=*/true);
  // In the file the norms are 1 + w (values near 1); mapped back they are w (near 0).
  const GgufFile& f = m.file();
  const std::vector<float> in_file = dequantize_tensor(f, *f.find_tensor("blk.0.post_ffw_norm.weight"));
  const std::vector<float> mapped = m.dequantized("model.layers.0.post_feedforward_layernorm.weight");
  for (size_t i = 0; i < mapped.size(); ++i) EXPECT_NEAR(in_file[i] - mapped[i], 1.0f, 1e-6f);
  expect_same_tensors(m, s.ck, true);
  fs::remove_all(s.dir);
}

TEST(GgufModel, QuantizedPermutedRowsComeBackInHfOrder) {
  const Synth s = synth_and_convert("llama", "float32", {.q8_0_matrices = true});
  const GgufModel m = GgufModel::open(s.gguf);
  for (const char* name : {"model.layers.1.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                           "model.layers.1.mlp.down_proj.weight"}) {
    SCOPED_TRACE(name);
    const TensorView& t = s.ck.tensor(name);
    const GgufModel::Tensor& g = m.tensor(name);
    EXPECT_EQ(g.type, GgmlType::Q8_0);
    // Rows are quantized independently, so unpermuting quantized rows gives the quantized HF rows.
    const std::vector<uint8_t> want = vkllm::frontends::quant::quantize(vkllm::frontends::quant::BlockType::Q8_0, as_floats(t));
    EXPECT_EQ(std::vector<uint8_t>(g.raw.begin(), g.raw.end()), want);
    std::vector<float> deq(static_cast<size_t>(t.numel()));
    vkllm::frontends::quant::dequantize(vkllm::frontends::quant::BlockType::Q8_0, want, deq);
    EXPECT_EQ(m.dequantized(name), deq);
  }
  fs::remove_all(s.dir);
}

// A minimal llama GGUF around given metadata and extra tensors (for config-mapping cases).
std::vector<uint8_t> tiny_llama(const std::function<void(GgufWriter&)>& edit, int64_t head_dim = 8) {
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("llama.block_count", GgufValue::u32(1));
  w.set("llama.embedding_length", GgufValue::u32(static_cast<uint32_t>(2 * head_dim)));
  w.set("llama.feed_forward_length", GgufValue::u32(32));
  w.set("llama.attention.head_count", GgufValue::u32(2));
  w.set("llama.attention.head_count_kv", GgufValue::u32(1));
  w.set("llama.context_length", GgufValue::u32(128));
  w.set("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f));
  w.add_tensor("token_embd.weight", GgmlType::F32, {2 * head_dim, 4}, std::vector<uint8_t>(static_cast<size_t>(32 * head_dim), 0));
  edit(w);
  return w.bytes();
}

std::string model_error(const std::vector<uint8_t>& image) {
  try {
    GgufModel::from_file(GgufFile::parse(image, "m.gguf"));
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

TEST(GgufModel, Llama3RopeScalingOfLlama31) {
  // Llama 3.1 8B: theta 500000, head_dim 128, factor 8, low 1, high 4, original 8192.
  json hf = {{"rope_theta", 500000.0}, {"rope_scaling", {{"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0}}}};
  const std::vector<float> factors = llama3_rope_factors(hf, 128);
  const std::vector<uint8_t> image = tiny_llama(
      [&](GgufWriter& w) {
        w.set("llama.rope.freq_base", GgufValue::f32(500000.0f));
        w.set("llama.attention.key_length", GgufValue::u32(128));
        w.add_tensor("rope_freqs.weight", GgmlType::F32, {64}, float_bytes(factors));
      },
      128);
  const GgufModel m = GgufModel::from_file(GgufFile::parse(image, "m.gguf"));
  const json& rs = m.hf_config()["rope_scaling"];
  EXPECT_EQ(rs["rope_type"], "llama3");
  EXPECT_EQ(rs["factor"], 8.0);
  EXPECT_EQ(rs["low_freq_factor"], 1.0);
  EXPECT_EQ(rs["high_freq_factor"], 4.0);
  EXPECT_EQ(rs["original_max_position_embeddings"], 8192);
  // Factors that no llama3 rule produces are refused.
  std::vector<float> broken = factors;
  std::reverse(broken.begin(), broken.end());
  const std::string msg = model_error(tiny_llama(
      [&](GgufWriter& w) {
        w.set("llama.rope.freq_base", GgufValue::f32(500000.0f));
        w.set("llama.attention.key_length", GgufValue::u32(128));
        w.add_tensor("rope_freqs.weight", GgmlType::F32, {64}, float_bytes(broken));
      },
      128));
  EXPECT_NE(msg.find("does not follow the Llama 3 RoPE scaling formula"), std::string::npos) << msg;
}

TEST(GgufModel, ConfigFields) {
  const std::vector<uint8_t> image = tiny_llama([](GgufWriter& w) {
    w.set("llama.rope.scaling.type", GgufValue::string("linear"));
    w.set("llama.rope.scaling.factor", GgufValue::f32(4.0f));
    w.set("llama.rope.dimension_count", GgufValue::u32(4));
    w.set("llama.feed_forward_length", GgufValue::array_of_ints(GgufType::U32, {32}));
  });
  const GgufModel m = GgufModel::from_file(GgufFile::parse(image, "m.gguf"));
  const json& c = m.hf_config();
  EXPECT_EQ(c["rope_scaling"], (json{{"rope_type", "linear"}, {"factor", 4.0}}));
  EXPECT_EQ(c["partial_rotary_factor"], 0.5);
  EXPECT_EQ(c["intermediate_size"], 32);
  EXPECT_EQ(c["rms_norm_eps"], 1e-5);
  EXPECT_EQ(c["max_position_embeddings"], 128);
  EXPECT_EQ(c["vocab_size"], 4);
  EXPECT_EQ(c["tie_word_embeddings"], true);
  EXPECT_EQ(c["head_dim"], 8);
  const ModelSpec spec = describe_model(c, json::object());
  EXPECT_EQ(spec.layers[0].rope.scaling, "linear");
  EXPECT_EQ(spec.layers[0].rope.rotary_dims, 4);
}

TEST(GgufModel, MappingErrors) {
  auto expect_model_error = [](const std::vector<uint8_t>& image, const std::string& needle) {
    const std::string msg = model_error(image);
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: '" << msg << "' lacks '" << needle << "'";
    EXPECT_NE(msg.find("m.gguf"), std::string::npos) << msg;
  };
  expect_model_error(tiny_llama([](GgufWriter& w) { w.set("general.architecture", GgufValue::string("qwen35")); }),
                     "'qwen35' (Qwen3.5) is not supported yet");
  expect_model_error(tiny_llama([](GgufWriter& w) { w.set("general.architecture", GgufValue::string("bert")); }),
                     "GGUF architecture 'bert' is not supported (supported: llama, qwen2, qwen3, gemma2, gemma3)");
  expect_model_error(tiny_llama([](GgufWriter& w) {
                       w.add_tensor("blk.0.ffn_gate_exps.weight", GgmlType::F32, {4}, std::vector<uint8_t>(16));
                     }),
                     "tensor 'blk.0.ffn_gate_exps.weight' has no Hugging Face equivalent");
  expect_model_error(tiny_llama([](GgufWriter& w) {
                       w.add_tensor("blk.3.attn_norm.weight", GgmlType::F32, {4}, std::vector<uint8_t>(16));
                     }),
                     "belongs to layer 3, but the model has 1 layers");
  expect_model_error(tiny_llama([](GgufWriter& w) { w.set("llama.block_count", GgufValue::string("two")); }),
                     "metadata 'llama.block_count': string 'two' is not an integer");
  expect_model_error(tiny_llama([](GgufWriter& w) {
                       w.set("llama.feed_forward_length", GgufValue::array_of_ints(GgufType::U32, {32, 64}));
                     }),
                     "differs between layers");
  expect_model_error(tiny_llama([](GgufWriter& w) {
                       w.set("tokenizer.ggml.tokens", GgufValue::array_of_strings({"a", "b"}));
                     }),
                     "the tokenizer has 2 tokens but token_embd.weight has 4 rows");
  expect_model_error(tiny_llama([](GgufWriter& w) { w.set("llama.rope.scaling.type", GgufValue::string("ntk")); }),
                     "RoPE scaling type 'ntk' is not supported");
  expect_model_error(tiny_llama([](GgufWriter& w) {
                       w.add_tensor("blk.0.attn_q.weight", GgmlType::F32, {16, 6}, std::vector<uint8_t>(384));
                     }),
                     "not a multiple of 2 x 2 heads");
  // Unsupported tensor types open; using them is the error.
  const std::vector<uint8_t> q2 = tiny_llama([](GgufWriter& w) {
    w.add_tensor("blk.0.attn_v.weight", GgmlType::Q2_K, {256, 1}, std::vector<uint8_t>(84));
  });
  const GgufModel m = GgufModel::from_file(GgufFile::parse(q2, "m.gguf"));
  try {
    m.tensor("model.layers.0.self_attn.v_proj.weight");
    ADD_FAILURE();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported tensor type q2_K (blk.0.attn_v.weight)"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(m.contains("model.layers.0.self_attn.v_proj.weight"));
  EXPECT_FALSE(m.contains("model.layers.0.nothing.weight"));
  EXPECT_THROW(m.tensor("model.layers.0.nothing.weight"), FormatError);
}

TEST(GgufModel, TensorNames) {
  EXPECT_EQ(hf_tensor_name("llama", "blk.12.attn_output.weight"), "model.layers.12.self_attn.o_proj.weight");
  EXPECT_EQ(hf_tensor_name("llama", "blk.0.ffn_norm.weight"), "model.layers.0.post_attention_layernorm.weight");
  EXPECT_EQ(hf_tensor_name("gemma3", "blk.0.ffn_norm.weight"), "model.layers.0.pre_feedforward_layernorm.weight");
  EXPECT_EQ(hf_tensor_name("gemma2", "blk.1.post_attention_norm.weight"), "model.layers.1.post_attention_layernorm.weight");
  EXPECT_EQ(hf_tensor_name("gemma2", "blk.1.post_ffw_norm.weight"), "model.layers.1.post_feedforward_layernorm.weight");
  EXPECT_EQ(hf_tensor_name("qwen3", "blk.2.attn_k_norm.weight"), "model.layers.2.self_attn.k_norm.weight");
  EXPECT_EQ(hf_tensor_name("qwen2", "blk.2.attn_v.bias"), "model.layers.2.self_attn.v_proj.bias");
  EXPECT_EQ(hf_tensor_name("llama", "output.weight"), "lm_head.weight");
  EXPECT_EQ(hf_tensor_name("llama", "blk.01.attn_q.weight"), "");
  EXPECT_EQ(hf_tensor_name("llama", "blk.0.attn_norm.bias"), "");
  EXPECT_EQ(hf_tensor_name("llama", "blk.x.attn_q.weight"), "");
  EXPECT_EQ(hf_tensor_name("llama", "blk.0.post_ffw_norm.weight"), "");
}

// --- tokenizers -----------------------------------------------------------------------------------------

std::vector<uint8_t> spm_file(const std::function<void(GgufWriter&)>& edit = [](GgufWriter&) {}) {
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::string("llama"));
  w.set("tokenizer.ggml.tokens", GgufValue::array_of_strings({"<unk>", "<s>", "</s>", "<0x41>", "\xe2\x96\x81", "a", "b",
                                                               "ab", "\xe2\x96\x81" "a", "\xe2\x96\x81" "ab", "ba"}));
  w.set("tokenizer.ggml.scores",
        GgufValue::array_of_floats(GgufType::F32, {0, 0, 0, 0, -1, -2, -3, -4, -5, -6, -7}));
  w.set("tokenizer.ggml.token_type", GgufValue::array_of_ints(GgufType::I32, {2, 3, 3, 6, 1, 1, 1, 1, 1, 1, 1}));
  w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(1));
  w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(2));
  w.set("tokenizer.ggml.unknown_token_id", GgufValue::u32(0));
  edit(w);
  return w.bytes();
}

TEST(GgufTokenizer, SentencePieceMergesFromScores) {
  const std::vector<uint8_t> image = spm_file();
  const GgufFile f = GgufFile::parse(image, "spm.gguf");
  const json t = gguf_tokenizer_json(f);
  const std::string sp = "\xe2\x96\x81";
  // Merges of each piece (by the ids of its halves), then all by the piece's score, highest first:
  // ab (-4): a+b; ▁a (-5): ▁+a; ▁ab (-6): ▁+ab (ids 4,7) before ▁a+b (ids 8,6); ba (-7): b+a.
  const json merges = json::array({{"a", "b"}, {sp, "a"}, {sp, "ab"}, {sp + "a", "b"}, {"b", "a"}});
  EXPECT_EQ(t["model"]["merges"], merges);
  EXPECT_EQ(t["model"]["vocab"].size(), 11u);
  EXPECT_EQ(t["model"]["vocab"][sp + "ab"], 9);
  EXPECT_EQ(t["model"]["unk_token"], "<unk>");
  EXPECT_EQ(t["model"]["byte_fallback"], true);
  EXPECT_EQ(t["normalizer"]["normalizers"][0], (json{{"type", "Prepend"}, {"prepend", sp}}));
  ASSERT_EQ(t["added_tokens"].size(), 3u);
  EXPECT_EQ(t["added_tokens"][1]["content"], "<s>");
  EXPECT_EQ(t["added_tokens"][1]["special"], true);
  // SentencePiece tokenizers add BOS unless the file says otherwise.
  EXPECT_EQ(t["post_processor"]["single"][0]["SpecialToken"]["id"], "<s>");
  EXPECT_EQ(t["post_processor"]["special_tokens"]["<s>"]["ids"], json::array({1}));
  const json c = gguf_tokenizer_config(f, 2048);
  EXPECT_EQ(c["bos_token"], "<s>");
  EXPECT_EQ(c["eos_token"], "</s>");
  EXPECT_EQ(c["add_bos_token"], true);
  EXPECT_EQ(c["model_max_length"], 2048);

  const std::vector<uint8_t> no_prefix = spm_file([](GgufWriter& w) {
    w.set("tokenizer.ggml.add_space_prefix", GgufValue::boolean(false));
    w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(false));
    w.set("tokenizer.chat_template", GgufValue::string("{{ x }}"));
    w.set("tokenizer.chat_template.tool_use", GgufValue::string("{{ y }}"));
  });
  const GgufFile g = GgufFile::parse(no_prefix, "spm.gguf");
  const json t2 = gguf_tokenizer_json(g);
  EXPECT_EQ(t2["normalizer"]["normalizers"].size(), 1u);
  EXPECT_TRUE(t2["post_processor"].is_null());
  EXPECT_EQ(gguf_tokenizer_config(g, 0)["chat_template"],
            json::parse(R"([{"name": "default", "template": "{{ x }}"}, {"name": "tool_use", "template": "{{ y }}"}])"));
}

std::vector<uint8_t> bpe_file(const std::string& pre, const std::function<void(GgufWriter&)>& edit = [](GgufWriter&) {}) {
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::string("gpt2"));
  if (!pre.empty()) w.set("tokenizer.ggml.pre", GgufValue::string(pre));
  w.set("tokenizer.ggml.tokens", GgufValue::array_of_strings({"a", "b", "ab", "<|end|>", "[PAD4]"}));
  w.set("tokenizer.ggml.token_type", GgufValue::array_of_ints(GgufType::I32, {1, 1, 1, 3, 5}));
  w.set("tokenizer.ggml.merges", GgufValue::array_of_strings({"a b"}));
  w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(3));
  edit(w);
  return w.bytes();
}

TEST(GgufTokenizer, ByteLevelPreTokenizers) {
  auto tokenizer = [](const std::vector<uint8_t>& image) { return gguf_tokenizer_json(GgufFile::parse(image, "bpe.gguf")); };
  const json llama3 = tokenizer(bpe_file("llama-bpe"));
  EXPECT_EQ(llama3["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"],
            R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)");
  EXPECT_EQ(llama3["pre_tokenizer"]["pretokenizers"][1]["use_regex"], false);
  EXPECT_EQ(llama3["model"]["ignore_merges"], true);
  EXPECT_EQ(llama3["model"]["vocab"], (json{{"a", 0}, {"b", 1}, {"ab", 2}}));  // no control or padding tokens
  EXPECT_EQ(llama3["model"]["merges"], json::array({{"a", "b"}}));
  EXPECT_EQ(llama3["added_tokens"][0]["content"], "<|end|>");
  EXPECT_EQ(llama3["post_processor"]["single"][0]["SpecialToken"]["id"], "<|end|>");  // llama3 adds BOS
  const json qwen = tokenizer(bpe_file("qwen2"));
  EXPECT_EQ(qwen["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"],
            R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)");
  EXPECT_EQ(qwen["model"]["ignore_merges"], false);
  EXPECT_TRUE(qwen["post_processor"].is_null());
  EXPECT_EQ(tokenizer(bpe_file("deepseek-v3"))["pre_tokenizer"]["pretokenizers"].size(), 4u);
  EXPECT_EQ(tokenizer(bpe_file("gpt-2"))["pre_tokenizer"]["use_regex"], true);
  EXPECT_EQ(tokenizer(bpe_file(""))["pre_tokenizer"]["pretokenizers"].size(), 5u);  // llama.cpp's default

  auto error = [](const std::vector<uint8_t>& image) -> std::string {
    try {
      gguf_tokenizer_json(GgufFile::parse(image, "bpe.gguf"));
    } catch (const FormatError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error(bpe_file("tekken-9")).find("tokenizer.ggml.pre 'tekken-9' is not supported"), std::string::npos);
  EXPECT_NE(error(bpe_file("qwen2", [](GgufWriter& w) { w.set("tokenizer.ggml.merges", GgufValue::array_of_strings({"ab"})); }))
                .find("merge 0 ('ab') is not two UTF-8 tokens"),
            std::string::npos);
  EXPECT_NE(error(bpe_file("qwen2", [](GgufWriter& w) {
              w.set("tokenizer.ggml.token_type", GgufValue::array_of_ints(GgufType::I32, {1}));
            })).find("one type per token"),
            std::string::npos);
  EXPECT_NE(error(bpe_file("qwen2", [](GgufWriter& w) { w.set("tokenizer.ggml.tokens", GgufValue::array_of_strings({"a", "\xff", "c", "d", "e"})); }))
                .find("token 1 is not valid UTF-8"),
            std::string::npos);
  EXPECT_NE(error(bpe_file("llama-bpe", [](GgufWriter& w) { w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(9)); }))
                .find("tokenizer.ggml.bos_token_id' = 9 is not a token id"),
            std::string::npos);
  EXPECT_NE(error(bpe_file("qwen2", [](GgufWriter& w) { w.set("tokenizer.ggml.model", GgufValue::string("t5")); }))
                .find("tokenizer.ggml.model 't5' is not supported"),
            std::string::npos);
  EXPECT_NE(error(bpe_file("qwen2", [](GgufWriter& w) { w.set("tokenizer.ggml.tokens", GgufValue::array_of_strings({"a", "b", "a", "x", "y"})); }))
                .find("token 2 ('a') repeats token 0"),
            std::string::npos);
}

}  // namespace
