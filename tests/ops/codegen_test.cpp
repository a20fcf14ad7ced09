// compile_graph and the emitters without a device: every op's kernel compiles to valid SPIR-V under
// several device profiles, the dispatch list follows the ABI (codegen/README.md), and limits are
// reported as errors. Numerical correctness is op_kernels_test's job.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "codegen/compile_graph.h"
#include "codegen/glsl_compiler.h"
#include "codegen/ops/emitter.h"
#include "codegen/ops/glsl.h"
#include "codegen/ops/matmul.h"
#include "codegen/profiles.h"

namespace vkllm {
namespace {

using ir::Dim;
using ir::DType;

// One graph using every op kind, with symbolic and constant dims and every storage dtype.
ir::Graph every_op_graph() {
  ir::Builder b("every_op");
  const Dim seq = Dim::symbol("seq"), ctx = Dim::symbol("ctx");
  auto x = b.input("x", {DType::F32, {seq, Dim::of(64)}});
  auto xh = b.input("xh", {DType::F16, {seq, Dim::of(64)}});
  auto ids = b.input("ids", {DType::I32, {seq}});
  auto pos = b.input("pos", {DType::I32, {seq}});
  auto w_bf16 = b.weight("w_bf16", {DType::BF16, {Dim::of(32), Dim::of(64)}});
  auto w_q8 = b.weight("w_q8", {DType::Q8_0, {Dim::of(32), Dim::of(64)}});
  auto w_q4 = b.weight("w_q4", {DType::Q4_0, {Dim::of(32), Dim::of(64)}});
  auto norm_w = b.weight("norm_w", {DType::F32, {Dim::of(64)}});
  b.output(b.matmul(x, w_bf16));
  b.output(b.matmul(xh, w_q8));
  b.output(b.matmul(x, w_q4));
  b.output(b.add(x, norm_w));
  b.output(b.mul(xh, norm_w));
  b.output(b.scale(x, 0.5));
  b.output(b.silu(x));
  b.output(b.gelu(x, true));
  b.output(b.gelu(x, false));
  b.output(b.sigmoid(x));
  b.output(b.softplus(x));
  b.output(b.exp(x));
  b.output(b.softcap(x, 30));
  b.output(b.swiglu(x, x));
  b.output(b.geglu(xh, xh, false));
  b.output(b.cast(x, DType::BF16));
  b.output(b.cast(x, DType::F16));
  b.output(b.rms_norm(x, norm_w, 1e-6, 1.0));
  b.output(b.layer_norm(x, norm_w, norm_w, 1e-5));
  b.output(b.softmax(x));
  auto heads = b.reshape(x, {seq, Dim::of(4), Dim::of(16)});
  b.output(b.rope(heads, pos, {{"theta", 10000.0}, {"layout", std::string("interleaved")}}));
  auto kv = b.input("kv", {DType::F16, {ctx, Dim::of(2), Dim::of(16)}});
  b.output(b.attention(heads, kv, kv, pos, 0.25, 8, 50.0));
  // Paged KV cache: persistent state written in place, then read through a block table.
  auto k_cache = b.state("k_cache", {DType::F16, {Dim::of(8), Dim::of(16), Dim::of(2), Dim::of(16)}});
  auto v_cache = b.state("v_cache", {DType::BF16, {Dim::of(8), Dim::of(16), Dim::of(2), Dim::of(8)}});
  auto slots = b.input("slots", {DType::I32, {seq}});
  auto k_new = b.kv_write(k_cache, b.input("k_rows", {DType::F32, {seq, Dim::of(2), Dim::of(16)}}), slots);
  auto v_new = b.kv_write(v_cache, b.input("v_rows", {DType::F16, {seq, Dim::of(2), Dim::of(8)}}), slots);
  auto block_table = b.input("block_table", {DType::I32, {Dim::of(3), Dim::of(4)}});
  auto row_seq = b.input("row_seq", {DType::I32, {seq}});
  b.output(b.paged_attention(heads, k_new, v_new, block_table, row_seq, pos, 0.25, 8, 30.0));
  b.output(b.attention_combine(
      b.paged_attention_partial(heads, k_new, v_new, block_table, row_seq, pos, 0.25, 8, 30.0, 4, 16)));
  // The fused forms: both caches (keys roped) in one write; a split attention that combines itself.
  auto [k_fused, v_fused] = b.kv_write_rope(
      b.state("k_cache.2", {DType::F16, {Dim::of(8), Dim::of(16), Dim::of(2), Dim::of(16)}}),
      b.state("v_cache.2", {DType::F16, {Dim::of(8), Dim::of(16), Dim::of(2), Dim::of(8)}}),
      b.input("k_rows.2", {DType::F32, {seq, Dim::of(2), Dim::of(16)}}),
      b.input("v_rows.2", {DType::F32, {seq, Dim::of(2), Dim::of(8)}}), slots, pos, {{"theta", 10000.0}});
  auto counters = b.state("counters", {DType::I32, {Dim::of(4), Dim::of(4)}});
  b.output(b.emit(ir::OpKind::PagedAttentionSplit, {heads, k_fused, v_fused, block_table, row_seq, pos, counters},
                  {{"scale", 0.25}, {"splits", int64_t{4}}, {"granule", int64_t{16}}, {"theta", 10000.0}})[0]);
  auto conv_w = b.weight("conv_w", {DType::F32, {Dim::of(64), Dim::of(4)}});
  auto state = b.input("state", {DType::F32, {Dim::of(3), Dim::of(64)}});
  auto [y, new_state] = b.conv1d(x, conv_w, state, true);
  b.output(y);
  b.output(new_state);
  // Recurrent state slots, written in place as result 1.
  auto src_slot = b.input("src_slot", {DType::I32, {seq}});
  auto dst_slot = b.input("dst_slot", {DType::I32, {seq}});
  auto conv_slots = b.state("conv_state", {DType::F32, {Dim::of(5), Dim::of(3), Dim::of(64)}});
  b.output(b.conv1d(x, conv_w, conv_slots, src_slot, dst_slot, true).second);
  auto gdn_state = b.state("gdn_state", {DType::F32, {Dim::of(5), Dim::of(8), Dim::of(16), Dim::of(8)}});
  auto gates = b.input("gates", {DType::F32, {seq, Dim::of(8)}});
  auto gdn = b.gated_delta_net(heads, heads, b.reshape(x, {seq, Dim::of(8), Dim::of(8)}), gates, gates, gdn_state,
                               src_slot, dst_slot, 0.25, true);
  b.output(gdn.first);
  // A constant row count of at most 32 selects the recurrent kernel (the one above is chunked).
  auto one_row = b.input("one_row", {DType::F32, {Dim::of(1), Dim::of(8), Dim::of(16)}});
  auto one_value = b.input("one_value", {DType::F32, {Dim::of(1), Dim::of(8), Dim::of(8)}});
  auto one_gate = b.input("one_gate", {DType::F32, {Dim::of(1), Dim::of(8)}});
  auto one_slot = b.input("one_slot", {DType::I32, {Dim::of(1)}});
  auto step = b.gated_delta_net(one_row, one_row, one_value, one_gate, one_gate, gdn.second, one_slot, one_slot, 0.25,
                                false);
  b.output(step.first);
  b.output(step.second);
  // A whole Gated DeltaNet layer (Hk = 1, Dk = 16, Hv = 2, Dv = 16: C = 64) reading x as its qkv.
  for (auto v : b.emit(ir::OpKind::FusedGatedDeltaNet,
                       {x, b.input("gdn_z", {DType::F32, {seq, Dim::of(2), Dim::of(16)}}),
                        b.input("gdn_a", {DType::F32, {seq, Dim::of(2)}}),
                        b.input("gdn_b", {DType::F32, {seq, Dim::of(2)}}),
                        b.weight("gdn_conv_w", {DType::BF16, {Dim::of(64), Dim::of(4)}}),
                        b.state("gdn_conv_state", {DType::F32, {Dim::of(5), Dim::of(3), Dim::of(64)}}),
                        b.weight("gdn_a_log", {DType::BF16, {Dim::of(2)}}),
                        b.weight("gdn_dt_bias", {DType::BF16, {Dim::of(2)}}),
                        b.weight("gdn_norm_w", {DType::F32, {Dim::of(16)}}),
                        b.state("gdn_layer_state", {DType::F32, {Dim::of(5), Dim::of(2), Dim::of(16), Dim::of(16)}}),
                        src_slot, dst_slot},
                       {{"scale", 0.25}, {"qk_l2norm", true}, {"eps", 1e-6}}))
    b.output(v);
  b.output(b.argmax(x));
  auto [values, indices] = b.top_k(x, 5);
  b.output(values);
  b.output(indices);
  auto sample_params = b.input("sample_params", {DType::F32, {seq, Dim::of(8)}});
  auto sample_rng = b.input("sample_rng", {DType::I32, {seq, Dim::of(2)}});
  auto sample_history = b.input("sample_history", {DType::I32, {seq, Dim::of(16)}});
  auto [sampled, sample_scores] = b.sample(x, sample_params, sample_rng, sample_history);
  b.output(sampled);
  b.output(sample_scores);
  auto sample_partials = b.emit(ir::OpKind::SamplePartial, {x, sample_params, sample_history},
                                {{"splits", int64_t{4}}, {"candidates", int64_t{8}}})[0];
  for (auto v : b.emit(ir::OpKind::SampleFinish, {x, sample_params, sample_rng, sample_history, sample_partials}))
    b.output(v);
  b.output(b.slice(x, 1, 3, 20));
  b.output(b.slice(w_q8, 1, 32, 32));
  b.output(b.embedding(w_q4, ids));
  b.output(b.constant(2.5, {DType::F32, {Dim::of(7)}}));
  b.output(b.emit(ir::OpKind::FusedMatMul, {x, w_q4, norm_w, b.matmul(x, w_bf16)},
                  {{"prologue", std::string("rms_norm")}, {"epilogue", std::string("add")}, {"eps", 1e-6}})[0]);
  b.output(b.emit(ir::OpKind::FusedMatMul, {xh, w_bf16, norm_w}, {{"prologue", std::string("rms_norm")}, {"eps", 1e-6}})[0]);
  b.output(b.emit(ir::OpKind::MultiMatMul, {x, w_q4, w_q4, norm_w},
                  {{"prologue", std::string("rms_norm")}, {"eps", 1e-6}, {"combine", std::string("swiglu")}})[0]);
  for (auto v : b.emit(ir::OpKind::MultiMatMul, {xh, w_bf16, b.weight("w_bf16_8", {DType::BF16, {Dim::of(8), Dim::of(64)}})}))
    b.output(v);
  return b.finish();
}

codegen::TargetCaps profile(uint32_t subgroup_size, bool subgroup_arithmetic) {
  codegen::TargetCaps caps;
  caps.name = "test";
  caps.subgroup_size = subgroup_size;
  caps.subgroup_arithmetic = subgroup_arithmetic;
  caps.subgroup_size_control = subgroup_arithmetic;  // so the subgroup-size-specific kernels compile too
  return caps;
}

TEST(OpsCodegen, EveryOpKindHasALowering) {
  for (int i = 0; i < ir::kNumOps; ++i) {
    const auto kind = static_cast<ir::OpKind>(i);
    const codegen::ops::OpLowering& l = codegen::ops::lowering(kind);
    SCOPED_TRACE(std::string(ir::name(kind)));
    if (kind == ir::OpKind::Weight) {
      EXPECT_EQ(l.how, codegen::ops::Lowering::Upload);
    } else if (kind == ir::OpKind::State) {
      EXPECT_EQ(l.how, codegen::ops::Lowering::State);
    } else if (kind == ir::OpKind::Reshape) {
      EXPECT_EQ(l.how, codegen::ops::Lowering::View);
    } else {
      EXPECT_EQ(l.how, codegen::ops::Lowering::Dispatch);
      EXPECT_NE(l.emit, nullptr);
    }
  }
}

TEST(OpsCodegen, EveryKernelCompilesUnderSeveralDeviceProfiles) {
  const ir::Graph g = every_op_graph();
  std::set<ir::OpKind> kinds;
  for (const ir::Op& op : g.ops) kinds.insert(op.kind);
  ASSERT_EQ(kinds.size(), static_cast<size_t>(ir::kNumOps)) << "the test graph must use every op kind";
  for (uint32_t subgroup : {8u, 32u, 64u})
    for (bool arithmetic : {true, false}) {
      SCOPED_TRACE(testing::Message() << "subgroup " << subgroup << (arithmetic ? " with" : " without")
                                      << " subgroup arithmetic");
      codegen::CompiledGraph cg = codegen::compile_graph(g, profile(subgroup, arithmetic));
      for (const codegen::Dispatch& d : cg.dispatches) {
        EXPECT_FALSE(d.kernel.spirv.empty()) << d.kernel.name;
        EXPECT_EQ(d.kernel.spirv[0], 0x07230203u) << d.kernel.name << ": not SPIR-V";
        EXPECT_EQ(d.kernel.local_size[0] % std::min<uint32_t>(subgroup, d.kernel.local_size[0]), 0u)
            << d.kernel.name;
        const bool uses_subgroup_arithmetic = d.kernel.glsl.find("subgroupAdd") != std::string::npos ||
                                              d.kernel.glsl.find("subgroupMax") != std::string::npos;
        EXPECT_FALSE(!arithmetic && uses_subgroup_arithmetic) << d.kernel.name << " uses subgroup arithmetic";
      }
    }
}

TEST(OpsCodegen, DispatchListFollowsTheAbi) {
  const ir::Graph g = every_op_graph();
  codegen::CompiledGraph cg = codegen::compile_graph(g, profile(32, true));
  EXPECT_EQ(cg.symbols, (std::vector<std::string>{"ctx", "seq"}));
  size_t expected_dispatches = 0;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const ir::Op& op = g.ops[i];
    if (op.kind == ir::OpKind::Weight || op.kind == ir::OpKind::State) {
      EXPECT_EQ(cg.storage_of[op.results[0]], op.results[0]);
    } else if (op.kind == ir::OpKind::Reshape) {
      EXPECT_EQ(cg.storage_of[op.results[0]], cg.storage_of[op.inputs[0]]);
    } else {
      ++expected_dispatches;
      // In-place results use their operand's storage; every other result owns its own.
      std::vector<ir::ValueId> owner(op.results.begin(), op.results.end());
      for (const ir::InPlaceWrite& w : ir::in_place_writes(op))
        owner[static_cast<size_t>(w.result)] = cg.storage_of[op.inputs[static_cast<size_t>(w.operand)]];
      for (size_t r = 0; r < op.results.size(); ++r) EXPECT_EQ(cg.storage_of[op.results[r]], owner[r]);
    }
  }
  ASSERT_EQ(cg.dispatches.size(), expected_dispatches);
  int last_op = -1;
  for (const codegen::Dispatch& d : cg.dispatches) {
    EXPECT_GT(d.op_index, last_op) << "dispatches must follow op order";
    last_op = d.op_index;
    const ir::Op& op = g.ops[static_cast<size_t>(d.op_index)];
    std::vector<ir::ValueId> expected = op.inputs;
    expected.insert(expected.end(), op.results.begin(), op.results.end());
    EXPECT_EQ(d.args, expected) << d.kernel.name;
    ASSERT_EQ(d.kernel.args.size(), 1 + expected.size()) << d.kernel.name;
    EXPECT_EQ(d.kernel.args[0].name, "params");
    EXPECT_FALSE(d.kernel.args[0].written);
    // Results are written, and so is an operand written in place (kv_write's cache).
    for (size_t a = 0; a < expected.size(); ++a)
      EXPECT_EQ(d.kernel.args[1 + a].written,
                a >= op.inputs.size() || ir::in_place_writes(op).result_of_operand(a) >= 0)
          << d.kernel.name << " arg " << a;
    EXPECT_EQ(d.kernel.name.rfind(std::string(ir::name(op.kind)), 0), 0u) << d.kernel.name;
  }
}

TEST(OpsCodegen, InPlaceWritesChainThroughViewsToOneStorage) {
  // An input cache viewed as [N, B, H, D] and written twice: every version lives in the input's storage.
  ir::Builder b("in_place");
  const Dim seq = Dim::symbol("seq");
  auto flat = b.input("cache", {DType::F16, {Dim::of(64), Dim::of(32)}});
  auto cache = b.reshape(flat, {Dim::of(4), Dim::of(16), Dim::of(2), Dim::of(16)});
  auto rows = b.input("rows", {DType::F32, {seq, Dim::of(2), Dim::of(16)}});
  auto slots = b.input("slots", {DType::I32, {seq}});
  auto once = b.kv_write(cache, rows, slots);
  auto twice = b.kv_write(once, rows, b.input("slots2", {DType::I32, {seq}}));
  b.output(twice);
  codegen::CompiledGraph cg = codegen::compile_graph(b.finish(), profile(32, true));
  for (ir::ValueId v : {cache, once, twice}) EXPECT_EQ(cg.storage_of[v], flat);
  ASSERT_EQ(cg.dispatches.size(), 2u);
  for (const codegen::Dispatch& d : cg.dispatches) {
    EXPECT_TRUE(d.kernel.args[1].written) << d.kernel.name << ": the cache is written in place";
    EXPECT_FALSE(d.kernel.args[2].written);
    EXPECT_FALSE(d.kernel.args[3].written);
  }
}

TEST(OpsCodegen, GridsScaleWithSymbolsAndStayWithinAxisLimits) {
  ir::Builder b("grids");
  auto x = b.input("x", {DType::F32, {Dim::symbol("seq"), Dim::of(4096)}});
  auto big = b.input("big", {DType::F32, {Dim::of(70000), Dim::of(8)}});
  auto w = b.weight("w", {DType::F16, {Dim::of(1000), Dim::of(4096)}});
  b.output(b.silu(x));
  b.output(b.rms_norm(big, b.weight("nw", {DType::F32, {Dim::of(8)}}), 1e-5));
  b.output(b.matmul(x, w));
  codegen::CompiledGraph cg = codegen::compile_graph(b.finish(), profile(32, true));
  ASSERT_EQ(cg.dispatches.size(), 3u);
  const std::map<std::string, int64_t> seq7{{"seq", 7}};

  // silu over [seq, 4096]: a fixed number of groups per row, rows on y.
  const codegen::Kernel& silu = cg.dispatches[0].kernel;
  const int64_t per_row = silu.grid[0].groups(seq7);
  EXPECT_GE(per_row * silu.local_size[0] * 4, 4096);
  EXPECT_EQ(silu.grid[1].groups(seq7), 7);

  // 70000 constant rows: one workgroup per row, split over x and y below 65536 each.
  const codegen::Kernel& norm = cg.dispatches[1].kernel;
  EXPECT_LE(norm.grid[0].groups({}), 65535);
  EXPECT_GE(norm.grid[0].groups({}) * norm.grid[1].groups({}), 70000);

  // matmul: column tiles on x, row tiles on y growing with seq.
  const codegen::Kernel& mm = cg.dispatches[2].kernel;
  EXPECT_GE(mm.grid[0].groups(seq7), 1);
  EXPECT_LT(mm.grid[1].groups({{"seq", 1}}), mm.grid[1].groups({{"seq", 1000}}));
}

TEST(OpsCodegen, SixteenBitTensorsNeedSixteenBitStorage) {
  ir::Builder b("f16");
  b.output(b.silu(b.input("x", {DType::F16, {Dim::of(8)}})));
  codegen::TargetCaps caps = profile(32, true);
  caps.storage_16bit = false;
  try {
    codegen::compile_graph(b.finish(), caps);
    FAIL() << "expected a CompileError";
  } catch (const codegen::CompileError& e) {
    EXPECT_NE(std::string(e.what()).find("'silu'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("16-bit storage"), std::string::npos) << e.what();
  }
}

TEST(OpsCodegen, PushConstantLimitIsReported) {
  ir::Builder b("attn");
  auto q = b.input("q", {DType::F32, {Dim::of(1), Dim::of(2), Dim::of(8)}});
  auto pos = b.input("pos", {DType::I32, {Dim::of(1)}});
  b.output(b.attention(q, q, q, pos, 1.0));
  codegen::TargetCaps caps = profile(32, true);
  caps.max_push_constant_bytes = 40;  // attention needs 6 addresses: 48 bytes
  EXPECT_THROW(codegen::compile_graph(b.finish(), caps), codegen::CompileError);
}

TEST(OpsCodegen, TensorsOf2To31ElementsAreRejected) {
  ir::Builder b("huge");
  auto w = b.weight("w", {DType::F16, {Dim::of(65536), Dim::of(32768)}});
  b.output(b.matmul(b.input("x", {DType::F32, {Dim::of(1), Dim::of(32768)}}), w));
  try {
    codegen::compile_graph(b.finish(), profile(32, true));
    FAIL() << "expected a CompileError";
  } catch (const codegen::CompileError& e) {
    EXPECT_NE(std::string(e.what()).find("2^31"), std::string::npos) << e.what();
  }
}

TEST(OpsCodegen, QuantizedSliceMustKeepWholeBlocks) {
  ir::Builder b("qslice");
  auto w = b.weight("w", {DType::Q8_0, {Dim::of(4), Dim::of(64)}});
  b.output(b.slice(w, 1, 16, 32));
  EXPECT_THROW(codegen::compile_graph(b.finish(), profile(32, true)), codegen::CompileError);
}

// Prefill-shaped matmuls: every weight dtype, a residual epilogue, a swiglu prologue and an rms_norm
// prologue (which keeps the row kernels).
ir::Graph prefill_matmuls() {
  ir::Builder b("prefill");
  const Dim seq = Dim::symbol("seq");
  auto x = b.input("x", {DType::F32, {seq, Dim::of(256)}});
  for (DType w : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K,
                  DType::QA4, DType::QA8, DType::QA4H, DType::QA8H, DType::QA4H_G64, DType::QA8H_G64})
    b.output(b.matmul(x, b.weight(std::string("w_") + std::string(ir::name(w)), {w, {Dim::of(96), Dim::of(256)}})));
  auto w = b.weight("w", {DType::BF16, {Dim::of(256), Dim::of(256)}});
  b.output(b.emit(ir::OpKind::FusedMatMul, {x, w, x}, {{"prologue", std::string("none")}, {"epilogue", std::string("add")}})[0]);
  b.output(b.emit(ir::OpKind::FusedMatMul, {x, w, x, x},
                  {{"prologue", std::string("swiglu")}, {"epilogue", std::string("add")}})[0]);
  auto g = b.weight("g", {DType::F32, {Dim::of(256)}});
  b.output(b.emit(ir::OpKind::FusedMatMul, {x, w, g}, {{"prologue", std::string("rms_norm")}, {"eps", 1e-6}})[0]);
  return b.finish();
}

// Kernel names of the graph's dispatches: the kernel family is part of each name.
std::vector<std::string> kernel_names(const codegen::CompiledGraph& cg) {
  std::vector<std::string> names;
  for (const codegen::Dispatch& d : cg.dispatches) names.push_back(d.kernel.name);
  return names;
}

TEST(OpsCodegen, ManyRowsTakeTheTiledKernels) {
  const ir::Graph g = prefill_matmuls();
  auto expect_families = [&](const codegen::CompiledGraph& cg, const std::string& tiled) {
    const std::vector<std::string> names = kernel_names(cg);
    ASSERT_EQ(names.size(), 17u);
    for (size_t i = 0; i + 1 < names.size(); ++i)
      EXPECT_NE(names[i].find(tiled), std::string::npos) << names[i] << " should be a " << tiled << " kernel";
    EXPECT_EQ(names.back().find(tiled), std::string::npos) << names.back() << ": rms_norm keeps a row kernel";
  };
  // Profiles without cooperative matrices: 16 KiB of shared memory and no subgroup ops; wave64.
  // (lavapipe runs them in ops_kernels_test.)
  for (const char* name : {"generic", "amd-rdna3"}) {
    SCOPED_TRACE(name);
    expect_families(codegen::compile_graph(g, codegen::target_profile(name), {{"seq", 256}}), "_tiled64x64");
  }
  // A few rows (decode) or no bound keep the row-vector kernels.
  for (const std::map<std::string, int64_t>& bounds :
       {std::map<std::string, int64_t>{{"seq", 16}}, std::map<std::string, int64_t>{}}) {
    for (const std::string& name : kernel_names(codegen::compile_graph(g, profile(32, true), bounds))) {
      EXPECT_EQ(name.find("tiled"), std::string::npos) << name;
      EXPECT_EQ(name.find("coopmat"), std::string::npos) << name;
    }
  }
}

// The chunked gated_delta_net kernel (prefill) at Qwen3.5's shape (16 key heads, 32 value heads of
// 128) fits each profile: the chunk, state columns per workgroup and invocations per column its name
// ends with (chunk<C>_bv<BV>_p<P>) follow the profile's shared memory, subgroup size and subgroup
// operations, and the kernel compiles to valid SPIR-V.
TEST(OpsCodegen, ChunkedGatedDeltaNetFitsEveryProfile) {
  ir::Builder b("gdn_prefill");
  const Dim seq = Dim::symbol("seq");
  auto qk = b.input("qk", {DType::F32, {seq, Dim::of(16), Dim::of(128)}});
  auto v = b.input("v", {DType::F32, {seq, Dim::of(32), Dim::of(128)}});
  auto gates = b.input("gates", {DType::F32, {seq, Dim::of(32)}});
  auto slots = b.input("slots", {DType::I32, {seq}});
  auto state = b.state("state", {DType::F32, {Dim::of(4), Dim::of(32), Dim::of(128), Dim::of(128)}});
  auto [o, new_state] = b.gated_delta_net(qk, qk, v, gates, gates, state, slots, slots, 0.125, true);
  b.output(o);
  b.output(new_state);
  const ir::Graph g = b.finish();
  const std::map<std::string, std::string> expected = {{"nvidia-h100", "_chunk32_bv32_p8"},
                                                       {"amd-rdna3", "_chunk32_bv32_p8"},
                                                       {"lavapipe", "_chunk16_bv32_p8"},
                                                       {"generic", "_chunk8_bv32_p1"}};
  for (const auto& [profile_name, suffix] : expected) {
    SCOPED_TRACE(profile_name);
    const codegen::CompiledGraph cg = codegen::compile_graph(g, codegen::target_profile(profile_name), {{"seq", 256}});
    ASSERT_EQ(cg.dispatches.size(), 1u);
    const codegen::Kernel& k = cg.dispatches[0].kernel;
    EXPECT_TRUE(k.name.ends_with(suffix)) << k.name;
    EXPECT_FALSE(k.spirv.empty()) << k.name;
  }
}

// Function-scope variables holding arrays (directly or in a struct) in a kernel's SPIR-V. NVIDIA's
// compiler puts an array indexed by a variable in local memory (the first tensor-core kernel's
// loop-indexed accumulators did), so the cooperative-matrix kernel is generated straight-line and
// declares none.
int function_arrays(const std::vector<uint32_t>& spirv) {
  std::istringstream in(codegen::disassemble(spirv));
  std::set<std::string> array_types, array_pointers;
  int count = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string id, eq, op;
    std::vector<std::string> operands;
    words >> id >> eq >> op;
    for (std::string w; words >> w;) operands.push_back(w);
    if (eq != "=") continue;
    if (op == "OpTypeArray") array_types.insert(id);
    if (op == "OpTypeStruct" &&
        std::any_of(operands.begin(), operands.end(), [&](const std::string& m) { return array_types.count(m) > 0; }))
      array_types.insert(id);
    if (op == "OpTypePointer" && operands.size() == 2 && operands[0] == "Function" && array_types.count(operands[1]))
      array_pointers.insert(id);
    if (op == "OpVariable" && !operands.empty() && array_pointers.count(operands[0])) ++count;
  }
  return count;
}

// Every variant of the cooperative-matrix kernel compiles to valid SPIR-V with the NV matrix ops
// (compile_glsl validates), at both row-tile heights and both column-tile widths, without arrays
// in function scope.
TEST(OpsCodegen, CooperativeMatrixKernelsCompileForNvidia) {
  const ir::Graph g = prefill_matmuls();
  codegen::TargetCaps caps = codegen::target_profile("nvidia-h100");
  ASSERT_TRUE(caps.cooperative_matrix_nv);
  EXPECT_EQ(caps.cooperative_matrix_kernel, "split") << "the f32-faithful kernel is the default";
  struct Expect {
    std::string variant;
    int64_t rows;
    std::string tile;  // in every matmul kernel's name (N = 96 and 256: 64-wide tiles)
    uint32_t local;
    bool split;  // stages lo halves
  };
  for (const Expect& e : {Expect{"split", 256, "_coopmat_split128x64_w32x32", 256, true},
                          Expect{"split", 64, "_coopmat_split64x64_w32x32", 128, true},
                          Expect{"f16", 256, "_coopmat_f16128x64_w32x32", 256, false},
                          Expect{"split:64x32", 256, "_coopmat_split128x64_w64x32", 128, true}}) {
    SCOPED_TRACE(e.variant + " rows " + std::to_string(e.rows));
    caps.cooperative_matrix_kernel = e.variant;
    const codegen::CompiledGraph cg = codegen::compile_graph(g, caps, {{"seq", e.rows}});
    ASSERT_EQ(cg.dispatches.size(), 17u);
    for (size_t i = 0; i + 1 < cg.dispatches.size(); ++i) {
      const codegen::Kernel& k = cg.dispatches[i].kernel;
      EXPECT_NE(k.name.find(e.tile), std::string::npos) << k.name;
      EXPECT_NE(k.glsl.find("coopMatMulAddNV"), std::string::npos) << k.name;
      EXPECT_NE(codegen::disassemble(k.spirv).find("OpCapability CooperativeMatrixNV"), std::string::npos) << k.name;
      EXPECT_EQ(k.required_subgroup_size, 32u) << k.name;
      EXPECT_EQ(k.local_size[0], e.local) << k.name;
      EXPECT_EQ(k.glsl.find("corr_0_0") != std::string::npos, e.split) << k.name;
      EXPECT_EQ(function_arrays(k.spirv), 0) << k.name;
    }
  }
  // A wide output (N >= 8192) takes 128-wide tiles: 16 subgroups at 128 rows.
  {
    ir::Builder b("wide");
    auto x = b.input("x", {DType::F32, {Dim::symbol("seq"), Dim::of(256)}});
    b.output(b.matmul(x, b.weight("w", {DType::Q4_0, {Dim::of(8192), Dim::of(256)}})));
    caps.cooperative_matrix_kernel = "split";
    const ir::Graph wide = b.finish();
    const codegen::CompiledGraph cg = codegen::compile_graph(wide, caps, {{"seq", 512}});
    ASSERT_EQ(cg.dispatches.size(), 1u);
    EXPECT_NE(cg.dispatches[0].kernel.name.find("_coopmat_split128x128_w32x32"), std::string::npos)
        << cg.dispatches[0].kernel.name;
    EXPECT_EQ(cg.dispatches[0].kernel.local_size[0], 512u);
    EXPECT_EQ(function_arrays(cg.dispatches[0].kernel.spirv), 0);
    // The check sees arrays where there are some: the emulated twin's accumulators hold float[8].
    const ir::Op& op = wide.ops[static_cast<size_t>(cg.dispatches[0].op_index)];
    const codegen::ops::EmitContext ctx{wide, op, cg.dispatches[0].op_index, caps, cg.symbols, &cg.max_symbols};
    const codegen::ops::KernelPlan emulated = codegen::ops::emit_tiled_matmul(
        ctx, codegen::ops::fusion_of(ctx), codegen::ops::TileMath::EmulatedCooperativeMatrix);
    EXPECT_GT(function_arrays(codegen::compile_glsl(codegen::ops::assemble_shader(ctx, emulated))), 0);
    // With 32 KiB of shared memory the 40 KiB 128 x 128 tile becomes 128 x 64 (30 KiB).
    codegen::TargetCaps small = caps;
    small.max_shared_memory_bytes = 32 * 1024;
    const codegen::CompiledGraph narrow = codegen::compile_graph(wide, small, {{"seq", 512}});
    EXPECT_NE(narrow.dispatches[0].kernel.name.find("_coopmat_split128x64_w32x32"), std::string::npos)
        << narrow.dispatches[0].kernel.name;
  }
  // A malformed variant is an error, not a silent fallback.
  caps.cooperative_matrix_kernel = "split:48x32";
  EXPECT_THROW(codegen::compile_graph(g, caps, {{"seq", 256}}), codegen::CompileError);
  caps.cooperative_matrix_kernel = "split:32x32x";
  EXPECT_THROW(codegen::compile_graph(g, caps, {{"seq", 256}}), codegen::CompileError);
  caps.cooperative_matrix_kernel = "bf16";
  EXPECT_THROW(codegen::compile_graph(g, caps, {{"seq", 256}}), codegen::CompileError);
  // Without fp16 arithmetic (the fragments are f16) the FMA kernel is used.
  codegen::TargetCaps no_fp16 = codegen::target_profile("nvidia-h100");
  no_fp16.float16_arithmetic = false;
  for (const std::string& name : kernel_names(codegen::compile_graph(g, no_fp16, {{"seq", 256}})))
    EXPECT_EQ(name.find("coopmat"), std::string::npos) << name;
}

}  // namespace
}  // namespace vkllm
