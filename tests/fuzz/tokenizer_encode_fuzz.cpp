// Fuzz target: bytes -> encode + decode + streaming decode with two fixed tokenizers (byte-level
// BPE with a Split regex; SentencePiece-style BPE with byte fallback), and the same bytes read as
// token ids -> decode + streaming. Invalid UTF-8 must be a TokenizerError; decode output must be
// valid UTF-8 and equal the concatenated stream.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "frontends/tokenizer/tokenizer.h"
#include "frontends/tokenizer/unicode.h"

using vkllm::frontends::StreamingDecoder;
using vkllm::frontends::Tokenizer;
using vkllm::frontends::TokenizerError;

namespace {

constexpr std::string_view kByteLevel = R"({
  "normalizer": {"type": "NFC"},
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "behavior": "Isolated", "invert": false, "pattern": {"Regex":
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
  "decoder": {"type": "ByteLevel"},
  "added_tokens": [{"id": 20, "content": "<|endoftext|>", "special": true},
                   {"id": 21, "content": "<tool>", "special": false, "lstrip": true, "rstrip": true}],
  "model": {"type": "BPE", "ignore_merges": true, "vocab": {
    "a": 0, "b": 1, "c": 2, "Ġ": 3, "Ċ": 4, "Ã": 5, "©": 6, "ä": 7, "¸": 8, "Ń": 9,
    "1": 10, "2": 11, "ab": 12, "Ġa": 13, "Ã©": 14, "ä¸": 15, "ä¸Ń": 16, "Ġab": 17, "12": 18, "'": 19},
    "merges": ["a b", "Ġ a", "Ã ©", "ä ¸", "ä¸ Ń", "Ġ ab", "1 2"]}})";

constexpr std::string_view kByteFallback = R"({
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
    {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
  "pre_tokenizer": {"type": "Digits", "individual_digits": true},
  "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
  "added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true}],
  "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true, "vocab": {
    "<unk>": 0, "<s>": 1, "<0xC3>": 2, "<0xA9>": 3, "<0xE4>": 4, "<0xB8>": 5, "<0xAD>": 6, "<0x41>": 7,
    "▁": 8, "a": 9, "b": 10, "1": 11, "▁a": 12, "ab": 13, "▁ab": 14},
    "merges": ["▁ a", "a b", "▁a b"]}})";

void check(const Tokenizer& t, const std::vector<int32_t>& ids) {
  for (bool skip : {false, true}) {
    const std::string full = t.decode(ids, skip);
    if (vkllm::frontends::unicode::find_invalid_utf8(full) != std::string::npos) std::abort();
    StreamingDecoder stream(t, skip);
    std::string joined;
    for (int32_t id : ids) joined += stream.push(id);
    joined += stream.finish();
    if (joined != full) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Tokenizer tokenizers[] = {Tokenizer::from_json(kByteLevel), Tokenizer::from_json(kByteFallback)};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool valid = vkllm::frontends::unicode::find_invalid_utf8(text) == std::string_view::npos;
  for (const Tokenizer& t : tokenizers) {
    try {
      check(t, t.encode(text, size % 2 == 0));
      if (!valid) std::abort();  // invalid UTF-8 must not encode
    } catch (const TokenizerError&) {
      if (valid) std::abort();
    }
    std::vector<int32_t> ids(size / 2);
    for (size_t i = 0; i < ids.size(); ++i)
      ids[i] = static_cast<int32_t>(data[2 * i] | (data[2 * i + 1] << 8)) % 40 - 2;
    check(t, ids);
  }
  return 0;
}
