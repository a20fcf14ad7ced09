// Cases for matmul: every weight dtype (f32, f16, bf16, q8_0, q4_0), odd K and N, one row (decode),
// both kernels (row-vector: f32 x with K % 8 == 0 and subgroup ops; general: the rest),
// symbolic row counts rebound per run, rank 1 and rank 3 x, and the shared-memory reductions.
// Then the tiled kernels for many rows (see tiled_matmul_cases).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "codegen/glsl_compiler.h"
#include "codegen/ops/glsl.h"
#include "codegen/ops/matmul.h"
#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq");

std::vector<OpCase> matmul_cases() {
  struct MatMul {
    const char* name;
    DType x, w;
    ir::Shape x_shape;
    int64_t n;
    std::vector<ir::SymbolBindings> runs;
    bool subgroup_arithmetic = true;
  };
  const std::vector<MatMul> shapes = {
      {"matmul_f32_seq_k64_n33", DType::F32, DType::F32, {kSeq, Dim::of(64)}, 33,
       {{{"seq", 1}}, {{"seq", 5}}, {{"seq", 9}}}},
      {"matmul_f16_bf16w_k257_n7", DType::F16, DType::BF16, {kSeq, Dim::of(257)}, 7, {{{"seq", 1}}, {{"seq", 4}}}},
      {"matmul_bf16_f16w_rank3", DType::BF16, DType::F16, {Dim::of(2), kSeq, Dim::of(33)}, 65, {{{"seq", 3}}}},
      {"matmul_f32_rank1_n1", DType::F32, DType::F32, {Dim::of(257)}, 1, {{}}},
      {"matmul_f32_const_rows5", DType::F32, DType::F32, {Dim::of(5), Dim::of(64)}, 40, {{}}},
      {"matmul_f32_q8_0w", DType::F32, DType::Q8_0, {kSeq, Dim::of(96)}, 33, {{{"seq", 1}}, {{"seq", 6}}}},
      {"matmul_f16_q4_0w", DType::F16, DType::Q4_0, {kSeq, Dim::of(64)}, 17, {{{"seq", 2}}}},
      // The row-vector kernel (f32 x, 16-byte weight loads, K % 8 == 0): 1..9 rows, N not a multiple
      // of its 8-row tile, a real model's K.
      {"matmul_rowvec_f32_bf16w_k4096_n37", DType::F32, DType::BF16, {kSeq, Dim::of(4096)}, 37,
       {{{"seq", 1}}, {{"seq", 4}}, {{"seq", 9}}}},
      {"matmul_rowvec_f32_f16w_k136_n9", DType::F32, DType::F16, {kSeq, Dim::of(136)}, 9, {{{"seq", 1}}, {{"seq", 6}}}},
      {"matmul_rowvec_f32_f32w_const_rows3_k8", DType::F32, DType::F32, {Dim::of(3), Dim::of(8)}, 17, {{}}},
      // N >= 8192: two weight rows per subgroup (N not a multiple of the 8-row tile).
      {"matmul_rowvec_f32_bf16w_k16_n8203", DType::F32, DType::BF16, {kSeq, Dim::of(16)}, 8203, {{{"seq", 2}}}},
      {"matmul_f32_no_subgroup_ops", DType::F32, DType::F16, {kSeq, Dim::of(200)}, 9, {{{"seq", 6}}}, false},
      // A 3 x 4 output tile with K = 8: more tile outputs than K, reduced without subgroup ops.
      {"matmul_f32_rows3_k8_no_subgroup_ops", DType::F32, DType::F32, {Dim::of(3), Dim::of(8)}, 5, {{}}, false},
  };
  std::vector<OpCase> cases;
  for (const MatMul& m : shapes) {
    OpCase c;
    c.name = m.name;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto x = b.input("x", {m.x, m.x_shape});
      b.output(b.matmul(x, b.weight("w", {m.w, {Dim::of(m.n), m.x_shape.back()}})));
    });
    c.runs = m.runs;
    c.subgroup_arithmetic = m.subgroup_arithmetic;
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegistered = add_cases(matmul_cases());

// The tiled kernels (codegen/ops/matmul_tiled.cpp), chosen when the row bound exceeds
// kTiledMinRows: rows, N and K crossing tile edges (rows 17..150 against 64- and 128-row tiles,
// N = 65/70 against 64 and 8200 against 128, K not a multiple of BK or of 4), symbolic and constant
// rows, every weight dtype (quantized: one block and three / two), the fused add epilogue (residual
// and bias) and the swiglu prologue. The FMA kernel runs everywhere; each cooperative-matrix kernel
// variant (TargetCaps::cooperative_matrix_kernel) runs emulated (its matrix ops in plain GLSL:
// staging, hi/lo split, indexing and epilogue tested on any device) and for real on devices with
// VK_NV_cooperative_matrix (skipped elsewhere). The "split" variant (hi/lo f16 pairs) must match
// like an f32 kernel: emulated on lavapipe its errors measure 1e-7 to 8e-7 of the largest output
// (3e-6 with activations within ±1e-3: values below 2^-14 keep 11 significant bits), while an
// operand rounded to f16 (a lost lo half, as the first split kernel showed on the H200) costs
// ~1e-4, hence kSplitTolerance. "f16" rounds each operand to f16 (2^-11): errors measured up to
// 3.1e-4 of the largest output on these shapes, hence kF16Tolerance.
constexpr double kSplitTolerance = 1e-5;
constexpr double kF16Tolerance = 1.5e-3;

struct Tiled {
  std::string name;
  DType x, w;
  ir::Shape x_shape;
  int64_t n;
  std::vector<ir::SymbolBindings> runs;
  int64_t seq_bound = 0;           // max_symbols["seq"]
  std::string fusion = "none";     // none | add | bias | swiglu_add
  double x_range = 1.0;            // x uniform in [-x_range, x_range)
};

ir::Graph tiled_graph(const std::string& name, const Tiled& t) {
  return make_graph(name, [&](ir::Builder& b) {
    auto x = b.input("x", {t.x, t.x_shape});
    auto w = b.weight("w", {t.w, {Dim::of(t.n), t.x_shape.back()}});
    if (t.fusion == "none") {
      b.output(b.matmul(x, w));
      return;
    }
    std::vector<ir::ValueId> operands{x, w};
    const std::string prologue = t.fusion == "swiglu_add" ? "swiglu" : "none";
    if (prologue == "swiglu") operands.push_back(b.input("up", {t.x, t.x_shape}));
    ir::Shape r_shape = t.x_shape;
    r_shape.back() = Dim::of(t.n);
    if (t.fusion == "bias") r_shape = {Dim::of(t.n)};
    operands.push_back(b.input("r", {DType::F32, r_shape}));
    b.output(b.emit(ir::OpKind::FusedMatMul, operands,
                    {{"prologue", prologue}, {"epilogue", std::string("add")}})[0]);
  });
}

// Checks that every matmul dispatch runs a kernel whose name contains `kind`.
std::function<void(codegen::CompiledGraph&, const codegen::TargetCaps&)> expect_kernel(std::string kind) {
  return [kind](codegen::CompiledGraph& cg, const codegen::TargetCaps&) {
    for (const codegen::Dispatch& d : cg.dispatches)
      EXPECT_NE(d.kernel.name.find(kind), std::string::npos) << d.kernel.name << " is not a " << kind << " kernel";
  };
}

// Swaps each matmul kernel for the cooperative-matrix kernel `variant` (a
// TargetCaps::cooperative_matrix_kernel), its matrix operations emulated in plain GLSL or real.
std::function<void(codegen::CompiledGraph&, const codegen::TargetCaps&)> cooperative_matrix(
    std::string variant, codegen::ops::TileMath math, std::string expected_name) {
  return [=](codegen::CompiledGraph& cg, const codegen::TargetCaps& device_caps) {
    codegen::TargetCaps caps = device_caps;
    caps.cooperative_matrix_kernel = variant;
    for (codegen::Dispatch& d : cg.dispatches) {
      const ir::Op& op = cg.graph.ops[static_cast<size_t>(d.op_index)];
      const codegen::ops::EmitContext ctx{cg.graph, op, d.op_index, caps, cg.symbols, &cg.max_symbols};
      ASSERT_TRUE(codegen::ops::tiled_kernel_fits(ctx, codegen::ops::fusion_of(ctx))) << d.kernel.name;
      const codegen::ops::KernelPlan plan = codegen::ops::emit_tiled_matmul(ctx, codegen::ops::fusion_of(ctx), math);
      EXPECT_NE(plan.name.find(expected_name), std::string::npos) << plan.name << " is not a " << expected_name;
      d.kernel.name = plan.name;
      d.kernel.glsl = codegen::ops::assemble_shader(ctx, plan);
      d.kernel.spirv = codegen::compile_glsl(d.kernel.glsl);
      d.kernel.local_size = {plan.local_size, 1, 1};
      d.kernel.grid = plan.grid;
      d.kernel.required_subgroup_size = plan.required_subgroup_size;
    }
  };
}

std::vector<OpCase> tiled_matmul_cases() {
  std::vector<Tiled> fma = {
      // Symbolic rows rebound per run: 17 (one partial tile), 80 (two), 65 (one row past a tile);
      // K = 40: the last 16-wide K step is half full; N = 70: a partial second column tile.
      {"f32_bf16w_seq_k40_n70", DType::F32, DType::BF16, {kSeq, Dim::of(40)}, 70,
       {{{"seq", 17}}, {{"seq", 80}}, {{"seq", 65}}}, 80},
      // Constant rows; K = 37 (not a multiple of 4: element-wise reads), f16 x.
      {"f16_f32w_rows67_k37_n65", DType::F16, DType::F32, {Dim::of(67), Dim::of(37)}, 65, {{}}},
      {"f32_f32w_seq_k48_n33", DType::F32, DType::F32, {kSeq, Dim::of(48)}, 33, {{{"seq", 30}}}, 30},
      {"f32_f16w_rank3_k24_n9", DType::F32, DType::F16, {Dim::of(2), kSeq, Dim::of(24)}, 9, {{{"seq", 20}}}, 20},
      {"bf16_bf16w_seq_k20_n64", DType::BF16, DType::BF16, {kSeq, Dim::of(20)}, 64, {{{"seq", 64}}}, 64},
      {"add_f32_bf16w_seq_k32_n70", DType::F32, DType::BF16, {kSeq, Dim::of(32)}, 70, {{{"seq", 70}}}, 70, "add"},
      {"bias_f32_f16w_seq_k40_n20", DType::F32, DType::F16, {kSeq, Dim::of(40)}, 20, {{{"seq", 33}}}, 33, "bias"},
      {"swiglu_add_f32_f32w_seq_k36_n18", DType::F32, DType::F32, {kSeq, Dim::of(36)}, 18, {{{"seq", 40}}}, 40,
       "swiglu_add"},
  };
  for (DType w : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::QA4, DType::QA8,
                  DType::QA4H, DType::QA8H, DType::QA4H_G64, DType::QA8H_G64}) {
    const int64_t block = ir::info(w).block_elems;
    for (int64_t blocks : {1, 3})
      fma.push_back({fmt::format("f32_{}w_seq_k{}_n67", ir::name(w), blocks * block), DType::F32, w,
                     {kSeq, Dim::of(blocks * block)}, 67, {{{"seq", 70}}}, 70});
  }
  // The cooperative-matrix kernels: 128-row tiles (bound > 64) and 64-row tiles, 64- and 128-wide.
  std::vector<Tiled> coop = {
      // K = 72: the last 32-wide K step holds one 8-value group; rows 150 and 20.
      {"f32_bf16w_seq_k72_n70", DType::F32, DType::BF16, {kSeq, Dim::of(72)}, 70,
       {{{"seq", 150}}, {{"seq", 20}}}, 150},
      // f16 weights staged as raw bits: K = 44 (8-byte loads; the last group is half full), K = 48
      // (16-byte loads).
      {"f32_f16w_seq_k44_n65", DType::F32, DType::F16, {kSeq, Dim::of(44)}, 65, {{{"seq", 40}}}, 40},
      {"f32_f16w_seq_k48_n65", DType::F32, DType::F16, {kSeq, Dim::of(48)}, 65, {{{"seq", 90}}}, 90},
      {"f16_f32w_rows33_k37_n17", DType::F16, DType::F32, {Dim::of(33), Dim::of(37)}, 17, {{}}},
      {"bf16_bf16w_seq_k40_n33", DType::BF16, DType::BF16, {kSeq, Dim::of(40)}, 33, {{{"seq", 66}}}, 66},
      {"add_f32_bf16w_seq_k32_n70", DType::F32, DType::BF16, {kSeq, Dim::of(32)}, 70, {{{"seq", 70}}}, 70, "add"},
      {"swiglu_add_f32_f16w_seq_k40_n20", DType::F32, DType::F16, {kSeq, Dim::of(40)}, 20, {{{"seq", 33}}}, 33,
       "swiglu_add"},
      // q4_0 / q8_0 staged block by block: three blocks (the f16 kernel's stages alternate
      // 0, 1, 0), rows 150 (a second, partial row tile), N = 70 (a partial column tile).
      {"f32_q4_0w_seq_k96_n70", DType::F32, DType::Q4_0, {kSeq, Dim::of(96)}, 70, {{{"seq", 150}}}, 150},
      {"bias_f32_q8_0w_seq_k32_n9", DType::F32, DType::Q8_0, {kSeq, Dim::of(32)}, 9, {{{"seq", 17}}}, 17, "bias"},
      {"f32_q8_0w_seq_k96_n70", DType::F32, DType::Q8_0, {kSeq, Dim::of(96)}, 70, {{{"seq", 150}}}, 150},
      // The residual epilogue on a quantized product; f16 x (its own hi: raw bits staged) against q4_0.
      {"add_f32_q4_0w_seq_k64_n70", DType::F32, DType::Q4_0, {kSeq, Dim::of(64)}, 70, {{{"seq", 70}}}, 70, "add"},
      {"f16_q4_0w_seq_k64_n33", DType::F16, DType::Q4_0, {kSeq, Dim::of(64)}, 33, {{{"seq", 40}}}, 40},
      // Small activations: their lo halves stay normal f16 only through the 2048 scale.
      {"small_x_f32_bf16w_seq_k64_n40", DType::F32, DType::BF16, {kSeq, Dim::of(64)}, 40, {{{"seq", 30}}}, 30,
       "none", 1e-3},
      // N >= 8192: 128-wide tiles (the last one 8 columns wide).
      {"f32_bf16w_seq_k32_n8200", DType::F32, DType::BF16, {kSeq, Dim::of(32)}, 8200, {{{"seq", 20}}}, 20},
  };
  for (DType w : {DType::F32, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::QA4,
                  DType::QA8, DType::QA4H, DType::QA8H, DType::QA4H_G64, DType::QA8H_G64}) {
    const int64_t block = ir::is_quantized(w) ? ir::info(w).block_elems : 24;
    coop.push_back({fmt::format("f32_{}w_seq_k{}_n33", ir::name(w), 2 * block), DType::F32, w,
                    {kSeq, Dim::of(2 * block)}, 33, {{{"seq", 70}}}, 70});
  }
  std::vector<OpCase> cases;
  auto make = [&](const std::string& name, const Tiled& t) {
    OpCase c;
    c.name = name;
    c.graph = tiled_graph(name, t);
    c.runs = t.runs;
    if (t.seq_bound) c.max_symbols = {{"seq", t.seq_bound}};
    if (t.x_range != 1.0) c.inputs["x"] = uniform(-t.x_range, t.x_range);
    return c;
  };
  for (const Tiled& t : fma) {
    OpCase c = make("matmul_tiled_" + t.name, t);
    c.cooperative_matrix = false;
    c.edit_compiled = expect_kernel("_tiled64x64");
    cases.push_back(std::move(c));
  }
  // Narrow outputs over a long K (codegen/ops/matmul.h kNarrowOutputs: Qwen3.5's in_proj_a/b) take
  // the matrix-vector kernels at prefill row counts; without subgroup arithmetic, the tiled kernel.
  for (const auto& [w, kind] : {std::pair{DType::Q4_0, "_qmatvec"}, std::pair{DType::BF16, "_matvec"}}) {
    const Tiled t{"", DType::F32, w, {kSeq, Dim::of(1024)}, 32, {{{"seq", 37}}, {{"seq", 150}}}, 256};
    OpCase c = make(fmt::format("matmul_narrow_long_k_f32_{}w_seq_k1024_n32", ir::name(w)), t);
    c.edit_compiled = expect_kernel(kind);
    cases.push_back(std::move(c));
    OpCase tiled = make(fmt::format("matmul_narrow_long_k_no_subgroup_ops_f32_{}w_seq_k1024_n32", ir::name(w)), t);
    tiled.cooperative_matrix = false;
    tiled.subgroup_arithmetic = false;
    tiled.edit_compiled = expect_kernel("_tiled64x64");
    cases.push_back(std::move(tiled));
  }
  // Without subgroup arithmetic (the tiled kernels use none).
  OpCase no_subgroup_ops = make("matmul_tiled_no_subgroup_ops_f32_q8_0w_k64_n40", {"", DType::F32, DType::Q8_0,
                                {kSeq, Dim::of(64)}, 40, {{{"seq", 19}}}, 19});
  no_subgroup_ops.cooperative_matrix = false;
  no_subgroup_ops.subgroup_arithmetic = false;
  no_subgroup_ops.edit_compiled = expect_kernel("_tiled64x64");
  cases.push_back(std::move(no_subgroup_ops));
  // Each variant on its shapes: "split" on all of them, the f16-rounding ones on a few; "split:64x32"
  // (64 x 32 subgroup blocks) on two with K <= 256. Lavapipe (Mesa 22.3) miscompiles that variant's
  // emulation when both x and w are split and K >= 384 (garbage, from a kernel that runs ~20x too
  // fast); x or w alone split, f16 64 x 64 blocks, 32 x 32 blocks and K <= 256 are right. The real
  // kernel's larger shapes are checked on the GPU.
  struct Variant {
    std::string kernel, tag, name;  // TargetCaps::cooperative_matrix_kernel, case-name tag, kernel-name part
    double tolerance;
    size_t shapes;                  // the first `shapes` of coop
  };
  const std::vector<Variant> variants = {{"split", "split", "_coopmat_split", kSplitTolerance, coop.size()},
                                         {"split:64x32", "split_w64x32", "_w64x32", kSplitTolerance, 2},
                                         {"f16", "f16", "_coopmat_f16", kF16Tolerance, 9}};
  for (const Variant& v : variants) {
    for (size_t i = 0; i < v.shapes; ++i) {
      const Tiled& t = coop[i];
      OpCase emulated = make("matmul_coopmat_" + v.tag + "_emulated_" + t.name, t);
      emulated.edit_compiled =
          cooperative_matrix(v.kernel, codegen::ops::TileMath::EmulatedCooperativeMatrix, v.name);
      emulated.tolerance = v.tolerance;
      cases.push_back(std::move(emulated));
      OpCase real = make("matmul_coopmat_" + v.tag + "_" + t.name, t);
      real.requires_cooperative_matrix = true;
      real.edit_compiled = cooperative_matrix(v.kernel, codegen::ops::TileMath::CooperativeMatrixNV, v.name);
      real.tolerance = v.tolerance;
      cases.push_back(std::move(real));
    }
  }
  // The kernel compile_graph picks on a device with cooperative matrices (its default variant).
  OpCase chosen = make("matmul_coopmat_default_" + coop[0].name, coop[0]);
  chosen.requires_cooperative_matrix = true;
  chosen.edit_compiled = expect_kernel("_coopmat");
  chosen.tolerance = kF16Tolerance;  // whatever VKLLM_COOPMAT / VKLLM_F16_MATMUL select
  cases.push_back(std::move(chosen));
  return cases;
}

const int kRegisteredTiled = add_cases(tiled_matmul_cases());

// The float matrix-vector kernel (codegen/ops/matmul_quantized.cpp) at the row counts and widths that
// change its shape: activation rows per workgroup (TM) 1, 2 and 3, weight rows per workgroup (R) 4
// and 8 (N not a multiple of R), K over several lane steps. Each checks the variant's name.
std::vector<OpCase> float_matvec_cases() {
  struct MatVec {
    const char* name;
    DType w;
    ir::Shape x_shape;
    int64_t n;
    std::vector<ir::SymbolBindings> runs;
    int64_t seq_bound;    // max_symbols["seq"] (0: none)
    const char* variant;  // expected in the kernel name
  };
  const std::vector<MatVec> shapes = {
      {"matmul_matvec_one_row_bf16w_k1096_n2051", DType::BF16, {kSeq, Dim::of(1096)}, 2051, {{{"seq", 1}}}, 1,
       "_matvec1x8"},
      {"matmul_matvec_two_rows_f16w_k136_n1030", DType::F16, {kSeq, Dim::of(136)}, 1030, {{{"seq", 1}}, {{"seq", 2}}},
       2, "_matvec2x4"},
      {"matmul_matvec_const_rows3_f32w_k64_n1027", DType::F32, {Dim::of(3), Dim::of(64)}, 1027, {{}}, 0,
       "_matvec3x4"},
  };
  std::vector<OpCase> cases;
  for (const MatVec& m : shapes) {
    OpCase c;
    c.name = m.name;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto x = b.input("x", {DType::F32, m.x_shape});
      b.output(b.matmul(x, b.weight("w", {m.w, {Dim::of(m.n), m.x_shape.back()}})));
    });
    c.runs = m.runs;
    if (m.seq_bound) c.max_symbols = {{"seq", m.seq_bound}};
    c.edit_compiled = expect_kernel(m.variant);
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegisteredMatVec = add_cases(float_matvec_cases());

}  // namespace
}  // namespace vkllm::ops_test
