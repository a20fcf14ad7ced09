// kv_write: one invocation per element of x. Row t of x goes to cache row slots[t] (the flat row
// block·B + offset of cache[N, B, ...]); negative slots (padding) and slots past N·B are skipped.
// The result shares the cache's storage (compile_graph), so rows no slot names keep their contents
// without a copy.
#include "codegen/ops/elementwise.h"
#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {

KernelPlan emit_kv_write(const EmitContext& ctx) {
  const ir::Shape& cache = ctx.input(0).shape;
  const std::string statement = render(R"(uint row = i / $ROW;
    int slot = ld_slots(row);
    if (slot >= 0 && uint(slot) < $ROWS) st_result(uint(slot) * $ROW + i % $ROW, ld_x(i));)",
                                       {{"ROW", ctx.product(cache, 2, 4)}, {"ROWS", ctx.product(cache, 0, 2)}});
  return elementwise_plan_over(ctx, ctx.input(1).shape, {"cache", "x", "slots", "result"}, statement);
}

}  // namespace vkllm::codegen::ops
