// Cases for the row reductions rms_norm, layer_norm and softmax: widths below, at and above the
// workgroup size, mixed dtypes of x and weights, symbolic rows, and the shared-memory reductions.
#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq");

struct Rows {
  const char* label;
  DType x, w;
  ir::Shape shape;
  std::vector<ir::SymbolBindings> runs;
  bool subgroup_arithmetic = true;
};

std::vector<Rows> row_layouts() {
  return {
      {"f32_seq_x7", DType::F32, DType::F32, {kSeq, Dim::of(7)}, {{{"seq", 1}}, {{"seq", 5}}, {{"seq", 2}}}},
      {"f16_bf16w_seq_x257", DType::F16, DType::BF16, {kSeq, Dim::of(257)}, {{{"seq", 3}}, {{"seq", 1}}}},
      {"bf16_f16w_2x3x64", DType::BF16, DType::F16, {Dim::of(2), Dim::of(3), Dim::of(64)}, {{}}},
      {"f32_single_row_1000", DType::F32, DType::F32, {Dim::of(1000)}, {{}}},
      {"f32_no_subgroup_ops", DType::F32, DType::F32, {kSeq, Dim::of(300)}, {{{"seq", 4}}}, false},
  };
}

std::vector<OpCase> norm_cases() {
  std::vector<OpCase> cases;
  {
    // More constant rows than one grid axis holds (65535): workgroups spill onto y.
    OpCase c;
    c.name = "softmax_f32_70000_rows";
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      b.output(b.softmax(b.input("x", {DType::F32, {Dim::of(70000), Dim::of(2)}})));
    });
    cases.push_back(std::move(c));
  }
  for (const Rows& r : row_layouts()) {
    const Dim width = r.shape.back();
    {
      OpCase c;
      c.name = std::string("rms_norm_") + r.label;
      c.graph = make_graph(c.name, [&](ir::Builder& b) {
        auto x = b.input("x", {r.x, r.shape});
        b.output(b.rms_norm(x, b.weight("w", {r.w, {width}}), 1e-6));
      });
      c.runs = r.runs;
      c.inputs["x"] = uniform(-3.0, 3.0);
      c.subgroup_arithmetic = r.subgroup_arithmetic;
      cases.push_back(std::move(c));
    }
    {
      // Zero-centred weights (Gemma style): w + 1.
      OpCase c;
      c.name = std::string("rms_norm_offset_") + r.label;
      c.graph = make_graph(c.name, [&](ir::Builder& b) {
        auto x = b.input("x", {r.x, r.shape});
        b.output(b.rms_norm(x, b.weight("w", {r.w, {width}}), 1e-5, 1.0));
      });
      c.runs = r.runs;
      c.weights["w"] = uniform(-0.2, 0.2);
      c.subgroup_arithmetic = r.subgroup_arithmetic;
      cases.push_back(std::move(c));
    }
    {
      // Rows far from zero: the variance must not cancel.
      OpCase c;
      c.name = std::string("layer_norm_") + r.label;
      c.graph = make_graph(c.name, [&](ir::Builder& b) {
        auto x = b.input("x", {r.x, r.shape});
        b.output(b.layer_norm(x, b.weight("w", {r.w, {width}}), b.weight("b", {r.w, {width}}), 1e-5));
      });
      c.runs = r.runs;
      c.inputs["x"] = uniform(2.0, 4.0);
      c.subgroup_arithmetic = r.subgroup_arithmetic;
      cases.push_back(std::move(c));
    }
    {
      OpCase c;
      c.name = std::string("softmax_") + r.label;
      c.graph = make_graph(c.name, [&](ir::Builder& b) { b.output(b.softmax(b.input("x", {r.x, r.shape}))); });
      c.runs = r.runs;
      c.inputs["x"] = uniform(-10.0, 10.0);
      c.subgroup_arithmetic = r.subgroup_arithmetic;
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

const int kRegistered = add_cases(norm_cases());

}  // namespace
}  // namespace vkllm::ops_test
