// Edits shared by passes. They keep a graph in SSA form with ValueIds numbered densely.
#pragma once
#include <vector>

#include "ir/ir.h"

namespace vkllm::passes {

// Replaces every use (operands and graph outputs) of value v by replacement[v]; values mapped
// to themselves are untouched. replacement must have one entry per value of g.
void rewire_uses(ir::Graph& g, const std::vector<ir::ValueId>& replacement);

// Keeps the ops whose keep flag is set (keep has one entry per op) and every graph input, drops
// the values nothing defines any more and renumbers ValueIds and producers. Throws ir::IrError if
// a kept op or an output still uses a result of a removed op.
void remove_ops(ir::Graph& g, const std::vector<bool>& keep);

}  // namespace vkllm::passes
