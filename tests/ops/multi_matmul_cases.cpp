// Cases for multi_matmul (ir/README.md "multi_matmul"; made by passes/fuse_glu_pair.cpp and
// merge_sibling_matmuls.cpp): several weights read against one x in one kernel, against the reference
// (the unfused composition) on fresh random inputs, outputs poisoned before each run.
// - combine swiglu / geglu: each row group reads rows r of the gate and up weights and writes one output;
// - several outputs: the grid runs over the rows of 2-4 weights of different row counts (32 and
//   1024 + 3 among them: no multiple of a row group), each workgroup reading one.
// Weight dtypes q4_0, q8_0 (block pairs and, at K = 96, single blocks), bf16, f32, q4_K; with and without
// the rms_norm prologue (with offset); activation rows 1..4 through one kernel. Each case runs under the
// matvec layouts of codegen/ops/matmul_quantized.cpp — the device's generic tuning, subgroup-owned rows
// with staged weights and x, workgroup-split rows, integer dot products (q4_0 / q8_0) — and checks the
// kernel's name says so; the general kernel's multi-weight form runs where no matvec fits (f16 x, no
// subgroup arithmetic).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "codegen/profiles.h"
#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq");

// Recompiles the case with the generic matvec tuning plus `overrides` (VKLLM_TUNE syntax) and checks
// that the multi_matmul kernel's name contains each of `expected`.
std::function<void(codegen::CompiledGraph&, const codegen::TargetCaps&)> tuned(ir::Graph graph,
                                                                               std::map<std::string, int64_t> bounds,
                                                                               std::string overrides,
                                                                               std::vector<std::string> expected) {
  return [=](codegen::CompiledGraph& cg, const codegen::TargetCaps& caps) {
    codegen::TargetCaps t = caps;
    t.qmatvec = codegen::MatvecTuning{};
    t.fmatvec = codegen::MatvecTuning{};
    codegen::apply_tuning_overrides(t, overrides);
    cg = codegen::compile_graph(graph, t, bounds);
    ASSERT_EQ(cg.dispatches.size(), 1u);
    for (const std::string& e : expected)
      EXPECT_NE(cg.dispatches[0].kernel.name.find(e), std::string::npos)
          << cg.dispatches[0].kernel.name << " lacks " << e << " (" << overrides << ")";
  };
}

struct Layout {
  std::string name, overrides;
  std::vector<std::string> expected;  // in the kernel name
};

// The layouts every case runs under; dot=i8 only where it applies (q4_0 / q8_0).
std::vector<Layout> layouts(DType w, bool rms) {
  const bool quantized = ir::is_quantized(w);
  std::vector<Layout> l = {
      {"generic", "", {quantized ? "qmatvec" : "_matvec"}},
      // Subgroup-owned rows of R = 2, staged weights and x in 1 KiB chunks (several per row), 2 units
      // per lane (a ragged last iteration).
      {"staged", "matvec.split=subgroup,matvec.stage=1,matvec.xstage=1,matvec.xchunk=1,matvec.rows=2,matvec.units=2",
       {"x2", "v2sg"}},
      // Workgroup-split rows: the partial sums go through shared memory to the output's invocation.
      // (A quantized matvec with a prologue takes subgroup rows whatever the knobs say, and staged x
      // where it fits: not with 32-lane subgroups at 4 rows, so the name is checked up to `sg`.)
      {"wgsplit", "matvec.rows=4,matvec.local=32", {"x4", quantized && rms ? "_l32v1sg" : "_l32v1wg"}},
  };
  if (w == DType::Q4_0 || w == DType::Q8_0) l.push_back({"dot", "qmatvec.dot=i8,qmatvec.local=32", {"i8"}});
  return l;
}

std::vector<OpCase> multi_matmul_cases() {
  struct Shape {
    std::string name;
    DType w;
    int64_t k;
    std::vector<int64_t> rows;  // per weight
    std::string combine;        // none, swiglu, geglu
    bool rms;
  };
  const std::vector<Shape> shapes = {
      {"swiglu_rms", DType::Q4_0, 256, {1027, 1027}, "swiglu", true},
      {"swiglu", DType::Q8_0, 96, {37, 37}, "swiglu", false},
      {"swiglu_rms", DType::BF16, 256, {1027, 1027}, "swiglu", true},
      {"geglu_rms", DType::F32, 128, {45, 45}, "geglu", true},
      {"geglu_rms", DType::Q4_K, 256, {29, 29}, "geglu", true},
      {"qkv_rms", DType::Q4_0, 256, {64, 1027, 32}, "none", true},
      {"qkv", DType::Q4_0, 96, {37, 32, 5}, "none", false},
      {"zab_rms", DType::Q8_0, 128, {1027, 32, 3, 3}, "none", true},
      {"qkv_rms", DType::BF16, 128, {64, 1027, 32}, "none", true},
      {"pair", DType::F32, 64, {32, 7}, "none", false},
      {"qkv_rms", DType::Q4_K, 256, {37, 32, 32}, "none", true},
  };
  std::vector<OpCase> cases;
  for (const Shape& s : shapes)
    for (const Layout& l : layouts(s.w, s.rms)) {
      std::string rows_text;
      for (int64_t n : s.rows) rows_text += fmt::format("_{}", n);
      OpCase c;
      c.name = fmt::format("multi_matmul_{}_{}w_k{}_n{}_{}", s.name, ir::name(s.w), s.k, rows_text.substr(1), l.name);
      c.graph = make_graph(c.name, [&](ir::Builder& b) {
        std::vector<ir::ValueId> operands{b.input("x", {DType::F32, {kSeq, Dim::of(s.k)}})};
        for (size_t i = 0; i < s.rows.size(); ++i)
          operands.push_back(b.weight(fmt::format("w{}", i), {s.w, {Dim::of(s.rows[i]), Dim::of(s.k)}}));
        ir::Attrs attrs{{"combine", s.combine}};
        if (s.combine == "geglu") attrs["approximate"] = std::string("tanh");
        if (s.rms) {
          operands.push_back(b.weight("g", {DType::BF16, {Dim::of(s.k)}}));
          attrs.insert({{"prologue", std::string("rms_norm")}, {"eps", 1e-6}, {"offset", 1.0}});
        }
        for (ir::ValueId v : b.emit(ir::OpKind::MultiMatMul, operands, attrs)) b.output(v);
      });
      c.runs = {{{"seq", 1}}, {{"seq", 2}}, {{"seq", 4}}};
      c.max_symbols = {{"seq", 4}};
      std::vector<std::string> expected = l.expected;
      expected.push_back(s.combine == "none" ? "_n" + rows_text.substr(1) + "_" : "_" + s.combine);
      c.edit_compiled = tuned(c.graph, c.max_symbols, l.overrides, expected);
      cases.push_back(std::move(c));
    }
  // No matvec kernel fits: f16 x, or a device without subgroup arithmetic (the general kernel's tiles).
  for (bool f16_x : {true, false})
    for (const std::string combine : {"none", "swiglu"}) {
      OpCase c;
      c.name = fmt::format("multi_matmul_general_{}_{}", f16_x ? "f16x" : "no_subgroup_ops", combine);
      c.graph = make_graph(c.name, [&](ir::Builder& b) {
        std::vector<ir::ValueId> operands{b.input("x", {f16_x ? DType::F16 : DType::F32, {kSeq, Dim::of(64)}}),
                                          b.weight("w0", {DType::Q4_0, {Dim::of(13), Dim::of(64)}}),
                                          b.weight("w1", {DType::Q4_0, {Dim::of(combine == "none" ? 6 : 13), Dim::of(64)}}),
                                          b.weight("g", {DType::F32, {Dim::of(64)}})};
        for (ir::ValueId v : b.emit(ir::OpKind::MultiMatMul, operands,
                                    {{"combine", combine}, {"prologue", std::string("rms_norm")}, {"eps", 1e-5}}))
          b.output(v);
      });
      c.runs = {{{"seq", 1}}, {{"seq", 5}}};
      c.subgroup_arithmetic = f16_x;
      c.edit_compiled = [](codegen::CompiledGraph& cg, const codegen::TargetCaps&) {
        ASSERT_EQ(cg.dispatches.size(), 1u);
        EXPECT_NE(cg.dispatches[0].kernel.name.find("_tile"), std::string::npos) << cg.dispatches[0].kernel.name;
      };
      cases.push_back(std::move(c));
    }
  return cases;
}

const int kRegistered = add_cases(multi_matmul_cases());

}  // namespace
}  // namespace vkllm::ops_test

namespace vkllm::ops_test {
namespace {

// No device: Llama-3-8B's decode shapes compile for an H100/H200 (compile_glsl validates the SPIR-V)
// with the NVIDIA defaults (dot=i8, subgroup rows, staged x): gate/up + SwiGLU at R = 2 outputs (4
// weight rows per subgroup, the register footprint of the single-weight R = 4), q/k/v at R = 4 over
// their 6144 rows.
TEST(MultiMatMulNvidia, LlamaDecodeShapesCompile) {
  struct Shape {
    std::vector<int64_t> rows;
    std::string combine, name;  // the kernel name's tail
  };
  const Shape shapes[] = {
      {{14336, 14336}, "swiglu", "n14336_qmatvec1x2u64_l256v1sgxsi8_rms_norm_swiglu"},
      {{4096, 1024, 1024}, "none", "n4096_1024_1024_qmatvec1x4u64_l256v1sgxsi8_rms_norm"},
  };
  for (const Shape& s : shapes) {
    SCOPED_TRACE(s.name);
    const ir::Graph g = make_graph("nvidia_" + s.combine, [&](ir::Builder& b) {
      std::vector<ir::ValueId> operands{b.input("x", {DType::F32, {kSeq, Dim::of(4096)}})};
      for (size_t i = 0; i < s.rows.size(); ++i)
        operands.push_back(b.weight(fmt::format("w{}", i), {DType::Q4_0, {Dim::of(s.rows[i]), Dim::of(4096)}}));
      operands.push_back(b.weight("g", {DType::BF16, {Dim::of(4096)}}));
      for (ir::ValueId v : b.emit(ir::OpKind::MultiMatMul, operands,
                                  {{"combine", s.combine}, {"prologue", std::string("rms_norm")}, {"eps", 1e-5}}))
        b.output(v);
    });
    const codegen::CompiledGraph cg = codegen::compile_graph(g, codegen::target_profile("nvidia-h100"), {{"seq", 1}});
    ASSERT_EQ(cg.dispatches.size(), 1u);
    EXPECT_NE(cg.dispatches[0].kernel.name.find(s.name), std::string::npos) << cg.dispatches[0].kernel.name;
    EXPECT_EQ(cg.dispatches[0].kernel.required_subgroup_size, 32u);
  }
}

}  // namespace
}  // namespace vkllm::ops_test
