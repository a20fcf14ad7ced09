// fuse-glu-pair and merge-sibling-matmuls (passes/fuse_glu_pair.cpp, merge_sibling_matmuls.cpp) on a
// transformer layer built with ir::Builder, in the engine's order: which projections become
// multi_matmul ops, that decode steps alone take them, and that the reference executor computes the
// same outputs, bit for bit, before and after (multi_matmul's reference is the unfused composition
// with the same roundings). The FileCheck files beside this one cover the cases that must not fuse.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "ir/reference.h"
#include "ir/text.h"
#include "passes/pass.h"
#include "tests/passes/pass_test_support.h"

namespace vkllm::passes {
namespace {

using ir::Builder;
using ir::DType;
using ir::Graph;
using ir::OpKind;
using ir::ValueId;

ir::Dim c(int64_t v) { return ir::Dim::of(v); }
const ir::Dim kSeq = ir::Dim::symbol("seq");

// One pre-norm layer: q/k/v (k and v narrower, as with grouped-query attention) from a shared norm,
// "attention" standing in as q·(k·v tiled), o_proj plus residual, MLP norm, gate/up, the gated
// activation (swiglu, or geglu with the tanh approximation), down_proj plus residual.
Graph layer(DType weight_dtype, bool geglu = false) {
  const int64_t d = 64, kv = 32, f = 96;
  Builder b("layer");
  ValueId h = b.input("h", {DType::F32, {kSeq, c(d)}});
  auto w = [&](const char* name, int64_t n, int64_t k) { return b.weight(name, {weight_dtype, {c(n), c(k)}}); };
  ValueId n1 = b.rms_norm(h, b.weight("attn_norm", {DType::BF16, {c(d)}}), 1e-6, 1.0);
  ValueId q = b.matmul(n1, w("wq", d, d)), k = b.matmul(n1, w("wk", kv, d)), v = b.matmul(n1, w("wv", kv, d));
  ValueId kv_mix = b.matmul(b.mul(k, v), w("wkv", d, kv));
  ValueId h2 = b.add(h, b.matmul(b.mul(q, kv_mix), w("wo", d, d)));
  ValueId n2 = b.rms_norm(h2, b.weight("mlp_norm", {DType::F32, {c(d)}}), 1e-5);
  ValueId gate = b.matmul(n2, w("wg", f, d)), up = b.matmul(n2, w("wu", f, d));
  ValueId act = geglu ? b.geglu(gate, up, true) : b.swiglu(gate, up);
  b.output(b.add(b.matmul(act, w("wd", d, f)), h2));
  return b.finish();
}

const std::vector<std::string> kPipeline{"fuse-matmul-add", "fuse-rms-norm-matmul", "fuse-glu-pair",
                                         "merge-sibling-matmuls", "fuse-swiglu-matmul", "fuse-geglu-matmul"};

const ir::Op& producer(const Graph& g, ValueId v) { return g.ops.at(static_cast<size_t>(g.value(v).producer)); }

TEST(MultiMatMulFusion, GateUpAndActivationBecomeOneOpAndDownReadsItPlain) {
  for (bool geglu : {false, true}) {
    SCOPED_TRACE(geglu ? "geglu" : "swiglu");
    const Graph after = run_passes_on(layer(DType::BF16, geglu), kPipeline, {{"seq", 4}});
    std::map<OpKind, int> k = kinds(after);
    EXPECT_EQ(k[OpKind::SwiGlu] + k[OpKind::GeGlu] + k[OpKind::RmsNorm], 0);
    ASSERT_EQ(k[OpKind::MultiMatMul], 2);  // q/k/v, and gate/up with the activation
    int pairs = 0;
    for (const ir::Op& op : after.ops) {
      if (op.kind != OpKind::MultiMatMul || op.attr_str("combine", "none") == "none") continue;
      ++pairs;
      EXPECT_EQ(op.attr_str("combine"), geglu ? "geglu" : "swiglu");
      EXPECT_EQ(op.attr_str("approximate", "none"), geglu ? "tanh" : "none");
      EXPECT_EQ(op.attr_str("prologue"), "rms_norm");
      ASSERT_EQ(op.inputs.size(), 4u);  // x, gate, up, the norm weight
      EXPECT_EQ(producer(after, op.inputs[1]).attr_str("name"), "wg");
      EXPECT_EQ(producer(after, op.inputs[2]).attr_str("name"), "wu");
      EXPECT_EQ(producer(after, op.inputs[3]).attr_str("name"), "mlp_norm");
      // down_proj reads the op's result as its plain x, and keeps its residual epilogue.
      for (const ir::Op& user : after.ops)
        if (!user.inputs.empty() && user.inputs[0] == op.results[0]) {
          EXPECT_EQ(user.kind, OpKind::FusedMatMul);
          EXPECT_EQ(user.attr_str("prologue", "none"), "none");
          EXPECT_EQ(user.attr_str("epilogue"), "add");
        }
    }
    EXPECT_EQ(pairs, 1);
  }
}

TEST(MultiMatMulFusion, QkvBecomeOneOpWithThreeResults) {
  const Graph after = run_passes_on(layer(DType::Q4_0), kPipeline, {{"seq", 1}});
  int merged = 0;
  for (const ir::Op& op : after.ops) {
    if (op.kind != OpKind::MultiMatMul || op.attr_str("combine", "none") != "none") continue;
    ++merged;
    ASSERT_EQ(op.results.size(), 3u);
    ASSERT_EQ(op.inputs.size(), 5u);
    EXPECT_EQ(producer(after, op.inputs[1]).attr_str("name"), "wq");
    EXPECT_EQ(producer(after, op.inputs[2]).attr_str("name"), "wk");
    EXPECT_EQ(producer(after, op.inputs[3]).attr_str("name"), "wv");
    EXPECT_EQ(after.type(op.results[0]).shape.back(), c(64));
    EXPECT_EQ(after.type(op.results[1]).shape.back(), c(32));
    EXPECT_EQ(after.type(op.results[2]).shape.back(), c(32));
  }
  EXPECT_EQ(merged, 1);
  // The other projections read other x: wkv (k·v), o_proj (+ residual), down_proj (+ residual).
  EXPECT_EQ(kinds(after)[OpKind::MatMul] + kinds(after)[OpKind::FusedMatMul], 3);
}

TEST(MultiMatMulFusion, DecodeStepsOnly) {
  for (int64_t bound : {16, 17, 512}) {
    std::map<OpKind, int> k = kinds(run_passes_on(layer(DType::BF16), {"fuse-glu-pair", "merge-sibling-matmuls"},
                                                  {{"seq", bound}}));
    EXPECT_EQ(k[OpKind::MultiMatMul], bound <= 16 ? 2 : 0) << "rows bound " << bound;
  }
  ir::Module m{{layer(DType::BF16)}};
  run_passes(m, {"fuse-glu-pair", "merge-sibling-matmuls"});  // rows with no bound at all
  EXPECT_EQ(kinds(m.graphs[0])[OpKind::MultiMatMul], 0);
}

TEST(MultiMatMulFusion, ReferenceOutputsAreUnchangedBitForBit) {
  for (DType w : {DType::BF16, DType::F16, DType::Q8_0, DType::Q4_0})
    for (bool geglu : {false, true}) {
      SCOPED_TRACE(std::string(ir::name(w)) + (geglu ? " geglu" : " swiglu"));
      const Graph before = layer(w, geglu);
      for (bool with_prologues : {true, false}) {  // projections with and without the norm folded in
        std::vector<std::string> passes = kPipeline;
        if (!with_prologues) passes = {"fuse-glu-pair", "merge-sibling-matmuls"};
        const Graph after = run_passes_on(before, passes, {{"seq", 3}});
        ASSERT_EQ(kinds(after)[OpKind::MultiMatMul], 2) << ir::print(after);
        expect_same_reference_outputs(before, after, {1, 3});
      }
    }
}

}  // namespace
}  // namespace vkllm::passes
