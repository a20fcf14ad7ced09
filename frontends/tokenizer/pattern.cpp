#include "frontends/tokenizer/pattern.h"

#include "frontends/tokenizer/json_access.h"

namespace vkllm::frontends::components {
using namespace json_access;

Pattern::Pattern(const nlohmann::json& j, const std::string& where) {
  expect_object(j, where);
  if (const json* s = optional(j, "String")) {
    literal_ = as_string(*s, field_path(where, "String"));
  } else if (const json* r = optional(j, "Regex")) {
    regex_.emplace(as_string(*r, field_path(where, "Regex")), field_path(where, "Regex"));
  } else {
    fail(where, "expected {\"String\": ...} or {\"Regex\": ...}");
  }
}

std::vector<Span> Pattern::find_matches(std::string_view text) const {
  if (text.empty()) return {{0, 0, false}};
  std::vector<std::pair<size_t, size_t>> matches;
  if (literal_) {
    // An empty literal matches nothing (as in Hugging Face).
    if (!literal_->empty())
      for (size_t at = text.find(*literal_); at != std::string_view::npos;
           at = text.find(*literal_, at + literal_->size()))
        matches.emplace_back(at, at + literal_->size());
  } else {
    matches = regex_->find_all(text);
  }
  std::vector<Span> spans;
  spans.reserve(matches.size() * 2 + 1);
  size_t previous = 0;
  for (const auto& [begin, end] : matches) {
    if (previous != begin) spans.push_back({previous, begin, false});
    spans.push_back({begin, end, true});
    previous = end;
  }
  if (previous != text.size()) spans.push_back({previous, text.size(), false});
  return spans;
}

std::string Pattern::replace_all(std::string_view text, std::string_view content) const {
  std::string out;
  out.reserve(text.size());
  for (const Span& s : find_matches(text)) {
    if (s.is_match)
      out += content;
    else
      out.append(text.substr(s.begin, s.end - s.begin));
  }
  return out;
}

}  // namespace vkllm::frontends::components
