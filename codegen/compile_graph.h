// Lowers a graph to the kernels that run it: one dispatch per op for now (fusion passes shrink the
// op count before this runs), views and in-place results as aliases of their operand's storage.
// The runtime executes the result.
#pragma once
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
  // (ir::aliased_operand) wrote. `state` results own theirs: the runtime binds the persistent buffer.
  std::vector<ir::ValueId> storage_of;
};

// Throws CompileError (codegen/glsl_compiler.h) or ir::IrError naming the op that cannot be lowered.
CompiledGraph compile_graph(const ir::Graph& g, const TargetCaps& caps);

}  // namespace vkllm::codegen
