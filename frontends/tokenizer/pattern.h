// The `pattern` of Split / Replace components: {"String": "..."} (a literal) or {"Regex": "..."}.
#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frontends/tokenizer/regex.h"

namespace vkllm::frontends::components {

// A span of the searched text and whether the pattern matched it. A list of them covers the text.
struct Span {
  size_t begin, end;
  bool is_match;
};

class Pattern {
 public:
  Pattern(const nlohmann::json& j, const std::string& where);
  // Hugging Face Pattern::find_matches: matched and unmatched spans covering `text` in order
  // (one unmatched empty span for empty text).
  std::vector<Span> find_matches(std::string_view text) const;
  // Every match replaced by `content`.
  std::string replace_all(std::string_view text, std::string_view content) const;

 private:
  std::optional<std::string> literal_;
  std::optional<Regex> regex_;
};

}  // namespace vkllm::frontends::components
