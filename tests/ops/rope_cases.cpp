// Cases for rope: neox and interleaved layouts, partial rotary dims, linear and llama3 frequency
// scaling, f16 / bf16 storage, symbolic row counts and long positions.
#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq");

std::vector<OpCase> rope_cases() {
  struct Rope {
    const char* name;
    DType dtype;
    ir::Shape shape;
    ir::Attrs attrs;
    std::vector<ir::SymbolBindings> runs;
    int max_position;
  };
  const ir::Attrs llama3{{"theta", 500000.0},
                         {"scaling", std::string("llama3")},
                         {"factor", 8.0},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_position", int64_t{8192}}};
  const std::vector<Rope> ropes = {
      {"rope_neox_f32", DType::F32, {kSeq, Dim::of(4), Dim::of(16)}, {{"theta", 10000.0}},
       {{{"seq", 1}}, {{"seq", 6}}}, 2048},
      {"rope_interleaved_f16", DType::F16, {kSeq, Dim::of(3), Dim::of(8)},
       {{"theta", 10000.0}, {"layout", std::string("interleaved")}}, {{{"seq", 5}}, {{"seq", 2}}}, 512},
      {"rope_partial_neox_bf16", DType::BF16, {Dim::of(5), Dim::of(2), Dim::of(24)},
       {{"theta", 1000000.0}, {"rotary_dims", int64_t{8}}}, {{}}, 4096},
      {"rope_partial_interleaved_f32", DType::F32, {kSeq, Dim::of(2), Dim::of(12)},
       {{"theta", 10000.0}, {"rotary_dims", int64_t{6}}, {"layout", std::string("interleaved")}}, {{{"seq", 3}}}, 100},
      {"rope_linear_scaling_f32", DType::F32, {kSeq, Dim::of(2), Dim::of(32)},
       {{"theta", 10000.0}, {"scaling", std::string("linear")}, {"factor", 4.0}}, {{{"seq", 4}}}, 8192},
      // Dh = 64 at theta 5e5 spans all three llama3 regimes (kept, smoothed, divided).
      {"rope_llama3_scaling_f32", DType::F32, {kSeq, Dim::of(2), Dim::of(64)}, llama3, {{{"seq", 3}}, {{"seq", 1}}},
       20000},
      // Positions far beyond 2^16: the angle must not lose its fraction.
      {"rope_long_positions_f32", DType::F32, {kSeq, Dim::of(1), Dim::of(64)}, {{"theta", 10000.0}},
       {{{"seq", 7}}}, 1000000},
  };
  std::vector<OpCase> cases;
  for (const Rope& r : ropes) {
    OpCase c;
    c.name = r.name;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto x = b.input("x", {r.dtype, r.shape});
      b.output(b.rope(x, b.input("pos", {DType::I32, {r.shape[0]}}), r.attrs));
    });
    c.runs = r.runs;
    c.inputs["pos"] = integers(0, r.max_position);
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegistered = add_cases(rope_cases());

}  // namespace
}  // namespace vkllm::ops_test
