// The tokenizer.json components one at a time, against hand-computed Hugging Face results
// (several are the examples of the Rust `tokenizers` documentation).
#include "frontends/tokenizer/components.h"

#include <gtest/gtest.h>

#include "frontends/tokenizer/regex.h"
#include "frontends/tokenizer/tokenizer.h"
#include "frontends/tokenizer/unicode.h"

namespace vkllm::frontends {
namespace {
using components::Piece;
using nlohmann::json;

std::vector<std::string> pre_tokenize(const std::string& config, const std::string& text, bool at_start = true) {
  auto p = components::make_pre_tokenizer(json::parse(config), "test");
  std::vector<Piece> pieces{{text, at_start}};
  p->pre_tokenize(pieces);
  std::vector<std::string> out;
  for (const Piece& piece : pieces) out.push_back(piece.text);
  return out;
}

std::string normalize(const std::string& config, std::string text) {
  components::make_normalizer(json::parse(config), "test")->normalize(text);
  return text;
}

std::string decode(const std::string& config, std::vector<std::string> tokens) {
  components::DecodeState state;
  components::make_decoder(json::parse(config), "test")->decode_chain(tokens, state);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

std::string split_config(const std::string& behavior) {
  return R"({"type": "Split", "pattern": {"String": "-"}, "invert": false, "behavior": ")" + behavior + "\"}";
}

using V = std::vector<std::string>;

TEST(SplitPreTokenizer, EveryBehaviorOnTheDocumentationExample) {
  const std::string text = "the-final--countdown";
  EXPECT_EQ(pre_tokenize(split_config("Removed"), text), (V{"the", "final", "countdown"}));
  EXPECT_EQ(pre_tokenize(split_config("Isolated"), text), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split_config("MergedWithPrevious"), text), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split_config("MergedWithNext"), text), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(pre_tokenize(split_config("Contiguous"), text), (V{"the", "-", "final", "--", "countdown"}));
}

TEST(SplitPreTokenizer, InvertKeepsWhatThePatternMatches) {
  const std::string letters = R"({"type": "Split", "pattern": {"Regex": "[a-z]+"}, "behavior": "Removed", "invert": )";
  EXPECT_EQ(pre_tokenize(letters + "true}", "ab, cd!e"), (V{"ab", "cd", "e"}));
  EXPECT_EQ(pre_tokenize(letters + "false}", "ab, cd!e"), (V{", ", "!"}));
}

TEST(SplitPreTokenizer, RegexUsesUnicodeClassesAndOnigurumaWhitespace) {
  const std::string qwen =
      R"({"type": "Split", "behavior": "Isolated", "invert": false, "pattern": {"Regex": )"
      R"("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}})";
  EXPECT_EQ(pre_tokenize(qwen, "I'LL pay 42€  now\n\nok"),
            (V{"I", "'LL", " pay", " ", "4", "2", "€", " ", " now", "\n\n", "ok"}));
  // U+3000 is White_Space: it runs with the spaces. U+200B is not: it prefixes the word.
  EXPECT_EQ(pre_tokenize(qwen, "a\u3000 b\u200bc"), (V{"a", "\u3000", " b", "\u200bc"}));
}

TEST(MetaspacePreTokenizer, ReplacesSpacesPrependsAndSplits) {
  const std::string always = R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true})";
  EXPECT_EQ(pre_tokenize(always, "Hey friend!"), (V{"▁Hey", "▁friend!"}));
  EXPECT_EQ(pre_tokenize(always, "Hey   friend!"), (V{"▁Hey", "▁", "▁", "▁friend!"}));
  const std::string first = R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false})";
  EXPECT_EQ(pre_tokenize(first, "Hey friend", true), (V{"▁Hey▁friend"}));
  EXPECT_EQ(pre_tokenize(first, "how are", false), (V{"how▁are"}));
  const std::string legacy_never = R"({"type": "Metaspace", "replacement": "▁", "add_prefix_space": false})";
  EXPECT_EQ(pre_tokenize(legacy_never, "a b"), (V{"a", "▁b"}));
}

TEST(DigitsPreTokenizer, IndividualOrContiguous) {
  EXPECT_EQ(pre_tokenize(R"({"type": "Digits", "individual_digits": true})", "a123b٣"),
            (V{"a", "1", "2", "3", "b", "٣"}));
  EXPECT_EQ(pre_tokenize(R"({"type": "Digits", "individual_digits": false})", "a123b"), (V{"a", "123", "b"}));
}

TEST(ByteLevelPreTokenizer, PrefixSpaceRegexAndByteMap) {
  EXPECT_EQ(pre_tokenize(R"({"type": "ByteLevel", "add_prefix_space": true, "use_regex": true})", "Hello world"),
            (V{"ĠHello", "Ġworld"}));
  EXPECT_EQ(pre_tokenize(R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false})", "a é\n"),
            (V{"aĠÃ©Ċ"}));
}

TEST(Normalizers, LowercaseStripNfcNfkcPrependReplace) {
  // Rust char::to_lowercase: İ becomes i + U+0307, and Σ is σ even at the end of a word.
  EXPECT_EQ(normalize(R"({"type": "Lowercase"})", "İSTANBUL ΣΑΣ"), "i\u0307stanbul σασ");
  EXPECT_EQ(normalize(R"({"type": "Strip", "strip_left": true, "strip_right": true})", " \u3000 a b \n"), "a b");
  EXPECT_EQ(normalize(R"({"type": "Strip", "strip_left": false, "strip_right": true})", "  a  "), "  a");
  EXPECT_EQ(normalize(R"({"type": "NFC"})", "e\u0301 \u212B"), "\u00E9 \u00C5");
  EXPECT_EQ(normalize(R"({"type": "NFKC"})", "ﬁ①Ｈ"), "fi1H");
  EXPECT_EQ(normalize(R"({"type": "NFD"})", "\u00E9"), "e\u0301");
  EXPECT_EQ(normalize(R"({"type": "Prepend", "prepend": "▁"})", "a"), "▁a");
  EXPECT_EQ(normalize(R"({"type": "Prepend", "prepend": "▁"})", ""), "");
  EXPECT_EQ(normalize(R"({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})", "a   b  c d"),
            "a b c d");
  EXPECT_EQ(normalize(R"({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                          {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]})",
                      "hi there"),
            "▁hi▁there");
}

TEST(Decoders, MetaspaceStripReplaceByteLevel) {
  EXPECT_EQ(decode(R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"})", {"▁Hey", "▁friend!"}),
            "Hey friend!");
  EXPECT_EQ(decode(R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never"})", {"▁Hey", "▁friend!"}),
            " Hey friend!");
  const std::string llama = R"({"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})";
  EXPECT_EQ(decode(llama, {"▁▁Hi", "<0xE4>", "<0xB8>", "<0xAD>", "▁x"}), " Hi中 x");
  // An invalid run of byte tokens is one U+FFFD per byte; a valid run is its text.
  EXPECT_EQ(decode(llama, {"<0xE4>", "<0xB8>", "a", "<0xC3>", "<0xA9>"}), "\uFFFD\uFFFDaé");
  // Hex digits in either case; Rust's from_str_radix also takes "+H"; anything else is a token.
  EXPECT_EQ(decode(llama, {"<0xe4>", "<0xb8>", "<0xAd>", "<0x+A>", "<0xZZ>"}), "中\n<0xZZ>");
  EXPECT_EQ(decode(R"({"type": "Strip", "content": "x", "start": 2, "stop": 1})", {"xxxaxx", "xb"}), "xaxb");
  // Byte-level: mapped characters become bytes; a token with other characters keeps its UTF-8.
  EXPECT_EQ(decode(R"({"type": "ByteLevel"})", {"Hello", "Ġw", "<｜User｜>", "ä¸", "Ń"}), "Hello w<｜User｜>中");
  EXPECT_EQ(decode(R"({"type": "ByteLevel"})", {"a", "ä¸", "b"}), "a\uFFFDb");
}

TEST(Regex, OnigurumaClassesOnPcre2) {
  auto matches = [](const std::string& pattern, const std::string& text) {
    std::vector<std::string> out;
    for (auto [b, e] : Regex(pattern, "test").find_all(text)) out.push_back(text.substr(b, e - b));
    return out;
  };
  // U+180E is not White_Space (PCRE2's own \s would match it); U+0085 is.
  EXPECT_EQ(matches("\\s+", "a\u180eb \u0085c"), (V{" \u0085"}));
  EXPECT_EQ(matches("\\S+", "a\u180eb c"), (V{"a\u180eb", "c"}));
  // Oniguruma's \w includes combining marks.
  EXPECT_EQ(matches("\\w+", "e\u0301x-y"), (V{"e\u0301x", "y"}));
  EXPECT_EQ(matches("[\\w]+", "e\u0301x-y"), (V{"e\u0301x", "y"}));
  EXPECT_EQ(matches("\\h+", "0xBEEF g"), (V{"0", "BEEF"}));
  // Empty matches: none right after the previous match (the onig crate's find_iter).
  EXPECT_EQ(matches("a*", "baaac"), (V{"", "aaa", ""}));
  EXPECT_THROW(Regex("[a-z&&[^aeiou]]", "test"), TokenizerError);
  EXPECT_THROW(Regex("(", "test"), TokenizerError);
}

TEST(Regex, CatastrophicBacktrackingIsAnErrorNotAHang) {
  const Regex evil("(a+)+$", "test");
  const std::string text = std::string(64, 'a') + "!";
  try {
    evil.find_all(text);
    FAIL() << "expected the backtracking limit to stop the match";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find("(a+)+$"), std::string::npos) << e.what();
  }
}

TEST(Unicode, LossyConversionReplacesMaximalInvalidSubparts) {
  EXPECT_EQ(unicode::from_utf8_lossy("a\xE4\xB8"), "a\uFFFD");
  EXPECT_EQ(unicode::from_utf8_lossy("\xE4\xB8\xAD\x80\xFF"), "中\uFFFD\uFFFD");
  EXPECT_EQ(unicode::from_utf8_lossy("\xF0\x9F\x98x"), "\uFFFDx");
  EXPECT_EQ(unicode::from_utf8_lossy("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");  // a surrogate is invalid
  EXPECT_EQ(unicode::find_invalid_utf8("ok\xC0\xAF"), 2u);
}

}  // namespace
}  // namespace vkllm::frontends
