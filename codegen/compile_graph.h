// Lowers a graph to the kernels that run it: one dispatch per op for now (fusion passes shrink the
// op count before this runs), views and in-place results as aliases of their operand's storage.
// The runtime executes the result.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "codegen/kernel.h"
#include "codegen/target.h"
#include "ir/ir.h"

namespace vkllm::codegen {

struct Dispatch {
  int op_index = -1;                 // the op of graph.ops this dispatch computes
  Kernel kernel;
  std::vector<ir::ValueId> args;     // values bound to kernel.args[1..] (arg 0 is the step params)
};

struct CompiledGraph {
  ir::Graph graph;
  std::vector<std::string> symbols;  // slot i of the step-params buffer holds symbols[i] (uint32)
  std::vector<Dispatch> dispatches;  // in execution order
  // value -> value that owns its storage: itself, the source of a view, or the operand an in-place op
  // (ir::in_place_writes) wrote. `state` results own theirs: the runtime binds the persistent buffer.
  std::vector<ir::ValueId> storage_of;
  // The bounds kernels were specialized for (compile_graph's max_symbols): running with a larger
  // value of one of these symbols is an error (the runtime checks).
  std::map<std::string, int64_t> max_symbols;
};

// Throws CompileError (codegen/glsl_compiler.h) or ir::IrError naming the op that cannot be lowered.
// `max_symbols` (optional) bounds symbols so kernels may specialize, e.g. a decode graph's few rows
// run the gated_delta_net recurrent kernel instead of the chunked one.
CompiledGraph compile_graph(const ir::Graph& g, const TargetCaps& caps,
                            const std::map<std::string, int64_t>& max_symbols = {});

}  // namespace vkllm::codegen
