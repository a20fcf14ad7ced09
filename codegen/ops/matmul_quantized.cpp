// The quantized row-vector matmul kernel (emit_matmul in matmul.cpp picks it): every quantized IR
// dtype, f32 activations, subgroup arithmetic. Lanes own 32-value chunks of a weight row, load the
// chunk's packed bytes and dequantize them in registers, computing each value exactly as the
// element reader ld_w does; a subgroupAdd finishes each dot product.
#include <fmt/format.h>

#include "codegen/glsl_compiler.h"
#include "codegen/ops/glsl.h"
#include "codegen/ops/matmul.h"

namespace vkllm::codegen::ops {
namespace {

// GLSL that fills `float wv[32]` with the values of 32-value chunk c of the weight (chunks counted
// over the whole tensor, row after row), computing each value exactly as the element reader ld_w does.
std::string chunk_loader(ir::DType w) {
  switch (w) {
    case ir::DType::Q8_0:  // 34 bytes: f16 d, 32 x int8
      return R"(void load_chunk(uint c, out float wv[32]) {
  uint a[9];
  load_window9(c * 34u, a);
  float d = unpackHalf2x16(a[0]).x;
  for (uint j = 0u; j < 32u; ++j)
    wv[j] = d * float(bitfieldExtract(int(a[(j + 2u) >> 2u]), int(((j + 2u) & 3u) * 8u), 8));
}
)";
    case ir::DType::Q4_0:  // 18 bytes: f16 d, byte j = element j (low nibble) and j + 16 (high)
      return R"(void load_chunk(uint c, out float wv[32]) {
  uint a[5];
  load_window5(c * 18u, a);
  float d = unpackHalf2x16(a[0]).x;
  for (uint j = 0u; j < 16u; ++j) {
    uint byte_ = (a[(j + 2u) >> 2u] >> (((j + 2u) & 3u) * 8u)) & 255u;
    wv[j] = d * float(int(byte_ & 15u) - 8);
    wv[j + 16u] = d * float(int(byte_ >> 4u) - 8);
  }
}
)";
    case ir::DType::Q4_K:  // 144 bytes = 9 x 16: header (d, dmin, 12 scale bytes), 128 nibble bytes
    case ir::DType::Q5_K:  // 176 bytes = 11 x 16: the same with 32 bytes of fifth bits before the nibbles
      return render(R"(uint header_byte(uvec4 h, uint i) { return (h[i >> 2u] >> ((i & 3u) * 8u)) & 255u; }
void load_chunk(uint c, out float wv[32]) {
  W16 b = W16(args.w);
  uint block = (c >> 3u) * $UNITS, s = c & 7u;
  uvec4 h = b.v[block];
  uint sc, mn;
  if (s < 4u) {
    sc = header_byte(h, 4u + s) & 63u;
    mn = header_byte(h, 8u + s) & 63u;
  } else {
    sc = (header_byte(h, 8u + s) & 15u) | ((header_byte(h, s) >> 6u) << 4u);
    mn = (header_byte(h, 8u + s) >> 4u) | ((header_byte(h, 4u + s) >> 6u) << 4u);
  }
  vec2 dm = unpackHalf2x16(h.x);
  precise float d1 = dm.x * float(sc);
  precise float m1 = dm.y * float(mn);
  uint shift = (s & 1u) * 4u;
  for (uint half_ = 0u; half_ < 2u; ++half_) {
    uvec4 q = b.v[block + $QS + 2u * (s >> 1u) + half_];
    uvec4 fifth = $FIFTH_LOAD;
    for (uint word = 0u; word < 4u; ++word)
      for (uint k = 0u; k < 4u; ++k) {
        uint v = ((q[word] >> (8u * k + shift)) & 15u) | (((fifth[word] >> (8u * k + s)) & 1u) << 4u);
        precise float p = d1 * float(v);
        wv[16u * half_ + 4u * word + k] = p - m1;
      }
  }
}
)", w == ir::DType::Q5_K ? std::map<std::string, std::string>{{"UNITS", "11u"}, {"QS", "3u"}, {"FIFTH_LOAD", "b.v[block + 1u + half_]"}}
                         : std::map<std::string, std::string>{{"UNITS", "9u"}, {"QS", "1u"}, {"FIFTH_LOAD", "uvec4(0u)"}});
    case ir::DType::Q6_K:  // 210 bytes: ql[128], qh[64], int8 scales[16], f16 d
      return R"(void load_chunk(uint c, out float wv[32]) {
  uint o = (c >> 3u) * 210u, s = c & 7u, h = s >> 2u, qt = s & 3u;
  uint lows[9], highs[9];
  load_window9(o + 64u * h + 32u * (qt & 1u), lows);
  load_window9(o + 128u + 32u * h, highs);
  float d = unpackHalf2x16(halfword_at(o + 208u)).x;
  uint scales = halfword_at(o + 192u + 8u * h + 2u * qt);
  precise float ds0 = d * float(bitfieldExtract(int(scales), 0, 8));
  precise float ds1 = d * float(bitfieldExtract(int(scales), 8, 8));
  uint low_shift = qt < 2u ? 0u : 4u, high_shift = 2u * qt;
  for (uint l = 0u; l < 32u; ++l) {
    uint shift = (l & 3u) * 8u;
    uint q = ((lows[l >> 2u] >> (shift + low_shift)) & 15u) | (((highs[l >> 2u] >> (shift + high_shift)) & 3u) << 4u);
    precise float v = (l < 16u ? ds0 : ds1) * float(int(q) - 32);
    wv[l] = v;
  }
}
)";
    case ir::DType::QA4:  // 24 bytes = 3 x 8: f32 scale, f32 bias, 32 nibbles in order
      return R"(void load_chunk(uint c, out float wv[32]) {
  W8 b = W8(args.w);
  uvec2 sb = b.v[c * 3u];
  float scale = uintBitsToFloat(sb.x), bias = uintBitsToFloat(sb.y);
  for (uint p = 0u; p < 2u; ++p) {
    uvec2 q = b.v[c * 3u + 1u + p];
    for (uint k = 0u; k < 16u; ++k) {
      precise float v = scale * float((q[k >> 3u] >> ((k & 7u) * 4u)) & 15u);
      wv[16u * p + k] = v + bias;
    }
  }
}
)";
    case ir::DType::QA8:  // 40 bytes = 5 x 8: f32 scale, f32 bias, 32 bytes in order
      return R"(void load_chunk(uint c, out float wv[32]) {
  W8 b = W8(args.w);
  uvec2 sb = b.v[c * 5u];
  float scale = uintBitsToFloat(sb.x), bias = uintBitsToFloat(sb.y);
  for (uint p = 0u; p < 4u; ++p) {
    uvec2 q = b.v[c * 5u + 1u + p];
    for (uint k = 0u; k < 8u; ++k) {
      precise float v = scale * float((q[k >> 2u] >> ((k & 3u) * 8u)) & 255u);
      wv[8u * p + k] = v + bias;
    }
  }
}
)";
    case ir::DType::QA4H:  // 20 bytes = 5 words: f16 scale and bias, 32 nibbles in order
    case ir::DType::QA4H_G64:  // 36 bytes = 9 words: f16 scale and bias, 64 nibbles; chunk = a half
      return render(R"(void load_chunk(uint c, out float wv[32]) {
  U32s b = U32s(args.w);
  uint block = (c / $CHUNKS) * $WORDS, first = block + 1u + (c % $CHUNKS) * 4u;
  vec2 sb = unpackHalf2x16(b.v[block]);
  for (uint p = 0u; p < 4u; ++p) {
    uint q = b.v[first + p];
    for (uint k = 0u; k < 8u; ++k) {
      precise float v = sb.x * float((q >> (k * 4u)) & 15u);
      wv[8u * p + k] = v + sb.y;
    }
  }
}
)", w == ir::DType::QA4H ? std::map<std::string, std::string>{{"CHUNKS", "1u"}, {"WORDS", "5u"}}
                         : std::map<std::string, std::string>{{"CHUNKS", "2u"}, {"WORDS", "9u"}});
    case ir::DType::QA8H:  // 36 bytes = 9 words: f16 scale and bias, 32 bytes in order
    case ir::DType::QA8H_G64:  // 68 bytes = 17 words: f16 scale and bias, 64 bytes; chunk = a half
      return render(R"(void load_chunk(uint c, out float wv[32]) {
  U32s b = U32s(args.w);
  uint block = (c / $CHUNKS) * $WORDS, first = block + 1u + (c % $CHUNKS) * 8u;
  vec2 sb = unpackHalf2x16(b.v[block]);
  for (uint p = 0u; p < 8u; ++p) {
    uint q = b.v[first + p];
    for (uint k = 0u; k < 4u; ++k) {
      precise float v = sb.x * float((q >> (k * 8u)) & 255u);
      wv[4u * p + k] = v + sb.y;
    }
  }
}
)", w == ir::DType::QA8H ? std::map<std::string, std::string>{{"CHUNKS", "1u"}, {"WORDS", "9u"}}
                         : std::map<std::string, std::string>{{"CHUNKS", "2u"}, {"WORDS", "17u"}});
    default: throw CompileError(fmt::format("{} is not a quantized weight type", ir::name(w)));
  }
}

}  // namespace

bool quantized_row_vector_kernel_fits(const EmitContext& ctx) {
  const ir::DType w = ctx.input(1).dtype;
  return ctx.caps.subgroup_arithmetic && ctx.input(0).dtype == ir::DType::F32 && ir::is_quantized(w) &&
         ctx.input(1).shape[1].is_const();
}

KernelPlan emit_quantized_row_vector_matmul(const EmitContext& ctx, const Fusion& f, int64_t n,
                                            int64_t const_rows, const std::vector<std::string>& row_symbols) {
  const ir::Shape& x = ctx.input(0).shape;
  const int64_t k = ctx.input(1).shape[1].value;
  const int64_t tile_m = row_symbols.empty() ? std::min<int64_t>(std::max<int64_t>(const_rows, 1), 4) : 4;
  const int64_t tile_n = 8;
  const uint32_t local = std::min<uint32_t>(128, ctx.caps.max_workgroup_invocations);

  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("n{}_qrowvec{}x{}{}", n, tile_m, tile_n, f.tag));
  plan.arg_names = f.arg_names;
  plan.local_size = local;
  plan.grid[0] = GridDim{(n + tile_n - 1) / tile_n, {}, 1};
  plan.grid[1] = GridDim{const_rows, row_symbols, tile_m};
  const std::map<std::string, std::string> vars{{"TM", glsl_uint(tile_m)}, {"TN", glsl_uint(tile_n)},
                                                {"M", ctx.product(x, 0, x.size() - 1)}, {"N", glsl_uint(n)},
                                                {"K", glsl_uint(k)}, {"KC", glsl_uint(k / 32)},
                                                {"ROW_SS", f.prologue == "rms_norm" ? "subgroupAdd(ss[m])" : "0.0"}};
  plan.body = f.glsl + R"(
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer W16 { uvec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) readonly buffer W8 { uvec2 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) readonly buffer U32s { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer WideF { vec4 v[]; };
// The 2-byte-aligned ggml blocks (q8_0, q4_0, q6_K) are read in 32-bit words: load_windowN(o, a)
// loads the N aligned words from o rounded down to 4 bytes and, when o is not 4-byte aligned, shifts
// them by a half word, so a[i] holds bytes o + 4i .. o + 4i + 3 — except that the top half of a[N-1]
// is then missing. The words read lie in [o - 2, o + 4N): callers need bytes up to o + 4N - 2, so
// at most 2 bytes past a tensor's end are read, inside its buffer, which the runtime rounds up to
// 4 bytes (runtime/model_buffers.cpp, runtime/graph_executor.cpp).
uint funnel(uint lo, uint hi, bool odd) { return odd ? (lo >> 16u) | (hi << 16u) : lo; }
void load_window9(uint o, out uint a[9]) {
  U32s b = U32s(args.w);
  uint w = o >> 2u;
  bool odd = (o & 2u) != 0u;
  uint r[9];
  for (uint i = 0u; i < 9u; ++i) r[i] = b.v[w + i];
  for (uint i = 0u; i < 8u; ++i) a[i] = funnel(r[i], r[i + 1u], odd);
  a[8] = funnel(r[8], 0u, odd);
}
void load_window5(uint o, out uint a[5]) {
  U32s b = U32s(args.w);
  uint w = o >> 2u;
  bool odd = (o & 2u) != 0u;
  uint r[5];
  for (uint i = 0u; i < 5u; ++i) r[i] = b.v[w + i];
  for (uint i = 0u; i < 4u; ++i) a[i] = funnel(r[i], r[i + 1u], odd);
  a[4] = funnel(r[4], 0u, odd);
}
uint halfword_at(uint o) { return (U32s(args.w).v[o >> 2u] >> ((o & 2u) * 8u)) & 0xffffu; }
)" + chunk_loader(ctx.input(1).dtype) + render(R"(
void main() {
  const uint TM = $TM, TN = $TN;
  uint row0 = gl_WorkGroupID.y * TM, col0 = gl_WorkGroupID.x * TN;
  uint rows = min(TM, $M - row0);
  WideF x16 = WideF(args.x);
  // Subgroup-uniform loop: each subgroup takes whole weight rows of the tile; lanes take chunks.
  for (uint r = gl_SubgroupID; r < TN && col0 + r < $N; r += gl_NumSubgroups) {
    uint col = col0 + r;
    float acc[TM], ss[TM];
    for (uint m = 0u; m < TM; ++m) { acc[m] = 0.0; ss[m] = 0.0; }
    for (uint kc = gl_SubgroupInvocationID; kc < $KC; kc += gl_SubgroupSize) {
      float wv[32];
      load_chunk(col * $KC + kc, wv);
      for (uint m = 0u; m < TM; ++m) {
        if (m >= rows) break;
        uint xq = ((row0 + m) * $K + kc * 32u) / 4u;  // x in vec4 units
        for (uint q = 0u; q < 8u; ++q)
          acc[m] += dot(fused_x4(x16.v[xq + q], 4u * (xq + q), kc * 32u + 4u * q, ss[m]),
                        vec4(wv[4u * q], wv[4u * q + 1u], wv[4u * q + 2u], wv[4u * q + 3u]));
      }
    }
    for (uint m = 0u; m < TM; ++m) {
      float total = subgroupAdd(acc[m]), row_ss = $ROW_SS;
      uint o = (row0 + m) * $N + col;
      if (subgroupElect() && m < rows) st_result(o, fused_out(total, row_ss, o));
    }
  }
}
)", vars);
  return plan;
}

}  // namespace vkllm::codegen::ops
