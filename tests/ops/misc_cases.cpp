// Cases for the data-movement ops: cast (rounding, overflow, subnormals), constant, slice (every
// axis, symbolic dims, quantized blocks), embedding (every table dtype, out-of-range ids), and the
// ops that lower to no dispatch: reshape (a view) and weight (uploaded data).
#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq");

std::vector<OpCase> cast_cases() {
  struct Cast {
    const char* name;
    DType from, to;
    ir::Shape shape;
    std::vector<ir::SymbolBindings> runs;
    double range;  // inputs uniform in [-range, range)
  };
  const std::vector<Cast> casts = {
      {"cast_f32_to_f16", DType::F32, DType::F16, {kSeq, Dim::of(33)}, {{{"seq", 3}}, {{"seq", 8}}}, 4.0},
      // Past 65520 rounds to infinity.
      {"cast_f32_to_f16_overflow", DType::F32, DType::F16, {Dim::of(257)}, {{}}, 80000.0},
      // Below 2^-14 the result is subnormal.
      {"cast_f32_to_f16_subnormal", DType::F32, DType::F16, {Dim::of(257)}, {{}}, 1e-4},
      {"cast_f32_to_bf16", DType::F32, DType::BF16, {kSeq, Dim::of(33)}, {{{"seq", 5}}, {{"seq", 2}}}, 1e5},
      {"cast_f16_to_f32", DType::F16, DType::F32, {Dim::of(7), kSeq}, {{{"seq", 9}}}, 100.0},
      {"cast_bf16_to_f16", DType::BF16, DType::F16, {Dim::of(100)}, {{}}, 1e5},
      {"cast_f16_to_bf16", DType::F16, DType::BF16, {kSeq, Dim::of(2), Dim::of(7)}, {{{"seq", 3}}}, 1000.0},
      {"cast_bf16_to_f32", DType::BF16, DType::F32, {Dim::of(1)}, {{}}, 1.0},
  };
  std::vector<OpCase> cases;
  for (const Cast& k : casts) {
    OpCase c;
    c.name = k.name;
    c.graph = make_graph(c.name, [&](ir::Builder& b) { b.output(b.cast(b.input("x", {k.from, k.shape}), k.to)); });
    c.runs = k.runs;
    c.inputs["x"] = uniform(-k.range, k.range);
    c.exact = true;
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<OpCase> constant_cases() {
  struct Constant {
    const char* name;
    DType dtype;
    ir::Shape shape;
    double value;
    std::vector<ir::SymbolBindings> runs;
  };
  const std::vector<Constant> constants = {
      {"constant_f32_7", DType::F32, {Dim::of(7)}, 2.5, {{}}},
      {"constant_f16_seq_x3", DType::F16, {kSeq, Dim::of(3)}, -1.25, {{{"seq", 4}}, {{"seq", 11}}}},
      {"constant_bf16_rounded", DType::BF16, {Dim::of(33)}, 3.14159265, {{}}},
      {"constant_i32", DType::I32, {Dim::of(5), kSeq}, 7.0, {{{"seq", 2}}}},
      {"constant_f32_negative_infinity", DType::F32, {Dim::of(2), Dim::of(3)}, -INFINITY, {{}}},
  };
  std::vector<OpCase> cases;
  for (const Constant& k : constants) {
    OpCase c;
    c.name = k.name;
    c.graph = make_graph(c.name, [&](ir::Builder& b) { b.output(b.constant(k.value, {k.dtype, k.shape})); });
    c.runs = k.runs;
    c.exact = true;
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<OpCase> slice_cases() {
  struct Slice {
    const char* name;
    DType dtype;
    ir::Shape shape;
    int64_t axis, start, size;
    std::vector<ir::SymbolBindings> runs;
  };
  const std::vector<Slice> slices = {
      {"slice_f32_last_axis", DType::F32, {kSeq, Dim::of(40)}, 1, 3, 20, {{{"seq", 1}}, {{"seq", 6}}}},
      {"slice_f16_first_axis", DType::F16, {Dim::of(4), kSeq, Dim::of(6)}, 0, 1, 2, {{{"seq", 3}}, {{"seq", 5}}}},
      {"slice_bf16_middle_axis_one", DType::BF16, {kSeq, Dim::of(5), Dim::of(9)}, 1, 4, 1, {{{"seq", 2}}}},
      {"slice_f32_symbolic_axis", DType::F32, {kSeq, Dim::of(8)}, 0, 1, 2, {{{"seq", 3}}, {{"seq", 9}}}},
      {"slice_i32", DType::I32, {Dim::of(3), Dim::of(10)}, 1, 7, 3, {{}}},
  };
  std::vector<OpCase> cases;
  for (const Slice& s : slices) {
    OpCase c;
    c.name = s.name;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      b.output(b.slice(b.input("x", {s.dtype, s.shape}), s.axis, s.start, s.size));
    });
    c.runs = s.runs;
    if (s.dtype == DType::I32) c.inputs["x"] = integers(-1000, 1000);
    c.exact = true;
    cases.push_back(std::move(c));
  }
  // Quantized weights are sliced as whole blocks: rows of a q8_0 matrix, a block range of a q4_0 row.
  for (auto [dtype, axis, start, size] : {std::tuple{DType::Q8_0, 0, 1, 2}, std::tuple{DType::Q4_0, 1, 32, 64}}) {
    OpCase c;
    c.name = std::string("slice_") + std::string(ir::name(dtype)) + "_axis" + std::to_string(axis);
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      b.output(b.slice(b.weight("w", {dtype, {Dim::of(4), Dim::of(128)}}), axis, start, size));
    });
    c.exact = true;
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<OpCase> embedding_cases() {
  struct Embedding {
    const char* name;
    DType table;
    int64_t vocab, dim;
    ir::Shape ids;
    std::vector<ir::SymbolBindings> runs;
  };
  const std::vector<Embedding> tables = {
      {"embedding_f32", DType::F32, 50, 33, {kSeq}, {{{"seq", 1}}, {{"seq", 9}}}},
      {"embedding_f16", DType::F16, 100, 64, {kSeq}, {{{"seq", 4}}}},
      {"embedding_bf16", DType::BF16, 1000, 7, {Dim::of(2), kSeq}, {{{"seq", 3}}, {{"seq", 1}}}},
      {"embedding_q8_0", DType::Q8_0, 40, 64, {kSeq}, {{{"seq", 6}}}},
      {"embedding_q4_0", DType::Q4_0, 40, 96, {Dim::of(5)}, {{}}},
  };
  std::vector<OpCase> cases;
  for (const Embedding& e : tables) {
    OpCase c;
    c.name = e.name;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto table = b.weight("table", {e.table, {Dim::of(e.vocab), Dim::of(e.dim)}});
      b.output(b.embedding(table, b.input("ids", {DType::I32, e.ids})));
    });
    c.runs = e.runs;
    // A few ids fall outside [0, vocab) and must give zero rows.
    c.inputs["ids"] = integers(-2, static_cast<int>(e.vocab) + 2);
    c.exact = true;
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<OpCase> view_and_weight_cases() {
  std::vector<OpCase> cases;
  {
    // A reshape of a graph input read back directly, and one consumed by another op.
    OpCase c;
    c.name = "reshape_view_of_input";
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto x = b.input("x", {DType::F16, {kSeq, Dim::of(6)}});
      b.output(b.reshape(x, {kSeq, Dim::of(2), Dim::of(3)}));
    });
    c.runs = {{{"seq", 2}}, {{"seq", 5}}};
    c.exact = true;
    cases.push_back(std::move(c));
  }
  {
    OpCase c;
    c.name = "reshape_between_ops";
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto x = b.input("x", {DType::F32, {kSeq, Dim::of(12)}});
      auto heads = b.reshape(b.scale(x, 3.0), {kSeq, Dim::of(3), Dim::of(4)});
      b.output(b.softmax(heads));
    });
    c.runs = {{{"seq", 3}}, {{"seq", 1}}};
    cases.push_back(std::move(c));
  }
  {
    // A weight read back as an output, and through a reshape.
    OpCase c;
    c.name = "weight_upload";
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto w = b.weight("w", {DType::BF16, {Dim::of(4), Dim::of(33)}});
      b.output(w);
      b.output(b.reshape(w, {Dim::of(2), Dim::of(66)}));
    });
    c.exact = true;
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegistered = add_cases(cast_cases()) + add_cases(constant_cases()) + add_cases(slice_cases()) +
                        add_cases(embedding_cases()) + add_cases(view_and_weight_cases());

}  // namespace
}  // namespace vkllm::ops_test
