// The fusion passes in the engine's pipeline (engine::forward_passes()) on every family's tiny
// model: which ops remain in the decode graph, and how many kernel dispatches a decode step makes
// with and without the fusions (printed; passes/README.md quotes them). That the fused graphs
// compute what the unfused ones do is engine_model_test and engine_qwen35_test: they run the
// engine (fusions on) against the reference executor on the unfused lowered graph, logits at
// every step and greedy tokens.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "codegen/ops/emitter.h"
#include "engine/compile.h"
#include "frontends/model/synth.h"
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

TEST_P(FusionFamilyTest, DecodeGraphFoldsResidualAddsIntoProjections) {
  engine::ModelOptions options;
  options.max_context = 64;
  options.max_sequences = 1;
  engine::OpenedModel m = engine::open_model(synth_model(GetParam()), options);
  const frontends::CacheLayout layout = engine::cache_layout_for(options);
  const ir::Graph lowered = engine::lower_forward_graph(*m.source, m.spec, layout, true, true);
  ir::Module unfused{{lowered}};
  passes::run_passes(unfused, {"dedupe-weights", "dce"});
  const ir::Graph fused = engine::run_forward_passes(lowered);

  std::map<ir::OpKind, int> before = kinds(unfused.graphs[0]), after = kinds(fused);
  std::printf("%s decode step: %d dispatches unfused, %d fused (%d fused_matmul)\n", GetParam().c_str(),
              dispatches(unfused.graphs[0]), dispatches(fused), after[ir::OpKind::FusedMatMul]);
  EXPECT_EQ(after[ir::OpKind::FusedMatMul] + after[ir::OpKind::MatMul],
            before[ir::OpKind::MatMul]);  // every matmul is still there, fused or not
  // Two residual adds per layer (after o_proj and down_proj) become matmul epilogues — except in
  // Gemma, whose post-attention / post-MLP norms sit between projection and residual add. The
  // prologue fusions are not in the pipeline (engine/compile.cpp says why), so norms and gated
  // activations stay.
  const bool sandwich_norms = GetParam().rfind("gemma", 0) == 0;
  if (sandwich_norms) {
    EXPECT_EQ(dispatches(fused), dispatches(unfused.graphs[0]));
    EXPECT_EQ(after[ir::OpKind::FusedMatMul], 0);
  } else {
    // Qwen2's q/k/v biases are adds after projections too.
    const int layers = before[ir::OpKind::PagedAttention] + before[ir::OpKind::GatedDeltaNet];
    const int folded = layers * (GetParam() == "qwen2" ? 5 : 2);
    EXPECT_EQ(dispatches(fused), dispatches(unfused.graphs[0]) - folded);
    EXPECT_EQ(after[ir::OpKind::Add], before[ir::OpKind::Add] - folded);
  }
  EXPECT_EQ(after[ir::OpKind::RmsNorm], before[ir::OpKind::RmsNorm]);
  EXPECT_EQ(after[ir::OpKind::SwiGlu], before[ir::OpKind::SwiGlu]);
  for (const ir::Op& op : fused.ops)
    if (op.kind == ir::OpKind::FusedMatMul) {
      EXPECT_EQ(op.attr_str("prologue", "none"), "none");
    }
}

INSTANTIATE_TEST_SUITE_P(Families, FusionFamilyTest,
                         ::testing::Values("llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "qwen35"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
