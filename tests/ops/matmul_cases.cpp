// Cases for matmul: every weight dtype (f32, f16, bf16, q8_0, q4_0), odd K and N, one row (decode),
// both kernels (row-vector: f32 x with K % 8 == 0 and subgroup ops; general: the rest),
// symbolic row counts rebound per run, rank 1 and rank 3 x, and the shared-memory reductions.
#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq");

std::vector<OpCase> matmul_cases() {
  struct MatMul {
    const char* name;
    DType x, w;
    ir::Shape x_shape;
    int64_t n;
    std::vector<ir::SymbolBindings> runs;
    bool subgroup_arithmetic = true;
  };
  const std::vector<MatMul> shapes = {
      {"matmul_f32_seq_k64_n33", DType::F32, DType::F32, {kSeq, Dim::of(64)}, 33,
       {{{"seq", 1}}, {{"seq", 5}}, {{"seq", 9}}}},
      {"matmul_f16_bf16w_k257_n7", DType::F16, DType::BF16, {kSeq, Dim::of(257)}, 7, {{{"seq", 1}}, {{"seq", 4}}}},
      {"matmul_bf16_f16w_rank3", DType::BF16, DType::F16, {Dim::of(2), kSeq, Dim::of(33)}, 65, {{{"seq", 3}}}},
      {"matmul_f32_rank1_n1", DType::F32, DType::F32, {Dim::of(257)}, 1, {{}}},
      {"matmul_f32_const_rows5", DType::F32, DType::F32, {Dim::of(5), Dim::of(64)}, 40, {{}}},
      {"matmul_f32_q8_0w", DType::F32, DType::Q8_0, {kSeq, Dim::of(96)}, 33, {{{"seq", 1}}, {{"seq", 6}}}},
      {"matmul_f16_q4_0w", DType::F16, DType::Q4_0, {kSeq, Dim::of(64)}, 17, {{{"seq", 2}}}},
      // The row-vector kernel (f32 x, 16-byte weight loads, K % 8 == 0): 1..9 rows, N not a multiple
      // of its 8-row tile, a real model's K.
      {"matmul_rowvec_f32_bf16w_k4096_n37", DType::F32, DType::BF16, {kSeq, Dim::of(4096)}, 37,
       {{{"seq", 1}}, {{"seq", 4}}, {{"seq", 9}}}},
      {"matmul_rowvec_f32_f16w_k136_n9", DType::F32, DType::F16, {kSeq, Dim::of(136)}, 9, {{{"seq", 1}}, {{"seq", 6}}}},
      {"matmul_rowvec_f32_f32w_const_rows3_k8", DType::F32, DType::F32, {Dim::of(3), Dim::of(8)}, 17, {{}}},
      // N >= 8192: two weight rows per subgroup (N not a multiple of the 8-row tile).
      {"matmul_rowvec_f32_bf16w_k16_n8203", DType::F32, DType::BF16, {kSeq, Dim::of(16)}, 8203, {{{"seq", 2}}}},
      {"matmul_f32_no_subgroup_ops", DType::F32, DType::F16, {kSeq, Dim::of(200)}, 9, {{{"seq", 6}}}, false},
      // A 3 x 4 output tile with K = 8: more tile outputs than K, reduced without subgroup ops.
      {"matmul_f32_rows3_k8_no_subgroup_ops", DType::F32, DType::F32, {Dim::of(3), Dim::of(8)}, 5, {{}}, false},
  };
  std::vector<OpCase> cases;
  for (const MatMul& m : shapes) {
    OpCase c;
    c.name = m.name;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto x = b.input("x", {m.x, m.x_shape});
      b.output(b.matmul(x, b.weight("w", {m.w, {Dim::of(m.n), m.x_shape.back()}})));
    });
    c.runs = m.runs;
    c.subgroup_arithmetic = m.subgroup_arithmetic;
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegistered = add_cases(matmul_cases());

}  // namespace
}  // namespace vkllm::ops_test
