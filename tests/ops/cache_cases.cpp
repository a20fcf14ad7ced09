// Cases for the paged KV cache: kv_write into caches given as graph inputs (the runtime binds
// `state` ops; kv_write and paged_attention take any value as their cache), then paged_attention
// over the written caches. The graph returns the attention result and both updated caches, which
// share the input caches' storage and must match the reference bit for bit.
// Covered: decode rows of several sequences, prefill chunks after earlier context, block sizes 1,
// 16 and non-powers of two, block tables with shuffled (non-contiguous) block ids, GQA, head dims
// above the workgroup size, v head dim != q head dim, sliding window (with the blocks before it
// freed: id -1), softcap, f32 / f16 / bf16 caches, padding rows (slot -1, position -1), contexts
// longer than one key chunk, shared-memory reductions.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>

#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

// One query row: its sequence and position. `write`: its key/value row is written at the slot the
// block table gives for that position; otherwise its slot is -1. Padding rows are {-1, -1, false}.
struct Row {
  int seq, pos;
  bool write = true;
};
const Row kPadding{-1, -1, false};

struct Paged {
  const char* name;
  DType cache_dtype, rows_dtype;  // of the caches; of q and the rows written
  int64_t blocks, block_size, table_width, sequences;
  int64_t q_heads, kv_heads, head_dim, value_dim;
  double scale;
  int64_t window;
  double softcap;
  std::vector<std::vector<Row>> runs;  // one executor run each; every run has its own row count
  bool subgroup_arithmetic = true;
};

// First key position visible from position p.
int first_visible(const Paged& c, int p) {
  return c.window > 0 ? std::max<int>(0, p - static_cast<int>(c.window) + 1) : 0;
}

// Block table [S, M]: each sequence gets cache blocks (taken in a fixed shuffled order of all ids,
// so a sequence's blocks are scattered over the cache) for every block a row of any run reads or
// writes; entries no row needs, including blocks wholly before a sliding window, are -1.
std::vector<int> block_table(const Paged& c) {
  // Per sequence: the first position any row sees and the last position any row has.
  std::map<int, std::pair<int, int>> span;
  for (const std::vector<Row>& run : c.runs)
    for (const Row& r : run) {
      if (r.pos < 0) continue;
      auto it = span.emplace(r.seq, std::pair{first_visible(c, r.pos), r.pos}).first;
      it->second = {std::min(it->second.first, first_visible(c, r.pos)), std::max(it->second.second, r.pos)};
    }
  std::vector<int> ids(static_cast<size_t>(c.blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::mt19937_64 rng(1234);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<int> table(static_cast<size_t>(c.sequences * c.table_width), -1);
  size_t next = 0;
  for (const auto& [seq, positions] : span) {
    const int64_t first_block = positions.first / c.block_size, last_block = positions.second / c.block_size;
    if (last_block >= c.table_width) throw std::logic_error(std::string(c.name) + ": a position is past the table");
    for (int64_t j = first_block; j <= last_block; ++j) {
      if (next == ids.size()) throw std::logic_error(std::string(c.name) + ": not enough cache blocks");
      table[static_cast<size_t>(seq * c.table_width + j)] = ids[next++];
    }
  }
  return table;
}

ir::HostTensor i32_tensor(const std::vector<int64_t>& shape, const std::vector<int>& values) {
  ir::HostTensor t = ir::HostTensor::zeros(DType::I32, shape);
  if (t.numel() != static_cast<int64_t>(values.size())) throw std::logic_error("i32_tensor: size mismatch");
  for (size_t i = 0; i < values.size(); ++i) t.set(static_cast<int64_t>(i), values[i]);
  return t;
}

// An i32 input with one entry per row, `field` of each row of the run with that many rows.
TensorFn per_row(const Paged& c, int (*field)(const Paged&, const std::vector<int>& table, const Row&)) {
  const std::vector<int> table = block_table(c);
  return [c, table, field](DType, const std::vector<int64_t>& shape, const ir::SymbolBindings&, std::mt19937_64&) {
    for (const std::vector<Row>& run : c.runs) {
      if (static_cast<int64_t>(run.size()) != shape[0]) continue;
      std::vector<int> values;
      for (const Row& r : run) values.push_back(field(c, table, r));
      return i32_tensor(shape, values);
    }
    throw std::logic_error(std::string(c.name) + ": no run has this many rows");
  };
}

int slot_of(const Paged& c, const std::vector<int>& table, const Row& r) {
  if (!r.write) return -1;
  const int block = table[static_cast<size_t>(r.seq * c.table_width + r.pos / c.block_size)];
  return block * static_cast<int>(c.block_size) + r.pos % static_cast<int>(c.block_size);
}
int seq_of(const Paged&, const std::vector<int>&, const Row& r) { return r.seq; }
int pos_of(const Paged&, const std::vector<int>&, const Row& r) { return r.pos; }

// Rows of `count` consecutive positions of sequence `seq` starting at `from`.
std::vector<Row> chunk(int seq, int from, int count) {
  std::vector<Row> rows;
  for (int p = from; p < from + count; ++p) rows.push_back({seq, p});
  return rows;
}
std::vector<Row> concat(std::initializer_list<std::vector<Row>> parts) {
  std::vector<Row> rows;
  for (const std::vector<Row>& p : parts) rows.insert(rows.end(), p.begin(), p.end());
  return rows;
}

std::vector<OpCase> cache_cases() {
  const std::vector<Paged> shapes = {
      // Decode: one row for each of three sequences, then the next step with a padding row.
      {"paged_decode_three_sequences_f16_b16", DType::F16, DType::F32, 12, 16, 4, 3, 4, 2, 32, 32,
       1 / std::sqrt(32.0), 0, 0.0,
       {{{0, 37}, {1, 5}, {2, 16}}, {{0, 38}, {1, 6}, kPadding, {2, 17}}}},
      // A prefill chunk at positions 12..18 (earlier context already cached) with another
      // sequence's decode row; block size 5, v head dim 8.
      {"paged_prefill_chunk_bf16_b5_dv8", DType::BF16, DType::BF16, 20, 5, 8, 2, 2, 2, 16, 8, 0.25, 0, 0.0,
       {concat({chunk(0, 12, 7), {{1, 30}}})}},
      // Block size 1: every key in its own block. GQA with 4 query heads per kv head, padding rows.
      {"paged_block_size_1_gqa_f16", DType::F16, DType::F16, 48, 1, 32, 2, 8, 2, 16, 16, 0.25, 0, 0.0,
       {concat({chunk(0, 9, 3), {kPadding}, {{1, 20}}, {kPadding}})}},
      // Sliding window over blocks of 4 (blocks before the window are freed) with softcap.
      {"paged_window_softcap_f32_b4", DType::F32, DType::F32, 16, 4, 8, 2, 2, 1, 24, 24, 0.5, 6, 2.0,
       {concat({chunk(0, 10, 5), {{1, 3}}}), {{0, 15}, {1, 4}}}},
      // Contexts longer than one chunk of keys, with the shared-memory reductions; a row that
      // queries without writing (its key is already cached).
      {"paged_long_context_no_subgroup_ops_f16_b16", DType::F16, DType::F32, 24, 16, 12, 2, 2, 1, 16, 16, 0.25, 0,
       0.0, {concat({{{0, 150}}, chunk(1, 70, 3), {{0, 149, false}}})}, false},
      // Head dims above the 64 invocations: each invocation owns two output dims.
      {"paged_head_dim_80_bf16_b8", DType::BF16, DType::F32, 10, 8, 4, 1, 2, 1, 80, 80, 0.11, 0, 0.0,
       {chunk(0, 20, 2)}},
  };
  std::vector<OpCase> cases;
  for (const Paged& p : shapes) {
    OpCase c;
    c.name = p.name;
    const Dim t = Dim::symbol("seq"), n = Dim::of(p.blocks), b = Dim::of(p.block_size);
    const Dim hq = Dim::of(p.q_heads), hkv = Dim::of(p.kv_heads), d = Dim::of(p.head_dim), dv = Dim::of(p.value_dim);
    c.graph = make_graph(c.name, [&](ir::Builder& g) {
      auto q = g.input("q", {p.rows_dtype, {t, hq, d}});
      auto k_rows = g.input("k_rows", {p.rows_dtype, {t, hkv, d}});
      auto v_rows = g.input("v_rows", {p.rows_dtype, {t, hkv, dv}});
      auto slots = g.input("slots", {DType::I32, {t}});
      auto k_cache = g.input("k_cache", {p.cache_dtype, {n, b, hkv, d}});
      auto v_cache = g.input("v_cache", {p.cache_dtype, {n, b, hkv, dv}});
      auto table = g.input("block_table", {DType::I32, {Dim::of(p.sequences), Dim::of(p.table_width)}});
      auto row_seq = g.input("row_seq", {DType::I32, {t}});
      auto pos = g.input("pos", {DType::I32, {t}});
      auto k_written = g.kv_write(k_cache, k_rows, slots);
      auto v_written = g.kv_write(v_cache, v_rows, slots);
      auto out = g.paged_attention(q, k_written, v_written, table, row_seq, pos, p.scale, p.window, p.softcap);
      g.set_name(k_written, "k_cache_written");
      g.set_name(v_written, "v_cache_written");
      g.set_name(out, "out");
      g.output(out);
      g.output(k_written);
      g.output(v_written);
    });
    c.runs.clear();
    for (const std::vector<Row>& run : p.runs) c.runs.push_back({{"seq", static_cast<int64_t>(run.size())}});
    const std::vector<int> table = block_table(p);
    c.inputs["block_table"] = [p, table](DType, const std::vector<int64_t>& shape, const ir::SymbolBindings&,
                                         std::mt19937_64&) { return i32_tensor(shape, table); };
    c.inputs["slots"] = per_row(p, slot_of);
    c.inputs["row_seq"] = per_row(p, seq_of);
    c.inputs["pos"] = per_row(p, pos_of);
    c.exact_outputs = {"k_cache_written", "v_cache_written"};
    c.subgroup_arithmetic = p.subgroup_arithmetic;
    // Compiled for its largest step, as the engine compiles decode graphs: a step of at most 16
    // rows gets the attention kernel's 1024-invocation workgroups.
    int64_t most_rows = 0;
    for (const ir::SymbolBindings& run : c.runs) most_rows = std::max(most_rows, run.at("seq"));
    if (p.subgroup_arithmetic && most_rows <= 16) {
      OpCase bounded = c;
      bounded.name += "_bounded";
      bounded.max_symbols = {{"seq", most_rows}};
      cases.push_back(std::move(bounded));
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegistered = add_cases(cache_cases());

}  // namespace
}  // namespace vkllm::ops_test
