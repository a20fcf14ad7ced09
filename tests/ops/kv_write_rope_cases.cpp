// Cases for kv_write_rope (passes/fuse_kv_write.cpp): the keys roped and written to k_cache and the
// values to v_cache, in place, one dispatch. Caches are graph inputs (the runtime binds `state`
// ops); the graph returns both written caches, which share the inputs' storage. The v cache must
// match the reference bit for bit (a copy); the k cache within the cache dtype's tolerance (the
// kernel's rope is f32 arithmetic, the reference's f64). Covered: decode rows and prefill chunks of
// several runs on one executor, padding rows (slot -1), scattered slots, positions up to 40000,
// neox and interleaved layouts, partial rotary dims, llama3 and linear scaling, v head dim != k head
// dim, f32 / f16 / bf16 caches, f16 keys (the rope's result rounded to f16 before the cache's
// dtype), Qwen3.5's head dim 256, and the form without rope.
#include <algorithm>
#include <numeric>

#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

struct KvWriteRope {
  const char* name;
  DType cache_dtype, rows_dtype;
  int64_t blocks, block_size, heads, head_dim, value_dim;
  ir::Attrs rope;  // empty: no rope (5 operands)
  std::vector<int64_t> rows;  // rows of each run
};

// Distinct slots of [0, N·B) in a random order, every fourth row padding (-1).
TensorFn scattered_slots(int64_t cache_rows) {
  return [cache_rows](DType, const std::vector<int64_t>& shape, const ir::SymbolBindings&, std::mt19937_64& rng) {
    std::vector<int> order(static_cast<size_t>(cache_rows));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    ir::HostTensor t = ir::HostTensor::zeros(DType::I32, shape);
    for (int64_t i = 0; i < shape[0]; ++i) t.set(i, i % 4 == 3 ? -1 : order[static_cast<size_t>(i)]);
    return t;
  };
}

std::vector<OpCase> kv_write_rope_cases() {
  const ir::Attrs llama3{{"theta", 500000.0},          {"scaling", std::string("llama3")},
                         {"factor", 8.0},              {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},    {"original_max_position", int64_t{8192}}};
  const std::vector<KvWriteRope> shapes = {
      // Llama-3-8B's kv heads, llama3 scaling: decode steps of 1 and 3 rows (one padding).
      {"kv_write_rope_llama_heads_f16", DType::F16, DType::F32, 6, 16, 8, 128, 128, llama3, {1, 4}},
      // A prefill chunk: partial rotary (8 of 32 dims, neox), v head dim 8, bf16 cache, blocks of 5.
      {"kv_write_rope_partial_rotary_bf16_b5_dv8", DType::BF16, DType::F32, 12, 5, 2, 32, 8,
       {{"theta", 10000.0}, {"rotary_dims", int64_t{8}}}, {7, 2}},
      // Interleaved (GPT-J) layout with linear scaling, f32 cache: the roped keys as the f32 rope gives them.
      {"kv_write_rope_interleaved_linear_f32", DType::F32, DType::F32, 4, 8, 3, 16, 16,
       {{"theta", 10000.0}, {"layout", std::string("interleaved")}, {"scaling", std::string("linear")},
        {"factor", 4.0}},
       {5}},
      // f16 keys and values: the rope's result rounds to f16, then to the bf16 cache.
      {"kv_write_rope_f16_rows_bf16_cache", DType::BF16, DType::F16, 4, 16, 2, 64, 64, {{"theta", 1000000.0}}, {3}},
      // Qwen3.5's attention: head dim 256, a quarter of it rotated.
      {"kv_write_rope_qwen35_heads_f16", DType::F16, DType::F32, 4, 16, 4, 256, 256,
       {{"theta", 10000000.0}, {"rotary_dims", int64_t{64}}}, {2}},
      // No rope: both rows copied (bit for bit, keys too).
      {"kv_write_rope_without_rope_f16", DType::F16, DType::F32, 4, 16, 2, 32, 16, {}, {1, 6}},
  };
  std::vector<OpCase> cases;
  for (const KvWriteRope& s : shapes) {
    OpCase c;
    c.name = s.name;
    const Dim t = Dim::symbol("seq"), n = Dim::of(s.blocks), b = Dim::of(s.block_size), h = Dim::of(s.heads);
    const bool rope = !s.rope.empty();
    c.graph = make_graph(c.name, [&](ir::Builder& g) {
      auto k_cache = g.input("k_cache", {s.cache_dtype, {n, b, h, Dim::of(s.head_dim)}});
      auto v_cache = g.input("v_cache", {s.cache_dtype, {n, b, h, Dim::of(s.value_dim)}});
      auto k = g.input("k", {s.rows_dtype, {t, h, Dim::of(s.head_dim)}});
      auto v = g.input("v", {s.rows_dtype, {t, h, Dim::of(s.value_dim)}});
      auto slots = g.input("slots", {DType::I32, {t}});
      auto pos = rope ? g.input("pos", {DType::I32, {t}}) : -1;
      auto [k_written, v_written] = g.kv_write_rope(k_cache, v_cache, k, v, slots, pos, s.rope);
      g.set_name(k_written, "k_cache_written");
      g.set_name(v_written, "v_cache_written");
      g.output(k_written);
      g.output(v_written);
    });
    c.runs.clear();
    for (int64_t rows : s.rows) c.runs.push_back({{"seq", rows}});
    c.inputs["slots"] = scattered_slots(s.blocks * s.block_size);
    c.inputs["pos"] = integers(0, 40000);
    c.exact_outputs = {"v_cache_written"};
    if (!rope) c.exact_outputs.insert("k_cache_written");
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegistered = add_cases(kv_write_rope_cases());

}  // namespace
}  // namespace vkllm::ops_test
