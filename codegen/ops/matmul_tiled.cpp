// The tiled matmul kernels for many rows (prefill): emit_matmul (matmul.cpp) picks them when the
// row count's bound (a constant, or its symbols' max_symbols) exceeds kTiledMinRows. Every x dtype
// and every weight dtype (quantized included); the fused_matmul hooks except the rms_norm prologue
// (its per-row Σx² would need the whole row: such ops keep the general kernel). Rows past M, weight
// rows past N and columns past K stage as zeros; outputs past M or N are not written; each output
// goes through fused_out (residual add).
//
// Readers (both kernels): load_x4 / load_w4 give 4 values of a row from a column k % 4 == 0 (x after
// the fused_x prologue, w dequantized): a 16-byte (f32) or 8-byte (f16 / bf16) load when K % 4 == 0;
// q4_0 / q8_0 from their block: the scale and the 4 quant bytes in 2-byte loads (the blocks are
// 18 / 34 bytes, so only 2-byte aligned), dequantized in registers (an exact d·q in f32); other
// quantized dtypes element-wise by ld_w.
//
// FMA kernel (every device): BM = BN = 64, BK = 16, 256 invocations each accumulating a 4 x 4 block
// in f32 (rows ty + 16i, columns tx + 16j). Tiles are f32 in shared memory (exact for every weight
// dtype), rows padded to 20 floats so the vec4 reads of 8 consecutive rows hit distinct banks; the
// next K step's 4-value groups are fetched into registers while the current one is multiplied.
//   Per K step: 64·64·16 FMAs for (64 + 64)·16 staged values, 32 FMAs per value fetched; 0.125
//   vec4 shared reads per FMA. Measured on the H200: ~22 TFLOP/s at 14336 x 4096 (f32 peak 67).
//
// Cooperative-matrix kernel (TargetCaps::cooperative_matrix_nv: fp16 16x16x16 -> f32, subgroups of
// 32; variant TargetCaps::cooperative_matrix_kernel, "split" or "f16", optionally ":WMxWN"):
//   Tiles: BM = 128 (64 when the row bound is at most 64) x BN = 64 (128 when N >= 8192); one
//   subgroup per WM x WN = 32 x 32 block (2 x 2 fragments): 512 invocations at 128 x 128.
//   K advances by blocks of 32 (one q4_0 / q8_0 block per weight row). Each invocation owns 8-value
//   groups of the tiles: row g / 4, columns 4q .. 4q+3 and 16+4q .. 16+4q+3 of the block (q = g % 4:
//   the low and high nibbles of 4 q4_0 bytes), loaded raw into registers (a vec4 pair of x, the
//   scale and quant words of w) one stage ahead and converted only when stored to shared memory.
//   Shared memory: two stages (ping-pong), each (BM + BN) rows of 5 uvec4 (80 bytes: 32 halves and
//   a pad, so the 8 row addresses of a fragment load start in distinct bank groups). "split" stages
//   a 16-wide K slice per stage as [hi 16 | lo 16] halves of each row (two stages per block), "f16"
//   a 32-wide slice of hi halves (one stage per block): 40 KiB at 128 x 128, within the 48 KiB
//   NVIDIA allows. A stage step is: barrier; store the next stage from registers; issue the global
//   loads for the stage after it; the MMAs of this stage. One barrier per stage, and the loads have
//   a stage's MMAs to land.
//   Everything indexed by fragment or group is generated straight-line from C++ loops (acc_0_1,
//   x_raw_0, ...): the driver keeps accumulators in registers only if no array of them is indexed
//   by a variable (the previous loop-indexed kernel spent 128-160 bytes of local memory, 4.4 µs per
//   K step at 128 x 128).
//   Precision ("split"): each f32 value v is staged as hi = f16(v), lo = f16((v - hi)·2048) (f16
//   operands are their own hi), acc += xh·wh, corr += xl·wh + xh·wl in f32 fragments, out = acc +
//   corr / 2048: each product exact to ~2^-22 relative, as good as an f32 FMA. hi is rounded to
//   nearest even on the f32 bits with integer operations and its f32 value is built from those bits:
//   the earlier lo = f16((v - unpackHalf2x16(packHalf2x16(v)))·2048) measured the f16 kernel's
//   error on the H200, most likely because the driver folds the f32 -> f16 -> f32 round trip to v
//   (lo = 0); integer-built bits cannot be folded back to v, `precise` forbids contracting v - hi,
//   and hi is exact in f16, so packHalf2x16(hi) does not depend on the conversion's rounding mode.
//   |v| < 2^-14 stages hi = 0 and lo = v·2048 (11 significant bits, an absolute error below 2^-26:
//   no f16 subnormal is ever staged); the 2048 keeps lo a normal f16.
//   |v| > 65504 is not representable (hi stops at 65504, lo overflows: the result becomes inf).
//   "f16" stages packHalf2x16(v) only (2^-11 per operand).
//   Budget per 32-wide K step at 128 x 128 "split", q4_0 weights (one workgroup per SM: ~110
//   registers for 64 accumulator floats, 16 subgroups): tensor cores 128·128·32 MACs x 3 products =
//   768 m16n8k16 MMAs; Hopper runs NV cooperative matrices as mma.sync at ~2/3 of the dense peak,
//   ~0.65 per clock per SM: ~1150 clocks. Shared memory: 8 fragment loads of 512 bytes per subgroup
//   per 16-wide slice, 128 KiB per step (~1000 clocks at 128 bytes per clock) plus 32 KiB of
//   stores. Staging: 4096 x values at ~12 instructions (split, packs) and 4096 w values at ~16
//   (dequantize, split, packs): ~3600 warp instructions, ~900 issue clocks per SM sub-partition,
//   spread between the other subgroups' MMAs. So ~1200 clocks (0.6 µs at 1.98 GHz, ~200 TFLOP/s
//   counting one product) per step at best; "f16" (256 MMAs, 64 KiB of fragment loads, ~300
//   staging clocks) ~550. Global: 18 KiB per step per workgroup, from L2 mostly (x is re-read by
//   every column of workgroups): ~4 TB/s over 132 SMs at 0.6 µs per step, the next bound.
//   Measured in-model on the H200 (bench/results/2026-12-03-h200-session5/run4): q4_0 4096 -> 14336
//   at 256 rows 688 µs, 44 TFLOP/s, ~2.7 µs per step (the kernel before: 4.4 µs with f16, 2734 µs
//   split): 4x the budget, not yet broken down (`vkllm bench --matmul q4_0:N:K:256`).
//
// `TileMath::EmulatedCooperativeMatrix` keeps the cooperative-matrix kernel's staging, hi/lo split,
// indexing and epilogue and replaces the fragment operations by plain GLSL over the same shared
// tiles, so devices without the extension (lavapipe) can test everything but the driver's matrix ops.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>

#include "codegen/glsl_compiler.h"
#include "codegen/ops/glsl.h"
#include "codegen/ops/matmul.h"

namespace vkllm::codegen::ops {
namespace {

constexpr uint32_t kFmaInvocations = 256;
constexpr int64_t kFmaTile = 64;  // BM = BN
constexpr int64_t kFmaSharedBytes = 2 * kFmaTile * 20 * 4;

// What the readers may assume about K: a constant multiple of 4 makes every 4-value group of a row
// 16-byte (f32) / 8-byte (f16, bf16) aligned.
bool k_by_4(const EmitContext& ctx) {
  const ir::Dim& k = ctx.input(1).shape[1];
  return k.is_const() && k.value % 4 == 0;
}

std::map<std::string, std::string> shape_vars(const EmitContext& ctx) {
  const ir::Shape& x = ctx.input(0).shape;
  return {{"M", ctx.product(x, 0, x.size() - 1)},
          {"N", glsl_uint(ctx.input(1).shape[0].value)},
          {"K", ctx.dim(ctx.input(1).shape[1])}};
}

// GLSL: vec4 load_x4(row, k) and load_w4(col, k), k % 4 == 0: 4 values of a row of x (after the
// fused_x prologue) and of w (dequantized); zeros past the last row or column. q4_0 / q8_0 weights
// also get their block readers (q4_0_fetch / q4_0_values, q8_0_fetch / q8_0_values).
std::string tile_readers(const EmitContext& ctx) {
  const ir::DType xt = ctx.input(0).dtype, wt = ctx.input(1).dtype;
  const bool by4 = k_by_4(ctx);
  std::string x_fast, w_fast, quant;
  if (by4 && xt == ir::DType::F32)
    x_fast = "  if (k < $K) v = fused_x4(TileVec4(args.x).v[e / 4u], e, k, ss);\n  return v;\n";
  else if (by4 && (xt == ir::DType::F16 || xt == ir::DType::BF16))
    x_fast = std::string("  if (k < $K) v = fused_x4(") +
             (xt == ir::DType::F16 ? "f16x4(TileU2(args.x).v[e / 4u])" : "bf16x4(TileU2(args.x).v[e / 4u])") +
             ", e, k, ss);\n  return v;\n";
  if (wt == ir::DType::Q4_0) {
    quant = R"(
// q4_0 (ir/README.md): 9 halfwords per block of 32, the f16 scale d, then 16 bytes whose byte j holds
// element j (low nibble) and j + 16 (high nibble), each stored as q + 8. Element e's block: the
// scale and the quant bytes of elements j .. j+3 and j+16 .. j+19 (j = e % 16, a multiple of 4).
uvec2 q4_0_fetch(uint e) {
  uint block = (e >> 5u) * 9u, b = block + 1u + ((e & 15u) >> 1u);
  return uvec2(uint(args.w.v[block]), uint(args.w.v[b]) | (uint(args.w.v[b + 1u]) << 16u));
}
// The 4 values of the low (upper = 0) or high (upper = 1) nibbles: d·(q - 8), exact in f32; the
// nibble becomes a float as (2^23 + q) - (2^23 + 8), without an int -> float conversion.
vec4 q4_0_values(uvec2 raw, uint upper) {
  uvec4 q = (uvec4(raw.y) >> (uvec4(0u, 8u, 16u, 24u) + 4u * upper)) & 15u;
  return unpackHalf2x16(raw.x).x * (uintBitsToFloat(q | 0x4B000000u) - 8388616.0);
}
)";
    w_fast = "  if (k < $K) v = q4_0_values(q4_0_fetch(e), (e >> 4u) & 1u);\n  return v;\n";
  } else if (wt == ir::DType::Q8_0) {
    quant = R"(
// q8_0 (ir/README.md): 17 halfwords per block of 32, the f16 scale d, then 32 signed bytes q.
// Element e's block: the scale and the quant bytes of elements j .. j+3 (j = e % 32, a multiple of 4).
uvec2 q8_0_fetch(uint e) {
  uint block = (e >> 5u) * 17u, b = block + 1u + ((e & 31u) >> 1u);
  return uvec2(uint(args.w.v[block]), uint(args.w.v[b]) | (uint(args.w.v[b + 1u]) << 16u));
}
// The 4 values d·q of a quant word, exact in f32 (q as (2^23 + q + 128) - (2^23 + 128)).
vec4 q8_0_values(uint scale, uint word) {
  uvec4 q = ((uvec4(word ^ 0x80808080u) >> uvec4(0u, 8u, 16u, 24u)) & 255u) | 0x4B000000u;
  return unpackHalf2x16(scale).x * (uintBitsToFloat(q) - 8388736.0);
}
)";
    w_fast = "  if (k < $K) {\n    uvec2 raw = q8_0_fetch(e);\n    v = q8_0_values(raw.x, raw.y);\n  }\n  return v;\n";
  } else if (by4 && wt == ir::DType::F32) {
    w_fast = "  if (k < $K) v = TileVec4(args.w).v[e / 4u];\n  return v;\n";
  } else if (by4 && (wt == ir::DType::F16 || wt == ir::DType::BF16)) {
    w_fast = std::string("  if (k < $K) v = ") + (wt == ir::DType::F16 ? "f16x4" : "bf16x4") +
             "(TileU2(args.w).v[e / 4u]);\n  return v;\n";
  }
  const std::string x_slow = R"(  if (k < $K) v.x = fused_x(e, k, ss);
  if (k + 1u < $K) v.y = fused_x(e + 1u, k + 1u, ss);
  if (k + 2u < $K) v.z = fused_x(e + 2u, k + 2u, ss);
  if (k + 3u < $K) v.w = fused_x(e + 3u, k + 3u, ss);
  return v;
)";
  const std::string w_slow = R"(  if (k < $K) v.x = ld_w(e);
  if (k + 1u < $K) v.y = ld_w(e + 1u);
  if (k + 2u < $K) v.z = ld_w(e + 2u);
  if (k + 3u < $K) v.w = ld_w(e + 3u);
  return v;
)";
  return render(R"(
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer TileVec4 { vec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) readonly buffer TileU2 { uvec2 v[]; };
vec4 f16x4(uvec2 u) { return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y)); }
vec4 bf16x4(uvec2 u) {
  return uintBitsToFloat(uvec4(u.x << 16u, u.x & 0xffff0000u, u.y << 16u, u.y & 0xffff0000u));
}
)" + quant + R"(
// x[row, k .. k+4) through the prologue hook (k % 4 == 0); zeros past $M rows or $K columns.
vec4 load_x4(uint row, uint k) {
  vec4 v = vec4(0.0);
  if (row >= $M) return v;
  float ss = 0.0;  // the rms_norm prologue's sum of squares: that prologue never comes here
  uint e = row * $K + k;
)" + (x_fast.empty() ? x_slow : x_fast) + R"(}
// w[col, k .. k+4) dequantized (k % 4 == 0); zeros past $N weight rows or $K columns.
vec4 load_w4(uint col, uint k) {
  vec4 v = vec4(0.0);
  if (col >= $N) return v;
  uint e = col * $K + k;
)" + (w_fast.empty() ? w_slow : w_fast) + "}\n",
                shape_vars(ctx));
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
  KernelPlan plan = tiled_plan(ctx, f, "tiled", kFmaTile, kFmaTile, kFmaInvocations);
  plan.body = f.glsl + tile_readers(ctx) + render(R"(
// 64 x 16 tiles of x and w, f32, rows padded to 5 vec4.
shared vec4 tile_x[64u * 5u], tile_w[64u * 5u];
void main() {
  uint t = gl_LocalInvocationIndex, tx = t & 15u, ty = t >> 4u;
  uint row0 = gl_WorkGroupID.y * 64u, col0 = gl_WorkGroupID.x * 64u;
  // The 4-value group this invocation stages in both tiles: row t / 4, columns 4 (t % 4) ..
  uint srow = t >> 2u, sq = t & 3u;
  vec4 xg = load_x4(row0 + srow, 4u * sq);
  vec4 wg = load_w4(col0 + srow, 4u * sq);
  float acc[16];  // rows ty + 16i, columns tx + 16j: acc[4i + j]
  for (uint j = 0u; j < 16u; ++j) acc[j] = 0.0;
  for (uint k0 = 0u; k0 < $K; k0 += 16u) {
    tile_x[srow * 5u + sq] = xg;
    tile_w[srow * 5u + sq] = wg;
    barrier();
    // The next K step's groups load while this one is multiplied.
    if (k0 + 16u < $K) {
      xg = load_x4(row0 + srow, k0 + 16u + 4u * sq);
      wg = load_w4(col0 + srow, k0 + 16u + 4u * sq);
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
)", shape_vars(ctx));
  return plan;
}

// The cooperative-matrix kernel's precision and shape, from TargetCaps::cooperative_matrix_kernel
// ("split" | "f16", optionally ":WMxWN").
struct CoopLayout {
  bool split_x = false, split_w = false;  // stage the lo halves of x / w (f32-faithful products)
  std::string precision;                  // split | f16
  uint32_t bm = 128, bn = 64;             // the workgroup's tile
  uint32_t wm = 32, wn = 32;              // a subgroup's block of 16 x 16 fragments
  bool split() const { return split_x || split_w; }
  uint32_t warps() const { return bm / wm * (bn / wn); }
  uint32_t local() const { return warps() * 32; }
  // A stage: BM x rows then BN w rows of 5 uvec4 (32 halves and a pad).
  uint32_t stage_vec4s() const { return (bm + bn) * 5; }
  // After the K loop: a subgroup's 16 x 16 f32 fragments (acc, and corr when split) on their way out.
  uint32_t slot_vec4s() const { return split() ? 128 : 64; }
  uint32_t tile_vec4s() const { return std::max(2 * stage_vec4s(), warps() * slot_vec4s()); }
  int64_t shared_bytes() const { return int64_t{tile_vec4s()} * 16; }
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
  // 128 x 128 tiles take 40 KiB: narrower where the device offers less.
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

// The fragment operations over the shared array `tiles` (elements and strides in uvec4): A (x,
// 16 x 16 row-major) and B (w, 16 x 16 column-major: weight rows) from rows of 5 uvec4;
// accumulators stored as f32 rows of 4 uvec4 (the extension lets a matrix be stored to an array of
// another type). warp_sync orders a subgroup's shared-memory accesses to its own epilogue slot.
std::string fragment_ops(bool emulated) {
  if (!emulated)
    return R"(
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
// Scope 3 = subgroup (gl_ScopeSubgroup would need GL_KHR_memory_scope_semantics).
#define FragA fcoopmatNV<16, 3, 16, 16>
#define FragAcc fcoopmatNV<32, 3, 16, 16>
FragAcc acc_zero() { return FragAcc(0.0); }
void load_a(out FragA a, uint elem) { coopMatLoadNV(a, tiles, elem, 5u, false); }
void load_b(out FragA b, uint elem) { coopMatLoadNV(b, tiles, elem, 5u, true); }
FragAcc mul_add(FragA a, FragA b, FragAcc c) { return coopMatMulAddNV(a, b, c); }
void store_acc(FragAcc c, uint elem) { coopMatStoreNV(c, tiles, elem, 4u, false); }
uint warp_index() { return gl_SubgroupID; }
uint lane_index() { return gl_SubgroupInvocationID; }
void warp_sync() {
  subgroupMemoryBarrierShared();
  subgroupBarrier();
}
)";
  // A "warp" is 32 consecutive invocations (several subgroups on lavapipe: warp_sync is a workgroup
  // barrier); lane l holds accumulator elements l + 32i (i < 8), element e at row e / 16, column
  // e % 16. A and B are read from the tiles when multiplied, which matches the real loads: a stage
  // does not change between the barriers around its MMAs.
  return R"(
#extension GL_EXT_control_flow_attributes : require
struct FragA { uint elem; };
struct FragAcc { float v[8]; };
FragAcc acc_zero() {
  FragAcc c;
  for (uint i = 0u; i < 8u; ++i) c.v[i] = 0.0;
  return c;
}
void load_a(out FragA a, uint elem) { a.elem = elem; }
void load_b(out FragA b, uint elem) { b.elem = elem; }
float tile_half(uint h) { return unpackHalf2x16(tiles[h >> 3u][(h >> 1u) & 3u] >> ((h & 1u) * 16u)).x; }
uint warp_index() { return gl_LocalInvocationIndex >> 5u; }
uint lane_index() { return gl_LocalInvocationIndex & 31u; }
FragAcc mul_add(FragA a, FragA b, FragAcc c) {
  [[dont_unroll]] for (uint i = 0u; i < 8u; ++i) {
    uint e = lane_index() + 32u * i, r = e >> 4u, col = e & 15u;
    [[dont_unroll]] for (uint k = 0u; k < 16u; ++k)
      c.v[i] += tile_half((a.elem + r * 5u) * 8u + k) * tile_half((b.elem + col * 5u) * 8u + k);
  }
  return c;
}
void store_acc(FragAcc c, uint elem) {
  for (uint i = 0u; i < 8u; ++i) {
    uint f = elem * 4u + lane_index() + 32u * i;
    tiles[f >> 2u][f & 3u] = floatBitsToUint(c.v[i]);
  }
}
void warp_sync() { barrier(); }
)";
}

// GLSL of the cooperative kernel's staging: Raw fetch_x / fetch_w (a group's two pieces as loaded),
// stage_x / stage_w (a piece converted and stored into a stage).
std::string coop_staging(const EmitContext& ctx, const CoopLayout& l) {
  const ir::DType xt = ctx.input(0).dtype, wt = ctx.input(1).dtype;
  const bool by4 = k_by_4(ctx);
  const bool prologue = ctx.op.kind == ir::OpKind::FusedMatMul && ctx.op.attr_str("prologue", "none") != "none";
  const bool f16_bits_x = xt == ir::DType::F16 && by4, f16_bits_w = wt == ir::DType::F16 && by4;
  std::string fetch_x, x_piece, fetch_w, w_piece;
  // x: f32 raw 16-byte loads (the prologue applied when staged), f16 / bf16 raw 8-byte loads;
  // otherwise the values themselves (load_x4).
  if (by4 && xt == ir::DType::F32) {
    fetch_x = R"(    if (k < $K) r.a = floatBitsToUint(TileVec4(args.x).v[e / 4u]);
    if (k + 16u < $K) r.b = floatBitsToUint(TileVec4(args.x).v[e / 4u + 4u]);
)";
    x_piece = prologue ? R"(  vec4 v = uintBitsToFloat(p == 0u ? r.a : r.b);
  float ss = 0.0;
  if (row < $M && k < $K) v = fused_x4(v, row * $K + k, k, ss);
  return v;
)"
                       : "  return uintBitsToFloat(p == 0u ? r.a : r.b);\n";
  } else if (by4 && (xt == ir::DType::F16 || xt == ir::DType::BF16)) {
    fetch_x = R"(    if (k < $K) r.a.xy = TileU2(args.x).v[e / 4u];
    if (k + 16u < $K) r.b.xy = TileU2(args.x).v[e / 4u + 4u];
)";
    x_piece = std::string("  vec4 v = ") + (xt == ir::DType::F16 ? "f16x4" : "bf16x4") + R"((p == 0u ? r.a.xy : r.b.xy);
  float ss = 0.0;
  if (row < $M && k < $K) v = fused_x4(v, row * $K + k, k, ss);
  return v;
)";
  } else {
    fetch_x = R"(    r.a = floatBitsToUint(load_x4(row, k));
    r.b = floatBitsToUint(load_x4(row, k + 16u));
)";
    x_piece = "  return uintBitsToFloat(p == 0u ? r.a : r.b);\n";
  }
  // w: q4_0 the scale and one quant word (both pieces), q8_0 the scale and two words, f32 16-byte
  // and f16 / bf16 8-byte raw loads; otherwise the values (load_w4).
  if (wt == ir::DType::Q4_0) {
    fetch_w = "    r.a.xy = q4_0_fetch(e);\n";
    w_piece = "  return q4_0_values(r.a.xy, p);\n";
  } else if (wt == ir::DType::Q8_0) {
    fetch_w = "    r.a.xy = q8_0_fetch(e);\n    r.a.z = q8_0_fetch(e + 16u).y;\n";
    w_piece = "  return q8_0_values(r.a.x, p == 0u ? r.a.y : r.a.z);\n";
  } else if (by4 && wt == ir::DType::F32) {
    fetch_w = R"(    if (k < $K) r.a = floatBitsToUint(TileVec4(args.w).v[e / 4u]);
    if (k + 16u < $K) r.b = floatBitsToUint(TileVec4(args.w).v[e / 4u + 4u]);
)";
    w_piece = "  return uintBitsToFloat(p == 0u ? r.a : r.b);\n";
  } else if (by4 && (wt == ir::DType::F16 || wt == ir::DType::BF16)) {
    fetch_w = R"(    if (k < $K) r.a.xy = TileU2(args.w).v[e / 4u];
    if (k + 16u < $K) r.b.xy = TileU2(args.w).v[e / 4u + 4u];
)";
    w_piece = std::string("  return ") + (wt == ir::DType::F16 ? "f16x4" : "bf16x4") + "(p == 0u ? r.a.xy : r.b.xy);\n";
  } else {
    fetch_w = R"(    r.a = floatBitsToUint(load_w4(col, k));
    r.b = floatBitsToUint(load_w4(col, k + 16u));
)";
    w_piece = "  return uintBitsToFloat(p == 0u ? r.a : r.b);\n";
  }
  // A piece's f16 bits as staged: hi (and lo) when split; raw bits of f16 data; rounded otherwise.
  // Split operands put hi at uvec4 0..1 of the row and lo at 2..3 (a 16-wide K slice per stage);
  // unsplit ones of a split kernel use 0..1 only; "f16" kernels put piece p at 2p.. (32 wide).
  auto stage_fn = [&](const char* name, const char* args, const char* piece_call, bool split_operand,
                      bool f16_bits) {
    std::string s = fmt::format("void {}(uint row_base, uint q, Raw r, {}uint p) {{\n", name, args);
    s += l.split() ? "  uint s = row_base + (q >> 1u), c = 2u * (q & 1u);\n"
                   : "  uint s = row_base + 2u * p + (q >> 1u), c = 2u * (q & 1u);\n";
    if (split_operand)
      s += fmt::format("  uvec2 hi, lo;\n  split4({}, hi, lo);\n  put(s, c, hi);\n  put(s + 2u, c, lo);\n", piece_call);
    else if (f16_bits)
      s += "  put(s, c, p == 0u ? r.a.xy : r.b.xy);\n";
    else
      s += fmt::format("  put(s, c, round4({}));\n", piece_call);
    return s + "}\n";
  };
  return render(R"(
// A staged group's two 4-value pieces (columns k .. k+3 and k+16 .. k+19 of a 32-wide K block) as
// loaded: raw bits (f32, f16, bf16; q4_0: scale, quant word; q8_0: scale, two words) or values.
struct Raw { uvec4 a; uvec4 b; };
Raw fetch_x(uint row, uint k) {
  Raw r = Raw(uvec4(0u), uvec4(0u));
  if (row < $M) {
    uint e = row * $K + k;
)" + fetch_x + R"(  }
  return r;
}
// Piece p (columns k ..) of the group of x row `row`: values after the prologue, zeros outside.
vec4 x_piece(Raw r, uint row, uint k, uint p) {
)" + x_piece + R"(}
Raw fetch_w(uint col, uint k) {
  Raw r = Raw(uvec4(0u), uvec4(0u));
  if (col < $N) {
    uint e = col * $K + k;
)" + fetch_w + R"(  }
  return r;
}
vec4 w_piece(Raw r, uint p) {
)" + w_piece + R"(}
// The f32-faithful split (the file's top comment says why it is built from integer bits):
// hi = v rounded to nearest even on 11 significant bits, 0 below 2^-14, at most 65504;
// lo = (v - hi)·2048.
void split4(vec4 v, out uvec2 hi, out uvec2 lo) {
  uvec4 u = floatBitsToUint(v);
  uvec4 a = u & 0x7fffffffu;
  uvec4 r = min((a + 0xfffu + ((a >> 13u) & 1u)) & 0xffffe000u, uvec4(0x477fe000u));
  r = mix(r, uvec4(0u), lessThan(a, uvec4(0x38800000u)));
  vec4 h = uintBitsToFloat(r | (u & 0x80000000u));
  precise vec4 d = v - h;
  precise vec4 l = d * 2048.0;
  hi = uvec2(packHalf2x16(h.xy), packHalf2x16(h.zw));
  lo = uvec2(packHalf2x16(l.xy), packHalf2x16(l.zw));
}
// "f16": v rounded by the conversion (clamped to f16's range).
uvec2 round4(vec4 v) {
  v = clamp(v, vec4(-65504.0), vec4(65504.0));
  return uvec2(packHalf2x16(v.xy), packHalf2x16(v.zw));
}
// 4 halves into tiles[s], components c and c + 1.
void put(uint s, uint c, uvec2 h) {
  tiles[s][c] = h.x;
  tiles[s][c + 1u] = h.y;
}
// Piece p of a group into the stage row starting at uvec4 row_base (its k = the piece's column).
)" + stage_fn("stage_x", "uint row, uint k, ", "x_piece(r, row, k, p)", l.split_x, f16_bits_x) +
                    stage_fn("stage_w", "", "w_piece(r, p)", l.split_w, f16_bits_w),
                shape_vars(ctx));
}

KernelPlan emit_cooperative_tiled(const EmitContext& ctx, const Fusion& f, bool emulated) {
  const CoopLayout l = coop_layout(ctx);
  const int64_t n = ctx.input(1).shape[0].value;
  const ir::Dim& k = ctx.input(1).shape[1];
  KernelPlan plan = tiled_plan(ctx, f, "coopmat", l.bm, l.bn, l.local());
  plan.name = kernel_name(ctx, fmt::format("n{}_coopmat_{}{}x{}_w{}x{}{}{}", n, l.precision, l.bm, l.bn, l.wm, l.wn,
                                           emulated ? "_emulated" : "", f.tag));
  // The fragment layout assumes 32-lane subgroups (TargetCaps: the device runs or can require 32).
  if (!emulated && ctx.caps.subgroup_size_control) plan.required_subgroup_size = 32;
  const uint32_t fm_count = l.wm / 16, fn_count = l.wn / 16;
  const uint32_t x_groups = l.bm * 4 / l.local(), w_groups = l.bn * 4 / l.local();
  std::map<std::string, std::string> vars = shape_vars(ctx);
  vars["KB"] = k.is_const() ? glsl_uint((k.value + 31) / 32) : "((" + ctx.dim(k) + " + 31u) / 32u)";
  vars["STAGE"] = glsl_uint(l.stage_vec4s());

  // Straight-line GLSL, generated per group / fragment (no array is ever indexed by a variable).
  auto each = [](uint32_t count, const std::function<std::string(uint32_t)>& line) {
    std::string s;
    for (uint32_t i = 0; i < count; ++i) s += line(i);
    return s;
  };
  auto fetch_all = [&](const std::string& indent, const std::string& k0) {
    return each(x_groups, [&](uint32_t i) {
             return fmt::format("{}x_raw_{} = fetch_x(row0 + x_row_{}, {} + 4u * x_q_{});\n", indent, i, i, k0, i);
           }) +
           each(w_groups, [&](uint32_t i) {
             return fmt::format("{}w_raw_{} = fetch_w(col0 + w_row_{}, {} + 4u * w_q_{});\n", indent, i, i, k0, i);
           });
  };
  // Piece p of every group into the stage at uvec4 `base`; k0: the block's first column.
  auto stage_all = [&](const std::string& indent, const std::string& base, const std::string& k0, uint32_t p) {
    return each(x_groups, [&](uint32_t i) {
             return fmt::format("{}stage_x({} + x_row_{} * 5u, x_q_{}, x_raw_{}, row0 + x_row_{}, {} + 4u * x_q_{} + {}u, {}u);\n",
                                indent, base, i, i, i, i, k0, i, 16 * p, p);
           }) +
           each(w_groups, [&](uint32_t i) {
             return fmt::format("{}stage_w({} + {}u + w_row_{} * 5u, w_q_{}, w_raw_{}, {}u);\n", indent, base,
                                l.bm * 5, i, i, i, p);
           });
  };
  auto frags = [&](const std::function<std::string(uint32_t, uint32_t)>& line) {
    std::string s;
    for (uint32_t i = 0; i < fm_count; ++i)
      for (uint32_t j = 0; j < fn_count; ++j) s += line(i, j);
    return s;
  };
  // The MMAs of the stage at uvec4 `base`: its 16-wide K slices at row offsets `slices`; with a
  // split, the lo halves at row offset 2.
  auto mma = [&](const std::string& base) {
    std::string s = "    {\n";
    const std::vector<uint32_t> slices = l.split() ? std::vector<uint32_t>{0} : std::vector<uint32_t>{0, 2};
    for (uint32_t off : slices) {
      for (uint32_t i = 0; i < fm_count; ++i)
        s += fmt::format("      FragA xh_{0}_{1}; load_a(xh_{0}_{1}, {2} + a_base + {3}u);\n", i, off, base, 80 * i + off);
      for (uint32_t j = 0; j < fn_count; ++j)
        s += fmt::format("      FragA wh_{0}_{1}; load_b(wh_{0}_{1}, {2} + b_base + {3}u);\n", j, off, base, 80 * j + off);
      s += frags([&](uint32_t i, uint32_t j) {
        return fmt::format("      acc_{0}_{1} = mul_add(xh_{0}_{2}, wh_{1}_{2}, acc_{0}_{1});\n", i, j, off);
      });
    }
    if (l.split_x) {
      for (uint32_t i = 0; i < fm_count; ++i)
        s += fmt::format("      FragA xl_{0}; load_a(xl_{0}, {1} + a_base + {2}u);\n", i, base, 80 * i + 2);
      s += frags([&](uint32_t i, uint32_t j) {
        return fmt::format("      corr_{0}_{1} = mul_add(xl_{0}, wh_{1}_0, corr_{0}_{1});\n", i, j);
      });
    }
    if (l.split_w) {
      for (uint32_t j = 0; j < fn_count; ++j)
        s += fmt::format("      FragA wl_{0}; load_b(wl_{0}, {1} + b_base + {2}u);\n", j, base, 80 * j + 2);
      s += frags([&](uint32_t i, uint32_t j) {
        return fmt::format("      corr_{0}_{1} = mul_add(xh_{0}_0, wl_{1}, corr_{0}_{1});\n", i, j);
      });
    }
    return s + "    }\n";
  };

  std::string main = R"(
void main() {
  uint t = gl_LocalInvocationIndex;
  uint row0 = gl_WorkGroupID.y * $BM, col0 = gl_WorkGroupID.x * $BN;
  uint warp = warp_index(), wm = warp % $WARPS_M, wn = warp / $WARPS_M;
  // This subgroup's $WM x $WN block: its x rows and w rows within a stage (fragment i: 80 i further).
  uint a_base = wm * $WM * 5u, b_base = $BM * 5u + wn * $WN * 5u;
  // Staged groups g = t + $L i: tile row g / 4, columns 4q .. and 16 + 4q .. (q = g % 4) of a block.
)";
  main += each(x_groups, [&](uint32_t i) { return fmt::format("  uint x_row_{0} = (t + {1}u) >> 2u, x_q_{0} = t & 3u;\n", i, i * l.local()); });
  main += each(w_groups, [&](uint32_t i) { return fmt::format("  uint w_row_{0} = (t + {1}u) >> 2u, w_q_{0} = t & 3u;\n", i, i * l.local()); });
  main += each(x_groups, [](uint32_t i) { return fmt::format("  Raw x_raw_{};\n", i); });
  main += each(w_groups, [](uint32_t i) { return fmt::format("  Raw w_raw_{};\n", i); });
  main += frags([&](uint32_t i, uint32_t j) {
    return fmt::format("  FragAcc acc_{0}_{1} = acc_zero();\n", i, j) +
           (l.split() ? fmt::format("  FragAcc corr_{0}_{1} = acc_zero();  // xl·wh + xh·wl, scaled by 2048\n", i, j) : "");
  });
  main += fetch_all("  ", "0u");
  if (l.split()) {
    // Two stages per block: stage 0 its columns 0..15, stage 1 its columns 16..31.
    main += stage_all("  ", "0u", "0u", 0);
    main += "  for (uint kb = 0u; kb < $KB; ++kb) {\n    uint k0 = 32u * kb;\n    barrier();\n";
    main += stage_all("    ", "$STAGE", "k0", 1);
    main += "    // The next block's loads are in flight during stage 0's MMAs.\n    if (kb + 1u < $KB) {\n";
    main += fetch_all("      ", "k0 + 32u");
    main += "    }\n" + mma("0u") + "    barrier();\n    if (kb + 1u < $KB) {\n";
    main += stage_all("      ", "0u", "k0 + 32u", 0);
    main += "    }\n" + mma("$STAGE") + "  }\n";
  } else {
    // A stage per block, alternating between the two.
    main += stage_all("  ", "0u", "0u", 0) + stage_all("  ", "0u", "0u", 1);
    main += "  if (1u < $KB) {\n" + fetch_all("    ", "32u") + "  }\n";
    main += "  for (uint kb = 0u; kb < $KB; ++kb) {\n    uint stage = (kb & 1u) * $STAGE, next = $STAGE - stage;\n";
    main += "    uint k1 = 32u * (kb + 1u);\n    barrier();\n    if (kb + 1u < $KB) {\n";
    main += stage_all("      ", "next", "k1", 0) + stage_all("      ", "next", "k1", 1);
    main += "      // The block after it loads during this stage's MMAs.\n      if (kb + 2u < $KB) {\n";
    main += fetch_all("        ", "k1 + 32u");
    main += "      }\n    }\n" + mma("stage") + "  }\n";
  }
  main += "  barrier();  // the stages become the subgroups' epilogue slots\n";
  main += "  uint slot = warp * $SLOT;\n";
  main += frags([&](uint32_t i, uint32_t j) {
    return fmt::format("  finish_fragment(acc_{0}_{1}, {2}, slot, row0 + wm * $WM + {3}u, col0 + wn * $WN + {4}u);\n", i,
                       j, l.split() ? fmt::format("corr_{}_{}", i, j) : std::string("acc_zero()"), 16 * i, 16 * j);
  });
  main += "}\n";

  vars.insert({{"BM", glsl_uint(l.bm)},
               {"BN", glsl_uint(l.bn)},
               {"WM", glsl_uint(l.wm)},
               {"WN", glsl_uint(l.wn)},
               {"WARPS_M", glsl_uint(l.bm / l.wm)},
               {"L", glsl_uint(l.local())},
               {"SLOT", glsl_uint(l.slot_vec4s())},
               {"TILES", glsl_uint(l.tile_vec4s())},
               {"CORR", l.split() ? "\n  v0 += uintBitsToFloat(tiles[slot + 64u + i0]) * (1.0 / 2048.0);"
                                    "\n  v1 += uintBitsToFloat(tiles[slot + 64u + i1]) * (1.0 / 2048.0);"
                                  : ""},
               {"STORE_CORR", l.split() ? "\n  store_acc(c, slot + 64u);" : ""}});
  plan.body = f.glsl + tile_readers(ctx) + render(R"(
// Two stages of ($BM x rows + $BN w rows) x 5 uvec4 (32 f16 halves and a pad per row); after the K
// loop, each subgroup's $SLOT-uvec4 epilogue slot.
shared uvec4 tiles[$TILES];
)", vars) + coop_staging(ctx, l) + fragment_ops(emulated) + render(R"(
// 4 outputs of a row from column col, through fused_out.
void write4(uint row, uint col, vec4 v) {
  if (row >= $M) return;
  uint o = row * $N + col;
  if (col < $N) st_result(o, fused_out(v.x, 0.0, o));
  if (col + 1u < $N) st_result(o + 1u, fused_out(v.y, 0.0, o + 1u));
  if (col + 2u < $N) st_result(o + 2u, fused_out(v.z, 0.0, o + 2u));
  if (col + 3u < $N) st_result(o + 3u, fused_out(v.w, 0.0, o + 3u));
}
// A finished 16 x 16 fragment at (row, col) of the output: acc (+ corr / 2048, added in f32 as
// scalars: spirv-opt's folder crashes on arithmetic with cooperative matrices) through this
// subgroup's slot; lane l writes rows l / 4 and l / 4 + 8, columns 4 (l % 4) ...
void finish_fragment(FragAcc a, FragAcc c, uint slot, uint row, uint col) {
  store_acc(a, slot);$STORE_CORR
  warp_sync();
  uint lane = lane_index(), r = lane >> 2u, i0 = r * 4u + (lane & 3u), i1 = i0 + 32u;
  vec4 v0 = uintBitsToFloat(tiles[slot + i0]), v1 = uintBitsToFloat(tiles[slot + i1]);$CORR
  warp_sync();
  write4(row + r, col + 4u * (lane & 3u), v0);
  write4(row + r + 8u, col + 4u * (lane & 3u), v1);
}
)" + main, vars);
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
