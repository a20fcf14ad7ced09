// matmul: out[m, n] = sum_k x[m, k] * w[n, k].
//
// Decode (few rows, f32 activations, subgroup arithmetic): the matrix-vector kernels of
// matmul_quantized.cpp — float weights (f32/f16/bf16, K a multiple of 8: one 16-byte load per lane
// step) and every quantized dtype. A workgroup owns R weight rows, its invocations split K, each x
// element read serves all R rows, and quantized values are dequantized with integer bit tricks and
// the scales factored out of each group. Their speed is the rate weights stream from memory.
// Prefill (a row bound above kTiledMinRows, any dtype, no rms_norm prologue): the tiled kernels of
// matmul_tiled.cpp — shared-memory tiles, f32 FMA or NV cooperative matrices (tensor cores).
// The general kernel (any dtype, quantized weights included): one workgroup computes a tile of TM
// rows x TN columns; its invocations split K, each accumulating all TM*TN partial dot products in
// f32, and a single multi-value workgroup reduction leaves output j of the tile in invocation j.
//
// fused_matmul (made by passes/fuse_*.cpp) is lowered by the same three kernels through hooks:
// fused_x/fused_x4 give the matmul's input elements after the prologue (rms_norm: x·(g + offset),
// accumulating Σx² per row so the output is scaled by 1/rms at the end, since
// Σ_k x_k·inv·(g_k+o)·w_k = inv·Σ_k x_k·(g_k+o)·w_k; swiglu: silu(gate)·up; geglu: gelu(gate)·up),
// and fused_out finishes an output (the 1/rms scale, then the residual add). A plain matmul gets
// identity hooks.
//
// multi_matmul (made by passes/fuse_glu_pair.cpp and merge_sibling_matmuls.cpp for decode steps) is
// lowered by the matrix-vector kernels with several weights (MatvecWeights, matmul.h): x, after the
// prologue, is read (staged) once per workgroup whatever the number of weights; where they do not fit
// (no subgroup arithmetic, f16 x, float weights with K not a multiple of 8) by the general kernel's
// form over several weights (emit_general_matmul below, which serves matmul and fused_matmul too).
#include <fmt/format.h>

#include <bit>

#include "codegen/glsl_compiler.h"
#include "codegen/ops/glsl.h"
#include "codegen/ops/matmul.h"

namespace vkllm::codegen::ops {

Fusion fusion_of(const EmitContext& ctx) {
  Fusion f;
  if (ctx.op.kind == ir::OpKind::FusedMatMul) {
    f.prologue = ctx.op.attr_str("prologue", "none");
    f.add = ctx.op.attr_str("epilogue", "none") == "add";
    f.arg_names = {"x", "w"};
    if (f.prologue == "rms_norm") f.arg_names.push_back("g");
    if (f.prologue == "swiglu" || f.prologue == "geglu") f.arg_names.push_back("up");
    if (f.add) f.arg_names.push_back("r");
    f.arg_names.push_back("result");
    f.tag = (f.prologue == "none" ? "" : "_" + f.prologue) + (f.add ? "_add" : "");
  } else if (ctx.op.kind == ir::OpKind::MultiMatMul) {
    const MatvecWeights weights = matvec_weights(ctx);
    f.prologue = ctx.op.attr_str("prologue", "none");
    f.arg_names = {"x"};
    f.arg_names.insert(f.arg_names.end(), weights.args.begin(), weights.args.end());
    if (f.prologue == "rms_norm") f.arg_names.push_back("g");
    f.arg_names.insert(f.arg_names.end(), weights.results.begin(), weights.results.end());
    f.tag = (f.prologue == "none" ? "" : "_" + f.prologue) + (weights.combined() ? "_" + weights.combine : "");
  }
  std::map<std::string, std::string> vars{{"K", ctx.dim(ctx.input(0).shape.back())}};
  std::string x1 = "  return ld_x(e);\n", x4 = "  return xv;\n", out = "  return total;\n";
  if (f.prologue == "rms_norm") {
    vars["OFF"] = glsl_float(ctx.op.attr_float("offset", 0.0));
    vars["EPS"] = glsl_float(ctx.op.attr_float("eps"));
    x1 = "  float v = ld_x(e);\n  ss += v * v;\n  return v * (ld_g(k) + $OFF);\n";
    x4 = "  ss += dot(xv, xv);\n"
         "  return xv * vec4(ld_g(k) + $OFF, ld_g(k + 1u) + $OFF, ld_g(k + 2u) + $OFF, ld_g(k + 3u) + $OFF);\n";
    out = "  total *= inversesqrt(ss / float($K) + $EPS);\n";
  } else if (f.prologue == "swiglu") {
    x1 = "  float g = ld_x(e);\n  return g * sigmoid_f(g) * ld_up(e);\n";
    x4 = "  vec4 up = vec4(ld_up(e), ld_up(e + 1u), ld_up(e + 2u), ld_up(e + 3u));\n"
         "  return xv * (1.0 / (1.0 + exp(-xv))) * up;\n";
  } else if (f.prologue == "geglu") {
    vars["GELU"] = ctx.op.attr_str("approximate", "none") == "tanh" ? "gelu_tanh" : "gelu_erf";
    x1 = "  return $GELU(ld_x(e)) * ld_up(e);\n";
    x4 = "  return vec4($GELU(xv.x) * ld_up(e), $GELU(xv.y) * ld_up(e + 1u), $GELU(xv.z) * ld_up(e + 2u), "
         "$GELU(xv.w) * ld_up(e + 3u));\n";
  }
  if (f.add) {
    vars["RN"] = ctx.product(ctx.input(ctx.op.inputs.size() - 1).shape);
    out = (f.prologue == "rms_norm" ? out : "") + "  total += ld_r(o % $RN);\n";
  }
  if (out != "  return total;\n") out += "  return total;\n";
  // e: element index into x (x4: of xv.x), k: its column; ss accumulates the row's Σx² (rms_norm).
  f.glsl = render("float fused_x(uint e, uint k, inout float ss) {\n" + x1 + "}\n" +
                      "vec4 fused_x4(vec4 xv, uint e, uint k, inout float ss) {\n" + x4 + "}\n" +
                      "// total: output o's dot product; ss: its row's sum of squares.\n"
                      "float fused_out(float total, float ss, uint o) {\n" + out + "}\n",
                  vars);
  return f;
}

MatvecWeights matvec_weights(const EmitContext& ctx) {
  MatvecWeights w;
  if (ctx.op.kind != ir::OpKind::MultiMatMul) {
    w.args = {"w"};
    w.rows = {const_dim(ctx, ctx.input(1).shape[0], "output features (dim 0 of w)")};
    w.results = {"result"};
    return w;
  }
  const size_t count = ctx.op.inputs.size() - 1 - (ctx.op.attr_str("prologue", "none") == "rms_norm" ? 1 : 0);
  for (size_t i = 0; i < count; ++i) {
    w.args.push_back(fmt::format("w{}", i));
    w.rows.push_back(const_dim(ctx, ctx.input(1 + i).shape[0], fmt::format("output features (dim 0 of weight {})", i)));
  }
  w.combine = ctx.op.attr_str("combine", "none");
  w.gelu_tanh = ctx.op.attr_str("approximate", "none") == "tanh";
  if (w.combined()) w.results = {"result"};
  else
    for (size_t i = 0; i < count; ++i) w.results.push_back(fmt::format("result{}", i));
  return w;
}

std::string multi_output_glsl(const MatvecWeights& w) {
  if (w.combined())
    return fmt::format("float combine_outputs(float gate, float up) {{ return {} * up; }}\n",
                       w.combine == "swiglu" ? "gate * sigmoid_f(gate)" : w.gelu_tanh ? "gelu_tanh(gate)" : "gelu_erf(gate)");
  std::string s = "void st_out(uint which, uint o, float v) {\n";
  for (size_t i = 0; i < w.results.size(); ++i)
    s += fmt::format("  {}st_{}(o, v);\n",
                     i == 0                      ? std::string("if (which == 0u) ")
                     : i + 1 < w.results.size() ? fmt::format("else if (which == {}u) ", i)
                                                : std::string("else "),
                     w.results[i]);
  return s + "}\n";
}

std::string select_weight_glsl(const MatvecWeights& w, int64_t rows_per_group, const std::string& also) {
  auto for_weight = [&](size_t i) { return also.empty() ? std::string() : " " + render(also, {{"W", w.args[i]}}); };
  std::string s = fmt::format("  uint which = 0u, first_group = 0u, n_cur = {};{}\n", glsl_uint(w.rows[0]), for_weight(0));
  int64_t first = 0;
  for (size_t i = 1; i < w.args.size() && !w.combined(); ++i) {  // a combine's pair shares the grid
    first += (w.rows[i - 1] + rows_per_group - 1) / rows_per_group;
    s += fmt::format("  if (gl_WorkGroupID.x >= {0}) {{ which = {1}u; first_group = {0}; n_cur = {2};{3} }}\n",
                     glsl_uint(first), i, glsl_uint(w.rows[i]), for_weight(i));
  }
  return s;
}

int64_t multi_groups(const MatvecWeights& w, int64_t rows_per_group) {
  if (w.combined()) return (w.rows[0] + rows_per_group - 1) / rows_per_group;
  int64_t groups = 0;
  for (int64_t n : w.rows) groups += (n + rows_per_group - 1) / rows_per_group;
  return groups;
}

namespace {

bool row_vector_kernel_fits(const EmitContext& ctx) {
  const ir::DType w = ctx.input(1).dtype;
  const ir::Dim& k = ctx.input(1).shape[1];
  return ctx.caps.subgroup_arithmetic && ctx.input(0).dtype == ir::DType::F32 &&
         (w == ir::DType::F32 || w == ir::DType::F16 || w == ir::DType::BF16) && k.is_const() && k.value % 8 == 0;
}

// Rows = the product of x's leading dims: their constant part and their symbols.
void activation_rows(const ir::Shape& x, int64_t& const_rows, std::vector<std::string>& row_symbols) {
  const_rows = 1;
  for (size_t i = 0; i + 1 < x.size(); ++i) {
    if (x[i].is_const()) const_rows *= x[i].value;
    else row_symbols.push_back(x[i].sym);
  }
}

// The general kernel (matmul, fused_matmul and multi_matmul where no other fits): tiles of TM
// activation rows x TN weight rows (with a combine, TN rows of both weights), one weight per
// workgroup, every lane's total shared through shared memory so the output's invocation can combine
// gate, up and Σx².
KernelPlan emit_general_matmul(const EmitContext& ctx, const Fusion& f, const MatvecWeights& weights,
                                     int64_t const_rows, const std::vector<std::string>& row_symbols) {
  const ir::Shape& x = ctx.input(0).shape;
  const ir::Dim& k = ctx.input(1).shape[1];
  const int64_t tile_m = row_symbols.empty() ? std::min<int64_t>(std::max<int64_t>(const_rows, 1), 4) : 4;
  int64_t tile_n = 4;
  while (multi_groups(weights, tile_n) > 65535) tile_n *= 2;  // the grid's x limit
  const int64_t per_column = weights.combined() ? 2 : 1;
  const bool rms = f.prologue == "rms_norm";
  const int64_t products = tile_m * tile_n * per_column, lanes = products + (rms ? tile_m : 0);
  const uint32_t local =
      std::max<uint32_t>(local_size_for(ctx, k, 128), std::bit_ceil(static_cast<uint32_t>(lanes)));
  KernelPlan plan;
  std::string rows_text;
  for (int64_t n : weights.rows) rows_text += fmt::format("{}{}", rows_text.empty() ? "" : "_", n);
  plan.name = kernel_name(ctx, fmt::format("n{}_tile{}x{}{}", rows_text, tile_m, tile_n, f.tag));
  plan.arg_names = f.arg_names;
  plan.local_size = local;
  plan.grid[0] = GridDim{multi_groups(weights, tile_n), {}, 1};
  plan.grid[1] = GridDim{const_rows, row_symbols, tile_m};
  std::string load_w;  // wv[c] (and the up weight's wv[TN + c]) for column c < cols
  if (weights.combined()) {
    load_w = "{ wv[c] = ld_w0((col0 + c) * $K + kk); wv[TN + c] = ld_w1((col0 + c) * $K + kk); }";
  } else {
    std::string chain;
    for (size_t i = 0; i < weights.args.size(); ++i)
      chain += fmt::format("{}wv[c] = ld_{}((col0 + c) * $K + kk);",
                           i == 0 ? "" : i + 1 < weights.args.size() ? fmt::format(" else if (which == {}u) ", i) : " else ",
                           weights.args[i]);
    load_w = "{ if (which == 0u) " + chain + " }";
  }
  const std::string store = weights.combined()
                                ? "st_result(o, combine_outputs(fused_out(lane_total[m * PW + c], ss, o), "
                                  "fused_out(lane_total[m * PW + TN + c], ss, o)));"
                                : "st_out(which, o, fused_out(lane_total[m * PW + c], ss, o));";
  const std::map<std::string, std::string> vars{
      {"TM", glsl_uint(tile_m)},
      {"TN", glsl_uint(tile_n)},
      {"PW", glsl_uint(tile_n * per_column)},
      {"M", ctx.product(x, 0, x.size() - 1)},
      {"K", ctx.dim(k)},
      {"L", glsl_uint(local)},
      {"LANES", glsl_uint(lanes)},
      {"PRODUCTS", glsl_uint(products)},
      {"SELECT", select_weight_glsl(weights, tile_n, "")},
      {"ACC_SS", rms ? "acc[$PRODUCTS + m] += ss;" : ""},
      {"ROW_SS", rms ? "lane_total[$PRODUCTS + m]" : "0.0"},
      {"LOADW", load_w},
      {"STORE", store}};
  auto expand = [&](std::string s) {  // two levels: the hooks above use $PRODUCTS and $K themselves
    return render(render(s, vars), vars);
  };
  plan.body = f.glsl + multi_output_glsl(weights) + workgroup_lane_sums(ctx.caps, local, static_cast<uint32_t>(lanes)) +
              "shared float lane_total[" + std::to_string(lanes) + "];\n" + expand(R"(
void main() {
  const uint TM = $TM, TN = $TN, PW = $PW;  // PW: products per activation row (TN, or TN gate + TN up)
$SELECT  uint row0 = gl_WorkGroupID.y * TM, col0 = (gl_WorkGroupID.x - first_group) * TN;
  uint rows = min(TM, $M - row0), cols = min(TN, n_cur - col0);
  float acc[$LANES];  // TM * PW dot products, then (rms_norm) TM sums of squares
  for (uint j = 0u; j < $LANES; ++j) acc[j] = 0.0;
  for (uint kk = gl_LocalInvocationID.x; kk < $K; kk += $L) {
    float xv[TM], wv[PW];
    for (uint m = 0u; m < TM; ++m) {
      xv[m] = 0.0;
      float ss = 0.0;
      if (m < rows) xv[m] = fused_x((row0 + m) * $K + kk, kk, ss);
      $ACC_SS
    }
    for (uint c = 0u; c < PW; ++c) wv[c] = 0.0;
    for (uint c = 0u; c < cols; ++c) $LOADW
    for (uint m = 0u; m < TM; ++m)
      for (uint c = 0u; c < PW; ++c) acc[m * PW + c] += xv[m] * wv[c];
  }
  float total = wg_sum_lanes(acc);
  uint t = gl_LocalInvocationIndex;
  if (t < $LANES) lane_total[t] = total;
  barrier();
  uint m = t / TN, c = t % TN;
  if (t < TM * TN && m < rows && c < cols) {
    uint o = (row0 + m) * n_cur + col0 + c;
    float ss = $ROW_SS;
    $STORE
  }
}
)");
  return plan;
}

}  // namespace

// Lowers multi_matmul (codegen/ops/emitters.cpp): the matrix-vector kernels, or the general one.
KernelPlan emit_multi_matmul(const EmitContext& ctx) {
  const Fusion f = fusion_of(ctx);
  const MatvecWeights weights = matvec_weights(ctx);
  const ir::DType w = ctx.input(1).dtype;
  const ir::Dim& k = ctx.input(1).shape[1];
  if (ir::is_quantized(w) && k.is_const() && k.value % ir::info(w).block_elems)
    ctx.fail(fmt::format("K = {} is not a multiple of the {} block size", k.value, ir::name(w)));
  int64_t const_rows = 1;
  std::vector<std::string> row_symbols;
  activation_rows(ctx.input(0).shape, const_rows, row_symbols);
  if (row_vector_kernel_fits(ctx)) return emit_float_matvec(ctx, f, weights, const_rows, row_symbols);
  if (quantized_row_vector_kernel_fits(ctx))
    return emit_quantized_row_vector_matmul(ctx, f, weights, const_rows, row_symbols);
  return emit_general_matmul(ctx, f, weights, const_rows, row_symbols);
}

// Lowers matmul and fused_matmul (the emitter table maps both here).
KernelPlan emit_matmul(const EmitContext& ctx) {
  const Fusion f = fusion_of(ctx);
  const ir::Shape& x = ctx.input(0).shape;
  const ir::Shape& w = ctx.input(1).shape;
  const int64_t n = const_dim(ctx, w[0], "output features (dim 0 of w)");
  const ir::Dim& k = w[1];
  if (ir::is_quantized(ctx.input(1).dtype) && k.is_const() && k.value % ir::info(ctx.input(1).dtype).block_elems)
    ctx.fail(fmt::format("K = {} is not a multiple of the {} block size", k.value, ir::name(ctx.input(1).dtype)));

  int64_t const_rows = 1;
  std::vector<std::string> row_symbols;
  activation_rows(x, const_rows, row_symbols);
  // Many rows (prefill): shared-memory tiles reuse each weight across the tile's rows — except for
  // narrow outputs over a long K (kNarrowOutputs), which the matrix-vector kernels spread wider.
  const bool narrow = n <= kNarrowOutputs && k.is_const() && k.value >= kNarrowMinK;
  if (!narrow && tiled_kernel_fits(ctx, f)) return emit_tiled_matmul(ctx, f, tile_math_for(ctx));
  if (row_vector_kernel_fits(ctx)) return emit_float_matvec(ctx, f, matvec_weights(ctx), const_rows, row_symbols);
  if (quantized_row_vector_kernel_fits(ctx))
    return emit_quantized_row_vector_matmul(ctx, f, matvec_weights(ctx), const_rows, row_symbols);
  if (tiled_kernel_fits(ctx, f)) return emit_tiled_matmul(ctx, f, tile_math_for(ctx));  // narrow, no matvec here
  return emit_general_matmul(ctx, f, matvec_weights(ctx), const_rows, row_symbols);
}

}  // namespace vkllm::codegen::ops
