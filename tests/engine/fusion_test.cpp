// The fusion passes in the engine's pipeline (engine::forward_passes()) on every family's tiny
// model: which ops remain in the decode and prefill graphs, and how many kernel dispatches a decode step makes
// with and without the fusions (printed; passes/README.md quotes them). That the fused graphs
// compute what the unfused ones do is engine_model_test and engine_qwen35_test: they run the
// engine (fusions on) against the reference executor on the unfused lowered graph, logits at
// every step and greedy tokens. split-decode-attention (decode graphs only) is also checked here on
// the reference executor: a decode step over a long context gives the same logits with it and without.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>

#include "codegen/ops/emitter.h"
#include "engine/compile.h"
#include "frontends/model/synth.h"
#include "ir/reference.h"
#include "passes/pass.h"

namespace fs = std::filesystem;
using namespace vkllm;

namespace {

fs::path synth_model(const std::string& family) {
  fs::path d = fs::temp_directory_path() / ("vkllm_fusion_" + family + "_" + std::to_string(::getpid()));
  if (!fs::exists(d / "config.json")) {
    frontends::SynthOptions o;
    o.family = family;
    o.out_dir = d;
    o.seed = 7;
    frontends::synthesize(o);
  }
  return d;
}

std::map<ir::OpKind, int> kinds(const ir::Graph& g) {
  std::map<ir::OpKind, int> count;
  for (const ir::Op& op : g.ops) ++count[op.kind];
  return count;
}

int dispatches(const ir::Graph& g) {
  int n = 0;
  for (const ir::Op& op : g.ops) n += codegen::ops::lowering(op.kind).how == codegen::ops::Lowering::Dispatch;
  return n;
}

class FusionFamilyTest : public ::testing::TestWithParam<std::string> {};

// A family's tiny model's forward graph (with logits) as lowered and after the engine's pipeline.
struct LoweredAndFused {
  ir::Graph lowered, fused;
};
LoweredAndFused forward_graph(const std::string& family, bool decode) {
  engine::ModelOptions options;
  options.max_context = 64;
  options.max_sequences = 1;
  engine::OpenedModel m = engine::open_model(synth_model(family), options);
  ir::Graph lowered = engine::lower_forward_graph(*m.source, m.spec, engine::cache_layout_for(options), decode, true);
  ir::Graph fused = engine::run_forward_passes(lowered, engine::forward_max_symbols(options, decode));
  return {std::move(lowered), std::move(fused)};
}

TEST_P(FusionFamilyTest, DecodeGraphFoldsResidualsNormsAndActivationsIntoProjections) {
  const auto [lowered, fused] = forward_graph(GetParam(), true);
  ir::Module unfused{{lowered}};
  passes::run_passes(unfused, {"dedupe-weights", "dce"});

  std::map<ir::OpKind, int> before = kinds(unfused.graphs[0]), after = kinds(fused);
  // split-decode-attention: each paged_attention of the decode graph is split (a partial and a
  // combine, which fuse-attention-combine makes one paged_attention_split), except over a window of
  // at most one run of keys (mistral's and gemma's tiny sliding windows).
  const int split = after[ir::OpKind::PagedAttentionSplit];
  // fuse-glu-pair and merge-sibling-matmuls: projections of one x share a multi_matmul, one dispatch
  // for its n weights (gate/up with their activation, q/k/v, a GDN layer's input projections).
  int multi_weights = 0;
  for (const ir::Op& op : fused.ops)
    if (op.kind == ir::OpKind::MultiMatMul)
      multi_weights += static_cast<int>(op.inputs.size()) - 1 - (op.attr_str("prologue", "none") == "rms_norm");
  const int merged = multi_weights - after[ir::OpKind::MultiMatMul];
  std::printf("%s decode step: %d dispatches unfused, %d fused (%d fused_matmul, %d multi_matmul of %d weights, "
              "%d split attention)\n",
              GetParam().c_str(), dispatches(unfused.graphs[0]), dispatches(fused), after[ir::OpKind::FusedMatMul],
              after[ir::OpKind::MultiMatMul], multi_weights, split);
  EXPECT_EQ(after[ir::OpKind::FusedMatMul] + after[ir::OpKind::MatMul] + multi_weights,
            before[ir::OpKind::MatMul]);  // every matmul is still there, fused or not
  // At least every layer's gate/up pair with its activation (q/k/v too, unless biases fold into them:
  // a projection with a residual/bias epilogue stays out).
  EXPECT_GE(after[ir::OpKind::MultiMatMul], before[ir::OpKind::PagedAttention] + before[ir::OpKind::GatedDeltaNet]);
  EXPECT_EQ(after[ir::OpKind::PagedAttentionPartial], 0);
  EXPECT_EQ(after[ir::OpKind::AttentionCombine], 0);
  EXPECT_EQ(after[ir::OpKind::PagedAttention] + split, before[ir::OpKind::PagedAttention]);
  for (const ir::Op& op : fused.ops)
    if (op.kind == ir::OpKind::PagedAttention) {
      EXPECT_GT(op.attr_int("window", 0), 0);
      EXPECT_LE(op.attr_int("window", 0), 32);
    }
  // Residual adds after o_proj and down_proj become matmul epilogues — except in Gemma, whose
  // post-attention / post-MLP norms sit between projection and residual add (Qwen2's q/k/v biases
  // fold too). Decode graphs also take the prologue fusions: every norm read only by projections
  // (the pre-attention and pre-MLP norms) and every gated activation (read only by down_proj) goes.
  const int layers = before[ir::OpKind::PagedAttention] + before[ir::OpKind::GatedDeltaNet];
  const bool sandwich_norms = GetParam().rfind("gemma", 0) == 0;
  const int folded_adds = sandwich_norms ? 0 : layers * (GetParam() == "qwen2" ? 5 : 2);
  // A Gated DeltaNet layer's add(a, dt_bias) and gated norm go into its fused_gated_delta_net (below).
  const int gdn_layers = after[ir::OpKind::FusedGatedDeltaNet];
  EXPECT_EQ(after[ir::OpKind::Add], before[ir::OpKind::Add] - folded_adds - gdn_layers);
  EXPECT_EQ(after[ir::OpKind::SwiGlu] + after[ir::OpKind::GeGlu], 0);
  EXPECT_GE(before[ir::OpKind::RmsNorm] - after[ir::OpKind::RmsNorm] - gdn_layers, 2 * layers);
  const int folded_prologues = before[ir::OpKind::RmsNorm] - after[ir::OpKind::RmsNorm] - gdn_layers +
                               before[ir::OpKind::SwiGlu] + before[ir::OpKind::GeGlu];
  // fuse-kv-write: each attention layer's two cache writes and its keys' rope are one kv_write_rope;
  // fuse-attention-rope: the query's rope of a split attention goes into its kernel (windows of one
  // run stay whole, their query's rope a dispatch of its own); fuse-attention-combine: the split's
  // combine runs in its last workgroups, so a split attention is one dispatch, as a whole one.
  const int attention_layers = before[ir::OpKind::PagedAttention];
  EXPECT_EQ(after[ir::OpKind::KvWriteRope], attention_layers);
  EXPECT_EQ(after[ir::OpKind::KvWrite], 0);
  EXPECT_EQ(after[ir::OpKind::Rope], attention_layers - split);
  for (const ir::Op& op : fused.ops)
    if (op.kind == ir::OpKind::PagedAttentionSplit) {
      EXPECT_TRUE(op.has("theta"));
    }
  const int folded_attention = before[ir::OpKind::KvWrite] - after[ir::OpKind::KvWriteRope] +
                               before[ir::OpKind::Rope] - after[ir::OpKind::Rope];
  EXPECT_EQ(folded_attention, attention_layers * 2 + split);
  std::printf("%s decode step: %d dispatches fewer around attention (%d kv_write_rope, %d split attention "
              "with its query rope and combine inside)\n",
              GetParam().c_str(), folded_attention, after[ir::OpKind::KvWriteRope], split);
  // fuse-gdn-decode: each Gated DeltaNet layer's conv1d, three slices, sigmoid, cast, exp, scale, add,
  // softplus, mul, gated_delta_net, silu, rms_norm and mul (15 dispatches) are one fused_gated_delta_net.
  EXPECT_EQ(after[ir::OpKind::FusedGatedDeltaNet], before[ir::OpKind::GatedDeltaNet]);
  EXPECT_EQ(after[ir::OpKind::GatedDeltaNet] + after[ir::OpKind::Conv1d], 0);
  const int folded_gdn = 14 * gdn_layers;
  EXPECT_EQ(dispatches(fused),
            dispatches(unfused.graphs[0]) - folded_adds - folded_prologues - folded_attention - folded_gdn - merged);
  // A norm that stays has a use other than a projection's x (q/k norms before rope, Gemma's
  // post-norms).
  for (const ir::Op& op : fused.ops) {
    if (op.kind != ir::OpKind::RmsNorm) continue;
    bool other_use = false;
    for (const ir::Op& user : fused.ops)
      for (size_t a = 0; a < user.inputs.size(); ++a)
        if (user.inputs[a] == op.results[0])
          other_use |= a != 0 || (user.kind != ir::OpKind::MatMul && user.kind != ir::OpKind::FusedMatMul &&
                                  user.kind != ir::OpKind::MultiMatMul);
    for (ir::ValueId out : fused.outputs) other_use |= out == op.results[0];
    EXPECT_TRUE(other_use) << "an rms_norm read only by projections was left unfused";
  }
}

// Prefill graphs (rows bounded by the prefill chunk) keep their norms and activations: the tiled
// kernels take no prologue.
TEST_P(FusionFamilyTest, PrefillGraphKeepsNormsAndActivations) {
  const auto [lowered, fused] = forward_graph(GetParam(), false);
  std::map<ir::OpKind, int> before = kinds(lowered), after = kinds(fused);
  EXPECT_EQ(after[ir::OpKind::RmsNorm], before[ir::OpKind::RmsNorm]);
  EXPECT_EQ(after[ir::OpKind::SwiGlu] + after[ir::OpKind::GeGlu], before[ir::OpKind::SwiGlu] + before[ir::OpKind::GeGlu]);
  EXPECT_EQ(after[ir::OpKind::MultiMatMul], 0);
  // fuse-kv-write serves prefill too: one kv_write_rope per attention layer (keys' rope folded);
  // the query's rope stays (paged_attention is not split).
  EXPECT_EQ(after[ir::OpKind::KvWriteRope], before[ir::OpKind::PagedAttention]);
  EXPECT_EQ(after[ir::OpKind::KvWrite], 0);
  EXPECT_EQ(after[ir::OpKind::Rope], before[ir::OpKind::Rope] / 2);
  for (const ir::Op& op : fused.ops)
    if (op.kind == ir::OpKind::FusedMatMul) {
      EXPECT_EQ(op.attr_str("prologue", "none"), "none");
    }
}

INSTANTIATE_TEST_SUITE_P(Families, FusionFamilyTest,
                         ::testing::Values("llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "qwen35",
                                           "qwen3_next"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// One decode step of sequence 0 at position `pos` (its earlier keys, and any recurrent state, are
// the random contents of the states) on the reference executor; returns the logits (and, given
// `states_after`, every state after the step).
ir::HostTensor decode_logits(const ir::Graph& g, const frontends::ModelSource& source,
                             const frontends::CacheLayout& layout, int pos, ir::StateMap* states_after = nullptr) {
  std::mt19937_64 rng(5);
  ir::StateMap states;
  for (const ir::Op& op : g.ops)
    if (op.kind == ir::OpKind::State) {
      const ir::Type& t = g.type(op.results[0]);
      const std::vector<int64_t> shape = ir::concrete_shape(t.shape, {});
      const bool counters = op.attr_str("name").rfind("attention_split_counters", 0) == 0;  // zeros, as the model's
      states.emplace(op.attr_str("name"),
                     counters ? ir::HostTensor::zeros(t.dtype, shape) : ir::HostTensor::random(t.dtype, shape, rng));
    }
  const ir::SymbolBindings symbols{{frontends::kRowsSymbol, 1}, {frontends::kOutRowsSymbol, 1}};
  auto filled = [&](const std::string& name, int value) {
    const ir::Type& t = g.type(g.find(name));
    ir::HostTensor h = ir::HostTensor::zeros(t.dtype, ir::concrete_shape(t.shape, symbols));
    for (int64_t i = 0; i < h.numel(); ++i) h.set(i, value);
    return h;
  };
  std::map<std::string, ir::HostTensor> inputs;
  for (ir::ValueId v : g.inputs) inputs[g.value(v).name] = filled(g.value(v).name, 0);  // row 0, sequence 0, slot 0
  inputs["tokens"] = filled("tokens", 3);
  inputs["pos"] = filled("pos", pos);
  inputs["slots"] = filled("slots", pos);  // blocks 0, 1, ... in order: slot = position
  ir::HostTensor& table = inputs["block_table"];
  for (int64_t b = 0; b < layout.max_blocks_per_seq; ++b) table.set(b, static_cast<double>(b));
  inputs["sample_history"] = filled("sample_history", -1);
  auto weights = [&](const std::string& name, const ir::Type&) { return source.tensor(name); };
  const ir::ReferenceRun run = ir::run_reference(g, symbols, inputs, weights, &states);
  if (states_after) *states_after = states;
  for (size_t i = 0; i < g.outputs.size(); ++i)
    if (g.value(g.outputs[i]).name == "logits") return run.outputs[i];
  throw std::logic_error("the graph returns no logits");
}

class SplitDecodeAttentionTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SplitDecodeAttentionTest, DecodeLogitsAreTheUnsplitGraphs) {
  engine::ModelOptions options;
  options.max_context = 256;  // 8 splits of up to 32 keys; position 150 fills 5, the last one partly
  options.max_sequences = 1;
  engine::OpenedModel m = engine::open_model(synth_model(GetParam()), options);
  const frontends::CacheLayout layout = engine::cache_layout_for(options);
  const ir::Graph lowered = engine::lower_forward_graph(*m.source, m.spec, layout, true, true);
  const ir::Graph split = engine::run_forward_passes(lowered, engine::forward_max_symbols(options, true));
  const ir::Graph whole = engine::run_forward_passes(lowered, {});  // no row bound: nothing splits
  std::map<ir::OpKind, int> k = kinds(split);
  ASSERT_GT(k[ir::OpKind::PagedAttentionSplit], 0);
  EXPECT_EQ(k[ir::OpKind::PagedAttention], 0);
  EXPECT_EQ(kinds(whole)[ir::OpKind::PagedAttentionSplit], 0);
  for (const ir::Op& op : split.ops)
    if (op.kind == ir::OpKind::PagedAttentionSplit) {
      EXPECT_EQ(op.attr_int("splits"), 8);
    }

  const ir::HostTensor got = decode_logits(split, *m.source, layout, 150);
  const ir::HostTensor want = decode_logits(whole, *m.source, layout, 150);
  ASSERT_EQ(got.numel(), want.numel());
  double scale = 0.0, error = 0.0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    scale = std::max(scale, std::fabs(want.get(i)));
    error = std::max(error, std::fabs(got.get(i) - want.get(i)));
  }
  std::printf("%s: logits differ by %.3g (max |logit| %.3g)\n", GetParam().c_str(), error, scale);
  EXPECT_GT(scale, 0.0);
  EXPECT_LE(error, 1e-5 * scale);  // the partials are rounded to f32; nothing else differs
}

INSTANTIATE_TEST_SUITE_P(Families, SplitDecodeAttentionTest, ::testing::Values("llama", "qwen35"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// fuse-gdn-decode in the engine's pipeline: a decode step of the tiny Qwen3.5 and Qwen3-Next models
// (Gated DeltaNet and attention layers) gives the same logits and leaves the same conv and
// recurrent states, bit for bit, on the reference executor with the fusion as without it (the rest
// of the pipeline, split attention's rounding included, the same on both sides). The kernel against
// the unfused graph on the device: engine_qwen35_test and engine_qwen3_next_test.
class GdnDecodeFusionTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GdnDecodeFusionTest, DecodeStepIsTheUnfusedOnesBitForBit) {
  engine::ModelOptions options;
  options.max_context = 64;
  options.max_sequences = 1;
  engine::OpenedModel m = engine::open_model(synth_model(GetParam()), options);
  const frontends::CacheLayout layout = engine::cache_layout_for(options);
  const ir::Graph lowered = engine::lower_forward_graph(*m.source, m.spec, layout, true, true);
  const ir::Graph fused = engine::run_forward_passes(lowered, engine::forward_max_symbols(options, true));
  std::vector<std::string> without;
  for (const std::string& pass : engine::forward_passes())
    if (pass != "fuse-gdn-decode") without.push_back(pass);
  ir::Module unfused{{lowered}};
  passes::run_passes(unfused, without, {}, engine::forward_max_symbols(options, true));
  ASSERT_GT(kinds(fused)[ir::OpKind::FusedGatedDeltaNet], 0);
  EXPECT_EQ(kinds(fused)[ir::OpKind::FusedGatedDeltaNet], kinds(lowered)[ir::OpKind::GatedDeltaNet]);
  EXPECT_EQ(kinds(unfused.graphs[0])[ir::OpKind::FusedGatedDeltaNet], 0);

  ir::StateMap fused_states, unfused_states;
  const ir::HostTensor got = decode_logits(fused, *m.source, layout, 9, &fused_states);
  const ir::HostTensor want = decode_logits(unfused.graphs[0], *m.source, layout, 9, &unfused_states);
  EXPECT_EQ(got.bytes, want.bytes) << "logits differ";
  ASSERT_EQ(fused_states.size(), unfused_states.size());
  int recurrent = 0;
  for (const auto& [name, state] : unfused_states) {
    ASSERT_TRUE(fused_states.count(name)) << name;
    EXPECT_EQ(fused_states.at(name).bytes, state.bytes) << "state " << name << " differs";
    recurrent += name.rfind("gdn_state.", 0) == 0 || name.rfind("conv_state.", 0) == 0;
  }
  EXPECT_EQ(recurrent, 2 * kinds(lowered)[ir::OpKind::GatedDeltaNet]);
}

INSTANTIATE_TEST_SUITE_P(Families, GdnDecodeFusionTest, ::testing::Values("qwen35", "qwen3_next"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
