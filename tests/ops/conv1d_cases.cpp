// Cases for conv1d: one row (decode), T rows with T symbolic, mixed dtypes, SiLU or none, and two
// calls chained through the state. The paged form's cases share their slot patterns with
// gated_delta_net's and live in gated_delta_net_cases.cpp.
#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq");

std::vector<OpCase> conv1d_cases() {
  std::vector<OpCase> cases;
  struct Conv {
    const char* name;
    DType x, w, state;
    Dim t;
    int64_t channels, taps;
    bool silu;
    std::vector<ir::SymbolBindings> runs;
  };
  const std::vector<Conv> convs = {
      {"conv1d_decode_silu_f32", DType::F32, DType::F32, DType::F32, Dim::of(1), 33, 4, true, {{}}},
      {"conv1d_rows_f16_bf16w", DType::F16, DType::BF16, DType::F32, kSeq, 64, 4, false,
       {{{"seq", 1}}, {{"seq", 7}}, {{"seq", 2}}}},
      {"conv1d_rows_bf16_k2_silu", DType::BF16, DType::F32, DType::BF16, kSeq, 300, 2, true, {{{"seq", 5}}}},
  };
  for (const Conv& k : convs) {
    OpCase c;
    c.name = k.name;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto x = b.input("x", {k.x, {k.t, Dim::of(k.channels)}});
      auto state = b.input("state", {k.state, {Dim::of(k.taps - 1), Dim::of(k.channels)}});
      auto [y, new_state] = b.conv1d(x, b.weight("w", {k.w, {Dim::of(k.channels), Dim::of(k.taps)}}), state, k.silu);
      b.output(y);
      b.output(new_state);
    });
    c.runs = k.runs;
    cases.push_back(std::move(c));
  }
  {
    // The second call reads the state the first one wrote, with fewer rows than K - 1.
    OpCase c;
    c.name = "conv1d_chained_state";
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto w = b.weight("w", {DType::F32, {Dim::of(7), Dim::of(4)}});
      auto state = b.input("state", {DType::F32, {Dim::of(3), Dim::of(7)}});
      auto [y1, s1] = b.conv1d(b.input("x1", {DType::F32, {Dim::of(2), Dim::of(7)}}), w, state, true);
      auto [y2, s2] = b.conv1d(b.input("x2", {DType::F32, {kSeq, Dim::of(7)}}), w, s1, true);
      b.output(y1);
      b.output(y2);
      b.output(s2);
    });
    c.runs = {{{"seq", 1}}, {{"seq", 4}}};
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegistered = add_cases(conv1d_cases());

}  // namespace
}  // namespace vkllm::ops_test
