// fuse-gdn-decode on Gated DeltaNet layers built as frontends/model/lower.cpp builds them (Qwen3.5;
// Qwen3-Next's fused projections are split by the frontend into the same four): which ops fuse in
// decode and prefill graphs, and that the reference executor gives the same outputs and the same
// conv and recurrent states, bit for bit, before and after (fused_gated_delta_net's reference is the
// unfused composition with its roundings), over decode rows (one sequence each, a new one, slots
// read and written elsewhere) and verify chains. The FileCheck file beside this one covers the text
// form and what must stay apart.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "ir/reference.h"
#include "passes/pass.h"
#include "tests/passes/pass_test_support.h"

namespace vkllm::passes {
namespace {

using ir::Dim;
using ir::DType;
using ir::Graph;
using ir::OpKind;
using ir::ValueId;

Dim c(int64_t v) { return Dim::of(v); }
const Dim kRows = Dim::symbol("tokens");
constexpr int64_t kHidden = 24, kSlots = 8;

struct Shape {
  int64_t key_heads, value_heads, key_dim, value_dim, taps;
  int64_t channels() const { return 2 * key_heads * key_dim + value_heads * value_dim; }
};

// `layers` GDN layers (each with its own states) with residual adds, as lower.cpp's gated_delta_net().
Graph gdn_layers(const Shape& s, int layers) {
  ir::Builder b("layers");
  ValueId x = b.input("x", {DType::F32, {kRows, c(kHidden)}});
  const ValueId src = b.input("state_src", {DType::I32, {kRows}}), dst = b.input("state_dst", {DType::I32, {kRows}});
  const int64_t kd = s.key_heads * s.key_dim, vd = s.value_heads * s.value_dim, ch = s.channels();
  for (int i = 0; i < layers; ++i) {
    const std::string l = "layers." + std::to_string(i) + ".";
    auto linear = [&](const std::string& name, int64_t out, int64_t in, ValueId from) {
      return b.matmul(from, b.weight(l + name, {DType::BF16, {c(out), c(in)}}));
    };
    const ValueId qkv = linear("in_proj_qkv", ch, kHidden, x), z = linear("in_proj_z", vd, kHidden, x);
    const ValueId beta = b.sigmoid(linear("in_proj_b", s.value_heads, kHidden, x));
    const ValueId alpha = linear("in_proj_a", s.value_heads, kHidden, x);
    const ValueId conv_w = b.reshape(b.weight(l + "conv1d.weight", {DType::BF16, {c(ch), c(1), c(s.taps)}}),
                                     {c(ch), c(s.taps)});
    const ValueId conv_state =
        b.state("conv_state." + std::to_string(i), {DType::F32, {c(kSlots), c(s.taps - 1), c(ch)}});
    const ValueId mixed = b.conv1d(qkv, conv_w, conv_state, src, dst, true).first;
    const ValueId q = b.reshape(b.slice(mixed, 1, 0, kd), {kRows, c(s.key_heads), c(s.key_dim)});
    const ValueId k = b.reshape(b.slice(mixed, 1, kd, kd), {kRows, c(s.key_heads), c(s.key_dim)});
    const ValueId v = b.reshape(b.slice(mixed, 1, 2 * kd, vd), {kRows, c(s.value_heads), c(s.value_dim)});
    const ValueId decay_rate =
        b.scale(b.exp(b.cast(b.weight(l + "A_log", {DType::BF16, {c(s.value_heads)}}), DType::F32)), -1.0);
    const ValueId g =
        b.mul(b.softplus(b.add(alpha, b.weight(l + "dt_bias", {DType::BF16, {c(s.value_heads)}}))), decay_rate);
    const ValueId state = b.state("gdn_state." + std::to_string(i),
                                  {DType::F32, {c(kSlots), c(s.value_heads), c(s.key_dim), c(s.value_dim)}});
    ValueId o = b.gated_delta_net(q, k, v, g, beta, state, src, dst, 1.0 / std::sqrt(static_cast<double>(s.key_dim)),
                                  true, 1e-6)
                    .first;
    const ValueId zh = b.reshape(z, {kRows, c(s.value_heads), c(s.value_dim)});
    o = b.mul(b.rms_norm(o, b.weight(l + "norm.weight", {DType::BF16, {c(s.value_dim)}}), 1e-6), b.silu(zh));
    x = b.add(x, linear("out_proj", kHidden, vd, b.reshape(o, {kRows, c(vd)})));
  }
  b.output(x);
  return b.finish();
}

// Weights and states: uniform in [-1, 1), the same for the same name.
ir::HostTensor random_tensor(const std::string& name, const ir::Type& t) {
  std::mt19937_64 rng(std::hash<std::string>{}(name));
  return ir::HostTensor::random(t.dtype, ir::concrete_shape(t.shape, {}), rng);
}

// (src_slot, dst_slot) rows of a step.
struct Step {
  const char* what;
  std::vector<int> src, dst;
};
const std::vector<Step> kSteps = {
    {"one decode row", {2}, {2}},
    {"decode rows, one a new sequence", {1, -2, 5}, {1, 3, 5}},
    {"decode rows into other slots", {0, 1}, {4, 6}},
    {"a verify chain storing every row", {0, -1, -1, -1}, {1, 2, 3, 4}},
};

// Runs `g` on the reference executor for `step`; returns its outputs and then every state.
std::vector<ir::HostTensor> run(const Graph& g, const Step& step) {
  const auto rows = static_cast<int64_t>(step.src.size());
  std::map<std::string, ir::HostTensor> inputs;
  std::mt19937_64 rng(11);
  inputs["x"] = ir::HostTensor::random(DType::F32, {rows, kHidden}, rng);
  for (const auto& [name, slots] : {std::pair{"state_src", step.src}, std::pair{"state_dst", step.dst}}) {
    ir::HostTensor t = ir::HostTensor::zeros(DType::I32, {rows});
    for (int64_t r = 0; r < rows; ++r) t.set(r, slots[static_cast<size_t>(r)]);
    inputs[name] = std::move(t);
  }
  ir::StateMap states;
  for (const ir::Op& op : g.ops)
    if (op.kind == OpKind::State)
      states.emplace(op.attr_str("name"), random_tensor(op.attr_str("name"), g.type(op.results[0])));
  const ir::ReferenceRun out = ir::run_reference(g, {{"tokens", rows}}, inputs, random_tensor, &states);
  std::vector<ir::HostTensor> all = out.outputs;
  for (auto& [name, t] : states) all.push_back(t);
  return all;
}

class GdnFusionTest : public ::testing::TestWithParam<Shape> {};

TEST_P(GdnFusionTest, DecodeLayersFuseAndComputeTheSameBitForBit) {
  const Graph lowered = gdn_layers(GetParam(), 2);
  const Graph fused = run_passes_on(lowered, {"fuse-gdn-decode"}, {{"tokens", 4}});
  std::map<OpKind, int> after = kinds(fused);
  EXPECT_EQ(after[OpKind::FusedGatedDeltaNet], 2);
  for (OpKind gone : {OpKind::GatedDeltaNet, OpKind::Conv1d, OpKind::Slice, OpKind::Sigmoid, OpKind::Softplus,
                      OpKind::Exp, OpKind::Scale, OpKind::Cast, OpKind::Silu, OpKind::RmsNorm, OpKind::Mul})
    EXPECT_EQ(after[gone], 0) << ir::name(gone);
  EXPECT_EQ(after[OpKind::Add], 2);  // the residuals; add(a, dt_bias) went into the fused op
  EXPECT_EQ(after[OpKind::MatMul], kinds(lowered)[OpKind::MatMul]);

  for (const Step& step : kSteps) {
    SCOPED_TRACE(step.what);
    const std::vector<ir::HostTensor> want = run(lowered, step), got = run(fused, step);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].shape, want[i].shape) << "output or state " << i;
      EXPECT_EQ(got[i].bytes, want[i].bytes) << "output or state " << i << " differs";
    }
  }
}

TEST_P(GdnFusionTest, PrefillAndUnboundedRowsStayUnfused) {
  const Graph lowered = gdn_layers(GetParam(), 1);
  for (const SymbolBounds& bounds : {SymbolBounds{{"tokens", 64}}, SymbolBounds{}}) {
    const Graph g = run_passes_on(lowered, {"fuse-gdn-decode"}, bounds);
    EXPECT_EQ(kinds(g)[OpKind::FusedGatedDeltaNet], 0);
    EXPECT_EQ(kinds(g)[OpKind::GatedDeltaNet], 1);
    EXPECT_EQ(g.ops.size(), lowered.ops.size());
  }
}

// Qwen3.5's tiny preset, Qwen3.5-9B's head layout scaled down (2 value heads per key head, conv 4),
// one value head per key head, three per key head, and a conv of two taps.
INSTANTIATE_TEST_SUITE_P(Shapes, GdnFusionTest,
                         ::testing::Values(Shape{2, 4, 16, 16, 4}, Shape{1, 2, 32, 16, 4}, Shape{2, 2, 8, 8, 4},
                                           Shape{1, 3, 8, 4, 4}, Shape{1, 2, 8, 8, 2}),
                         [](const ::testing::TestParamInfo<Shape>& i) {
                           const Shape& s = i.param;
                           return "hk" + std::to_string(s.key_heads) + "_hv" + std::to_string(s.value_heads) + "_dk" +
                                  std::to_string(s.key_dim) + "_dv" + std::to_string(s.value_dim) + "_k" +
                                  std::to_string(s.taps);
                         });

}  // namespace
}  // namespace vkllm::passes
