// Cases for argmax and top_k: rows shorter and longer than a workgroup, a 32000-entry vocabulary,
// k = 1, k > 1 and k = N, exact ties (the bf16 cases draw from 6 values; the lower index must win), and the
// shared-memory reductions. Selection does no arithmetic, so results must match exactly.
#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq");

// Values on a grid of `levels` steps of 0.5: rows are full of exact ties.
TensorFn coarse_values(int levels) {
  return [levels](DType dtype, const std::vector<int64_t>& shape, const ir::SymbolBindings&, std::mt19937_64& rng) {
    ir::HostTensor t = ir::HostTensor::zeros(dtype, shape);
    std::uniform_int_distribution<int> step(0, levels - 1);
    for (int64_t i = 0; i < t.numel(); ++i) t.set(i, 0.5 * step(rng) - 2.0);
    return t;
  };
}

struct Select {
  const char* name;
  DType dtype;
  ir::Shape shape;
  int64_t k;  // 0: argmax
  std::vector<ir::SymbolBindings> runs;
  bool subgroup_arithmetic = true;
};

std::vector<OpCase> select_cases() {
  const std::vector<Select> selects = {
      {"argmax_f32_seq_x1000", DType::F32, {kSeq, Dim::of(1000)}, 0, {{{"seq", 1}}, {{"seq", 4}}}},
      {"argmax_f16_3x33", DType::F16, {Dim::of(3), Dim::of(33)}, 0, {{}}},
      {"argmax_bf16_ties", DType::BF16, {kSeq, Dim::of(7)}, 0, {{{"seq", 6}}}},
      {"argmax_vocab_32000", DType::F32, {Dim::of(1), Dim::of(32000)}, 0, {{}}},
      {"argmax_no_subgroup_ops", DType::F32, {kSeq, Dim::of(257)}, 0, {{{"seq", 3}}}, false},
      {"top_k_1_f32", DType::F32, {kSeq, Dim::of(100)}, 1, {{{"seq", 2}}, {{"seq", 5}}}},
      {"top_k_5_f16_rows_1000", DType::F16, {Dim::of(3), Dim::of(1000)}, 5, {{}}},
      {"top_k_8_vocab_32000", DType::F32, {Dim::of(1), Dim::of(32000)}, 8, {{}}},
      {"top_k_all_bf16_ties", DType::BF16, {kSeq, Dim::of(33)}, 33, {{{"seq", 2}}}},
      {"top_k_no_subgroup_ops", DType::F32, {Dim::of(2), Dim::of(300)}, 4, {{}}, false},
  };
  std::vector<OpCase> cases;
  for (const Select& s : selects) {
    OpCase c;
    c.name = s.name;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto x = b.input("x", {s.dtype, s.shape});
      if (s.k == 0) {
        b.output(b.argmax(x));
      } else {
        auto [values, indices] = b.top_k(x, s.k);
        b.output(values);
        b.output(indices);
      }
    });
    c.runs = s.runs;
    if (s.dtype == DType::BF16) c.inputs["x"] = coarse_values(6);
    c.exact = true;
    c.subgroup_arithmetic = s.subgroup_arithmetic;
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegistered = add_cases(select_cases());

}  // namespace
}  // namespace vkllm::ops_test
