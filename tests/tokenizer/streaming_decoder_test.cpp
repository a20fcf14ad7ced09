// StreamingDecoder on small tokenizers that cover every decoder kind the streaming logic treats
// differently, over the corpus and over fresh random id sequences.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "frontends/tokenizer/components.h"
#include "tests/tokenizer/stream_check.h"

namespace vkllm::frontends {
namespace {
using nlohmann::json;

// Byte-level BPE: the 256 byte symbols, a few merges, a special and a plain added token.
json byte_level_tokenizer() {
  json vocab = json::object();
  const auto& chars = components::byte_to_char_utf8();
  for (int b = 0; b < 256; ++b) vocab[chars[static_cast<size_t>(b)]] = b;
  json merges = json::array();
  int next = 256;
  for (auto [a, b] : std::vector<std::pair<std::string, std::string>>{{"Ġ", "t"},
                                                                      {"h", "e"},
                                                                      {"Ġt", "he"},
                                                                      {"i", "n"},
                                                                      {"e", "r"},
                                                                      {"Ġ", "a"},
                                                                      {"o", "n"},
                                                                      {"ä", "¸"},
                                                                      {"ä¸", "Ń"}}) {
    merges.push_back(json::array({a, b}));
    vocab[a + b] = next++;
  }
  return {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
          {"added_tokens",
           {{{"id", 300}, {"content", "<|end|>"}, {"special", true}},
            {{"id", 301}, {"content", "<tool>"}, {"special", false}}}},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
          {"decoder", {{"type", "ByteLevel"}}}};
}

// SentencePiece-style BPE with byte fallback (Llama 2 / Gemma layout).
json byte_fallback_tokenizer(const json& decoder) {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) vocab[fmt::format("<0x{:02X}>", b)] = 3 + b;
  int next = 259;
  vocab["▁"] = next++;
  for (char c = '!'; c <= '~'; ++c) vocab[std::string(1, c)] = next++;
  json merges = json::array();
  for (auto [a, b] :
       std::vector<std::pair<std::string, std::string>>{{"▁", "t"}, {"h", "e"}, {"▁t", "he"}, {"▁", "a"}}) {
    merges.push_back(a + " " + b);
    vocab[a + b] = next++;
  }
  json added = json::array();
  for (int id = 0; id < 3; ++id)
    added.push_back({{"id", id}, {"content", id == 0 ? "<unk>" : id == 1 ? "<s>" : "</s>"}, {"special", true}});
  return {{"model",
           {{"type", "BPE"},
            {"vocab", vocab},
            {"merges", merges},
            {"unk_token", "<unk>"},
            {"byte_fallback", true},
            {"fuse_unk", true}}},
          {"added_tokens", added},
          {"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", "▁"}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}}}}},
          {"decoder", decoder}};
}

json llama_decoder(int strip_stop) {
  return json::parse(fmt::format(R"({{"type": "Sequence", "decoders": [
      {{"type": "Replace", "pattern": {{"String": "▁"}}, "content": " "}}, {{"type": "ByteFallback"}}, {{"type": "Fuse"}},
      {{"type": "Strip", "content": " ", "start": 1, "stop": {}}}]}})",
                                 strip_stop));
}

struct Case {
  const char* name;
  json tokenizer;
  json config;
};

std::vector<Case> cases() {
  const json metaspace_decoder = json::parse(R"({"type": "Sequence", "decoders": [{"type": "ByteFallback"},
      {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"}]})");
  const json no_decoder = nullptr;
  return {
      {"byte_level", byte_level_tokenizer(), json::object()},
      {"byte_level_clean_up", byte_level_tokenizer(), {{"clean_up_tokenization_spaces", true}}},
      {"byte_fallback_strip", byte_fallback_tokenizer(llama_decoder(0)), json::object()},
      {"byte_fallback_strip_both_ends", byte_fallback_tokenizer(llama_decoder(1)), json::object()},
      {"metaspace", byte_fallback_tokenizer(metaspace_decoder), json::object()},
      {"no_decoder", byte_fallback_tokenizer(no_decoder), {{"clean_up_tokenization_spaces", true}}},
  };
}

class Streaming : public ::testing::TestWithParam<size_t> {};

TEST_P(Streaming, CorpusEncodings) {
  const Case c = cases()[GetParam()];
  const Tokenizer t = Tokenizer::from_json(c.tokenizer.dump(), c.config.dump());
  for (const std::string& text : testing::read_corpus())
    for (bool skip : {false, true}) {
      testing::check_stream(t, t.encode(text, false), skip, fmt::format("{} \"{}\" skip={}", c.name, text, skip));
      if (HasFatalFailure()) return;
    }
}

TEST_P(Streaming, RandomIds) {
  const Case c = cases()[GetParam()];
  const Tokenizer t = Tokenizer::from_json(c.tokenizer.dump(), c.config.dump());
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  for (int n = 0; n < 300; ++n) {
    std::vector<int32_t> ids(1 + rng() % 30);
    for (int32_t& id : ids) id = static_cast<int32_t>(rng() % static_cast<unsigned>(t.vocab_size() + 3));
    testing::check_stream(t, ids, n % 2 == 1, fmt::format("{} seed {} sequence {}", c.name, seed, n));
    if (HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(Decoders, Streaming, ::testing::Range<size_t>(0, cases().size()),
                         [](const auto& info) { return std::string(cases()[info.param].name); });

TEST(Streaming, HoldsBackIncompleteCharactersAndByteRuns) {
  const Tokenizer level = Tokenizer::from_json(byte_level_tokenizer().dump());
  StreamingDecoder s(level);
  // 中 is E4 B8 AD: the bytes arrive as three tokens.
  EXPECT_EQ(s.push(0xE4), "");
  EXPECT_EQ(s.push(0xB8), "");
  EXPECT_EQ(s.push(0xAD), "中");
  EXPECT_EQ(s.push('a'), "a");
  EXPECT_EQ(s.push(0xE4), "");
  EXPECT_EQ(s.finish(), "\uFFFD");  // the stream ended inside a character, as the full decode shows

  const Tokenizer fallback = Tokenizer::from_json(byte_fallback_tokenizer(llama_decoder(0)).dump());
  StreamingDecoder f(fallback);
  const int32_t space_a = *fallback.token_to_id("▁a");
  EXPECT_EQ(f.push(space_a), "a");  // the leading space is stripped at the start of the text
  EXPECT_EQ(f.push(3 + 0xC3), "");
  EXPECT_EQ(f.push(3 + 0xA9), "");  // a run of byte tokens may still grow
  EXPECT_EQ(f.push(space_a), "é a");
  EXPECT_EQ(f.finish(), "");
}

}  // namespace
}  // namespace vkllm::frontends
