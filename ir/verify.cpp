#include "ir/verify.h"

#include "ir/sampling.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace vkllm::ir {
namespace {

// Collects the context of one check so that every error names the op and the operand.
struct Rule {
  OpKind kind;
  const std::vector<Type>& in;
  const Attrs& attrs;

  [[noreturn]] void fail(const std::string& what) const {
    throw IrError(fmt::format("'{}': {}", name(kind), what));
  }
  void check(bool ok, const std::string& what) const {
    if (!ok) fail(what);
  }
  const Type& operand(size_t i) const { return in[i]; }
  std::string desc(size_t i) const { return fmt::format("operand {} ({})", i, to_string(in[i])); }

  void rank_at_least(size_t i, size_t r) const {
    check(in[i].shape.size() >= r, fmt::format("{} must have rank >= {}", desc(i), r));
  }
  void rank_is(size_t i, size_t r) const {
    check(in[i].shape.size() == r, fmt::format("{} must have rank {}", desc(i), r));
  }
  void dtype_is(size_t i, DType t) const {
    check(in[i].dtype == t, fmt::format("{} must be {}", desc(i), name(t)));
  }
  void dense_float(size_t i) const {
    check(info(in[i].dtype).is_float && !is_quantized(in[i].dtype),
          fmt::format("{} must be a dense float type (f32, f16, bf16)", desc(i)));
  }
  void any_float(size_t i) const {
    check(info(in[i].dtype).is_float, fmt::format("{} must be a float or quantized type", desc(i)));
  }
  void same_shape(size_t i, size_t j) const {
    check(in[i].shape == in[j].shape,
          fmt::format("{} and {} must have the same shape", desc(i), desc(j)));
  }
  void dim_eq(const Dim& a, const Dim& b, const std::string& what) const {
    check(a == b, fmt::format("{}: {} != {}", what, to_string(a), to_string(b)));
  }
  const AttrValue* attr(const char* key) const {
    auto it = attrs.find(key);
    return it == attrs.end() ? nullptr : &it->second;
  }
  double float_attr(const char* key, bool required, double dflt = 0.0) const {
    const AttrValue* a = attr(key);
    if (!a) {
      check(!required, fmt::format("missing attribute '{}'", key));
      return dflt;
    }
    if (auto* d = std::get_if<double>(a)) return *d;
    if (auto* i = std::get_if<int64_t>(a)) return static_cast<double>(*i);
    fail(fmt::format("attribute '{}' must be a number", key));
  }
  int64_t int_attr(const char* key, bool required, int64_t dflt = 0) const {
    const AttrValue* a = attr(key);
    if (!a) {
      check(!required, fmt::format("missing attribute '{}'", key));
      return dflt;
    }
    if (auto* i = std::get_if<int64_t>(a)) return *i;
    fail(fmt::format("attribute '{}' must be an integer", key));
  }
  bool bool_attr(const char* key, bool dflt) const {
    const AttrValue* a = attr(key);
    if (!a) return dflt;
    auto* b = std::get_if<bool>(a);
    check(b != nullptr, fmt::format("attribute '{}' must be true or false", key));
    return *b;
  }
  // Per-row state slots (ir/README.md "recurrent state slots"): operands i and i + 1 are
  // src_slot and dst_slot, i32[T] with T the rows of operand 0.
  void state_slots(size_t i) const {
    for (size_t s : {i, i + 1}) {
      rank_is(s, 1);
      dtype_is(s, DType::I32);
      dim_eq(in[s].shape[0], in[0].shape[0], fmt::format("{} must have one entry per row", desc(s)));
    }
  }
  std::string str_attr(const char* key, std::initializer_list<const char*> allowed,
                       const char* dflt) const {
    const AttrValue* a = attr(key);
    if (!a) return dflt;
    auto* s = std::get_if<std::string>(a);
    check(s != nullptr, fmt::format("attribute '{}' must be a string", key));
    std::string options;
    for (const char* o : allowed) {
      if (*s == o) return *s;
      options += options.empty() ? o : std::string(", ") + o;
    }
    fail(fmt::format("attribute '{}' is \"{}\"; expected one of {}", key, *s, options));
  }
  const Type& declared_one(const std::vector<Type>& declared) const {
    check(declared.size() == 1, "result type must be declared");
    return declared[0];
  }
  // The attributes of a rope over heads of `head_dim` (ir/README.md "rope"); also those of the ops
  // with a rope folded in (kv_write_rope, paged_attention_partial).
  void rope_attrs(const Dim& head_dim) const {
    check(head_dim.is_const(), "head dim must be constant");
    int64_t rot = int_attr("rotary_dims", false, head_dim.value);
    check(rot > 0 && rot % 2 == 0 && rot <= head_dim.value,
          fmt::format("attribute 'rotary_dims' ({}) must be even and in (0, {}]", rot, head_dim.value));
    check(float_attr("theta", true) > 0, "attribute 'theta' must be > 0");
    str_attr("layout", {"neox", "interleaved"}, "neox");
    std::string scaling = str_attr("scaling", {"none", "linear", "llama3"}, "none");
    if (scaling != "none") check(float_attr("factor", true) > 0, "attribute 'factor' must be > 0");
    if (scaling == "llama3") {
      float_attr("low_freq_factor", true);
      float_attr("high_freq_factor", true);
      int_attr("original_max_position", true);
    }
  }
};

bool suffix_of(const Shape& b, const Shape& a) {
  if (b.size() > a.size()) return false;
  return std::equal(b.begin(), b.end(), a.end() - static_cast<std::ptrdiff_t>(b.size()));
}

// Whether the product of the constant dims of s overflows int64 (same_element_count needs it not to).
bool constant_product_overflows(const Shape& s) {
  int64_t c = 1;
  for (const Dim& d : s)
    if (d.is_const() && __builtin_mul_overflow(c, d.value, &c)) return true;
  return false;
}

// Element counts equal as symbolic products: same constant factor, same multiset of symbols.
bool same_element_count(const Shape& a, const Shape& b) {
  auto split = [](const Shape& s) {
    int64_t c = 1;
    std::multiset<std::string> syms;
    for (const Dim& d : s) {
      if (d.is_const()) c *= d.value;
      else syms.insert(d.sym);
    }
    return std::make_pair(c, syms);
  };
  return split(a) == split(b);
}

}  // namespace

std::vector<Type> infer_result_types(OpKind kind, const std::vector<Type>& in, const Attrs& attrs,
                                     const std::vector<Type>& declared) {
  Rule r{kind, in, attrs};
  const OpInfo& oi = info(kind);
  r.check(static_cast<int>(in.size()) >= oi.min_inputs && static_cast<int>(in.size()) <= oi.max_inputs,
          fmt::format("takes {} operand(s), got {}",
                      oi.min_inputs == oi.max_inputs ? fmt::format("{}", oi.min_inputs)
                                                     : fmt::format("{}..{}", oi.min_inputs, oi.max_inputs),
                      in.size()));
  for (const Type& t : in)
    for (const Dim& d : t.shape)
      r.check(!d.is_const() || d.value >= 0, fmt::format("operand type {} has a negative dim", to_string(t)));

  switch (kind) {
    case OpKind::Weight:
    case OpKind::State: {
      const AttrValue* n = r.attr("name");
      r.check(n && std::holds_alternative<std::string>(*n) && !std::get<std::string>(*n).empty(),
              "attribute 'name' (the tensor's name) must be a non-empty string");
      const Type& t = r.declared_one(declared);
      if (kind == OpKind::State)
        for (const Dim& d : t.shape) r.check(d.is_const(), "a state's shape must be constant (it is allocated once)");
      return {t};
    }
    case OpKind::Constant: {
      r.float_attr("value", true);
      const Type& t = r.declared_one(declared);
      r.check(!is_quantized(t.dtype), "result cannot be a quantized type");
      return {t};
    }
    case OpKind::Embedding: {
      r.rank_is(0, 2);
      r.any_float(0);
      r.dtype_is(1, DType::I32);
      Shape s = in[1].shape;
      s.push_back(in[0].shape[1]);
      return {{DType::F32, s}};
    }
    case OpKind::MatMul: {
      r.rank_at_least(0, 1);
      r.dense_float(0);
      r.rank_is(1, 2);
      r.any_float(1);
      r.dim_eq(in[0].shape.back(), in[1].shape[1], "last dim of x must equal dim 1 of w[N, K]");
      Shape s = in[0].shape;
      s.back() = in[1].shape[0];
      return {{DType::F32, s}};
    }
    case OpKind::FusedMatMul: {
      // Operands: x (the gate for swiglu), w, then the prologue's operand, then the residual.
      const std::string prologue = r.str_attr("prologue", {"none", "rms_norm", "swiglu", "geglu"}, "none");
      const bool add = r.str_attr("epilogue", {"none", "add"}, "none") == "add";
      const size_t operands = 2 + (prologue != "none" ? 1 : 0) + (add ? 1 : 0);
      r.check(in.size() == operands,
              fmt::format("takes {} operands with prologue \"{}\"{} (x, w{}{})", operands, prologue,
                          add ? " and epilogue \"add\"" : "",
                          prologue == "rms_norm" ? ", norm weight" : prologue == "none" ? "" : ", up",
                          add ? ", residual" : ""));
      r.rank_at_least(0, 1);
      r.dense_float(0);
      r.rank_is(1, 2);
      r.any_float(1);
      r.dim_eq(in[0].shape.back(), in[1].shape[1], "last dim of x must equal dim 1 of w[N, K]");
      if (prologue == "rms_norm") {
        r.rank_is(2, 1);
        r.dense_float(2);
        r.dim_eq(in[2].shape[0], in[0].shape.back(), "the norm weight must match the last dim of x");
        r.check(r.float_attr("eps", true) > 0, "attribute 'eps' must be > 0");
        r.float_attr("offset", false);
      } else if (prologue == "swiglu" || prologue == "geglu") {
        r.dense_float(2);
        r.same_shape(0, 2);
        if (prologue == "geglu") r.str_attr("approximate", {"none", "tanh"}, "none");
      }
      Shape s = in[0].shape;
      s.back() = in[1].shape[0];
      if (add) {
        const size_t residual = in.size() - 1;
        r.dense_float(residual);
        r.check(suffix_of(in[residual].shape, s),
                fmt::format("shape of the residual, {}, must be a suffix of the result's {}", r.desc(residual),
                            to_string(s)));
      }
      return {{DType::F32, s}};
    }
    case OpKind::MultiMatMul: {
      // Operands: x, 2..4 weights (one dtype: one kernel reads them all), then with prologue rms_norm the
      // norm weight. One result per weight, or with a combine one: the gate's (weight 0) and up's combined.
      const bool rms = r.str_attr("prologue", {"none", "rms_norm"}, "none") == "rms_norm";
      const std::string combine = r.str_attr("combine", {"none", "swiglu", "geglu"}, "none");
      const size_t weights = in.size() - 1 - (rms ? 1 : 0);
      r.check(weights >= 2 && weights <= 4,
              fmt::format("takes x, 2 to 4 weights{}: {} operands hold {}", rms ? " and the norm weight" : "",
                          in.size(), weights));
      r.rank_at_least(0, 1);
      r.dense_float(0);
      std::vector<Type> results;
      for (size_t i = 1; i <= weights; ++i) {
        r.rank_is(i, 2);
        r.any_float(i);
        r.dim_eq(in[0].shape.back(), in[i].shape[1], "last dim of x must equal dim 1 of every weight w[N, K]");
        r.check(in[i].dtype == in[1].dtype,
                fmt::format("{} must have the first weight's dtype, {}", r.desc(i), name(in[1].dtype)));
        Shape s = in[0].shape;
        s.back() = in[i].shape[0];
        results.push_back({DType::F32, s});
      }
      if (rms) {
        const size_t norm = in.size() - 1;
        r.rank_is(norm, 1);
        r.dense_float(norm);
        r.dim_eq(in[norm].shape[0], in[0].shape.back(), "the norm weight must match the last dim of x");
        r.check(r.float_attr("eps", true) > 0, "attribute 'eps' must be > 0");
        r.float_attr("offset", false);
      }
      if (combine != "none") {
        r.check(weights == 2, fmt::format("combine \"{}\" takes two weights (gate, up), not {}", combine, weights));
        r.same_shape(1, 2);
        if (combine == "geglu") r.str_attr("approximate", {"none", "tanh"}, "none");
        results.resize(1);
      }
      return results;
    }
    case OpKind::Add:
    case OpKind::Mul:
      r.dense_float(0);
      r.dense_float(1);
      r.check(suffix_of(in[1].shape, in[0].shape),
              fmt::format("shape of {} must be a suffix of {} (broadcast over leading dims)", r.desc(1), r.desc(0)));
      return {in[0]};
    case OpKind::Scale:
      r.dense_float(0);
      r.float_attr("factor", true);
      return {in[0]};
    case OpKind::Gelu:
    case OpKind::GeGlu:
      r.str_attr("approximate", {"none", "tanh"}, "none");
      [[fallthrough]];
    case OpKind::Silu:
    case OpKind::Sigmoid:
    case OpKind::Softplus:
    case OpKind::Exp:
    case OpKind::Softcap:
    case OpKind::SwiGlu:
      for (size_t i = 0; i < in.size(); ++i) r.dense_float(i);
      if (in.size() == 2) r.same_shape(0, 1);
      if (kind == OpKind::Softcap) r.check(r.float_attr("cap", true) > 0, "attribute 'cap' must be > 0");
      return {in[0]};
    case OpKind::Cast: {
      r.dense_float(0);
      const Type& t = r.declared_one(declared);
      r.check(!is_quantized(t.dtype) && t.dtype != DType::I32, "can only cast to f32, f16 or bf16");
      r.check(t.shape == in[0].shape, "result shape must equal the operand's");
      return {t};
    }
    case OpKind::RmsNorm:
    case OpKind::LayerNorm:
      r.rank_at_least(0, 1);
      r.dense_float(0);
      for (size_t i = 1; i < in.size(); ++i) {
        r.rank_is(i, 1);
        r.dense_float(i);
        r.dim_eq(in[i].shape[0], in[0].shape.back(), fmt::format("{} must match the last dim of x", r.desc(i)));
      }
      r.check(r.float_attr("eps", true) > 0, "attribute 'eps' must be > 0");
      r.float_attr("offset", false);
      return {in[0]};
    case OpKind::Softmax:
      r.rank_at_least(0, 1);
      r.dense_float(0);
      return {in[0]};
    case OpKind::Rope: {
      r.rank_is(0, 3);
      r.dense_float(0);
      r.rank_is(1, 1);
      r.dtype_is(1, DType::I32);
      r.dim_eq(in[1].shape[0], in[0].shape[0], "pos must have one entry per row of x[T, H, Dh]");
      r.rope_attrs(in[0].shape[2]);
      return {in[0]};
    }
    case OpKind::Attention: {
      for (size_t i = 0; i < 3; ++i) {
        r.rank_is(i, 3);
        r.dense_float(i);
      }
      r.rank_is(3, 1);
      r.dtype_is(3, DType::I32);
      const Shape &q = in[0].shape, &k = in[1].shape, &v = in[2].shape;
      r.dim_eq(in[3].shape[0], q[0], "pos must have one entry per query row");
      r.dim_eq(k[0], v[0], "k and v must have the same number of rows");
      r.dim_eq(k[1], v[1], "k and v must have the same number of heads");
      r.dim_eq(q[2], k[2], "q and k must have the same head dim");
      r.check(q[1].is_const() && k[1].is_const() && k[1].value > 0 && q[1].value % k[1].value == 0,
              "query heads must be a constant multiple of key/value heads (GQA)");
      r.float_attr("scale", true);
      r.check(r.int_attr("window", false) >= 0, "attribute 'window' must be >= 0 (0: no window)");
      r.check(r.float_attr("softcap", false) >= 0, "attribute 'softcap' must be >= 0 (0: none)");
      return {{DType::F32, {q[0], q[1], v[2]}}};
    }
    case OpKind::KvWrite: {
      r.rank_is(0, 4);
      r.dense_float(0);
      r.rank_is(1, 3);
      r.dense_float(1);
      r.rank_is(2, 1);
      r.dtype_is(2, DType::I32);
      const Shape &c = in[0].shape, &x = in[1].shape;
      r.dim_eq(x[1], c[2], "x[T, H, D] must have the cache's head count");
      r.dim_eq(x[2], c[3], "x[T, H, D] must have the cache's head dim");
      r.dim_eq(in[2].shape[0], x[0], "slots must have one entry per row of x");
      return {in[0]};
    }
    case OpKind::KvWriteRope: {
      // (k_cache, v_cache, k, v, slots[, pos]): two kv_writes with the same slots; with pos, k is
      // roped first (the rope attributes are required exactly then).
      for (size_t i : {0, 1}) {
        r.rank_is(i, 4);
        r.dense_float(i);
        r.rank_is(i + 2, 3);
        r.dense_float(i + 2);
        const Shape &c = in[i].shape, &x = in[i + 2].shape;
        r.dim_eq(x[1], c[2], fmt::format("{} must have the head count of {}", r.desc(i + 2), r.desc(i)));
        r.dim_eq(x[2], c[3], fmt::format("{} must have the head dim of {}", r.desc(i + 2), r.desc(i)));
      }
      const Shape &kc = in[0].shape, &vc = in[1].shape;
      r.dim_eq(kc[0], vc[0], "k_cache and v_cache must have the same number of blocks");
      r.dim_eq(kc[1], vc[1], "k_cache and v_cache must have the same block size");
      r.dim_eq(in[2].shape[0], in[3].shape[0], "k and v must have the same number of rows");
      for (size_t i = 4; i < in.size(); ++i) {
        r.rank_is(i, 1);
        r.dtype_is(i, DType::I32);
        r.dim_eq(in[i].shape[0], in[2].shape[0], fmt::format("{} must have one entry per row of k", r.desc(i)));
      }
      if (in.size() == 6) r.rope_attrs(in[2].shape[2]);
      else r.check(r.attr("theta") == nullptr, "rope attributes need the pos operand (6 operands)");
      return {in[0], in[1]};
    }
    case OpKind::PagedAttention:
    case OpKind::PagedAttentionPartial:
    case OpKind::PagedAttentionSplit: {
      for (size_t i = 0; i < 3; ++i) r.dense_float(i);
      r.rank_is(0, 3);
      r.rank_is(1, 4);
      r.rank_is(2, 4);
      r.rank_is(3, 2);
      for (size_t i = 3; i < 6; ++i) r.dtype_is(i, DType::I32);
      r.rank_is(4, 1);
      r.rank_is(5, 1);
      const Shape &q = in[0].shape, &k = in[1].shape, &v = in[2].shape;
      r.dim_eq(k[0], v[0], "k_cache and v_cache must have the same number of blocks");
      r.dim_eq(k[1], v[1], "k_cache and v_cache must have the same block size");
      r.dim_eq(k[2], v[2], "k_cache and v_cache must have the same number of heads");
      r.dim_eq(q[2], k[3], "q and k_cache must have the same head dim");
      r.dim_eq(in[4].shape[0], q[0], "row_seq must have one entry per query row");
      r.dim_eq(in[5].shape[0], q[0], "pos must have one entry per query row");
      r.check(q[1].is_const() && k[2].is_const() && k[2].value > 0 && q[1].value % k[2].value == 0,
              "query heads must be a constant multiple of key/value heads (GQA)");
      r.float_attr("scale", true);
      r.check(r.int_attr("window", false) >= 0, "attribute 'window' must be >= 0 (0: no window)");
      r.check(r.float_attr("softcap", false) >= 0, "attribute 'softcap' must be >= 0 (0: none)");
      if (kind == OpKind::PagedAttention) return {{DType::F32, {q[0], q[1], v[3]}}};
      const int64_t splits = r.int_attr("splits", true), granule = r.int_attr("granule", true);
      r.check(splits >= 1, fmt::format("attribute 'splits' ({}) must be >= 1", splits));
      r.check(granule >= 1, fmt::format("attribute 'granule' ({}) must be >= 1", granule));
      r.check(v[3].is_const(), "the head dim of v_cache must be constant");
      if (r.attr("theta")) r.rope_attrs(q[2]);  // q roped at pos first (passes/fuse_attention_rope.cpp)
      const Type partials{DType::F32, {q[0], q[1], Dim::of(splits), Dim::of(v[3].value + 2)}};
      if (kind == OpKind::PagedAttentionPartial) return {partials};
      // paged_attention_split: counters i32[R, Hq] (R >= the rows; zeros before and after, in place).
      r.rank_is(6, 2);
      r.dtype_is(6, DType::I32);
      const Shape& counters = in[6].shape;
      r.check(counters[0].is_const() && counters[0].value >= 1, "the counters' row count must be a constant >= 1");
      r.dim_eq(counters[1], q[1], "counters[R, Hq] must have one entry per query head");
      return {{DType::F32, {q[0], q[1], v[3]}}, partials, in[6]};
    }
    case OpKind::AttentionCombine: {
      r.rank_is(0, 4);
      r.dtype_is(0, DType::F32);
      const Shape& p = in[0].shape;
      r.check(p[3].is_const() && p[3].value >= 3,
              fmt::format("{}: the last dim (value head dim + 2) must be a constant >= 3", r.desc(0)));
      return {{DType::F32, {p[0], p[1], Dim::of(p[3].value - 2)}}};
    }
    case OpKind::Conv1d: {
      // (x, w, state[K-1, C]) or the paged form (x, w, state[S, K-1, C], src_slot, dst_slot).
      r.check(in.size() == 3 || in.size() == 5,
              "takes 3 operands (x, w, state) or 5 (x, w, state[S, K-1, C], src_slot, dst_slot)");
      const bool paged = in.size() == 5;
      r.rank_is(0, 2);
      r.rank_is(1, 2);
      r.rank_is(2, paged ? 3 : 2);
      for (size_t i = 0; i < 3; ++i) r.dense_float(i);
      const Shape &x = in[0].shape, &w = in[1].shape;
      const Shape st(in[2].shape.end() - 2, in[2].shape.end());  // [K-1, C]
      r.dim_eq(w[0], x[1], "w[C, K] must have one row per channel of x[T, C]");
      r.check(w[1].is_const() && w[1].value >= 1, "kernel size (dim 1 of w) must be a constant >= 1");
      r.dim_eq(st[0], Dim::of(w[1].value - 1), "state must hold K-1 rows");
      r.dim_eq(st[1], x[1], "state must have one column per channel");
      if (paged) {
        r.dtype_is(2, DType::F32);
        r.state_slots(3);
      }
      r.str_attr("activation", {"none", "silu"}, "none");
      return {in[0], in[2]};
    }
    case OpKind::GatedDeltaNet: {
      // (q[T, Hk, Dk], k[T, Hk, Dk], v[T, Hv, Dv], g[T, Hv], beta[T, Hv], state[S, Hv, Dk, Dv],
      //  src_slot[T], dst_slot[T]) -> (o[T, Hv, Dv], state')
      for (size_t i = 0; i < 5; ++i) {
        r.rank_is(i, i < 3 ? 3 : 2);
        r.dense_float(i);
      }
      r.rank_is(5, 4);
      r.dtype_is(5, DType::F32);
      const Shape &q = in[0].shape, &k = in[1].shape, &v = in[2].shape, &st = in[5].shape;
      r.check(q == k, fmt::format("{} and {} must have the same shape", r.desc(0), r.desc(1)));
      r.dim_eq(v[0], q[0], "v must have one row per row of q");
      for (size_t i = 3; i < 5; ++i) {
        r.dim_eq(in[i].shape[0], q[0], fmt::format("{} must have one row per row of q", r.desc(i)));
        r.dim_eq(in[i].shape[1], v[1], fmt::format("{} must have one entry per value head", r.desc(i)));
      }
      r.check(q[1].is_const() && v[1].is_const() && q[1].value > 0 && v[1].value % q[1].value == 0,
              "value heads must be a constant multiple of key heads");
      r.check(q[2].is_const() && v[2].is_const(), "head dims of q, k and v must be constant");
      r.dim_eq(st[1], v[1], "state[S, Hv, Dk, Dv] must have one entry per value head");
      r.dim_eq(st[2], q[2], "state[S, Hv, Dk, Dv] must have the key head dim");
      r.dim_eq(st[3], v[2], "state[S, Hv, Dk, Dv] must have the value head dim");
      r.state_slots(6);
      r.float_attr("scale", true);
      r.bool_attr("qk_l2norm", false);
      r.check(r.float_attr("l2norm_eps", false, 1e-6) > 0, "attribute 'l2norm_eps' must be > 0");
      return {{DType::F32, v}, in[5]};
    }
    case OpKind::FusedGatedDeltaNet: {
      // (qkv[T, C], z[T, Hv, Dv], a[T, Hv], b[T, Hv], conv_w[C, K], conv_state[S, K-1, C], A_log[Hv],
      //  dt_bias[Hv], norm_w[Dv], state[S, Hv, Dk, Dv], src_slot[T], dst_slot[T]), C = 2·Hk·Dk + Hv·Dv
      //  -> (out[T, Hv, Dv], conv_state', state')
      r.rank_is(0, 2);
      r.rank_is(1, 3);
      r.rank_is(2, 2);
      r.rank_is(3, 2);
      for (size_t i = 0; i < 4; ++i) r.dtype_is(i, DType::F32);
      r.rank_is(4, 2);
      r.rank_is(5, 3);
      r.dtype_is(5, DType::F32);
      for (size_t i : {6, 7, 8}) r.rank_is(i, 1);
      for (size_t i : {4, 6, 7, 8}) r.dense_float(i);
      r.rank_is(9, 4);
      r.dtype_is(9, DType::F32);
      const Shape &qkv = in[0].shape, &z = in[1].shape, &w = in[4].shape, &cs = in[5].shape, &st = in[9].shape;
      const Dim& rows = qkv[0];
      r.check(qkv[1].is_const() && z[1].is_const() && z[2].is_const() && st[2].is_const() && z[1].value > 0 &&
                  z[2].value > 0 && st[2].value > 0,
              "channels (dim 1 of qkv), value heads, value and key head dims must be constants > 0");
      const int64_t hv = z[1].value, dv = z[2].value, dk = st[2].value;
      const int64_t qk_channels = qkv[1].value - hv * dv;
      r.check(qk_channels > 0 && qk_channels % (2 * dk) == 0 && hv % (qk_channels / (2 * dk)) == 0,
              fmt::format("qkv[T, C] must hold q and k of Hk heads of {} and v of {} heads of {} (C = 2·Hk·{} + {}, "
                          "Hv a multiple of Hk); C is {}",
                          dk, hv, dv, dk, hv * dv, to_string(qkv[1])));
      for (size_t i : {1, 2, 3})
        r.dim_eq(in[i].shape[0], rows, fmt::format("{} must have one row per row of qkv", r.desc(i)));
      for (size_t i : {2, 3, 6, 7})
        r.dim_eq(in[i].shape.back(), z[1], fmt::format("{} must have one entry per value head", r.desc(i)));
      r.dim_eq(in[8].shape[0], z[2], "the norm weight must have the value head dim");
      r.dim_eq(w[0], qkv[1], "conv_w[C, K] must have one row per channel of qkv");
      r.check(w[1].is_const() && w[1].value >= 1, "kernel size (dim 1 of conv_w) must be a constant >= 1");
      r.dim_eq(cs[1], Dim::of(w[1].value - 1), "conv_state[S, K-1, C] must hold K-1 rows");
      r.dim_eq(cs[2], qkv[1], "conv_state[S, K-1, C] must have one column per channel");
      r.dim_eq(st[1], z[1], "state[S, Hv, Dk, Dv] must have one entry per value head");
      r.dim_eq(st[3], z[2], "state[S, Hv, Dk, Dv] must have the value head dim");
      r.dim_eq(st[0], cs[0], "state and conv_state must have the same number of slots");
      r.state_slots(10);
      r.float_attr("scale", true);
      r.bool_attr("qk_l2norm", false);
      r.check(r.float_attr("l2norm_eps", false, 1e-6) > 0, "attribute 'l2norm_eps' must be > 0");
      r.check(r.float_attr("eps", true) > 0, "attribute 'eps' must be > 0");
      r.float_attr("offset", false);
      return {{DType::F32, z}, in[5], in[9]};
    }
    case OpKind::ArgMax: {
      r.rank_at_least(0, 1);
      r.dense_float(0);
      Shape s(in[0].shape.begin(), in[0].shape.end() - 1);
      return {{DType::I32, s}};
    }
    case OpKind::TopK: {
      r.rank_at_least(0, 1);
      r.dense_float(0);
      int64_t k = r.int_attr("k", true);
      const Dim& n = in[0].shape.back();
      r.check(k >= 1 && (!n.is_const() || k <= n.value),
              fmt::format("attribute 'k' ({}) must be in [1, {}]", k, to_string(n)));
      Shape s = in[0].shape;
      s.back() = Dim::of(k);
      return {{DType::F32, s}, {DType::I32, s}};
    }
    case OpKind::Sample: {
      r.rank_is(0, 2);
      r.dense_float(0);
      r.rank_is(1, 2);
      r.dtype_is(1, DType::F32);
      for (size_t i = 2; i < 4; ++i) {
        r.rank_is(i, 2);
        r.dtype_is(i, DType::I32);
      }
      const Dim& rows = in[0].shape[0];
      for (size_t i = 1; i < 4; ++i) r.dim_eq(in[i].shape[0], rows, fmt::format("{} must have one row per row of logits", r.desc(i)));
      r.dim_eq(in[1].shape[1], Dim::of(kSampleParamColumns), "params[R, 8] must have 8 columns");
      r.dim_eq(in[2].shape[1], Dim::of(2), "rng[R, 2] must hold a 64-bit key per row as two i32");
      const Dim& v = in[0].shape[1];
      r.check(!v.is_const() || v.value >= 1, "logits[R, V] must have V >= 1 (a token to choose)");
      const Dim& h = in[3].shape[1];
      r.check(h.is_const() && h.value >= 1, "history[R, H] must have a constant H >= 1");
      return {{DType::I32, {rows}}, {DType::F32, {rows}}};
    }
    case OpKind::SamplePartial:
    case OpKind::SampleFinish: {
      // sample's operands (sample_partial: without rng), then sample_finish's partials.
      const bool partial = kind == OpKind::SamplePartial;
      const size_t history = partial ? 2 : 3;
      r.rank_is(0, 2);
      r.dense_float(0);
      r.rank_is(1, 2);
      r.dtype_is(1, DType::F32);
      r.rank_is(history, 2);
      r.dtype_is(history, DType::I32);
      const Dim& rows = in[0].shape[0];
      for (size_t i = 1; i <= history; ++i)
        r.dim_eq(in[i].shape[0], rows, fmt::format("{} must have one row per row of logits", r.desc(i)));
      r.dim_eq(in[1].shape[1], Dim::of(kSampleParamColumns), "params[R, 8] must have 8 columns");
      if (!partial) {
        r.rank_is(2, 2);
        r.dtype_is(2, DType::I32);
        r.dim_eq(in[2].shape[1], Dim::of(2), "rng[R, 2] must hold a 64-bit key per row as two i32");
      }
      const Dim& v = in[0].shape[1];
      // Token ids travel through the f32 partials: exact below 2^24.
      r.check(v.is_const() && v.value >= 1 && v.value < (int64_t{1} << 24),
              "logits[R, V] must have a constant V in [1, 2^24)");
      const Dim& h = in[history].shape[1];
      r.check(h.is_const() && h.value >= 1, "history[R, H] must have a constant H >= 1");
      if (partial) {
        const int64_t splits = r.int_attr("splits", true), candidates = r.int_attr("candidates", true);
        r.check(splits >= 1, fmt::format("attribute 'splits' ({}) must be >= 1", splits));
        r.check(candidates >= 1, fmt::format("attribute 'candidates' ({}) must be >= 1", candidates));
        return {{DType::F32, {rows, Dim::of(splits), Dim::of(kSamplePartialHeader + 2 * candidates)}}};
      }
      r.rank_is(4, 3);
      r.dtype_is(4, DType::F32);
      const Shape& p = in[4].shape;
      r.dim_eq(p[0], rows, fmt::format("{} must have one row per row of logits", r.desc(4)));
      r.check(p[1].is_const() && p[1].value >= 1 && p[2].is_const() && p[2].value >= kSamplePartialHeader + 2 &&
                  (p[2].value - kSamplePartialHeader) % 2 == 0,
              fmt::format("{}: must be sample_partial's [R, splits, 5 + 2 candidates] (constants)", r.desc(4)));
      return {{DType::I32, {rows}}, {DType::F32, {rows}}};
    }
    case OpKind::Reshape: {
      const Type& t = r.declared_one(declared);
      r.check(t.dtype == in[0].dtype, "reshape keeps the dtype");
      for (const Shape* s : {&t.shape, &in[0].shape})
        r.check(!constant_product_overflows(*s), fmt::format("element count of {} overflows int64", to_string(*s)));
      r.check(same_element_count(t.shape, in[0].shape),
              fmt::format("cannot reshape {} to {}: element counts differ", to_string(in[0]), to_string(t)));
      return {t};
    }
    case OpKind::Slice: {
      int64_t axis = r.int_attr("axis", true), start = r.int_attr("start", true), size = r.int_attr("size", true);
      int64_t rank = static_cast<int64_t>(in[0].shape.size());
      r.check(axis >= 0 && axis < rank, fmt::format("attribute 'axis' ({}) out of range for rank {}", axis, rank));
      const Dim& d = in[0].shape[static_cast<size_t>(axis)];
      // size <= d - start rather than start + size <= d: huge attributes must not overflow.
      r.check(start >= 0 && size >= 1 && (!d.is_const() || size <= d.value - start),
              fmt::format("slice of {} element(s) from {} out of range for dim {}", size, start, to_string(d)));
      Type t = in[0];
      t.shape[static_cast<size_t>(axis)] = Dim::of(size);
      return {t};
    }
  }
  r.fail("unknown op");
}

namespace {

// In-place ops (aliased_operand) overwrite the storage of an operand, which is shared by the value
// that owns it, the reshapes of it (views) and the results of earlier in-place writes; all `state`
// ops of one name share the persistent tensor. After a write only its result may be read from that
// storage, so a graph means the same on the reference executor and on kernels that write in place.
// Weights are read-only (uploaded once).
void verify_in_place_writes(const Graph& g) {
  struct Storage {
    int version = 0;          // bumped by every in-place write
    int last_writer = -1;     // op index
    const Op* weight = nullptr;
  };
  std::vector<Storage> storages;
  std::vector<size_t> storage_of(g.values.size());
  std::vector<int> version_of(g.values.size());  // of the storage when the value was defined
  std::map<std::string, std::pair<size_t, ValueId>> state_storage;  // name -> storage, first value
  auto own = [&](ValueId v, const Op* weight) {
    storage_of[static_cast<size_t>(v)] = storages.size();
    version_of[static_cast<size_t>(v)] = 0;
    storages.push_back({0, -1, weight});
  };
  auto share = [&](ValueId v, size_t storage) {
    storage_of[static_cast<size_t>(v)] = storage;
    version_of[static_cast<size_t>(v)] = storages[storage].version;
  };
  auto check_fresh = [&](ValueId v, const std::string& where) {
    const Storage& st = storages[storage_of[static_cast<size_t>(v)]];
    if (version_of[static_cast<size_t>(v)] != st.version) {
      const Op& writer = g.ops[static_cast<size_t>(st.last_writer)];
      ValueId written = writer.results[static_cast<size_t>(aliased_result(writer))];
      for (const InPlaceWrite& w : in_place_writes(writer))  // the result in this storage
        if (storage_of[static_cast<size_t>(writer.results[static_cast<size_t>(w.result)])] ==
            storage_of[static_cast<size_t>(v)])
          written = writer.results[static_cast<size_t>(w.result)];
      throw IrError(fmt::format("graph @{}: {} reads %{} after op #{} '{}' overwrote its storage in place; read "
                                "that op's result %{} instead",
                                g.name, where, g.value(v).name, st.last_writer, name(writer.kind),
                                g.value(written).name));
    }
  };

  for (ValueId v : g.inputs) own(v, nullptr);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const Op& op = g.ops[i];
    for (size_t j = 0; j < op.inputs.size(); ++j)
      check_fresh(op.inputs[j], fmt::format("op #{} '{}' (operand {})", i, name(op.kind), j));
    const InPlaceWrites writes = in_place_writes(op);
    if (op.kind == OpKind::Reshape) {
      share(op.results[0], storage_of[static_cast<size_t>(op.inputs[0])]);
    } else if (writes.count > 0) {
      std::vector<int> storage_of_result(op.results.size(), -1);
      for (const InPlaceWrite& w : writes) {
        const size_t storage = storage_of[static_cast<size_t>(op.inputs[static_cast<size_t>(w.operand)])];
        if (const Op* weight = storages[storage].weight)
          throw IrError(fmt::format("graph @{}: op #{} '{}' writes in place into weight \"{}\"; weights are read-only",
                                    g.name, i, name(op.kind), weight->attr_str("name")));
        if (std::find(storage_of_result.begin(), storage_of_result.end(), static_cast<int>(storage)) !=
            storage_of_result.end())
          throw IrError(fmt::format("graph @{}: op #{} '{}' writes one storage in place through two operands",
                                    g.name, i, name(op.kind)));
        storages[storage].version++;
        storages[storage].last_writer = static_cast<int>(i);
        storage_of_result[static_cast<size_t>(w.result)] = static_cast<int>(storage);
      }
      for (size_t r = 0; r < op.results.size(); ++r) {
        if (storage_of_result[r] >= 0) share(op.results[r], static_cast<size_t>(storage_of_result[r]));
        else own(op.results[r], nullptr);
      }
    } else if (op.kind == OpKind::State) {
      const std::string& state = op.attr_str("name");
      auto [it, first] = state_storage.emplace(state, std::pair{storages.size(), op.results[0]});
      if (first) {
        own(op.results[0], nullptr);
      } else {
        const Type &declared = g.type(op.results[0]), &earlier = g.type(it->second.second);
        if (!(declared == earlier))
          throw IrError(fmt::format("graph @{}: op #{} 'state' declares \"{}\" as {}, but %{} declared it {}", g.name,
                                    i, state, to_string(declared), g.value(it->second.second).name,
                                    to_string(earlier)));
        share(op.results[0], it->second.first);
      }
    } else {
      for (ValueId r : op.results) own(r, op.kind == OpKind::Weight ? &op : nullptr);
    }
  }
  for (ValueId v : g.outputs) check_fresh(v, "an output");
}

}  // namespace

void verify(const Graph& g) {
  std::vector<bool> defined(g.values.size(), false);
  std::set<std::string> names;
  auto define = [&](ValueId v, const std::string& where) {
    if (v < 0 || static_cast<size_t>(v) >= g.values.size())
      throw IrError(fmt::format("graph @{}: {} defines an unknown value #{}", g.name, where, v));
    if (defined[static_cast<size_t>(v)])
      throw IrError(fmt::format("graph @{}: value %{} defined twice ({})", g.name, g.value(v).name, where));
    if (!names.insert(g.value(v).name).second)
      throw IrError(fmt::format("graph @{}: value name %{} is not unique", g.name, g.value(v).name));
    defined[static_cast<size_t>(v)] = true;
  };
  for (ValueId v : g.inputs) define(v, "an input");
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const Op& op = g.ops[i];
    std::vector<Type> in_types, declared;
    for (size_t j = 0; j < op.inputs.size(); ++j) {
      ValueId v = op.inputs[j];
      if (v < 0 || static_cast<size_t>(v) >= g.values.size() || !defined[static_cast<size_t>(v)])
        throw IrError(fmt::format("graph @{}: op #{} '{}': operand {} is used before it is defined", g.name, i,
                                  name(op.kind), j));
      in_types.push_back(g.type(v));
    }
    if (info(op.kind).num_results >= 0 && static_cast<int>(op.results.size()) != info(op.kind).num_results)
      throw IrError(fmt::format("graph @{}: op #{} '{}' must have {} result(s), has {}", g.name, i, name(op.kind),
                                info(op.kind).num_results, op.results.size()));
    for (ValueId v : op.results) {
      if (v < 0 || static_cast<size_t>(v) >= g.values.size())
        throw IrError(fmt::format("graph @{}: op #{} '{}' has an unknown result", g.name, i, name(op.kind)));
      declared.push_back(g.type(v));
    }
    std::vector<Type> inferred;
    try {
      inferred = infer_result_types(op.kind, in_types, op.attrs, declared);
    } catch (const IrError& e) {
      throw IrError(fmt::format("graph @{}: op #{} {}", g.name, i, e.what()));
    }
    if (inferred.size() != op.results.size())
      throw IrError(fmt::format("graph @{}: op #{} '{}' has {} result(s); the type rule gives {}", g.name, i,
                                name(op.kind), op.results.size(), inferred.size()));
    for (size_t j = 0; j < op.results.size(); ++j) {
      if (!(inferred[j] == declared[j]))
        throw IrError(fmt::format("graph @{}: op #{} '{}': result {} (%{}) is declared {} but the rule gives {}",
                                  g.name, i, name(op.kind), j, g.value(op.results[j]).name,
                                  to_string(declared[j]), to_string(inferred[j])));
      define(op.results[j], fmt::format("op #{} '{}'", i, name(op.kind)));
    }
  }
  for (ValueId v : g.outputs)
    if (v < 0 || static_cast<size_t>(v) >= g.values.size() || !defined[static_cast<size_t>(v)])
      throw IrError(fmt::format("graph @{}: an output is not defined", g.name));
  verify_in_place_writes(g);
}

void verify(const Module& m) {
  std::set<std::string> names;
  std::map<std::string, std::pair<Type, std::string>> state_types;  // name -> type, graph declaring it
  for (const Graph& g : m.graphs) {
    if (!names.insert(g.name).second) throw IrError(fmt::format("graph name @{} is not unique", g.name));
    verify(g);
    // The graphs of a module share each state: one name, one type.
    for (const Op& op : g.ops) {
      if (op.kind != OpKind::State) continue;
      const Type& t = g.type(op.results[0]);
      auto [it, first] = state_types.emplace(op.attr_str("name"), std::pair{t, g.name});
      if (!first && !(it->second.first == t))
        throw IrError(fmt::format("graph @{} declares state \"{}\" as {}, but graph @{} declared it {}", g.name,
                                  it->first, to_string(t), it->second.second, to_string(it->second.first)));
    }
  }
}

}  // namespace vkllm::ir
