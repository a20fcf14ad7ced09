// A SentencePiece tokenizer.model, for model folders without tokenizer.json. The library encodes
// each text segment between added tokens; ids map to pieces for decoding.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace vkllm::frontends {

class SentencePieceModel {
 public:
  explicit SentencePieceModel(const std::filesystem::path& path);
  ~SentencePieceModel();
  SentencePieceModel(const SentencePieceModel&) = delete;
  SentencePieceModel& operator=(const SentencePieceModel&) = delete;

  void tokenize(std::string_view text, std::vector<int32_t>& out) const;
  int32_t piece_count() const;
  const std::string& piece(int32_t id) const;
  // Control pieces (<s>, </s>) and the unknown piece: special tokens, as in transformers.
  bool is_special(int32_t id) const;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::string path_;
};

}  // namespace vkllm::frontends
