// matmul: out[m, n] = sum_k x[m, k] * w[n, k]. One workgroup computes a tile of TM rows x TN
// columns; its invocations split K, each accumulating all TM*TN partial dot products in f32, and a
// single multi-value workgroup reduction leaves output j of the tile in invocation j, which stores it.
// Decode (one row) uses TM = 1, so each weight row is read once per workgroup.
#include <fmt/format.h>

#include <bit>

#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {

KernelPlan emit_matmul(const EmitContext& ctx) {
  const ir::Shape& x = ctx.input(0).shape;
  const ir::Shape& w = ctx.input(1).shape;
  const int64_t n = const_dim(ctx, w[0], "output features (dim 0 of w)");
  const ir::Dim& k = w[1];
  if (ir::is_quantized(ctx.input(1).dtype) && k.is_const() && k.value % ir::info(ctx.input(1).dtype).block_elems)
    ctx.fail(fmt::format("K = {} is not a multiple of the {} block size", k.value, ir::name(ctx.input(1).dtype)));

  // Rows = product of x's leading dims.
  int64_t const_rows = 1;
  std::vector<std::string> row_symbols;
  for (size_t i = 0; i + 1 < x.size(); ++i) {
    if (x[i].is_const()) const_rows *= x[i].value;
    else row_symbols.push_back(x[i].sym);
  }
  const int64_t tile_m = row_symbols.empty() ? std::min<int64_t>(std::max<int64_t>(const_rows, 1), 4) : 4;
  int64_t tile_n = 4;
  while ((n + tile_n - 1) / tile_n > 65535) tile_n *= 2;
  // A power of two (the shared-memory reduction halves it) with an invocation per tile output.
  const uint32_t local =
      std::max<uint32_t>(local_size_for(ctx, k, 128), std::bit_ceil(static_cast<uint32_t>(tile_m * tile_n)));

  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("n{}_tile{}x{}", n, tile_m, tile_n));
  plan.arg_names = {"x", "w", "result"};
  plan.local_size = local;
  plan.grid[0] = GridDim{(n + tile_n - 1) / tile_n, {}, 1};
  plan.grid[1] = GridDim{const_rows, row_symbols, tile_m};
  const std::map<std::string, std::string> vars{{"TM", glsl_uint(tile_m)},
                                                {"TN", glsl_uint(tile_n)},
                                                {"M", ctx.product(x, 0, x.size() - 1)},
                                                {"N", glsl_uint(n)},
                                                {"K", ctx.dim(k)},
                                                {"L", glsl_uint(local)}};
  plan.body = workgroup_lane_sums(ctx.caps, local, static_cast<uint32_t>(tile_m * tile_n)) + render(R"(
void main() {
  const uint TM = $TM, TN = $TN;
  uint row0 = gl_WorkGroupID.y * TM, col0 = gl_WorkGroupID.x * TN;
  uint rows = min(TM, $M - row0), cols = min(TN, $N - col0);
  float acc[TM * TN];
  for (uint j = 0u; j < TM * TN; ++j) acc[j] = 0.0;
  for (uint kk = gl_LocalInvocationID.x; kk < $K; kk += $L) {
    float xv[TM], wv[TN];
    for (uint m = 0u; m < TM; ++m) {
      xv[m] = 0.0;
      if (m < rows) xv[m] = ld_x((row0 + m) * $K + kk);
    }
    for (uint c = 0u; c < TN; ++c) {
      wv[c] = 0.0;
      if (c < cols) wv[c] = ld_w((col0 + c) * $K + kk);
    }
    for (uint m = 0u; m < TM; ++m)
      for (uint c = 0u; c < TN; ++c) acc[m * TN + c] += xv[m] * wv[c];
  }
  float total = wg_sum_lanes(acc);
  uint t = gl_LocalInvocationIndex, m = t / TN, c = t % TN;
  if (t < TM * TN && m < rows && c < cols) st_result((row0 + m) * $N + col0 + c, total);
}
)", vars);
  return plan;
}

}  // namespace vkllm::codegen::ops
