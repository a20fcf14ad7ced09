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
#include <fmt/format.h>

#include <gtest/gtest.h>

#include <tuple>

#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq");

// Checks that every matmul dispatch runs a kernel whose name contains `variant`.
std::function<void(codegen::CompiledGraph&, const codegen::TargetCaps&)> expect_variant(std::string variant) {
  return [variant](codegen::CompiledGraph& cg, const codegen::TargetCaps&) {
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
      {DType::QA4H_G64, 4224, 0, 128, 128, "qmatvec4x4u32", "qmatvec1x8u32"},
      {DType::QA8H_G64, 4224, 0, 128, 128, "qmatvec4x4u32", "qmatvec1x8u32"},
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

const int kRegistered = add_cases(quant_cases());

}  // namespace
}  // namespace vkllm::ops_test
