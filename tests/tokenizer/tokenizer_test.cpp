// Whole tokenizers built from small tokenizer.json texts: BPE merge order and options, added
// tokens, post-processing, tokenizer_config.json, malformed files, and the SentencePiece path.
// Expected ids are worked out by hand from the Hugging Face algorithms.
#include "frontends/tokenizer/tokenizer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace vkllm::frontends {
namespace {
using Ids = std::vector<int32_t>;

// A BPE tokenizer.json with the given model fields and top-level components.
std::string bpe_json(const std::string& vocab, const std::string& merges, const std::string& model_extra = "",
                     const std::string& top_extra = "") {
  return fmt::format(R"({{"version": "1.0", {} "model": {{"type": "BPE", "vocab": {}, "merges": {} {}}}}})",
                     top_extra.empty() ? "" : top_extra + ",", vocab, merges,
                     model_extra.empty() ? "" : "," + model_extra);
}

TEST(Bpe, MergesApplyInRankOrderNotLeftToRight) {
  const Tokenizer t = Tokenizer::from_json(
      bpe_json(R"({"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5})", R"(["b c", "a b", "a bc"])"));
  EXPECT_EQ(t.encode("abc", false), (Ids{5}));  // b+c (rank 0) first, then a+bc
  EXPECT_EQ(t.encode("abab", false), (Ids{3, 3}));
  EXPECT_EQ(t.encode("cab", false), (Ids{2, 3}));
}

TEST(Bpe, EqualRanksMergeLeftmostFirstAndPairsAsArrays) {
  const Tokenizer t = Tokenizer::from_json(bpe_json(R"({"a": 0, "aa": 1, "a a": 2})", R"([["a", "a"]])"));
  EXPECT_EQ(t.encode("aaa", false), (Ids{1, 0}));
  EXPECT_EQ(t.encode("aaaa", false), (Ids{1, 1}));
}

TEST(Bpe, IgnoreMergesLooksUpTheWholeWordFirst) {
  const std::string vocab = R"({"a": 0, "b": 1, "c": 2, "abc": 3, "ab": 4})";
  EXPECT_EQ(Tokenizer::from_json(bpe_json(vocab, R"(["a b"])", R"("ignore_merges": false)")).encode("abc", false),
            (Ids{4, 2}));
  EXPECT_EQ(Tokenizer::from_json(bpe_json(vocab, R"(["a b"])", R"("ignore_merges": true)")).encode("abc", false),
            (Ids{3}));
}

TEST(Bpe, ByteFallbackThenFusedUnknown) {
  const std::string vocab = R"({"<unk>": 0, "<0xE4>": 1, "<0xB8>": 2, "<0xAD>": 3, "a": 4})";
  const std::string decoder =
      R"("decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]})";
  const Tokenizer fused = Tokenizer::from_json(
      bpe_json(vocab, "[]", R"("unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true)", decoder));
  EXPECT_EQ(fused.encode("a中a", false), (Ids{4, 1, 2, 3, 4}));
  // 文 is E6 96 87: no byte tokens for it, so unknown; two unknown characters fuse into one.
  EXPECT_EQ(fused.encode("a文文a", false), (Ids{4, 0, 4}));
  const Tokenizer unfused = Tokenizer::from_json(
      bpe_json(vocab, "[]", R"("unk_token": "<unk>", "byte_fallback": true, "fuse_unk": false)", decoder));
  EXPECT_EQ(unfused.encode("a文文a", false), (Ids{4, 0, 0, 4}));
  EXPECT_EQ(fused.decode(Ids{4, 1, 2, 3}, false), "a中");
  EXPECT_EQ(fused.decode(Ids{1, 4, 2}, false), "\uFFFDa\uFFFD");
  // Without unk_token an unknown character is dropped.
  EXPECT_EQ(Tokenizer::from_json(bpe_json(vocab, "[]")).encode("a文a", false), (Ids{4, 4}));
}

TEST(Bpe, ContinuingSubwordPrefixAndEndOfWordSuffix) {
  const Tokenizer t = Tokenizer::from_json(
      bpe_json(R"({"h": 0, "##e": 1, "##y</w>": 2, "he": 3, "hey</w>": 4})", R"(["h ##e", "he ##y</w>"])",
               R"("continuing_subword_prefix": "##", "end_of_word_suffix": "</w>")"));
  EXPECT_EQ(t.encode("hey", false), (Ids{4}));
  EXPECT_EQ(t.encode("he", false), (Ids{0}));  // "##e</w>" is not in the vocabulary
}

const std::string kAddedTokensJson =
    bpe_json(R"({" ": 0, "a": 1, "b": 2, "x": 3, "<": 4, ">": 5, "t": 6, ".": 7, "h": 8, "i": 9})", "[]", "",
             R"("added_tokens": [
      {"id": 10, "content": "<t>", "lstrip": true, "rstrip": false, "single_word": false, "normalized": false, "special": true},
      {"id": 11, "content": "<r>", "lstrip": false, "rstrip": true, "single_word": false, "normalized": false, "special": false},
      {"id": 12, "content": "ab", "lstrip": false, "rstrip": false, "single_word": true, "normalized": false, "special": false},
      {"id": 13, "content": "HI", "lstrip": false, "rstrip": false, "single_word": false, "normalized": true, "special": false}],
    "normalizer": {"type": "Lowercase"})");

TEST(AddedTokens, LstripRstripSingleWordNormalized) {
  const Tokenizer t = Tokenizer::from_json(kAddedTokensJson);
  EXPECT_EQ(t.encode("x  <t>x", false), (Ids{3, 10, 3}));
  EXPECT_EQ(t.encode("x<r>  x", false), (Ids{3, 11, 3}));
  EXPECT_EQ(t.encode("x <t> x", false), (Ids{3, 10, 0, 3}));
  // single_word: only where no word character touches it.
  EXPECT_EQ(t.encode("ab xab ab.", false), (Ids{12, 0, 3, 1, 2, 0, 12, 7}));
  // normalized: matched after the Lowercase normalizer, against its lowercased content.
  EXPECT_EQ(t.encode("Hi hI", false), (Ids{13, 0, 13}));
  // Non-normalized tokens are matched before normalization, so "<T>" is not "<t>".
  EXPECT_EQ(t.encode("<T>", false), (Ids{4, 6, 5}));
  EXPECT_EQ(t.decode(Ids{3, 10, 11, 3}, false), "x <t> <r> x");  // no decoder: tokens joined by spaces
  EXPECT_EQ(t.decode(Ids{3, 10, 11, 3}, true), "x <r> x");
  EXPECT_TRUE(t.is_special(10));
  EXPECT_FALSE(t.is_special(11));
  EXPECT_EQ(t.token_to_id("<r>"), 11);
  EXPECT_EQ(t.id_to_token(13), "HI");
  EXPECT_EQ(t.id_to_token(99), std::nullopt);
  EXPECT_EQ(t.vocab_size(), 14);
}

TEST(PostProcessing, TemplateAndConfigBosEos) {
  const std::string json = bpe_json(R"({"<s>": 0, "</s>": 1, "a": 2})", "[]", "", R"(
    "added_tokens": [{"id": 0, "content": "<s>", "special": true}, {"id": 1, "content": "</s>", "special": true}],
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}}})");
  const Tokenizer plain = Tokenizer::from_json(json, R"({"bos_token": "<s>", "eos_token": {"content": "</s>"}})");
  EXPECT_EQ(plain.encode("a", true), (Ids{0, 2}));
  EXPECT_EQ(plain.encode("a", false), (Ids{2}));
  EXPECT_EQ(plain.encode("</s>a<s>", false), (Ids{1, 2, 0}));
  EXPECT_EQ(plain.bos_token_id(), 0);
  EXPECT_EQ(plain.eos_token_id(), 1);
  // transformers' Llama tokenizers rebuild the template from add_bos_token / add_eos_token.
  const Tokenizer llama =
      Tokenizer::from_json(json, R"({"tokenizer_class": "LlamaTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
               "add_bos_token": false, "add_eos_token": true, "clean_up_tokenization_spaces": true,
               "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
  EXPECT_EQ(llama.encode("a", true), (Ids{2, 1}));
  // Without bos_token/eos_token in the config they default to the class's own ("<s>", "</s>").
  const Tokenizer defaults = Tokenizer::from_json(json, R"({"tokenizer_class": "LlamaTokenizer"})");
  EXPECT_EQ(defaults.encode("a", true), (Ids{0, 2}));
  EXPECT_EQ(defaults.eos_token(), "</s>");
  EXPECT_EQ(llama.chat_template(), "D");
  EXPECT_TRUE(llama.clean_up_tokenization_spaces());
}

TEST(Decode, CleanUpTokenizationSpacesFollowsTheConfig) {
  const std::string json = bpe_json(R"({"a": 0, ".": 1, "n't": 2, "'s": 3})", "[]");
  const Ids ids{0, 1, 2, 3, 0};
  EXPECT_EQ(Tokenizer::from_json(json).decode(ids, false), "a . n't 's a");
  EXPECT_EQ(Tokenizer::from_json(json, R"({"clean_up_tokenization_spaces": true})").decode(ids, false), "a.n't's a");
}

TEST(Encode, InvalidUtf8IsAnError) {
  const Tokenizer t = Tokenizer::from_json(bpe_json(R"({"a": 0})", "[]"));
  EXPECT_THROW(t.encode("a\xFF", false), TokenizerError);
  EXPECT_EQ(t.encode("", false), Ids{});
  EXPECT_EQ(t.decode(Ids{}, false), "");
}

// Malformed files: the message names the path in the file and the problem.
void expect_error(const std::string& json, const std::string& expected_fragment) {
  try {
    Tokenizer::from_json(json);
    ADD_FAILURE() << "no error for " << json;
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find(expected_fragment), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << expected_fragment;
  }
}

TEST(MalformedTokenizerJson, ClearErrors) {
  expect_error("not json", "tokenizer.json: invalid JSON");
  expect_error("[1, 2]", "tokenizer.json: expected an object");
  expect_error("{}", "tokenizer.json: model: missing");
  expect_error(R"({"model": {"type": "BPE", "merges": []}})", "model.vocab: missing");
  expect_error(bpe_json(R"({"a": 0, "b": 1})", R"(["a b c"])"), "model.merges[0]: merge \"a b c\" is not two tokens");
  expect_error(bpe_json(R"({"a": 0, "b": 1})", R"(["a z"])"),
               "model.merges[0]: merge token \"z\" is not in the vocabulary");
  expect_error(bpe_json(R"({"a": 0, "b": 1})", R"(["a b"])"), "merge token \"ab\" is not in the vocabulary");
  expect_error(bpe_json(R"({"a": 0, "b": 1})", R"([["a"]])"), "model.merges[0]: a merge pair has 2 elements");
  expect_error(bpe_json(R"({"a": 0, "b": 1})", R"([7])"), "model.merges[0]: expected a merge");
  expect_error(bpe_json(R"({"a": "zero"})", "[]"), "model.vocab.a: expected an integer, found a string");
  expect_error(bpe_json(R"({"a": -1})", "[]"), "model.vocab.a: token id -1 is outside");
  expect_error(bpe_json(R"({"a": 0})", R"({"a": "b"})"), "model.merges: expected an array, found an object");
  expect_error(bpe_json(R"({"a": 900000000})", "[]"), "token ids are too sparse");
  expect_error(R"({"model": {"type": "Unigram", "vocab": []}})", "unsupported model type \"Unigram\"");
  expect_error(bpe_json(R"({"a": 0})", "[]", "", R"("decoder": {"type": "WordPiece"})"),
               "decoder.type: unsupported decoder type \"WordPiece\"");
  expect_error(bpe_json(R"({"a": 0})", "[]", "", R"("normalizer": {"type": "BertNormalizer"})"),
               "normalizer.type: unsupported normalizer type \"BertNormalizer\"");
  expect_error(bpe_json(R"({"a": 0})", "[]", "",
                        R"("pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}]})"),
               "pre_tokenizer.pretokenizers[0].type: unsupported pre-tokenizer type \"Whitespace\"");
  expect_error(bpe_json(R"({"a": 0})", "[]", "",
                        R"("pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"})"),
               "pre_tokenizer.pattern.Regex: regex \"(a\" does not compile");
  expect_error(bpe_json(R"({"a": 0})", "[]", "",
                        R"("pre_tokenizer": {"type": "Split", "pattern": {"String": "a"}, "behavior": "Sideways"})"),
               "pre_tokenizer.behavior: unknown split behavior \"Sideways\"");
  expect_error(bpe_json(R"({"a": 0})", "[]", "", R"("added_tokens": [{"content": "<x>"}])"),
               "added_tokens[0].id: missing");
  expect_error(bpe_json(R"({"a": 0})", "[]", R"("dropout": 0.1)"), "model.dropout: BPE dropout");
  std::string deep = R"({"type": "Lowercase"})";
  for (int i = 0; i < 40; ++i) deep = R"({"type": "Sequence", "normalizers": [)" + deep + "]}";
  expect_error(bpe_json(R"({"a": 0})", "[]", "", R"("normalizer": )" + deep), "nested more than 32 levels");
}

TEST(Load, FolderWithTokenizerJsonConfigAndTemplate) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("vkllm_tok_{}", std::random_device{}());
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << bpe_json(R"({"a": 0, "b": 1, "ab": 2})", R"(["a b"])");
  std::ofstream(dir / "tokenizer_config.json") << R"({"eos_token": "ab", "chat_template": "from config"})";
  std::ofstream(dir / "chat_template.jinja") << "{{ messages }}";
  const Tokenizer t = Tokenizer::load(dir);
  EXPECT_EQ(t.encode("aab", false), (Ids{0, 2}));
  EXPECT_EQ(t.eos_token_id(), 2);
  EXPECT_EQ(t.chat_template(), "{{ messages }}");
  EXPECT_EQ(Tokenizer::load(dir / "tokenizer.json").encode("ab", false), (Ids{2}));
  std::ofstream(dir / "tokenizer.json") << "{\"model\": 3}";
  try {
    Tokenizer::load(dir);
    ADD_FAILURE() << "no error";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.string()), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
  EXPECT_THROW(Tokenizer::load(dir), TokenizerError);
}

// A folder with only tokenizer.model: segments between control tokens are encoded by
// SentencePiece (the reference here), control tokens are recognised in the text.
TEST(SentencePiece, TokenizerModelOnlyFolder) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("vkllm_sp_{}", std::random_device{}());
  std::filesystem::create_directories(dir);
  {
    std::ofstream text(dir / "train.txt");
    // Fixed words so the test strings encode to several pieces, plus random letter strings so
    // there is enough text for the requested vocabulary.
    std::mt19937 rng(std::random_device{}());
    const char* words[] = {"hello", "world", "token", "piece", "sentence", "model", "the", "of", "and", "café"};
    for (int line = 0; line < 2000; ++line) {
      for (int w = 0; w < 8; ++w) text << words[rng() % 10] << ' ';
      for (int w = 0; w < 4; ++w) {
        for (unsigned n = 2 + rng() % 6; n > 0; --n) text << static_cast<char>('a' + rng() % 26);
        text << ' ';
      }
      text << '\n';
    }
  }
  const auto status = sentencepiece::SentencePieceTrainer::Train(
      fmt::format("--input={} --model_prefix={} --vocab_size=400 --model_type=bpe --byte_fallback=true "
                  "--minloglevel=2",
                  (dir / "train.txt").string(), (dir / "tokenizer").string()));
  ASSERT_TRUE(status.ok()) << status.ToString();
  std::filesystem::remove(dir / "train.txt");
  std::filesystem::remove(dir / "tokenizer.vocab");

  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load((dir / "tokenizer.model").string()).ok());
  const Tokenizer t = Tokenizer::load(dir);
  auto sp_ids = [&](const std::string& s) {
    std::vector<int> ids;
    EXPECT_TRUE(sp.Encode(s, &ids).ok());
    return Ids(ids.begin(), ids.end());
  };
  EXPECT_EQ(t.encode("hello world", false), sp_ids("hello world"));
  Ids expected = sp_ids("the model");
  expected.push_back(sp.eos_id());
  for (int32_t id : sp_ids("of 中 piece")) expected.push_back(id);
  EXPECT_EQ(t.encode("the model</s>of 中 piece", false), expected);
  EXPECT_EQ(t.decode(sp_ids("hello café 中"), false), "hello café 中");
  EXPECT_EQ(t.decode(Ids{sp.bos_id(), 0}, false), "<s><unk>");
  EXPECT_EQ(t.vocab_size(), sp.GetPieceSize());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vkllm::frontends
