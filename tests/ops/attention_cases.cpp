// Cases for attention: decode (one query row) and prefill (T > 1 appended to a cache of S rows)
// with S symbolic and rebound per run across several key chunks, GQA, v head dim != q head dim,
// sliding window, softcap, rows without visible keys, f16 / bf16 storage, shared-memory reductions.
// Split attention (paged_attention_partial, then attention_combine, beside paged_attention on the
// same cache): decode rows of sequences of different lengths (contexts that are not a multiple of
// the run length, splits left empty, one-key contexts), GQA 1, 3, 4 and 8, head dims 64, 128 and 256
// (and odd ones that do not split evenly over a subgroup), f16 / bf16 / f32 caches, a window with
// the blocks before it freed, softcap, padding rows and rows of unknown sequences, shared-memory
// reductions; and with the query's rope folded into the partial (neox / interleaved, partial rotary,
// llama3 / linear scaling), beside paged_attention over rope(q, pos); rows whose contexts fill
// exactly one split, a few, all of them, or need runs of several granules (the kernels' busy-split
// count), up to the most splits (64), and runs of many subgroup steps each. Each case also as
// paged_attention_split (`*_combined`: the splits merged by the last of the splits holding keys,
// three times in a row on the same counters, which must be back at zero). And the split kernels at the models' decode shapes compile for every
// device profile.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string_view>

#include "codegen/profiles.h"
#include "tests/ops/op_harness.h"
#include "tests/ops/paged_rows.h"

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

// ---- Split attention over a paged cache ---------------------------------------------------------

// A query row: its sequence and position. Padding rows have position -1; so do rows of an unknown
// sequence (a sequence id past the block table), which no kernel may look up.
using SplitRow = PagedRow;

struct Split {
  const char* name;
  DType cache_dtype;
  int64_t block_size, q_heads, kv_heads, head_dim, value_dim;
  double scale;
  int64_t window;
  double softcap;
  int64_t splits, granule;
  int64_t sequences;                         // rows of the block table
  std::vector<std::vector<SplitRow>> runs;  // one executor run each, each with its own row count
  bool subgroup_arithmetic = true;
  ir::Attrs rope = {};  // rope attributes folded into the partial (q roped at pos); the direct
                        // paged_attention then reads rope(q, pos)
};

int first_visible_of(const Split& c, int p) {
  return c.window > 0 ? std::max<int>(0, p - static_cast<int>(c.window) + 1) : 0;
}

// "attn.heads=1,attn.rolled=1" -> "heads1_rolled1" (a GoogleTest-safe name part).
std::string tuned_suffix(std::string overrides) {
  std::string out;
  for (char ch : overrides)
    if (std::isalnum(static_cast<unsigned char>(ch))) out += ch;
    else if (ch == ',') out += '_';
  for (const char* kind : {"attn"})
    for (size_t at; (at = out.find(kind)) != std::string::npos;) out.erase(at, std::string(kind).size());
  return out;
}

std::vector<OpCase> split_cases() {
  const std::vector<Split> shapes = {
      // Llama-3-8B's heads (GQA 4, head dim 128): contexts of 700 (runs of 96 keys: the last one
      // short), 45 (2 of 8 splits used) and 1 key, a padding row; then the next step with a row of
      // an unknown sequence.
      {"split_decode_llama_heads_f16_b16", DType::F16, 16, 32, 8, 128, 128, 0.088, 0, 0.0, 8, 32, 3,
       {{{0, 699}, {1, 44}, {2, 0}, {-1, -1}}, {{0, 700}, {1, 45}, {9, -1}}}},
      // GQA 8, head dim 64, bf16, blocks of 5: 131 keys in runs of 48 (the fourth split empty).
      {"split_decode_gqa8_d64_bf16_b5", DType::BF16, 5, 16, 2, 64, 64, 0.125, 0, 0.0, 4, 16, 2,
       {{{0, 130}, {1, 36}, {-1, -1}}, {{0, 131}, {1, 37}}}},
      // No GQA, head dim 256.
      {"split_decode_mha_d256_f16_b16", DType::F16, 16, 2, 2, 256, 256, 0.0625, 0, 0.0, 16, 8, 2,
       {{{0, 300}, {1, 16}}}},
      // Qwen3.5-9B's attention heads: GQA 4, head dim 256.
      {"split_decode_qwen35_heads_f16_b16", DType::F16, 16, 16, 4, 256, 256, 0.0625, 0, 0.0, 8, 32, 1,
       {{{0, 260}}}},
      // Sliding window (the blocks before it freed) and softcap, f32 cache, v head dim != q head dim;
      // consecutive rows of one sequence (a verify step) beside a short sequence.
      {"split_window_softcap_f32_b4", DType::F32, 4, 4, 2, 32, 16, 0.3, 20, 2.0, 4, 4, 2,
       {{{0, 48}, {0, 49}, {0, 50}, {1, 7}}}},
      // Small bf16 heads: lanes load their key slices in 8-byte and their value slices in 4-byte
      // units when the subgroup has 8 lanes (16-byte units above).
      {"split_small_heads_bf16_b16", DType::BF16, 16, 4, 2, 32, 16, 0.25, 0, 0.0, 4, 8, 1, {{{0, 90}}}},
      // Head dims that do not split evenly over a subgroup; 3 query heads per kv head.
      {"split_odd_dims_f16_b8", DType::F16, 8, 3, 1, 20, 12, 0.2, 0, 0.0, 3, 5, 1, {{{0, 40}, {-1, -1}}}},
      // Without subgroup arithmetic (one workgroup per row, head and split), with window and softcap.
      {"split_no_subgroup_ops_f16_b16", DType::F16, 16, 8, 2, 64, 64, 0.125, 40, 5.0, 4, 16, 2,
       {{{0, 150}, {1, 3}, {-1, -1}}}, false},
      // The query's rope folded in (passes/fuse_attention_rope.cpp): Llama-3's llama3 scaling on its
      // heads, with a padding row (its rope at position -1 is never used).
      {"split_rope_llama_heads_f16_b16", DType::F16, 16, 32, 8, 128, 128, 0.088, 0, 0.0, 8, 32, 2,
       {{{0, 300}, {1, 20}, {-1, -1}}}, true,
       {{"theta", 500000.0}, {"scaling", std::string("llama3")}, {"factor", 8.0}, {"low_freq_factor", 1.0},
        {"high_freq_factor", 4.0}, {"original_max_position", int64_t{8192}}}},
      // Qwen3.5: head dim 256 with a quarter of it rotated (neox), GQA 4.
      {"split_rope_qwen35_partial_rotary_f16_b16", DType::F16, 16, 16, 4, 256, 256, 0.0625, 0, 0.0, 8, 32, 1,
       {{{0, 260}}}, true, {{"theta", 10000000.0}, {"rotary_dims", int64_t{64}}}},
      // Interleaved layout, odd dims, window and softcap; and the generic kernel (no subgroup ops).
      {"split_rope_interleaved_window_softcap_f32_b4", DType::F32, 4, 4, 2, 32, 16, 0.3, 20, 2.0, 4, 4, 2,
       {{{0, 48}, {0, 49}, {1, 7}}}, true,
       {{"theta", 10000.0}, {"layout", std::string("interleaved")}, {"rotary_dims", int64_t{16}}}},
      {"split_rope_no_subgroup_ops_bf16_b16", DType::BF16, 16, 8, 2, 64, 64, 0.125, 0, 0.0, 4, 16, 2,
       {{{0, 150}, {1, 3}}}, false, {{"theta", 10000.0}, {"scaling", std::string("linear")}, {"factor", 2.0}}},
      // Only the splits holding keys take part in the merge (8 splits, granule 4): contexts of 1 and
      // 4 keys (one split: its own merge is the output), 5 (two), 32 (all eight), 41 and 101 (runs of
      // 8 and 16: several steps per subgroup, the last split short or empty) and a padding row; the
      // next step one key longer (33: five splits of 8); then a step of empty rows only. GQA 2.
      {"split_busy_counts_f16_b4", DType::F16, 4, 8, 4, 32, 32, 0.18, 0, 0.0, 8, 4, 6,
       {{{0, 0}, {1, 3}, {2, 4}, {3, 31}, {4, 100}, {5, 40}, {-1, -1}},
        {{0, 1}, {1, 4}, {2, 5}, {3, 32}, {4, 101}},
        {{-1, -1}, {9, -1}}}},
      {"split_busy_counts_no_subgroup_ops_f32_b4", DType::F32, 4, 4, 2, 16, 16, 0.3, 0, 0.0, 8, 4, 4,
       {{{0, 0}, {1, 4}, {2, 31}, {3, 100}, {-1, -1}}, {{-1, -1}, {9, -1}}}, false},
      // The most splits (64) and a long context: several splits per lane for the merge weights and
      // several batches of value loads; one block of 8 heads (GQA 8), and no GQA.
      {"split_many_splits_gqa8_f16_b8", DType::F16, 8, 8, 1, 16, 16, 0.25, 0, 0.0, 64, 2, 2,
       {{{0, 200}, {1, 60}}}},
      {"split_many_splits_mha_f32_b8", DType::F32, 8, 2, 2, 16, 16, 0.25, 0, 0.0, 64, 2, 2,
       {{{0, 130}, {1, 5}, {-1, -1}}}},
      // A window shorter than the context (24 keys: six runs of 4) and a context inside it, two rows
      // of one sequence.
      {"split_window_busy_bf16_b4", DType::BF16, 4, 4, 1, 32, 32, 0.2, 24, 0.0, 8, 4, 2,
       {{{0, 50}, {1, 10}, {0, 51}}}},
      // Runs far longer than a workgroup step (a key per lane: SG keys per subgroup step), so each
      // subgroup takes several steps, the last one partial: context lengths that are no multiple
      // of anything (odd ones, 1 to 303 keys), runs of 1 to 4 rows. GQA 4, 8 (with a window and
      // softcap) and 1 (odd dims: key rows read as 8-byte units, value slices strided over lanes).
      {"split_long_runs_gqa4_f16_b16", DType::F16, 16, 8, 2, 64, 64, 0.125, 0, 0.0, 2, 8, 3,
       {{{0, 300}, {1, 77}, {2, 4}, {-1, -1}}, {{0, 301}}, {{1, 78}, {2, 0}}, {{0, 302}, {1, 79}, {2, 5}}}},
      {"split_long_runs_gqa8_window_softcap_bf16_b8", DType::BF16, 8, 8, 1, 32, 32, 0.2, 100, 3.0, 2, 8, 2,
       {{{0, 250}, {1, 40}}, {{0, 251}}}},
      {"split_long_runs_mha_odd_dims_f16_b4", DType::F16, 4, 2, 2, 20, 12, 0.2, 0, 0.0, 3, 5, 2,
       {{{0, 222}, {1, 1}}}},
  };
  std::vector<OpCase> cases;
  for (const Split& p : shapes) {
    const PagedTable table = scattered_block_table(
        p.name, p.runs, p.sequences, p.block_size, [&](int pos) { return first_visible_of(p, pos); },
        /*skip_unknown=*/false, /*spare=*/2, /*seed=*/99);
    OpCase c;
    c.name = p.name;
    const Dim t = Dim::symbol("seq"), n = Dim::of(table.blocks), b = Dim::of(p.block_size);
    const Dim hq = Dim::of(p.q_heads), hkv = Dim::of(p.kv_heads), d = Dim::of(p.head_dim), dv = Dim::of(p.value_dim);
    // The operands both graphs declare (q, k_cache, v_cache, block_table, row_seq, pos); the split attributes.
    const auto declare_operands = [&](ir::Builder& g) {
      return std::vector<ir::ValueId>{
          g.input("q", {DType::F32, {t, hq, d}}), g.input("k_cache", {p.cache_dtype, {n, b, hkv, d}}),
          g.input("v_cache", {p.cache_dtype, {n, b, hkv, dv}}),
          g.input("block_table", {DType::I32, {Dim::of(p.sequences), Dim::of(table.width)}}),
          g.input("row_seq", {DType::I32, {t}}), g.input("pos", {DType::I32, {t}})};
    };
    ir::Attrs attrs{{"scale", p.scale}, {"splits", p.splits}, {"granule", p.granule}};
    if (p.window) attrs["window"] = p.window;
    if (p.softcap > 0) attrs["softcap"] = p.softcap;
    for (const auto& [key, value] : p.rope) attrs[key] = value;
    c.graph = make_graph(c.name, [&](ir::Builder& g) {
      const std::vector<ir::ValueId> operands = declare_operands(g);
      const ir::ValueId q = operands[0], k_cache = operands[1], v_cache = operands[2], block_table = operands[3],
                        row_seq = operands[4], pos = operands[5];
      auto partials = g.emit(ir::OpKind::PagedAttentionPartial, operands, attrs)[0];
      auto out = g.attention_combine(partials);
      auto q_direct = p.rope.empty() ? q : g.rope(q, pos, p.rope);
      auto direct =
          g.paged_attention(q_direct, k_cache, v_cache, block_table, row_seq, pos, p.scale, p.window, p.softcap);
      g.set_name(partials, "partials");
      g.set_name(out, "out");
      g.set_name(direct, "direct");
      g.output(partials);
      g.output(out);
      g.output(direct);
    });
    c.runs.clear();
    for (const std::vector<SplitRow>& run : p.runs) c.runs.push_back({{"seq", static_cast<int64_t>(run.size())}});
    c.inputs["block_table"] = block_table_input(table.ids);
    c.inputs["row_seq"] = per_row_field(p.name, p.runs, [](const PagedRow& r) { return r.seq; });
    c.inputs["pos"] = per_row_field(p.name, p.runs, [](const PagedRow& r) { return r.pos; });
    c.subgroup_arithmetic = p.subgroup_arithmetic;
    int64_t most_rows = 0;
    for (const ir::SymbolBindings& run : c.runs) most_rows = std::max(most_rows, run.at("seq"));
    c.max_symbols = {{"seq", most_rows}};  // as the engine compiles decode graphs

    // paged_attention_split (fuse-attention-combine): the same attention with the splits merged by
    // their last workgroup; three in a row on the same counters (each reads the one before's
    // counters': a counter left non-zero breaks the next one's merge), zeros again at the end; the
    // entries as the partial's.
    OpCase fused = c;
    fused.name = std::string(p.name) + "_combined";
    fused.graph = make_graph(fused.name, [&](ir::Builder& g) {
      const std::vector<ir::ValueId> operands = declare_operands(g);
      // Each split op reads the counters the one before left (the first: the input).
      const auto split_after = [&](ir::ValueId counters) {
        std::vector<ir::ValueId> in = operands;
        in.push_back(counters);
        return g.emit(ir::OpKind::PagedAttentionSplit, in, attrs);
      };
      std::vector<ir::ValueId> first = split_after(g.input("counters", {DType::I32, {Dim::of(most_rows), hq}}));
      std::vector<ir::ValueId> second = split_after(first[2]);
      std::vector<ir::ValueId> third = split_after(second[2]);
      g.set_name(first[0], "out");
      g.set_name(first[1], "partials");
      g.set_name(second[0], "out_again");
      g.set_name(third[0], "out_third");
      g.set_name(third[2], "counters_after");
      for (ir::ValueId v : {first[0], first[1], second[0], third[0], third[2]}) g.output(v);
    });
    fused.inputs["counters"] = [](DType, const std::vector<int64_t>& shape, const ir::SymbolBindings&,
                                  std::mt19937_64&) { return ir::HostTensor::zeros(DType::I32, shape); };
    fused.exact_outputs = {"counters_after"};
    // The attention tuning knobs (codegen/target.h AttentionTuning) on the subgroup kernel, for three
    // shapes (Llama's heads with rope, every busy-split count, dims uneven over a subgroup): fewer
    // heads per workgroup, fewer subgroups, the rolled output phase; the kernel names must show them.
    const std::string_view shape_name = p.name;
    if (shape_name == "split_rope_llama_heads_f16_b16" || shape_name == "split_busy_counts_f16_b4" ||
        shape_name == "split_odd_dims_f16_b8") {
      for (const char* overrides : {"attn.rolled=1", "attn.heads=1,attn.subgroups=2,attn.rolled=1", "attn.subgroups=1"}) {
        OpCase tuned = fused;
        tuned.name = fmt::format("{}_{}", fused.name, tuned_suffix(overrides));
        tuned.edit_compiled = [graph = tuned.graph, max_symbols = c.max_symbols, overrides = std::string(overrides)](
                                  codegen::CompiledGraph& cg, const codegen::TargetCaps& caps) {
          codegen::TargetCaps with = caps;
          codegen::apply_tuning_overrides(with, overrides);
          cg = codegen::compile_graph(graph, with, max_symbols);
          for (const codegen::Dispatch& d : cg.dispatches) {
            const std::string& name = d.kernel.name;
            if (name.find("_kl") == std::string::npos) continue;  // the shape does not take the subgroup kernel
            EXPECT_EQ(name.find("_rolled") != std::string::npos, with.attention.rolled) << name;
            EXPECT_NE(name.find(fmt::format("x{}_", with.attention.subgroups)), std::string::npos) << name;
            if (with.attention.heads > 0) {
              EXPECT_NE(name.find(fmt::format("_hg{}_", with.attention.heads)), std::string::npos) << name;
            }
          }
        };
        cases.push_back(std::move(tuned));
      }
    }
    cases.push_back(std::move(c));
    cases.push_back(std::move(fused));
  }
  return cases;
}

const int kRegisteredSplit = add_cases(split_cases());

// The split kernels at the models' decode shapes compile for every device profile (the device tests
// above run lavapipe's 8-lane variant only): Llama-3-8B with its rope folded in, Qwen3.5-9B's head
// dim 256 with partial rotary, and a GQA 8 layout; with 32 splits and four rows, as the engine
// compiles them. Where the subgroup kernel applies, one workgroup serves every query head of a kv
// head (HG = the group: the GQA sharing of key and value loads), or as many as the profile's tuning
// allows (NVIDIA: 2).
TEST(SplitAttentionCodegen, ModelShapesCompileForEveryProfile) {
  struct Shape {
    int64_t q_heads, kv_heads, head_dim;
    ir::Attrs rope;
  };
  const std::vector<Shape> shapes = {
      {32, 8, 128, {{"theta", 500000.0}, {"scaling", std::string("llama3")}, {"factor", 8.0},
                    {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0}, {"original_max_position", int64_t{8192}}}},
      {16, 4, 256, {{"theta", 10000000.0}, {"rotary_dims", int64_t{64}}}},
      {32, 4, 128, {}},
  };
  for (const codegen::TargetProfile& profile : codegen::target_profiles()) {
    for (const Shape& s : shapes) {
      SCOPED_TRACE(fmt::format("{}: {} q heads, {} kv heads, head dim {}", profile.name, s.q_heads, s.kv_heads,
                               s.head_dim));
      const Dim rows = Dim::symbol("tokens"), d = Dim::of(s.head_dim);
      const ir::Type cache{DType::F16, {Dim::of(64), Dim::of(16), Dim::of(s.kv_heads), d}};
      const ir::Graph g = make_graph("decode_attention", [&](ir::Builder& b) {
        auto q = b.input("q", {DType::F32, {rows, Dim::of(s.q_heads), d}});
        auto k = b.input("k", cache), v = b.input("v", cache);
        auto table = b.input("table", {DType::I32, {Dim::of(4), Dim::of(64)}});
        auto row_seq = b.input("row_seq", {DType::I32, {rows}}), pos = b.input("pos", {DType::I32, {rows}});
        auto counters = b.input("counters", {DType::I32, {Dim::of(4), Dim::of(s.q_heads)}});
        ir::Attrs attrs{{"scale", 0.1}, {"splits", int64_t{32}}, {"granule", int64_t{32}}};
        for (const auto& [key, value] : s.rope) attrs[key] = value;
        b.output(b.emit(ir::OpKind::PagedAttentionSplit, {q, k, v, table, row_seq, pos, counters}, attrs)[0]);
      });
      const codegen::TargetCaps caps = codegen::target_profile(profile.name);  // with the profile's tuning
      const codegen::CompiledGraph compiled = codegen::compile_graph(g, caps, {{"tokens", 4}});
      ASSERT_EQ(compiled.dispatches.size(), 1u);
      const codegen::Kernel& kernel = compiled.dispatches[0].kernel;
      EXPECT_NE(kernel.glsl.find("combine_when_last"), std::string::npos);
      if (caps.subgroup_arithmetic && caps.subgroup_size_control && caps.subgroup_size >= 32) {
        const int64_t group = s.q_heads / s.kv_heads;
        const int64_t heads = caps.attention.heads > 0 ? std::min<int64_t>(group, caps.attention.heads) : group;
        EXPECT_NE(kernel.name.find(fmt::format("_hg{}_", heads)), std::string::npos) << kernel.name;
      }
    }
  }
}

}  // namespace
}  // namespace vkllm::ops_test
