// Type rules of every op, and the graph verifier built on them. The builder infers result types
// with the same rules, so what it builds always verifies.
#pragma once
#include <vector>

#include "ir/ir.h"

namespace vkllm::ir {

// Result types of `kind` applied to operands of `inputs` types with `attrs`. Ops whose result type
// is not derivable (weight, constant, cast, reshape) take it from `declared` and check it.
// Throws IrError naming the op, the operand and the rule broken.
std::vector<Type> infer_result_types(OpKind kind, const std::vector<Type>& inputs, const Attrs& attrs,
                                     const std::vector<Type>& declared);

// Checks SSA form (defined before use, one definition, unique names), op arity and every type rule.
void verify(const Graph& g);
void verify(const Module& m);

}  // namespace vkllm::ir
