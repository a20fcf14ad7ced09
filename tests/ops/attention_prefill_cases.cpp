// Cases for the tiled prefill attention kernel (codegen/ops/attention_prefill.cpp), which
// attention and paged_attention take when the row bound exceeds kPrefillAttentionMinRows: every
// case is compiled with such a bound and checks that the kernel was chosen.
// paged_attention: prefill chunks of 1 to 100 rows whose positions follow a filled cache (chunked
// prefill) or start at 0, over block tables with shuffled (non-contiguous) blocks of 4, 5, 8 and 16
// rows; GQA 1, 3, 4 and 8; head dims 20 / 12 (element staging), 100 / 52 (padded lanes), 32, 64, 128 and 256
// (Llama-3-8B's and Qwen3.5-9B's attention heads); f16, bf16 and f32 caches; sliding window (the
// blocks before it freed) with softcap; rows of several sequences interleaved in one chunk
// (several passes in a workgroup), out of position order, padding rows and a row of an unknown
// sequence (padding). attention: symbolic and constant row counts, random positions (padding rows, rows
// past the keys), window and softcap. Queries are drawn wide (|q| < 6) so the softmax is peaked
// and the online rescaling matters. And at the models' shapes the kernel's parameters on the
// H100/H200 profile, the decode bound keeping the old kernel, and SPIR-V for every profile.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>

#include "codegen/profiles.h"
#include "tests/ops/op_harness.h"
#include "tests/ops/paged_rows.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

// Checks that the prefill kernel served the graph's attention op.
void expect_prefill_kernel(codegen::CompiledGraph& compiled, const codegen::TargetCaps&) {
  int found = 0;
  for (const codegen::Dispatch& d : compiled.dispatches)
    if (d.kernel.name.find("attention") != std::string::npos) {
      EXPECT_NE(d.kernel.name.find("_prefill_hl"), std::string::npos) << d.kernel.name;
      ++found;
    }
  EXPECT_EQ(found, 1);
}

// A query row: its sequence and position; padding rows have position -1.
using Row = PagedRow;
const Row kPadding{-1, -1};

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

struct Paged {
  const char* name;
  DType cache_dtype;
  int64_t block_size, q_heads, kv_heads, head_dim, value_dim;
  double scale;
  int64_t window;
  double softcap;
  int64_t sequences;                   // rows of the block table
  std::vector<std::vector<Row>> runs;  // one executor run each; row counts differ between runs
  int64_t row_bound;                   // the graph's max_symbols for the rows
};

int first_visible(const Paged& c, int p) {
  return c.window > 0 ? std::max<int>(0, p - static_cast<int>(c.window) + 1) : 0;
}

std::vector<OpCase> paged_cases() {
  std::vector<Row> mixed = concat({chunk(0, 10, 10), chunk(1, 0, 6), {kPadding}, chunk(2, 30, 11), {{9, -1}},
                                   chunk(0, 20, 5)});
  std::reverse(mixed.begin() + 3, mixed.begin() + 12);  // out of position order, sequences interleaved
  const std::vector<Paged> shapes = {
      // Llama-3-8B's heads (GQA 4, head dim 128): a 37-row chunk over 200 cached keys, a first
      // chunk of 100 rows, one row.
      {"prefill_llama_heads_f16_b16", DType::F16, 16, 32, 8, 128, 128, 0.088, 0, 0.0, 1,
       {chunk(0, 200, 37), chunk(0, 0, 100), chunk(0, 237, 1)}, 128},
      // Qwen3.5-9B's attention heads: GQA 4, head dim 256.
      {"prefill_qwen35_heads_f16_b16", DType::F16, 16, 16, 4, 256, 256, 0.0625, 0, 0.0, 1,
       {chunk(0, 90, 60), chunk(0, 0, 17)}, 64},
      // No GQA, bf16, blocks of 5, a sliding window shorter than the context (blocks before it freed)
      // and softcap; a padding row at the end.
      {"prefill_mha_window_softcap_bf16_b5", DType::BF16, 5, 4, 4, 64, 64, 0.125, 24, 3.0, 1,
       {concat({chunk(0, 40, 50), {kPadding}}), chunk(0, 0, 30)}, 64},
      // GQA 8, f32 cache; two sequences in one chunk.
      {"prefill_gqa8_f32_b8", DType::F32, 8, 16, 2, 64, 64, 0.125, 0, 0.0, 2,
       {concat({chunk(0, 70, 33), chunk(1, 0, 20)})}, 64},
      // Rows of three sequences interleaved, out of position order, a padding row and a row of an
      // unknown sequence (9): each workgroup takes a pass per sequence among its rows. GQA 2.
      {"prefill_mixed_sequences_f16_b4", DType::F16, 4, 4, 2, 32, 32, 0.2, 0, 0.0, 3, {mixed}, 48},
      // GQA 3 and head dims 20 / 12: f16 rows staged element by element.
      {"prefill_odd_dims_gqa3_f16_b8", DType::F16, 8, 3, 1, 20, 12, 0.2, 0, 0.0, 1,
       {chunk(0, 5, 40), chunk(0, 45, 3)}, 40},
      // Head dims 100 / 52 (no GQA): two lanes per query row, rows padded to 104 / 56 dims (zero
      // past the head dim in the staged tiles and in q); f32 rows staged in 16-byte loads.
      {"prefill_padded_lanes_f32_b16", DType::F32, 16, 2, 2, 100, 52, 0.1, 0, 0.0, 1, {chunk(0, 20, 30)}, 32},
  };
  std::vector<OpCase> cases;
  for (const Paged& p : shapes) {
    const PagedTable table = scattered_block_table(
        p.name, p.runs, p.sequences, p.block_size, [&](int pos) { return first_visible(p, pos); },
        /*skip_unknown=*/true, /*spare=*/3, /*seed=*/7);
    OpCase c;
    c.name = p.name;
    const Dim t = Dim::symbol("seq"), n = Dim::of(table.blocks), b = Dim::of(p.block_size);
    const Dim hq = Dim::of(p.q_heads), hkv = Dim::of(p.kv_heads), d = Dim::of(p.head_dim), dv = Dim::of(p.value_dim);
    c.graph = make_graph(c.name, [&](ir::Builder& g) {
      auto q = g.input("q", {DType::F32, {t, hq, d}});
      auto k_cache = g.input("k_cache", {p.cache_dtype, {n, b, hkv, d}});
      auto v_cache = g.input("v_cache", {p.cache_dtype, {n, b, hkv, dv}});
      auto block_table = g.input("block_table", {DType::I32, {Dim::of(p.sequences), Dim::of(table.width)}});
      auto row_seq = g.input("row_seq", {DType::I32, {t}});
      auto pos = g.input("pos", {DType::I32, {t}});
      g.output(g.paged_attention(q, k_cache, v_cache, block_table, row_seq, pos, p.scale, p.window, p.softcap));
    });
    c.runs.clear();
    for (const std::vector<Row>& run : p.runs) c.runs.push_back({{"seq", static_cast<int64_t>(run.size())}});
    c.inputs["block_table"] = block_table_input(table.ids);
    c.inputs["row_seq"] = per_row_field(p.name, p.runs, [](const PagedRow& r) { return r.seq; });
    c.inputs["pos"] = per_row_field(p.name, p.runs, [](const PagedRow& r) { return r.pos; });
    c.inputs["q"] = uniform(-6.0, 6.0);
    c.max_symbols = {{"seq", p.row_bound}};
    c.edit_compiled = expect_prefill_kernel;
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegisteredPaged = add_cases(paged_cases());

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
    int64_t row_bound;
  };
  const Dim seq = Dim::symbol("seq"), ctx = Dim::symbol("ctx");
  const std::vector<Attention> shapes = {
      // Rows appended to a context of ctx keys: a chunk after 60 keys, a whole prompt, one row.
      {"attention_tiled_gqa4_f16", DType::F16, seq, ctx, 8, 2, 64, 64, 0.125, 0, 0.0,
       {{{"seq", 40}, {"ctx", 100}}, {{"seq", 23}, {"ctx", 23}}, {{"seq", 1}, {"ctx", 50}}},
       trailing_positions("ctx"), 64},
      {"attention_tiled_window_softcap_f32", DType::F32, seq, ctx, 4, 1, 32, 16, 0.3, 9, 2.0,
       {{{"seq", 30}, {"ctx", 70}}}, trailing_positions("ctx"), 32},
      // Constant rows at random positions: padding rows (p < 0) and rows past the 24 keys.
      {"attention_tiled_random_positions_bf16", DType::BF16, Dim::of(20), Dim::of(24), 6, 3, 40, 40, 0.15, 0, 0.0,
       {{}}, integers(-3, 30), 20},
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
    c.inputs["q"] = uniform(-6.0, 6.0);
    if (!a.t.is_const()) c.max_symbols = {{"seq", a.row_bound}};
    c.edit_compiled = expect_prefill_kernel;
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegisteredAttention = add_cases(attention_cases());

// The models' prefill shapes on the NVIDIA profile get the parameters the budget atop
// attention_prefill.cpp is written for; a decode bound keeps the per-(row, head) kernel; and the
// kernel compiles (SPIR-V validated) for every profile that takes it.
TEST(PrefillAttentionCodegen, ModelShapesParametersAndProfiles) {
  struct Shape {
    int64_t q_heads, kv_heads, head_dim;
    const char* h100_params;
  };
  const std::vector<Shape> shapes = {
      {32, 8, 128, "_prefill_hl2_ds4_bq16_bk32_kb8_sg32"},  // Llama-3-8B
      {16, 4, 256, "_prefill_hl2_ds8_bq8_bk16_kb8_sg32"},   // Qwen3.5-9B
  };
  for (const codegen::TargetProfile& profile : codegen::target_profiles()) {
    for (const Shape& s : shapes) {
      for (const int64_t bound : {int64_t{256}, int64_t{16}}) {
        SCOPED_TRACE(fmt::format("{}: {} q heads, {} kv heads, head dim {}, {} rows", profile.name, s.q_heads,
                                 s.kv_heads, s.head_dim, bound));
        const Dim rows = Dim::symbol("tokens"), d = Dim::of(s.head_dim);
        const ir::Type cache{DType::F16, {Dim::of(64), Dim::of(16), Dim::of(s.kv_heads), d}};
        const ir::Graph g = make_graph("prefill_attention", [&](ir::Builder& b) {
          auto q = b.input("q", {DType::F32, {rows, Dim::of(s.q_heads), d}});
          auto k = b.input("k", cache), v = b.input("v", cache);
          auto table = b.input("table", {DType::I32, {Dim::of(4), Dim::of(64)}});
          auto row_seq = b.input("row_seq", {DType::I32, {rows}}), pos = b.input("pos", {DType::I32, {rows}});
          b.output(b.paged_attention(q, k, v, table, row_seq, pos, 0.1, 0, 0.0));
        });
        const codegen::CompiledGraph compiled = codegen::compile_graph(g, profile.caps, {{"tokens", bound}});
        ASSERT_EQ(compiled.dispatches.size(), 1u);
        const std::string& name = compiled.dispatches[0].kernel.name;
        const codegen::TargetCaps& caps = profile.caps;
        const bool tiled = bound > 16 && caps.subgroup_arithmetic && caps.subgroup_shuffle && caps.subgroup_size_control;
        EXPECT_EQ(name.find("_prefill_") != std::string::npos, tiled) << name;
        if (tiled && profile.name == "nvidia-h100") {
          EXPECT_NE(name.find(s.h100_params), std::string::npos) << name;
        }
      }
    }
  }
}

}  // namespace
}  // namespace vkllm::ops_test
