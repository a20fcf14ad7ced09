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
// 32): BM = 128 (64 when the row bound is at most 64), BN = 64, BK = 32; one subgroup per 32 x 32
// block of the tile (2 x 2 accumulators): BM / 16 subgroups. x and w are staged as f16
// (x rounded from f32, bf16 and quantized weights rounded: relative error 2^-11 per operand, f32
// accumulation), 8 values per 16-byte shared store, rows padded to 80 bytes (conflict-free loads of
// 16 x 16 fragments; every fragment address and stride is 16-byte aligned, as the extension asks).
// Accumulators leave through shared memory, one 16 x 16 fragment per subgroup at a time, so each
// output can take fused_out. Values beyond f16's range (|x| > 65504) become infinities.
//   Per K step (BM = 128): 128·64·32 MACs = 524k FLOP for 6144 staged values (85 FLOP per value):
//   staging, not the tensor cores, bounds it for quantized weights read through ld_w (~15-30
//   instructions per value) — about 450 issue cycles per step on an SM vs ~300 of HMMA at Hopper's
//   mma.sync rate. Expected on the H200: 150-300 TFLOP/s for f16/bf16 weights, 100-200 for quantized.
//
// `TileMath::EmulatedCooperativeMatrix` keeps the cooperative-matrix kernel's staging, indexing and
// epilogue and replaces the five fragment operations by plain GLSL over the same shared tiles, so
// devices without the extension (lavapipe) can test everything but the driver's matrix ops.
#include <fmt/format.h>

#include "codegen/glsl_compiler.h"
#include "codegen/ops/glsl.h"
#include "codegen/ops/matmul.h"

namespace vkllm::codegen::ops {
namespace {

constexpr uint32_t kFmaInvocations = 256;
constexpr int64_t kFmaTile = 64;  // BM = BN
constexpr int64_t kFmaSharedBytes = 2 * kFmaTile * 20 * 4;
constexpr int64_t kCoopTileN = 64;

uint32_t coop_tile_m(const EmitContext& ctx) {
  const std::optional<int64_t> bound = matmul_row_bound(ctx);
  return bound && *bound <= 64 ? 64 : 128;
}

int64_t coop_shared_bytes(uint32_t tile_m) {
  const int64_t warps = tile_m / 32 * 2;
  return (tile_m + kCoopTileN) * 5 * 16 + warps * 256 * 4;
}

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
  if (k_by_4 && (wt == ir::DType::F16 || wt == ir::DType::BF16))
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

// The five fragment operations of the cooperative-matrix kernel over the shared tiles tile_x
// (A: 16 x 16, row-major) and tile_w (B: 16 x 16, column-major: weight rows), both with a row
// stride of 5 uvec4 (40 halves), and tile_out (accumulators, f32, row stride 16).
std::string fragment_ops(bool emulated) {
  if (!emulated)
    return R"(
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
// Scope 3 = subgroup (gl_ScopeSubgroup would need GL_KHR_memory_scope_semantics).
#define FragA fcoopmatNV<16, 3, 16, 16>
#define FragAcc fcoopmatNV<32, 3, 16, 16>
FragAcc acc_zero() { return FragAcc(0.0); }
void load_a(out FragA a, uint elem) { coopMatLoadNV(a, tile_x, elem, 5u, false); }
void load_b(out FragA b, uint elem) { coopMatLoadNV(b, tile_w, elem, 5u, true); }
FragAcc mul_add(FragA a, FragA b, FragAcc c) { return coopMatMulAddNV(a, b, c); }
void store_acc(FragAcc c, uint elem) { coopMatStoreNV(c, tile_out, elem, 16u, false); }
uint warp_index() { return gl_SubgroupID; }
uint lane_index() { return gl_SubgroupInvocationID; }
)";
  // A "warp" is 32 consecutive invocations; lane l holds accumulator elements l + 32i (i < 8),
  // element e at row e / 16, column e % 16. A and B are read from the tiles when multiplied, which
  // matches the real loads: the tiles do not change between a K step's barriers.
  return R"(
struct FragA { uint elem; };
struct FragAcc { float v[8]; };
FragAcc acc_zero() {
  FragAcc c;
  for (uint i = 0u; i < 8u; ++i) c.v[i] = 0.0;
  return c;
}
void load_a(out FragA a, uint elem) { a.elem = elem; }
void load_b(out FragA b, uint elem) { b.elem = elem; }
float x_half(uint h) { return unpackHalf2x16(tile_x[h >> 3u][(h >> 1u) & 3u] >> ((h & 1u) * 16u)).x; }
float w_half(uint h) { return unpackHalf2x16(tile_w[h >> 3u][(h >> 1u) & 3u] >> ((h & 1u) * 16u)).x; }
uint warp_index() { return gl_LocalInvocationIndex >> 5u; }
uint lane_index() { return gl_LocalInvocationIndex & 31u; }
FragAcc mul_add(FragA a, FragA b, FragAcc c) {
  for (uint i = 0u; i < 8u; ++i) {
    uint e = lane_index() + 32u * i, r = e >> 4u, col = e & 15u;
    for (uint k = 0u; k < 16u; ++k) c.v[i] += x_half((a.elem + r * 5u) * 8u + k) * w_half((b.elem + col * 5u) * 8u + k);
  }
  return c;
}
void store_acc(FragAcc c, uint elem) {
  for (uint i = 0u; i < 8u; ++i) {
    uint e = lane_index() + 32u * i;
    tile_out[elem + (e >> 4u) * 16u + (e & 15u)] = c.v[i];
  }
}
)";
}

KernelPlan emit_cooperative_tiled(const EmitContext& ctx, const Fusion& f, bool emulated) {
  const ir::Shape& x = ctx.input(0).shape;
  const uint32_t tile_m = coop_tile_m(ctx);
  const uint32_t warps_m = tile_m / 32, warps = warps_m * 2, local = warps * 32;
  KernelPlan plan = tiled_plan(ctx, f, emulated ? "coopmat_emulated" : "coopmat", tile_m, kCoopTileN, local);
  // The fragment layout assumes 32-lane subgroups (TargetCaps: the device runs or can require 32).
  if (!emulated && ctx.caps.subgroup_size_control) plan.required_subgroup_size = 32;
  const ir::DType wt = ctx.input(1).dtype;
  const ir::Dim& k = ctx.input(1).shape[1];
  // f16 weights with 8-byte-aligned groups are staged as their raw bits.
  const std::string w_raw =
      wt == ir::DType::F16 && k.is_const() && k.value % 4 == 0
          ? "  if (col < $N && k + 8u <= $K) {\n"
            "    uint e = (col * $K + k) / 4u;\n"
            "    return uvec4(TileU2(args.w).v[e], TileU2(args.w).v[e + 1u]);\n"
            "  }\n"
          : "";
  const std::map<std::string, std::string> vars{
      {"M", ctx.product(x, 0, x.size() - 1)}, {"N", glsl_uint(ctx.input(1).shape[0].value)},
      {"K", ctx.dim(k)},                      {"BM", glsl_uint(tile_m)},
      {"WARPS_M", glsl_uint(warps_m)},        {"WARPS", glsl_uint(warps)},
      {"L", glsl_uint(local)},                {"XG", glsl_uint(tile_m * 4 / local)},
      {"WG", glsl_uint(kCoopTileN * 4 / local)}};
  plan.body = f.glsl + group_readers(ctx, 8) + render(R"(
// x: $BM x 32 and w: 64 x 32 tiles as f16 (8 per uvec4), rows padded to 5 uvec4; accumulators
// leave through tile_out, 16 x 16 per subgroup.
shared uvec4 tile_x[$BM * 5u], tile_w[64u * 5u];
shared float tile_out[$WARPS * 256u];
uvec4 pack_halves(float v[8]) {
  return uvec4(packHalf2x16(vec2(v[0], v[1])), packHalf2x16(vec2(v[2], v[3])), packHalf2x16(vec2(v[4], v[5])),
               packHalf2x16(vec2(v[6], v[7])));
}
uvec4 load_x_halves(uint row, uint k) {
  float v[8];
  load_x_group(row, k, v);
  return pack_halves(v);
}
uvec4 load_w_halves(uint col, uint k) {
)" + w_raw + R"(  float v[8];
  load_w_group(col, k, v);
  return pack_halves(v);
}
)" + fragment_ops(emulated) + R"(
void main() {
  uint t = gl_LocalInvocationIndex;
  uint row0 = gl_WorkGroupID.y * $BM, col0 = gl_WorkGroupID.x * 64u;
  uint warp = warp_index(), wm = warp % $WARPS_M, wn = warp / $WARPS_M;
  // Staged 8-value groups: g = t + $L i, at row g / 4, columns 8 (g % 4) .. of the tile.
  uvec4 xg[$XG], wg[$WG];
  for (uint i = 0u; i < $XG; ++i) {
    uint g = t + $L * i;
    xg[i] = load_x_halves(row0 + (g >> 2u), 8u * (g & 3u));
  }
  for (uint i = 0u; i < $WG; ++i) {
    uint g = t + $L * i;
    wg[i] = load_w_halves(col0 + (g >> 2u), 8u * (g & 3u));
  }
  FragAcc acc[2][2];  // this subgroup's 32 x 32 block: rows wm * 32 + 16 fm, columns wn * 32 + 16 fn
  for (uint fm = 0u; fm < 2u; ++fm)
    for (uint fn = 0u; fn < 2u; ++fn) acc[fm][fn] = acc_zero();
  for (uint k0 = 0u; k0 < $K; k0 += 32u) {
    for (uint i = 0u; i < $XG; ++i) {
      uint g = t + $L * i;
      tile_x[(g >> 2u) * 5u + (g & 3u)] = xg[i];
    }
    for (uint i = 0u; i < $WG; ++i) {
      uint g = t + $L * i;
      tile_w[(g >> 2u) * 5u + (g & 3u)] = wg[i];
    }
    barrier();
    // The next K step's groups load while this one is multiplied.
    if (k0 + 32u < $K) {
      for (uint i = 0u; i < $XG; ++i) {
        uint g = t + $L * i;
        xg[i] = load_x_halves(row0 + (g >> 2u), k0 + 32u + 8u * (g & 3u));
      }
      for (uint i = 0u; i < $WG; ++i) {
        uint g = t + $L * i;
        wg[i] = load_w_halves(col0 + (g >> 2u), k0 + 32u + 8u * (g & 3u));
      }
    }
    for (uint kf = 0u; kf < 2u; ++kf) {
      FragA a[2], b[2];
      for (uint fm = 0u; fm < 2u; ++fm) load_a(a[fm], (wm * 32u + 16u * fm) * 5u + 2u * kf);
      for (uint fn = 0u; fn < 2u; ++fn) load_b(b[fn], (wn * 32u + 16u * fn) * 5u + 2u * kf);
      for (uint fm = 0u; fm < 2u; ++fm)
        for (uint fn = 0u; fn < 2u; ++fn) acc[fm][fn] = mul_add(a[fm], b[fn], acc[fm][fn]);
    }
    barrier();
  }
  uint lane = lane_index();
  for (uint fm = 0u; fm < 2u; ++fm)
    for (uint fn = 0u; fn < 2u; ++fn) {
      store_acc(acc[fm][fn], warp * 256u);
      barrier();
      for (uint i = 0u; i < 8u; ++i) {
        uint e = lane + 32u * i;
        uint row = row0 + wm * 32u + 16u * fm + (e >> 4u), col = col0 + wn * 32u + 16u * fn + (e & 15u);
        if (row < $M && col < $N) {
          uint o = row * $N + col;
          st_result(o, fused_out(tile_out[warp * 256u + e], 0.0, o));
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
  const bool fits = c.max_shared_memory_bytes >= coop_shared_bytes(coop_tile_m(ctx)) &&
                    c.max_workgroup_invocations >= 256;
  return c.cooperative_matrix_nv && c.float16_arithmetic && (c.subgroup_size == 32 || c.subgroup_size_control) && fits
             ? TileMath::CooperativeMatrixNV
             : TileMath::Fma;
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
