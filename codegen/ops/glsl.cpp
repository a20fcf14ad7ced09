#include "codegen/ops/glsl.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <set>

#include "codegen/glsl_compiler.h"

namespace vkllm::codegen::ops {

// Vulkan guarantees at least this many workgroups along each grid axis.
constexpr int64_t kMaxGroupsPerAxis = 65535;

std::string EmitContext::dim(const ir::Dim& d) const {
  if (d.is_const()) return glsl_uint(d.value);
  auto it = std::find(symbols.begin(), symbols.end(), d.sym);
  if (it == symbols.end()) fail(fmt::format("symbol '{}' has no step-params slot", d.sym));
  return fmt::format("args.params.sym[{}]", it - symbols.begin());
}

std::optional<int64_t> EmitContext::max_value(const ir::Dim& d) const {
  if (d.is_const()) return d.value;
  if (!max_symbols) return std::nullopt;
  auto it = max_symbols->find(d.sym);
  if (it == max_symbols->end()) return std::nullopt;
  return it->second;
}

std::string EmitContext::product(const ir::Shape& s, size_t begin, size_t end) const {
  int64_t constant = 1;
  std::string expr;
  for (size_t i = begin; i < end; ++i) {
    if (s[i].is_const()) {
      constant *= s[i].value;
    } else {
      expr += (expr.empty() ? "" : " * ") + dim(s[i]);
    }
  }
  if (expr.empty()) return glsl_uint(constant);
  if (constant == 1) return "(" + expr + ")";
  return "(" + glsl_uint(constant) + " * " + expr + ")";
}

void EmitContext::fail(const std::string& what) const {
  throw CompileError(fmt::format("graph @{}: op #{} '{}': {}", graph.name, op_index, ir::name(op.kind), what));
}

std::string render(std::string_view tmpl, const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(tmpl.size());
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] != '$') {
      out += tmpl[i++];
      continue;
    }
    size_t j = i + 1;
    while (j < tmpl.size() && (std::isalnum(static_cast<unsigned char>(tmpl[j])) || tmpl[j] == '_')) ++j;
    std::string key(tmpl.substr(i + 1, j - i - 1));
    auto it = vars.find(key);
    if (it == vars.end()) throw CompileError(fmt::format("kernel template uses undefined variable ${}", key));
    out += it->second;
    i = j;
  }
  return out;
}

std::string glsl_float(double v) {
  if (std::isnan(v)) return "uintBitsToFloat(0x7fc00000u)";
  if (std::isinf(v) || std::fabs(v) > 3.4028234663852886e38)
    return v > 0 ? "uintBitsToFloat(0x7f800000u)" : "uintBitsToFloat(0xff800000u)";
  // Nine significant digits round-trip every float.
  return fmt::format("{:.9e}", static_cast<float>(v));
}

std::string glsl_uint(int64_t v) {
  if (v < 0 || v > 0xffffffffll) throw CompileError(fmt::format("constant {} does not fit a 32-bit index", v));
  return fmt::format("{}u", v);
}

namespace {

bool is_16bit(ir::DType t) { return t != ir::DType::F32 && t != ir::DType::I32; }

// Element type and buffer-reference alignment of a dtype's storage.
const char* storage_type(ir::DType t) {
  switch (t) {
    case ir::DType::F32: return "float";
    case ir::DType::I32: return "int";
    default: return "uint16_t";  // f16, bf16 and 2-byte-aligned quantized blocks
  }
}

std::string buffer_type_name(ir::DType t, bool written) {
  std::string base = t == ir::DType::F32 ? "F32" : t == ir::DType::I32 ? "I32" : "U16";
  return "Buf" + base + (written ? "W" : "R");
}

// Byte o and the f32 at (even) byte offset o of a quantized tensor held as 16-bit units.
std::string quantized_byte_reader(const std::string& arg) {
  return render(R"(uint ldb_$A(uint o) { return (uint(args.$A.v[o >> 1u]) >> ((o & 1u) * 8u)) & 255u; }
float ldf_$A(uint o) { return uintBitsToFloat(uint(args.$A.v[o >> 1u]) | (uint(args.$A.v[(o >> 1u) + 1u]) << 16u)); }
)", {{"A", arg}});
}

// ld_<arg>(i): element i of a quantized tensor, as HostTensor::get computes it.
std::string quantized_element_reader(ir::DType t, const std::string& arg) {
  // q5_K is q4_K with 32 bytes of fifth bits (bit s of byte 16 + l) before the nibbles.
  const bool q5 = t == ir::DType::Q5_K;
  const std::map<std::string, std::string> v{
      {"A", arg}, {"BLOCK", q5 ? "176u" : "144u"}, {"QS", q5 ? "48u" : "16u"},
      {"N", fmt::format("{}u", ir::info(t).block_elems)}, {"BYTES", fmt::format("{}u", ir::info(t).block_bytes)},
      {"FIFTH", q5 ? fmt::format(" + ((ldb_{}(o + 16u + l) >> s) & 1u) * 16u", arg) : ""}};
  switch (t) {
    case ir::DType::Q4_K:
    case ir::DType::Q5_K:
      return render(R"(float ld_$A(uint i) {
  uint o = (i >> 8u) * $BLOCK, j = i & 255u, s = j >> 5u, l = j & 31u;
  uint sc, mn;
  if (s < 4u) {
    sc = ldb_$A(o + 4u + s) & 63u;
    mn = ldb_$A(o + 8u + s) & 63u;
  } else {
    sc = (ldb_$A(o + 8u + s) & 15u) | ((ldb_$A(o + s) >> 6u) << 4u);
    mn = (ldb_$A(o + 8u + s) >> 4u) | ((ldb_$A(o + 4u + s) >> 6u) << 4u);
  }
  uint q = ldb_$A(o + $QS + 32u * (s >> 1u) + l);
  q = ((s & 1u) != 0u ? q >> 4u : q & 15u)$FIFTH;
  precise float d1 = unpackHalf2x16(uint(args.$A.v[o >> 1u])).x * float(sc);
  precise float m1 = unpackHalf2x16(uint(args.$A.v[(o >> 1u) + 1u])).x * float(mn);
  precise float p = d1 * float(q);
  precise float r = p - m1;
  return r;
}
)", v);
    case ir::DType::Q6_K:
      return render(R"(float ld_$A(uint i) {
  uint o = (i >> 8u) * 210u, j = i & 255u, h = j >> 7u, qt = (j & 127u) >> 5u, l = j & 31u;
  uint lb = ldb_$A(o + 64u * h + l + 32u * (qt & 1u));
  uint low = qt < 2u ? lb & 15u : lb >> 4u;
  uint high = (ldb_$A(o + 128u + 32u * h + l) >> (2u * qt)) & 3u;
  int sc = bitfieldExtract(int(ldb_$A(o + 192u + 8u * h + (l >> 4u) + 2u * qt)), 0, 8);
  precise float ds = unpackHalf2x16(uint(args.$A.v[(o + 208u) >> 1u])).x * float(sc);
  precise float r = ds * float(int(low | (high << 4u)) - 32);
  return r;
}
)", v);
    case ir::DType::QA4:
      return render(R"(float ld_$A(uint i) {
  uint o = (i >> 5u) * 24u, j = i & 31u;
  uint q = (ldb_$A(o + 8u + (j >> 1u)) >> ((j & 1u) * 4u)) & 15u;
  precise float p = ldf_$A(o) * float(q);
  precise float r = p + ldf_$A(o + 4u);
  return r;
}
)", v);
    case ir::DType::QA8:
      return render(R"(float ld_$A(uint i) {
  uint o = (i >> 5u) * 40u;
  precise float p = ldf_$A(o) * float(ldb_$A(o + 8u + (i & 31u)));
  precise float r = p + ldf_$A(o + 4u);
  return r;
}
)", v);
    case ir::DType::QA4H:
    case ir::DType::QA4H_G64:
      return render(R"(float ld_$A(uint i) {
  uint o = (i / $N) * $BYTES, j = i % $N;
  vec2 sb = unpackHalf2x16(uint(args.$A.v[o >> 1u]) | (uint(args.$A.v[(o >> 1u) + 1u]) << 16u));
  uint q = (ldb_$A(o + 4u + (j >> 1u)) >> ((j & 1u) * 4u)) & 15u;
  precise float p = sb.x * float(q);
  precise float r = p + sb.y;
  return r;
}
)", v);
    case ir::DType::QA8H:
    case ir::DType::QA8H_G64:
      return render(R"(float ld_$A(uint i) {
  uint o = (i / $N) * $BYTES;
  vec2 sb = unpackHalf2x16(uint(args.$A.v[o >> 1u]) | (uint(args.$A.v[(o >> 1u) + 1u]) << 16u));
  precise float p = sb.x * float(ldb_$A(o + 4u + (i % $N)));
  precise float r = p + sb.y;
  return r;
}
)", v);
    default: throw CompileError(fmt::format("{} has no element reader", ir::name(t)));
  }
}

std::string load_function(ir::DType t, const std::string& arg) {
  const std::map<std::string, std::string> v{{"A", arg}};
  switch (t) {
    case ir::DType::F32:
      return render("float ld_$A(uint i) { return args.$A.v[i]; }\n", v);
    case ir::DType::I32:
      return render("int ld_$A(uint i) { return args.$A.v[i]; }\n", v);
    case ir::DType::F16:
      return render("float ld_$A(uint i) { return unpackHalf2x16(uint(args.$A.v[i])).x; }\n", v);
    case ir::DType::BF16:
      return render("float ld_$A(uint i) { return uintBitsToFloat(uint(args.$A.v[i]) << 16); }\n", v);
    case ir::DType::Q8_0:
      // Block of 32: f16 scale d, then 32 signed bytes q; element = d * q. 17 halfwords per block.
      return render(R"(float ld_$A(uint i) {
  uint block = (i >> 5u) * 17u, j = i & 31u;
  float d = unpackHalf2x16(uint(args.$A.v[block])).x;
  int pair = int(uint(args.$A.v[block + 1u + (j >> 1u)]));
  return d * float(bitfieldExtract(pair, int((j & 1u) * 8u), 8));
}
)", v);
    case ir::DType::Q4_0:
      // Block of 32: f16 scale d, then 16 bytes; byte j holds element j (low nibble) and j + 16
      // (high nibble), each stored as q + 8. 9 halfwords per block.
      return render(R"(float ld_$A(uint i) {
  uint block = (i >> 5u) * 9u, j = i & 31u, byte_index = j & 15u;
  uint pair = uint(args.$A.v[block + 1u + (byte_index >> 1u)]);
  uint nibble = (pair >> ((byte_index & 1u) * 8u + (j >> 4u) * 4u)) & 15u;
  return unpackHalf2x16(uint(args.$A.v[block])).x * float(int(nibble) - 8);
}
)", v);
    case ir::DType::Q4_K:
    case ir::DType::Q5_K:
    case ir::DType::Q6_K:
    case ir::DType::QA4:
    case ir::DType::QA8:
    case ir::DType::QA4H:
    case ir::DType::QA8H:
    case ir::DType::QA4H_G64:
    case ir::DType::QA8H_G64:
      // Element-wise readers of the layouts in ir/README.md, computing what HostTensor::get does
      // (`precise`: no fused multiply-add, so values match the host bit for bit).
      return quantized_byte_reader(arg) + quantized_element_reader(t, arg);
  }
  throw CompileError("unknown dtype");
}

std::string store_function(ir::DType t, const std::string& arg) {
  const std::map<std::string, std::string> v{{"A", arg}};
  switch (t) {
    case ir::DType::F32:
      return render("void st_$A(uint i, float x) { args.$A.v[i] = x; }\n", v);
    case ir::DType::I32:
      return render("void st_$A(uint i, int x) { args.$A.v[i] = x; }\n", v);
    case ir::DType::F16:
      return render("void st_$A(uint i, float x) { args.$A.v[i] = uint16_t(f32_to_f16_bits(x)); }\n", v);
    case ir::DType::BF16:
      return render("void st_$A(uint i, float x) { args.$A.v[i] = uint16_t(f32_to_bf16_bits(x)); }\n", v);
    case ir::DType::Q8_0:
    case ir::DType::Q4_0:
    case ir::DType::Q4_K:
    case ir::DType::Q5_K:
    case ir::DType::Q6_K:
    case ir::DType::QA4:
    case ir::DType::QA8:
    case ir::DType::QA4H:
    case ir::DType::QA8H:
    case ir::DType::QA4H_G64:
    case ir::DType::QA8H_G64:
      break;
  }
  throw CompileError(fmt::format("{} tensors are not stored element by element", ir::name(t)));
}

// Conversions and math every kernel may use; the compiler drops what a kernel does not call.
constexpr const char* kCommonFunctions = R"(
// f32 -> IEEE half bits, round to nearest even (explicit, so the result never depends on the
// driver's conversion rounding).
uint f32_to_f16_bits(float f) {
  uint x = floatBitsToUint(f);
  uint sign = (x >> 16) & 0x8000u;
  uint ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00u;            // NaN
  if (ax >= 0x477ff000u) return sign | 0x7c00u;           // rounds past 65504: infinity
  if (ax >= 0x38800000u) {                                // normal half
    uint r = ax - 0x38000000u;
    r += 0xfffu + ((r >> 13) & 1u);
    return sign | (r >> 13);
  }
  // Subnormal half: units of 2^-24; the scaling is exact and roundEven breaks ties to even.
  return sign | uint(roundEven(uintBitsToFloat(ax) * 16777216.0));
}
// f32 -> bfloat16 bits, round to nearest even; NaN stays NaN.
uint f32_to_bf16_bits(float f) {
  uint u = floatBitsToUint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}
// tanh without exp overflow for large |x|.
float tanh_stable(float x) {
  float t = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - t) / (1.0 + t);
}
// erf with absolute error below 1.5e-7 (Abramowitz & Stegun 7.1.26).
float erf_approx(float x) {
  float a = abs(x);
  float t = 1.0 / (1.0 + 0.3275911 * a);
  float poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}
// Unsigned key ordered like the values, NaN lowest and -0 equal to +0 (the order of argmax/top_k).
uint order_key(float v) {
  uint u = floatBitsToUint(v);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0u;
  if (u == 0x80000000u) u = 0u;
  return (u & 0x80000000u) != 0u ? ~u : u | 0x80000000u;
}
float sigmoid_f(float x) { return 1.0 / (1.0 + exp(-x)); }
// log(1 + e^x) = max(x, 0) + log1p(e^-|x|); log1p(e) as log(u) * e / (u - 1) with u = 1 + e keeps
// its relative accuracy when e is tiny (GLSL has no log1p).
float softplus_f(float x) {
  float e = exp(-abs(x));
  precise float u = 1.0 + e;
  precise float d = u - 1.0;
  return max(x, 0.0) + (d == 0.0 ? e : log(u) * (e / d));
}
float gelu_erf(float x) { return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752)); }
float gelu_tanh(float x) {
  return 0.5 * x * (1.0 + tanh_stable(0.79788456080286536 * (x + 0.044715 * x * x * x)));
}
)";

}  // namespace

std::string assemble_shader(const EmitContext& ctx, const KernelPlan& plan) {
  const size_t num_inputs = ctx.op.inputs.size();
  if (plan.arg_names.size() != num_inputs + ctx.op.results.size())
    ctx.fail(fmt::format("emitter named {} arguments for {} operands and results", plan.arg_names.size(),
                         num_inputs + ctx.op.results.size()));
  const uint32_t push_bytes = static_cast<uint32_t>(8 * (1 + plan.arg_names.size()));
  if (push_bytes > ctx.caps.max_push_constant_bytes)
    ctx.fail(fmt::format("needs {} bytes of push constants; the device allows {}", push_bytes,
                         ctx.caps.max_push_constant_bytes));

  struct Arg {
    std::string name;
    ir::DType dtype;
    bool written;
  };
  std::vector<Arg> arg_list;
  for (size_t i = 0; i < plan.arg_names.size(); ++i) {
    // An operand written in place (ir::in_place_writes) is bound writable, like the results.
    const bool written = i >= num_inputs || ir::in_place_writes(ctx.op).result_of_operand(i) >= 0;
    const ir::Type& t = i >= num_inputs ? ctx.result(i - num_inputs) : ctx.input(i);
    arg_list.push_back({plan.arg_names[i], t.dtype, written});
  }
  // Indices are 32-bit and SPIR-V treats access-chain indices as signed.
  for (size_t i = 0; i < plan.arg_names.size(); ++i) {
    const ir::Type& t = i < num_inputs ? ctx.input(i) : ctx.result(i - num_inputs);
    int64_t constant_elements = 1;
    for (const ir::Dim& d : t.shape)
      if (d.is_const()) constant_elements = std::min<int64_t>(constant_elements * std::max<int64_t>(d.value, 1), 1ll << 40);
    if (constant_elements >= (1ll << 31))
      ctx.fail(fmt::format("operand {} ({}) has 2^31 elements or more; kernels index with 32 bits",
                           plan.arg_names[i], ir::to_string(t)));
  }
  bool needs_16bit = false;
  std::set<std::pair<ir::DType, bool>> buffer_kinds;
  for (const Arg& a : arg_list) {
    needs_16bit |= is_16bit(a.dtype);
    ir::DType storage = a.dtype == ir::DType::F32 || a.dtype == ir::DType::I32 ? a.dtype : ir::DType::F16;
    buffer_kinds.insert({storage, a.written});
  }
  if (needs_16bit && !ctx.caps.storage_16bit)
    ctx.fail(fmt::format("device '{}' lacks 16-bit storage access, which f16, bf16 and quantized tensors need",
                         ctx.caps.name));

  std::string src = "#version 460\n#extension GL_EXT_buffer_reference : require\n";
  if (needs_16bit) src += "#extension GL_EXT_shader_16bit_storage : require\n";
  src += "#extension GL_KHR_shader_subgroup_basic : require\n";
  if (ctx.caps.subgroup_arithmetic) src += "#extension GL_KHR_shader_subgroup_arithmetic : require\n";
  src += fmt::format("// {}\nlayout(local_size_x = {}) in;\n\n", plan.name, plan.local_size);

  src += "layout(buffer_reference, std430, buffer_reference_align = 4) readonly buffer Params { uint sym[]; };\n";
  for (const auto& [storage, written] : buffer_kinds) {
    src += fmt::format("layout(buffer_reference, std430, buffer_reference_align = {}) {}buffer {} {{ {} v[]; }};\n",
                       is_16bit(storage) ? 2 : 4, written ? "" : "readonly ", buffer_type_name(storage, written),
                       storage_type(storage));
  }
  src += "layout(push_constant, std430) uniform Args {\n  Params params;\n";
  for (const Arg& a : arg_list) {
    ir::DType storage = a.dtype == ir::DType::F32 || a.dtype == ir::DType::I32 ? a.dtype : ir::DType::F16;
    src += fmt::format("  {} {};\n", buffer_type_name(storage, a.written), a.name);
  }
  src += "} args;\n";
  src += kCommonFunctions;
  src += "\n";
  for (const Arg& a : arg_list) {
    src += load_function(a.dtype, a.name);
    // Quantized results (slices of quantized weights) are copied as raw units, never stored per element.
    if (a.written && !ir::is_quantized(a.dtype)) src += store_function(a.dtype, a.name);
  }
  src += "\n";
  src += plan.body;
  return src;
}

std::string workgroup_reductions(const TargetCaps& caps, uint32_t local_size) {
  const std::map<std::string, std::string> v{{"L", fmt::format("{}u", local_size)}};
  // Partials live in shared memory sized for one entry per invocation, which bounds the number of
  // subgroups whatever size the driver picks.
  std::string decls = render(R"(
shared float wg_red_value[$L];
shared uint wg_red_key[$L];
shared int wg_red_index[$L];
bool wg_better(uint key, int i, uint other_key, int j) { return key > other_key || (key == other_key && i < j); }
)", v);
  if (caps.subgroup_arithmetic) {
    return decls + R"(
float wg_sum(float x) {
  x = subgroupAdd(x);
  if (subgroupElect()) wg_red_value[gl_SubgroupID] = x;
  barrier();
  float total = 0.0;
  for (uint s = 0u; s < gl_NumSubgroups; ++s) total += wg_red_value[s];
  barrier();
  return total;
}
float wg_max(float x) {
  x = subgroupMax(x);
  if (subgroupElect()) wg_red_value[gl_SubgroupID] = x;
  barrier();
  float best = wg_red_value[0];
  for (uint s = 1u; s < gl_NumSubgroups; ++s) best = max(best, wg_red_value[s]);
  barrier();
  return best;
}
void wg_argmax(inout uint key, inout int i) {
  uint m = subgroupMax(key);
  int c = subgroupMin(key == m ? i : 0x7fffffff);
  if (subgroupElect()) {
    wg_red_key[gl_SubgroupID] = m;
    wg_red_index[gl_SubgroupID] = c;
  }
  barrier();
  key = wg_red_key[0];
  i = wg_red_index[0];
  for (uint s = 1u; s < gl_NumSubgroups; ++s)
    if (wg_better(wg_red_key[s], wg_red_index[s], key, i)) {
      key = wg_red_key[s];
      i = wg_red_index[s];
    }
  barrier();
}
)";
  }
  return decls + render(R"(
float wg_sum(float x) {
  uint t = gl_LocalInvocationIndex;
  wg_red_value[t] = x;
  barrier();
  for (uint s = $L / 2u; s > 0u; s >>= 1u) {
    if (t < s) wg_red_value[t] += wg_red_value[t + s];
    barrier();
  }
  float total = wg_red_value[0];
  barrier();
  return total;
}
float wg_max(float x) {
  uint t = gl_LocalInvocationIndex;
  wg_red_value[t] = x;
  barrier();
  for (uint s = $L / 2u; s > 0u; s >>= 1u) {
    if (t < s) wg_red_value[t] = max(wg_red_value[t], wg_red_value[t + s]);
    barrier();
  }
  float best = wg_red_value[0];
  barrier();
  return best;
}
void wg_argmax(inout uint key, inout int i) {
  uint t = gl_LocalInvocationIndex;
  wg_red_key[t] = key;
  wg_red_index[t] = i;
  barrier();
  for (uint s = $L / 2u; s > 0u; s >>= 1u) {
    if (t < s && wg_better(wg_red_key[t + s], wg_red_index[t + s], wg_red_key[t], wg_red_index[t])) {
      wg_red_key[t] = wg_red_key[t + s];
      wg_red_index[t] = wg_red_index[t + s];
    }
    barrier();
  }
  key = wg_red_key[0];
  i = wg_red_index[0];
  barrier();
}
)", v);
}

std::string workgroup_lane_sums(const TargetCaps& caps, uint32_t local_size, uint32_t count) {
  if (count > local_size) throw CompileError("workgroup_lane_sums: more sums than invocations");
  const std::map<std::string, std::string> v{{"L", fmt::format("{}u", local_size)},
                                             {"J", fmt::format("{}u", count)},
                                             {"SIZE", fmt::format("{}", local_size * count)}};
  if (caps.subgroup_arithmetic) {
    return render(R"(
shared float wg_lane_part[$SIZE];
float wg_sum_lanes(float x[$J]) {
  for (uint j = 0u; j < $J; ++j) {
    float s = subgroupAdd(x[j]);
    if (subgroupElect()) wg_lane_part[gl_SubgroupID * $J + j] = s;
  }
  barrier();
  float total = 0.0;
  uint t = gl_LocalInvocationIndex;
  if (t < $J)
    for (uint s = 0u; s < gl_NumSubgroups; ++s) total += wg_lane_part[s * $J + t];
  barrier();
  return total;
}
)", v);
  }
  return render(R"(
shared float wg_lane_part[$SIZE];
float wg_sum_lanes(float x[$J]) {
  uint t = gl_LocalInvocationIndex;
  for (uint j = 0u; j < $J; ++j) wg_lane_part[t * $J + j] = x[j];
  barrier();
  for (uint s = $L / 2u; s > 0u; s >>= 1u) {
    if (t < s)
      for (uint j = 0u; j < $J; ++j) wg_lane_part[t * $J + j] += wg_lane_part[(t + s) * $J + j];
    barrier();
  }
  float total = t < $J ? wg_lane_part[t] : 0.0;
  barrier();
  return total;
}
)", v);
}

ItemLayout item_layout(const EmitContext& ctx, const ir::Shape& shape, size_t begin, size_t end, int64_t per_group) {
  ItemLayout out;
  std::optional<size_t> last_symbol;
  for (size_t i = begin; i < end; ++i)
    if (!shape[i].is_const()) last_symbol = i;
  const size_t inner_begin = last_symbol ? *last_symbol + 1 : begin;
  int64_t inner = 1;
  for (size_t i = inner_begin; i < end; ++i) inner *= shape[i].value;
  const std::string P = glsl_uint(per_group);

  if (!last_symbol) {
    // Constant count: groups over x, spilling onto y past the per-axis limit.
    int64_t groups = (inner + per_group - 1) / per_group;
    int64_t x = std::min(groups, kMaxGroupsPerAxis);
    out.grid[0] = GridDim{x, {}, 1};
    out.grid[1] = GridDim{x == 0 ? 1 : (groups + x - 1) / x, {}, 1};
    out.glsl = render(R"(
  uint wg_linear = gl_WorkGroupID.x + gl_NumWorkGroups.x * gl_WorkGroupID.y;
  if (wg_linear >= $G) return;
  uint item_begin = wg_linear * $P;
  uint item_end = min(item_begin + $P, $N);
)", {{"G", glsl_uint(groups)}, {"P", P}, {"N", glsl_uint(inner)}});
    return out;
  }

  int64_t outer_factor = 1;
  std::vector<std::string> outer_symbols;
  for (size_t i = begin; i < inner_begin; ++i) {
    if (shape[i].is_const()) outer_factor *= shape[i].value;
    else outer_symbols.push_back(shape[i].sym);
  }
  if (inner >= per_group) {
    // Trailing constant block on x, the leading (symbolic) part on y: y indexes outer rows exactly.
    int64_t x = (inner + per_group - 1) / per_group;
    if (x > kMaxGroupsPerAxis)
      ctx.fail(fmt::format("{} workgroups along x exceed the {} Vulkan guarantees", x, kMaxGroupsPerAxis));
    out.grid[0] = GridDim{x, {}, 1};
    out.grid[1] = GridDim{outer_factor, outer_symbols, 1};
    out.glsl = render(R"(
  uint item_begin = gl_WorkGroupID.y * $INNER + gl_WorkGroupID.x * $P;
  uint item_end = gl_WorkGroupID.y * $INNER + min((gl_WorkGroupID.x + 1u) * $P, $INNER);
)", {{"INNER", glsl_uint(inner)}, {"P", P}});
    return out;
  }
  // Small trailing block: one linear axis over all items.
  out.grid[0] = GridDim{outer_factor * inner, outer_symbols, per_group};
  out.glsl = render(R"(
  uint item_begin = gl_WorkGroupID.x * $P;
  uint item_end = min(item_begin + $P, $N);
)", {{"P", P}, {"N", ctx.product(shape, begin, end)}});
  return out;
}

uint32_t local_size_for(const EmitContext& ctx, const ir::Dim& n, uint32_t max) {
  uint32_t limit = std::min(max, ctx.caps.max_workgroup_invocations);
  uint32_t size = std::max<uint32_t>(ctx.caps.subgroup_size, 1);
  if (!n.is_const()) return std::max(size, limit);
  while (size < limit && static_cast<int64_t>(size) < n.value) size *= 2;
  return size;
}

std::string kernel_name(const EmitContext& ctx, const std::string& extra) {
  std::string name(ir::name(ctx.op.kind));
  const ir::Type& first = ctx.op.inputs.empty() ? ctx.result(0) : ctx.input(0);
  if (ctx.op.inputs.empty()) name += "_" + std::string(ir::name(first.dtype));
  for (size_t i = 0; i < ctx.op.inputs.size(); ++i) name += "_" + std::string(ir::name(ctx.input(i).dtype));
  if (ctx.op.kind == ir::OpKind::Cast) name += "_to_" + std::string(ir::name(ctx.result(0).dtype));
  name += "_";
  for (size_t i = 0; i < first.shape.size(); ++i) name += (i ? "x" : "") + ir::to_string(first.shape[i]);
  if (first.shape.empty()) name += "scalar";
  if (!extra.empty()) name += "_" + extra;
  return name;
}

int64_t const_dim(const EmitContext& ctx, const ir::Dim& d, const std::string& what) {
  if (!d.is_const()) ctx.fail(fmt::format("{} must be a constant dim, got symbol '{}'", what, d.sym));
  return d.value;
}

}  // namespace vkllm::codegen::ops
