// Cases for fused_matmul (passes/fuse_*.cpp make it): each prologue (none, rms_norm with and
// without offset, swiglu, geglu erf and tanh) with and without the residual-add epilogue, on the
// matrix-vector kernels (f32 x; f32, f16, bf16 weights, and every quantized weight dtype — including
// 4 and 8 weight rows per workgroup sharing each prologue-transformed x element) and the general
// kernel (f16 x, K not a multiple of 8, or no subgroup arithmetic) — with symbolic rows rebound per
// run, a broadcast residual (a bias) and a rank-3 x.
#include <fmt/format.h>

#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq");

struct Fused {
  std::string prologue;  // none | rms_norm | swiglu | geglu
  bool add;
  double offset = 0.0;  // rms_norm: the norm's offset; geglu: nonzero picks the tanh approximation
};

std::string tag(const Fused& f) {
  const char* variant = f.prologue == "geglu" ? "_tanh" : "_offset";
  return (f.prologue == "none" ? std::string() : "_" + f.prologue + (f.offset != 0.0 ? variant : "")) +
         (f.add ? "_add" : "");
}

OpCase fused_case(const std::string& name, DType x_dtype, DType w_dtype, ir::Shape x_shape, int64_t n,
                  const Fused& f, std::vector<ir::SymbolBindings> runs, bool subgroup_arithmetic = true,
                  bool bias = false) {
  OpCase c;
  c.name = "fused_matmul_" + name + tag(f);
  c.graph = make_graph(c.name, [&](ir::Builder& b) {
    auto x = b.input("x", {x_dtype, x_shape});
    std::vector<ir::ValueId> operands{x, b.weight("w", {w_dtype, {Dim::of(n), x_shape.back()}})};
    ir::Attrs attrs{{"prologue", f.prologue}, {"epilogue", std::string(f.add ? "add" : "none")}};
    if (f.prologue == "rms_norm") {
      operands.push_back(b.weight("g", {DType::BF16, {x_shape.back()}}));
      attrs["eps"] = 1e-5;
      attrs["offset"] = f.offset;
    }
    if (f.prologue == "swiglu" || f.prologue == "geglu") operands.push_back(b.input("up", {x_dtype, x_shape}));
    if (f.prologue == "geglu") attrs["approximate"] = std::string(f.offset != 0.0 ? "tanh" : "none");
    if (f.add) {
      ir::Shape r_shape = x_shape;
      r_shape.back() = Dim::of(n);
      if (bias) r_shape = {Dim::of(n)};
      operands.push_back(b.input("r", {DType::F32, r_shape}));
    }
    b.output(b.emit(ir::OpKind::FusedMatMul, operands, attrs)[0]);
  });
  c.runs = std::move(runs);
  c.subgroup_arithmetic = subgroup_arithmetic;
  return c;
}

std::vector<OpCase> fused_matmul_cases() {
  const std::vector<Fused> fusions = {
      {"none", true},       {"rms_norm", false}, {"rms_norm", true, 1.0}, {"swiglu", false},
      {"swiglu", true},     {"geglu", false},    {"geglu", true, 1.0}};
  const std::vector<ir::SymbolBindings> rows = {{{"seq", 1}}, {{"seq", 5}}};
  std::vector<OpCase> cases;
  for (const Fused& f : fusions) {
    // Float matrix-vector kernel.
    for (DType w : {DType::F32, DType::F16, DType::BF16})
      cases.push_back(fused_case(fmt::format("matvec_{}w_k136_n9", ir::name(w)), DType::F32, w, {kSeq, Dim::of(136)},
                                 9, f, rows));
    // General kernel: f16 x and odd K, then the shared-memory reductions.
    cases.push_back(fused_case("general_f16x_k65_n7", DType::F16, DType::F16, {kSeq, Dim::of(65)}, 7, f, rows));
    cases.push_back(
        fused_case("general_no_subgroup_ops_k72_n9", DType::F32, DType::BF16, {kSeq, Dim::of(72)}, 9, f, rows, false));
  }
  // Quantized matrix-vector kernel: every quantized weight dtype, norm and residual together.
  for (DType w : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::QA4, DType::QA8,
                  DType::QA4H, DType::QA8H, DType::QA4H_G64, DType::QA8H_G64})
    cases.push_back(fused_case(fmt::format("qmatvec_{}w_k256_n9", ir::name(w)), DType::F32, w, {kSeq, Dim::of(256)}, 9,
                               {"rms_norm", true, 1.0}, rows));
  cases.push_back(fused_case("qmatvec_q4_0w_k64_n5", DType::F32, DType::Q4_0, {kSeq, Dim::of(64)}, 5,
                             {"none", true}, rows));
  cases.push_back(fused_case("qmatvec_q4_kw_k256_n5", DType::F32, DType::Q4_K, {kSeq, Dim::of(256)}, 5,
                             {"swiglu", true}, rows));
  // Many weight rows per workgroup (N >= 1021): 4 rows with 1..4 activation rows, 8 rows with one.
  OpCase wide = fused_case("qmatvec_q4_0w_k256_n1021", DType::F32, DType::Q4_0, {kSeq, Dim::of(256)}, 1021,
                           {"rms_norm", true, 1.0}, {{{"seq", 1}}, {{"seq", 4}}});
  wide.max_symbols = {{"seq", 4}};
  cases.push_back(std::move(wide));
  for (const Fused& f : {Fused{"swiglu", false}, Fused{"rms_norm", true}}) {
    OpCase one_row = fused_case("qmatvec_q4_kw_k512_n2045", DType::F32, DType::Q4_K, {kSeq, Dim::of(512)}, 2045, f,
                                {{{"seq", 1}}});
    one_row.max_symbols = {{"seq", 1}};
    cases.push_back(std::move(one_row));
  }
  // A bias (residual broadcast over rows) and a rank-3 x.
  cases.push_back(fused_case("matvec_bias_k64_n9", DType::F32, DType::BF16, {kSeq, Dim::of(64)}, 9, {"none", true},
                             rows, true, true));
  cases.push_back(fused_case("matvec_rank3_k32_n6", DType::F32, DType::F16, {Dim::of(2), kSeq, Dim::of(32)}, 6,
                             {"rms_norm", true}, {{{"seq", 3}}}));
  return cases;
}

const int kRegistered = add_cases(fused_matmul_cases());

}  // namespace
}  // namespace vkllm::ops_test
