// fuse-attention-rope: `paged_attention_partial(rope(q, pos), ..., pos)` — the split attention of a
// decode step (passes/split_decode_attention.cpp), reading its query through a rope at its own
// positions — becomes `paged_attention_partial(q, ..., pos) {the rope's attributes}`: the partial
// kernel ropes each query row as it loads it (ir/README.md "split attention"), so the rope of q
// costs no dispatch. Exact: the fused op's semantics is the rope (rounded to q's dtype) followed by
// the partial. Applies when the rope's result has no other use, its positions are the attention's
// pos operand, the partial carries no rope yet, and no op between the two writes the rope's
// operands in place. Run it after split-decode-attention (prefill keeps paged_attention and its rope).
#include <algorithm>

#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {

void fuse_attention_rope(ir::Graph& g) {
  const std::vector<int> uses = use_counts(g);
  std::vector<bool> keep(g.ops.size(), true);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    ir::Op& attention = g.ops[i];
    if (attention.kind != ir::OpKind::PagedAttentionPartial || attention.has("theta")) continue;
    const int producer = g.value(attention.inputs[0]).producer;
    if (producer < 0 || uses[static_cast<size_t>(attention.inputs[0])] != 1) continue;
    const ir::Op& rope = g.ops[static_cast<size_t>(producer)];
    if (rope.kind != ir::OpKind::Rope || rope.inputs[1] != attention.inputs[5]) continue;
    bool overwritten = false;  // an operand of the rope written in place before the attention reads it
    for (size_t j = static_cast<size_t>(producer) + 1; j < i; ++j)
      for (const ir::InPlaceWrite& w : ir::in_place_writes(g.ops[j]))
        overwritten |= std::find(rope.inputs.begin(), rope.inputs.end(),
                                 g.ops[j].inputs[static_cast<size_t>(w.operand)]) != rope.inputs.end();
    if (overwritten) continue;
    attention.inputs[0] = rope.inputs[0];
    for (const auto& [key, value] : rope.attrs) attention.attrs[key] = value;
    keep[static_cast<size_t>(producer)] = false;
  }
  remove_ops(g, keep);
}

}  // namespace vkllm::passes
