#include "frontends/tokenizer/sentencepiece_model.h"

#include <fmt/format.h>
#include <sentencepiece_processor.h>

#include "frontends/tokenizer/tokenizer.h"

namespace vkllm::frontends {

SentencePieceModel::SentencePieceModel(const std::filesystem::path& path)
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()), path_(path.string()) {
  const auto status = processor_->Load(path_);
  if (!status.ok())
    throw TokenizerError(fmt::format("{}: not a readable SentencePiece model: {}", path_, status.ToString()));
}

SentencePieceModel::~SentencePieceModel() = default;

void SentencePieceModel::tokenize(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<int> ids;
  const auto status = processor_->Encode(text, &ids);
  if (!status.ok()) throw TokenizerError(fmt::format("{}: SentencePiece encode failed: {}", path_, status.ToString()));
  out.insert(out.end(), ids.begin(), ids.end());
}

int32_t SentencePieceModel::piece_count() const { return processor_->GetPieceSize(); }

const std::string& SentencePieceModel::piece(int32_t id) const { return processor_->IdToPiece(id); }

bool SentencePieceModel::is_special(int32_t id) const { return processor_->IsControl(id) || processor_->IsUnknown(id); }

}  // namespace vkllm::frontends
