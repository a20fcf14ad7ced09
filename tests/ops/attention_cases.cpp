// Cases for attention: decode (one query row) and prefill (T > 1 appended to a cache of S rows)
// with S symbolic and rebound per run across several key chunks, GQA, v head dim != q head dim,
// sliding window, softcap, rows without visible keys, f16 / bf16 storage, shared-memory reductions.
#include <cmath>

#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq"), kCtx = Dim::symbol("ctx");

std::vector<OpCase> attention_cases() {
  struct Attention {
    const char* name;
    DType dtype;
    Dim t, s;
    int64_t q_heads, kv_heads, head_dim, value_dim;
    double scale;
    int64_t window;
    double softcap;
    std::vector<ir::SymbolBindings> runs;
    TensorFn positions;
    bool subgroup_arithmetic = true;
  };
  const std::vector<Attention> shapes = {
      {"attention_decode_gqa_f32", DType::F32, Dim::of(1), kCtx, 4, 2, 16, 16, 0.25, 0, 0.0,
       {{{"ctx", 1}}, {{"ctx", 70}}, {{"ctx", 130}}}, trailing_positions("ctx")},
      {"attention_prefill_f16_dv8", DType::F16, kSeq, kCtx, 4, 2, 16, 8, 0.25, 0, 0.0,
       {{{"seq", 5}, {"ctx", 5}}, {{"seq", 3}, {"ctx", 40}}}, trailing_positions("ctx")},
      {"attention_window_softcap_f32", DType::F32, kSeq, kCtx, 2, 1, 16, 16, 1.0, 4, 2.0,
       {{{"seq", 6}, {"ctx", 20}}, {{"seq", 1}, {"ctx", 3}}}, trailing_positions("ctx")},
      // Positions below 0 see no key (zero rows); positions past S see every key.
      {"attention_mha_bf16_odd_dim", DType::BF16, Dim::of(4), Dim::of(10), 3, 3, 33, 33, 1.0 / std::sqrt(33.0), 0,
       0.0, {{}}, integers(-2, 13)},
      // Head dims above the 64 invocations: each invocation owns two output dims.
      {"attention_head_dim_80_f16", DType::F16, kSeq, kCtx, 2, 1, 80, 80, 0.11, 0, 0.0,
       {{{"seq", 2}, {"ctx", 9}}}, trailing_positions("ctx")},
      // Llama-3-8B's heads at a long context: a decode row (1024-invocation workgroup, 32 subgroups
      // of keys) and a prefill chunk (256 invocations).
      {"attention_decode_llama_heads_f16", DType::F16, Dim::of(1), kCtx, 32, 8, 128, 128, 0.088, 0, 0.0,
       {{{"ctx", 3}}, {{"ctx", 700}}}, trailing_positions("ctx")},
      {"attention_prefill_llama_heads_f16", DType::F16, kSeq, kCtx, 32, 8, 128, 128, 0.088, 0, 0.0,
       {{{"seq", 7}, {"ctx", 300}}}, trailing_positions("ctx")},
      {"attention_no_subgroup_ops_f32", DType::F32, kSeq, kCtx, 2, 2, 8, 8, 0.35, 0, 0.0,
       {{{"seq", 2}, {"ctx", 100}}}, trailing_positions("ctx"), false},
  };
  std::vector<OpCase> cases;
  for (const Attention& a : shapes) {
    OpCase c;
    c.name = a.name;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto q = b.input("q", {a.dtype, {a.t, Dim::of(a.q_heads), Dim::of(a.head_dim)}});
      auto k = b.input("k", {a.dtype, {a.s, Dim::of(a.kv_heads), Dim::of(a.head_dim)}});
      auto v = b.input("v", {a.dtype, {a.s, Dim::of(a.kv_heads), Dim::of(a.value_dim)}});
      auto pos = b.input("pos", {DType::I32, {a.t}});
      b.output(b.attention(q, k, v, pos, a.scale, a.window, a.softcap));
    });
    c.runs = a.runs;
    c.inputs["pos"] = a.positions;
    c.subgroup_arithmetic = a.subgroup_arithmetic;
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegistered = add_cases(attention_cases());

}  // namespace
}  // namespace vkllm::ops_test
