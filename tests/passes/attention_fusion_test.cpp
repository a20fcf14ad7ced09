// fuse-kv-write, fuse-attention-rope and fuse-attention-combine on attention layers built as
// frontends/model/lower.cpp builds them (q/k norms optional, rope optional, GQA, KV caches as states):
// which ops fuse in decode and prefill graphs, and that the reference executor gives the same outputs
// and the same caches, bit for bit, before and after (the fused ops' reference is the unfused
// composition with its roundings; paged_attention_split's counters stay zero). In decode both sides
// go through split-decode-attention, so the partials' f32 rounding is shared. The FileCheck files beside this
// one cover the text form and what must stay apart.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "ir/reference.h"
#include "passes/pass.h"
#include "tests/passes/pass_test_support.h"

namespace vkllm::passes {
namespace {

using ir::DType;
using ir::Graph;
using ir::OpKind;
using ir::ValueId;

ir::Dim c(int64_t v) { return ir::Dim::of(v); }
const ir::Dim kRows = ir::Dim::symbol("tokens");

struct Layer {
  bool rope = true, qk_norm = false;
  int64_t layers = 2;
};

constexpr int64_t kHeads = 8, kKvHeads = 2, kHeadDim = 32, kBlocks = 8, kBlock = 16, kWidth = 4;

// `layers` attention layers over the same rows (each with its own caches), the output of each the
// next one's input; rope with llama3 scaling on half the head dims.
Graph attention_layers(const Layer& l) {
  ir::Builder b("layers");
  ValueId x = b.input("x", {DType::F32, {kRows, c(kHeads * kHeadDim)}});
  ValueId pos = b.input("pos", {DType::I32, {kRows}}), slots = b.input("slots", {DType::I32, {kRows}});
  ValueId table = b.input("table", {DType::I32, {c(2), c(kWidth)}});
  ValueId row_seq = b.input("row_seq", {DType::I32, {kRows}});
  const ir::Attrs rope{{"theta", 500000.0},   {"rotary_dims", int64_t{16}},   {"scaling", std::string("llama3")},
                       {"factor", 8.0},       {"low_freq_factor", 1.0},       {"high_freq_factor", 4.0},
                       {"original_max_position", int64_t{64}}};
  for (int64_t i = 0; i < l.layers; ++i) {
    auto w = [&](const std::string& name, int64_t n) {
      return b.weight(name + std::to_string(i), {DType::F32, {c(n), c(kHeads * kHeadDim)}});
    };
    ValueId q = b.reshape(b.matmul(x, w("wq", kHeads * kHeadDim)), {kRows, c(kHeads), c(kHeadDim)});
    ValueId k = b.reshape(b.matmul(x, w("wk", kKvHeads * kHeadDim)), {kRows, c(kKvHeads), c(kHeadDim)});
    ValueId v = b.reshape(b.matmul(x, w("wv", kKvHeads * kHeadDim)), {kRows, c(kKvHeads), c(kHeadDim)});
    if (l.qk_norm) {
      q = b.rms_norm(q, b.weight("q_norm" + std::to_string(i), {DType::F32, {c(kHeadDim)}}), 1e-6);
      k = b.rms_norm(k, b.weight("k_norm" + std::to_string(i), {DType::F32, {c(kHeadDim)}}), 1e-6);
    }
    if (l.rope) {
      q = b.rope(q, pos, rope);
      k = b.rope(k, pos, rope);
    }
    const ir::Type cache{DType::F16, {c(kBlocks), c(kBlock), c(kKvHeads), c(kHeadDim)}};
    ValueId kc = b.kv_write(b.state("k_cache." + std::to_string(i), cache), k, slots);
    ValueId vc = b.kv_write(b.state("v_cache." + std::to_string(i), cache), v, slots);
    x = b.reshape(b.paged_attention(q, kc, vc, table, row_seq, pos, 0.17), {kRows, c(kHeads * kHeadDim)});
  }
  b.output(x);
  return b.finish();
}

// Rows: sequence 0 at positions 40.. (earlier keys are the caches' random contents), sequence 1 at
// 5, a padding row (slot and position -1). Returns the output, then every cache.
std::vector<ir::HostTensor> run(const Graph& g, int64_t rows) {
  std::mt19937_64 rng(3);
  const ir::SymbolBindings symbols{{"tokens", rows}};
  std::map<std::string, ir::HostTensor> in;
  for (ValueId v : g.inputs)
    in[g.value(v).name] = ir::HostTensor::random(g.type(v).dtype, ir::concrete_shape(g.type(v).shape, symbols), rng);
  for (int64_t t = 0; t < rows; ++t) {
    const bool padding = t == rows - 1, second = t == rows - 2;
    const int64_t p = padding ? -1 : second ? 5 : 40 + t;
    in["pos"].set(t, static_cast<double>(p));
    in["row_seq"].set(t, padding ? -1 : second ? 1 : 0);
    // Sequence s owns blocks 4s .. 4s + 3 (table row s).
    in["slots"].set(t, padding ? -1 : static_cast<double>((second ? 4 * kBlock : 0) + p));
  }
  for (int64_t s = 0; s < 2; ++s)
    for (int64_t j = 0; j < kWidth; ++j) in["table"].set(s * kWidth + j, static_cast<double>(4 * s + j));
  ir::StateMap states;
  std::mt19937_64 state_rng(17);
  for (const ir::Op& op : g.ops)
    if (op.kind == OpKind::State && !states.count(op.attr_str("name"))) {
      const ir::Type& t = g.type(op.results[0]);
      const bool counters = op.attr_str("name").rfind("attention_split_counters", 0) == 0;  // zeros, as the model's
      states.emplace(op.attr_str("name"), counters ? ir::HostTensor::zeros(t.dtype, ir::concrete_shape(t.shape, {}))
                                                   : ir::HostTensor::random(t.dtype, ir::concrete_shape(t.shape, {}),
                                                                            state_rng));
    }
  auto weights = [](const std::string& name, const ir::Type& t) {
    std::mt19937_64 weight_rng(std::hash<std::string>{}(name));
    return ir::HostTensor::random(t.dtype, ir::concrete_shape(t.shape, {}), weight_rng);
  };
  std::vector<ir::HostTensor> out = ir::run_reference(g, symbols, in, weights, &states).outputs;
  for (auto& [name, tensor] : states)  // the caches (the split's counters are checked to stay zero)
    if (name.rfind("attention_split_counters", 0) != 0) out.push_back(tensor);
    else EXPECT_EQ(tensor.bytes, std::vector<uint8_t>(tensor.bytes.size(), 0)) << name;
  return out;
}

void expect_bit_equal(const std::vector<ir::HostTensor>& got, const std::vector<ir::HostTensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i].bytes, want[i].bytes) << "output " << i;
}

const std::vector<std::string> kSplit = {"split-decode-attention"};
const std::vector<std::string> kAll = {"split-decode-attention", "fuse-kv-write", "fuse-attention-rope",
                                       "fuse-attention-combine"};

class AttentionFusion : public testing::TestWithParam<Layer> {};

TEST_P(AttentionFusion, DecodeStepFusesCacheWritesAndQueryRope) {
  const Layer l = GetParam();
  const Graph lowered = attention_layers(l);
  const SymbolBounds decode{{"tokens", 4}};
  const Graph split = run_passes_on(lowered, kSplit, decode), fused = run_passes_on(lowered, kAll, decode);
  std::map<OpKind, int> k = kinds(fused);
  EXPECT_EQ(k[OpKind::KvWriteRope], l.layers);
  EXPECT_EQ(k[OpKind::KvWrite], 0);
  EXPECT_EQ(k[OpKind::Rope], 0);  // both ropes folded: the keys' into the write, the query's into the partial
  EXPECT_EQ(k[OpKind::PagedAttentionPartial], 0);
  EXPECT_EQ(k[OpKind::AttentionCombine], 0);
  EXPECT_EQ(k[OpKind::PagedAttentionSplit], l.layers);  // the combine in the split's last workgroups
  for (const ir::Op& op : fused.ops) {
    if (op.kind == OpKind::KvWriteRope) {
      EXPECT_EQ(op.inputs.size(), l.rope ? 6u : 5u);
    }
    if (op.kind == OpKind::PagedAttentionSplit) {
      EXPECT_EQ(op.has("theta"), l.rope);
      const ir::Op& counters = fused.ops[static_cast<size_t>(fused.value(op.inputs[6]).producer)];
      EXPECT_EQ(counters.kind, OpKind::State);
      EXPECT_EQ(counters.attr_str("name"), "attention_split_counters.4x8");
    }
  }
  // Four dispatches fewer per layer with rope (two ropes, one write, the combine), two without; a
  // state op (no dispatch) per layer more.
  EXPECT_EQ(fused.ops.size(), split.ops.size() - static_cast<size_t>(l.layers * (l.rope ? 3 : 1)));
  expect_bit_equal(run(fused, 4), run(split, 4));
}

TEST_P(AttentionFusion, PrefillFusesCacheWritesOnly) {
  const Layer l = GetParam();
  const Graph lowered = attention_layers(l);
  const Graph fused = run_passes_on(lowered, kAll, {{"tokens", 64}});
  std::map<OpKind, int> k = kinds(fused);
  EXPECT_EQ(k[OpKind::KvWriteRope], l.layers);
  EXPECT_EQ(k[OpKind::KvWrite], 0);
  EXPECT_EQ(k[OpKind::Rope], l.rope ? l.layers : 0);  // the query's stays: paged_attention is not split
  EXPECT_EQ(k[OpKind::PagedAttention], l.layers);
  expect_bit_equal(run(fused, 6), run(lowered, 6));
}

INSTANTIATE_TEST_SUITE_P(Layers, AttentionFusion,
                         testing::Values(Layer{true, false, 2}, Layer{true, true, 2}, Layer{false, false, 1}),
                         [](const testing::TestParamInfo<Layer>& i) {
                           return std::string(i.param.rope ? "rope" : "no_rope") + (i.param.qk_norm ? "_qk_norm" : "");
                         });

// The query's rope stays when something else reads it or it rotates at other positions.
TEST(AttentionFusion, QueryRopeWithAnotherUseStays) {
  Graph g = attention_layers({true, false, 1});
  // Return the query's rope too.
  for (const ir::Op& op : g.ops)
    if (op.kind == OpKind::Rope && g.type(op.results[0]).shape[1] == c(kHeads)) g.outputs.push_back(op.results[0]);
  const Graph fused = run_passes_on(g, kAll, {{"tokens", 4}});
  std::map<OpKind, int> k = kinds(fused);
  EXPECT_EQ(k[OpKind::Rope], 1);
  EXPECT_EQ(k[OpKind::KvWriteRope], 1);
  for (const ir::Op& op : fused.ops)
    if (op.kind == OpKind::PagedAttentionSplit) {
      EXPECT_FALSE(op.has("theta"));
    }
}

}  // namespace
}  // namespace vkllm::passes
