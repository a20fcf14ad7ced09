// kv_write: one invocation per element of x. Row t of x goes to cache row slots[t] (the flat row
// block·B + offset of cache[N, B, ...]); negative slots (padding) and slots past N·B are skipped.
// The result shares the cache's storage (compile_graph), so rows no slot names keep their contents
// without a copy.
// kv_write_rope: both caches in one dispatch, one workgroup per row t: k's heads (roped first, with
// the rope kernel's arithmetic, when the op carries rope attributes) to k_cache row slots[t], v's
// heads to v_cache's.
#include <fmt/format.h>

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

KernelPlan emit_kv_write_rope(const EmitContext& ctx) {
  const ir::Shape &k_cache = ctx.input(0).shape, &k = ctx.input(2).shape;
  const bool rope = ctx.op.inputs.size() == 6;
  const int64_t head_dim = const_dim(ctx, k[2], "head dim of k");
  const uint32_t local = 256;
  ItemLayout layout = item_layout(ctx, {k[0]}, 0, 1, 1);
  KernelPlan plan;
  plan.name = kernel_name(ctx, rope ? fmt::format("r{}", ctx.op.attr_int("rotary_dims", head_dim)) : "");
  plan.arg_names = {"k_cache", "v_cache", "k", "v", "slots"};
  if (rope) plan.arg_names.push_back("pos");
  plan.arg_names.insert(plan.arg_names.end(), {"k_result", "v_result"});
  plan.local_size = local;
  plan.grid = layout.grid;
  const std::map<std::string, std::string> vars{
      {"LAYOUT", layout.glsl},
      {"KROW", ctx.product(k_cache, 2, 4)},
      {"VROW", ctx.product(ctx.input(1).shape, 2, 4)},
      {"ROWS", ctx.product(k_cache, 0, 2)},
      {"D", glsl_uint(head_dim)},
      {"L", glsl_uint(local)},
      {"POS", rope ? "ld_pos(t)" : "0"},
      {"ROPED", rope ? "if (d < ROPE_DIMS) x = rope_dim(p, d, x, ld_k(t * $KROW + e - d + rope_pair(d)));" : ""}};
  plan.body = (rope ? rope_dim_glsl(ctx.op, head_dim, ctx.input(2).dtype) : "") + render(render(R"(
void main() {
$LAYOUT
  uint t = item_begin;
  int slot = ld_slots(t);
  if (slot < 0 || uint(slot) >= $ROWS) return;  // padding, or past the cache: skipped
  int p = $POS;
  for (uint e = gl_LocalInvocationID.x; e < $KROW; e += $L) {
    uint d = e % $D;
    float x = ld_k(t * $KROW + e);
    $ROPED
    st_k_result(uint(slot) * $KROW + e, x);
  }
  for (uint e = gl_LocalInvocationID.x; e < $VROW; e += $L) st_v_result(uint(slot) * $VROW + e, ld_v(t * $VROW + e));
}
)", vars), vars);
  return plan;
}

}  // namespace vkllm::codegen::ops
