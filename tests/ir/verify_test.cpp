// The verifier (ir/verify.h) on graphs assembled by hand, without the builder's type inference:
// for every op kind at least one broken rule, and the SSA rules. Each rejection must name the op
// and the rule (checked by substrings of the message).
#include "ir/verify.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <map>

namespace vkllm::ir {
namespace {

Dim sym(const char* s) { return Dim::symbol(s); }
Dim c(int64_t v) { return Dim::of(v); }
Type f32(Shape s) { return Type{DType::F32, std::move(s)}; }
Type i32(Shape s) { return Type{DType::I32, std::move(s)}; }
Type f16(Shape s) { return Type{DType::F16, std::move(s)}; }

// Appends inputs and ops exactly as given: result types are declared, nothing is inferred.
struct RawGraph {
  Graph g;
  explicit RawGraph(std::string name = "t") { g.name = std::move(name); }

  ValueId value(Type t, int producer) {
    g.values.push_back(Value{std::move(t), "v" + std::to_string(g.values.size()), producer});
    return static_cast<ValueId>(g.values.size() - 1);
  }
  ValueId input(Type t) {
    ValueId v = value(std::move(t), -1);
    g.inputs.push_back(v);
    return v;
  }
  std::vector<ValueId> op(OpKind kind, std::vector<ValueId> in, Attrs attrs, std::vector<Type> results) {
    Op o{kind, std::move(in), {}, std::move(attrs)};
    for (Type& t : results) o.results.push_back(value(std::move(t), static_cast<int>(g.ops.size())));
    g.ops.push_back(std::move(o));
    for (ValueId r : g.ops.back().results) g.outputs.push_back(r);
    return g.ops.back().results;
  }
};

std::string verify_error(const Graph& g) {
  try {
    verify(g);
  } catch (const IrError& e) {
    return e.what();
  }
  return "";
}

struct Rejection {
  const char* label;
  std::function<Graph()> build;
  std::vector<std::string> message_parts;  // besides the op's name
};

// One graph with a single op of `kind`, operands of the given types, the given attributes and
// declared result types.
Graph one_op(OpKind kind, std::vector<Type> operands, Attrs attrs, std::vector<Type> results) {
  RawGraph r;
  std::vector<ValueId> in;
  for (Type& t : operands) in.push_back(r.input(std::move(t)));
  r.op(kind, in, std::move(attrs), std::move(results));
  return r.g;
}

// fused_gated_delta_net with qkv and z as given (z: [T, 2, 8]), `channels` channels, a state of
// `state_slots` slots (the conv state has 2) of Dk = 8, conv kernel 4; `attrs` over {scale, eps}.
Graph fused_gdn(std::vector<Type> qkv_and_z, Dim channels, Dim state_slots, const Attrs& attrs) {
  const Dim rows = qkv_and_z[0].shape[0];
  Attrs all{{"scale", 0.5}, {"eps", 1e-6}};
  for (const auto& [key, value] : attrs) all[key] = value;
  return one_op(OpKind::FusedGatedDeltaNet,
                {qkv_and_z[0], qkv_and_z[1], f32({rows, c(2)}), f32({rows, c(2)}), f32({channels, c(4)}),
                 f32({c(2), c(3), channels}), f32({c(2)}), f32({c(2)}), f32({c(8)}),
                 f32({state_slots, c(2), c(8), c(8)}), i32({rows}), i32({rows})},
                all, {f32({rows, c(2), c(8)}), f32({c(2), c(3), channels}), f32({state_slots, c(2), c(8), c(8)})});
}

const std::map<OpKind, std::vector<Rejection>>& rejections() {
  static const std::map<OpKind, std::vector<Rejection>> table = {
      {OpKind::Weight,
       {{"no_name", [] { return one_op(OpKind::Weight, {}, {}, {f32({c(4)})}); }, {"attribute 'name'", "non-empty"}},
        {"empty_name",
         [] {
           return one_op(OpKind::Weight, {}, {{"name", std::string()}}, {f32({c(4)})});
         },
         {"non-empty string"}}}},
      {OpKind::State,
       {{"symbolic_shape",
         [] {
           return one_op(OpKind::State, {}, {{"name", std::string("kv")}}, {f16({sym("ctx"), c(2), c(8)})});
         },
         {"a state's shape must be constant"}},
        {"no_name", [] { return one_op(OpKind::State, {}, {}, {f16({c(4)})}); }, {"attribute 'name'", "non-empty"}}}},
      {OpKind::Constant,
       {{"quantized",
         [] {
           return one_op(OpKind::Constant, {}, {{"value", 1.0}}, {{DType::Q8_0, {c(32)}}});
         },
         {"cannot be a quantized type"}},
        {"no_value", [] { return one_op(OpKind::Constant, {}, {}, {f32({c(4)})}); }, {"missing attribute 'value'"}},
        {"string_value",
         [] {
           return one_op(OpKind::Constant, {}, {{"value", std::string("1")}}, {f32({c(4)})});
         },
         {"attribute 'value' must be a number"}}}},
      {OpKind::Embedding,
       {{"float_ids",
         [] {
           return one_op(OpKind::Embedding, {f32({c(10), c(4)}), f32({c(3)})}, {}, {f32({c(3), c(4)})});
         },
         {"operand 1 (f32[3]) must be i32"}},
        {"table_rank",
         [] {
           return one_op(OpKind::Embedding, {f32({c(10)}), i32({c(3)})}, {}, {f32({c(3)})});
         },
         {"operand 0 (f32[10]) must have rank 2"}}}},
      {OpKind::MatMul,
       {{"k_mismatch",
         [] {
           return one_op(OpKind::MatMul, {f32({sym("seq"), c(8)}), f32({c(4), c(6)})}, {}, {f32({sym("seq"), c(4)})});
         },
         {"last dim of x must equal dim 1 of w[N, K]", "8 != 6"}},
        {"int_x",
         [] {
           return one_op(OpKind::MatMul, {i32({c(2), c(6)}), f32({c(4), c(6)})}, {}, {f32({c(2), c(4)})});
         },
         {"operand 0 (i32[2, 6]) must be a dense float type"}}}},
      {OpKind::FusedMatMul,
       {{"missing_norm_weight",
         [] {
           return one_op(OpKind::FusedMatMul, {f32({c(2), c(8)}), f32({c(4), c(8)})},
                         {{"prologue", std::string("rms_norm")}, {"eps", 1e-6}}, {f32({c(2), c(4)})});
         },
         {"takes 3 operands with prologue \"rms_norm\""}},
        {"residual_shape",
         [] {
           return one_op(OpKind::FusedMatMul, {f32({c(2), c(8)}), f32({c(4), c(8)}), f32({c(2), c(8)})},
                         {{"epilogue", std::string("add")}}, {f32({c(2), c(4)})});
         },
         {"must be a suffix of the result's [2, 4]"}},
        {"swiglu_up_shape",
         [] {
           return one_op(OpKind::FusedMatMul, {f32({c(2), c(8)}), f32({c(4), c(8)}), f32({c(1), c(8)})},
                         {{"prologue", std::string("swiglu")}}, {f32({c(2), c(4)})});
         },
         {"must have the same shape"}}}},
      {OpKind::MultiMatMul,
       {{"one_weight",
         [] {
           return one_op(OpKind::MultiMatMul, {f32({c(2), c(8)}), f32({c(4), c(8)}), f32({c(8)})},
                         {{"prologue", std::string("rms_norm")}, {"eps", 1e-6}}, {f32({c(2), c(4)})});
         },
         {"takes x, 2 to 4 weights and the norm weight: 3 operands hold 1"}},
        {"mixed_weight_dtypes",
         [] {
           return one_op(OpKind::MultiMatMul, {f32({c(2), c(32)}), f32({c(4), c(32)}), {DType::Q4_0, {c(4), c(32)}}},
                         {}, {f32({c(2), c(4)}), f32({c(2), c(4)})});
         },
         {"must have the first weight's dtype, f32"}},
        {"combine_of_three",
         [] {
           return one_op(OpKind::MultiMatMul,
                         {f32({c(2), c(8)}), f32({c(4), c(8)}), f32({c(4), c(8)}), f32({c(4), c(8)})},
                         {{"combine", std::string("swiglu")}}, {f32({c(2), c(4)})});
         },
         {"combine \"swiglu\" takes two weights (gate, up), not 3"}},
        {"combine_rows_differ",
         [] {
           return one_op(OpKind::MultiMatMul, {f32({c(2), c(8)}), f32({c(4), c(8)}), f32({c(6), c(8)})},
                         {{"combine", std::string("geglu")}}, {f32({c(2), c(4)})});
         },
         {"must have the same shape"}},
        {"result_count",
         [] {
           return one_op(OpKind::MultiMatMul, {f32({c(2), c(8)}), f32({c(4), c(8)}), f32({c(6), c(8)})}, {},
                         {f32({c(2), c(4)})});
         },
         {"has 1 result(s); the type rule gives 2"}},
        {"norm_without_eps",
         [] {
           return one_op(OpKind::MultiMatMul, {f32({c(2), c(8)}), f32({c(4), c(8)}), f32({c(6), c(8)}), f32({c(8)})},
                         {{"prologue", std::string("rms_norm")}}, {f32({c(2), c(4)}), f32({c(2), c(6)})});
         },
         {"missing attribute 'eps'"}}}},
      {OpKind::Add,
       {{"not_suffix",
         [] {
           return one_op(OpKind::Add, {f32({c(2), c(3)}), f32({c(2)})}, {}, {f32({c(2), c(3)})});
         },
         {"must be a suffix of", "broadcast"}}}},
      {OpKind::Mul,
       {{"quantized_b",
         [] {
           return one_op(OpKind::Mul, {f32({c(2), c(32)}), {DType::Q4_0, {c(32)}}}, {}, {f32({c(2), c(32)})});
         },
         {"operand 1 (q4_0[32]) must be a dense float type"}}}},
      {OpKind::Scale,
       {{"no_factor",
         [] { return one_op(OpKind::Scale, {f32({c(4)})}, {}, {f32({c(4)})}); },
         {"missing attribute 'factor'"}},
        {"list_factor",
         [] {
           return one_op(OpKind::Scale, {f32({c(4)})}, {{"factor", std::vector<int64_t>{2}}}, {f32({c(4)})});
         },
         {"attribute 'factor' must be a number"}}}},
      {OpKind::Silu,
       {{"two_operands",
         [] {
           return one_op(OpKind::Silu, {f32({c(4)}), f32({c(4)})}, {}, {f32({c(4)})});
         },
         {"takes 1 operand(s), got 2"}}}},
      {OpKind::Gelu,
       {{"bad_approximate",
         [] {
           return one_op(OpKind::Gelu, {f32({c(4)})}, {{"approximate", std::string("fast")}}, {f32({c(4)})});
         },
         {"attribute 'approximate' is \"fast\"; expected one of none, tanh"}}}},
      {OpKind::Sigmoid,
       {{"int_operand",
         [] { return one_op(OpKind::Sigmoid, {i32({c(4)})}, {}, {i32({c(4)})}); },
         {"operand 0 (i32[4]) must be a dense float type"}}}},
      {OpKind::Softplus,
       {{"int_operand",
         [] { return one_op(OpKind::Softplus, {i32({c(4)})}, {}, {i32({c(4)})}); },
         {"operand 0 (i32[4]) must be a dense float type"}}}},
      {OpKind::Exp,
       {{"two_operands",
         [] { return one_op(OpKind::Exp, {f32({c(4)}), f32({c(4)})}, {}, {f32({c(4)})}); },
         {"takes 1 operand(s), got 2"}}}},
      {OpKind::Softcap,
       {{"zero_cap",
         [] {
           return one_op(OpKind::Softcap, {f32({c(4)})}, {{"cap", 0.0}}, {f32({c(4)})});
         },
         {"attribute 'cap' must be > 0"}},
        {"no_cap",
         [] { return one_op(OpKind::Softcap, {f32({c(4)})}, {}, {f32({c(4)})}); },
         {"missing attribute 'cap'"}}}},
      {OpKind::SwiGlu,
       {{"shape_mismatch",
         [] {
           return one_op(OpKind::SwiGlu, {f32({c(4)}), f32({c(5)})}, {}, {f32({c(4)})});
         },
         {"operand 0 (f32[4]) and operand 1 (f32[5]) must have the same shape"}}}},
      {OpKind::GeGlu,
       {{"int_approximate",
         [] {
           return one_op(OpKind::GeGlu, {f32({c(4)}), f32({c(4)})}, {{"approximate", int64_t{1}}}, {f32({c(4)})});
         },
         {"attribute 'approximate' must be a string"}}}},
      {OpKind::Cast,
       {{"to_int",
         [] { return one_op(OpKind::Cast, {f32({c(4)})}, {}, {i32({c(4)})}); },
         {"can only cast to f32, f16 or bf16"}},
        {"shape_change",
         [] {
           return one_op(OpKind::Cast, {f32({c(4)})}, {}, {f16({c(2), c(2)})});
         },
         {"result shape must equal the operand's"}}}},
      {OpKind::RmsNorm,
       {{"weight_dim",
         [] {
           return one_op(OpKind::RmsNorm, {f32({c(2), c(8)}), f32({c(4)})}, {{"eps", 1e-6}}, {f32({c(2), c(8)})});
         },
         {"operand 1 (f32[4]) must match the last dim of x", "4 != 8"}},
        {"no_eps",
         [] {
           return one_op(OpKind::RmsNorm, {f32({c(2), c(8)}), f32({c(8)})}, {}, {f32({c(2), c(8)})});
         },
         {"missing attribute 'eps'"}}}},
      {OpKind::LayerNorm,
       {{"zero_eps",
         [] {
           return one_op(OpKind::LayerNorm, {f32({c(8)}), f32({c(8)}), f32({c(8)})}, {{"eps", 0.0}}, {f32({c(8)})});
         },
         {"attribute 'eps' must be > 0"}},
        {"bias_rank",
         [] {
           return one_op(OpKind::LayerNorm, {f32({c(8)}), f32({c(8)}), f32({c(1), c(8)})}, {{"eps", 1e-5}},
                         {f32({c(8)})});
         },
         {"operand 2 (f32[1, 8]) must have rank 1"}}}},
      {OpKind::Softmax,
       {{"scalar",
         [] { return one_op(OpKind::Softmax, {f32({})}, {}, {f32({})}); },
         {"operand 0 (f32[]) must have rank >= 1"}}}},
      {OpKind::Rope,
       {{"odd_rotary_dims",
         [] {
           return one_op(OpKind::Rope, {f32({sym("seq"), c(2), c(8)}), i32({sym("seq")})},
                         {{"theta", 10000.0}, {"rotary_dims", int64_t{3}}}, {f32({sym("seq"), c(2), c(8)})});
         },
         {"attribute 'rotary_dims' (3) must be even and in (0, 8]"}},
        {"llama3_without_factors",
         [] {
           return one_op(OpKind::Rope, {f32({c(1), c(2), c(8)}), i32({c(1)})},
                         {{"theta", 10000.0}, {"scaling", std::string("llama3")}, {"factor", 8.0}},
                         {f32({c(1), c(2), c(8)})});
         },
         {"missing attribute 'low_freq_factor'"}},
        {"pos_length",
         [] {
           return one_op(OpKind::Rope, {f32({c(3), c(2), c(8)}), i32({c(2)})}, {{"theta", 10000.0}},
                         {f32({c(3), c(2), c(8)})});
         },
         {"pos must have one entry per row of x[T, H, Dh]"}}}},
      {OpKind::Attention,
       {{"gqa",
         [] {
           return one_op(OpKind::Attention,
                         {f32({c(1), c(3), c(8)}), f32({c(5), c(2), c(8)}), f32({c(5), c(2), c(8)}), i32({c(1)})},
                         {{"scale", 0.5}}, {f32({c(1), c(3), c(8)})});
         },
         {"query heads must be a constant multiple of key/value heads (GQA)"}},
        {"negative_window",
         [] {
           return one_op(OpKind::Attention,
                         {f32({c(1), c(2), c(8)}), f32({c(5), c(2), c(8)}), f32({c(5), c(2), c(8)}), i32({c(1)})},
                         {{"scale", 0.5}, {"window", int64_t{-1}}}, {f32({c(1), c(2), c(8)})});
         },
         {"attribute 'window' must be >= 0"}}}},
      {OpKind::KvWrite,
       {{"head_count",
         [] {
           return one_op(OpKind::KvWrite,
                         {f16({c(4), c(16), c(2), c(8)}), f32({sym("seq"), c(3), c(8)}), i32({sym("seq")})}, {},
                         {f16({c(4), c(16), c(2), c(8)})});
         },
         {"x[T, H, D] must have the cache's head count", "3 != 2"}},
        {"float_slots",
         [] {
           return one_op(OpKind::KvWrite, {f16({c(4), c(16), c(2), c(8)}), f32({c(1), c(2), c(8)}), f32({c(1)})}, {},
                         {f16({c(4), c(16), c(2), c(8)})});
         },
         {"operand 2 (f32[1]) must be i32"}},
        {"result_dtype",
         [] {
           return one_op(OpKind::KvWrite, {f16({c(4), c(16), c(2), c(8)}), f32({c(1), c(2), c(8)}), i32({c(1)})}, {},
                         {f32({c(4), c(16), c(2), c(8)})});
         },
         {"is declared f32[4, 16, 2, 8] but the rule gives f16[4, 16, 2, 8]"}}}},
      {OpKind::PagedAttention,
       {{"gqa",
         [] {
           return one_op(OpKind::PagedAttention,
                         {f32({c(1), c(3), c(8)}), f16({c(4), c(16), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}),
                          i32({c(2), c(3)}), i32({c(1)}), i32({c(1)})},
                         {{"scale", 0.5}}, {f32({c(1), c(3), c(8)})});
         },
         {"query heads must be a constant multiple of key/value heads (GQA)"}},
        {"block_size_mismatch",
         [] {
           return one_op(OpKind::PagedAttention,
                         {f32({c(1), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}), f16({c(4), c(8), c(2), c(8)}),
                          i32({c(2), c(3)}), i32({c(1)}), i32({c(1)})},
                         {{"scale", 0.5}}, {f32({c(1), c(2), c(8)})});
         },
         {"k_cache and v_cache must have the same block size", "16 != 8"}},
        {"row_seq_length",
         [] {
           return one_op(OpKind::PagedAttention,
                         {f32({sym("seq"), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}),
                          f16({c(4), c(16), c(2), c(8)}), i32({c(2), c(3)}), i32({c(1)}), i32({sym("seq")})},
                         {{"scale", 0.5}}, {f32({sym("seq"), c(2), c(8)})});
         },
         {"row_seq must have one entry per query row"}},
        {"no_scale",
         [] {
           return one_op(OpKind::PagedAttention,
                         {f32({c(1), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}),
                          i32({c(2), c(3)}), i32({c(1)}), i32({c(1)})},
                         {}, {f32({c(1), c(2), c(8)})});
         },
         {"missing attribute 'scale'"}}}},
      {OpKind::PagedAttentionPartial,
       {{"no_splits",
         [] {
           return one_op(OpKind::PagedAttentionPartial,
                         {f32({c(1), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}),
                          i32({c(2), c(3)}), i32({c(1)}), i32({c(1)})},
                         {{"scale", 0.5}, {"granule", int64_t{32}}}, {f32({c(1), c(2), c(4), c(10)})});
         },
         {"missing attribute 'splits'"}},
        {"zero_granule",
         [] {
           return one_op(OpKind::PagedAttentionPartial,
                         {f32({c(1), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}),
                          i32({c(2), c(3)}), i32({c(1)}), i32({c(1)})},
                         {{"scale", 0.5}, {"splits", int64_t{4}}, {"granule", int64_t{0}}},
                         {f32({c(1), c(2), c(4), c(10)})});
         },
         {"attribute 'granule' (0) must be >= 1"}},
        {"result_shape",
         [] {
           return one_op(OpKind::PagedAttentionPartial,
                         {f32({c(1), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}),
                          i32({c(2), c(3)}), i32({c(1)}), i32({c(1)})},
                         {{"scale", 0.5}, {"splits", int64_t{4}}, {"granule", int64_t{32}}},
                         {f32({c(1), c(2), c(4), c(8)})});
         },
         {"is declared f32[1, 2, 4, 8] but the rule gives f32[1, 2, 4, 10]"}}}},
      {OpKind::KvWriteRope,
       {{"rope_without_pos",
         [] {
           return one_op(OpKind::KvWriteRope,
                         {f16({c(4), c(16), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}), f32({c(1), c(2), c(8)}),
                          f32({c(1), c(2), c(8)}), i32({c(1)})},
                         {{"theta", 10000.0}}, {f16({c(4), c(16), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)})});
         },
         {"rope attributes need the pos operand (6 operands)"}},
        {"no_theta",
         [] {
           return one_op(OpKind::KvWriteRope,
                         {f16({c(4), c(16), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}), f32({c(1), c(2), c(8)}),
                          f32({c(1), c(2), c(8)}), i32({c(1)}), i32({c(1)})},
                         {}, {f16({c(4), c(16), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)})});
         },
         {"missing attribute 'theta'"}},
        {"block_count",
         [] {
           return one_op(OpKind::KvWriteRope,
                         {f16({c(4), c(16), c(2), c(8)}), f16({c(5), c(16), c(2), c(8)}), f32({c(1), c(2), c(8)}),
                          f32({c(1), c(2), c(8)}), i32({c(1)})},
                         {}, {f16({c(4), c(16), c(2), c(8)}), f16({c(5), c(16), c(2), c(8)})});
         },
         {"k_cache and v_cache must have the same number of blocks", "4 != 5"}}}},
      {OpKind::PagedAttentionSplit,
       {{"counter_heads",
         [] {
           return one_op(OpKind::PagedAttentionSplit,
                         {f32({c(1), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}),
                          i32({c(2), c(3)}), i32({c(1)}), i32({c(1)}), i32({c(1), c(3)})},
                         {{"scale", 0.5}, {"splits", int64_t{4}}, {"granule", int64_t{32}}},
                         {f32({c(1), c(2), c(8)}), f32({c(1), c(2), c(4), c(10)}), i32({c(1), c(3)})});
         },
         {"counters[R, Hq] must have one entry per query head", "3 != 2"}},
        {"symbolic_counter_rows",
         [] {
           return one_op(OpKind::PagedAttentionSplit,
                         {f32({sym("seq"), c(2), c(8)}), f16({c(4), c(16), c(2), c(8)}),
                          f16({c(4), c(16), c(2), c(8)}), i32({c(2), c(3)}), i32({sym("seq")}), i32({sym("seq")}),
                          i32({sym("seq"), c(2)})},
                         {{"scale", 0.5}, {"splits", int64_t{4}}, {"granule", int64_t{32}}},
                         {f32({sym("seq"), c(2), c(8)}), f32({sym("seq"), c(2), c(4), c(10)}),
                          i32({sym("seq"), c(2)})});
         },
         {"the counters' row count must be a constant >= 1"}}}},
      {OpKind::AttentionCombine,
       {{"rank",
         [] { return one_op(OpKind::AttentionCombine, {f32({c(1), c(4), c(10)})}, {}, {f32({c(1), c(8)})}); },
         {"must have rank 4"}},
        {"no_value_dims",
         [] {
           return one_op(OpKind::AttentionCombine, {f32({c(1), c(2), c(4), c(2)})}, {}, {f32({c(1), c(2), c(0)})});
         },
         {"the last dim (value head dim + 2) must be a constant >= 3"}},
        {"dtype",
         [] {
           return one_op(OpKind::AttentionCombine, {f16({c(1), c(2), c(4), c(10)})}, {}, {f32({c(1), c(2), c(8)})});
         },
         {"must be f32"}}}},
      {OpKind::Conv1d,
       {{"state_rows",
         [] {
           return one_op(OpKind::Conv1d, {f32({c(5), c(8)}), f32({c(8), c(4)}), f32({c(2), c(8)})}, {},
                         {f32({c(5), c(8)}), f32({c(2), c(8)})});
         },
         {"state must hold K-1 rows", "2 != 3"}},
        {"bad_activation",
         [] {
           return one_op(OpKind::Conv1d, {f32({c(5), c(8)}), f32({c(8), c(4)}), f32({c(3), c(8)})},
                         {{"activation", std::string("relu")}}, {f32({c(5), c(8)}), f32({c(3), c(8)})});
         },
         {"attribute 'activation' is \"relu\"; expected one of none, silu"}},
        {"paged_state_rank",
         [] {
           return one_op(OpKind::Conv1d,
                         {f32({c(5), c(8)}), f32({c(8), c(4)}), f32({c(3), c(8)}), i32({c(5)}), i32({c(5)})}, {},
                         {f32({c(5), c(8)}), f32({c(3), c(8)})});
         },
         {"operand 2 (f32[3, 8]) must have rank 3"}},
        {"paged_slot_rows",
         [] {
           return one_op(OpKind::Conv1d,
                         {f32({c(5), c(8)}), f32({c(8), c(4)}), f32({c(2), c(3), c(8)}), i32({c(5)}), i32({c(4)})},
                         {}, {f32({c(5), c(8)}), f32({c(2), c(3), c(8)})});
         },
         {"operand 4 (i32[4]) must have one entry per row", "4 != 5"}},
        {"four_operands",
         [] {
           return one_op(OpKind::Conv1d, {f32({c(5), c(8)}), f32({c(8), c(4)}), f32({c(3), c(8)}), i32({c(5)})}, {},
                         {f32({c(5), c(8)}), f32({c(3), c(8)})});
         },
         {"takes 3 operands (x, w, state) or 5"}}}},
      {OpKind::GatedDeltaNet,
       {{"value_heads_not_a_multiple",
         [] {
           return one_op(OpKind::GatedDeltaNet,
                         {f32({sym("seq"), c(2), c(4)}), f32({sym("seq"), c(2), c(4)}), f32({sym("seq"), c(3), c(8)}),
                          f32({sym("seq"), c(3)}), f32({sym("seq"), c(3)}), f32({c(2), c(3), c(4), c(8)}),
                          i32({sym("seq")}), i32({sym("seq")})},
                         {{"scale", 0.5}}, {f32({sym("seq"), c(3), c(8)}), f32({c(2), c(3), c(4), c(8)})});
         },
         {"value heads must be a constant multiple of key heads"}},
        {"state_key_dim",
         [] {
           return one_op(OpKind::GatedDeltaNet,
                         {f32({sym("seq"), c(1), c(4)}), f32({sym("seq"), c(1), c(4)}), f32({sym("seq"), c(2), c(8)}),
                          f32({sym("seq"), c(2)}), f32({sym("seq"), c(2)}), f32({c(2), c(2), c(8), c(8)}),
                          i32({sym("seq")}), i32({sym("seq")})},
                         {{"scale", 0.5}}, {f32({sym("seq"), c(2), c(8)}), f32({c(2), c(2), c(8), c(8)})});
         },
         {"state[S, Hv, Dk, Dv] must have the key head dim", "8 != 4"}},
        {"f16_state",
         [] {
           return one_op(OpKind::GatedDeltaNet,
                         {f32({c(1), c(1), c(4)}), f32({c(1), c(1), c(4)}), f32({c(1), c(1), c(4)}), f32({c(1), c(1)}),
                          f32({c(1), c(1)}), f16({c(2), c(1), c(4), c(4)}), i32({c(1)}), i32({c(1)})},
                         {{"scale", 0.5}}, {f32({c(1), c(1), c(4)}), f16({c(2), c(1), c(4), c(4)})});
         },
         {"operand 5 (f16[2, 1, 4, 4]) must be f32"}},
        {"float_slots",
         [] {
           return one_op(OpKind::GatedDeltaNet,
                         {f32({c(1), c(1), c(4)}), f32({c(1), c(1), c(4)}), f32({c(1), c(1), c(4)}), f32({c(1), c(1)}),
                          f32({c(1), c(1)}), f32({c(2), c(1), c(4), c(4)}), f32({c(1)}), i32({c(1)})},
                         {{"scale", 0.5}}, {f32({c(1), c(1), c(4)}), f32({c(2), c(1), c(4), c(4)})});
         },
         {"operand 6 (f32[1]) must be i32"}},
        {"l2norm_not_bool",
         [] {
           return one_op(OpKind::GatedDeltaNet,
                         {f32({c(1), c(1), c(4)}), f32({c(1), c(1), c(4)}), f32({c(1), c(1), c(4)}), f32({c(1), c(1)}),
                          f32({c(1), c(1)}), f32({c(2), c(1), c(4), c(4)}), i32({c(1)}), i32({c(1)})},
                         {{"scale", 0.5}, {"qk_l2norm", int64_t{1}}},
                         {f32({c(1), c(1), c(4)}), f32({c(2), c(1), c(4), c(4)})});
         },
         {"attribute 'qk_l2norm' must be true or false"}}}},
      {OpKind::FusedGatedDeltaNet,
       {{"channels_do_not_split",  // C = 40: 24 q/k channels are not 2·Hk·8 with Hk dividing Hv = 2
         [] {
           return fused_gdn({f32({sym("seq"), c(40)}), f32({sym("seq"), c(2), c(8)})}, c(40), c(2), {});
         },
         {"qkv[T, C] must hold q and k of Hk heads of 8"}},
        {"slot_counts_differ",
         [] { return fused_gdn({f32({sym("seq"), c(48)}), f32({sym("seq"), c(2), c(8)})}, c(48), c(3), {}); },
         {"state and conv_state must have the same number of slots", "3 != 2"}},
        {"f16_z",
         [] { return fused_gdn({f32({sym("seq"), c(48)}), f16({sym("seq"), c(2), c(8)})}, c(48), c(2), {}); },
         {"operand 1 (f16[seq, 2, 8]) must be f32"}},
        {"zero_eps",
         [] {
           return fused_gdn({f32({sym("seq"), c(48)}), f32({sym("seq"), c(2), c(8)})}, c(48), c(2), {{"eps", 0.0}});
         },
         {"attribute 'eps' must be > 0"}}}},
      {OpKind::ArgMax,
       {{"declared_float",
         [] {
           return one_op(OpKind::ArgMax, {f32({c(2), c(4)})}, {}, {f32({c(2)})});
         },
         {"result 0 (%v1) is declared f32[2] but the rule gives i32[2]"}}}},
      {OpKind::TopK,
       {{"k_too_large",
         [] {
           return one_op(OpKind::TopK, {f32({c(4)})}, {{"k", int64_t{5}}}, {f32({c(5)}), i32({c(5)})});
         },
         {"attribute 'k' (5) must be in [1, 4]"}},
        {"one_result",
         [] {
           return one_op(OpKind::TopK, {f32({c(4)})}, {{"k", int64_t{2}}}, {f32({c(2)})});
         },
         {"must have 2 result(s), has 1"}}}},
      {OpKind::Sample,
       {{"params_columns",
         [] {
           return one_op(OpKind::Sample, {f32({c(2), c(10)}), f32({c(2), c(7)}), i32({c(2), c(2)}), i32({c(2), c(4)})},
                         {}, {i32({c(2)}), f32({c(2)})});
         },
         {"params[R, 8] must have 8 columns"}},
        {"rows_differ",
         [] {
           return one_op(OpKind::Sample, {f32({c(2), c(10)}), f32({c(2), c(8)}), i32({c(3), c(2)}), i32({c(2), c(4)})},
                         {}, {i32({c(2)}), f32({c(2)})});
         },
         {"operand 2 (i32[3, 2]) must have one row per row of logits"}},
        {"symbolic_history",
         [] {
           return one_op(OpKind::Sample,
                         {f32({sym("rows"), c(10)}), f32({sym("rows"), c(8)}), i32({sym("rows"), c(2)}),
                          i32({sym("rows"), sym("h")})},
                         {}, {i32({sym("rows")}), f32({sym("rows")})});
         },
         {"history[R, H] must have a constant H >= 1"}},
        {"empty_vocabulary",
         [] {
           return one_op(OpKind::Sample, {f32({c(2), c(0)}), f32({c(2), c(8)}), i32({c(2), c(2)}), i32({c(2), c(4)})},
                         {}, {i32({c(2)}), f32({c(2)})});
         },
         {"logits[R, V] must have V >= 1"}}}},
      {OpKind::SamplePartial,
       {{"symbolic_vocabulary",
         [] {
           return one_op(OpKind::SamplePartial, {f32({c(2), sym("v")}), f32({c(2), c(8)}), i32({c(2), c(4)})},
                         {{"splits", int64_t{2}}, {"candidates", int64_t{4}}}, {f32({c(2), c(2), c(13)})});
         },
         {"logits[R, V] must have a constant V in [1, 2^24)"}},
        {"no_splits",
         [] {
           return one_op(OpKind::SamplePartial, {f32({c(2), c(10)}), f32({c(2), c(8)}), i32({c(2), c(4)})},
                         {{"splits", int64_t{0}}, {"candidates", int64_t{4}}}, {f32({c(2), c(0), c(13)})});
         },
         {"attribute 'splits' (0) must be >= 1"}}}},
      {OpKind::SampleFinish,
       {{"partials_width",
         [] {
           return one_op(OpKind::SampleFinish,
                         {f32({c(2), c(10)}), f32({c(2), c(8)}), i32({c(2), c(2)}), i32({c(2), c(4)}),
                          f32({c(2), c(3), c(6)})},
                         {}, {i32({c(2)}), f32({c(2)})});
         },
         {"operand 4 (f32[2, 3, 6]): must be sample_partial's [R, splits, 5 + 2 candidates] (constants)"}}}},
      {OpKind::Reshape,
       {{"element_count",
         [] {
           return one_op(OpKind::Reshape, {f32({sym("seq"), c(6)})}, {}, {f32({sym("seq"), c(2), c(2)})});
         },
         {"cannot reshape f32[seq, 6] to f32[seq, 2, 2]: element counts differ"}},
        {"dtype_change",
         [] {
           return one_op(OpKind::Reshape, {f32({c(6)})}, {}, {f16({c(2), c(3)})});
         },
         {"reshape keeps the dtype"}},
        {"overflowing_element_count",
         [] {
           const int64_t big = int64_t{1} << 40;
           return one_op(OpKind::Reshape, {f32({c(big), c(big)})}, {}, {f32({c(big), c(big)})});
         },
         {"element count of [1099511627776, 1099511627776] overflows int64"}}}},
      {OpKind::Slice,
       {{"out_of_range",
         [] {
           return one_op(OpKind::Slice, {f32({c(2), c(8)})},
                         {{"axis", int64_t{1}}, {"start", int64_t{6}}, {"size", int64_t{3}}}, {f32({c(2), c(3)})});
         },
         {"slice of 3 element(s) from 6 out of range for dim 8"}},
        {"huge_start_and_size",
         [] {
           const int64_t max = std::numeric_limits<int64_t>::max();
           return one_op(OpKind::Slice, {f32({c(8)})}, {{"axis", int64_t{0}}, {"start", max}, {"size", max}},
                         {f32({c(max)})});
         },
         {"out of range for dim 8"}},
        {"bad_axis",
         [] {
           return one_op(OpKind::Slice, {f32({c(8)})},
                         {{"axis", int64_t{1}}, {"start", int64_t{0}}, {"size", int64_t{1}}}, {f32({c(1)})});
         },
         {"attribute 'axis' (1) out of range for rank 1"}}}},
  };
  return table;
}

TEST(Verify, EveryOpKindHasARejectedCase) {
  for (int k = 0; k < kNumOps; ++k) {
    auto it = rejections().find(static_cast<OpKind>(k));
    EXPECT_TRUE(it != rejections().end() && !it->second.empty())
        << "op '" << name(static_cast<OpKind>(k)) << "' has no rejected case in verify_test.cpp";
  }
}

TEST(Verify, RejectionsNameTheOpAndTheRule) {
  for (const auto& [kind, cases] : rejections()) {
    for (const Rejection& r : cases) {
      SCOPED_TRACE(fmt::format("{}.{}", name(kind), r.label));
      std::string message = verify_error(r.build());
      ASSERT_FALSE(message.empty()) << "the verifier accepted it";
      EXPECT_NE(message.find(fmt::format("'{}'", name(kind))), std::string::npos) << message;
      EXPECT_NE(message.find("graph @t: op #0"), std::string::npos) << message;
      for (const std::string& part : r.message_parts) EXPECT_NE(message.find(part), std::string::npos) << message;
    }
  }
}

TEST(Verify, NegativeOperandDim) {
  std::string message = verify_error(one_op(OpKind::Silu, {f32({c(-1)})}, {}, {f32({c(-1)})}));
  EXPECT_NE(message.find("'silu': operand type f32[-1] has a negative dim"), std::string::npos) << message;
}

TEST(Verify, AcceptsWellTypedGraphs) {
  EXPECT_EQ(verify_error(one_op(OpKind::Silu, {f32({sym("seq"), c(4)})}, {}, {f32({sym("seq"), c(4)})})), "");
  EXPECT_EQ(verify_error(one_op(OpKind::TopK, {f32({c(4)})}, {{"k", int64_t{4}}}, {f32({c(4)}), i32({c(4)})})), "");
  EXPECT_EQ(verify_error(one_op(OpKind::Scale, {f16({c(4)})}, {{"factor", int64_t{2}}}, {f16({c(4)})})), "");
}

// ---- In-place writes (ir::aliased_operand) ---------------------------------------------------

Type cache_type() { return f16({c(4), c(8), c(2), c(8)}); }

// %cache (from `make_cache`), then %w = kv_write(%cache, %x, %slots).
struct InPlace {
  RawGraph r;
  ValueId cache, x, slots, written;
  explicit InPlace(const std::function<ValueId(RawGraph&)>& make_cache) {
    cache = make_cache(r);
    x = r.input(f32({sym("seq"), c(2), c(8)}));
    slots = r.input(i32({sym("seq")}));
    written = r.op(OpKind::KvWrite, {cache, x, slots}, {}, {cache_type()})[0];
    r.g.outputs.clear();
  }
};
ValueId state_cache(RawGraph& r) { return r.op(OpKind::State, {}, {{"name", std::string("k")}}, {cache_type()})[0]; }
ValueId input_cache(RawGraph& r) { return r.input(cache_type()); }

TEST(VerifyInPlace, ReadingTheResultAndChainingWritesIsAccepted) {
  InPlace p(state_cache);
  ValueId again = p.r.op(OpKind::KvWrite, {p.written, p.x, p.slots}, {}, {cache_type()})[0];
  // A later state op of the same name reads the storage as it is now.
  ValueId reread = p.r.op(OpKind::State, {}, {{"name", std::string("k")}}, {cache_type()})[0];
  p.r.g.outputs = {again, reread};
  EXPECT_EQ(verify_error(p.r.g), "");
}

TEST(VerifyInPlace, OverwrittenOperandCannotBeReadAgain) {
  for (auto make : {state_cache, input_cache}) {
    InPlace p(make);
    p.r.op(OpKind::Scale, {p.cache}, {{"factor", 2.0}}, {cache_type()});
    const std::string message = verify_error(p.r.g);
    EXPECT_NE(message.find("op #" + std::to_string(p.r.g.ops.size() - 1) + " 'scale' (operand 0) reads %" +
                           p.r.g.value(p.cache).name + " after op #"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("'kv_write' overwrote its storage in place; read that op's result %" +
                           p.r.g.value(p.written).name + " instead"),
              std::string::npos)
        << message;
  }
}

// kv_write_rope writes two storages: reading either cache's old value afterwards is an error that
// names the result holding that cache.
TEST(VerifyInPlace, KvWriteRopeOverwritesBothCaches) {
  for (int stale : {0, 1}) {
    Graph g;
    g.name = "g";
    auto input = [&](const std::string& name, Type t) {
      g.values.push_back({std::move(t), name, -1});
      g.inputs.push_back(static_cast<ValueId>(g.values.size() - 1));
      return g.inputs.back();
    };
    const ValueId kc = input("kc", f16({c(4), c(16), c(2), c(8)})), vc = input("vc", f16({c(4), c(16), c(2), c(8)}));
    const ValueId k = input("k", f32({c(1), c(2), c(8)})), v = input("v", f32({c(1), c(2), c(8)}));
    const ValueId slots = input("slots", i32({c(1)}));
    g.values.push_back({f16({c(4), c(16), c(2), c(8)}), "kc.1", 0});
    g.values.push_back({f16({c(4), c(16), c(2), c(8)}), "vc.1", 0});
    g.ops.push_back({OpKind::KvWriteRope, {kc, vc, k, v, slots}, {5, 6}, {}});
    g.outputs = {stale ? vc : kc};
    const std::string message = verify_error(g);
    EXPECT_NE(message.find(stale ? "reads %vc after op #0 'kv_write_rope' overwrote its storage in place; read "
                                   "that op's result %vc.1"
                                 : "reads %kc after op #0 'kv_write_rope' overwrote its storage in place; read "
                                   "that op's result %kc.1"),
              std::string::npos)
        << message;
    g.outputs = {5, 6};
    EXPECT_EQ(verify_error(g), "");
  }
}

TEST(VerifyInPlace, OverwrittenOperandCannotBeAnOutput) {
  InPlace p(input_cache);
  p.r.g.outputs = {p.cache};
  EXPECT_NE(verify_error(p.r.g).find("an output reads %v0 after op #0 'kv_write' overwrote its storage"),
            std::string::npos);
}

TEST(VerifyInPlace, ViewsShareTheStorage) {
  // kv_write through a reshape of the cache: the original and the view are both stale afterwards.
  RawGraph r;
  ValueId flat = r.input(f16({c(32), c(16)}));
  ValueId view = r.op(OpKind::Reshape, {flat}, {}, {cache_type()})[0];
  ValueId x = r.input(f32({c(1), c(2), c(8)}));
  ValueId slots = r.input(i32({c(1)}));
  r.op(OpKind::KvWrite, {view, x, slots}, {}, {cache_type()});
  r.g.outputs = {flat};
  EXPECT_NE(verify_error(r.g).find("an output reads %v0 after op #1 'kv_write'"), std::string::npos)
      << verify_error(r.g);
  // A second state op of the same name shares the storage too.
  InPlace p([](RawGraph& g) {
    state_cache(g);
    return state_cache(g);
  });
  p.r.g.outputs = {0};
  EXPECT_NE(verify_error(p.r.g).find("an output reads %v0 after op #2 'kv_write'"), std::string::npos)
      << verify_error(p.r.g);
}

TEST(VerifyInPlace, RecurrentStatesAreWrittenInPlaceAsResultOne) {
  // gated_delta_net writes operand 5 as result 1; paged conv1d operand 2 as result 1. Their result 0
  // owns its storage; reading the state operand afterwards names result 1.
  RawGraph r;
  const Dim t = sym("seq");
  const Type gdn_state = f32({c(3), c(2), c(4), c(4)}), conv_state = f32({c(3), c(2), c(8)});
  ValueId state = r.op(OpKind::State, {}, {{"name", std::string("gdn")}}, {gdn_state})[0];
  ValueId qk = r.input(f32({t, c(1), c(4)})), v = r.input(f32({t, c(2), c(4)})), gate = r.input(f32({t, c(2)}));
  ValueId src = r.input(i32({t})), dst = r.input(i32({t}));
  auto gdn = r.op(OpKind::GatedDeltaNet, {qk, qk, v, gate, gate, state, src, dst}, {{"scale", 0.5}},
                  {f32({t, c(2), c(4)}), gdn_state});
  ValueId conv_in = r.op(OpKind::State, {}, {{"name", std::string("conv")}}, {conv_state})[0];
  ValueId x = r.input(f32({t, c(8)})), w = r.input(f32({c(8), c(3)}));
  auto conv = r.op(OpKind::Conv1d, {x, w, conv_in, src, dst}, {}, {f32({t, c(8)}), conv_state});
  r.g.outputs = {gdn[0], gdn[1], conv[0], conv[1]};
  EXPECT_EQ(verify_error(r.g), "");
  EXPECT_EQ(aliased_operand(r.g.ops[1]), 5);
  EXPECT_EQ(aliased_result(r.g.ops[1]), 1);
  EXPECT_EQ(aliased_operand(r.g.ops[3]), 2);
  EXPECT_TRUE(has_side_effects(r.g.ops[3]));
  r.g.outputs = {state};
  const std::string message = verify_error(r.g);
  EXPECT_NE(message.find("an output reads %" + r.g.value(state).name + " after op #1 'gated_delta_net' overwrote its "
                         "storage in place; read that op's result %" + r.g.value(gdn[1]).name + " instead"),
            std::string::npos)
      << message;
  r.g.outputs = {conv_in};
  EXPECT_NE(verify_error(r.g).find("after op #3 'conv1d' overwrote its storage"), std::string::npos);
  // The 3-operand conv1d returns a new state: its operand stays readable.
  RawGraph plain;
  ValueId s = plain.input(f32({c(2), c(8)}));
  plain.op(OpKind::Conv1d, {plain.input(f32({t, c(8)})), plain.input(f32({c(8), c(3)})), s}, {},
           {f32({t, c(8)}), f32({c(2), c(8)})});
  plain.g.outputs.push_back(s);
  EXPECT_EQ(verify_error(plain.g), "");
  EXPECT_FALSE(has_side_effects(plain.g.ops[0]));
}

TEST(VerifyInPlace, WeightsAreReadOnly) {
  InPlace p([](RawGraph& r) {
    return r.op(OpKind::Weight, {}, {{"name", std::string("w.cache")}}, {cache_type()})[0];
  });
  const std::string message = verify_error(p.r.g);
  EXPECT_NE(message.find("op #1 'kv_write' writes in place into weight \"w.cache\"; weights are read-only"),
            std::string::npos)
      << message;
}

TEST(VerifyInPlace, OneStateNameHasOneType) {
  RawGraph r;
  r.op(OpKind::State, {}, {{"name", std::string("k")}}, {cache_type()});
  r.op(OpKind::State, {}, {{"name", std::string("k")}}, {f16({c(4), c(8), c(2), c(4)})});
  const std::string message = verify_error(r.g);
  EXPECT_NE(message.find("op #1 'state' declares \"k\" as f16[4, 8, 2, 4], but %v0 declared it f16[4, 8, 2, 8]"),
            std::string::npos)
      << message;

  // Across the graphs of a module.
  RawGraph a("a"), b("b");
  a.op(OpKind::State, {}, {{"name", std::string("k")}}, {cache_type()});
  b.op(OpKind::State, {}, {{"name", std::string("k")}}, {f32({c(4), c(8), c(2), c(8)})});
  try {
    verify(Module{{a.g, b.g}});
    FAIL() << "accepted two types for state \"k\"";
  } catch (const IrError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "graph @b declares state \"k\" as f32[4, 8, 2, 8], but graph @a declared it f16[4, 8, 2, 8]"),
              std::string::npos)
        << e.what();
  }
  RawGraph same("same");
  same.op(OpKind::State, {}, {{"name", std::string("k")}}, {cache_type()});
  EXPECT_NO_THROW(verify(Module{{a.g, same.g}}));
}

TEST(VerifySsa, UseBeforeDefinition) {
  RawGraph r;
  ValueId x = r.input(f32({c(4)}));
  r.op(OpKind::Silu, {x}, {}, {f32({c(4)})});
  r.op(OpKind::Silu, {x}, {}, {f32({c(4)})});
  r.g.ops[0].inputs[0] = r.g.ops[1].results[0];  // op #0 reads what op #1 defines
  std::string message = verify_error(r.g);
  EXPECT_NE(message.find("op #0 'silu': operand 0 is used before it is defined"), std::string::npos) << message;
}

TEST(VerifySsa, OperandThatDoesNotExist) {
  RawGraph r;
  r.op(OpKind::Silu, {42}, {}, {f32({c(4)})});
  std::string message = verify_error(r.g);
  EXPECT_NE(message.find("op #0 'silu': operand 0 is used before it is defined"), std::string::npos) << message;
}

TEST(VerifySsa, DuplicateNames) {
  RawGraph r;
  ValueId x = r.input(f32({c(4)}));
  ValueId y = r.op(OpKind::Silu, {x}, {}, {f32({c(4)})})[0];
  r.g.values[static_cast<size_t>(y)].name = r.g.value(x).name;
  std::string message = verify_error(r.g);
  EXPECT_NE(message.find("value name %v0 is not unique"), std::string::npos) << message;
}

TEST(VerifySsa, ValueDefinedTwice) {
  RawGraph r;
  ValueId x = r.input(f32({c(4)}));
  r.op(OpKind::Silu, {x}, {}, {f32({c(4)})});
  r.g.ops[0].results[0] = x;  // the op redefines the input
  std::string message = verify_error(r.g);
  EXPECT_NE(message.find("value %v0 defined twice (op #0 'silu')"), std::string::npos) << message;
}

TEST(VerifySsa, WrongResultCount) {
  RawGraph r;
  ValueId x = r.input(f32({c(4)}));
  r.op(OpKind::Silu, {x}, {}, {f32({c(4)}), f32({c(4)})});
  std::string message = verify_error(r.g);
  EXPECT_NE(message.find("op #0 'silu' must have 1 result(s), has 2"), std::string::npos) << message;
}

TEST(VerifySsa, UndefinedOutput) {
  RawGraph r;
  r.input(f32({c(4)}));
  r.g.outputs.push_back(7);
  std::string message = verify_error(r.g);
  EXPECT_NE(message.find("graph @t: an output is not defined"), std::string::npos) << message;
}

TEST(VerifySsa, DuplicateGraphNames) {
  Module m{{RawGraph("g").g, RawGraph("g").g}};
  try {
    verify(m);
    FAIL() << "accepted two graphs called @g";
  } catch (const IrError& e) {
    EXPECT_NE(std::string(e.what()).find("graph name @g is not unique"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vkllm::ir
