// Kernel emitters: one function per op kind that writes a GLSL compute shader specialized for one op
// instance (constant dims, dtypes and attributes baked in, symbolic dims read from the step-params
// buffer). The table in emitters.cpp maps every ir::OpKind to its lowering; codegen/README.md
// describes the kernel ABI the generated shaders follow.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "codegen/kernel.h"
#include "codegen/target.h"
#include "ir/ir.h"

namespace vkllm::codegen::ops {

// Everything an emitter may read about the op it lowers.
struct EmitContext {
  const ir::Graph& graph;
  const ir::Op& op;
  int op_index;
  const TargetCaps& caps;
  const std::vector<std::string>& symbols;  // slot i of the step-params buffer holds symbols[i]
  // The largest value each symbol will be bound to (compile_graph's max_symbols); may be empty.
  const std::map<std::string, int64_t>* max_symbols = nullptr;

  const ir::Type& input(size_t i) const { return graph.type(op.inputs.at(i)); }
  const ir::Type& result(size_t i) const { return graph.type(op.results.at(i)); }
  // GLSL uint expression of a dim: a literal ("64u") or a read of its step-params slot.
  std::string dim(const ir::Dim& d) const;
  // The largest value a dim takes: its value, or its symbol's bound; nullopt for an unbounded symbol.
  std::optional<int64_t> max_value(const ir::Dim& d) const;
  // GLSL uint expression of the product of dims [begin, end) of `s` ("1u" when empty).
  std::string product(const ir::Shape& s, size_t begin, size_t end) const;
  std::string product(const ir::Shape& s) const { return product(s, 0, s.size()); }
  // Throws CompileError naming the graph, the op and `what`.
  [[noreturn]] void fail(const std::string& what) const;
};

// What an emitter produces; compile_graph wraps `body` in the shared prologue (glsl.h) and compiles it.
struct KernelPlan {
  std::string name;                    // descriptive: op, dtypes, key dims
  std::vector<std::string> arg_names;  // one per op input, then one per op result (GLSL identifiers)
  uint32_t local_size = 1;             // invocations per workgroup (x only)
  std::array<GridDim, 3> grid;
  std::string body;                    // GLSL after the prologue: helper functions and main()
  uint32_t required_subgroup_size = 0; // a kernel whose code depends on the subgroup size fixes it (0: any)
};

using Emitter = KernelPlan (*)(const EmitContext&);

enum class Lowering {
  Dispatch,  // one generated kernel
  View,      // no dispatch: the result shares its operand's storage (reshape)
  Upload,    // no dispatch: the runtime uploads the data (weight)
  State,     // no dispatch: the runtime binds the model's persistent buffer of the op's name (state)
};

struct OpLowering {
  Lowering how = Lowering::Dispatch;
  Emitter emit = nullptr;  // set exactly when how == Dispatch
};

// The lowering of every op kind (the table is checked against ir::kNumOps).
const OpLowering& lowering(ir::OpKind kind);

// Emitters, by file.
// elementwise.cpp
KernelPlan emit_add(const EmitContext& ctx);
KernelPlan emit_mul(const EmitContext& ctx);
KernelPlan emit_scale(const EmitContext& ctx);
KernelPlan emit_silu(const EmitContext& ctx);
KernelPlan emit_gelu(const EmitContext& ctx);
KernelPlan emit_sigmoid(const EmitContext& ctx);
KernelPlan emit_softplus(const EmitContext& ctx);
KernelPlan emit_exp(const EmitContext& ctx);
KernelPlan emit_softcap(const EmitContext& ctx);
KernelPlan emit_swiglu(const EmitContext& ctx);
KernelPlan emit_geglu(const EmitContext& ctx);
// misc.cpp
KernelPlan emit_constant(const EmitContext& ctx);
KernelPlan emit_cast(const EmitContext& ctx);
KernelPlan emit_slice(const EmitContext& ctx);
KernelPlan emit_embedding(const EmitContext& ctx);
// norm.cpp
KernelPlan emit_rms_norm(const EmitContext& ctx);
KernelPlan emit_layer_norm(const EmitContext& ctx);
KernelPlan emit_softmax(const EmitContext& ctx);
// matmul.cpp
KernelPlan emit_matmul(const EmitContext& ctx);
KernelPlan emit_multi_matmul(const EmitContext& ctx);
// rope.cpp
KernelPlan emit_rope(const EmitContext& ctx);
// GLSL before main for a kernel with a rope folded in (`op` carries the rope attributes, ir/README.md
// "rope"): `ROPE_DIMS`, `uint rope_pair(uint d)` and `float rope_dim(int p, uint d, float xd, float
// xp)`, dim d < ROPE_DIMS of the roped row (x[d] and x[rope_pair(d)] given), rounded to `rounded_to`
// (the dtype the unfused rope's result has); dims past ROPE_DIMS pass through unchanged.
std::string rope_dim_glsl(const ir::Op& op, int64_t head_dim, ir::DType rounded_to);
// attention.cpp
KernelPlan emit_attention(const EmitContext& ctx);
KernelPlan emit_paged_attention(const EmitContext& ctx);
KernelPlan emit_paged_attention_partial(const EmitContext& ctx);
KernelPlan emit_attention_combine(const EmitContext& ctx);
KernelPlan emit_paged_attention_split(const EmitContext& ctx);
// cache.cpp
KernelPlan emit_kv_write(const EmitContext& ctx);
KernelPlan emit_kv_write_rope(const EmitContext& ctx);
// conv1d.cpp
KernelPlan emit_conv1d(const EmitContext& ctx);
// gated_delta_net.cpp
KernelPlan emit_gated_delta_net(const EmitContext& ctx);
// fused_gated_delta_net.cpp
KernelPlan emit_fused_gated_delta_net(const EmitContext& ctx);
// select.cpp
KernelPlan emit_argmax(const EmitContext& ctx);
KernelPlan emit_top_k(const EmitContext& ctx);
// sample.cpp
KernelPlan emit_sample(const EmitContext& ctx);
KernelPlan emit_sample_partial(const EmitContext& ctx);
KernelPlan emit_sample_finish(const EmitContext& ctx);

}  // namespace vkllm::codegen::ops
