// Cases for quantized weights (every quantized dtype; layouts in ir/README.md), through the
// quantized matrix-vector kernel (codegen/ops/matmul_quantized.cpp: f32 x, subgroup arithmetic) and
// the general kernel (no subgroup arithmetic, or f16 x), plus the embedding gather and slices (whole
// blocks). Matrix-vector shapes, per dtype: one block per row; more lane units per row than a
// workgroup has invocations (its K loop runs twice), with an odd and, for q4_0 / q8_0, an even
// number of blocks (single-block and block-pair units); activation rows 1..4 through one kernel with
// the fused residual add; a one-row kernel with the most weight rows per workgroup (R = 8 where the
// registers allow). N is never a multiple of R. Each case checks which kernel variant ran (name:
// qmatvec<TM>x<R>u<values per lane unit>). The reference dequantizes with HostTensor::get; weights
// are random blocks (HostTensor::random), inputs fresh random values, outputs poisoned before each run.
// Then every dtype under the tuning knobs (tuned_cases), and the integer-dot-product kernels of q4_0
// and q8_0 (dot=i8, dot_cases; QuantMatvecDot compiles the NVIDIA defaults without a device).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <tuple>

#include "codegen/glsl_compiler.h"
#include "codegen/profiles.h"
#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq");

// The test device's caps with the generic matvec tuning (no per-device defaults, e.g. NVIDIA's
// subgroup rows and dot=i8): the kernel names the cases expect are those of the generic layouts.
codegen::TargetCaps generic_tuning(codegen::TargetCaps caps) {
  caps.qmatvec = codegen::MatvecTuning{};
  caps.fmatvec = codegen::MatvecTuning{};
  return caps;
}

// Recompiles the case with the generic tuning and checks that every matmul dispatch runs a kernel
// whose name contains `variant`.
std::function<void(codegen::CompiledGraph&, const codegen::TargetCaps&)> expect_variant(std::string variant) {
  return [variant](codegen::CompiledGraph& cg, const codegen::TargetCaps& caps) {
    cg = codegen::compile_graph(cg.graph, generic_tuning(caps), cg.max_symbols);
    for (const codegen::Dispatch& d : cg.dispatches)
      EXPECT_NE(d.kernel.name.find(variant), std::string::npos) << d.kernel.name << " is not " << variant;
  };
}

std::vector<OpCase> quant_cases() {
  struct Format {
    DType dtype;
    int64_t many_k;        // an odd block count, more lane units per row than 128 invocations
    int64_t even_many_k;   // q4_0 / q8_0: the same with an even block count (block pairs); else 0
    int64_t few_k;         // a few blocks (even for q4_0 / q8_0: pairs)
    int64_t one_row_k;     // the one-row kernel's K (odd for q4_0 / q8_0: single blocks, fewer words)
    std::string rows4;     // expected variant with 4 activation rows, N = 1021
    std::string rows1;     // expected variant with 1 activation row, N = 2045
  };
  const Format formats[] = {
      {DType::Q8_0, 4192, 8320, 256, 96, "qmatvec4x2u64", "qmatvec1x4u32"},
      {DType::Q4_0, 4192, 8320, 256, 96, "qmatvec4x4u64", "qmatvec1x8u32"},
      {DType::Q4_K, 8448, 0, 512, 512, "qmatvec4x4u64", "qmatvec1x8u64"},
      {DType::Q5_K, 8448, 0, 512, 512, "qmatvec4x4u64", "qmatvec1x4u64"},
      {DType::Q6_K, 4352, 0, 512, 512, "qmatvec4x4u32", "qmatvec1x8u32"},
      {DType::QA4, 4160, 0, 96, 96, "qmatvec4x4u32", "qmatvec1x8u32"},
      {DType::QA8, 4160, 0, 96, 96, "qmatvec4x4u32", "qmatvec1x8u32"},
      {DType::QA4H, 4160, 0, 96, 96, "qmatvec4x4u32", "qmatvec1x8u32"},
      {DType::QA8H, 4160, 0, 96, 96, "qmatvec4x4u32", "qmatvec1x8u32"},
      {DType::QA4H_G64, 4224, 0, 128, 128, "qmatvec4x4u64", "qmatvec1x8u64"},
      {DType::QA8H_G64, 4224, 0, 128, 128, "qmatvec4x4u64", "qmatvec1x4u64"},
  };
  std::vector<OpCase> cases;
  for (const Format& f : formats) {
    const std::string dt(ir::name(f.dtype));
    const int block = ir::info(f.dtype).block_elems;
    struct Shape {
      std::string name;
      DType x;
      int64_t k, n;
      std::vector<ir::SymbolBindings> runs;
      bool subgroup_arithmetic = true;
      bool add = false;                // fused_matmul with the residual-add epilogue
      int64_t seq_bound = 0;           // max_symbols["seq"] (0: none)
      std::string variant = "qmatvec"; // expected in the kernel name
    };
    std::vector<Shape> shapes = {
        {"qmatvec_one_block", DType::F32, block, 37, {{{"seq", 1}}, {{"seq", 3}}}, true, false, 0, "qmatvec4x2"},
        {"qmatvec_many_blocks", DType::F32, f.many_k, 9, {{{"seq", 1}}, {{"seq", 6}}}, true, false, 0, "qmatvec4x2"},
        {"qmatvec_rows1to4_add", DType::F32, f.few_k, 1021,
         {{{"seq", 1}}, {{"seq", 2}}, {{"seq", 3}}, {{"seq", 4}}}, true, true, 4, f.rows4},
        {"qmatvec_one_row", DType::F32, f.one_row_k, 2045, {{{"seq", 1}}}, true, false, 1, f.rows1},
        {"general_no_subgroup_ops", DType::F32, f.few_k, 13, {{{"seq", 1}}, {{"seq", 5}}}, false, false, 0, "tile"},
        {"general_f16_x", DType::F16, f.few_k, 7, {{{"seq", 2}}}, true, false, 0, "tile"},
    };
    if (f.even_many_k)
      shapes.push_back({"qmatvec_many_block_pairs", DType::F32, f.even_many_k, 9, {{{"seq", 1}}, {{"seq", 2}}}, true,
                        false, 0, "qmatvec4x2u64"});
    for (const Shape& s : shapes) {
      OpCase c;
      c.name = fmt::format("matmul_{}w_{}_k{}_n{}", dt, s.name, s.k, s.n);
      c.graph = make_graph(c.name, [&](ir::Builder& b) {
        auto x = b.input("x", {s.x, {kSeq, Dim::of(s.k)}});
        auto w = b.weight("w", {f.dtype, {Dim::of(s.n), Dim::of(s.k)}});
        if (!s.add) {
          b.output(b.matmul(x, w));
          return;
        }
        auto r = b.input("r", {DType::F32, {kSeq, Dim::of(s.n)}});
        b.output(b.emit(ir::OpKind::FusedMatMul, {x, w, r},
                        {{"prologue", std::string("none")}, {"epilogue", std::string("add")}})[0]);
      });
      c.runs = s.runs;
      c.subgroup_arithmetic = s.subgroup_arithmetic;
      if (s.seq_bound) c.max_symbols = {{"seq", s.seq_bound}};
      c.edit_compiled = expect_variant(s.variant);
      cases.push_back(std::move(c));
    }
    OpCase e;
    e.name = fmt::format("embedding_{}_d{}", dt, f.few_k);
    e.graph = make_graph(e.name, [&](ir::Builder& b) {
      auto ids = b.input("ids", {DType::I32, {kSeq}});
      b.output(b.embedding(b.weight("table", {f.dtype, {Dim::of(11), Dim::of(f.few_k)}}), ids));
    });
    e.inputs["ids"] = integers(-1, 12);  // ids outside [0, 11) give zeros
    e.runs = {{{"seq", 1}}, {{"seq", 7}}};
    e.exact = true;  // a gather of values computed exactly as the reference computes them
    cases.push_back(std::move(e));
    // Slices move whole blocks: two rows, and the second block of each row.
    for (auto [axis, start, size] : {std::tuple{0, 1, 2}, std::tuple{1, block, block}}) {
      OpCase c;
      c.name = fmt::format("slice_whole_blocks_{}_axis{}", dt, axis);
      c.graph = make_graph(c.name, [&](ir::Builder& b) {
        b.output(b.slice(b.weight("w", {f.dtype, {Dim::of(3), Dim::of(3 * block)}}), axis, start, size));
      });
      c.exact = true;
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

// Recompiles the case with the matvec tuning `overrides` (VKLLM_TUNE syntax) on top of the generic
// tuning and the test device's other caps, and checks that every kernel's name contains each of
// `expected`.
std::function<void(codegen::CompiledGraph&, const codegen::TargetCaps&)> with_tuning(
    ir::Graph graph, std::map<std::string, int64_t> max_symbols, std::string overrides,
    std::vector<std::string> expected) {
  return [=](codegen::CompiledGraph& cg, const codegen::TargetCaps& caps) {
    codegen::TargetCaps tuned = generic_tuning(caps);
    codegen::apply_tuning_overrides(tuned, overrides);
    cg = codegen::compile_graph(graph, tuned, max_symbols);
    for (const codegen::Dispatch& d : cg.dispatches)
      for (const std::string& e : expected) {
        // Staged x holds one loop iteration (subgroup size x units x values per activation row): with
        // 32-wide subgroups (NVIDIA) and 4 rows it outgrows the 24 KiB cap and staging is declined.
        if (e == "xs" && tuned.subgroup_size > 8) continue;
        EXPECT_NE(d.kernel.name.find(e), std::string::npos) << d.kernel.name << " lacks " << e << " (" << overrides << ")";
      }
  };
}

// The tuning knobs (codegen/target.h MatvecTuning) on every weight dtype: K = 1280 (40 blocks of 32:
// 20 block pairs, 5 q4_K-class blocks) holds a multiple of 4 words per row in every contiguous unit
// format, so staged weights apply, and is no multiple of the units one loop iteration takes (the
// last one is ragged); N = 37 or 29 is a multiple of no R. Each dtype runs three cases, one per
// tuning, the pairing of tunings and cases rotating with the dtype: activation rows 1..4 (seq bound 4)
// with the add epilogue; rms_norm with offset (rows 1 and 3, bound 3); swiglu (2 rows, bound 2).
std::vector<OpCase> tuned_cases() {
  constexpr int64_t kK = 1280;
  struct Tuning {
    std::string overrides;
    std::vector<std::string> expected;  // in every kernel name
    bool stages = false;                // staged weights and x where the format allows
  };
  const std::vector<Tuning> tunings = {
      // Subgroup-owned rows, two units per lane, automatic R and local.
      {"matvec.split=subgroup,matvec.units=2", {"v2sg"}},
      // Staged weights and x in 8 KiB chunks (one loop iteration each: 2 or 3 chunks per row), four
      // subgroups of 2 rows each, two units per lane.
      {"matvec.split=subgroup,matvec.stage=1,matvec.xstage=1,matvec.xchunk=8,matvec.rows=2,matvec.units=2,"
       "matvec.local=32",
       {"x2", "_l32v2sg"}, true},
      // Workgroup-split rows (the original kernel), explicit R and local, two units per lane.
      {"matvec.rows=4,matvec.local=32,matvec.units=2", {"x4", "_l32v2wg"}},
  };
  const DType dtypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                          DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::QA4,  DType::QA8,
                          DType::QA4H, DType::QA8H, DType::QA4H_G64, DType::QA8H_G64};
  std::vector<OpCase> cases;
  size_t rotation = 0;
  for (DType dtype : dtypes) {
    ++rotation;
    size_t prologue_index = 0;
    const std::string dt(ir::name(dtype));
    // Contiguous unit formats (block pairs, affine blocks) stage weights; every format but q6_K stages x.
    const bool contiguous = dtype == DType::Q4_0 || dtype == DType::Q8_0 || (ir::is_quantized(dtype) &&
                            dtype != DType::Q4_K && dtype != DType::Q5_K && dtype != DType::Q6_K);
    for (const std::string prologue : {"none", "rms_norm", "swiglu"}) {
      const size_t tuning_index = (rotation + prologue_index++) % tunings.size();
      const Tuning& t = tunings[tuning_index];
      const int64_t bound = prologue == "none" ? 4 : prologue == "rms_norm" ? 3 : 2;
      const int64_t n = prologue == "none" ? 37 : 29;
      OpCase c;
      c.name = fmt::format("matvec_tuned{}_{}w_{}_k{}_n{}", tuning_index, dt, prologue, kK, n);
      c.graph = make_graph(c.name, [&](ir::Builder& b) {
        auto x = b.input("x", {DType::F32, {kSeq, Dim::of(kK)}});
        auto w = b.weight("w", {dtype, {Dim::of(n), Dim::of(kK)}});
        if (std::string(prologue) == "none") {
          auto r = b.input("r", {DType::F32, {kSeq, Dim::of(n)}});
          b.output(b.emit(ir::OpKind::FusedMatMul, {x, w, r},
                          {{"prologue", std::string("none")}, {"epilogue", std::string("add")}})[0]);
        } else if (std::string(prologue) == "rms_norm") {
          auto g = b.weight("g", {DType::F32, {Dim::of(kK)}});
          b.output(b.emit(ir::OpKind::FusedMatMul, {x, w, g},
                          {{"prologue", std::string("rms_norm")}, {"epilogue", std::string("none")}, {"eps", 1e-6},
                           {"offset", 1.0}})[0]);
        } else {
          auto up = b.input("up", {DType::F32, {kSeq, Dim::of(kK)}});
          b.output(b.emit(ir::OpKind::FusedMatMul, {x, w, up},
                          {{"prologue", std::string("swiglu")}, {"epilogue", std::string("none")}})[0]);
        }
      });
      if (std::string(prologue) == "none") c.runs = {{{"seq", 1}}, {{"seq", 2}}, {{"seq", 3}}, {{"seq", 4}}};
      else if (std::string(prologue) == "rms_norm") c.runs = {{{"seq", 1}}, {{"seq", 3}}};
      else c.runs = {{{"seq", 2}}};
      c.max_symbols = {{"seq", bound}};
      std::vector<std::string> expected = t.expected;
      // A quantized matvec with a prologue stages x once per workgroup whatever the split knob says
      // (matvec_layout): the workgroup-split tuning then runs subgroup rows with staged x.
      if (ir::is_quantized(dtype) && std::string(prologue) != "none" && dtype != DType::Q6_K)
        std::replace(expected.begin(), expected.end(), std::string("_l32v2wg"), std::string("_l32v2sgxs"));
      expected.push_back(ir::is_quantized(dtype) ? "qmatvec" : "_matvec");
      if (t.stages && contiguous) expected.push_back("ws");
      if (t.stages && dtype != DType::Q6_K) expected.push_back("xs");
      c.edit_compiled = with_tuning(c.graph, c.max_symbols, t.overrides, expected);
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

// x of `rows` x K values in [-1, 1), except: row 0 has an outlier of 300 at column 100 and row 1 one of
// -500 at column 700 (their blocks' scales are set by them), and block 8 (columns 256..287) is all
// zeros in every row (its scale is 0: no NaN may come out).
TensorFn outliers_and_zero_block() {
  return [](ir::DType dtype, const std::vector<int64_t>& shape, const ir::SymbolBindings&, std::mt19937_64& rng) {
    ir::HostTensor t = ir::HostTensor::random(dtype, shape, rng, -1.0, 1.0);
    const int64_t k = shape.back(), rows = t.numel() / k;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 256; c < 288; ++c) t.set(r * k + c, 0.0);
    t.set(100, 300.0);
    if (rows > 1) t.set(k + 700, -500.0);
    return t;
  };
}

// Recompiles the case with `overrides` on top of the test device's caps (without integer dot products
// when `without_dot_caps`) and expects exactly the kernels of the device's own tuning: dot=i8 is
// ignored (the f32 path runs, so the results are those of the f32 kernel).
std::function<void(codegen::CompiledGraph&, const codegen::TargetCaps&)> dot_ignored(
    ir::Graph graph, std::map<std::string, int64_t> max_symbols, std::string overrides, bool without_dot_caps) {
  return [=](codegen::CompiledGraph& cg, const codegen::TargetCaps& caps) {
    codegen::TargetCaps plain = caps;
    plain.qmatvec.dot = plain.fmatvec.dot = codegen::MatvecTuning::Dot::off;
    if (without_dot_caps) plain.integer_dot_product = false;
    codegen::TargetCaps tuned = plain;
    codegen::apply_tuning_overrides(tuned, overrides);
    ASSERT_EQ(tuned.qmatvec.dot, codegen::MatvecTuning::Dot::i8) << overrides;
    cg = codegen::compile_graph(graph, tuned, max_symbols);
    const codegen::CompiledGraph reference = codegen::compile_graph(graph, plain, max_symbols);
    ASSERT_EQ(cg.dispatches.size(), reference.dispatches.size());
    for (size_t i = 0; i < cg.dispatches.size(); ++i) {
      EXPECT_EQ(cg.dispatches[i].kernel.name.find("i8"), std::string::npos) << cg.dispatches[i].kernel.name;
      EXPECT_EQ(cg.dispatches[i].kernel.name, reference.dispatches[i].kernel.name);
      EXPECT_EQ(cg.dispatches[i].kernel.glsl, reference.dispatches[i].kernel.glsl) << cg.dispatches[i].kernel.name;
    }
  };
}

// The integer-dot-product matvec (dot=i8: x staged as int8 hi/lo pairs, codegen/ops/matmul_quantized.cpp)
// on q4_0 and q8_0 weights, against the reference of the unquantized-x matmul at the usual f32
// tolerance (1e-4 of the largest output). K = 1280 is 20 block pairs, K = 1312 41 single blocks; N is
// a multiple of no R. The tunings fit a 32-wide subgroup too (one loop iteration of staged records
// within 24 KiB), so the same cases take the dot path on an NVIDIA device.
std::vector<OpCase> dot_cases() {
  struct Shape {
    std::string name;
    int64_t k, n;
    std::string prologue;            // none (with the add epilogue when `add`), rms_norm or swiglu
    bool add;
    std::vector<ir::SymbolBindings> runs;
    int64_t seq_bound;               // 0: none (symbolic rows: 4 activation rows per workgroup)
    std::string overrides;
    std::vector<std::string> expected;  // in every kernel name
    bool outliers = false;           // x from outliers_and_zero_block()
  };
  const std::vector<Shape> shapes = {
      // Block pairs, activation rows 1..4 through one kernel (TM = 4), residual add, automatic R; 32
      // invocations (4 subgroups on lavapipe: x staged by all of them, rows past N in the last workgroup).
      {"pairs_rows1to4_add", 1280, 37, "none", true, {{{"seq", 1}}, {{"seq", 2}}, {{"seq", 3}}, {{"seq", 4}}}, 4,
       "qmatvec.dot=i8,qmatvec.local=32", {"qmatvec4x", "u64_l32v1sgxsi8_add"}},
      // Single blocks (odd block count), rms_norm with offset (Σx² summed across the subgroups), two
      // units per lane (a ragged last iteration).
      {"blocks_rms_norm", 1312, 29, "rms_norm", false, {{{"seq", 1}}, {{"seq", 3}}}, 3,
       "qmatvec.dot=i8,qmatvec.units=2,qmatvec.local=32", {"qmatvec3x", "u32_l32v2sgxsi8_rms_norm"}},
      // swiglu, 1 KiB chunks (one loop iteration each: several chunks per row), staged weights, R = 2.
      {"pairs_swiglu_chunks", 1280, 29, "swiglu", false, {{{"seq", 2}}}, 2,
       "qmatvec.dot=i8,qmatvec.units=2,qmatvec.rows=2,qmatvec.xchunk=1,qmatvec.stage=1,qmatvec.local=16",
       {"qmatvec2x2u64_", "v2sgwsxsi8_swiglu"}},
      // Symbolic rows without a bound: 4 activation rows per workgroup, 5 rows = a full and a partial group.
      {"symbolic_rows", 1280, 37, "none", false, {{{"seq", 5}}, {{"seq", 1}}}, 0, "qmatvec.dot=i8",
       {"qmatvec4x", "i8"}},
      // One block per row: most lanes of the only iteration are past the row's end.
      {"one_block", 32, 13, "none", false, {{{"seq", 1}}, {{"seq", 3}}}, 3, "qmatvec.dot=i8", {"qmatvec3x", "u32_", "i8"}},
      // Large outliers and an all-zero block, with rms_norm (its Σx² sees the outliers too).
      {"outliers_zero_block", 1280, 45, "rms_norm", false, {{{"seq", 2}}}, 2, "qmatvec.dot=i8", {"i8"}, true},
      {"outliers_zero_block_odd", 1312, 45, "none", false, {{{"seq", 2}}}, 2, "qmatvec.dot=i8", {"u32_", "i8"}, true},
  };
  std::vector<OpCase> cases;
  for (DType dtype : {DType::Q4_0, DType::Q8_0}) {
    const std::string dt(ir::name(dtype));
    for (const Shape& s : shapes) {
      OpCase c;
      c.name = fmt::format("matvec_dot_i8_{}w_{}_k{}_n{}", dt, s.name, s.k, s.n);
      c.graph = make_graph(c.name, [&](ir::Builder& b) {
        auto x = b.input("x", {DType::F32, {kSeq, Dim::of(s.k)}});
        auto w = b.weight("w", {dtype, {Dim::of(s.n), Dim::of(s.k)}});
        if (s.prologue == "rms_norm") {
          auto g = b.weight("g", {DType::F32, {Dim::of(s.k)}});
          b.output(b.emit(ir::OpKind::FusedMatMul, {x, w, g},
                          {{"prologue", std::string("rms_norm")}, {"epilogue", std::string("none")}, {"eps", 1e-6},
                           {"offset", 1.0}})[0]);
        } else if (s.prologue == "swiglu") {
          auto up = b.input("up", {DType::F32, {kSeq, Dim::of(s.k)}});
          b.output(b.emit(ir::OpKind::FusedMatMul, {x, w, up},
                          {{"prologue", std::string("swiglu")}, {"epilogue", std::string("none")}})[0]);
        } else if (s.add) {
          auto r = b.input("r", {DType::F32, {kSeq, Dim::of(s.n)}});
          b.output(b.emit(ir::OpKind::FusedMatMul, {x, w, r},
                          {{"prologue", std::string("none")}, {"epilogue", std::string("add")}})[0]);
        } else {
          b.output(b.matmul(x, w));
        }
      });
      c.runs = s.runs;
      if (s.seq_bound) c.max_symbols = {{"seq", s.seq_bound}};
      if (s.outliers) c.inputs["x"] = outliers_and_zero_block();
      c.edit_compiled = with_tuning(c.graph, c.max_symbols, s.overrides, s.expected);
      cases.push_back(std::move(c));
    }
  }
  // Where dot=i8 does not apply, the kernel is the f32 one: other quantized dtypes, float weights (with
  // matvec.dot), and q4_0 on a device without integer dot products.
  struct Ignored {
    DType dtype;
    std::string overrides;
    bool without_dot_caps;
  };
  for (const Ignored& i : {Ignored{DType::Q4_K, "qmatvec.dot=i8", false}, Ignored{DType::QA4H_G64, "qmatvec.dot=i8", false},
                           Ignored{DType::BF16, "matvec.dot=i8", false}, Ignored{DType::Q4_0, "qmatvec.dot=i8", true}}) {
    OpCase c;
    c.name = fmt::format("matvec_dot_i8_ignored_{}w{}", ir::name(i.dtype), i.without_dot_caps ? "_no_dot_device" : "");
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto x = b.input("x", {DType::F32, {kSeq, Dim::of(1280)}});
      b.output(b.matmul(x, b.weight("w", {i.dtype, {Dim::of(37), Dim::of(1280)}})));
    });
    c.runs = {{{"seq", 1}}, {{"seq", 2}}};
    c.max_symbols = {{"seq", 2}};
    c.edit_compiled = dot_ignored(c.graph, c.max_symbols, i.overrides, i.without_dot_caps);
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegistered = add_cases(quant_cases());
const int kTunedRegistered = add_cases(tuned_cases());
const int kDotRegistered = add_cases(dot_cases());

// No device: dot=i8 is the default exactly where the driver reports accelerated mixed-signedness
// packed dot products; the Llama-3-8B decode shapes compile for an H100/H200 (compile_glsl validates
// the SPIR-V) to the layouts matvec_layout's automatic rules give, with OpSUDotKHR for q4_0 and
// OpSDotKHR only for q8_0.
TEST(QuantMatvecDot, NvidiaDefaultsAndKernels) {
  EXPECT_EQ(codegen::target_profile("nvidia-h100").qmatvec.dot, codegen::MatvecTuning::Dot::i8);
  EXPECT_EQ(codegen::target_profile("nvidia-h100").fmatvec.dot, codegen::MatvecTuning::Dot::off);
  EXPECT_EQ(codegen::target_profile("lavapipe").qmatvec.dot, codegen::MatvecTuning::Dot::off);
  EXPECT_EQ(codegen::target_profile("generic").qmatvec.dot, codegen::MatvecTuning::Dot::off);
  codegen::TargetCaps off = codegen::target_profile("nvidia-h100");
  codegen::apply_tuning_overrides(off, "qmatvec.dot=0");
  EXPECT_EQ(off.qmatvec.dot, codegen::MatvecTuning::Dot::off);
  EXPECT_THROW(codegen::apply_tuning_overrides(off, "qmatvec.dot=i4"), std::invalid_argument);
  EXPECT_TRUE(codegen::tuning_text(codegen::target_profile("nvidia-h100").qmatvec).ends_with(",xchunk=0,dot=i8"));
  EXPECT_TRUE(codegen::tuning_text(off.qmatvec).ends_with(",xchunk=0"));

  struct Shape {
    DType dtype;
    int64_t n, k, rows;
    std::string prologue;
    std::string name;  // the kernel name's tail
  };
  const Shape shapes[] = {
      {DType::Q4_0, 14336, 4096, 1, "rms_norm", "n14336_qmatvec1x4u64_l256v1sgxsi8_rms_norm"},  // gate / up
      {DType::Q4_0, 4096, 14336, 1, "swiglu", "n4096_qmatvec1x4u64_l256v1sgxsi8_swiglu"},       // down
      {DType::Q4_0, 1024, 4096, 1, "rms_norm", "n1024_qmatvec1x2u64_l256v1sgxsi8_rms_norm"},   // k / v
      {DType::Q4_0, 4096, 4096, 4, "none", "n4096_qmatvec4x4u64_l256v1sgxsi8"},                // 4 rows
      {DType::Q8_0, 14336, 4096, 1, "none", "n14336_qmatvec1x2u64_l256v1sgxsi8"},
      {DType::Q4_0, 4096, 4128, 1, "none", "n4096_qmatvec1x4u32_l256v1sgxsi8"},                // 129 blocks: R shrinks to keep 128 workgroups
  };
  for (const Shape& s : shapes) {
    SCOPED_TRACE(s.name);
    const ir::Graph g = make_graph("dot_" + s.name, [&](ir::Builder& b) {
      auto x = b.input("x", {DType::F32, {kSeq, Dim::of(s.k)}});
      auto w = b.weight("w", {s.dtype, {Dim::of(s.n), Dim::of(s.k)}});
      if (s.prologue == "none") {
        b.output(b.matmul(x, w));
      } else if (s.prologue == "rms_norm") {
        auto gain = b.weight("g", {DType::F32, {Dim::of(s.k)}});
        b.output(b.emit(ir::OpKind::FusedMatMul, {x, w, gain},
                        {{"prologue", std::string("rms_norm")}, {"epilogue", std::string("none")}, {"eps", 1e-5}})[0]);
      } else {
        auto up = b.input("up", {DType::F32, {kSeq, Dim::of(s.k)}});
        b.output(b.emit(ir::OpKind::FusedMatMul, {x, w, up},
                        {{"prologue", std::string("swiglu")}, {"epilogue", std::string("none")}})[0]);
      }
    });
    const codegen::CompiledGraph cg = codegen::compile_graph(g, codegen::target_profile("nvidia-h100"), {{"seq", s.rows}});
    ASSERT_EQ(cg.dispatches.size(), 1u);
    const codegen::Kernel& kernel = cg.dispatches[0].kernel;
    EXPECT_NE(kernel.name.find(s.name), std::string::npos) << kernel.name;
    EXPECT_EQ(kernel.required_subgroup_size, 32u);
    const std::string spirv = codegen::disassemble(kernel.spirv);
    EXPECT_NE(spirv.find("OpCapability DotProduct"), std::string::npos);
    EXPECT_EQ(spirv.find("OpSUDot") != std::string::npos, s.dtype == DType::Q4_0) << "signed x unsigned q4_0 quants";
    EXPECT_NE(spirv.find("OpSDot"), std::string::npos);
  }
}

}  // namespace
}  // namespace vkllm::ops_test
