// Cases for fused_gated_delta_net (codegen/ops/fused_gated_delta_net.cpp) against the reference,
// which is the unfused composition (conv1d, sigmoid, gates, gated_delta_net, rms_norm · silu). Both
// states are graph inputs written in place and compared whole, so slots no row names must come back
// unchanged; the conv windows are copies, so the conv state must match bit for bit. Shapes: the
// qwen35 tiny preset's, Qwen3.5's head dims (128: two parts of the state rows per column) and its
// 9B layer (16 key heads, 32 value heads), a narrow
// group with four parts, three value heads per key head (a workgroup wider than its columns), a
// conv of two taps. Slot patterns: decode (one-row chains, a new sequence, src = dst), decode into
// other slots (src != dst), verify (one chain storing every row) and two prefills in one step (a
// store mid-chain), over rows 1..4 and 9 with the rows symbolic (bounded as in decode graphs, and
// unbounded) or constant; with and without subgroup arithmetic.
#include <cmath>

#include "tests/ops/op_harness.h"
#include "tests/ops/state_slots.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;


struct FusedCase {
  const char* name;
  int64_t key_heads, value_heads, key_dim, value_dim, taps;
  Slots slots;
  std::vector<int64_t> rows;  // one run per entry; a single negative entry -T: T rows as a constant dim
  bool bounded = true;        // symbolic rows get the bound 16 (kMaxDecodeRows), as in decode graphs
  bool l2norm = true;
  double offset = 0.0;
  DType weights = DType::BF16;  // conv_w, A_log, dt_bias, norm_w
  bool subgroup_arithmetic = true;
};

OpCase fused_case(const FusedCase& k) {
  OpCase c;
  c.name = k.name;
  const bool constant_rows = k.rows.size() == 1 && k.rows[0] < 0;
  const Dim rows = constant_rows ? Dim::of(-k.rows[0]) : Dim::symbol("seq");
  const int64_t channels = 2 * k.key_heads * k.key_dim + k.value_heads * k.value_dim;
  const Dim hv = Dim::of(k.value_heads), dv = Dim::of(k.value_dim);
  c.graph = make_graph(c.name, [&](ir::Builder& b) {
    ir::Attrs attrs{{"scale", 1.0 / std::sqrt(static_cast<double>(k.key_dim))},
                    {"qk_l2norm", k.l2norm},
                    {"l2norm_eps", 1e-6},
                    {"eps", 1e-6}};
    if (k.offset != 0.0) attrs["offset"] = k.offset;
    const std::vector<ir::ValueId> r = b.emit(
        ir::OpKind::FusedGatedDeltaNet,
        {b.input("qkv", {DType::F32, {rows, Dim::of(channels)}}), b.input("z", {DType::F32, {rows, hv, dv}}),
         b.input("a", {DType::F32, {rows, hv}}), b.input("b", {DType::F32, {rows, hv}}),
         b.weight("conv_w", {k.weights, {Dim::of(channels), Dim::of(k.taps)}}),
         b.input("conv_state", {DType::F32, {Dim::of(kStateSlots), Dim::of(k.taps - 1), Dim::of(channels)}}),
         b.weight("A_log", {k.weights, {hv}}), b.weight("dt_bias", {k.weights, {hv}}),
         b.weight("norm_w", {k.weights, {dv}}),
         b.input("state", {DType::F32, {Dim::of(kStateSlots), hv, Dim::of(k.key_dim), dv}}),
         b.input("src", {DType::I32, {rows}}), b.input("dst", {DType::I32, {rows}})},
        std::move(attrs));
    for (ir::ValueId v : r) b.output(v);
  });
  if (!constant_rows) {
    c.runs.clear();
    for (int64_t t : k.rows) c.runs.push_back({{"seq", t}});
    if (k.bounded) c.max_symbols = {{"seq", 16}};
  }
  c.inputs = {{"src", slots_of(k.slots, false)}, {"dst", slots_of(k.slots, true)}};
  c.exact_outputs = {c.graph.value(c.graph.outputs[1]).name};  // conv windows are copies of qkv and the state
  c.subgroup_arithmetic = k.subgroup_arithmetic;
  c.tolerance = 2e-5;
  return c;
}

std::vector<OpCase> fused_gated_delta_net_cases() {
  const std::vector<FusedCase> fused = {
      // The qwen35 tiny preset: 2 key heads, 4 value heads of 16, conv kernel 4.
      {"fused_gdn_tiny_decode", 2, 4, 16, 16, 4, Slots::Decode, {1, 4, 2, 3}},
      {"fused_gdn_tiny_decode_elsewhere", 2, 4, 16, 16, 4, Slots::DecodeElsewhere, {3, 1}},
      {"fused_gdn_tiny_verify", 2, 4, 16, 16, 4, Slots::Verify, {4, 2}},
      {"fused_gdn_tiny_two_prefills", 2, 4, 16, 16, 4, Slots::TwoPrefills, {9}, false},
      {"fused_gdn_tiny_constant_rows", 2, 4, 16, 16, 4, Slots::Decode, {-3}},
      {"fused_gdn_tiny_shared_reductions", 2, 4, 16, 16, 4, Slots::Decode, {4},
       true, true, 0.0, DType::BF16, false},
      {"fused_gdn_no_l2norm_offset_f32_weights", 1, 2, 16, 8, 4, Slots::Verify, {3},
       true, false, 1.0, DType::F32},
      // Qwen3.5's head dims (Dk = Dv = 128; 2 value heads per key head as in the 9B): two parts.
      {"fused_gdn_d128", 1, 2, 128, 128, 4, Slots::Decode, {2}},
      // Qwen3.5-9B's whole layer: 16 key heads, 32 value heads, 8192 conv channels.
      {"fused_gdn_qwen35_9b", 16, 32, 128, 128, 4, Slots::Decode, {1, 2}},
      // Narrow group, long key heads: four parts per column.
      {"fused_gdn_four_parts", 1, 2, 64, 16, 4, Slots::Verify, {3}},
      {"fused_gdn_four_parts_shared_reductions", 1, 2, 64, 16, 4, Slots::DecodeElsewhere, {3},
       true, true, 0.0, DType::BF16, false},
      // Three value heads per key head: 48 columns in a workgroup of 64.
      {"fused_gdn_group_of_three", 2, 6, 16, 16, 4, Slots::TwoPrefills, {4}},
      {"fused_gdn_two_taps", 1, 1, 8, 8, 2, Slots::Decode, {1, 2}},
  };
  std::vector<OpCase> cases;
  for (const FusedCase& k : fused) cases.push_back(fused_case(k));
  return cases;
}

const int kRegistered = add_cases(fused_gated_delta_net_cases());

}  // namespace
}  // namespace vkllm::ops_test
