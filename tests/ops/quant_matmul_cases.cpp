// Cases for quantized weights (every quantized dtype; layouts in ir/README.md):
// matmul through the quantized row-vector kernel (f32 x, subgroup arithmetic: decode and prefill row
// counts, fewer and more 32-value chunks per row than a subgroup has lanes, N not a multiple of the
// 8-row tile) and through the general kernel (no subgroup arithmetic, or f16 x), plus the embedding
// gather and slices (whole blocks). The reference dequantizes with HostTensor::get; weights are
// random blocks (HostTensor::random).
#include <fmt/format.h>

#include <tuple>

#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq");

std::vector<OpCase> quant_cases() {
  struct Format {
    DType dtype;
    int64_t small_k, large_k;  // a few blocks; more 32-value chunks than any subgroup has lanes
  };
  const Format formats[] = {{DType::Q8_0, 96, 1056},  {DType::Q4_0, 64, 1312}, {DType::Q4_K, 256, 2304},
                            {DType::Q5_K, 512, 2304},
                            {DType::Q6_K, 256, 2304}, {DType::QA4, 96, 1056},  {DType::QA8, 64, 1312},
                            {DType::QA4H, 64, 1056},  {DType::QA8H, 96, 1312},
                            {DType::QA4H_G64, 128, 1088}, {DType::QA8H_G64, 64, 1152}};
  std::vector<OpCase> cases;
  for (const Format& f : formats) {
    const std::string dt(ir::name(f.dtype));
    struct Shape {
      std::string name;
      DType x;
      int64_t k, n;
      std::vector<ir::SymbolBindings> runs;
      bool subgroup_arithmetic;
    };
    const std::vector<Shape> shapes = {
        {"rowvec_decode_small_k", DType::F32, f.small_k, 37, {{{"seq", 1}}, {{"seq", 3}}}, true},
        {"rowvec_large_k", DType::F32, f.large_k, 9, {{{"seq", 1}}, {{"seq", 6}}}, true},
        {"general_no_subgroup_ops", DType::F32, f.small_k, 13, {{{"seq", 1}}, {{"seq", 5}}}, false},
        {"general_f16_x", DType::F16, f.small_k, 7, {{{"seq", 2}}}, true},
    };
    for (const Shape& s : shapes) {
      OpCase c;
      c.name = fmt::format("matmul_{}w_{}_k{}_n{}", dt, s.name, s.k, s.n);
      c.graph = make_graph(c.name, [&](ir::Builder& b) {
        auto x = b.input("x", {s.x, {kSeq, Dim::of(s.k)}});
        b.output(b.matmul(x, b.weight("w", {f.dtype, {Dim::of(s.n), Dim::of(s.k)}})));
      });
      c.runs = s.runs;
      c.subgroup_arithmetic = s.subgroup_arithmetic;
      cases.push_back(std::move(c));
    }
    OpCase e;
    e.name = fmt::format("embedding_{}_d{}", dt, f.small_k);
    e.graph = make_graph(e.name, [&](ir::Builder& b) {
      auto ids = b.input("ids", {DType::I32, {kSeq}});
      b.output(b.embedding(b.weight("table", {f.dtype, {Dim::of(11), Dim::of(f.small_k)}}), ids));
    });
    e.inputs["ids"] = integers(-1, 12);  // ids outside [0, 11) give zeros
    e.runs = {{{"seq", 1}}, {{"seq", 7}}};
    e.exact = true;  // a gather of values computed exactly as the reference computes them
    cases.push_back(std::move(e));
    // Slices move whole blocks: two rows, and the second block of each row.
    const int block = ir::info(f.dtype).block_elems;
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
