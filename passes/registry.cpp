// The one table of passes, and the driver that runs them by name.
#include <fmt/format.h>

#include <stdexcept>

#include "ir/verify.h"
#include "passes/pass.h"

namespace vkllm::passes {
namespace {

// A pass that needs nothing but the graph.
template <void (*Run)(ir::Graph&)>
void graph_only(ir::Graph& g, const SymbolBounds&) {
  Run(g);
}

}  // namespace

const std::vector<Pass>& all_passes() {
  static const std::vector<Pass> table = {
      {"dce", "remove ops none of whose results reaches a graph output", graph_only<eliminate_dead_code>},
      {"dedupe-weights", "merge weight ops with the same name and type; rewire their uses",
       graph_only<dedupe_weights>},
      {"fuse-matmul-add", "fold add(matmul(x, w), r) into the matmul's epilogue (fused_matmul)",
       graph_only<fuse_matmul_add>},
      {"fuse-rms-norm-matmul", "decode steps: fold an rms_norm read only by matmuls into their prologues (fused_matmul)",
       fuse_rms_norm_matmul},
      {"fuse-swiglu-matmul", "decode steps: fold a swiglu read only by matmuls into their prologues (fused_matmul)",
       fuse_swiglu_matmul},
      {"fuse-geglu-matmul", "decode steps: fold a geglu read only by matmuls into their prologues (fused_matmul)",
       fuse_geglu_matmul},
      {"fuse-glu-pair",
       "decode steps: swiglu/geglu of the gate and up projections of one x -> one multi_matmul {combine}",
       fuse_glu_pair},
      {"merge-sibling-matmuls",
       "decode steps: 2-4 projections of one x (same prologue, weight dtype) -> one multi_matmul with their results",
       merge_sibling_matmuls},
      {"split-decode-attention",
       "split the keys of paged_attention over a few rows (decode, by the row bounds) across workgroups: "
       "paged_attention_partial + attention_combine",
       split_decode_attention},
      {"split-decode-sample",
       "split the vocabulary of sample over a few rows (decode, by the row bounds) across workgroups: "
       "sample_partial + sample_finish",
       split_decode_sample},
      {"fuse-kv-write",
       "fold an attention layer's two kv_writes (same slots) and the rope of its keys into one kv_write_rope",
       graph_only<fuse_kv_write>},
      {"fuse-attention-rope",
       "fold the rope of a split attention's query (paged_attention_partial, decode) into the partial kernel",
       graph_only<fuse_attention_rope>},
      {"fuse-attention-combine",
       "decode steps: attention_combine(paged_attention_partial) -> paged_attention_split, whose last "
       "workgroup per (row, head) merges the splits (counters in a state)",
       fuse_attention_combine},
      {"fuse-gdn-decode",
       "decode steps: a Gated DeltaNet layer's conv1d, gates, gated_delta_net and gated norm -> one "
       "fused_gated_delta_net",
       fuse_gdn_decode},
  };
  return table;
}

const Pass& get_pass(std::string_view name) {
  std::string known;
  for (const Pass& p : all_passes()) {
    if (p.name == name) return p;
    known += fmt::format("{}{}", known.empty() ? "" : ", ", p.name);
  }
  throw std::invalid_argument(fmt::format("unknown pass '{}'; known passes: {}", name, known));
}

void run_passes(ir::Module& m, const std::vector<std::string>& names,
                const std::function<void(std::string_view pass, const ir::Module&)>& after_each,
                const SymbolBounds& bounds) {
  std::vector<const Pass*> selected;
  for (const std::string& n : names) selected.push_back(&get_pass(n));  // all names checked before any runs
  for (const Pass* p : selected) {
    for (ir::Graph& g : m.graphs) p->run(g, bounds);
    try {
      ir::verify(m);
    } catch (const ir::IrError& e) {
      throw ir::IrError(fmt::format("pass '{}' produced invalid IR: {}", p->name, e.what()));
    }
    if (after_each) after_each(p->name, m);
  }
}

}  // namespace vkllm::passes
