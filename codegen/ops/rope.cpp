// rope: one workgroup per (row t, head h); invocations rotate the first R dims pair by pair and copy
// the rest. Frequencies (with linear / llama3 scaling) are computed on the host in double and baked
// in as turns per position, split so that position * frequency keeps its fraction exactly in f32:
// an f32 product p * f alone loses ~p * 2^-24 radians, visible at long positions. rope_dim_glsl gives
// the same arithmetic to the kernels with a rope folded in (kv_write_rope, paged_attention_partial).
#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "codegen/ops/glsl.h"

namespace vkllm::codegen::ops {
namespace {

// Scaled inverse frequencies inv_freq[i], i < R/2 (ir/README.md, rope).
std::vector<double> inverse_frequencies(const ir::Op& op, int64_t rotary_dims) {
  const double theta = op.attr_float("theta");
  const std::string scaling = op.attr_str("scaling", "none");
  std::vector<double> inv(static_cast<size_t>(rotary_dims / 2));
  for (size_t i = 0; i < inv.size(); ++i) {
    double f = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(rotary_dims));
    if (scaling == "linear") {
      f /= op.attr_float("factor");
    } else if (scaling == "llama3") {
      const double factor = op.attr_float("factor");
      const double low_ff = op.attr_float("low_freq_factor"), high_ff = op.attr_float("high_freq_factor");
      const double original = static_cast<double>(op.attr_int("original_max_position"));
      const double wavelen = 2 * std::numbers::pi / f;
      const double low = original / low_ff, high = original / high_ff;
      if (wavelen > low) {
        f /= factor;
      } else if (wavelen >= high) {
        const double smooth = (original / wavelen - low_ff) / (high_ff - low_ff);
        f *= (1 - smooth) / factor + smooth;
      }
    }
    inv[i] = f;
  }
  return inv;
}

// The leading 12 significant bits of v (>= 0): products with integers below 2^12 are exact in f32.
double leading_12_bits(double v) {
  if (v == 0) return 0;
  int e = 0;
  std::frexp(v, &e);  // v = m * 2^e, m in [0.5, 1)
  return std::ldexp(std::floor(std::ldexp(v, 12 - e)), e - 12);
}

std::string float_array(const std::string& name, const std::vector<double>& values) {
  std::string out = fmt::format("const float {}[{}] = float[](", name, values.size());
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + glsl_float(values[i]);
  return out + ");\n";
}

// turns[i] = inv_freq[i] / 2pi = hi + mid + lo, hi and mid of 12 bits each, as GLSL arrays, and
// rope_turns(p, i): the fraction of a turn position p makes at frequency i.
std::string rope_turns_glsl(const ir::Op& op, int64_t rotary) {
  std::vector<double> hi, mid, lo;
  for (double f : inverse_frequencies(op, rotary)) {
    const double turns = f / (2 * std::numbers::pi);
    hi.push_back(leading_12_bits(turns));
    mid.push_back(leading_12_bits(turns - hi.back()));
    lo.push_back(turns - hi.back() - mid.back());
  }
  return float_array("TURNS_HI", hi) + float_array("TURNS_MID", mid) + float_array("TURNS_LO", lo) + R"(
// Fraction of a turn of position p at frequency i; exact products keep it accurate for |p| < 2^24.
float rope_turns(int p, uint i) {
  uint ap = uint(abs(p));
  float p_hi = float(ap >> 12u) * 4096.0, p_lo = float(ap & 4095u);
  precise float turns = fract(p_hi * TURNS_HI[i]) + fract(p_hi * TURNS_MID[i]) + fract(p_lo * TURNS_HI[i]) +
                        fract(p_lo * TURNS_MID[i]) + fract(float(ap) * TURNS_LO[i]);
  turns = fract(turns);
  if (turns > 0.5) turns -= 1.0;
  return p < 0 ? -turns : turns;
}
)";
}

}  // namespace

std::string rope_dim_glsl(const ir::Op& op, int64_t head_dim, ir::DType rounded_to) {
  const int64_t rotary = op.attr_int("rotary_dims", head_dim);
  const bool neox = op.attr_str("layout", "neox") == "neox";
  std::string round = "x";
  if (rounded_to == ir::DType::F16) round = "unpackHalf2x16(f32_to_f16_bits(x)).x";
  if (rounded_to == ir::DType::BF16) round = "uintBitsToFloat(f32_to_bf16_bits(x) << 16)";
  return rope_turns_glsl(op, rotary) +
         render(R"(const uint ROPE_DIMS = $R;
// The dim that dim d (< ROPE_DIMS) rotates with.
uint rope_pair(uint d) { return $PAIR; }
// Dim d (< ROPE_DIMS) of a row after rope at position p, from its value xd and its pair's xp:
// the rope kernel's arithmetic, rounded to the rope result's dtype.
float rope_dim(int p, uint d, float xd, float xp) {
  float angle = 6.2831853071795865 * rope_turns(p, $FREQ);
  float c = cos(angle), s = sin(angle);
  float x = $FIRST ? xd * c - xp * s : xd * c + xp * s;
  return $ROUND;
}
)", {{"R", glsl_uint(rotary)},
     {"PAIR", neox ? fmt::format("d < {0} ? d + {0} : d - {0}", glsl_uint(rotary / 2)) : "d ^ 1u"},
     {"FREQ", neox ? fmt::format("d % {}", glsl_uint(rotary / 2)) : "d / 2u"},
     {"FIRST", neox ? fmt::format("d < {}", glsl_uint(rotary / 2)) : "(d & 1u) == 0u"},
     {"ROUND", round}});
}

KernelPlan emit_rope(const EmitContext& ctx) {
  const ir::Shape& shape = ctx.input(0).shape;
  const int64_t head_dim = const_dim(ctx, shape[2], "head dim");
  const int64_t rotary = ctx.op.attr_int("rotary_dims", head_dim);
  const int64_t half = rotary / 2;
  const bool neox = ctx.op.attr_str("layout", "neox") == "neox";

  const uint32_t local = local_size_for(ctx, ir::Dim::of(half), 64);
  ItemLayout layout = item_layout(ctx, shape, 0, 2, 1);
  KernelPlan plan;
  plan.name = kernel_name(ctx, fmt::format("{}_r{}_{}", neox ? "neox" : "interleaved", rotary,
                                           ctx.op.attr_str("scaling", "none")));
  plan.arg_names = {"x", "pos", "result"};
  plan.local_size = local;
  plan.grid = layout.grid;
  const std::map<std::string, std::string> vars{{"LAYOUT", layout.glsl},
                                                {"H", ctx.dim(shape[1])},
                                                {"DH", glsl_uint(head_dim)},
                                                {"HALF", glsl_uint(half)},
                                                {"R", glsl_uint(rotary)},
                                                {"J", neox ? "i" : "2u * i"},
                                                {"K", neox ? fmt::format("i + {}u", half) : "2u * i + 1u"},
                                                {"L", glsl_uint(local)}};
  plan.body = rope_turns_glsl(ctx.op, rotary) + render(R"(
void main() {
$LAYOUT
  uint row = item_begin;
  int p = ld_pos(row / $H);
  uint base = row * $DH;
  for (uint i = gl_LocalInvocationID.x; i < $HALF; i += $L) {
    float angle = 6.2831853071795865 * rope_turns(p, i);
    float c = cos(angle), s = sin(angle);
    uint j = $J, k = $K;
    float xj = ld_x(base + j), xk = ld_x(base + k);
    st_result(base + j, xj * c - xk * s);
    st_result(base + k, xk * c + xj * s);
  }
  for (uint d = $R + gl_LocalInvocationID.x; d < $DH; d += $L) st_result(base + d, ld_x(base + d));
}
)", vars);
  return plan;
}

}  // namespace vkllm::codegen::ops
