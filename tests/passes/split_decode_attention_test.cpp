// split-decode-attention on built decode graphs: which paged_attention ops split and into how many
// runs, and that the reference executor gives the same attention before and after (the partials are
// rounded to f32, so within 1e-6 of the output's magnitude) on random caches: GQA 1, 4 and 8, head
// dims 64, 128 and 256, windows, softcap, sequences of different lengths (1 key, contexts not a
// multiple of the run, contexts filling every split) and padding rows. The FileCheck file beside this
// one covers the text form and the ops that must stay whole.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "ir/reference.h"
#include "passes/pass.h"
#include "tests/passes/pass_test_support.h"

namespace vkllm::passes {
namespace {

using ir::DType;
using ir::Graph;
using ir::ValueId;

ir::Dim c(int64_t v) { return ir::Dim::of(v); }
const ir::Dim kRows = ir::Dim::symbol("tokens");

struct Shape {
  int64_t q_heads, kv_heads, head_dim, window;
  double softcap;
};

constexpr int64_t kBlock = 16, kWidth = 40, kSequences = 3;  // up to 640 keys per sequence

Graph decode_attention(const Shape& s) {
  ir::Builder b("decode");
  ValueId q = b.input("q", {DType::F32, {kRows, c(s.q_heads), c(s.head_dim)}});
  const ir::Type cache{DType::F16, {c(kWidth * kSequences), c(kBlock), c(s.kv_heads), c(s.head_dim)}};
  ValueId k = b.input("k", cache), v = b.input("v", cache);
  ValueId table = b.input("table", {DType::I32, {c(kSequences), c(kWidth)}});
  ValueId row_seq = b.input("row_seq", {DType::I32, {kRows}}), pos = b.input("pos", {DType::I32, {kRows}});
  b.output(b.paged_attention(q, k, v, table, row_seq, pos, 1.0 / std::sqrt(static_cast<double>(s.head_dim)),
                             s.window, s.softcap));
  return b.finish();
}

Graph split(Graph g, const SymbolBounds& bounds) { return run_passes_on(std::move(g), {"split-decode-attention"}, bounds); }

// Rows: sequence 0 at position 639 (every split full but the last), sequence 1 at 0 (one key),
// sequence 2 at 200, and a padding row. Sequence s owns blocks s, s + 3, s + 6, ... of the cache.
std::vector<ir::HostTensor> run(const Graph& g) {
  std::mt19937_64 rng(11);
  const ir::SymbolBindings symbols{{"tokens", 4}};
  std::map<std::string, ir::HostTensor> in;
  for (ValueId v : g.inputs)
    in[g.value(v).name] = ir::HostTensor::random(g.type(v).dtype, ir::concrete_shape(g.type(v).shape, symbols), rng);
  const std::vector<int> row_seq = {0, 1, 2, -1}, pos = {639, 0, 200, -1};
  for (int i = 0; i < 4; ++i) {
    in["row_seq"].set(i, row_seq[static_cast<size_t>(i)]);
    in["pos"].set(i, pos[static_cast<size_t>(i)]);
  }
  for (int64_t s = 0; s < kSequences; ++s)
    for (int64_t j = 0; j < kWidth; ++j) in["table"].set(s * kWidth + j, static_cast<double>(s + kSequences * j));
  return ir::run_reference(g, symbols, in, {}).outputs;
}

class SplitDecodeAttention : public testing::TestWithParam<Shape> {};

TEST_P(SplitDecodeAttention, SplitsDecodeRowsAndKeepsTheAttention) {
  const Shape s = GetParam();
  const Graph before = decode_attention(s);
  const Graph after = split(before, {{"tokens", 4}});
  ASSERT_EQ(after.ops.size(), 2u);
  const ir::Op &partial = after.ops[0], &combine = after.ops[1];
  ASSERT_EQ(partial.kind, ir::OpKind::PagedAttentionPartial);
  ASSERT_EQ(combine.kind, ir::OpKind::AttentionCombine);
  // The combine defines the attention's value (same name), which the graph returns.
  EXPECT_EQ(after.value(combine.results[0]).name, before.value(before.ops[0].results[0]).name);
  EXPECT_EQ(after.outputs, combine.results);
  // Runs of 32 keys over 640 (or the window), as many as give ~256 workgroups per row, at most 64.
  const int64_t keys = s.window > 0 ? std::min<int64_t>(s.window, kBlock * kWidth) : kBlock * kWidth;
  EXPECT_EQ(partial.attr_int("splits"), std::min({(keys + 31) / 32, 256 / s.kv_heads, int64_t{64}}));
  EXPECT_EQ(partial.attr_int("granule"), 32);
  EXPECT_EQ(partial.attr_int("window", 0), s.window);
  EXPECT_EQ(partial.attr_float("softcap", 0.0), s.softcap);

  const ir::HostTensor want = run(before)[0], got = run(after)[0];
  double scale = 0.0, error = 0.0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    scale = std::max(scale, std::fabs(want.get(i)));
    error = std::max(error, std::fabs(got.get(i) - want.get(i)));
  }
  EXPECT_GT(scale, 0.1);
  EXPECT_LE(error, 1e-6 * scale);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SplitDecodeAttention,
                         testing::Values(Shape{32, 8, 128, 0, 0.0},     // Llama-3-8B: GQA 4
                                         Shape{16, 4, 256, 0, 0.0},     // Qwen3.5-9B: GQA 4, head dim 256
                                         Shape{8, 1, 64, 0, 0.0},       // GQA 8
                                         Shape{4, 4, 64, 100, 0.0},     // no GQA, window
                                         Shape{8, 2, 128, 0, 30.0}));   // softcap

TEST(SplitDecodeAttention, PrefillAndUnboundedRowsStayWhole) {
  const Shape s{8, 2, 64, 0, 0.0};
  for (const SymbolBounds& bounds : {SymbolBounds{}, SymbolBounds{{"tokens", 17}}, SymbolBounds{{"rows", 4}}}) {
    const Graph after = split(decode_attention(s), bounds);
    ASSERT_EQ(after.ops.size(), 1u);
    EXPECT_EQ(after.ops[0].kind, ir::OpKind::PagedAttention);
  }
  EXPECT_EQ(split(decode_attention(s), {{"tokens", 16}}).ops.size(), 2u);
}

}  // namespace
}  // namespace vkllm::passes
