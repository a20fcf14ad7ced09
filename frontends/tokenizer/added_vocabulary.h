// Added tokens (special or not) recognised in the text before the model sees it, as Hugging
// Face's AddedVocabulary does: tokens with normalized=false are matched in the raw text, the
// others in the normalized text; leftmost-longest; honouring single_word, lstrip and rstrip.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "frontends/tokenizer/components.h"

namespace vkllm::frontends {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

// Leftmost-longest, non-overlapping occurrences of a set of strings (a byte trie).
class LiteralMatcher {
 public:
  void add(std::string_view pattern, int32_t value);
  struct Match {
    size_t begin, end;
    int32_t value;
  };
  std::vector<Match> find_all(std::string_view text) const;

 private:
  int32_t child(int32_t node, unsigned char byte) const;
  std::unordered_map<uint64_t, int32_t> edges_;  // (node << 8 | byte) -> child node
  std::vector<int32_t> value_{-1};               // per node; -1 when no pattern ends there
  std::array<bool, 256> first_byte_{};
};

// A stretch of the text: an added token (token >= 0) or text for the normalizer and model.
struct Segment {
  std::string text;
  int32_t token = -1;
  bool at_original_start = false;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // `normalizer` (may be null) is applied to the content of normalized tokens.
  AddedVocabulary(std::vector<AddedToken> tokens, const components::Normalizer* normalizer);

  // Hugging Face extract_and_normalize: split `text` on raw-matched tokens, normalize the rest
  // with `normalizer`, split that on normalized-matched tokens. Empty text segments are dropped.
  std::vector<Segment> extract_and_normalize(std::string_view text, const components::Normalizer* normalizer) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // Hugging Face AddedVocabulary::find_matches on one segment; appends to `out`.
  void split(const Segment& segment, const LiteralMatcher& matcher, std::vector<Segment>& out) const;

  std::vector<AddedToken> tokens_;
  LiteralMatcher raw_;         // tokens with normalized = false
  LiteralMatcher normalized_;  // tokens with normalized = true, by their normalized content
  bool has_raw_ = false, has_normalized_ = false;
};

}  // namespace vkllm::frontends
