// The tensor IR: a graph of ops over SSA values. A value has a dtype and a shape whose dims are
// constants or named symbols (`batch`, `seq`, `ctx`), bound to numbers only when a graph runs.
// Op semantics: ir/README.md. Text form: ir/text.h. Verifier: ir/verify.h.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ir/dtype.h"

namespace vkllm::ir {

enum class OpKind : uint8_t {
#define VKLLM_OP(e, s, mn, mx, nr) e,
#include "ir/ops.def"
#undef VKLLM_OP
};

inline constexpr int kNumOps = 0
#define VKLLM_OP(e, s, mn, mx, nr) +1
#include "ir/ops.def"
#undef VKLLM_OP
    ;

struct OpInfo {
  std::string_view name;
  int min_inputs, max_inputs, num_results;
};
inline constexpr OpInfo kOpInfo[] = {
#define VKLLM_OP(e, s, mn, mx, nr) {s, mn, mx, nr},
#include "ir/ops.def"
#undef VKLLM_OP
};
static_assert(sizeof(kOpInfo) / sizeof(kOpInfo[0]) == kNumOps);

inline const OpInfo& info(OpKind k) { return kOpInfo[static_cast<int>(k)]; }

inline std::string_view name(OpKind k) { return info(k).name; }
OpKind parse_op_kind(std::string_view s, bool* ok);

// A dimension: a constant, or a symbol times nothing else. Symbols are bound per run.
struct Dim {
  int64_t value = 0;   // used when sym is empty
  std::string sym;     // named symbolic dim, e.g. "seq"
  static Dim of(int64_t v) { return Dim{v, {}}; }
  static Dim symbol(std::string s) { return Dim{0, std::move(s)}; }
  bool is_const() const { return sym.empty(); }
  bool operator==(const Dim&) const = default;
};
using Shape = std::vector<Dim>;

struct Type {
  DType dtype = DType::F32;
  Shape shape;
  bool operator==(const Type&) const = default;
};

// Attribute values. Floats and ints are distinct in the text form (floats always print a '.' or
// exponent), so a round trip keeps the kind.
using AttrValue = std::variant<int64_t, double, std::string, bool, std::vector<int64_t>>;
using Attrs = std::map<std::string, AttrValue>;  // sorted: printing order is canonical

using ValueId = int32_t;

struct Value {
  Type type;
  std::string name;  // unique within a graph; printed as %name
  int producer = -1; // index of the op that defines it, -1 for graph inputs
};

struct Op {
  OpKind kind;
  std::vector<ValueId> inputs;
  std::vector<ValueId> results;
  Attrs attrs;

  bool has(const std::string& k) const { return attrs.count(k) != 0; }
  int64_t attr_int(const std::string& k) const;
  int64_t attr_int(const std::string& k, int64_t dflt) const;
  double attr_float(const std::string& k) const;   // ints are accepted and widened
  double attr_float(const std::string& k, double dflt) const;
  const std::string& attr_str(const std::string& k) const;
  std::string attr_str(const std::string& k, const std::string& dflt) const;
  const std::vector<int64_t>& attr_ints(const std::string& k) const;
  bool attr_bool(const std::string& k, bool dflt) const;
};

// In-place writes: an op instance whose result `result` is written into the storage of its operand
// `operand` (the result is a new SSA value, the memory is the operand's): kv_write's cache,
// gated_delta_net's state, conv1d's state in its paged form (5 operands; the 3-operand form returns
// a new state), both caches of kv_write_rope (operands 0, 1 as results 0, 1), the counters of
// paged_attention_split (operand 6 as result 2), and fused_gated_delta_net's conv state and state
// (operands 5, 9 as results 1, 2).
struct InPlaceWrite {
  int operand, result;
};
struct InPlaceWrites {
  InPlaceWrite write[2]{};
  int count = 0;
  constexpr const InPlaceWrite* begin() const { return write; }
  constexpr const InPlaceWrite* end() const { return write + count; }
  // The result written into operand `i`'s storage, or -1.
  constexpr int result_of_operand(size_t i) const {
    for (const InPlaceWrite& w : *this)
      if (w.operand == static_cast<int>(i)) return w.result;
    return -1;
  }
};
constexpr InPlaceWrites in_place_writes(OpKind k, size_t num_inputs) {
  if (k == OpKind::KvWrite) return {{{0, 0}}, 1};
  if (k == OpKind::KvWriteRope) return {{{0, 0}, {1, 1}}, 2};
  if (k == OpKind::PagedAttentionSplit) return {{{6, 2}}, 1};
  if (k == OpKind::GatedDeltaNet) return {{{5, 1}}, 1};
  if (k == OpKind::Conv1d && num_inputs == 5) return {{{2, 1}}, 1};
  if (k == OpKind::FusedGatedDeltaNet) return {{{5, 1}, {9, 2}}, 2};
  return {};
}
inline InPlaceWrites in_place_writes(const Op& op) { return in_place_writes(op.kind, op.inputs.size()); }
// The first in-place write's operand and result (-1: none); ops with several: in_place_writes.
inline int aliased_operand(const Op& op) {
  const InPlaceWrites w = in_place_writes(op);
  return w.count ? w.write[0].operand : -1;
}
inline int aliased_result(const Op& op) {
  const InPlaceWrites w = in_place_writes(op);
  return w.count ? w.write[0].result : -1;
}
// Ops that must run even when no graph output uses their results: they update persistent state.
inline bool has_side_effects(const Op& op) { return in_place_writes(op).count > 0; }

// A graph: typed inputs, ops in execution order, outputs. Values are owned by the graph.
struct Graph {
  std::string name;
  std::vector<Value> values;
  std::vector<ValueId> inputs;
  std::vector<Op> ops;
  std::vector<ValueId> outputs;

  const Value& value(ValueId v) const { return values.at(static_cast<size_t>(v)); }
  const Type& type(ValueId v) const { return value(v).type; }
  ValueId find(std::string_view value_name) const;  // -1 if absent
};

// A module: the graphs compiled for one model (prefill, decode, verify, ...).
struct Module {
  std::vector<Graph> graphs;
  const Graph* find(std::string_view graph_name) const;
};

// Errors from the IR layer carry a message naming the op, operand and rule.
struct IrError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Textual helpers shared by the printer, verifier and error messages.
std::string to_string(const Dim& d);
std::string to_string(const Shape& s);
std::string to_string(const Type& t);

// Number of elements as a product of constant dims, with symbols bound by `bind`.
int64_t num_elements(const Shape& s, const std::map<std::string, int64_t>& bind);

// Builds graphs op by op. Result types are inferred by the same rules the verifier checks
// (ir/verify.h), so a builder can only produce well-typed graphs.
class Builder {
 public:
  explicit Builder(std::string graph_name);

  ValueId input(const std::string& name, Type t);
  ValueId weight(const std::string& name, Type t);
  ValueId constant(double value, Type t);
  ValueId state(const std::string& name, Type t);

  ValueId embedding(ValueId table, ValueId ids);
  ValueId matmul(ValueId x, ValueId w);
  ValueId add(ValueId a, ValueId b);
  ValueId mul(ValueId a, ValueId b);
  ValueId scale(ValueId x, double factor);
  ValueId silu(ValueId x);
  ValueId gelu(ValueId x, bool tanh_approximation);
  ValueId sigmoid(ValueId x);
  ValueId softplus(ValueId x);
  ValueId exp(ValueId x);
  ValueId softcap(ValueId x, double cap);
  ValueId swiglu(ValueId gate, ValueId up);
  ValueId geglu(ValueId gate, ValueId up, bool tanh_approximation);
  ValueId cast(ValueId x, DType to);
  ValueId rms_norm(ValueId x, ValueId w, double eps, double offset = 0.0);
  ValueId layer_norm(ValueId x, ValueId w, ValueId b, double eps);
  ValueId softmax(ValueId x);
  ValueId rope(ValueId x, ValueId pos, Attrs attrs);  // attrs as in ir/README.md
  ValueId attention(ValueId q, ValueId k, ValueId v, ValueId pos, double scale, int64_t window = 0,
                    double softcap = 0.0);
  ValueId kv_write(ValueId cache, ValueId x, ValueId slots);
  // Both caches written in place; with pos >= 0, k is first rotated by `rope` (the attrs of
  // ir/README.md "rope") at pos; with pos < 0 (rope empty) k is stored as is. Returns (k_cache', v_cache').
  std::pair<ValueId, ValueId> kv_write_rope(ValueId k_cache, ValueId v_cache, ValueId k, ValueId v, ValueId slots,
                                            ValueId pos, Attrs rope);
  ValueId paged_attention(ValueId q, ValueId k_cache, ValueId v_cache, ValueId block_table, ValueId row_seq,
                          ValueId pos, double scale, int64_t window = 0, double softcap = 0.0);
  // Split attention (ir/README.md): attention_combine(paged_attention_partial(...)) is paged_attention.
  ValueId paged_attention_partial(ValueId q, ValueId k_cache, ValueId v_cache, ValueId block_table, ValueId row_seq,
                                  ValueId pos, double scale, int64_t window, double softcap, int64_t splits,
                                  int64_t granule);
  ValueId attention_combine(ValueId partials);
  std::pair<ValueId, ValueId> conv1d(ValueId x, ValueId w, ValueId state, bool silu);
  // Paged form: state[S, K-1, C] holds one window per slot, written in place (ir/README.md).
  std::pair<ValueId, ValueId> conv1d(ValueId x, ValueId w, ValueId state, ValueId src_slot, ValueId dst_slot,
                                     bool silu);
  // Returns (o, state'), state' written in place into `state`'s storage.
  std::pair<ValueId, ValueId> gated_delta_net(ValueId q, ValueId k, ValueId v, ValueId g, ValueId beta, ValueId state,
                                              ValueId src_slot, ValueId dst_slot, double scale, bool qk_l2norm,
                                              double l2norm_eps = 1e-6);
  ValueId argmax(ValueId x);
  std::pair<ValueId, ValueId> top_k(ValueId x, int64_t k);
  // (tokens, scores) of ir/README.md "sample".
  std::pair<ValueId, ValueId> sample(ValueId logits, ValueId params, ValueId rng, ValueId history);
  ValueId reshape(ValueId x, Shape shape);
  ValueId slice(ValueId x, int64_t axis, int64_t start, int64_t size);

  // Generic entry: infers result types, appends the op, returns its results.
  std::vector<ValueId> emit(OpKind kind, std::vector<ValueId> inputs, Attrs attrs = {},
                            std::vector<Type> declared = {});
  void output(ValueId v) { g_.outputs.push_back(v); }
  void set_name(ValueId v, const std::string& name);  // rename (must stay unique)
  const Type& type(ValueId v) const { return g_.type(v); }
  Graph finish();  // verifies and returns the graph

 private:
  ValueId new_value(Type t, std::string name, int producer);
  Graph g_;
  int next_tmp_ = 0;
};

}  // namespace vkllm::ir
