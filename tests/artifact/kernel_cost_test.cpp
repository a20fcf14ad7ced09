// codegen/cost.h against hand-computed bytes and FLOPs for a few kernels, and a graph's memory plan.
#include <gtest/gtest.h>

#include "codegen/cost.h"
#include "codegen/profiles.h"

namespace vkllm {
namespace {

using ir::Dim;
using ir::DType;

const Dim kRows = Dim::symbol("rows");

// embedding(f16[16, 8]) → rms_norm → matmul(f16[4, 8]) → silu
codegen::CompiledGraph small_graph() {
  ir::Builder b("g");
  auto ids = b.input("ids", {DType::I32, {kRows}});
  auto x = b.embedding(b.weight("embed", {DType::F16, {Dim::of(16), Dim::of(8)}}), ids);
  x = b.rms_norm(x, b.weight("norm", {DType::F32, {Dim::of(8)}}), 1e-6);
  x = b.matmul(x, b.weight("proj", {DType::F16, {Dim::of(4), Dim::of(8)}}));
  b.output(b.silu(x));
  return codegen::compile_graph(b.finish(), codegen::target_profile("lavapipe"), {{"rows", 8}});
}

// The dispatch computing the first op of `kind`.
size_t dispatch_of(const codegen::CompiledGraph& g, ir::OpKind kind) {
  for (size_t i = 0; i < g.dispatches.size(); ++i)
    if (g.graph.ops[static_cast<size_t>(g.dispatches[i].op_index)].kind == kind) return i;
  ADD_FAILURE() << "no dispatch of " << ir::name(kind);
  return 0;
}

TEST(KernelCost, HandComputedBytesAndFlops) {
  const codegen::CompiledGraph g = small_graph();
  const std::map<std::string, int64_t> three{{"rows", 3}};
  // embedding: 3 ids (12 B) + 3 rows of 8 halves (48 B) read; 3 x 8 floats written.
  codegen::DispatchCost c = codegen::dispatch_cost(g, dispatch_of(g, ir::OpKind::Embedding), three);
  EXPECT_EQ(c.bytes_read, 60u);
  EXPECT_EQ(c.bytes_written, 96u);
  EXPECT_EQ(c.flops, 0u);
  // rms_norm: x (96 B) + w (32 B); 4 FLOPs per element.
  c = codegen::dispatch_cost(g, dispatch_of(g, ir::OpKind::RmsNorm), three);
  EXPECT_EQ(c.bytes_read, 128u);
  EXPECT_EQ(c.bytes_written, 96u);
  EXPECT_EQ(c.flops, 96u);
  // matmul: x (96 B) + w 4 x 8 halves (64 B); out 3 x 4 floats; 2·3·4·8 FLOPs.
  c = codegen::dispatch_cost(g, dispatch_of(g, ir::OpKind::MatMul), three);
  EXPECT_EQ(c.bytes_read, 160u);
  EXPECT_EQ(c.bytes_written, 48u);
  EXPECT_EQ(c.flops, 192u);
  // At the graph's bound (8 rows) when no binding is given.
  c = codegen::dispatch_cost(g, dispatch_of(g, ir::OpKind::MatMul));
  EXPECT_EQ(c.bytes_read, 8u * 32 + 64);
  EXPECT_EQ(c.flops, 2u * 8 * 4 * 8);
  EXPECT_EQ(c.invocations, c.groups[0] * c.groups[1] * c.groups[2] *
                               static_cast<int64_t>(g.dispatches[dispatch_of(g, ir::OpKind::MatMul)].kernel.local_size[0]));
  c = codegen::dispatch_cost(g, dispatch_of(g, ir::OpKind::Silu), three);
  EXPECT_EQ(c.bytes_read, 48u);
  EXPECT_EQ(c.flops, 12u);
}

TEST(KernelCost, PagedAttentionReadsTheKeysOfItsContext) {
  ir::Builder b("attn");
  auto q = b.input("q", {DType::F32, {kRows, Dim::of(4), Dim::of(8)}});
  auto k = b.state("k", {DType::F16, {Dim::of(4), Dim::of(4), Dim::of(2), Dim::of(8)}});
  auto v = b.state("v", {DType::F16, {Dim::of(4), Dim::of(4), Dim::of(2), Dim::of(8)}});
  auto table = b.input("table", {DType::I32, {Dim::of(2), Dim::of(3)}});
  auto row_seq = b.input("row_seq", {DType::I32, {kRows}});
  auto pos = b.input("pos", {DType::I32, {kRows}});
  b.output(b.paged_attention(q, k, v, table, row_seq, pos, 0.35));
  b.output(b.paged_attention(q, k, v, table, row_seq, pos, 0.35, /*window=*/3));
  const codegen::CompiledGraph g = codegen::compile_graph(b.finish(), codegen::target_profile("lavapipe"), {{"rows", 2}});
  ASSERT_EQ(g.dispatches.size(), 2u);
  // 2 rows; q 256 B, table 24 B, row_seq and pos 8 B each; a key: 2 heads x 8 halves of K and of V = 64 B.
  // Full context: 3 blocks x 4 = 12 keys per row. FLOPs 2·T·Hq·L·(D + Dv).
  codegen::DispatchCost c = codegen::dispatch_cost(g, 0);
  EXPECT_EQ(c.bytes_read, 296u + 2 * 12 * 64);
  EXPECT_EQ(c.bytes_written, 2u * 4 * 8 * 4);
  EXPECT_EQ(c.flops, 2u * 2 * 4 * 12 * 16);
  c = codegen::dispatch_cost(g, 0, {{codegen::kContextBinding, 5}});
  EXPECT_EQ(c.bytes_read, 296u + 2 * 5 * 64);
  EXPECT_EQ(c.flops, 2u * 2 * 4 * 5 * 16);
  c = codegen::dispatch_cost(g, 1);  // a 3-key window
  EXPECT_EQ(c.bytes_read, 296u + 2 * 3 * 64);
}

TEST(KernelCost, MemoryPlanCountsWhatTheRuntimeAllocates) {
  const codegen::MemoryPlan p = codegen::memory_plan(small_graph());
  EXPECT_EQ(p.weights, 3u);
  EXPECT_EQ(p.weight_bytes, 256u + 32 + 64);
  EXPECT_EQ(p.states, 0u);
  // At 8 rows: ids 32 B, embedding and norm outputs 256 B each, matmul and silu outputs 128 B each.
  EXPECT_EQ(p.activations, 5u);
  EXPECT_EQ(p.activation_bytes, 32u + 256 + 256 + 128 + 128);
}

TEST(KernelCost, UnboundSymbolsAreErrors) {
  codegen::CompiledGraph g = small_graph();
  g.max_symbols.clear();
  EXPECT_THROW(codegen::dispatch_cost(g, 0), ir::IrError);
}

}  // namespace
}  // namespace vkllm
