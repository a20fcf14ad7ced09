// Tokenizer internals shared by tokenizer.cpp and streaming_decoder.cpp.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "frontends/tokenizer/added_vocabulary.h"
#include "frontends/tokenizer/bpe.h"
#include "frontends/tokenizer/components.h"
#include "frontends/tokenizer/sentencepiece_model.h"
#include "frontends/tokenizer/tokenizer.h"

namespace vkllm::frontends {

// transformers' clean_up_tokenization: removes the space before . ? ! , and English contractions.
std::string clean_up_tokenization(std::string text);

struct Tokenizer::Impl {
  // Exactly one model: a tokenizer.json BPE, or a SentencePiece tokenizer.model.
  std::unique_ptr<BpeModel> bpe;
  std::unique_ptr<SentencePieceModel> sentencepiece;
  std::unique_ptr<components::Normalizer> normalizer;
  std::unique_ptr<components::PreTokenizer> pre_tokenizer;
  std::unique_ptr<components::PostProcessor> post_processor;
  std::unique_ptr<components::Decoder> decoder;
  AddedVocabulary added;

  std::vector<std::string> id_to_token;  // dense by id; has_token marks the ids in use
  std::vector<bool> has_token;
  std::vector<bool> special;
  StringMap<int32_t> added_ids;
  StringMap<int32_t> piece_ids;  // SentencePiece pieces

  nlohmann::json config = nlohmann::json::object();
  std::optional<std::string> bos_token, eos_token;
  std::optional<int32_t> bos_id, eos_id;
  std::string chat_template;
  bool clean_up = false;
  bool streams_locally = true;         // see components::Decoder::streams_locally
  bool byte_fallback_decoder = false;  // the decoder joins runs of <0xHH> tokens

  // After the model's ids are in id_to_token/has_token: adds the added tokens and derived state.
  void finish_setup(std::vector<AddedToken> added_tokens, size_t model_token_count, const std::string& where);
  void apply_config(nlohmann::json tokenizer_config);

  std::optional<int32_t> token_to_id(std::string_view token) const;
  void tokenize_segment(const Segment& segment, std::vector<int32_t>& out) const;
  // The token strings decode() sees: unknown ids dropped, special ones too when skip_special.
  std::vector<std::string> tokens_for(std::span<const int32_t> ids, bool skip_special) const;
  // The decoder over `tokens`, for a window of the text that may or may not hold its start/end.
  std::string decode_tokens(std::vector<std::string> tokens, bool at_start, bool at_end) const;
};

}  // namespace vkllm::frontends
