// split-decode-attention: `paged_attention` over few rows — a decode step, known from the bound of
// its row dim (SymbolBounds: the engine passes its decode row bound) — becomes
// `attention_combine(paged_attention_partial(...))` (flash decoding, ir/README.md "split
// attention"). A decode step has a handful of rows, so one workgroup per (row, head) leaves most of a
// GPU idle while each walks the whole context; the partial op splits every row's keys into
// `splits` runs, one workgroup per (row, kv head, run), and the combine merges the runs. Exact up to
// rounding: the runs' (max, sum, output) triples are rounded to f32 before they merge.
// Rows without a known bound, or more than kMaxDecodeRows of them (prefill), keep paged_attention.
//
// The split is fixed per op from what the graph says: runs of at least kGranule keys over the most
// keys a row can see (the block table's M·B, or the window), at most enough runs to give each row
// about kTargetWorkgroups workgroups (kv heads x splits), and never more than kMaxSplits. A short
// context fills only its first runs (each run's length follows the row's own context, ir/README.md),
// so the work does not grow with the capacity: the kernel's workgroups of empty runs exit at once
// and its merge reads only the filled runs (codegen/ops/attention.cpp).
#include <algorithm>

#include "ir/verify.h"
#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {
namespace {

constexpr int64_t kGranule = 32;        // keys per run, at least: one step of the split kernel's subgroups
constexpr int64_t kTargetWorkgroups = 256;
constexpr int64_t kMaxSplits = 64;

// The split count for `op` (paged_attention), or 1 when it should stay whole.
int64_t splits_for(const ir::Graph& g, const ir::Op& op, const SymbolBounds& bounds) {
  const int64_t rows = bound_of(g.type(op.inputs[0]).shape[0], bounds);
  if (rows < 0 || rows > kMaxDecodeRows) return 1;
  const ir::Shape& k_cache = g.type(op.inputs[1]).shape;  // [N, B, Hkv, D]
  const ir::Shape& table = g.type(op.inputs[3]).shape;    // [S, M]
  if (!k_cache[1].is_const() || !table[1].is_const()) return 1;
  int64_t keys = k_cache[1].value * table[1].value;
  if (const int64_t window = op.attr_int("window", 0); window > 0) keys = std::min(keys, window);
  const int64_t kv_heads = k_cache[2].value;  // a constant (verifier)
  const int64_t by_keys = (keys + kGranule - 1) / kGranule;
  const int64_t by_device = std::max<int64_t>(1, kTargetWorkgroups / kv_heads);
  return std::min({by_keys, by_device, kMaxSplits});
}

}  // namespace

void split_decode_attention(ir::Graph& g, const SymbolBounds& bounds) {
  split_ops(
      g,
      [&](const ir::Op& op) -> std::optional<ir::Op> {
        const int64_t splits = op.kind == ir::OpKind::PagedAttention ? splits_for(g, op, bounds) : 1;
        if (splits < 2) return std::nullopt;
        ir::Op partial{ir::OpKind::PagedAttentionPartial, op.inputs, {}, op.attrs};
        partial.attrs["splits"] = splits;
        partial.attrs["granule"] = kGranule;
        return partial;
      },
      [](ir::Op& op, ir::ValueId partials) {
        return ir::Op{ir::OpKind::AttentionCombine, {partials}, op.results, {}};
      });
}

}  // namespace vkllm::passes
