// Compile → write → load → generate on the device, against the same model loaded from its folder:
// tokens and logits identical (the same kernels and weight bytes run), for a dense family, qwen35
// (Gated DeltaNet state) and a quantized compile; loading an artifact runs no codegen; every graph
// variant (batch sizes, verify depths) is stored and the loaded model picks among them; a device
// lacking a feature the artifact's target assumed is an error naming it.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "engine/artifact_source.h"
#include "engine/compile.h"
#include "engine/generate.h"
#include "frontends/model/synth.h"
#include "runtime/device.h"
#include "runtime/model_buffers.h"

namespace vkllm {
namespace {

namespace fs = std::filesystem;

fs::path scratch() {
  const fs::path d = fs::temp_directory_path() / ("vkllm_engine_artifact_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

fs::path synth_model(const std::string& family) {
  const fs::path d = scratch() / family;
  if (!fs::exists(d / "config.json")) {
    frontends::SynthOptions o;
    o.family = family;
    o.out_dir = d;
    o.seed = 11;
    frontends::synthesize(o);
  }
  return d;
}

engine::ModelOptions small_options(const std::string& quant = "") {
  engine::ModelOptions o;
  o.max_context = 48;
  o.block_size = 4;
  o.max_sequences = 1;
  o.max_decode_rows = 1;
  o.prefill_chunk = 16;
  o.weight_quant = quant;
  return o;
}

std::vector<int32_t> prompt_of(int n, int vocab) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) p[static_cast<size_t>(i)] = static_cast<int32_t>((i * 53 + 7) % (vocab - 8) + 1);
  return p;
}

// Compiles `model` with `options` for `caps` and writes it to `out`.
void compile_to(const fs::path& model, const fs::path& out, const engine::ModelOptions& options,
                const codegen::TargetCaps& caps) {
  engine::OpenedModel m = engine::open_model(model, options);
  const engine::CompiledModel c = engine::compile_model(*m.source, m.spec, options, caps);
  engine::write_model_artifact(out, model, *m.source, c);
}

std::vector<uint8_t> bytes_of(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), {});
}

class EngineArtifact : public ::testing::TestWithParam<std::pair<std::string, std::string>> {
 protected:
  static void TearDownTestSuite() { fs::remove_all(scratch()); }
};

TEST_P(EngineArtifact, GeneratesWhatTheFolderGenerates) {
  const auto& [family, quant] = GetParam();
  const fs::path dir = synth_model(family);
  const engine::ModelOptions options = small_options(quant);
  auto direct = engine::Model::load(dir, options);
  const int vocab = static_cast<int>(direct->spec().vocab_size);
  const std::vector<int32_t> prompt = prompt_of(21, vocab);  // two prefill chunks
  engine::GenerateOptions g;
  g.max_tokens = 6;
  const engine::Generation want = engine::generate(*direct, prompt, g);
  const ir::HostTensor want_logits = engine::prompt_logits(*direct, prompt, true);

  const fs::path vkm = scratch() / fmt::format("{}{}.vkm", family, quant);
  compile_to(dir, vkm, options, direct->device().target_caps());
  const codegen::TargetCaps caps = direct->device().target_caps();
  direct.reset();

  // Loading the artifact must not compile a single kernel: an empty kernel cache stays empty.
  const fs::path cache = scratch() / fmt::format("cache_{}{}", family, quant);
  fs::create_directories(cache);
  const char* old_cache = std::getenv("VKLLM_CACHE_DIR");
  const std::string saved = old_cache ? old_cache : "";
  ::setenv("VKLLM_CACHE_DIR", cache.c_str(), 1);
  engine::ModelOptions other;  // the artifact's compiled options win over these
  other.max_context = 4096;
  auto loaded = engine::Model::load(vkm, other);
  EXPECT_EQ(loaded->cache_layout().max_context(), 48);
  EXPECT_EQ(loaded->options().prefill_chunk, 16);
  const engine::Generation got = engine::generate(*loaded, prompt, g);
  const ir::HostTensor got_logits = engine::prompt_logits(*loaded, prompt, true);
  EXPECT_TRUE(fs::is_empty(cache)) << "loading an artifact compiled kernels";
  // Every weight went from the mapping to the device without a HostTensor copy.
  EXPECT_EQ(loaded->buffers().weight_uploads().copied, 0);
  EXPECT_GT(loaded->buffers().weight_uploads().mapped, 0);
  if (old_cache) ::setenv("VKLLM_CACHE_DIR", saved.c_str(), 1);
  else ::unsetenv("VKLLM_CACHE_DIR");

  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_EQ(got.logprobs, want.logprobs);
  ASSERT_EQ(got_logits.bytes.size(), want_logits.bytes.size());
  EXPECT_EQ(std::memcmp(got_logits.bytes.data(), want_logits.bytes.data(), got_logits.bytes.size()), 0)
      << "the same kernels on the same weights must give the same bits";

  // The stored tokenizer and chat template are the folder's.
  EXPECT_EQ(engine::load_model_tokenizer(vkm).encode("hello world", true),
            engine::load_model_tokenizer(dir).encode("hello world", true));
  const nlohmann::ordered_json request = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"add_generation_prompt", true}};
  EXPECT_EQ(engine::load_model_chat_template(vkm).render(request), engine::load_model_chat_template(dir).render(request));

  // Deterministic: compiling again gives the same bytes.
  const fs::path again = scratch() / fmt::format("{}{}_again.vkm", family, quant);
  compile_to(dir, again, options, caps);
  EXPECT_TRUE(bytes_of(again) == bytes_of(vkm));
}

INSTANTIATE_TEST_SUITE_P(Families, EngineArtifact,
                         ::testing::Values(std::pair<std::string, std::string>{"llama", ""},
                                           std::pair<std::string, std::string>{"qwen35", ""},
                                           std::pair<std::string, std::string>{"qwen3", "q8"}),
                         [](const auto& info) { return info.param.first + (info.param.second.empty() ? "" : "_" + info.param.second); });

// Every decode batch size and verify depth is compiled into the artifact, deterministically, kernels
// shared across graphs stored once; the loaded model runs the 1-row graph for one sequence.
TEST(EngineArtifactVariants, EveryGraphIsStoredAndTheSmallestThatFitsRuns) {
  const fs::path dir = synth_model("llama");
  engine::ModelOptions options = small_options();
  options.max_sequences = 2;
  options.max_decode_rows = 2;
  options.spec_depths = {3};
  runtime::Instance instance;
  const runtime::DeviceChoice choice = runtime::choose_device(instance.devices(), runtime::effective_device_selector(""));
  const codegen::TargetCaps caps = runtime::target_caps(instance.devices()[choice.index]);
  const fs::path vkm = scratch() / "variants.vkm", again = scratch() / "variants_again.vkm";
  compile_to(dir, vkm, options, caps);
  compile_to(dir, again, options, caps);
  EXPECT_TRUE(bytes_of(again) == bytes_of(vkm));

  const artifact::Artifact a = artifact::Artifact::open(vkm);
  std::vector<std::string> stored, expected;
  for (const codegen::CompiledGraph& g : a.contents().graphs) stored.push_back(g.graph.name);
  for (const engine::ForwardGraph& g : engine::forward_graphs(options)) expected.push_back(engine::forward_graph_name(g));
  EXPECT_EQ(stored, expected);
  EXPECT_EQ(stored, (std::vector<std::string>{"prefill", "prefill_logits", "decode_b1", "decode_logits_b1", "decode_b2",
                                              "decode_logits_b2", "verify_d3"}));
  EXPECT_EQ(a.contents().find_graph("verify_d3")->max_symbols.at(frontends::kRowsSymbol), 8);
  const engine::ModelOptions stored_options = engine::options_from_json(a.contents().options);
  EXPECT_EQ(stored_options.decode_row_bounds, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(stored_options.spec_depths, (std::vector<int64_t>{3}));
  // Kernels the graphs share (the same op on the same types at any bound) are stored once.
  const artifact::KernelTable table = artifact::kernel_table(a.contents());
  size_t per_graph = 0;
  for (const std::vector<size_t>& kernels : table.kernel_of_dispatch)
    per_graph += std::set<size_t>(kernels.begin(), kernels.end()).size();
  EXPECT_LT(table.kernels.size(), per_graph);

  auto loaded = engine::Model::load(vkm, engine::ModelOptions{});
  EXPECT_EQ(loaded->options().spec_depths, (std::vector<int64_t>{3}));
  engine::GenerateOptions g;
  g.max_tokens = 3;
  const std::vector<int32_t> prompt = prompt_of(5, static_cast<int>(loaded->spec().vocab_size));
  const engine::Generation from_artifact = engine::generate(*loaded, prompt, g);
  EXPECT_EQ(loaded->last_step_graph(), "decode_b1");
  auto direct = engine::Model::load(dir, options);
  EXPECT_EQ(engine::generate(*direct, prompt, g).tokens, from_artifact.tokens);
  EXPECT_EQ(direct->last_step_graph(), "decode_b1");
}

TEST(EngineArtifactDevice, AMissingFeatureIsNamed) {
  const fs::path dir = synth_model("llama");
  runtime::Instance instance;
  const runtime::DeviceChoice choice = runtime::choose_device(instance.devices(), runtime::effective_device_selector(""));
  codegen::TargetCaps caps = runtime::target_caps(instance.devices()[choice.index]);
  if (caps.cooperative_matrix_nv) GTEST_SKIP() << "the device has every feature a profile can ask for";
  // Kernels compiled for this device, but the artifact says its target had cooperative matrices.
  engine::OpenedModel m = engine::open_model(dir, small_options());
  engine::CompiledModel c = engine::compile_model(*m.source, m.spec, small_options(), caps);
  c.target.cooperative_matrix_nv = true;
  c.target.name = "a device with tensor cores";
  const fs::path vkm = scratch() / "needs_coopmat.vkm";
  engine::write_model_artifact(vkm, dir, *m.source, c);
  try {
    engine::Model::load(vkm, engine::ModelOptions{});
    FAIL() << "loaded an artifact whose target had a feature the device lacks";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("VK_NV_cooperative_matrix"), std::string::npos) << what;
    EXPECT_NE(what.find("a device with tensor cores"), std::string::npos) << what;
    EXPECT_NE(what.find("vkllm compile"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace vkllm
