// Tiny synthesized models of every family, run end to end on the Vulkan device and compared with the
// reference executor running the same lowered graph: logits at every prefill position and at every
// decode step, greedy tokens, chunked prefill, sliding windows, context overflow.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/generate.h"
#include "engine/model.h"
#include "tests/engine/reference_runner.h"

namespace fs = std::filesystem;
using namespace vkllm;
using engine_test::ReferenceModel;
using engine_test::ReferenceWeights;
using engine_test::expect_greedy_generation_matches;
using engine_test::expect_prefill_and_decode_match;
using engine_test::prompt_of;
using engine_test::relative_error;

namespace {

fs::path synth_model(const std::string& family) { return engine_test::synth_tiny_model(family); }

engine::ModelOptions small_options() { return engine_test::tiny_model_options({.max_context = 64, .prefill_chunk = 32}); }

class FamilyTest : public ::testing::TestWithParam<std::string> {};

constexpr double kTolerance = 2e-3;  // f16 KV cache on both sides; f32 vs f64 accumulation

TEST_P(FamilyTest, PrefillAndDecodeLogitsMatchTheReference) {
  auto model = engine::Model::load(synth_model(GetParam()), small_options());
  ReferenceModel ref(*model, ReferenceWeights::Checkpoint);
  // 20 prompt tokens: longer than the tiny presets' sliding windows (8), over several cache blocks;
  // then 16 decode steps.
  expect_prefill_and_decode_match(*model, ref, prompt_of(20, static_cast<int>(model->spec().vocab_size)), 16, kTolerance);
}

TEST_P(FamilyTest, GreedyGenerationMatchesTheReference) {
  auto model = engine::Model::load(synth_model(GetParam()), small_options());
  ReferenceModel ref(*model, ReferenceWeights::Checkpoint);
  expect_greedy_generation_matches(*model, ref, prompt_of(7, static_cast<int>(model->spec().vocab_size)), 32);
}

TEST_P(FamilyTest, ChunkedPrefillEqualsOnePrefill) {
  engine::ModelOptions chunked = small_options();
  chunked.prefill_chunk = 6;  // 20 tokens: chunks of 6, 6, 6, 2
  auto a = engine::Model::load(synth_model(GetParam()), small_options());
  auto b = engine::Model::load(synth_model(GetParam()), chunked);
  std::vector<int32_t> prompt = prompt_of(20, static_cast<int>(a->spec().vocab_size));
  ir::HostTensor one = engine::prompt_logits(*a, prompt, true), many = engine::prompt_logits(*b, prompt, true);
  ASSERT_EQ(many.shape, one.shape);
  // Chunks of 6 rows and one of 20 run different matmul kernels (row kernels vs tiled), which sum in
  // different orders; an f32 difference can flip an f16 KV-cache rounding: 1e-4, as in qwen35_test.
  EXPECT_LT(relative_error(many, 0, one, 0, 20), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyTest,
                         ::testing::Values("llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3"),
                         [](const auto& info) { return info.param; });

TEST(Model, ContextOverflowIsAClearError) {
  auto model = engine::Model::load(synth_model("llama"), small_options());
  std::vector<int32_t> prompt = prompt_of(60, 500);
  engine::GenerateOptions opts;
  opts.max_tokens = 10;
  try {
    engine::generate(*model, prompt, opts);
    FAIL() << "expected ContextOverflow";
  } catch (const engine::ContextOverflow& e) {
    EXPECT_NE(std::string(e.what()).find("60 tokens plus 10 to generate"), std::string::npos) << e.what();
  }
  // The model keeps working after the error.
  EXPECT_EQ(engine::generate(*model, prompt_of(5, 500), opts).tokens.size(), 10u);
}

TEST(Model, BadCheckpointsAreClearErrors) {
  const fs::path d = engine_test::scratch_dir() / "bad";
  fs::remove_all(d);
  fs::copy(synth_model("qwen3"), d);
  nlohmann::json config = frontends::read_json_file(d / "config.json");
  config["num_hidden_layers"] = 3;  // the weights hold 2 layers
  std::ofstream(d / "config.json") << config.dump();
  try {
    engine::Model::load(d, small_options());
    FAIL();
  } catch (const frontends::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor 'model.layers.2."), std::string::npos) << e.what();
  }
  config["num_hidden_layers"] = 1;
  std::ofstream(d / "config.json") << config.dump();
  try {
    engine::Model::load(d, small_options());
    FAIL();
  } catch (const frontends::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("unexpected tensor 'model.layers.1."), std::string::npos) << e.what();
  }
  fs::remove_all(d);
}

}  // namespace
