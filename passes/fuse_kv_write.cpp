// fuse-kv-write: the two cache writes of an attention layer, `kv_write(k_cache, rope(k, pos), slots)`
// and `kv_write(v_cache, v, slots)`, become one `kv_write_rope(k_cache, v_cache, k, v, slots, pos)
// {the rope's attributes}` writing both caches in place (ir/README.md "kv_write_rope"): one dispatch
// instead of three (two when k is not roped: then the fused op has no pos and no rope attributes).
// Exact: the fused op's semantics is that composition, roundings included.
//
// The pair is found through the attention that reads both written caches (paged_attention, or
// paged_attention_partial after split-decode-attention): its k_cache operand is a kv_write's
// result, its v_cache operand another's, both with the same slots operand. The rope folds in when
// its result has no other use. The fused op takes the later write's place; it applies only when no
// op between the two writes reads the earlier one's result and no other in-place write lies between
// the first op folded (the rope, or the earlier write) and the later write.
#include <algorithm>

#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {
namespace {

bool reads_attention_caches(const ir::Op& op) {
  return op.kind == ir::OpKind::PagedAttention || op.kind == ir::OpKind::PagedAttentionPartial;
}

// Whether an op strictly between `first` and `last`, other than `except`, writes in place.
bool other_side_effect_between(const ir::Graph& g, size_t first, size_t last, size_t except) {
  for (size_t j = first + 1; j < last; ++j)
    if (j != except && ir::has_side_effects(g.ops[j])) return true;
  return false;
}

// Whether an op strictly between `first` and `last` uses value v.
bool used_between(const ir::Graph& g, size_t first, size_t last, ir::ValueId v) {
  for (size_t j = first + 1; j < last; ++j)
    if (std::find(g.ops[j].inputs.begin(), g.ops[j].inputs.end(), v) != g.ops[j].inputs.end()) return true;
  return false;
}

}  // namespace

void fuse_kv_write(ir::Graph& g) {
  const std::vector<int> uses = use_counts(g);
  std::vector<bool> keep(g.ops.size(), true);
  for (const ir::Op& attention : g.ops) {
    if (!reads_attention_caches(attention)) continue;
    const int k_writer = g.value(attention.inputs[1]).producer, v_writer = g.value(attention.inputs[2]).producer;
    if (k_writer < 0 || v_writer < 0 || k_writer == v_writer) continue;
    const ir::Op &k_write = g.ops[static_cast<size_t>(k_writer)], &v_write = g.ops[static_cast<size_t>(v_writer)];
    if (k_write.kind != ir::OpKind::KvWrite || v_write.kind != ir::OpKind::KvWrite) continue;
    if (k_write.inputs[2] != v_write.inputs[2]) continue;  // different slots
    const auto earlier = static_cast<size_t>(std::min(k_writer, v_writer));
    const auto later = static_cast<size_t>(std::max(k_writer, v_writer));
    if (used_between(g, earlier, later, g.ops[earlier].results[0])) continue;
    if (other_side_effect_between(g, earlier, later, earlier)) continue;

    ir::Op fused{ir::OpKind::KvWriteRope,
                 {k_write.inputs[0], v_write.inputs[0], k_write.inputs[1], v_write.inputs[1], k_write.inputs[2]},
                 {k_write.results[0], v_write.results[0]},
                 {}};
    const int rope = g.value(k_write.inputs[1]).producer;
    if (rope >= 0 && g.ops[static_cast<size_t>(rope)].kind == ir::OpKind::Rope &&
        uses[static_cast<size_t>(k_write.inputs[1])] == 1 &&
        !other_side_effect_between(g, static_cast<size_t>(rope), later, earlier)) {
      const ir::Op& r = g.ops[static_cast<size_t>(rope)];
      fused.inputs[2] = r.inputs[0];
      fused.inputs.push_back(r.inputs[1]);
      fused.attrs = r.attrs;
      keep[static_cast<size_t>(rope)] = false;
    }
    keep[earlier] = false;
    g.ops[later] = std::move(fused);
  }
  remove_ops(g, keep);
}

}  // namespace vkllm::passes
