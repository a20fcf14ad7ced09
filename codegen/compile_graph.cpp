#include "codegen/compile_graph.h"

#include <fmt/format.h>

#include <map>
#include <numeric>
#include <set>

#include "codegen/glsl_compiler.h"
#include "codegen/ops/emitter.h"
#include "codegen/ops/glsl.h"
#include "ir/verify.h"

namespace vkllm::codegen {

CompiledGraph compile_graph(const ir::Graph& g, const TargetCaps& caps,
                            const std::map<std::string, int64_t>& max_symbols) {
  ir::verify(g);
  CompiledGraph out;
  out.graph = g;
  out.max_symbols = max_symbols;
  const ir::Graph& graph = out.graph;

  std::set<std::string> symbols;
  for (const ir::Value& v : graph.values)
    for (const ir::Dim& d : v.type.shape)
      if (!d.is_const()) symbols.insert(d.sym);
  out.symbols.assign(symbols.begin(), symbols.end());

  out.storage_of.resize(graph.values.size());
  std::iota(out.storage_of.begin(), out.storage_of.end(), 0);

  // Identical kernels (same op on the same types in several layers) compile once.
  std::map<std::string, std::vector<uint32_t>> spirv_of_source;
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const ir::Op& op = graph.ops[i];
    const ops::OpLowering& lowering = ops::lowering(op.kind);
    // Views and in-place results (ir::in_place_writes) use the storage of an operand.
    const ir::InPlaceWrites writes =
        lowering.how == ops::Lowering::View ? ir::InPlaceWrites{{{0, 0}}, 1} : ir::in_place_writes(op);
    for (const ir::InPlaceWrite& w : writes)
      out.storage_of[static_cast<size_t>(op.results[static_cast<size_t>(w.result)])] =
          out.storage_of[static_cast<size_t>(op.inputs[static_cast<size_t>(w.operand)])];
    if (lowering.how != ops::Lowering::Dispatch) continue;
    const ops::EmitContext ctx{graph, op, static_cast<int>(i), caps, out.symbols, &out.max_symbols};
    if (!lowering.emit) ctx.fail("no kernel emitter is registered for this op (codegen/ops/emitters.cpp)");

    const ops::KernelPlan plan = lowering.emit(ctx);
    Kernel kernel;
    kernel.name = plan.name;
    kernel.glsl = ops::assemble_shader(ctx, plan);
    auto cached = spirv_of_source.find(kernel.glsl);
    if (cached == spirv_of_source.end()) {
      try {
        cached = spirv_of_source.emplace(kernel.glsl, compile_glsl(kernel.glsl)).first;
      } catch (const CompileError& e) {
        ctx.fail(fmt::format("kernel {} does not compile: {}", plan.name, e.what()));
      }
    }
    kernel.spirv = cached->second;
    kernel.local_size = {plan.local_size, 1, 1};
    kernel.required_subgroup_size = plan.required_subgroup_size;
    kernel.grid = plan.grid;
    kernel.args.push_back({"params", false});
    // Operands written in place count as written, like the results.
    for (size_t a = 0; a < plan.arg_names.size(); ++a)
      kernel.args.push_back({plan.arg_names[a], a >= op.inputs.size() || writes.result_of_operand(a) >= 0});

    Dispatch dispatch;
    dispatch.op_index = static_cast<int>(i);
    dispatch.kernel = std::move(kernel);
    dispatch.args = op.inputs;
    dispatch.args.insert(dispatch.args.end(), op.results.begin(), op.results.end());
    out.dispatches.push_back(std::move(dispatch));
  }
  return out;
}

}  // namespace vkllm::codegen
