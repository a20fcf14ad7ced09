// Cases for the row reductions rms_norm, layer_norm and softmax: widths below, at and above the
// workgroup size, mixed dtypes of x and weights, symbolic rows, and the shared-memory reductions;
// rms_norm also at model widths, checking which of its kernels ran.
#include <gtest/gtest.h>

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

// Checks that every dispatch's kernel name contains `tag` (the rms_norm variant: "_v4x2" for vec4
// units two per invocation, "_sx5" for scalars, ...) or, with an empty tag, none of the register ones.
std::function<void(codegen::CompiledGraph&, const codegen::TargetCaps&)> expect_rms_kernel(std::string tag) {
  return [tag](codegen::CompiledGraph& cg, const codegen::TargetCaps&) {
    for (const codegen::Dispatch& d : cg.dispatches) {
      if (tag.empty()) {
        EXPECT_EQ(d.kernel.name.find("_v4x"), std::string::npos) << d.kernel.name << " should stream its row";
        EXPECT_EQ(d.kernel.name.find("_sx"), std::string::npos) << d.kernel.name << " should stream its row";
      } else {
        EXPECT_NE(d.kernel.name.find(tag), std::string::npos) << d.kernel.name << " is not a " << tag << " kernel";
      }
    }
  };
}

// rms_norm at model widths (the register kernel: vec4 units when D % 4 == 0, scalars otherwise, the
// streaming loop past 8 units per invocation), every float dtype of x and weights, many rows.
struct RmsRows {
  const char* label;
  DType x, w;
  ir::Shape shape;
  std::vector<ir::SymbolBindings> runs;
  std::string kernel_tag;
  bool subgroup_arithmetic = true;
};

std::vector<RmsRows> rms_layouts() {
  return {
      {"f32_f32w_seq_x4096", DType::F32, DType::F32, {kSeq, Dim::of(4096)}, {{{"seq", 1}}, {{"seq", 3}}}, "_v4x2"},
      {"f32_bf16w_seq_x5120", DType::F32, DType::BF16, {kSeq, Dim::of(5120)}, {{{"seq", 2}}, {{"seq", 1}}}, "_v4x2"},
      {"bf16_f16w_seq_x4096", DType::BF16, DType::F16, {kSeq, Dim::of(4096)}, {{{"seq", 2}}}, "_v4x2"},
      {"f16_f32w_seq_x4096", DType::F16, DType::F32, {kSeq, Dim::of(4096)}, {{{"seq", 2}}}, "_v4x2"},
      // Per-head q/k norms: many short rows.
      {"f32_bf16w_seq_x16_x64", DType::F32, DType::BF16, {kSeq, Dim::of(16), Dim::of(64)}, {{{"seq", 9}}, {{"seq", 2}}}, "_v4x"},
      {"bf16_bf16w_seq_x8_x128", DType::BF16, DType::BF16, {kSeq, Dim::of(8), Dim::of(128)}, {{{"seq", 40}}}, "_v4x"},
      {"f16_f16w_seq_x100", DType::F16, DType::F16, {kSeq, Dim::of(100)}, {{{"seq", 7}}}, "_v4x"},
      {"f32_f16w_seq_x4098", DType::F32, DType::F16, {kSeq, Dim::of(4098)}, {{{"seq", 3}}}, "_sx5"},
      {"bf16_f32w_x9001", DType::BF16, DType::F32, {Dim::of(2), Dim::of(9001)}, {{}}, ""},
      {"f32_f32w_x40000", DType::F32, DType::F32, {Dim::of(40000)}, {{}}, ""},
      {"f32_bf16w_no_subgroup_ops_seq_x4096", DType::F32, DType::BF16, {kSeq, Dim::of(4096)}, {{{"seq", 3}}}, "_v4x2", false},
      {"f16_f32w_no_subgroup_ops_seq_x101", DType::F16, DType::F32, {kSeq, Dim::of(101)}, {{{"seq", 4}}}, "_sx", false},
  };
}

std::vector<OpCase> norm_cases() {
  std::vector<OpCase> cases;
  for (const RmsRows& r : rms_layouts()) {
    const Dim width = r.shape.back();
    for (const bool offset : {false, true}) {
      OpCase c;
      c.name = std::string(offset ? "rms_norm_offset_" : "rms_norm_") + r.label;
      c.graph = make_graph(c.name, [&](ir::Builder& b) {
        auto x = b.input("x", {r.x, r.shape});
        b.output(offset ? b.rms_norm(x, b.weight("w", {r.w, {width}}), 1e-6, 1.0)
                        : b.rms_norm(x, b.weight("w", {r.w, {width}}), 1e-5));
      });
      c.runs = r.runs;
      c.inputs["x"] = uniform(-3.0, 3.0);
      if (offset) c.weights["w"] = uniform(-0.2, 0.2);  // zero-centred (Gemma, Qwen3.5): w + 1
      c.subgroup_arithmetic = r.subgroup_arithmetic;
      c.edit_compiled = expect_rms_kernel(r.kernel_tag);
      cases.push_back(std::move(c));
    }
  }
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
