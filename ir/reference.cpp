#include "ir/reference.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <map>
#include <numbers>

#include "ir/sampling.h"
#include "ir/verify.h"

namespace vkllm::ir {

std::vector<int64_t> concrete_shape(const Shape& s, const SymbolBindings& symbols) {
  std::vector<int64_t> dims;
  dims.reserve(s.size());
  for (const Dim& d : s) {
    if (d.is_const()) {
      dims.push_back(d.value);
      continue;
    }
    auto it = symbols.find(d.sym);
    if (it == symbols.end())
      throw IrError(fmt::format("symbol '{}' is not bound (give it a value in the SymbolBindings)", d.sym));
    if (it->second < 0) throw IrError(fmt::format("symbol '{}' is bound to {}; dims must be >= 0", d.sym, it->second));
    dims.push_back(it->second);
  }
  return dims;
}

namespace {

std::string describe(DType dtype, const std::vector<int64_t>& shape) {
  return fmt::format("{}[{}]", name(dtype), fmt::join(shape, ", "));
}

// Product of dims [from, to).
int64_t product(const std::vector<int64_t>& dims, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to; ++i) n *= dims[i];
  return n;
}
int64_t product(const std::vector<int64_t>& dims) { return product(dims, 0, dims.size()); }

// Every element of t as a double (quantized types dequantized).
std::vector<double> values(const HostTensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = t.get(static_cast<int64_t>(i));
  return v;
}

// One op evaluation: its operands (already computed), the declared types of its results with
// symbols bound, and the weight source.
struct OpCall {
  const Graph& graph;
  const Op& op;
  std::vector<const HostTensor*> in;
  std::vector<DType> out_dtype;
  std::vector<std::vector<int64_t>> out_shape;
  const WeightFn& weights;
  StateMap* states;

  const HostTensor& operand(size_t i) const { return *in[i]; }
  const std::vector<int64_t>& in_shape(size_t i) const { return in[i]->shape; }

  // Result r holding `v`, rounded to its declared dtype.
  HostTensor result(size_t r, const std::vector<double>& v) const {
    HostTensor t = HostTensor::zeros(out_dtype[r], out_shape[r]);
    if (static_cast<int64_t>(v.size()) != t.numel())
      throw IrError(fmt::format("reference executor computed {} values for result {} of type {}", v.size(), r,
                                describe(t.dtype, t.shape)));
    for (size_t i = 0; i < v.size(); ++i) t.set(static_cast<int64_t>(i), v[i]);
    return t;
  }
};

using Results = std::vector<HostTensor>;

// ---- Elementwise helpers --------------------------------------------------------------------

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double silu(double x) { return x * sigmoid(x); }
double gelu(double x, bool tanh_approximation) {
  if (tanh_approximation)
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
  return 0.5 * x * (1.0 + std::erf(x / std::numbers::sqrt2));
}
bool gelu_uses_tanh(const Op& op) { return op.attr_str("approximate", "none") == "tanh"; }

template <typename F>
Results map_elements(const OpCall& c, F f) {
  std::vector<double> x = values(c.operand(0));
  for (double& v : x) v = f(v);
  return {c.result(0, x)};
}

template <typename F>
Results zip_elements(const OpCall& c, F f) {
  std::vector<double> a = values(c.operand(0));
  const std::vector<double> b = values(c.operand(1));
  for (size_t i = 0; i < a.size(); ++i) a[i] = f(a[i], b[i]);
  return {c.result(0, a)};
}

// b's shape is a suffix of a's: b repeats over a's leading dims.
template <typename F>
Results broadcast_elements(const OpCall& c, F f) {
  std::vector<double> a = values(c.operand(0));
  const std::vector<double> b = values(c.operand(1));
  for (size_t i = 0; i < a.size(); ++i) a[i] = f(a[i], b[i % b.size()]);
  return {c.result(0, a)};
}

// Ordering of argmax and top_k: larger first, NaN below every number, lower index first on ties.
bool ranks_above(double a, int64_t index_a, double b, int64_t index_b) {
  auto greater = [](double x, double y) { return !std::isnan(x) && (std::isnan(y) || x > y); };
  return greater(a, b) || (!greater(b, a) && index_a < index_b);
}

// ---- One evaluator per op, named after its OpKind ------------------------------------------

Results eval_Weight(const OpCall& c) {
  const std::string& name = c.op.attr_str("name");
  const std::string declared = describe(c.out_dtype[0], c.out_shape[0]);
  if (!c.weights) throw IrError(fmt::format("weight \"{}\" ({}) needs a WeightFn; none was given", name, declared));
  HostTensor t = c.weights(name, c.graph.type(c.op.results[0]));
  if (t.dtype != c.out_dtype[0] || t.shape != c.out_shape[0])
    throw IrError(fmt::format("weight \"{}\": the WeightFn returned {} but the graph declares {}", name,
                              describe(t.dtype, t.shape), declared));
  if (t.size_bytes() != storage_bytes(t.dtype, t.numel()))
    throw IrError(fmt::format("weight \"{}\" ({}): holds {} bytes, expected {}", name, declared, t.size_bytes(),
                              storage_bytes(t.dtype, t.numel())));
  return {std::move(t)};
}

Results eval_Constant(const OpCall& c) {
  const double value = c.op.attr_float("value");
  return {c.result(0, std::vector<double>(static_cast<size_t>(product(c.out_shape[0])), value))};
}

Results eval_Embedding(const OpCall& c) {
  const HostTensor& table = c.operand(0);
  const HostTensor& ids = c.operand(1);
  const int64_t vocab = c.in_shape(0)[0], dim = c.in_shape(0)[1];
  const int64_t n = ids.numel();
  std::vector<double> out(static_cast<size_t>(n * dim), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const auto row = static_cast<int64_t>(ids.get(i));
    if (row < 0 || row >= vocab) continue;  // out-of-range ids give a zero row
    for (int64_t d = 0; d < dim; ++d) out[static_cast<size_t>(i * dim + d)] = table.get(row * dim + d);
  }
  return {c.result(0, out)};
}

// x[rows, K] (flattened) times w[N, K] transposed, in f64.
std::vector<double> matmul_values(const std::vector<double>& x, const std::vector<double>& w, int64_t n_out,
                                  int64_t k_dim) {
  const int64_t rows = k_dim == 0 ? 0 : static_cast<int64_t>(x.size()) / k_dim;
  std::vector<double> out(static_cast<size_t>(rows * n_out));
  for (int64_t i = 0; i < rows; ++i) {
    const double* x_row = x.data() + i * k_dim;
    for (int64_t n = 0; n < n_out; ++n) {
      const double* w_row = w.data() + n * k_dim;
      double sum = 0.0;
      for (int64_t k = 0; k < k_dim; ++k) sum += x_row[k] * w_row[k];
      out[static_cast<size_t>(i * n_out + n)] = sum;
    }
  }
  return out;
}

Results eval_MatMul(const OpCall& c) {
  const int64_t n_out = c.in_shape(1)[0], k_dim = c.in_shape(1)[1];
  const auto& x_shape = c.in_shape(0);
  std::vector<double> out = matmul_values(values(c.operand(0)), values(c.operand(1)), n_out, k_dim);
  // x with K = 0 still has rows: each output is the empty sum.
  if (k_dim == 0) out.assign(static_cast<size_t>(product(x_shape, 0, x_shape.size() - 1) * n_out), 0.0);
  return {c.result(0, out)};
}

Results eval_Add(const OpCall& c) {
  return broadcast_elements(c, [](double a, double b) { return a + b; });
}
Results eval_Mul(const OpCall& c) {
  return broadcast_elements(c, [](double a, double b) { return a * b; });
}
Results eval_Scale(const OpCall& c) {
  const double factor = c.op.attr_float("factor");
  return map_elements(c, [factor](double x) { return x * factor; });
}
Results eval_Silu(const OpCall& c) { return map_elements(c, silu); }
Results eval_Gelu(const OpCall& c) {
  const bool tanh_approximation = gelu_uses_tanh(c.op);
  return map_elements(c, [tanh_approximation](double x) { return gelu(x, tanh_approximation); });
}
Results eval_Sigmoid(const OpCall& c) { return map_elements(c, sigmoid); }
// log(1 + e^x), without overflow for large x.
Results eval_Softplus(const OpCall& c) {
  return map_elements(c, [](double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); });
}
Results eval_Exp(const OpCall& c) { return map_elements(c, [](double x) { return std::exp(x); }); }
Results eval_Softcap(const OpCall& c) {
  const double cap = c.op.attr_float("cap");
  return map_elements(c, [cap](double x) { return cap * std::tanh(x / cap); });
}
Results eval_SwiGlu(const OpCall& c) {
  return zip_elements(c, [](double gate, double up) { return silu(gate) * up; });
}
Results eval_GeGlu(const OpCall& c) {
  const bool tanh_approximation = gelu_uses_tanh(c.op);
  return zip_elements(c, [tanh_approximation](double gate, double up) { return gelu(gate, tanh_approximation) * up; });
}
// The rounding to the declared dtype is the whole op.
Results eval_Cast(const OpCall& c) { return {c.result(0, values(c.operand(0)))}; }

// rms_norm of every row of x (rows of w.size() values), in place; eps and offset from `op`.
void rms_norm_rows(const Op& op, std::vector<double>& x, const std::vector<double>& w) {
  const double eps = op.attr_float("eps"), offset = op.attr_float("offset", 0.0);
  const size_t dim = w.size();
  for (size_t row = 0; row * dim < x.size(); ++row) {
    double* r = x.data() + row * dim;
    double sum_squares = 0.0;
    for (size_t d = 0; d < dim; ++d) sum_squares += r[d] * r[d];
    const double inv_rms = 1.0 / std::sqrt(sum_squares / static_cast<double>(dim) + eps);
    for (size_t d = 0; d < dim; ++d) r[d] = r[d] * inv_rms * (w[d] + offset);
  }
}

Results eval_RmsNorm(const OpCall& c) {
  std::vector<double> x = values(c.operand(0));
  rms_norm_rows(c.op, x, values(c.operand(1)));
  return {c.result(0, x)};
}

// v with every value rounded to `dtype` (what storing it in a tensor of that dtype keeps).
std::vector<double> round_to(DType dtype, std::vector<double> v) {
  HostTensor t = HostTensor::zeros(dtype, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) {
    t.set(static_cast<int64_t>(i), v[i]);
    v[i] = t.get(static_cast<int64_t>(i));
  }
  return v;
}

// Literally the unfused composition: prologue (rms_norm, swiglu or geglu, its result rounded to f32: the
// passes fuse only prologues whose result is f32), matmul (rounded to f32), then the residual add.
Results eval_FusedMatMul(const OpCall& c) {
  const std::string prologue = c.op.attr_str("prologue", "none");
  std::vector<double> x = values(c.operand(0));
  if (prologue == "rms_norm") {
    rms_norm_rows(c.op, x, values(c.operand(2)));
    x = round_to(DType::F32, std::move(x));
  } else if (prologue == "swiglu") {
    const std::vector<double> up = values(c.operand(2));
    for (size_t i = 0; i < x.size(); ++i) x[i] = silu(x[i]) * up[i];
    x = round_to(DType::F32, std::move(x));
  } else if (prologue == "geglu") {
    const std::vector<double> up = values(c.operand(2));
    const bool tanh_approximation = gelu_uses_tanh(c.op);
    for (size_t i = 0; i < x.size(); ++i) x[i] = gelu(x[i], tanh_approximation) * up[i];
    x = round_to(DType::F32, std::move(x));
  }
  const int64_t n_out = c.in_shape(1)[0], k_dim = c.in_shape(1)[1];
  std::vector<double> out = matmul_values(x, values(c.operand(1)), n_out, k_dim);
  if (k_dim == 0) out.assign(static_cast<size_t>(product(c.out_shape[0])), 0.0);
  if (c.op.attr_str("epilogue", "none") == "add") {
    out = round_to(DType::F32, std::move(out));
    const std::vector<double> residual = values(c.operand(c.in.size() - 1));
    for (size_t i = 0; i < out.size(); ++i) out[i] += residual[i % residual.size()];
  }
  return {c.result(0, out)};
}

// The unfused composition (passes/fuse_glu_pair.cpp, merge_sibling_matmuls.cpp): the prologue once
// (rms_norm, rounded to f32), one matmul per weight (each rounded to f32, as the separate matmuls'
// results); with a combine, swiglu or geglu of the first (gate) and second (up) product.
Results eval_MultiMatMul(const OpCall& c) {
  const bool rms = c.op.attr_str("prologue", "none") == "rms_norm";
  const size_t weights = c.in.size() - 1 - (rms ? 1 : 0);
  std::vector<double> x = values(c.operand(0));
  if (rms) {
    rms_norm_rows(c.op, x, values(c.operand(c.in.size() - 1)));
    x = round_to(DType::F32, std::move(x));
  }
  const std::vector<int64_t>& x_shape = c.in_shape(0);
  const int64_t rows = product(x_shape, 0, x_shape.size() - 1);
  std::vector<std::vector<double>> products;
  for (size_t i = 1; i <= weights; ++i) {
    const int64_t n_out = c.in_shape(i)[0], k_dim = c.in_shape(i)[1];
    std::vector<double> out = matmul_values(x, values(c.operand(i)), n_out, k_dim);
    if (k_dim == 0) out.assign(static_cast<size_t>(rows * n_out), 0.0);  // each output is the empty sum
    products.push_back(round_to(DType::F32, std::move(out)));
  }
  const std::string combine = c.op.attr_str("combine", "none");
  Results results;
  if (combine == "none") {
    for (size_t i = 0; i < weights; ++i) results.push_back(c.result(i, products[i]));
    return results;
  }
  const bool tanh_approximation = gelu_uses_tanh(c.op);
  std::vector<double>& gate = products[0];
  for (size_t i = 0; i < gate.size(); ++i)
    gate[i] = (combine == "swiglu" ? silu(gate[i]) : gelu(gate[i], tanh_approximation)) * products[1][i];
  results.push_back(c.result(0, gate));
  return results;
}

Results eval_LayerNorm(const OpCall& c) {
  std::vector<double> x = values(c.operand(0));
  const std::vector<double> w = values(c.operand(1)), b = values(c.operand(2));
  const double eps = c.op.attr_float("eps");
  const size_t dim = w.size();
  for (size_t row = 0; row * dim < x.size(); ++row) {
    double* r = x.data() + row * dim;
    double mean = 0.0;
    for (size_t d = 0; d < dim; ++d) mean += r[d];
    mean /= static_cast<double>(dim);
    double variance = 0.0;
    for (size_t d = 0; d < dim; ++d) variance += (r[d] - mean) * (r[d] - mean);
    variance /= static_cast<double>(dim);
    const double inv_std = 1.0 / std::sqrt(variance + eps);
    for (size_t d = 0; d < dim; ++d) r[d] = (r[d] - mean) * inv_std * w[d] + b[d];
  }
  return {c.result(0, x)};
}

Results eval_Softmax(const OpCall& c) {
  std::vector<double> x = values(c.operand(0));
  const auto n = static_cast<size_t>(c.in_shape(0).back());
  for (size_t row = 0; row * n < x.size(); ++row) {
    double* r = x.data() + row * n;
    const double max = *std::max_element(r, r + n);
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += r[i] = std::exp(r[i] - max);
    for (size_t i = 0; i < n; ++i) r[i] /= sum;
  }
  return {c.result(0, x)};
}

// inv_freq[i] for i in [0, rotary_dims/2), with the op's frequency scaling applied.
std::vector<double> rope_inv_freq(const Op& op, int64_t rotary_dims) {
  const double theta = op.attr_float("theta");
  const std::string scaling = op.attr_str("scaling", "none");
  std::vector<double> inv_freq(static_cast<size_t>(rotary_dims / 2));
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    double f = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(rotary_dims));
    if (scaling == "linear") {
      f /= op.attr_float("factor");
    } else if (scaling == "llama3") {
      const double factor = op.attr_float("factor");
      const double low_freq_factor = op.attr_float("low_freq_factor");
      const double high_freq_factor = op.attr_float("high_freq_factor");
      const auto original_max_position = static_cast<double>(op.attr_int("original_max_position"));
      const double wavelen = 2.0 * std::numbers::pi / f;
      const double low_freq_wavelen = original_max_position / low_freq_factor;
      const double high_freq_wavelen = original_max_position / high_freq_factor;
      if (wavelen > low_freq_wavelen) {
        f /= factor;
      } else if (wavelen >= high_freq_wavelen) {
        const double smooth =
            (original_max_position / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
        f *= (1.0 - smooth) / factor + smooth;
      }
    }
    inv_freq[i] = f;
  }
  return inv_freq;
}

Results eval_Rope(const OpCall& c) {
  const std::vector<double> x = values(c.operand(0));
  const HostTensor& pos = c.operand(1);
  const int64_t rows = c.in_shape(0)[0], heads = c.in_shape(0)[1], head_dim = c.in_shape(0)[2];
  const int64_t rotary_dims = c.op.attr_int("rotary_dims", head_dim);
  const bool interleaved = c.op.attr_str("layout", "neox") == "interleaved";
  const std::vector<double> inv_freq = rope_inv_freq(c.op, rotary_dims);
  const int64_t half = rotary_dims / 2;

  std::vector<double> out = x;  // dims past rotary_dims pass through
  for (int64_t t = 0; t < rows; ++t) {
    const double p = pos.get(t);
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t base = (t * heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t j = base + (interleaved ? 2 * i : i);
        const int64_t k = base + (interleaved ? 2 * i + 1 : i + half);
        const double angle = p * inv_freq[static_cast<size_t>(i)];
        const double cos_a = std::cos(angle), sin_a = std::sin(angle);
        const double xj = x[static_cast<size_t>(j)], xk = x[static_cast<size_t>(k)];
        out[static_cast<size_t>(j)] = xj * cos_a - xk * sin_a;
        out[static_cast<size_t>(k)] = xk * cos_a + xj * sin_a;
      }
    }
  }
  return {c.result(0, out)};
}

// Attention of one query row and head over its visible keys (ir/README.md "attention"): k_rows[i]
// and v_rows[i] are the key and value of the i-th visible key. Adds nothing when there is none.
struct AttentionParams {
  int64_t head_dim, v_dim;
  double scale, softcap;
};
// score(s) of ir/README.md "attention" for each key row.
std::vector<double> attention_scores(const double* q_row, const std::vector<const double*>& k_rows,
                                     const AttentionParams& a) {
  std::vector<double> score(k_rows.size());
  for (size_t i = 0; i < k_rows.size(); ++i) {
    double dot = 0.0;
    for (int64_t d = 0; d < a.head_dim; ++d) dot += q_row[d] * k_rows[i][d];
    score[i] = a.scale * dot;
    if (a.softcap > 0) score[i] = a.softcap * std::tanh(score[i] / a.softcap);
  }
  return score;
}
void attend(const double* q_row, const std::vector<const double*>& k_rows, const std::vector<const double*>& v_rows,
            const AttentionParams& a, double* out_row) {
  if (k_rows.empty()) return;  // no visible key: the row stays zero
  std::vector<double> weight = attention_scores(q_row, k_rows, a);
  const double max = *std::max_element(weight.begin(), weight.end());
  double sum = 0.0;
  for (double& w : weight) sum += w = std::exp(w - max);
  for (size_t i = 0; i < k_rows.size(); ++i)
    for (int64_t d = 0; d < a.v_dim; ++d) out_row[d] += weight[i] / sum * v_rows[i][d];
}

AttentionParams attention_params(const OpCall& c, int64_t head_dim, int64_t v_dim) {
  return {head_dim, v_dim, c.op.attr_float("scale"), c.op.attr_float("softcap", 0.0)};
}

// First visible key position of a query at position p (the window's start, or 0).
int64_t first_visible(const OpCall& c, int64_t p) {
  const int64_t window = c.op.attr_int("window", 0);
  return window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
}

Results eval_Attention(const OpCall& c) {
  const std::vector<double> q = values(c.operand(0)), k = values(c.operand(1)), v = values(c.operand(2));
  const HostTensor& pos = c.operand(3);
  const int64_t rows = c.in_shape(0)[0], q_heads = c.in_shape(0)[1], head_dim = c.in_shape(0)[2];
  const int64_t keys = c.in_shape(1)[0], kv_heads = c.in_shape(1)[1], v_dim = c.in_shape(2)[2];
  const int64_t group = q_heads / kv_heads;
  const AttentionParams params = attention_params(c, head_dim, v_dim);

  std::vector<double> out(static_cast<size_t>(rows * q_heads * v_dim), 0.0);
  std::vector<const double*> k_rows, v_rows;
  for (int64_t t = 0; t < rows; ++t) {
    const auto p = static_cast<int64_t>(pos.get(t));
    const int64_t last = std::min(p, keys - 1);
    for (int64_t h = 0; h < q_heads; ++h) {
      const int64_t kv_h = h / group;
      k_rows.clear();
      v_rows.clear();
      for (int64_t s = first_visible(c, p); s <= last; ++s) {
        k_rows.push_back(k.data() + (s * kv_heads + kv_h) * head_dim);
        v_rows.push_back(v.data() + (s * kv_heads + kv_h) * v_dim);
      }
      attend(q.data() + (t * q_heads + h) * head_dim, k_rows, v_rows, params,
             out.data() + (t * q_heads + h) * v_dim);
    }
  }
  return {c.result(0, out)};
}

Results eval_State(const OpCall& c) {
  const std::string& name = c.op.attr_str("name");
  const std::string declared = describe(c.out_dtype[0], c.out_shape[0]);
  if (!c.states)
    throw IrError(fmt::format("state \"{}\" ({}): the graph has state but no StateMap was given; pass one holding a "
                              "tensor named \"{}\"",
                              name, declared, name));
  auto it = c.states->find(name);
  if (it == c.states->end())
    throw IrError(
        fmt::format("state \"{}\" ({}) is missing from the StateMap; add a tensor of that type", name, declared));
  const HostTensor& t = it->second;
  if (t.dtype != c.out_dtype[0] || t.shape != c.out_shape[0] || t.size_bytes() != storage_bytes(t.dtype, t.numel()))
    throw IrError(fmt::format("state \"{}\": the StateMap holds {} ({} bytes) but the graph declares {}", name,
                              describe(t.dtype, t.shape), t.size_bytes(), declared));
  return {t};
}

Results eval_KvWrite(const OpCall& c) {
  HostTensor cache = c.operand(0);
  const HostTensor &x = c.operand(1), &slots = c.operand(2);
  const int64_t cache_rows = product(cache.shape, 0, 2), row_elems = product(cache.shape, 2, 4);
  std::map<int64_t, int64_t> writer_of_row;  // cache row -> the row of x written there
  for (int64_t t = 0; t < slots.numel(); ++t) {
    const auto slot = static_cast<int64_t>(slots.get(t));
    if (slot < 0) continue;  // padding row
    if (slot >= cache_rows)
      throw IrError(fmt::format("slots[{}] = {} is past the {} rows (N·B) of the cache {}", t, slot, cache_rows,
                                describe(cache.dtype, cache.shape)));
    auto [it, first_write] = writer_of_row.emplace(slot, t);
    if (!first_write)
      throw IrError(fmt::format("slots[{}] and slots[{}] both name cache row {}; a kv_write writes a row at most once",
                                it->second, t, slot));
    for (int64_t e = 0; e < row_elems; ++e) cache.set(slot * row_elems + e, x.get(t * row_elems + e));
  }
  return {std::move(cache)};
}

// kv_write_rope: exactly kv_write(k_cache, rope(k, pos), slots) (k roped in f64, rounded to k's dtype,
// then to the cache's) and kv_write(v_cache, v, slots); without pos, k is written as is.
Results eval_KvWriteRope(const OpCall& c) {
  HostTensor k = c.operand(2);
  if (c.in.size() == 6) {
    const OpCall rope{c.graph, c.op, {c.in[2], c.in[5]}, {k.dtype}, {k.shape}, c.weights, c.states};
    k = std::move(eval_Rope(rope)[0]);
  }
  const OpCall write_k{c.graph, c.op, {c.in[0], &k, c.in[4]}, {c.out_dtype[0]}, {c.out_shape[0]}, c.weights, c.states};
  const OpCall write_v{c.graph, c.op, {c.in[1], c.in[3], c.in[4]}, {c.out_dtype[1]}, {c.out_shape[1]}, c.weights,
                       c.states};
  return {std::move(eval_KvWrite(write_k)[0]), std::move(eval_KvWrite(write_v)[0])};
}

// The cache rows (block · B + row) of the keys query row t of a paged_attention-like op sees, in
// position order; none for a row at a negative position (padding: row_seq unread). A sequence outside
// the block table, or a key outside it or the cache, is an error.
std::vector<int64_t> paged_visible_rows(const OpCall& c, int64_t t) {
  const HostTensor &block_table = c.operand(3), &row_seq = c.operand(4), &pos = c.operand(5);
  const int64_t blocks = c.in_shape(1)[0], block_size = c.in_shape(1)[1];
  const int64_t sequences = c.in_shape(3)[0], table_width = c.in_shape(3)[1];
  std::vector<int64_t> cache_rows;
  const auto p = static_cast<int64_t>(pos.get(t));
  if (p < 0) return cache_rows;
  const auto seq = static_cast<int64_t>(row_seq.get(t));
  if (seq < 0 || seq >= sequences)
    throw IrError(fmt::format("row {} (position {}): row_seq = {} is not a sequence of the block table (0 <= row_seq "
                              "< {})",
                              t, p, seq, sequences));
  if (block_size == 0) throw IrError(fmt::format("row {} (position {}): the cache blocks hold no rows", t, p));
  for (int64_t s = first_visible(c, p); s <= p; ++s) {
    const int64_t slot = s / block_size;
    if (slot >= table_width)
      throw IrError(fmt::format("row {} (sequence {}, position {}) needs block {} of its sequence but the block "
                                "table holds {} per sequence",
                                t, seq, p, slot, table_width));
    const auto block = static_cast<int64_t>(block_table.get(seq * table_width + slot));
    if (block < 0 || block >= blocks)
      throw IrError(fmt::format("row {} (sequence {}, position {}): block_table[{}, {}] = {} is not a cache block "
                                "(0 <= id < {})",
                                t, seq, p, seq, slot, block, blocks));
    cache_rows.push_back(block * block_size + s % block_size);
  }
  return cache_rows;
}

// Calls attend_head(t, h, q_row, k_rows, v_rows) for every query row t and head h of a
// paged_attention-like op, with the key and value rows the row sees in position order.
template <typename AttendHead>
void for_each_paged_head(const OpCall& c, AttendHead attend_head) {
  const std::vector<double> q = values(c.operand(0)), k = values(c.operand(1)), v = values(c.operand(2));
  const int64_t rows = c.in_shape(0)[0], q_heads = c.in_shape(0)[1], head_dim = c.in_shape(0)[2];
  const int64_t kv_heads = c.in_shape(1)[2], v_dim = c.in_shape(2)[3];
  const int64_t group = q_heads / kv_heads;
  std::vector<const double*> k_rows, v_rows;
  for (int64_t t = 0; t < rows; ++t) {
    const std::vector<int64_t> cache_rows = paged_visible_rows(c, t);
    for (int64_t h = 0; h < q_heads; ++h) {
      const int64_t kv_h = h / group;
      k_rows.clear();
      v_rows.clear();
      for (int64_t row : cache_rows) {
        k_rows.push_back(k.data() + (row * kv_heads + kv_h) * head_dim);
        v_rows.push_back(v.data() + (row * kv_heads + kv_h) * v_dim);
      }
      attend_head(t, h, q.data() + (t * q_heads + h) * head_dim, k_rows, v_rows);
    }
  }
}

Results eval_PagedAttention(const OpCall& c) {
  const int64_t q_heads = c.in_shape(0)[1], v_dim = c.in_shape(2)[3];
  const AttentionParams params = attention_params(c, c.in_shape(0)[2], v_dim);
  std::vector<double> out(static_cast<size_t>(product(c.out_shape[0])), 0.0);
  for_each_paged_head(c, [&](int64_t t, int64_t h, const double* q_row, const std::vector<const double*>& k_rows,
                             const std::vector<const double*>& v_rows) {
    attend(q_row, k_rows, v_rows, params, out.data() + (t * q_heads + h) * v_dim);
  });
  return {c.result(0, out)};
}

// ir/README.md "split attention": a row's n visible keys go to runs of c = granule · ⌈n / (granule ·
// splits)⌉ consecutive keys; entry j holds run j's (o[0..Dv), m, l), zeros when the run is empty.
// With rope attributes (passes/fuse_attention_rope.cpp) q is first roped at pos exactly as the rope
// op would (f64, rounded to q's dtype).
Results eval_PagedAttentionPartial(const OpCall& unroped) {
  OpCall c = unroped;
  HostTensor roped_q;
  if (c.op.has("theta")) {
    roped_q = std::move(eval_Rope(OpCall{c.graph, c.op, {c.in[0], c.in[5]}, {c.operand(0).dtype}, {c.in_shape(0)},
                                         c.weights, c.states})[0]);
    c.in[0] = &roped_q;
  }
  const int64_t q_heads = c.in_shape(0)[1], v_dim = c.in_shape(2)[3];
  const int64_t splits = c.op.attr_int("splits"), granule = c.op.attr_int("granule");
  const AttentionParams params = attention_params(c, c.in_shape(0)[2], v_dim);
  const int64_t entry = v_dim + 2;
  std::vector<double> out(static_cast<size_t>(product(c.out_shape[0])), 0.0);
  for_each_paged_head(c, [&](int64_t t, int64_t h, const double* q_row, const std::vector<const double*>& k_rows,
                             const std::vector<const double*>& v_rows) {
    const auto n = static_cast<int64_t>(k_rows.size());
    if (n == 0) return;
    const std::vector<double> score = attention_scores(q_row, k_rows, params);
    const int64_t run = granule * ((n + granule * splits - 1) / (granule * splits));
    for (int64_t j = 0; j < splits && j * run < n; ++j) {
      const auto begin = static_cast<size_t>(j * run), end = static_cast<size_t>(std::min(n, (j + 1) * run));
      double* e = out.data() + ((t * q_heads + h) * splits + j) * entry;
      const double m = *std::max_element(score.begin() + static_cast<std::ptrdiff_t>(begin),
                                         score.begin() + static_cast<std::ptrdiff_t>(end));
      double l = 0.0;
      for (size_t i = begin; i < end; ++i) {
        const double w = std::exp(score[i] - m);
        l += w;
        for (int64_t d = 0; d < v_dim; ++d) e[d] += w * v_rows[i][d];
      }
      e[v_dim] = m;
      e[v_dim + 1] = l;
    }
  });
  return {c.result(0, out)};
}

// ir/README.md "split attention": the entries with l > 0, rescaled to their common maximum.
Results eval_AttentionCombine(const OpCall& c) {
  const std::vector<double> partials = values(c.operand(0));
  const int64_t heads = product(c.in_shape(0), 0, 2), splits = c.in_shape(0)[2], entry = c.in_shape(0)[3];
  const int64_t v_dim = entry - 2;
  std::vector<double> out(static_cast<size_t>(heads * v_dim), 0.0);
  for (int64_t i = 0; i < heads; ++i) {
    const double* entries = partials.data() + i * splits * entry;
    double m = -INFINITY, total = 0.0;
    for (int64_t j = 0; j < splits; ++j)
      if (entries[j * entry + v_dim + 1] > 0) m = std::max(m, entries[j * entry + v_dim]);
    double* o = out.data() + i * v_dim;
    for (int64_t j = 0; j < splits; ++j) {
      const double* e = entries + j * entry;
      if (!(e[v_dim + 1] > 0)) continue;
      const double w = std::exp(e[v_dim] - m);
      total += w * e[v_dim + 1];
      for (int64_t d = 0; d < v_dim; ++d) o[d] += w * e[d];
    }
    if (total > 0)
      for (int64_t d = 0; d < v_dim; ++d) o[d] /= total;
  }
  return {c.result(0, out)};
}

// paged_attention_split: the partial's entries, attention_combine of them, and the counters as they
// were (the contract: zeros before, zeros after; only kernels use them). Rows past the counters'
// rows have no counter: an error.
Results eval_PagedAttentionSplit(const OpCall& c) {
  const HostTensor& counters = c.operand(6);
  if (c.in_shape(0)[0] > counters.shape[0])
    throw IrError(fmt::format("{} query rows but counters for {}: the counters need a row per query row",
                              c.in_shape(0)[0], counters.shape[0]));
  const OpCall partial{c.graph, c.op, {c.in.begin(), c.in.begin() + 6}, {c.out_dtype[1]}, {c.out_shape[1]},
                       c.weights, c.states};
  HostTensor partials = std::move(eval_PagedAttentionPartial(partial)[0]);
  const OpCall combine{c.graph, c.op, {&partials}, {c.out_dtype[0]}, {c.out_shape[0]}, c.weights, c.states};
  HostTensor out = std::move(eval_AttentionCombine(combine)[0]);
  return {std::move(out), std::move(partials), counters};
}

// Per-row state slots (ir/README.md "recurrent state slots"). The state operand (f32) holds S slots
// of `slot_size` elements; `step(t, state)` advances one chain's state (in f64) by row t and writes
// row t's outputs; the state is then rounded to f32, as a stored state would be, so T rows at once
// equal T single-row calls chained through a slot exactly. Returns the new state tensor's elements: every slot as it was, except those a
// dst_slot names, which hold the state after that row. Checks the slot values and the contract
// (a slot written by a chain is read by no other chain).
template <typename Step>
std::vector<double> walk_state_slots(const OpCall& c, size_t state_operand, Step step) {
  const std::vector<double> initial = values(c.operand(state_operand));
  const HostTensor &src = c.operand(state_operand + 1), &dst = c.operand(state_operand + 2);
  const int64_t slots = c.in_shape(state_operand)[0], rows = src.numel();
  const auto slot_size = static_cast<size_t>(slots == 0 ? 0 : static_cast<int64_t>(initial.size()) / slots);
  std::vector<double> out = initial, state;
  std::map<int64_t, int64_t> chain_writing;  // slot -> first row of the chain writing it
  std::vector<std::pair<int64_t, int64_t>> chain_reads;  // (slot, first row of the chain reading it)
  int64_t chain = -1;
  auto check_slot = [&](const char* what, int64_t t, int64_t slot) {
    if (slot >= slots)
      throw IrError(fmt::format("{}[{}] = {} is past the {} slots of the state", what, t, slot, slots));
  };
  for (int64_t t = 0; t < rows; ++t) {
    const auto from = static_cast<int64_t>(src.get(t));
    if (from == -1) {
      if (t == 0) throw IrError("src_slot[0] = -1 continues a chain, but row 0 has no previous row");
    } else if (from == -2) {
      chain = t;
      state.assign(slot_size, 0.0);
    } else if (from >= 0) {
      check_slot("src_slot", t, from);
      chain = t;
      chain_reads.emplace_back(from, t);
      const auto begin = initial.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(from) * slot_size);
      state.assign(begin, begin + static_cast<std::ptrdiff_t>(slot_size));
    } else {
      throw IrError(fmt::format("src_slot[{}] = {}; expected a slot >= 0, -1 (continue) or -2 (zero state)", t, from));
    }
    step(t, state);
    for (double& e : state) e = static_cast<float>(e);
    const auto to = static_cast<int64_t>(dst.get(t));
    if (to < 0) continue;
    check_slot("dst_slot", t, to);
    auto [it, first] = chain_writing.emplace(to, chain);
    if (!first && it->second != chain)
      throw IrError(fmt::format("dst_slot[{}] = {}: the chains starting at rows {} and {} both write that slot", t, to,
                                it->second, chain));
    std::copy(state.begin(), state.end(), out.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(to) * slot_size));
  }
  for (const auto& [slot, reader] : chain_reads) {
    auto writer = chain_writing.find(slot);
    if (writer != chain_writing.end() && writer->second != reader)
      throw IrError(fmt::format("slot {} is written by the chain starting at row {} and read by the one starting at "
                                "row {}; a slot written in an op must not be read by another chain of it",
                                slot, writer->second, reader));
  }
  return out;
}

Results eval_Conv1d(const OpCall& c) {
  const std::vector<double> x = values(c.operand(0)), w = values(c.operand(1));
  const int64_t rows = c.in_shape(0)[0], channels = c.in_shape(0)[1], kernel = c.in_shape(1)[1];
  const bool apply_silu = c.op.attr_str("activation", "none") == "silu";
  std::vector<double> y(static_cast<size_t>(rows * channels));
  // One row: the window is the K-1 state rows, then x[t]; the state becomes its last K-1 rows.
  auto step = [&](int64_t t, std::vector<double>& state) {
    std::vector<double> window = state;
    window.insert(window.end(), x.begin() + t * channels, x.begin() + (t + 1) * channels);
    for (int64_t ch = 0; ch < channels; ++ch) {
      double sum = 0.0;
      for (int64_t j = 0; j < kernel; ++j)
        sum += w[static_cast<size_t>(ch * kernel + j)] * window[static_cast<size_t>(j * channels + ch)];
      y[static_cast<size_t>(t * channels + ch)] = apply_silu ? silu(sum) : sum;
    }
    state.assign(window.begin() + channels, window.end());
  };
  if (c.in.size() == 5) {
    const std::vector<double> new_state = walk_state_slots(c, 2, step);
    return {c.result(0, y), c.result(1, new_state)};
  }
  std::vector<double> state = values(c.operand(2));
  for (int64_t t = 0; t < rows; ++t) step(t, state);
  return {c.result(0, y), c.result(1, state)};
}

// gated_delta_net: per row t and value head h, with S the Dk x Dv state of head h (ir/README.md).
Results eval_GatedDeltaNet(const OpCall& c) {
  std::vector<double> q = values(c.operand(0)), k = values(c.operand(1));
  const std::vector<double> v = values(c.operand(2)), g = values(c.operand(3)), beta = values(c.operand(4));
  const int64_t rows = c.in_shape(0)[0], key_heads = c.in_shape(0)[1], key_dim = c.in_shape(0)[2];
  const int64_t value_heads = c.in_shape(2)[1], value_dim = c.in_shape(2)[2];
  const int64_t group = value_heads / key_heads;
  const double scale = c.op.attr_float("scale"), eps = c.op.attr_float("l2norm_eps", 1e-6);
  const bool l2norm = c.op.attr_bool("qk_l2norm", false);
  for (int64_t row = 0; row < rows * key_heads; ++row) {
    double* qr = q.data() + row * key_dim;
    double* kr = k.data() + row * key_dim;
    double q_norm = 1.0, k_norm = 1.0;
    if (l2norm) {
      double q_squares = 0.0, k_squares = 0.0;
      for (int64_t i = 0; i < key_dim; ++i) {
        q_squares += qr[i] * qr[i];
        k_squares += kr[i] * kr[i];
      }
      q_norm = 1.0 / std::sqrt(q_squares + eps);
      k_norm = 1.0 / std::sqrt(k_squares + eps);
    }
    for (int64_t i = 0; i < key_dim; ++i) {
      qr[i] *= q_norm * scale;
      kr[i] *= k_norm;
    }
  }
  std::vector<double> o(static_cast<size_t>(rows * value_heads * value_dim));
  std::vector<double> delta(static_cast<size_t>(value_dim));
  auto step = [&](int64_t t, std::vector<double>& state) {
    for (int64_t h = 0; h < value_heads; ++h) {
      double* s = state.data() + h * key_dim * value_dim;  // s[i * Dv + j]
      const double* kt = k.data() + (t * key_heads + h / group) * key_dim;
      const double* qt = q.data() + (t * key_heads + h / group) * key_dim;
      const double* vt = v.data() + (t * value_heads + h) * value_dim;
      const double decay = std::exp(g[static_cast<size_t>(t * value_heads + h)]);
      const double b = beta[static_cast<size_t>(t * value_heads + h)];
      for (int64_t e = 0; e < key_dim * value_dim; ++e) s[e] *= decay;
      for (int64_t j = 0; j < value_dim; ++j) {
        double kv = 0.0;
        for (int64_t i = 0; i < key_dim; ++i) kv += s[i * value_dim + j] * kt[i];
        delta[static_cast<size_t>(j)] = (vt[j] - kv) * b;
      }
      for (int64_t i = 0; i < key_dim; ++i)
        for (int64_t j = 0; j < value_dim; ++j) s[i * value_dim + j] += kt[i] * delta[static_cast<size_t>(j)];
      double* ot = o.data() + (t * value_heads + h) * value_dim;
      for (int64_t j = 0; j < value_dim; ++j) {
        double sum = 0.0;
        for (int64_t i = 0; i < key_dim; ++i) sum += s[i * value_dim + j] * qt[i];
        ot[j] = sum;
      }
    }
  };
  const std::vector<double> new_state = walk_state_slots(c, 5, step);
  return {c.result(0, o), c.result(1, new_state)};
}

// fused_gated_delta_net: literally the unfused composition (ir/README.md), each step by its op's
// evaluator with its result rounded to f32 as the unfused op's is, so fuse-gdn-decode leaves
// reference outputs and states bit for bit unchanged.
Results eval_FusedGatedDeltaNet(const OpCall& c) {
  const HostTensor &qkv = c.operand(0), &z = c.operand(1), &a = c.operand(2), &b = c.operand(3);
  const HostTensor &conv_w = c.operand(4), &conv_state = c.operand(5), &a_log = c.operand(6), &dt_bias = c.operand(7);
  const HostTensor &norm_w = c.operand(8), &state = c.operand(9), &src = c.operand(10), &dst = c.operand(11);
  const int64_t rows = c.in_shape(0)[0], channels = c.in_shape(0)[1];
  const int64_t value_heads = c.in_shape(1)[1], value_dim = c.in_shape(1)[2], key_dim = c.in_shape(9)[2];
  const int64_t key_heads = (channels - value_heads * value_dim) / (2 * key_dim);
  // One unfused op: its evaluator, attributes, operands and (f32) result shapes.
  auto run = [&](OpKind kind, Results (*eval)(const OpCall&), Attrs attrs, std::vector<const HostTensor*> in,
                 std::vector<std::vector<int64_t>> shapes) {
    const Op op{kind, {}, {}, std::move(attrs)};
    const OpCall call{c.graph, op, std::move(in), std::vector<DType>(shapes.size(), DType::F32), std::move(shapes),
                      c.weights, c.states};
    return eval(call);
  };
  Results conv = run(OpKind::Conv1d, eval_Conv1d, {{"activation", std::string("silu")}},
                     {&qkv, &conv_w, &conv_state, &src, &dst}, {{rows, channels}, c.in_shape(5)});
  // q, k and v: consecutive column blocks of the conv output (slices, reshaped to heads).
  auto columns = [&](int64_t start, int64_t heads, int64_t dim) {
    HostTensor t = HostTensor::zeros(DType::F32, {rows, heads, dim});
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < heads * dim; ++i) t.set(r * heads * dim + i, conv[0].get(r * channels + start + i));
    return t;
  };
  const HostTensor q = columns(0, key_heads, key_dim), k = columns(key_heads * key_dim, key_heads, key_dim);
  const HostTensor v = columns(2 * key_heads * key_dim, value_heads, value_dim);
  const std::vector<int64_t> per_head = {value_heads}, gates = {rows, value_heads};
  const HostTensor beta = run(OpKind::Sigmoid, eval_Sigmoid, {}, {&b}, {gates})[0];
  const HostTensor a_log_f32 = run(OpKind::Cast, eval_Cast, {}, {&a_log}, {per_head})[0];
  const HostTensor a_exp = run(OpKind::Exp, eval_Exp, {}, {&a_log_f32}, {per_head})[0];
  const HostTensor decay_rate = run(OpKind::Scale, eval_Scale, {{"factor", -1.0}}, {&a_exp}, {per_head})[0];
  const HostTensor shifted = run(OpKind::Add, eval_Add, {}, {&a, &dt_bias}, {gates})[0];
  const HostTensor step = run(OpKind::Softplus, eval_Softplus, {}, {&shifted}, {gates})[0];
  const HostTensor g = run(OpKind::Mul, eval_Mul, {}, {&step, &decay_rate}, {gates})[0];
  const std::vector<int64_t> heads = {rows, value_heads, value_dim};
  Results gdn = run(OpKind::GatedDeltaNet, eval_GatedDeltaNet,
                    {{"scale", c.op.attr_float("scale")},
                     {"qk_l2norm", c.op.attr_bool("qk_l2norm", false)},
                     {"l2norm_eps", c.op.attr_float("l2norm_eps", 1e-6)}},
                    {&q, &k, &v, &g, &beta, &state, &src, &dst}, {heads, c.in_shape(9)});
  const HostTensor normed = run(OpKind::RmsNorm, eval_RmsNorm,
                                {{"eps", c.op.attr_float("eps")}, {"offset", c.op.attr_float("offset", 0.0)}},
                                {&gdn[0], &norm_w}, {heads})[0];
  const HostTensor gate = run(OpKind::Silu, eval_Silu, {}, {&z}, {heads})[0];
  HostTensor out = run(OpKind::Mul, eval_Mul, {}, {&normed, &gate}, {heads})[0];
  return {std::move(out), std::move(conv[1]), std::move(gdn[1])};
}

Results eval_ArgMax(const OpCall& c) {
  const std::vector<double> x = values(c.operand(0));
  const int64_t n = c.in_shape(0).back();
  if (n == 0) throw IrError("argmax over an empty last dim has no answer");
  std::vector<double> out(x.size() / static_cast<size_t>(n));
  for (size_t row = 0; row < out.size(); ++row) {
    const double* r = x.data() + row * static_cast<size_t>(n);
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i)
      if (ranks_above(r[i], i, r[best], best)) best = i;
    out[row] = static_cast<double>(best);
  }
  return {c.result(0, out)};
}

Results eval_TopK(const OpCall& c) {
  const std::vector<double> x = values(c.operand(0));
  const int64_t n = c.in_shape(0).back(), k = c.op.attr_int("k");
  if (k > n) throw IrError(fmt::format("k = {} exceeds the last dim ({})", k, n));
  const size_t rows = n == 0 ? 0 : x.size() / static_cast<size_t>(n);
  std::vector<double> top_values, top_indices;
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (size_t row = 0; row < rows; ++row) {
    const double* r = x.data() + row * static_cast<size_t>(n);
    for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [r](int64_t a, int64_t b) { return ranks_above(r[a], a, r[b], b); });
    for (int64_t i = 0; i < k; ++i) {
      top_values.push_back(r[order[static_cast<size_t>(i)]]);
      top_indices.push_back(static_cast<double>(order[static_cast<size_t>(i)]));
    }
  }
  return {c.result(0, top_values), c.result(1, top_indices)};
}

// Row r of a sample op's params operand ([R, kSampleParamColumns], ir/sampling.h).
SampleRowParams sample_row_params(const HostTensor& params, int64_t r) {
  auto param = [&](int column) { return params.get(r * kSampleParamColumns + column); };
  return {param(kSampleTemperature),       param(kSampleTopK),
          param(kSampleTopP),              param(kSampleMinP),
          param(kSampleRepetitionPenalty), param(kSamplePresencePenalty),
          param(kSampleFrequencyPenalty)};
}

// One row at a time (ir/sampling.h). rng holds the key's low then high 32 bits.
Results eval_Sample(const OpCall& c) {
  const HostTensor &logits = c.operand(0), &params = c.operand(1), &rng = c.operand(2), &history = c.operand(3);
  const int64_t rows = c.in_shape(0)[0], vocab = c.in_shape(0)[1], recent = c.in_shape(3)[1];
  std::vector<double> tokens(static_cast<size_t>(rows)), scores(static_cast<size_t>(rows));
  std::vector<double> row(static_cast<size_t>(vocab));
  std::vector<int32_t> ids(static_cast<size_t>(recent));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < vocab; ++i) row[static_cast<size_t>(i)] = logits.get(r * vocab + i);
    const SampleRowParams p = sample_row_params(params, r);
    auto half = [&](int64_t i) { return static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(rng.get(i)))); };
    const uint64_t key = half(2 * r) | half(2 * r + 1) << 32;
    for (int64_t j = 0; j < recent; ++j) ids[static_cast<size_t>(j)] = static_cast<int32_t>(history.get(r * recent + j));
    const SampleChoice choice = sample_row(row, p, key, ids);
    tokens[static_cast<size_t>(r)] = static_cast<double>(choice.token);
    scores[static_cast<size_t>(r)] = choice.score;
  }
  return {c.result(0, tokens), c.result(1, scores)};
}

// The penalized row once, then each chunk's entry (ir/README.md "split sample").
Results eval_SamplePartial(const OpCall& c) {
  const HostTensor &logits = c.operand(0), &params = c.operand(1), &history = c.operand(2);
  const int64_t rows = c.in_shape(0)[0], vocab = c.in_shape(0)[1], recent = c.in_shape(2)[1];
  const int64_t splits = c.op.attr_int("splits"), candidates = c.op.attr_int("candidates");
  const int64_t width = kSamplePartialHeader + 2 * candidates, chunk = (vocab + splits - 1) / splits;
  std::vector<double> out(static_cast<size_t>(rows * splits * width));
  std::vector<double> row(static_cast<size_t>(vocab));
  std::vector<int32_t> ids(static_cast<size_t>(recent));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < vocab; ++i) row[static_cast<size_t>(i)] = logits.get(r * vocab + i);
    const SampleRowParams p = sample_row_params(params, r);
    for (int64_t j = 0; j < recent; ++j) ids[static_cast<size_t>(j)] = static_cast<int32_t>(history.get(r * recent + j));
    const std::vector<double> penalized = sample_penalized_logits(row, p, ids);
    for (int64_t j = 0; j < splits; ++j) {
      const int64_t begin = std::min(j * chunk, vocab), end = std::min(begin + chunk, vocab);
      sample_partial_entry(penalized, p, begin, end, candidates,
                           std::span<double>(out).subspan(static_cast<size_t>((r * splits + j) * width),
                                                          static_cast<size_t>(width)));
    }
  }
  return {c.result(0, out)};
}

// sample of the same operands: the partials only summarize them (ir/README.md "split sample").
Results eval_SampleFinish(const OpCall& c) { return eval_Sample(c); }

// Reshape and slice move stored bytes, so they work on every dtype (quantized: whole blocks).
Results eval_Reshape(const OpCall& c) {
  HostTensor t = c.operand(0);
  t.shape = c.out_shape[0];
  const int block = info(t.dtype).block_elems;
  if (block > 1 && (t.shape.empty() || t.shape.back() % block != 0))
    throw IrError(fmt::format("cannot reshape {} to {}: rows of a {} tensor must hold whole {}-element blocks",
                              describe(t.dtype, c.in_shape(0)), describe(t.dtype, t.shape), name(t.dtype), block));
  return {std::move(t)};
}

Results eval_Slice(const OpCall& c) {
  const HostTensor& x = c.operand(0);
  const auto axis = static_cast<size_t>(c.op.attr_int("axis"));
  const int64_t start = c.op.attr_int("start"), size = c.op.attr_int("size");
  const int64_t length = x.shape[axis];
  if (start + size > length)
    throw IrError(fmt::format("slice [{}, {}) of axis {} is out of range: the operand {} has {} there", start,
                              start + size, axis, describe(x.dtype, x.shape), length));
  // The result is `outer` runs of size·inner consecutive elements.
  const int64_t outer = product(x.shape, 0, axis), inner = product(x.shape, axis + 1, x.shape.size());
  const int64_t block = info(x.dtype).block_elems, block_bytes = info(x.dtype).block_bytes;
  if ((inner * length) % block || (inner * start) % block || (inner * size) % block)
    throw IrError(fmt::format("slice [{}, {}) of axis {} of {} cuts through its {}-element blocks", start, start + size,
                              axis, describe(x.dtype, x.shape), block));
  HostTensor out = HostTensor::zeros(x.dtype, c.out_shape[0]);
  const int64_t run_bytes = inner * size / block * block_bytes;
  for (int64_t o = 0; o < outer; ++o) {
    const int64_t src = (o * length + start) * inner / block * block_bytes;
    std::memcpy(out.bytes.data() + o * run_bytes, x.bytes.data() + src, static_cast<size_t>(run_bytes));
  }
  return {std::move(out)};
}

// The executor's op table, built from ops.def: a missing evaluator fails to compile.
using Evaluator = Results (*)(const OpCall&);
constexpr Evaluator kEvaluators[] = {
#define VKLLM_OP(e, s, mn, mx, nr) &eval_##e,
#include "ir/ops.def"
#undef VKLLM_OP
};
static_assert(std::size(kEvaluators) == kNumOps, "ir/ops.def and the reference op table disagree");

// Binds a graph input: its tensor must exist and match the declared type under the bindings.
const HostTensor& bound_input(const Graph& g, const Value& input, const SymbolBindings& symbols,
                              const std::map<std::string, HostTensor>& inputs) {
  const std::string where = fmt::format("graph @{}: input %{} ({})", g.name, input.name, to_string(input.type));
  auto it = inputs.find(input.name);
  if (it == inputs.end()) throw IrError(fmt::format("{}: missing; pass a tensor named \"{}\"", where, input.name));
  const HostTensor& t = it->second;
  std::vector<int64_t> shape;
  try {
    shape = concrete_shape(input.type.shape, symbols);
  } catch (const IrError& e) {
    throw IrError(fmt::format("{}: {}", where, e.what()));
  }
  if (t.dtype != input.type.dtype || t.shape != shape)
    throw IrError(
        fmt::format("{}: expected {}, got {}", where, describe(input.type.dtype, shape), describe(t.dtype, t.shape)));
  if (t.size_bytes() != storage_bytes(t.dtype, t.numel()))
    throw IrError(fmt::format("{}: the tensor holds {} bytes, its type needs {}", where, t.size_bytes(),
                              storage_bytes(t.dtype, t.numel())));
  return t;
}

}  // namespace

ReferenceRun run_reference(const Graph& g, const SymbolBindings& symbols,
                           const std::map<std::string, HostTensor>& inputs, const WeightFn& weights,
                           StateMap* states) {
  verify(g);
  for (const auto& [input_name, tensor] : inputs) {
    const ValueId v = g.find(input_name);
    if (v < 0 || g.value(v).producer != -1)
      throw IrError(fmt::format("graph @{} has no input %{}; remove it from the inputs", g.name, input_name));
  }

  ReferenceRun run;
  run.values.resize(g.values.size());
  for (ValueId v : g.inputs) run.values[static_cast<size_t>(v)] = bound_input(g, g.value(v), symbols, inputs);
  // The state whose storage each value shares (empty: none): a state op's result, views of it
  // (reshape) and results of in-place ops on it.
  std::vector<std::string> state_of(g.values.size());

  for (size_t i = 0; i < g.ops.size(); ++i) {
    const Op& op = g.ops[i];
    const std::string where =
        fmt::format("graph @{}: op #{} '{}' (%{})", g.name, i, name(op.kind), g.value(op.results.front()).name);
    try {
      OpCall call{g, op, {}, {}, {}, weights, states};
      for (ValueId v : op.inputs) call.in.push_back(&run.values[static_cast<size_t>(v)]);
      for (ValueId r : op.results) {
        call.out_dtype.push_back(g.type(r).dtype);
        call.out_shape.push_back(concrete_shape(g.type(r).shape, symbols));
      }
      Results results = kEvaluators[static_cast<int>(op.kind)](call);
      for (size_t r = 0; r < results.size(); ++r)
        run.values[static_cast<size_t>(op.results[r])] = std::move(results[r]);
    } catch (const IrError& e) {
      throw IrError(fmt::format("{}: {}", where, e.what()));
    }

    const auto result = static_cast<size_t>(op.results[0]);
    if (op.kind == OpKind::State) {
      state_of[result] = op.attr_str("name");
    } else if (op.kind == OpKind::Reshape) {
      state_of[result] = state_of[static_cast<size_t>(op.inputs[0])];
    } else {
      for (const InPlaceWrite& w : in_place_writes(op)) {
        const std::string& state = state_of[static_cast<size_t>(op.inputs[static_cast<size_t>(w.operand)])];
        const auto written = static_cast<size_t>(op.results[static_cast<size_t>(w.result)]);
        state_of[written] = state;
        // The state keeps its declared shape; a view written in place has the same bytes.
        if (!state.empty()) (*states)[state].bytes = run.values[written].bytes;
      }
    }
  }
  for (ValueId v : g.outputs) run.outputs.push_back(run.values[static_cast<size_t>(v)]);
  return run;
}

}  // namespace vkllm::ir
