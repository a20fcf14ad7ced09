#include "codegen/cost.h"

#include <algorithm>
#include <set>

namespace vkllm::codegen {
namespace {

using ir::ValueId;

struct Sizes {
  const ir::Graph& g;
  const std::map<std::string, int64_t>& bind;
  int64_t numel(ValueId v) const { return ir::num_elements(g.type(v).shape, bind); }
  uint64_t bytes(ValueId v) const { return bytes_of(g.type(v).dtype, numel(v)); }
  static uint64_t bytes_of(ir::DType t, int64_t elements) { return static_cast<uint64_t>(ir::storage_bytes(t, elements)); }
  // Constant or bound size of dim `axis` (negative: from the end).
  int64_t dim(ValueId v, int axis) const {
    const ir::Shape& s = g.type(v).shape;
    const ir::Dim& d = s[static_cast<size_t>(axis < 0 ? static_cast<int>(s.size()) + axis : axis)];
    if (d.is_const()) return d.value;
    auto it = bind.find(d.sym);
    if (it == bind.end()) throw ir::IrError("symbol '" + d.sym + "' is not bound");
    return it->second;
  }
};

}  // namespace

DispatchCost dispatch_cost(const CompiledGraph& cg, size_t index, const std::map<std::string, int64_t>& given) {
  std::map<std::string, int64_t> bind = cg.max_symbols;
  for (const auto& [k, v] : given) bind[k] = v;
  const Dispatch& d = cg.dispatches.at(index);
  const ir::Graph& g = cg.graph;
  const ir::Op& op = g.ops.at(static_cast<size_t>(d.op_index));
  const Sizes s{g, bind};

  DispatchCost c;
  c.invocations = 1;
  for (size_t a = 0; a < 3; ++a) {
    for (const std::string& sym : d.kernel.grid[a].symbols)
      if (!bind.count(sym)) throw ir::IrError("symbol '" + sym + "' is not bound");
    c.groups[a] = d.kernel.grid[a].groups(bind);
    c.invocations *= c.groups[a] * d.kernel.local_size[a];
  }
  for (ValueId v : op.inputs) c.bytes_read += s.bytes(v);
  for (ValueId v : op.results) c.bytes_written += s.bytes(v);
  const auto out_elems = static_cast<uint64_t>(s.numel(op.results[0]));
  c.flops = out_elems;

  using K = ir::OpKind;
  switch (op.kind) {
    case K::Embedding: {
      const ValueId table = op.inputs[0], ids = op.inputs[1];
      c.bytes_read = s.bytes(ids) + static_cast<uint64_t>(s.numel(ids)) * Sizes::bytes_of(g.type(table).dtype, s.dim(table, -1));
      c.flops = 0;
      break;
    }
    case K::MatMul:
    case K::FusedMatMul: {  // its prologue and epilogue are O(rows·K + outputs): the product dominates
      const int64_t k = s.dim(op.inputs[0], -1);
      c.flops = 2 * out_elems * static_cast<uint64_t>(k);
      break;
    }
    case K::MultiMatMul: {  // 2·K per output of every weight (a combine's pair: both products)
      const int64_t k = s.dim(op.inputs[0], -1);
      const uint64_t rows = static_cast<uint64_t>(s.numel(op.inputs[0]) / std::max<int64_t>(k, 1));
      const size_t weights = op.inputs.size() - 1 - (op.attr_str("prologue", "none") == "rms_norm" ? 1 : 0);
      c.flops = 0;
      for (size_t i = 1; i <= weights; ++i) c.flops += 2 * rows * static_cast<uint64_t>(s.dim(op.inputs[i], 0) * k);
      break;
    }
    case K::RmsNorm: c.flops = 4 * out_elems; break;
    case K::LayerNorm: c.flops = 7 * out_elems; break;
    case K::Softmax: c.flops = 4 * out_elems; break;
    case K::Rope: {
      const int64_t dh = s.dim(op.inputs[0], -1);
      const int64_t rotary = op.attr_int("rotary_dims", dh);
      c.flops = 3 * static_cast<uint64_t>(s.numel(op.inputs[0]) / dh * rotary);
      break;
    }
    case K::Attention: {
      const ValueId q = op.inputs[0], k = op.inputs[1], v = op.inputs[2];
      c.flops = 2 * static_cast<uint64_t>(s.dim(q, 0) * s.dim(q, 1) * s.dim(k, 0) * (s.dim(q, 2) + s.dim(v, 2)));
      break;
    }
    case K::PagedAttention:
    case K::PagedAttentionPartial:
    case K::PagedAttentionSplit: {  // the results (partials; output) are written by the default above
      const ValueId q = op.inputs[0], kc = op.inputs[1], vc = op.inputs[2], table = op.inputs[3];
      int64_t keys = s.dim(table, 1) * s.dim(kc, 1);
      if (auto it = bind.find(kContextBinding); it != bind.end()) keys = std::min(keys, it->second);
      if (const int64_t window = op.attr_int("window", 0); window > 0) keys = std::min(keys, window);
      const int64_t rows = s.dim(q, 0), hkv = s.dim(kc, 2);
      const uint64_t key_bytes = Sizes::bytes_of(g.type(kc).dtype, hkv * s.dim(kc, 3)) +
                                 Sizes::bytes_of(g.type(vc).dtype, hkv * s.dim(vc, 3));
      c.bytes_read = s.bytes(q) + s.bytes(table) + s.bytes(op.inputs[4]) + s.bytes(op.inputs[5]) +
                     static_cast<uint64_t>(rows * keys) * key_bytes;
      c.flops = 2 * static_cast<uint64_t>(rows * s.dim(q, 1) * keys * (s.dim(q, 2) + s.dim(vc, 3)));
      break;
    }
    case K::KvWrite: {
      const ValueId cache = op.inputs[0], x = op.inputs[1];
      c.bytes_read = s.bytes(x) + s.bytes(op.inputs[2]);
      c.bytes_written = Sizes::bytes_of(g.type(cache).dtype, s.numel(x));
      c.flops = 0;
      break;
    }
    case K::KvWriteRope: {  // the k and v rows (and slots, pos) in, one cache row of each per row out
      const ValueId k = op.inputs[2], v = op.inputs[3];
      c.bytes_read = s.bytes(k) + s.bytes(v);
      for (size_t i = 4; i < op.inputs.size(); ++i) c.bytes_read += s.bytes(op.inputs[i]);
      c.bytes_written = Sizes::bytes_of(g.type(op.inputs[0]).dtype, s.numel(k)) +
                        Sizes::bytes_of(g.type(op.inputs[1]).dtype, s.numel(v));
      c.flops = 0;
      if (op.inputs.size() == 6) {  // as the rope op
        const int64_t dh = s.dim(k, -1);
        c.flops = 3 * static_cast<uint64_t>(s.numel(k) / dh * op.attr_int("rotary_dims", dh));
      }
      break;
    }
    case K::Conv1d: {
      const ValueId x = op.inputs[0], w = op.inputs[1];
      c.flops = 2 * static_cast<uint64_t>(s.numel(x) * s.dim(w, 1));
      if (op.inputs.size() == 5) {  // paged: one state window per row, not the whole state table
        const ValueId state = op.inputs[2];
        const int64_t rows = std::min(s.dim(x, 0), s.dim(state, 0));
        const uint64_t window = Sizes::bytes_of(g.type(state).dtype, s.numel(state) / s.dim(state, 0));
        c.bytes_read = s.bytes(x) + s.bytes(w) + s.bytes(op.inputs[3]) + s.bytes(op.inputs[4]) + static_cast<uint64_t>(rows) * window;
        c.bytes_written = s.bytes(op.results[0]) + static_cast<uint64_t>(rows) * window;
      }
      break;
    }
    case K::GatedDeltaNet: {
      const ValueId v = op.inputs[2], state = op.inputs[5];
      const int64_t t = s.dim(v, 0), hv = s.dim(v, 1), dv = s.dim(v, 2), dk = s.dim(op.inputs[0], 2);
      const int64_t chains = std::min(t, s.dim(state, 0));
      const uint64_t one_state = Sizes::bytes_of(g.type(state).dtype, hv * dk * dv);
      c.bytes_read = static_cast<uint64_t>(chains) * one_state;
      for (size_t i = 0; i < op.inputs.size(); ++i)
        if (i != 5) c.bytes_read += s.bytes(op.inputs[i]);
      c.bytes_written = s.bytes(op.results[0]) + static_cast<uint64_t>(chains) * one_state;
      c.flops = 7 * static_cast<uint64_t>(t * hv * dk * dv);
      break;
    }
    case K::FusedGatedDeltaNet: {  // as conv1d + gated_delta_net: one window and one state per chain
      const ValueId qkv = op.inputs[0], conv_state = op.inputs[5], state = op.inputs[9];
      const int64_t t = s.dim(qkv, 0), slots = s.dim(state, 0), chains = std::min(t, slots);
      const uint64_t per_chain =
          (s.bytes(conv_state) + s.bytes(state)) / static_cast<uint64_t>(std::max<int64_t>(slots, 1));
      c.bytes_read = static_cast<uint64_t>(chains) * per_chain;
      for (size_t i = 0; i < op.inputs.size(); ++i)
        if (i != 5 && i != 9) c.bytes_read += s.bytes(op.inputs[i]);
      c.bytes_written = s.bytes(op.results[0]) + static_cast<uint64_t>(chains) * per_chain;
      const int64_t hv = s.dim(state, 1), dk = s.dim(state, 2), dv = s.dim(state, 3);
      c.flops = static_cast<uint64_t>(2 * t * s.dim(qkv, 1) * s.dim(op.inputs[4], 1) + 7 * t * hv * dk * dv);
      break;
    }
    case K::Sample:
    case K::SamplePartial: c.flops = 5 * static_cast<uint64_t>(s.numel(op.inputs[0])); break;
    case K::SampleFinish: {  // the common cases read the partials only (codegen/ops/sample.cpp)
      c.bytes_read = 0;
      for (size_t i = 1; i < op.inputs.size(); ++i) c.bytes_read += s.bytes(op.inputs[i]);
      c.flops = static_cast<uint64_t>(s.numel(op.inputs[4]));
      break;
    }
    case K::ArgMax:
    case K::TopK: c.flops = static_cast<uint64_t>(s.numel(op.inputs[0])); break;
    case K::Constant:
    case K::Slice:
    case K::Cast: c.flops = op.kind == K::Cast ? out_elems : 0; break;
    default: break;  // elementwise and anything newer: the default model above
  }
  return c;
}

MemoryPlan memory_plan(const CompiledGraph& cg) {
  const ir::Graph& g = cg.graph;
  auto owner = [&](ValueId v) { return cg.storage_of.empty() ? v : cg.storage_of[static_cast<size_t>(v)]; };
  MemoryPlan p;
  std::set<ValueId> used(g.inputs.begin(), g.inputs.end());
  used.insert(g.outputs.begin(), g.outputs.end());
  for (const Dispatch& d : cg.dispatches) used.insert(d.args.begin(), d.args.end());
  std::set<ValueId> shared;
  std::set<std::string> weights, states;
  for (const ir::Op& op : g.ops) {
    if (op.kind != ir::OpKind::Weight && op.kind != ir::OpKind::State) continue;
    const ValueId v = op.results[0];
    shared.insert(owner(v));
    const uint64_t bytes = Sizes::bytes_of(g.type(v).dtype, ir::num_elements(g.type(v).shape, {}));
    if (op.kind == ir::OpKind::Weight && weights.insert(op.attr_str("name")).second) p.weight_bytes += bytes;
    if (op.kind == ir::OpKind::State && states.insert(op.attr_str("name")).second) p.state_bytes += bytes;
  }
  p.weights = weights.size();
  p.states = states.size();
  std::map<ValueId, uint64_t> owner_bytes;  // sized for the largest value sharing it, as the runtime does
  for (ValueId v : used) {
    if (shared.count(owner(v))) continue;
    uint64_t& b = owner_bytes[owner(v)];
    b = std::max(b, Sizes::bytes_of(g.type(v).dtype, ir::num_elements(g.type(v).shape, cg.max_symbols)));
  }
  p.activations = owner_bytes.size();
  for (const auto& [v, b] : owner_bytes) p.activation_bytes += b;
  return p;
}

}  // namespace vkllm::codegen
