// The fusion passes (passes/fuse_*.cpp) on a transformer layer built with ir::Builder: which ops
// fuse, that the passes compose in either order, and that the reference executor computes the same
// outputs, bit for bit, before and after (fused_matmul's reference is the unfused composition with
// the same roundings). The FileCheck files beside this one cover the cases that must not fuse.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "ir/reference.h"
#include "ir/text.h"
#include "ir/verify.h"
#include "passes/pass.h"
#include "tests/passes/pass_test_support.h"

namespace vkllm::passes {
namespace {

using ir::Builder;
using ir::DType;
using ir::Graph;
using ir::OpKind;
using ir::Type;
using ir::ValueId;

ir::Dim c(int64_t v) { return ir::Dim::of(v); }
const ir::Dim kSeq = ir::Dim::symbol("seq");

// One pre-norm layer: attention projections from a shared norm (q, k, v; "attention" stands in
// as q·k·v), o_proj plus residual, MLP norm, gate/up, swiglu, down_proj plus residual. The norms
// have offset 1 (zero-centered weights, as Gemma and Qwen3.5).
Graph layer(DType weight_dtype) {
  const int64_t d = 32, f = 64;
  Builder b("layer");
  ValueId h = b.input("h", {DType::F32, {kSeq, c(d)}});
  auto w = [&](const char* name, int64_t n, int64_t k) { return b.weight(name, {weight_dtype, {c(n), c(k)}}); };
  ValueId n1 = b.rms_norm(h, b.weight("attn_norm", {DType::BF16, {c(d)}}), 1e-6, 1.0);
  ValueId q = b.matmul(n1, w("wq", d, d)), k = b.matmul(n1, w("wk", d, d)), v = b.matmul(n1, w("wv", d, d));
  ValueId attn = b.mul(b.mul(q, k), v);
  ValueId h2 = b.add(h, b.matmul(attn, w("wo", d, d)));
  ValueId n2 = b.rms_norm(h2, b.weight("mlp_norm", {DType::F32, {c(d)}}), 1e-5, 1.0);
  ValueId act = b.swiglu(b.matmul(n2, w("wg", f, d)), b.matmul(n2, w("wu", f, d)));
  b.output(b.add(b.matmul(act, w("wd", d, f)), h2));
  return b.finish();
}

// The prologue fusions act on decode steps only: seq is bounded like a decode graph's rows.
Graph fused(Graph g, const std::vector<std::string>& pass_names, int64_t seq_bound = 4) {
  return run_passes_on(std::move(g), pass_names, {{"seq", seq_bound}});
}

TEST(FusionPasses, ResidualAddsFoldIntoTheirMatmuls) {
  const Graph after = fused(layer(DType::BF16), {"fuse-matmul-add"});
  std::map<OpKind, int> k = kinds(after);
  EXPECT_EQ(k[OpKind::Add], 0);
  EXPECT_EQ(k[OpKind::FusedMatMul], 2);  // o_proj and down_proj
  EXPECT_EQ(k[OpKind::MatMul], 5);
  for (const ir::Op& op : after.ops)
    if (op.kind == OpKind::FusedMatMul) {
      EXPECT_EQ(op.attr_str("epilogue"), "add");
      EXPECT_EQ(op.inputs.size(), 3u);
    }
}

TEST(FusionPasses, NormsFoldIntoEveryProjectionThatReadsThem) {
  const Graph after = fused(layer(DType::BF16), {"fuse-rms-norm-matmul"});
  std::map<OpKind, int> k = kinds(after);
  EXPECT_EQ(k[OpKind::RmsNorm], 0);
  EXPECT_EQ(k[OpKind::FusedMatMul], 5);  // q, k, v, gate, up
  for (const ir::Op& op : after.ops)
    if (op.kind == OpKind::FusedMatMul) {
      EXPECT_EQ(op.attr_str("prologue"), "rms_norm");
      EXPECT_EQ(op.attr_float("offset"), 1.0);
      const ir::Op& norm_weight = after.ops[static_cast<size_t>(after.value(op.inputs[2]).producer)];
      EXPECT_EQ(norm_weight.kind, OpKind::Weight);
      EXPECT_TRUE(norm_weight.attr_str("name") == "attn_norm" || norm_weight.attr_str("name") == "mlp_norm");
    }
}

TEST(FusionPasses, ProloguesFoldInDecodeStepsOnly) {
  const std::vector<std::string> prologues{"fuse-rms-norm-matmul", "fuse-swiglu-matmul"};
  for (int64_t bound : {16, 17, 256}) {
    std::map<OpKind, int> k = kinds(fused(layer(DType::BF16), prologues, bound));
    EXPECT_EQ(k[OpKind::FusedMatMul], bound <= 16 ? 6 : 0) << "rows bound " << bound;
  }
  // Rows with no bound at all: nothing known, nothing fused.
  ir::Module m{{layer(DType::BF16)}};
  run_passes(m, prologues);
  EXPECT_EQ(kinds(m.graphs[0])[OpKind::FusedMatMul], 0);
}

TEST(FusionPasses, QuantizedProjectionsTakeTheirNormsAndActivationsToo) {
  // Codegen stages x once per workgroup for quantized fused matvecs (graph_edit.h).
  std::map<OpKind, int> k = kinds(fused(layer(DType::Q4_0), {"fuse-rms-norm-matmul", "fuse-swiglu-matmul"}));
  EXPECT_EQ(k[OpKind::FusedMatMul], 6);
  EXPECT_EQ(k[OpKind::RmsNorm], 0);
  EXPECT_EQ(k[OpKind::SwiGlu], 0);
}

TEST(FusionPasses, SwigluFoldsIntoTheDownProjection) {
  const Graph after = fused(layer(DType::BF16), {"fuse-swiglu-matmul"});
  std::map<OpKind, int> k = kinds(after);
  EXPECT_EQ(k[OpKind::SwiGlu], 0);
  ASSERT_EQ(k[OpKind::FusedMatMul], 1);
  for (const ir::Op& op : after.ops)
    if (op.kind == OpKind::FusedMatMul) {
      EXPECT_EQ(op.attr_str("prologue"), "swiglu");
      ASSERT_EQ(op.inputs.size(), 3u);
      // gate and up are the two matmuls before it.
      EXPECT_EQ(after.ops[static_cast<size_t>(after.value(op.inputs[0]).producer)].kind, OpKind::MatMul);
      EXPECT_EQ(after.ops[static_cast<size_t>(after.value(op.inputs[2]).producer)].kind, OpKind::MatMul);
    }
}

TEST(FusionPasses, GegluFoldsIntoTheDownProjectionBitForBit) {
  Builder b("mlp");
  ValueId h = b.input("h", {DType::F32, {kSeq, c(32)}});
  ValueId n = b.rms_norm(h, b.weight("norm", {DType::F32, {c(32)}}), 1e-6, 1.0);
  ValueId act = b.geglu(b.matmul(n, b.weight("wg", {DType::BF16, {c(64), c(32)}})),
                        b.matmul(n, b.weight("wu", {DType::BF16, {c(64), c(32)}})), true);
  b.output(b.add(h, b.matmul(act, b.weight("wd", {DType::F16, {c(32), c(64)}}))));
  const Graph before = b.finish();
  const Graph after = fused(before, {"fuse-geglu-matmul", "fuse-matmul-add", "fuse-rms-norm-matmul"});
  std::map<OpKind, int> k = kinds(after);
  EXPECT_EQ(k[OpKind::GeGlu], 0);
  EXPECT_EQ(k[OpKind::FusedMatMul], 3);
  const uint64_t seed = std::random_device{}();
  const ir::SymbolBindings symbols{{"seq", 2}};
  EXPECT_EQ(reference_outputs(before, seed, symbols)[0].bytes, reference_outputs(after, seed, symbols)[0].bytes) << "seed " << seed;
}

TEST(FusionPasses, ComposeInAnyOrder) {
  const std::vector<std::string> order{"fuse-matmul-add", "fuse-rms-norm-matmul", "fuse-swiglu-matmul"};
  const Graph a = fused(layer(DType::BF16), order);
  const Graph b = fused(layer(DType::BF16), {order[2], order[1], order[0]});
  const Graph c = fused(layer(DType::BF16), {order[1], order[0], order[2]});
  EXPECT_EQ(ir::print(a), ir::print(b));
  EXPECT_EQ(ir::print(a), ir::print(c));
  std::map<OpKind, int> k = kinds(a);
  EXPECT_EQ(k[OpKind::FusedMatMul], 7);
  EXPECT_EQ(k[OpKind::MatMul], 0);
  EXPECT_EQ(k[OpKind::RmsNorm], 0);
  EXPECT_EQ(k[OpKind::SwiGlu], 0);
  EXPECT_EQ(k[OpKind::Add], 0);
}

TEST(FusionPasses, ReferenceOutputsAreUnchangedBitForBit) {
  for (DType w : {DType::BF16, DType::F16, DType::Q8_0}) {
    SCOPED_TRACE(ir::name(w));
    const Graph before = layer(w);
    const Graph after = fused(before, {"fuse-matmul-add", "fuse-rms-norm-matmul", "fuse-swiglu-matmul"});
    expect_same_reference_outputs(before, after, {1, 3});
  }
}

}  // namespace
}  // namespace vkllm::passes
