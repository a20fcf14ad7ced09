// Cases for add, mul (same shape and broadcast), scale and the activations, in f32 / f16 / bf16,
// over symbolic leading dims bound differently per run and odd constant sizes.
#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;
using ir::OpKind;

const Dim kSeq = Dim::symbol("seq");

struct Layout {
  const char* label;
  DType dtype;
  ir::Shape shape;
  std::vector<ir::SymbolBindings> runs;
};

// The same three layouts for every unary and gated op: odd widths, symbolic rows rebound per run.
std::vector<Layout> layouts() {
  return {
      {"f32_seq_x33", DType::F32, {kSeq, Dim::of(33)}, {{{"seq", 1}}, {{"seq", 7}}, {{"seq", 3}}}},
      {"f16_257", DType::F16, {Dim::of(257)}, {{}}},
      {"bf16_seq_x2x7", DType::BF16, {kSeq, Dim::of(2), Dim::of(7)}, {{{"seq", 4}}, {{"seq", 1}}}},
      // Rows wider than one workgroup's 1024 elements: row blocks on x, rows on y.
      {"f32_seq_x1100", DType::F32, {kSeq, Dim::of(1100)}, {{{"seq", 2}}, {{"seq", 3}}}},
  };
}

void add_unary(std::vector<OpCase>& cases, const std::string& name, OpKind kind, const ir::Attrs& attrs,
               double range) {
  for (const Layout& l : layouts()) {
    OpCase c;
    c.name = name + "_" + l.label;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      b.output(b.emit(kind, {b.input("x", {l.dtype, l.shape})}, attrs)[0]);
    });
    c.runs = l.runs;
    c.inputs["x"] = uniform(-range, range);
    cases.push_back(std::move(c));
  }
}

void add_gated(std::vector<OpCase>& cases, const std::string& name, OpKind kind, const ir::Attrs& attrs) {
  for (const Layout& l : layouts()) {
    OpCase c;
    c.name = name + "_" + l.label;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto gate = b.input("gate", {l.dtype, l.shape});
      auto up = b.input("up", {l.dtype, l.shape});
      b.output(b.emit(kind, {gate, up}, attrs)[0]);
    });
    c.runs = l.runs;
    c.inputs["gate"] = uniform(-5.0, 5.0);
    c.inputs["up"] = uniform(-2.0, 2.0);
    cases.push_back(std::move(c));
  }
}

void add_binary(std::vector<OpCase>& cases, const std::string& name, OpKind kind) {
  struct Binary {
    const char* label;
    DType a_dtype, b_dtype;
    ir::Shape a, b;
    std::vector<ir::SymbolBindings> runs;
  };
  const std::vector<Binary> shapes = {
      {"f32_same_shape", DType::F32, DType::F32, {kSeq, Dim::of(33)}, {kSeq, Dim::of(33)},
       {{{"seq", 1}}, {{"seq", 7}}, {{"seq", 3}}}},
      {"f16_bf16_bcast_2x33", DType::F16, DType::BF16, {kSeq, Dim::of(2), Dim::of(33)}, {Dim::of(2), Dim::of(33)},
       {{{"seq", 5}}, {{"seq", 2}}}},
      {"bf16_f32_bcast_row", DType::BF16, DType::F32, {Dim::of(3), Dim::of(257)}, {Dim::of(257)}, {{}}},
      {"f32_bcast_symbolic_suffix", DType::F32, DType::F16, {Dim::of(2), kSeq, Dim::of(5)}, {kSeq, Dim::of(5)},
       {{{"seq", 3}}, {{"seq", 6}}}},
  };
  for (const Binary& s : shapes) {
    OpCase c;
    c.name = name + "_" + s.label;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      b.output(b.emit(kind, {b.input("a", {s.a_dtype, s.a}), b.input("b", {s.b_dtype, s.b})})[0]);
    });
    c.runs = s.runs;
    cases.push_back(std::move(c));
  }
}

std::vector<OpCase> elementwise_cases() {
  std::vector<OpCase> cases;
  add_binary(cases, "add", OpKind::Add);
  add_binary(cases, "mul", OpKind::Mul);
  add_unary(cases, "scale", OpKind::Scale, {{"factor", -0.37}}, 4.0);
  add_unary(cases, "silu", OpKind::Silu, {}, 8.0);
  add_unary(cases, "gelu_erf", OpKind::Gelu, {{"approximate", std::string("none")}}, 6.0);
  add_unary(cases, "gelu_tanh", OpKind::Gelu, {{"approximate", std::string("tanh")}}, 6.0);
  add_unary(cases, "sigmoid", OpKind::Sigmoid, {}, 10.0);
  // Wide enough to reach both tails: softplus(x) ~ e^x far below 0 and ~ x far above.
  add_unary(cases, "softplus", OpKind::Softplus, {}, 30.0);
  add_unary(cases, "exp", OpKind::Exp, {}, 6.0);
  // Inputs well past the cap exercise the saturated region.
  add_unary(cases, "softcap", OpKind::Softcap, {{"cap", 5.0}}, 30.0);
  add_gated(cases, "swiglu", OpKind::SwiGlu, {});
  add_gated(cases, "geglu_erf", OpKind::GeGlu, {{"approximate", std::string("none")}});
  add_gated(cases, "geglu_tanh", OpKind::GeGlu, {{"approximate", std::string("tanh")}});
  return cases;
}

const int kRegistered = add_cases(elementwise_cases());

}  // namespace
}  // namespace vkllm::ops_test
