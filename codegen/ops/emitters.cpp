// The lowering of every op kind. The switch has no default, so -Wswitch (an error here) names an op
// added to ir/ops.def without a lowering; the table is built from ops.def and checked against kNumOps.
#include "codegen/ops/emitter.h"

namespace vkllm::codegen::ops {
namespace {

constexpr OpLowering lowering_of(ir::OpKind kind) {
  using K = ir::OpKind;
  auto dispatch = [](Emitter e) { return OpLowering{Lowering::Dispatch, e}; };
  switch (kind) {
    case K::Weight: return {Lowering::Upload, nullptr};
    case K::Constant: return dispatch(emit_constant);
    case K::Embedding: return dispatch(emit_embedding);
    case K::MatMul: return dispatch(emit_matmul);
    case K::Add: return dispatch(emit_add);
    case K::Mul: return dispatch(emit_mul);
    case K::Scale: return dispatch(emit_scale);
    case K::Silu: return dispatch(emit_silu);
    case K::Gelu: return dispatch(emit_gelu);
    case K::Sigmoid: return dispatch(emit_sigmoid);
    case K::Softplus: return dispatch(emit_softplus);
    case K::Exp: return dispatch(emit_exp);
    case K::Softcap: return dispatch(emit_softcap);
    case K::SwiGlu: return dispatch(emit_swiglu);
    case K::GeGlu: return dispatch(emit_geglu);
    case K::Cast: return dispatch(emit_cast);
    case K::RmsNorm: return dispatch(emit_rms_norm);
    case K::LayerNorm: return dispatch(emit_layer_norm);
    case K::Softmax: return dispatch(emit_softmax);
    case K::Rope: return dispatch(emit_rope);
    case K::Attention: return dispatch(emit_attention);
    case K::State: return {Lowering::State, nullptr};
    case K::KvWrite: return dispatch(emit_kv_write);
    case K::PagedAttention: return dispatch(emit_paged_attention);
    case K::Conv1d: return dispatch(emit_conv1d);
    case K::GatedDeltaNet: return dispatch(emit_gated_delta_net);
    case K::ArgMax: return dispatch(emit_argmax);
    case K::TopK: return dispatch(emit_top_k);
    case K::Sample: return dispatch(emit_sample);
    case K::SamplePartial: return dispatch(emit_sample_partial);
    case K::SampleFinish: return dispatch(emit_sample_finish);
    case K::Reshape: return {Lowering::View, nullptr};
    case K::Slice: return dispatch(emit_slice);
    case K::FusedMatMul: return dispatch(emit_matmul);  // one generator for both (codegen/ops/matmul.cpp)
    case K::MultiMatMul: return dispatch(emit_multi_matmul);
    case K::PagedAttentionPartial: return dispatch(emit_paged_attention_partial);
    case K::AttentionCombine: return dispatch(emit_attention_combine);
    case K::KvWriteRope: return dispatch(emit_kv_write_rope);
    case K::PagedAttentionSplit: return dispatch(emit_paged_attention_split);
    case K::FusedGatedDeltaNet: return dispatch(emit_fused_gated_delta_net);
  }
  return {Lowering::Dispatch, nullptr};  // not an OpKind: compile_graph reports "no emitter"
}

constexpr OpLowering kLowerings[] = {
#define VKLLM_OP(e, s, mn, mx, nr) lowering_of(ir::OpKind::e),
#include "ir/ops.def"
#undef VKLLM_OP
};
static_assert(sizeof(kLowerings) / sizeof(kLowerings[0]) == ir::kNumOps);

}  // namespace

const OpLowering& lowering(ir::OpKind kind) { return kLowerings[static_cast<int>(kind)]; }

}  // namespace vkllm::codegen::ops
