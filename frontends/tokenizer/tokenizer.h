// Tokenizers exact to Hugging Face: tokenizer.json (the `tokenizers` format) with
// tokenizer_config.json, or a SentencePiece tokenizer.model. See frontends/tokenizer/README.md.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vkllm::frontends {

// Malformed or unsupported tokenizer files and invalid inputs. The message names the file, the
// JSON path or component type, and the problem.
class TokenizerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Tokenizer {
 public:
  // `dir_or_file`: a model folder, or a tokenizer.json / tokenizer.model file. A folder is read as
  // tokenizer.json (preferred) or tokenizer.model, plus tokenizer_config.json and
  // chat_template.jinja when present.
  static Tokenizer load(const std::filesystem::path& dir_or_file);
  // From in-memory file contents (tests, fuzzing). `tokenizer_config_json` may be empty.
  static Tokenizer from_json(std::string_view tokenizer_json, std::string_view tokenizer_config_json = {});

  // Hugging Face `encode(text, add_special_tokens)`: added and special tokens written in the text
  // are recognised. With add_special_tokens the post-processor adds BOS/EOS etc. `text` must be
  // valid UTF-8 (TokenizerError otherwise). Thread-safe.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;
  // transformers' `decode(ids, skip_special_tokens)`: the tokenizer's decoder, then the
  // clean_up_tokenization_spaces step when tokenizer_config.json enables it. Ids outside the
  // vocabulary are skipped, as Hugging Face does. Always returns valid UTF-8.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  // One past the largest id of the model vocabulary and the added tokens.
  int32_t vocab_size() const;
  // Whether `id` is an added token marked special (skipped by decode(ids, true)).
  bool is_special(int32_t id) const;

  // From tokenizer_config.json (bos_token / eos_token, given as a string or an AddedToken object).
  std::optional<int32_t> bos_token_id() const;
  std::optional<int32_t> eos_token_id() const;
  const std::optional<std::string>& bos_token() const;
  const std::optional<std::string>& eos_token() const;
  // The chat template: chat_template.jinja, else tokenizer_config.json's chat_template (its
  // "default" entry when given as a list of named templates); empty when there is none.
  const std::string& chat_template() const;
  bool clean_up_tokenization_spaces() const;
  // tokenizer_config.json as read (an empty object when absent), for the chat template engine.
  const nlohmann::json& config() const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;  // immutable, so copies are cheap and share one vocabulary
  friend class StreamingDecoder;
};

// Incremental detokenization for streaming generation. push() returns the text that the new id
// completes; finish() returns what was held back. The concatenation of every chunk equals
// tokenizer.decode(all ids, skip_special_tokens), and no chunk ends inside a UTF-8 sequence or
// shows a U+FFFD that the full decode would not have (text that later ids can still change is
// held back until they arrive or until finish()).
class StreamingDecoder {
 public:
  explicit StreamingDecoder(Tokenizer tokenizer, bool skip_special_tokens = false);
  std::string push(int32_t id);
  std::string finish();

 private:
  std::string next_chunk(bool at_end);
  std::string clean_up_chunk(std::string raw, bool at_end);

  Tokenizer tokenizer_;
  bool skip_special_tokens_;
  std::vector<int32_t> window_;  // ids since the last commit point
  bool window_at_start_ = true;  // whether the window starts the text
  size_t window_emitted_ = 0;    // bytes of the window's decoded text already returned
  std::string cleanup_pending_;  // raw text the clean-up step has not released yet
};

}  // namespace vkllm::frontends
