// Passes: graph-to-graph rewrites that keep what a graph computes. The table of passes is
// passes/registry.cpp; how to add one: passes/README.md.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ir/ir.h"

namespace vkllm::passes {

// What a pass may know beyond the graph: the largest value each symbol takes when the graph runs
// (what codegen::compile_graph receives as max_symbols; the engine's row bounds). Empty: nothing.
using SymbolBounds = std::map<std::string, int64_t>;

struct Pass {
  std::string_view name, summary;
  void (*run)(ir::Graph&, const SymbolBounds&);
};

// Every pass, in the order of the table in registry.cpp.
const std::vector<Pass>& all_passes();
// The pass called `name`; throws std::invalid_argument listing the known passes if there is none.
const Pass& get_pass(std::string_view name);

// Runs the named passes in order on every graph of `m` (with `bounds`), verifying the module after
// each one and then calling `after_each` (if set). Throws std::invalid_argument, listing the known
// passes, if a name is unknown (before anything runs), and ir::IrError if a pass leaves invalid IR.
void run_passes(ir::Module& m, const std::vector<std::string>& names,
                const std::function<void(std::string_view pass, const ir::Module&)>& after_each = {},
                const SymbolBounds& bounds = {});

// The passes, one per file.
void eliminate_dead_code(ir::Graph& g);  // dead_code.cpp
void dedupe_weights(ir::Graph& g);       // dedupe_weights.cpp
void fuse_matmul_add(ir::Graph& g);      // fuse_matmul_add.cpp
void fuse_rms_norm_matmul(ir::Graph& g, const SymbolBounds& bounds);  // fuse_rms_norm_matmul.cpp
void fuse_swiglu_matmul(ir::Graph& g, const SymbolBounds& bounds);    // fuse_swiglu_matmul.cpp
void fuse_geglu_matmul(ir::Graph& g, const SymbolBounds& bounds);     // fuse_geglu_matmul.cpp
void fuse_glu_pair(ir::Graph& g, const SymbolBounds& bounds);         // fuse_glu_pair.cpp
void merge_sibling_matmuls(ir::Graph& g, const SymbolBounds& bounds); // merge_sibling_matmuls.cpp
void split_decode_attention(ir::Graph& g, const SymbolBounds& bounds);  // split_decode_attention.cpp
void split_decode_sample(ir::Graph& g, const SymbolBounds& bounds);     // split_decode_sample.cpp
void fuse_kv_write(ir::Graph& g);        // fuse_kv_write.cpp
void fuse_attention_rope(ir::Graph& g);  // fuse_attention_rope.cpp
void fuse_attention_combine(ir::Graph& g, const SymbolBounds& bounds);  // fuse_attention_combine.cpp
void fuse_gdn_decode(ir::Graph& g, const SymbolBounds& bounds);         // fuse_gdn_decode.cpp

}  // namespace vkllm::passes
