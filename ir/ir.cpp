#include "ir/ir.h"

#include <fmt/format.h>

#include "ir/verify.h"

namespace vkllm::ir {

OpKind parse_op_kind(std::string_view s, bool* ok) {
  for (int i = 0; i < kNumOps; ++i)
    if (kOpInfo[i].name == s) {
      *ok = true;
      return static_cast<OpKind>(i);
    }
  *ok = false;
  return OpKind::Weight;
}

namespace {
template <typename T>
const T& get_attr(const Op& op, const std::string& k) {
  auto it = op.attrs.find(k);
  if (it == op.attrs.end()) throw IrError(fmt::format("'{}': missing attribute '{}'", name(op.kind), k));
  const T* v = std::get_if<T>(&it->second);
  if (!v) throw IrError(fmt::format("'{}': attribute '{}' has the wrong kind", name(op.kind), k));
  return *v;
}
}  // namespace

int64_t Op::attr_int(const std::string& k) const { return get_attr<int64_t>(*this, k); }
int64_t Op::attr_int(const std::string& k, int64_t dflt) const { return has(k) ? attr_int(k) : dflt; }
double Op::attr_float(const std::string& k) const {
  auto it = attrs.find(k);
  if (it != attrs.end())
    if (auto* i = std::get_if<int64_t>(&it->second)) return static_cast<double>(*i);
  return get_attr<double>(*this, k);
}
double Op::attr_float(const std::string& k, double dflt) const { return has(k) ? attr_float(k) : dflt; }
const std::string& Op::attr_str(const std::string& k) const { return get_attr<std::string>(*this, k); }
std::string Op::attr_str(const std::string& k, const std::string& dflt) const {
  return has(k) ? attr_str(k) : dflt;
}
const std::vector<int64_t>& Op::attr_ints(const std::string& k) const {
  return get_attr<std::vector<int64_t>>(*this, k);
}
bool Op::attr_bool(const std::string& k, bool dflt) const { return has(k) ? get_attr<bool>(*this, k) : dflt; }

ValueId Graph::find(std::string_view value_name) const {
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].name == value_name) return static_cast<ValueId>(i);
  return -1;
}

const Graph* Module::find(std::string_view graph_name) const {
  for (const Graph& g : graphs)
    if (g.name == graph_name) return &g;
  return nullptr;
}

std::string to_string(const Dim& d) { return d.is_const() ? fmt::format("{}", d.value) : d.sym; }

std::string to_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + to_string(s[i]);
  return out + "]";
}

std::string to_string(const Type& t) { return std::string(name(t.dtype)) + to_string(t.shape); }

int64_t num_elements(const Shape& s, const std::map<std::string, int64_t>& bind) {
  int64_t n = 1;
  for (const Dim& d : s) {
    if (d.is_const()) {
      n *= d.value;
    } else {
      auto it = bind.find(d.sym);
      if (it == bind.end()) throw IrError(fmt::format("symbol '{}' is not bound", d.sym));
      n *= it->second;
    }
  }
  return n;
}

Builder::Builder(std::string graph_name) { g_.name = std::move(graph_name); }

ValueId Builder::new_value(Type t, std::string nm, int producer) {
  if (nm.empty()) nm = fmt::format("{}", next_tmp_++);
  g_.values.push_back(Value{std::move(t), std::move(nm), producer});
  return static_cast<ValueId>(g_.values.size() - 1);
}

void Builder::set_name(ValueId v, const std::string& nm) {
  if (g_.find(nm) >= 0) throw IrError(fmt::format("value name %{} is already used", nm));
  g_.values.at(static_cast<size_t>(v)).name = nm;
}

ValueId Builder::input(const std::string& nm, Type t) {
  ValueId v = new_value(std::move(t), nm, -1);
  g_.inputs.push_back(v);
  return v;
}

std::vector<ValueId> Builder::emit(OpKind kind, std::vector<ValueId> inputs, Attrs attrs,
                                   std::vector<Type> declared) {
  std::vector<Type> in_types;
  for (ValueId v : inputs) in_types.push_back(g_.type(v));
  std::vector<Type> results = infer_result_types(kind, in_types, attrs, declared);
  Op op{kind, std::move(inputs), {}, std::move(attrs)};
  int producer = static_cast<int>(g_.ops.size());
  for (Type& t : results) op.results.push_back(new_value(std::move(t), {}, producer));
  g_.ops.push_back(std::move(op));
  return g_.ops.back().results;
}

ValueId Builder::weight(const std::string& nm, Type t) {
  return emit(OpKind::Weight, {}, {{"name", nm}}, {std::move(t)})[0];
}
ValueId Builder::constant(double value, Type t) {
  return emit(OpKind::Constant, {}, {{"value", value}}, {std::move(t)})[0];
}
ValueId Builder::state(const std::string& nm, Type t) {
  return emit(OpKind::State, {}, {{"name", nm}}, {std::move(t)})[0];
}
ValueId Builder::kv_write(ValueId cache, ValueId x, ValueId slots) {
  return emit(OpKind::KvWrite, {cache, x, slots})[0];
}
std::pair<ValueId, ValueId> Builder::kv_write_rope(ValueId k_cache, ValueId v_cache, ValueId k, ValueId v,
                                                   ValueId slots, ValueId pos, Attrs rope) {
  std::vector<ValueId> operands{k_cache, v_cache, k, v, slots};
  if (pos >= 0) operands.push_back(pos);
  auto r = emit(OpKind::KvWriteRope, std::move(operands), std::move(rope));
  return {r[0], r[1]};
}
ValueId Builder::paged_attention(ValueId q, ValueId k_cache, ValueId v_cache, ValueId block_table, ValueId row_seq,
                                 ValueId pos, double scale, int64_t window, double softcap) {
  Attrs a{{"scale", scale}};
  if (window) a["window"] = window;
  if (softcap != 0.0) a["softcap"] = softcap;
  return emit(OpKind::PagedAttention, {q, k_cache, v_cache, block_table, row_seq, pos}, std::move(a))[0];
}
ValueId Builder::paged_attention_partial(ValueId q, ValueId k_cache, ValueId v_cache, ValueId block_table,
                                         ValueId row_seq, ValueId pos, double scale, int64_t window, double softcap,
                                         int64_t splits, int64_t granule) {
  Attrs a{{"scale", scale}, {"splits", splits}, {"granule", granule}};
  if (window) a["window"] = window;
  if (softcap != 0.0) a["softcap"] = softcap;
  return emit(OpKind::PagedAttentionPartial, {q, k_cache, v_cache, block_table, row_seq, pos}, std::move(a))[0];
}
ValueId Builder::attention_combine(ValueId partials) { return emit(OpKind::AttentionCombine, {partials})[0]; }
ValueId Builder::embedding(ValueId table, ValueId ids) { return emit(OpKind::Embedding, {table, ids})[0]; }
ValueId Builder::matmul(ValueId x, ValueId w) { return emit(OpKind::MatMul, {x, w})[0]; }
ValueId Builder::add(ValueId a, ValueId b) { return emit(OpKind::Add, {a, b})[0]; }
ValueId Builder::mul(ValueId a, ValueId b) { return emit(OpKind::Mul, {a, b})[0]; }
ValueId Builder::scale(ValueId x, double factor) { return emit(OpKind::Scale, {x}, {{"factor", factor}})[0]; }
ValueId Builder::silu(ValueId x) { return emit(OpKind::Silu, {x})[0]; }
ValueId Builder::gelu(ValueId x, bool tanh_approximation) {
  return emit(OpKind::Gelu, {x}, {{"approximate", std::string(tanh_approximation ? "tanh" : "none")}})[0];
}
ValueId Builder::sigmoid(ValueId x) { return emit(OpKind::Sigmoid, {x})[0]; }
ValueId Builder::softplus(ValueId x) { return emit(OpKind::Softplus, {x})[0]; }
ValueId Builder::exp(ValueId x) { return emit(OpKind::Exp, {x})[0]; }
ValueId Builder::softcap(ValueId x, double cap) { return emit(OpKind::Softcap, {x}, {{"cap", cap}})[0]; }
ValueId Builder::swiglu(ValueId gate, ValueId up) { return emit(OpKind::SwiGlu, {gate, up})[0]; }
ValueId Builder::geglu(ValueId gate, ValueId up, bool tanh_approximation) {
  return emit(OpKind::GeGlu, {gate, up}, {{"approximate", std::string(tanh_approximation ? "tanh" : "none")}})[0];
}
ValueId Builder::cast(ValueId x, DType to) {
  return emit(OpKind::Cast, {x}, {}, {Type{to, g_.type(x).shape}})[0];
}
ValueId Builder::rms_norm(ValueId x, ValueId w, double eps, double offset) {
  Attrs a{{"eps", eps}};
  if (offset != 0.0) a["offset"] = offset;
  return emit(OpKind::RmsNorm, {x, w}, std::move(a))[0];
}
ValueId Builder::layer_norm(ValueId x, ValueId w, ValueId b, double eps) {
  return emit(OpKind::LayerNorm, {x, w, b}, {{"eps", eps}})[0];
}
ValueId Builder::softmax(ValueId x) { return emit(OpKind::Softmax, {x})[0]; }
ValueId Builder::rope(ValueId x, ValueId pos, Attrs attrs) { return emit(OpKind::Rope, {x, pos}, std::move(attrs))[0]; }
ValueId Builder::attention(ValueId q, ValueId k, ValueId v, ValueId pos, double scale, int64_t window,
                           double softcap) {
  Attrs a{{"scale", scale}};
  if (window) a["window"] = window;
  if (softcap != 0.0) a["softcap"] = softcap;
  return emit(OpKind::Attention, {q, k, v, pos}, std::move(a))[0];
}
std::pair<ValueId, ValueId> Builder::conv1d(ValueId x, ValueId w, ValueId state, bool silu) {
  auto r = emit(OpKind::Conv1d, {x, w, state}, {{"activation", std::string(silu ? "silu" : "none")}});
  return {r[0], r[1]};
}
std::pair<ValueId, ValueId> Builder::conv1d(ValueId x, ValueId w, ValueId state, ValueId src_slot, ValueId dst_slot,
                                            bool silu) {
  auto r = emit(OpKind::Conv1d, {x, w, state, src_slot, dst_slot},
                {{"activation", std::string(silu ? "silu" : "none")}});
  return {r[0], r[1]};
}
std::pair<ValueId, ValueId> Builder::gated_delta_net(ValueId q, ValueId k, ValueId v, ValueId g, ValueId beta,
                                                     ValueId state, ValueId src_slot, ValueId dst_slot, double scale,
                                                     bool qk_l2norm, double l2norm_eps) {
  auto r = emit(OpKind::GatedDeltaNet, {q, k, v, g, beta, state, src_slot, dst_slot},
                {{"scale", scale}, {"qk_l2norm", qk_l2norm}, {"l2norm_eps", l2norm_eps}});
  return {r[0], r[1]};
}
ValueId Builder::argmax(ValueId x) { return emit(OpKind::ArgMax, {x})[0]; }
std::pair<ValueId, ValueId> Builder::top_k(ValueId x, int64_t k) {
  auto r = emit(OpKind::TopK, {x}, {{"k", k}});
  return {r[0], r[1]};
}
std::pair<ValueId, ValueId> Builder::sample(ValueId logits, ValueId params, ValueId rng, ValueId history) {
  auto r = emit(OpKind::Sample, {logits, params, rng, history});
  return {r[0], r[1]};
}
ValueId Builder::reshape(ValueId x, Shape shape) {
  return emit(OpKind::Reshape, {x}, {}, {Type{g_.type(x).dtype, std::move(shape)}})[0];
}
ValueId Builder::slice(ValueId x, int64_t axis, int64_t start, int64_t size) {
  return emit(OpKind::Slice, {x}, {{"axis", axis}, {"start", start}, {"size", size}})[0];
}

Graph Builder::finish() {
  verify(g_);
  return std::move(g_);
}

}  // namespace vkllm::ir
