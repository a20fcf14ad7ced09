// The elementwise kernel shape shared by elementwise.cpp and misc.cpp: one invocation per element of
// the op's first result (grid-stride within a workgroup), the statement specialized per op.
#pragma once
#include <string>
#include <vector>

#include "codegen/ops/emitter.h"

namespace vkllm::codegen::ops {

// `statement` is GLSL run once per element with `uint i` the element's row-major index in the
// first result; it reads operands through ld_<name> and writes through st_<name>. `helpers` is GLSL
// placed before main().
KernelPlan elementwise_plan(const EmitContext& ctx, std::vector<std::string> arg_names, const std::string& statement,
                            const std::string& name_extra = {}, const std::string& helpers = {});
// The same over the elements of `shape` instead of the first result's.
KernelPlan elementwise_plan_over(const EmitContext& ctx, const ir::Shape& shape, std::vector<std::string> arg_names,
                                 const std::string& statement, const std::string& name_extra = {},
                                 const std::string& helpers = {});

}  // namespace vkllm::codegen::ops
