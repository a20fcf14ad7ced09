// The pipeline stages of a Hugging Face tokenizer (normalizer, pre-tokenizer, post-processor,
// decoder), built from their tokenizer.json objects. Each follows the Rust `tokenizers` crate.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vkllm::frontends::components {

using nlohmann::json;

// A span of text moving through pre-tokenization. `at_original_start`: the span begins at byte 0
// of the text given to encode() (Metaspace's prepend_scheme "first" needs it).
struct Piece {
  std::string text;
  bool at_original_start = false;
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits and rewrites the pieces in place; empty pieces are dropped.
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Called only when special tokens are requested (post-processing without them changes no ids).
  virtual void add_special_tokens(std::vector<int32_t>& ids) const = 0;
};

// Where a decoded window sits in the whole text. Hugging Face decodes the whole id list at once;
// streaming decodes windows, and the few steps that act on the start or the end of the text only
// (Metaspace's first token, Strip after Fuse) must know whether the window touches them.
struct DecodeState {
  bool at_start = true;
  bool at_end = true;
  bool fused = false;  // the token list is one string (after Fuse or ByteLevel)
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens, DecodeState& state) const = 0;
  // Whether decoding windows and concatenating equals decoding the whole: true unless a step
  // that rewrites across token boundaries runs after the tokens were fused. Updates `fused`.
  virtual bool streams_locally(bool& fused) const = 0;
  virtual bool has_byte_fallback() const { return false; }
};

// `where` is the JSON path used in error messages. Unsupported `type`s are errors naming the type.
std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where);
std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& where);
std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where);

// Hugging Face TemplateProcessing equivalent of "[bos] $A [eos]" (transformers' Llama/Gemma
// tokenizers rebuild their post-processor this way from add_bos_token / add_eos_token).
std::unique_ptr<PostProcessor> make_bos_eos_processor(std::optional<int32_t> bos, std::optional<int32_t> eos);

// The byte a ByteFallback token "<0xHH>" names, or -1.
int byte_token_value(std::string_view token);

// GPT-2's reversible byte <-> printable character map used by ByteLevel.
const std::vector<std::string>& byte_to_char_utf8();
// Code point -> byte, or -1 for characters outside the map.
int byte_of_char(char32_t c);

}  // namespace vkllm::frontends::components
