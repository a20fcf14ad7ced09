// The tiled matmul kernels for many rows (prefill): emit_matmul (matmul.cpp) picks them when the
// row count's bound (a constant, or its symbols' max_symbols) exceeds kTiledMinRows. Every x dtype
// and every weight dtype (quantized included); the fused_matmul hooks except the rms_norm prologue
// (its per-row Σx² would need the whole row: such ops keep the general kernel).
//
// Both kernels stage an x tile (BM rows x BK) and a w tile (BN weight rows x BK) in shared memory,
// w dequantized as it is staged (ld_w, or 8- / 16-byte loads for f32 / f16 / bf16 when K % 4 == 0),
// and fetch the next K step's tiles into registers while the current one is multiplied (one shared
// buffer, register double buffering). Rows past M, weight rows past N and columns past K stage as
// zeros; outputs past M or N are not written. Each output goes through fused_out (residual add).
//
// FMA kernel (every device): BM = BN = 64, BK = 16, 256 invocations each accumulating a 4 x 4 block
// in f32 (rows ty + 16i, columns tx + 16j). Tiles are f32 in shared memory (exact for every weight
// dtype), rows padded to 20 floats so the vec4 reads of 8 consecutive rows hit distinct banks.
//   Per K step: 64·64·16 FMAs for (64 + 64)·16 staged values, i.e. 32 FMAs per value fetched from
//   memory; per invocation 8 vec4 shared reads per 64 FMAs (0.125 LDS.128 per FMA). Weights are
//   read once per 64-row tile: a 256-row prefill chunk reads each weight 4 times (L2 mostly).
//   Expected on the H200 (67 TFLOP/s f32 FMA peak): shared-memory and issue bound near 35-50% of
//   peak, about 20-30 TFLOP/s (vs ~8 TFLOP/s measured for the general kernel in pp512 bf16).
//
// Cooperative-matrix kernel (TargetCaps::cooperative_matrix_nv: fp16 16x16x16 -> f32, subgroups of
// 32; variant TargetCaps::cooperative_matrix_kernel, "split" by default):
//   Tiles: BM = 128 (64 when the row bound is at most 64) x BN = 64 (128 when N >= 8192), BK = 32;
//   one subgroup per 32 x 32 block (2 x 2 accumulators; ":64x32" gives 64 x 32 blocks, 4 x 2):
//   256 invocations at 128 x 64, 512 at 128 x 128. Staging as in the FMA kernel (16-byte loads of
//   f32 / f16 / bf16 rows when K % 8 == 0 (f32: 2 x 16), quantized weights dequantized once per
//   value by ld_w), 8 values per 16-byte shared store, rows padded to 80 bytes (the 16 row loads of
//   a fragment start in distinct bank groups; every fragment address is 16-byte aligned).
//   Precision ("split"): each f32 value v is staged as hi = f16(v) and lo = f16((v - hi)·2048) (the
//   2048 keeps lo a normal f16 for |v| >= 2^-13; f16 values, whose lo is 0, are not split), and
//   acc += xh·wh, corr += xl·wh + xh·wl in f32 fragments; out = acc + corr / 2048. Each product is
//   then exact to ~2^-22 relative (the dropped xl·wl term), like an f32 FMA, and the tests hold it
//   to the f32 kernels' tolerance. "f16" stages hi only (2^-11 per operand). |v| > 65504 is not
//   representable (hi clamps to ±65504; the result becomes inf).
//   Accumulators leave through shared memory (the x tile's space after the last K step), 16 x 16
//   at a time, so each output can take fused_out.
//   Budget per K step at 128 x 64 (8 subgroups): 128·64·32 MACs = 524k FLOP; tensor-core work 64
//   fragment MMAs per product set: 192 with x and w split (f32 / bf16 / quantized weights), 128 with
//   f16 weights, 64 for "f16". Hopper runs NV cooperative matrices as mma.sync (no wgmma), ~60% of
//   the 990 TFLOP/s dense peak: 192 MMAs are 384 m16n8k16 HMMAs, 96 per SM sub-partition at ~4-6
//   clocks each: ~400-600 clocks per step. Staging 6144 values at ~5
//   instructions each (load, unpack, split, pack; quantized ld_w ~15-30 for the 2048 w values) is
//   ~250 issue clocks per sub-partition (~550 quantized), overlapped with the MMAs of the other
//   workgroup on the SM (30 KiB of shared memory: two fit). Shared memory is the other bound:
//   fragment loads are 8 per subgroup per 16-wide k slice (hi and lo of 2 A and 2 B fragments),
//   64 KiB per step, plus 24 KiB of staging stores: ~700 clocks at 128 bytes per clock, about the
//   MMA time (":64x32" blocks load 1.5 fragments per accumulator instead of 2: 25% less). So ~750
//   FLOP per clock per SM at best, ~195 TFLOP/s on 132 SMs at 1.98 GHz. Expected on the H200:
//   ~100-150 TFLOP/s for bf16/f16 weights with "split", ~80-120 for quantized (staging-bound), and
//   about 1.5-2x that for "f16" — against ~22 for the FMA kernel and ~28 measured for the first
//   cooperative-matrix kernel (f16 operands, 128 x 64 tiles, accumulators through a separate shared
//   array; removed once "f16" measured at least as fast: pp512 q4_0 1391 vs 1348 tok/s), whose own
//   150-300 estimate was not met, so these are to be checked with `vkllm bench --matmul`.
//
// `TileMath::EmulatedCooperativeMatrix` keeps the cooperative-matrix kernel's staging, hi/lo split,
// indexing and epilogue and replaces the fragment operations by plain GLSL over the same shared
// tiles, so devices without the extension (lavapipe) can test everything but the driver's matrix ops.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "codegen/glsl_compiler.h"
#include "codegen/ops/glsl.h"
#include "codegen/ops/matmul.h"

namespace vkllm::codegen::ops {
namespace {

constexpr uint32_t kFmaInvocations = 256;
constexpr int64_t kFmaTile = 64;  // BM = BN
constexpr int64_t kFmaSharedBytes = 2 * kFmaTile * 20 * 4;
// GLSL: load_x_group / load_w_group(row, k, out float v[G]) read G consecutive values of a row of x
// (after the fused_x prologue) and of w (dequantized); zeros past the last row or column.
std::string group_readers(const EmitContext& ctx, int64_t g) {
  const ir::Shape& x = ctx.input(0).shape;
  const ir::Dim& k = ctx.input(1).shape[1];
  const bool k_by_4 = k.is_const() && k.value % 4 == 0;  // 4-value groups are 16- / 8-byte aligned
  const ir::DType xt = ctx.input(0).dtype, wt = ctx.input(1).dtype;
  std::string x_fast, w_fast;
  if (k_by_4 && xt == ir::DType::F32)
    x_fast = R"(  if (k + $G <= $K) {
    for (uint q = 0u; q < $G / 4u; ++q) {
      vec4 xv = fused_x4(TileVec4(args.x).v[e / 4u + q], e + 4u * q, k + 4u * q, ss);
      v[4u * q] = xv.x; v[4u * q + 1u] = xv.y; v[4u * q + 2u] = xv.z; v[4u * q + 3u] = xv.w;
    }
    return;
  }
)";
  if (k_by_4 && wt == ir::DType::F32)
    w_fast = R"(  if (k + $G <= $K) {
    for (uint q = 0u; q < $G / 4u; ++q) {
      vec4 wv = TileVec4(args.w).v[e / 4u + q];
      v[4u * q] = wv.x; v[4u * q + 1u] = wv.y; v[4u * q + 2u] = wv.z; v[4u * q + 3u] = wv.w;
    }
    return;
  }
)";
  if (g == 8 && k.is_const() && k.value % 8 == 0 && (wt == ir::DType::F16 || wt == ir::DType::BF16))
    // 8 values in one 16-byte load (groups are 16-byte aligned when K % 8 == 0).
    w_fast = std::string(R"(  if (k + 8u <= $K) {
    uvec4 u = TileU4(args.w).v[e / 8u];
    for (uint q = 0u; q < 4u; ++q) {
)") + (wt == ir::DType::F16 ? R"(      vec2 h = unpackHalf2x16(u[q]);
      v[2u * q] = h.x; v[2u * q + 1u] = h.y;
)" : R"(      v[2u * q] = uintBitsToFloat(u[q] << 16); v[2u * q + 1u] = uintBitsToFloat(u[q] & 0xffff0000u);
)") + R"(    }
    return;
  }
)";
  else if (k_by_4 && (wt == ir::DType::F16 || wt == ir::DType::BF16))
    w_fast = std::string(R"(  if (k + $G <= $K) {
    for (uint q = 0u; q < $G / 4u; ++q) {
      uvec2 u = TileU2(args.w).v[e / 4u + q];
)") + (wt == ir::DType::F16 ? R"(      vec2 lo = unpackHalf2x16(u.x), hi = unpackHalf2x16(u.y);
      v[4u * q] = lo.x; v[4u * q + 1u] = lo.y; v[4u * q + 2u] = hi.x; v[4u * q + 3u] = hi.y;
)" : R"(      v[4u * q] = uintBitsToFloat(u.x << 16); v[4u * q + 1u] = uintBitsToFloat(u.x & 0xffff0000u);
      v[4u * q + 2u] = uintBitsToFloat(u.y << 16); v[4u * q + 3u] = uintBitsToFloat(u.y & 0xffff0000u);
)") + R"(    }
    return;
  }
)";
  const std::map<std::string, std::string> vars{{"G", glsl_uint(g)},
                                                {"M", ctx.product(x, 0, x.size() - 1)},
                                                {"N", glsl_uint(ctx.input(1).shape[0].value)},
                                                {"K", ctx.dim(k)}};
  return render(R"(
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer TileVec4 { vec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) readonly buffer TileU2 { uvec2 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer TileU4 { uvec4 v[]; };
// x[row, k .. k + $G) through the prologue hook; zeros past $M rows or $K columns.
void load_x_group(uint row, uint k, out float v[$G]) {
  for (uint j = 0u; j < $G; ++j) v[j] = 0.0;
  if (row >= $M) return;
  float ss = 0.0;  // the rms_norm prologue's sum of squares: that prologue never comes here
  uint e = row * $K + k;
)" + x_fast + R"(  for (uint j = 0u; j < $G; ++j)
    if (k + j < $K) v[j] = fused_x(e + j, k + j, ss);
}
// w[col, k .. k + $G) dequantized; zeros past $N weight rows or $K columns.
void load_w_group(uint col, uint k, out float v[$G]) {
  for (uint j = 0u; j < $G; ++j) v[j] = 0.0;
  if (col >= $N) return;
  uint e = col * $K + k;
)" + w_fast + R"(  for (uint j = 0u; j < $G; ++j)
    if (k + j < $K) v[j] = ld_w(e + j);
}
)", vars);
}

KernelPlan tiled_plan(const EmitContext& ctx, const Fusion& f, const std::string& kind, int64_t tile_m,
                      int64_t tile_n, uint32_t local) {
  const ir::Shape& x = ctx.input(0).shape;
  const int64_t n = ctx.input(1).shape[0].value;
  int64_t const_rows = 1;
  std::vector<std::string> row_symbols;
  for (size_t i = 0; i + 1 < x.size(); ++i) {
    if (x[i].is_const()) const_rows *= x[i].value;
    else row_symbols.push_back(x[i].sym);
  }
  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("n{}_{}{}x{}{}", n, kind, tile_m, tile_n, f.tag));
  plan.arg_names = f.arg_names;
  plan.local_size = local;
  plan.grid[0] = GridDim{(n + tile_n - 1) / tile_n, {}, 1};
  plan.grid[1] = GridDim{const_rows, row_symbols, tile_m};
  return plan;
}

KernelPlan emit_fma_tiled(const EmitContext& ctx, const Fusion& f) {
  const ir::Shape& x = ctx.input(0).shape;
  KernelPlan plan = tiled_plan(ctx, f, "tiled", kFmaTile, kFmaTile, kFmaInvocations);
  const std::map<std::string, std::string> vars{{"M", ctx.product(x, 0, x.size() - 1)},
                                                {"N", glsl_uint(ctx.input(1).shape[0].value)},
                                                {"K", ctx.dim(ctx.input(1).shape[1])}};
  plan.body = f.glsl + group_readers(ctx, 4) + render(R"(
// 64 x 16 tiles of x and w, f32, rows padded to 5 vec4.
shared vec4 tile_x[64u * 5u], tile_w[64u * 5u];
void main() {
  uint t = gl_LocalInvocationIndex, tx = t & 15u, ty = t >> 4u;
  uint row0 = gl_WorkGroupID.y * 64u, col0 = gl_WorkGroupID.x * 64u;
  // The 4-value group this invocation stages in both tiles: row t / 4, columns 4 (t % 4) ..
  uint srow = t >> 2u, sq = t & 3u;
  float xg[4], wg[4];
  load_x_group(row0 + srow, 4u * sq, xg);
  load_w_group(col0 + srow, 4u * sq, wg);
  float acc[16];  // rows ty + 16i, columns tx + 16j: acc[4i + j]
  for (uint j = 0u; j < 16u; ++j) acc[j] = 0.0;
  for (uint k0 = 0u; k0 < $K; k0 += 16u) {
    tile_x[srow * 5u + sq] = vec4(xg[0], xg[1], xg[2], xg[3]);
    tile_w[srow * 5u + sq] = vec4(wg[0], wg[1], wg[2], wg[3]);
    barrier();
    // The next K step's groups load while this one is multiplied.
    if (k0 + 16u < $K) {
      load_x_group(row0 + srow, k0 + 16u + 4u * sq, xg);
      load_w_group(col0 + srow, k0 + 16u + 4u * sq, wg);
    }
    for (uint q = 0u; q < 4u; ++q) {
      vec4 a[4], b[4];
      for (uint i = 0u; i < 4u; ++i) a[i] = tile_x[(ty + 16u * i) * 5u + q];
      for (uint j = 0u; j < 4u; ++j) b[j] = tile_w[(tx + 16u * j) * 5u + q];
      for (uint i = 0u; i < 4u; ++i)
        for (uint j = 0u; j < 4u; ++j)
          acc[4u * i + j] = fma(a[i].w, b[j].w, fma(a[i].z, b[j].z, fma(a[i].y, b[j].y, fma(a[i].x, b[j].x, acc[4u * i + j]))));
    }
    barrier();
  }
  for (uint i = 0u; i < 4u; ++i)
    for (uint j = 0u; j < 4u; ++j) {
      uint row = row0 + ty + 16u * i, col = col0 + tx + 16u * j;
      if (row < $M && col < $N) {
        uint o = row * $N + col;
        st_result(o, fused_out(acc[4u * i + j], 0.0, o));
      }
    }
}
)", vars);
  return plan;
}

// The cooperative-matrix kernel's precision and shape, from TargetCaps::cooperative_matrix_kernel
// ("split" | "f16", optionally ":WMxWN").
struct CoopLayout {
  bool split_x = false, split_w = false;  // stage the lo halves of x / w (f32-faithful products)
  std::string precision;                  // split | f16
  uint32_t bm = 128, bn = 64;             // the workgroup's tile
  uint32_t wm = 32, wn = 32;              // a subgroup's block of 16 x 16 fragments
  uint32_t warps() const { return bm / wm * (bn / wn); }
  uint32_t local() const { return warps() * 32; }
  // tile_xh also carries the outgoing accumulators: a 16 x 16 f32 fragment (64 uvec4) per subgroup.
  uint32_t tile_xh_vec4s() const { return std::max(bm * 5, warps() * 64); }
  // Tiles of 80-byte rows (hi, and lo when split).
  int64_t shared_bytes() const {
    return (int64_t{tile_xh_vec4s()} + int64_t{(split_x ? bm : 0u) + bn * (split_w ? 2u : 1u)} * 5) * 16;
  }
};

CoopLayout coop_layout(const EmitContext& ctx) {
  const std::string& spec = ctx.caps.cooperative_matrix_kernel;
  CoopLayout l;
  const size_t colon = spec.find(':');
  l.precision = spec.substr(0, colon);
  if (l.precision != "split" && l.precision != "f16")
    ctx.fail(fmt::format("unknown cooperative-matrix kernel '{}' (split or f16, optionally :WMxWN)", spec));
  int parsed = 0;
  if (colon != std::string::npos &&
      (std::sscanf(spec.c_str() + colon + 1, "%ux%u%n", &l.wm, &l.wn, &parsed) != 2 ||
       colon + 1 + static_cast<size_t>(parsed) != spec.size()))
    ctx.fail(fmt::format("cooperative-matrix kernel '{}': the subgroup block is WMxWN, e.g. 64x32", spec));
  const bool split = l.precision == "split";
  l.split_x = split && ctx.input(0).dtype != ir::DType::F16;  // f16 x is its own hi
  l.split_w = split && ctx.input(1).dtype != ir::DType::F16;
  const std::optional<int64_t> rows = matmul_row_bound(ctx);
  l.bm = rows && *rows <= 64 ? 64 : 128;
  // 128-wide tiles for wide outputs (gate/up projections); 64-wide ones double the workgroups of
  // narrower ones (N = 4096 at 512 rows: 256 rather than 128 for a 132-SM GPU).
  l.bn = ctx.input(1).shape[0].value >= 8192 ? 128 : 64;
  l.wm = std::min(l.wm, l.bm);
  l.wn = std::min(l.wn, l.bn);
  // 128-wide split tiles take 46 KiB (32 x 32 blocks): narrower where the device offers less.
  if (l.bn == 128 && (l.shared_bytes() > ctx.caps.max_shared_memory_bytes || l.local() > ctx.caps.max_workgroup_invocations))
    l.bn = 64;
  auto fragment_multiple = [](uint32_t v) { return v == 16 || v == 32 || v == 64; };
  if (!fragment_multiple(l.wm) || !fragment_multiple(l.wn) || l.bm % l.wm || l.bn % l.wn ||
      l.local() > ctx.caps.max_workgroup_invocations || (l.bm * 4) % l.local() || (l.bn * 4) % l.local())
    ctx.fail(fmt::format("cooperative-matrix kernel '{}': a {}x{} subgroup block does not divide the {}x{} tile "
                         "into at most {} invocations that each stage whole 8-value groups",
                         spec, l.wm, l.wn, l.bm, l.bn, ctx.caps.max_workgroup_invocations));
  return l;
}

// The fragment operations of the cooperative-matrix kernel over its shared tiles: x (A, 16 x 16,
// row-major) from tile_xh / tile_xl, w (B, 16 x 16, column-major: weight rows) from tile_wh /
// tile_wl, row stride 5 uvec4 (40 halves); accumulators leave through tile_xh after the last K step
// (f32 bits, row stride 4 uvec4; the extension lets a matrix be stored to an array of another type).
std::string fragment_ops(bool emulated) {
  if (!emulated)
    return R"(
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
// Scope 3 = subgroup (gl_ScopeSubgroup would need GL_KHR_memory_scope_semantics).
#define FragA fcoopmatNV<16, 3, 16, 16>
#define FragAcc fcoopmatNV<32, 3, 16, 16>
FragAcc acc_zero() { return FragAcc(0.0); }
void load_xh(out FragA a, uint elem) { coopMatLoadNV(a, tile_xh, elem, 5u, false); }
#if SPLIT_X
void load_xl(out FragA a, uint elem) { coopMatLoadNV(a, tile_xl, elem, 5u, false); }
#endif
void load_wh(out FragA b, uint elem) { coopMatLoadNV(b, tile_wh, elem, 5u, true); }
#if SPLIT_W
void load_wl(out FragA b, uint elem) { coopMatLoadNV(b, tile_wl, elem, 5u, true); }
#endif
FragAcc mul_add(FragA a, FragA b, FragAcc c) { return coopMatMulAddNV(a, b, c); }
void store_acc(FragAcc c, uint elem) { coopMatStoreNV(c, tile_xh, elem / 4u, 4u, false); }
uint warp_index() { return gl_SubgroupID; }
uint lane_index() { return gl_SubgroupInvocationID; }
)";
  // A "warp" is 32 consecutive invocations; lane l holds accumulator elements l + 32i (i < 8),
  // element e at row e / 16, column e % 16. A and B are read from their tile when multiplied,
  // which matches the real loads: the tiles do not change between a K step's barriers.
  return R"(
struct FragA { uint tile; uint elem; };  // tile: 0 xh, 1 xl, 2 wh, 3 wl
struct FragAcc { float v[8]; };
FragAcc acc_zero() {
  FragAcc c;
  for (uint i = 0u; i < 8u; ++i) c.v[i] = 0.0;
  return c;
}
void load_xh(out FragA a, uint elem) { a.tile = 0u; a.elem = elem; }
void load_xl(out FragA a, uint elem) { a.tile = 1u; a.elem = elem; }
void load_wh(out FragA b, uint elem) { b.tile = 2u; b.elem = elem; }
void load_wl(out FragA b, uint elem) { b.tile = 3u; b.elem = elem; }
uvec4 tile_vec(uint tile, uint i) {
  if (tile == 0u) return tile_xh[i];
#if SPLIT_X
  if (tile == 1u) return tile_xl[i];
#endif
  if (tile == 2u) return tile_wh[i];
#if SPLIT_W
  if (tile == 3u) return tile_wl[i];
#endif
  return uvec4(0u);
}
float tile_half(uint tile, uint h) { return unpackHalf2x16(tile_vec(tile, h >> 3u)[(h >> 1u) & 3u] >> ((h & 1u) * 16u)).x; }
uint warp_index() { return gl_LocalInvocationIndex >> 5u; }
uint lane_index() { return gl_LocalInvocationIndex & 31u; }
FragAcc mul_add(FragA a, FragA b, FragAcc c) {
  for (uint i = 0u; i < 8u; ++i) {
    uint e = lane_index() + 32u * i, r = e >> 4u, col = e & 15u;
    for (uint k = 0u; k < 16u; ++k)
      c.v[i] += tile_half(a.tile, (a.elem + r * 5u) * 8u + k) * tile_half(b.tile, (b.elem + col * 5u) * 8u + k);
  }
  return c;
}
void store_acc(FragAcc c, uint elem) {
  for (uint i = 0u; i < 8u; ++i) {
    uint e = elem + lane_index() + 32u * i;
    tile_xh[e >> 2u][e & 3u] = floatBitsToUint(c.v[i]);
  }
}
)";
}

KernelPlan emit_cooperative_tiled(const EmitContext& ctx, const Fusion& f, bool emulated) {
  const CoopLayout l = coop_layout(ctx);
  const ir::Shape& x = ctx.input(0).shape;
  const int64_t n = ctx.input(1).shape[0].value;
  KernelPlan plan = tiled_plan(ctx, f, "coopmat", l.bm, l.bn, l.local());
  plan.name = kernel_name(ctx, fmt::format("n{}_coopmat_{}{}x{}_w{}x{}{}{}", n, l.precision, l.bm, l.bn, l.wm, l.wn,
                                           emulated ? "_emulated" : "", f.tag));
  // The fragment layout assumes 32-lane subgroups (TargetCaps: the device runs or can require 32).
  if (!emulated && ctx.caps.subgroup_size_control) plan.required_subgroup_size = 32;
  const ir::Dim& k = ctx.input(1).shape[1];
  // f16 weights are their own hi halves: staged as raw bits (16- or 8-byte loads).
  std::string w_raw;
  if (ctx.input(1).dtype == ir::DType::F16 && k.is_const() && k.value % 8 == 0)
    w_raw = "  if (col < $N && k + 8u <= $K) {\n"
            "    hi = TileU4(args.w).v[(col * $K + k) / 8u];\n"
            "    lo = uvec4(0u);\n"
            "    return;\n"
            "  }\n";
  else if (ctx.input(1).dtype == ir::DType::F16 && k.is_const() && k.value % 4 == 0)
    w_raw = "  if (col < $N && k + 8u <= $K) {\n"
            "    uint e = (col * $K + k) / 4u;\n"
            "    hi = uvec4(TileU2(args.w).v[e], TileU2(args.w).v[e + 1u]);\n"
            "    lo = uvec4(0u);\n"
            "    return;\n"
            "  }\n";
  const std::map<std::string, std::string> vars{
      {"M", ctx.product(x, 0, x.size() - 1)},
      {"N", glsl_uint(n)},
      {"K", ctx.dim(k)},
      {"BM", glsl_uint(l.bm)},
      {"BN", glsl_uint(l.bn)},
      {"WM", glsl_uint(l.wm)},
      {"WN", glsl_uint(l.wn)},
      {"FM", glsl_uint(l.wm / 16)},
      {"FN", glsl_uint(l.wn / 16)},
      {"WARPS_M", glsl_uint(l.bm / l.wm)},
      {"WARPS", glsl_uint(l.warps())},
      {"L", glsl_uint(l.local())},
      {"XG", glsl_uint(l.bm * 4 / l.local())},
      {"WG", glsl_uint(l.bn * 4 / l.local())},
      {"XH", glsl_uint(l.tile_xh_vec4s())},
      {"SPLIT_X", l.split_x ? "1" : "0"},
      {"SPLIT_W", l.split_w ? "1" : "0"}};
  plan.body = f.glsl + group_readers(ctx, 8) + render(R"(
#define SPLIT_X $SPLIT_X
#define SPLIT_W $SPLIT_W
// x: $BM x 32 and w: $BN x 32 tiles as f16 (8 per uvec4), rows padded to 5 uvec4 (80 bytes: a
// fragment's 16 row loads start in distinct bank groups): hi halves, and lo halves when split.
shared uvec4 tile_xh[$XH];  // after the last K step: a 16 x 16 f32 fragment per subgroup, on its way out
#if SPLIT_X
shared uvec4 tile_xl[$BM * 5u];
#endif
shared uvec4 tile_wh[$BN * 5u];
#if SPLIT_W
shared uvec4 tile_wl[$BN * 5u];
#endif
// hi = f16(v) (clamped to f16's range), lo = f16((v - hi) * 2048): hi + lo / 2048 holds v to ~2^-22
// (the 2048 keeps lo a normal f16 for |v| >= 2^-13, so small activations keep their precision).
void split_halves(float v[8], out uvec4 hi, out uvec4 lo) {
  for (uint q = 0u; q < 4u; ++q) {
    vec2 p = vec2(v[2u * q], v[2u * q + 1u]);
    uint h = packHalf2x16(clamp(p, vec2(-65504.0), vec2(65504.0)));
    hi[q] = h;
    lo[q] = packHalf2x16((p - unpackHalf2x16(h)) * 2048.0);
  }
}
void fetch_x(uint row, uint k, out uvec4 hi, out uvec4 lo) {
  float v[8];
  load_x_group(row, k, v);
  split_halves(v, hi, lo);
}
void fetch_w(uint col, uint k, out uvec4 hi, out uvec4 lo) {
)" + w_raw + R"(  float v[8];
  load_w_group(col, k, v);
  split_halves(v, hi, lo);
}
)" + fragment_ops(emulated) + R"(
void main() {
  uint t = gl_LocalInvocationIndex;
  uint row0 = gl_WorkGroupID.y * $BM, col0 = gl_WorkGroupID.x * $BN;
  uint warp = warp_index(), wm = warp % $WARPS_M, wn = warp / $WARPS_M;
  // Staged 8-value groups: g = t + $L i, at row g / 4, columns 8 (g % 4) .. of the tile. Without a
  // split the lo halves are never stored (the compiler drops them).
  uvec4 xh[$XG], xl[$XG], wh[$WG], wl[$WG];
  for (uint i = 0u; i < $XG; ++i) {
    uint g = t + $L * i;
    fetch_x(row0 + (g >> 2u), 8u * (g & 3u), xh[i], xl[i]);
  }
  for (uint i = 0u; i < $WG; ++i) {
    uint g = t + $L * i;
    fetch_w(col0 + (g >> 2u), 8u * (g & 3u), wh[i], wl[i]);
  }
  // This subgroup's $WM x $WN block: rows wm * $WM + 16 fm, columns wn * $WN + 16 fn.
  FragAcc acc[$FM][$FN];
#if SPLIT_X || SPLIT_W
  FragAcc corr[$FM][$FN];  // xl·wh + xh·wl, scaled by 2048
#endif
  for (uint fm = 0u; fm < $FM; ++fm)
    for (uint fn = 0u; fn < $FN; ++fn) {
      acc[fm][fn] = acc_zero();
#if SPLIT_X || SPLIT_W
      corr[fm][fn] = acc_zero();
#endif
    }
  for (uint k0 = 0u; k0 < $K; k0 += 32u) {
    for (uint i = 0u; i < $XG; ++i) {
      uint g = t + $L * i, s = (g >> 2u) * 5u + (g & 3u);
      tile_xh[s] = xh[i];
#if SPLIT_X
      tile_xl[s] = xl[i];
#endif
    }
    for (uint i = 0u; i < $WG; ++i) {
      uint g = t + $L * i, s = (g >> 2u) * 5u + (g & 3u);
      tile_wh[s] = wh[i];
#if SPLIT_W
      tile_wl[s] = wl[i];
#endif
    }
    barrier();
    // The next K step's groups load while this one is multiplied.
    if (k0 + 32u < $K) {
      for (uint i = 0u; i < $XG; ++i) {
        uint g = t + $L * i;
        fetch_x(row0 + (g >> 2u), k0 + 32u + 8u * (g & 3u), xh[i], xl[i]);
      }
      for (uint i = 0u; i < $WG; ++i) {
        uint g = t + $L * i;
        fetch_w(col0 + (g >> 2u), k0 + 32u + 8u * (g & 3u), wh[i], wl[i]);
      }
    }
    for (uint kf = 0u; kf < 2u; ++kf) {
      FragA ah[$FM], bh[$FN];
      for (uint fm = 0u; fm < $FM; ++fm) load_xh(ah[fm], (wm * $WM + 16u * fm) * 5u + 2u * kf);
      for (uint fn = 0u; fn < $FN; ++fn) load_wh(bh[fn], (wn * $WN + 16u * fn) * 5u + 2u * kf);
      for (uint fm = 0u; fm < $FM; ++fm)
        for (uint fn = 0u; fn < $FN; ++fn) acc[fm][fn] = mul_add(ah[fm], bh[fn], acc[fm][fn]);
#if SPLIT_X
      for (uint fm = 0u; fm < $FM; ++fm) {
        FragA al;
        load_xl(al, (wm * $WM + 16u * fm) * 5u + 2u * kf);
        for (uint fn = 0u; fn < $FN; ++fn) corr[fm][fn] = mul_add(al, bh[fn], corr[fm][fn]);
      }
#endif
#if SPLIT_W
      for (uint fn = 0u; fn < $FN; ++fn) {
        FragA bl;
        load_wl(bl, (wn * $WN + 16u * fn) * 5u + 2u * kf);
        for (uint fm = 0u; fm < $FM; ++fm) corr[fm][fn] = mul_add(ah[fm], bl, corr[fm][fn]);
      }
#endif
    }
    barrier();
  }
  // Each fragment leaves through shared memory (acc, then corr / 2048 added in f32: scalar code,
  // since spirv-opt's folder crashes on arithmetic with cooperative matrices).
  uint lane = lane_index(), out0 = warp * 64u;
  for (uint fm = 0u; fm < $FM; ++fm)
    for (uint fn = 0u; fn < $FN; ++fn) {
      float v[8];
      store_acc(acc[fm][fn], warp * 256u);
      barrier();
      for (uint i = 0u; i < 8u; ++i) v[i] = uintBitsToFloat(tile_xh[out0 + 8u * i + (lane >> 2u)][lane & 3u]);
#if SPLIT_X || SPLIT_W
      barrier();
      store_acc(corr[fm][fn], warp * 256u);
      barrier();
      for (uint i = 0u; i < 8u; ++i)
        v[i] += uintBitsToFloat(tile_xh[out0 + 8u * i + (lane >> 2u)][lane & 3u]) * (1.0 / 2048.0);
#endif
      for (uint i = 0u; i < 8u; ++i) {
        uint e = lane + 32u * i;
        uint row = row0 + wm * $WM + 16u * fm + (e >> 4u), col = col0 + wn * $WN + 16u * fn + (e & 15u);
        if (row < $M && col < $N) {
          uint o = row * $N + col;
          st_result(o, fused_out(v[i], 0.0, o));
        }
      }
      barrier();
    }
}
)", vars);
  return plan;
}

}  // namespace

std::optional<int64_t> matmul_row_bound(const EmitContext& ctx) {
  const ir::Shape& x = ctx.input(0).shape;
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < x.size(); ++i) {
    const std::optional<int64_t> d = ctx.max_value(x[i]);
    if (!d) return std::nullopt;
    rows *= *d;
  }
  return rows;
}

bool tiled_kernel_fits(const EmitContext& ctx, const Fusion& f) {
  const std::optional<int64_t> rows = matmul_row_bound(ctx);
  return rows && *rows > kTiledMinRows && f.prologue != "rms_norm" &&
         ctx.caps.max_workgroup_invocations >= kFmaInvocations && ctx.caps.max_shared_memory_bytes >= kFmaSharedBytes;
}

TileMath tile_math_for(const EmitContext& ctx) {
  const TargetCaps& c = ctx.caps;
  if (!c.cooperative_matrix_nv || !c.float16_arithmetic || (c.subgroup_size != 32 && !c.subgroup_size_control))
    return TileMath::Fma;
  const CoopLayout l = coop_layout(ctx);
  const bool fits = c.max_shared_memory_bytes >= l.shared_bytes();
  return fits ? TileMath::CooperativeMatrixNV : TileMath::Fma;
}

KernelPlan emit_tiled_matmul(const EmitContext& ctx, const Fusion& f, TileMath math) {
  if (f.prologue == "rms_norm") ctx.fail("the tiled matmul kernels do not take the rms_norm prologue");
  switch (math) {
    case TileMath::Fma: return emit_fma_tiled(ctx, f);
    case TileMath::CooperativeMatrixNV: return emit_cooperative_tiled(ctx, f, false);
    case TileMath::EmulatedCooperativeMatrix: return emit_cooperative_tiled(ctx, f, true);
  }
  ctx.fail("unknown tile math");
}

}  // namespace vkllm::codegen::ops
