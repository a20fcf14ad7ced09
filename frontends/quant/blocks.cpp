// Every function here mirrors the ggml function named in its comment statement by statement:
// float variables stay float, loops accumulate in the same order, so results match bit for bit.
// The library is compiled with -ffp-contract=off so no multiply-add is fused.
#include "frontends/quant/blocks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "frontends/quant/half.h"

namespace vkllm::frontends::quant {
namespace {

constexpr int kQK = 32;    // elements of a q8_0/q4_0/q4_1/q5_0 block
constexpr int kQKK = 256;  // elements of a K-quant super-block
constexpr float kGroupMaxEps = 1e-15f;

struct Entry {
  BlockType type;
  const char* name;
  BlockInfo info;
};
constexpr Entry kEntries[] = {
    {BlockType::Q8_0, "q8_0", {kQK, 34}},    {BlockType::Q4_0, "q4_0", {kQK, 18}},
    {BlockType::Q4_1, "q4_1", {kQK, 20}},    {BlockType::Q5_0, "q5_0", {kQK, 22}},
    {BlockType::Q4_K, "q4_K", {kQKK, 144}},  {BlockType::Q5_K, "q5_K", {kQKK, 176}},
    {BlockType::Q6_K, "q6_K", {kQKK, 210}},
};

const Entry& entry(BlockType t) { return kEntries[static_cast<int>(t)]; }

float load_f16(const uint8_t* p) { return f16_to_f32(static_cast<uint16_t>(p[0] | (p[1] << 8))); }

void store_f16(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  p[0] = static_cast<uint8_t>(h);
  p[1] = static_cast<uint8_t>(h >> 8);
}

// ggml's nearest_int: round half to even through the 1.5·2^23 trick. ggml asserts |fval| <= 2^22-1;
// here larger values saturate and NaN gives 0 instead.
int nearest_int(float fval) {
  if (std::isnan(fval)) return 0;
  fval = std::clamp(fval, -4194303.f, 4194303.f);
  const float val = fval + 12582912.f;
  int32_t i;
  std::memcpy(&i, &val, sizeof(i));
  return (i & 0x007fffff) - 0x00400000;
}

// C's (int8_t)(float) as x86 executes it (cvttss2si, low byte). ggml relies on it only for values in
// range; out-of-range values (possible only for scales that overflow) give what x86 gives instead of
// undefined behaviour.
int8_t truncate_to_int8(float v) {
  if (!(v > -2147483648.f && v < 2147483648.f)) return 0;
  return static_cast<int8_t>(static_cast<int32_t>(v));
}

// --- 32-element blocks ---------------------------------------------------------------------------

// dequantize_row_q8_0
void dequant_q8_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<int8_t>(b[2 + j]) * d;
}

// dequantize_row_q4_0
void dequant_q4_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < kQK / 2; ++j) {
    const int x0 = (qs[j] & 0x0F) - 8;
    const int x1 = (qs[j] >> 4) - 8;
    y[j] = x0 * d;
    y[j + kQK / 2] = x1 * d;
  }
}

// dequantize_row_q4_1
void dequant_q4_1(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float m = load_f16(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < kQK / 2; ++j) {
    const int x0 = qs[j] & 0x0F;
    const int x1 = qs[j] >> 4;
    y[j] = x0 * d + m;
    y[j + kQK / 2] = x1 * d + m;
  }
}

// dequantize_row_q5_0
void dequant_q5_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint32_t qh = static_cast<uint32_t>(b[2]) | static_cast<uint32_t>(b[3]) << 8 |
                      static_cast<uint32_t>(b[4]) << 16 | static_cast<uint32_t>(b[5]) << 24;
  const uint8_t* qs = b + 6;
  for (int j = 0; j < kQK / 2; ++j) {
    const uint8_t xh_0 = static_cast<uint8_t>(((qh >> j) << 4) & 0x10);
    const uint8_t xh_1 = static_cast<uint8_t>((qh >> (j + 12)) & 0x10);
    const int32_t x0 = ((qs[j] & 0x0F) | xh_0) - 16;
    const int32_t x1 = ((qs[j] >> 4) | xh_1) - 16;
    y[j] = x0 * d;
    y[j + kQK / 2] = x1 * d;
  }
}

// quantize_row_q8_0_ref
void quant_q8_0(const float* x, uint8_t* b) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / ((1 << 7) - 1);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_f16(b, d);
  for (int j = 0; j < kQK; ++j) b[2 + j] = static_cast<uint8_t>(truncate_to_int8(std::round(x[j] * id)));
}

// quantize_row_q4_0_ref
void quant_q4_0(const float* x, uint8_t* b) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    const float v = x[j];
    if (amax < std::fabs(v)) {
      amax = std::fabs(v);
      max = v;
    }
  }
  const float d = max / -8;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_f16(b, d);
  for (int j = 0; j < kQK / 2; ++j) {
    const float x0 = x[j] * id;
    const float x1 = x[kQK / 2 + j] * id;
    const uint8_t xi0 = static_cast<uint8_t>(std::min<int>(15, truncate_to_int8(x0 + 8.5f)));
    const uint8_t xi1 = static_cast<uint8_t>(std::min<int>(15, truncate_to_int8(x1 + 8.5f)));
    b[2 + j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
  }
}

// quantize_row_q4_1_ref
void quant_q4_1(const float* x, uint8_t* b) {
  float min = FLT_MAX, max = -FLT_MAX;
  for (int j = 0; j < kQK; ++j) {
    const float v = x[j];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const float d = (max - min) / ((1 << 4) - 1);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_f16(b, d);
  store_f16(b + 2, min);
  for (int j = 0; j < kQK / 2; ++j) {
    const float x0 = (x[j] - min) * id;
    const float x1 = (x[kQK / 2 + j] - min) * id;
    const uint8_t xi0 = static_cast<uint8_t>(std::min<int>(15, truncate_to_int8(x0 + 0.5f)));
    const uint8_t xi1 = static_cast<uint8_t>(std::min<int>(15, truncate_to_int8(x1 + 0.5f)));
    b[4 + j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
  }
}

// quantize_row_q5_0_ref
void quant_q5_0(const float* x, uint8_t* b) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    const float v = x[j];
    if (amax < std::fabs(v)) {
      amax = std::fabs(v);
      max = v;
    }
  }
  const float d = max / -16;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_f16(b, d);
  uint32_t qh = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    const float x0 = x[j] * id;
    const float x1 = x[kQK / 2 + j] * id;
    const uint8_t xi0 = static_cast<uint8_t>(std::min<int>(31, truncate_to_int8(x0 + 16.5f)));
    const uint8_t xi1 = static_cast<uint8_t>(std::min<int>(31, truncate_to_int8(x1 + 16.5f)));
    b[6 + j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
    qh |= ((xi0 & 0x10u) >> 4) << j;
    qh |= ((xi1 & 0x10u) >> 4) << (j + kQK / 2);
  }
  for (int i = 0; i < 4; ++i) b[2 + i] = static_cast<uint8_t>(qh >> (8 * i));
}

// --- K-quant helpers -------------------------------------------------------------------------------

// make_qx_quants with qw == NULL: a symmetric scale for n values in [-nmax, nmax-1] (stored + nmax),
// searched over 19 candidate scales around -nmax/max for the best weighted least-squares fit.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  if (rmse_type == 0) {
    for (int i = 0; i < n; ++i) {
      const int l = nearest_int(iscale * x[i]);
      L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
    }
    return 1 / iscale;
  }
  bool return_early = false;
  if (rmse_type < 0) {
    rmse_type = -rmse_type;
    return_early = true;
  }
  auto weight = [rmse_type](float v) -> float {
    return rmse_type == 1 ? v * v : rmse_type == 2 ? 1 : rmse_type == 3 ? std::fabs(v) : std::sqrt(std::fabs(v));
  };
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = weight(x[i]);
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  if (return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = weight(x[i]);
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// make_qkx2_quants: an affine fit x ≈ scale·L + min (min <= 0) for n values in [0, nmax], trying
// nstep+1 candidate scales and keeping the weighted least-squares optimum. Returns the scale and
// stores -min in *the_min.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// get_scale_min_k4: the 6-bit scale and min of sub-block j from the 12 packed bytes. Sub-blocks
// 0-3 keep theirs in the low 6 bits of bytes j and j+4; sub-blocks 4-7 split theirs into a nibble
// of byte j+4 and the top two bits of bytes j-4 (scale) and j (min).
void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

// The inverse packing of get_scale_min_k4, as quantize_row_q4_K_ref writes it.
void pack_scale_min_k4(int j, uint8_t ls, uint8_t lm, uint8_t* scales) {
  if (j < 4) {
    scales[j] = ls;
    scales[j + 4] = lm;
  } else {
    scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
    scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
    scales[j - 0] |= static_cast<uint8_t>((lm >> 4) << 6);
  }
}

// --- K-quants ----------------------------------------------------------------------------------------
// q4_K: d f16 | dmin f16 | scales[12] | qs[128]
// q5_K: d f16 | dmin f16 | scales[12] | qh[32] | qs[128]
// q6_K: ql[128] | qh[64] | scales int8[16] | d f16

// dequantize_row_q4_K
void dequant_q4_K(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float min = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  int is = 0;
  uint8_t sc, m;
  for (int j = 0; j < kQKK; j += 64) {
    get_scale_min_k4(is + 0, scales, &sc, &m);
    const float d1 = d * sc, m1 = min * m;
    get_scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = min * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    q += 32;
    is += 2;
  }
}

// dequantize_row_q5_K
void dequant_q5_K(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float min = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  int is = 0;
  uint8_t sc, m;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < kQKK; j += 64) {
    get_scale_min_k4(is + 0, scales, &sc, &m);
    const float d1 = d * sc, m1 = min * m;
    get_scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = min * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    ql += 32;
    is += 2;
    u1 = static_cast<uint8_t>(u1 << 2);
    u2 = static_cast<uint8_t>(u2 << 2);
  }
}

// dequantize_row_q6_K
void dequant_q6_K(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = load_f16(b + 208);
  for (int n = 0; n < kQKK; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int8_t q1 = static_cast<int8_t>(((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
      const int8_t q2 = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
      const int8_t q3 = static_cast<int8_t>(((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      const int8_t q4 = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      y[l + 0] = d * sc[is + 0] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

// The scale search shared by quantize_row_q4_K_ref and quantize_row_q5_K_ref: per 32-value sub-block
// an affine fit (make_qkx2_quants weighted by av_x + |x|), scales and mins quantized to 6 bits
// against the super-block maxima, then every value requantized with the rounded scales.
void quant_kx_scales(const float* x, uint8_t* dst_d_dmin_scales, uint8_t* L, int nmax, float rmin, int nstep) {
  uint8_t Laux[32];
  float weights[32];
  float mins[kQKK / 32];
  float scales[kQKK / 32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < kQKK / 32; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t* packed = dst_d_dmin_scales + 4;
  std::memset(packed, 0, 12);
  for (int j = 0; j < kQKK / 32; ++j) {
    uint8_t ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j]));
    uint8_t lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
    ls = std::min<uint8_t>(63, ls);
    lm = std::min<uint8_t>(63, lm);
    pack_scale_min_k4(j, ls, lm, packed);
  }
  store_f16(dst_d_dmin_scales, max_scale / 63.f);
  store_f16(dst_d_dmin_scales + 2, max_min / 63.f);
  const float d_all = load_f16(dst_d_dmin_scales);
  const float dmin_all = load_f16(dst_d_dmin_scales + 2);
  uint8_t sc, m;
  for (int j = 0; j < kQKK / 32; ++j) {
    get_scale_min_k4(j, packed, &sc, &m);
    const float d = d_all * sc;
    if (d == 0.0f) continue;
    const float dm = dmin_all * m;
    for (int ii = 0; ii < 32; ++ii) {
      const int l = nearest_int((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    }
  }
}

// quantize_row_q4_K_ref
void quant_q4_K(const float* x, uint8_t* b) {
  uint8_t L[kQKK];
  quant_kx_scales(x, b, L, 15, -1.f, 20);
  uint8_t* q = b + 16;
  for (int j = 0; j < kQKK; j += 64) {
    for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    q += 32;
  }
}

// quantize_row_q5_K_ref
void quant_q5_K(const float* x, uint8_t* b) {
  uint8_t L[kQKK];
  quant_kx_scales(x, b, L, 31, -0.5f, 15);
  uint8_t* qh = b + 16;
  uint8_t* ql = b + 48;
  std::memset(qh, 0, kQKK / 8);
  uint8_t m1 = 1, m2 = 2;
  for (int n = 0; n < kQKK; n += 64) {
    for (int j = 0; j < 32; ++j) {
      int l1 = L[n + j];
      if (l1 > 15) {
        l1 -= 16;
        qh[j] |= m1;
      }
      int l2 = L[n + j + 32];
      if (l2 > 15) {
        l2 -= 16;
        qh[j] |= m2;
      }
      ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
    }
    m1 = static_cast<uint8_t>(m1 << 2);
    m2 = static_cast<uint8_t>(m2 << 2);
    ql += 32;
  }
}

// quantize_row_q6_K_ref
void quant_q6_K(const float* x, uint8_t* b) {
  int8_t L[kQKK];
  float scales[kQKK / 16];
  float max_scale = 0, max_abs_scale = 0;
  for (int ib = 0; ib < kQKK / 16; ++ib) {
    const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1);
    scales[ib] = scale;
    const float abs_scale = std::fabs(scale);
    if (abs_scale > max_abs_scale) {
      max_abs_scale = abs_scale;
      max_scale = scale;
    }
  }
  if (max_abs_scale < kGroupMaxEps) {
    std::memset(b, 0, 210);
    store_f16(b + 208, 0.f);
    return;
  }
  int8_t* block_scales = reinterpret_cast<int8_t*>(b + 192);
  const float iscale = -128.f / max_scale;
  store_f16(b + 208, 1 / iscale);
  for (int ib = 0; ib < kQKK / 16; ++ib)
    block_scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
  const float d_all = load_f16(b + 208);
  for (int j = 0; j < kQKK / 16; ++j) {
    const float d = d_all * block_scales[j];
    if (d == 0.0f) continue;
    for (int ii = 0; ii < 16; ++ii) {
      int l = nearest_int(x[16 * j + ii] / d);
      l = std::max(-32, std::min(31, l));
      L[16 * j + ii] = static_cast<int8_t>(l + 32);
    }
  }
  uint8_t* ql = b;
  uint8_t* qh = b + 128;
  for (int j = 0; j < kQKK; j += 128) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t q1 = L[j + l + 0] & 0xF;
      const uint8_t q2 = L[j + l + 32] & 0xF;
      const uint8_t q3 = L[j + l + 64] & 0xF;
      const uint8_t q4 = L[j + l + 96] & 0xF;
      ql[l + 0] = static_cast<uint8_t>(q1 | (q3 << 4));
      ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
      qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                   ((L[j + l + 96] >> 4) << 6));
    }
    ql += 64;
    qh += 32;
  }
}

using DequantFn = void (*)(const uint8_t*, float*);
using QuantFn = void (*)(const float*, uint8_t*);

DequantFn dequant_fn(BlockType t) {
  switch (t) {
    case BlockType::Q8_0: return dequant_q8_0;
    case BlockType::Q4_0: return dequant_q4_0;
    case BlockType::Q4_1: return dequant_q4_1;
    case BlockType::Q5_0: return dequant_q5_0;
    case BlockType::Q4_K: return dequant_q4_K;
    case BlockType::Q5_K: return dequant_q5_K;
    case BlockType::Q6_K: return dequant_q6_K;
  }
  throw std::invalid_argument("unknown block type");
}

QuantFn quant_fn(BlockType t) {
  switch (t) {
    case BlockType::Q8_0: return quant_q8_0;
    case BlockType::Q4_0: return quant_q4_0;
    case BlockType::Q4_1: return quant_q4_1;
    case BlockType::Q5_0: return quant_q5_0;
    case BlockType::Q4_K: return quant_q4_K;
    case BlockType::Q5_K: return quant_q5_K;
    case BlockType::Q6_K: return quant_q6_K;
  }
  throw std::invalid_argument("unknown block type");
}

}  // namespace

BlockInfo block_info(BlockType t) { return entry(t).info; }
std::string_view name(BlockType t) { return entry(t).name; }

std::optional<BlockType> parse_block_type(std::string_view name) {
  for (const Entry& e : kEntries)
    if (name == e.name) return e.type;
  return std::nullopt;
}

double bits_per_weight(BlockType t) {
  const BlockInfo i = block_info(t);
  return 8.0 * i.bytes / i.elems;
}

size_t storage_bytes(BlockType t, size_t elems) {
  const BlockInfo i = block_info(t);
  if (elems % static_cast<size_t>(i.elems) != 0)
    throw std::invalid_argument(
        fmt::format("{}: {} values are not a whole number of {}-value blocks", name(t), elems, i.elems));
  return elems / static_cast<size_t>(i.elems) * static_cast<size_t>(i.bytes);
}

void dequantize(BlockType t, std::span<const uint8_t> blocks, std::span<float> out) {
  const BlockInfo i = block_info(t);
  const size_t nblocks = blocks.size() / static_cast<size_t>(i.bytes);
  if (blocks.size() % static_cast<size_t>(i.bytes) != 0 || out.size() != nblocks * static_cast<size_t>(i.elems))
    throw std::invalid_argument(fmt::format("dequantize {}: {} bytes do not hold the {} values asked for", name(t),
                                            blocks.size(), out.size()));
  const DequantFn fn = dequant_fn(t);
  for (size_t b = 0; b < nblocks; ++b) fn(blocks.data() + b * static_cast<size_t>(i.bytes), out.data() + b * static_cast<size_t>(i.elems));
}

std::vector<uint8_t> quantize(BlockType t, std::span<const float> values) {
  const BlockInfo i = block_info(t);
  std::vector<uint8_t> out(storage_bytes(t, values.size()));
  for (size_t k = 0; k < values.size(); ++k)
    if (!std::isfinite(values[k]))
      throw std::invalid_argument(fmt::format("quantize {}: value {} is {} (only finite values can be quantized)",
                                              name(t), k, values[k]));
  const QuantFn fn = quant_fn(t);
  const size_t nblocks = values.size() / static_cast<size_t>(i.elems);
  for (size_t b = 0; b < nblocks; ++b) fn(values.data() + b * static_cast<size_t>(i.elems), out.data() + b * static_cast<size_t>(i.bytes));
  return out;
}

}  // namespace vkllm::frontends::quant
