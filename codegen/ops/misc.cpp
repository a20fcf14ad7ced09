// Data movement: constant fill, cast, slice, embedding gather.
#include <fmt/format.h>

#include <cmath>

#include "codegen/ops/elementwise.h"
#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {

KernelPlan emit_constant(const EmitContext& ctx) {
  const double value = ctx.op.attr_float("value");
  std::string literal;
  if (ctx.result(0).dtype == ir::DType::I32) {
    if (!(std::nearbyint(value) == value && std::fabs(value) <= 2147483647.0))
      ctx.fail(fmt::format("value {} is not an i32", value));
    literal = fmt::format("int({})", static_cast<int64_t>(value));
  } else {
    literal = glsl_float(value);
  }
  return elementwise_plan(ctx, {"result"}, fmt::format("st_result(i, {});", literal));
}

// ld_x widens to f32 exactly; st_result rounds to nearest even in the target dtype.
KernelPlan emit_cast(const EmitContext& ctx) {
  return elementwise_plan(ctx, {"x", "result"}, "st_result(i, ld_x(i));");
}

// Slice moves stored units untouched (f16/bf16 NaN payloads included), so it works on every dtype:
// quantized tensors are copied as whole blocks of 2-byte units.
KernelPlan emit_slice(const EmitContext& ctx) {
  const ir::DType dtype = ctx.input(0).dtype;
  const auto axis = static_cast<size_t>(ctx.op.attr_int("axis"));
  int64_t start = ctx.op.attr_int("start"), size = ctx.op.attr_int("size");
  ir::Shape in = ctx.input(0).shape, out = ctx.result(0).shape;
  if (ir::is_quantized(dtype)) {
    // Count the last dim in 2-byte units: block_bytes / 2 per block.
    const int block = ir::info(dtype).block_elems, units_per_block = ir::info(dtype).block_bytes / 2;
    const int64_t last = const_dim(ctx, in.back(), fmt::format("the last dim of a sliced {} tensor", ir::name(dtype)));
    if (axis + 1 == in.size()) {
      if (start % block || size % block)
        ctx.fail(fmt::format("slice [{}, {}) of a {} row must cover whole {}-element blocks", start, start + size,
                             ir::name(dtype), block));
      start = start / block * units_per_block;
      size = size / block * units_per_block;
    }
    in.back() = ir::Dim::of(last / block * units_per_block);
    out.back() = axis + 1 == in.size() ? ir::Dim::of(size) : in.back();
  }
  // Output unit i = (outer, a, inner) over (dims before axis, the kept range, dims after axis).
  // A symbolic axis may be bound shorter than the slice (the reference rejects that): units past its
  // end are written as zero bits instead of being read out of bounds.
  const char* zero = dtype == ir::DType::F32 ? "0.0" : dtype == ir::DType::I32 ? "0" : "uint16_t(0u)";
  std::string statement = render(R"(uint inner = i % $INNER;
    uint rest = i / $INNER;
    uint along = $START + rest % $SIZE;
    if ($INSIDE) args.result.v[i] = args.x.v[((rest / $SIZE) * $DIM + along) * $INNER + inner];
    else args.result.v[i] = $ZERO;)",
                                 {{"INNER", ctx.product(in, axis + 1, in.size())},
                                  {"SIZE", glsl_uint(size)},
                                  {"DIM", ctx.dim(in[axis])},
                                  {"START", glsl_uint(start)},
                                  {"INSIDE", in[axis].is_const() ? "true" : "along < " + ctx.dim(in[axis])},
                                  {"ZERO", zero}});
  return elementwise_plan_over(ctx, out, {"x", "result"}, statement,
                               fmt::format("axis{}_{}_{}", axis, ctx.op.attr_int("start"), ctx.op.attr_int("size")));
}

KernelPlan emit_embedding(const EmitContext& ctx) {
  const ir::Type& table = ctx.input(0);
  const ir::Shape& ids = ctx.input(1).shape;
  const uint32_t local = local_size_for(ctx, table.shape[1], 256);
  ItemLayout layout = item_layout(ctx, ids, 0, ids.size(), 1);
  KernelPlan plan;
  plan.name = kernel_name(ctx);
  plan.arg_names = {"table", "ids", "result"};
  plan.local_size = local;
  plan.grid = layout.grid;
  plan.body = render(R"(
void main() {
$LAYOUT
  uint row = item_begin;
  int id = ld_ids(row);
  bool inside = id >= 0 && uint(id) < $V;
  for (uint d = gl_LocalInvocationID.x; d < $D; d += $L) {
    float v = 0.0;
    if (inside) v = ld_table(uint(id) * $D + d);
    st_result(row * $D + d, v);
  }
}
)", {{"LAYOUT", layout.glsl}, {"V", ctx.dim(table.shape[0])}, {"D", ctx.dim(table.shape[1])}, {"L", glsl_uint(local)}});
  return plan;
}

}  // namespace vkllm::codegen::ops
