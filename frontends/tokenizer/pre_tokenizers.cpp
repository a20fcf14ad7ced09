// Pre-tokenizers: Split, ByteLevel, Metaspace, Digits, Sequence.
#include <fmt/format.h>

#include "frontends/tokenizer/components.h"
#include "frontends/tokenizer/json_access.h"
#include "frontends/tokenizer/pattern.h"
#include "frontends/tokenizer/unicode.h"

namespace vkllm::frontends::components {
namespace {
using namespace json_access;

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const json& j, const std::string& where) {
  const std::string s = as_string(j, where);
  if (s == "Removed") return Behavior::Removed;
  if (s == "Isolated") return Behavior::Isolated;
  if (s == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::MergedWithNext;
  if (s == "Contiguous") return Behavior::Contiguous;
  fail(where, fmt::format("unknown split behavior \"{}\" (expected Removed, Isolated, MergedWithPrevious, "
                          "MergedWithNext or Contiguous)",
                          s));
}

// Hugging Face NormalizedString::split: groups the spans by `behavior` and appends the kept,
// non-empty parts of `piece` to `out`.
void split_piece(const Piece& piece, const std::vector<Span>& spans, Behavior behavior, std::vector<Piece>& out) {
  struct Part {
    size_t begin, end;
    bool remove;
  };
  std::vector<Part> parts;
  parts.reserve(spans.size());
  bool previous_match = false;
  switch (behavior) {
    case Behavior::Isolated:
      for (const Span& s : spans) parts.push_back({s.begin, s.end, false});
      break;
    case Behavior::Removed:
      for (const Span& s : spans) parts.push_back({s.begin, s.end, s.is_match});
      break;
    case Behavior::Contiguous:
      for (const Span& s : spans) {
        if (s.is_match == previous_match && !parts.empty())
          parts.back().end = s.end;
        else
          parts.push_back({s.begin, s.end, false});
        previous_match = s.is_match;
      }
      break;
    case Behavior::MergedWithPrevious:
      for (const Span& s : spans) {
        if (s.is_match && !previous_match && !parts.empty())
          parts.back().end = s.end;
        else
          parts.push_back({s.begin, s.end, false});
        previous_match = s.is_match;
      }
      break;
    case Behavior::MergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !parts.empty())
          parts.back().begin = it->begin;
        else
          parts.push_back({it->begin, it->end, false});
        previous_match = it->is_match;
      }
      std::reverse(parts.begin(), parts.end());
      break;
  }
  for (const Part& p : parts)
    if (!p.remove && p.end > p.begin)
      out.push_back({piece.text.substr(p.begin, p.end - p.begin), piece.at_original_start && p.begin == 0});
}

// Spans of single characters accepted by `is_delimiter`, with the text between them.
template <class Pred>
std::vector<Span> char_matches(std::string_view text, Pred is_delimiter) {
  if (text.empty()) return {{0, 0, false}};
  std::vector<Span> spans;
  size_t last = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t at = i;
    if (is_delimiter(unicode::next_code_point(text, i))) {
      if (last < at) spans.push_back({last, at, false});
      spans.push_back({at, i, true});
      last = i;
    }
  }
  if (last < text.size()) spans.push_back({last, text.size(), false});
  return spans;
}

class Split final : public PreTokenizer {
 public:
  Split(Pattern pattern, Behavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    for (const Piece& p : pieces) {
      std::vector<Span> spans = pattern_.find_matches(p.text);
      if (invert_)
        for (Span& s : spans) s.is_match = !s.is_match;
      split_piece(p, spans, behavior_, out);
    }
    pieces = std::move(out);
  }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

// GPT-2's word pattern, used by ByteLevel when use_regex is set.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex, const std::string& where) : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_.emplace(kGpt2Pattern, where);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> split;
    split.reserve(pieces.size() * 4);
    for (Piece& p : pieces) {
      if (add_prefix_space_ && !p.text.starts_with(' ')) p.text.insert(0, 1, ' ');
      if (!regex_) {
        split.push_back(std::move(p));
        continue;
      }
      std::vector<Span> spans;
      size_t previous = 0;
      for (const auto& [b, e] : regex_->find_all(p.text)) {
        if (previous != b) spans.push_back({previous, b, false});
        spans.push_back({b, e, true});
        previous = e;
      }
      if (previous != p.text.size()) spans.push_back({previous, p.text.size(), false});
      split_piece(p, spans, Behavior::Isolated, split);
    }
    const std::vector<std::string>& to_char = byte_to_char_utf8();
    for (Piece& p : split) {
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      for (unsigned char b : p.text) mapped += to_char[b];
      p.text = std::move(mapped);
    }
    pieces = std::move(split);
  }

 private:
  bool add_prefix_space_;
  std::optional<Regex> regex_;
};

enum class PrependScheme { Always, Never, First };

class Metaspace final : public PreTokenizer {
 public:
  Metaspace(char32_t replacement, PrependScheme scheme, bool split)
      : replacement_(replacement), scheme_(scheme), split_(split) {
    unicode::append_utf8(replacement_utf8_, replacement);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    for (Piece& p : pieces) {
      std::string text;
      text.reserve(p.text.size() + 8);
      for (char c : p.text) {
        if (c == ' ')
          text += replacement_utf8_;
        else
          text += c;
      }
      const bool starts_with_replacement = text.starts_with(replacement_utf8_);
      if (!starts_with_replacement &&
          (scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && p.at_original_start)))
        text.insert(0, replacement_utf8_);
      Piece rewritten{std::move(text), p.at_original_start};
      if (!split_) {
        if (!rewritten.text.empty()) out.push_back(std::move(rewritten));
        continue;
      }
      const char32_t r = replacement_;
      split_piece(rewritten, char_matches(rewritten.text, [r](char32_t c) { return c == r; }), Behavior::MergedWithNext,
                  out);
    }
    pieces = std::move(out);
  }

 private:
  char32_t replacement_;
  std::string replacement_utf8_;
  PrependScheme scheme_;
  bool split_;
};

class Digits final : public PreTokenizer {
 public:
  explicit Digits(bool individual) : individual_(individual) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 2);
    for (const Piece& p : pieces)
      split_piece(p, char_matches(p.text, unicode::is_numeric), individual_ ? Behavior::Isolated : Behavior::Contiguous,
                  out);
    pieces = std::move(out);
  }

 private:
  bool individual_;
};

class PreTokenizerSequence final : public PreTokenizer {
 public:
  explicit PreTokenizerSequence(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& s : steps_) s->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

PrependScheme parse_prepend_scheme(const json& j, const std::string& where) {
  if (const json* s = optional(j, "prepend_scheme")) {
    const std::string v = as_string(*s, field_path(where, "prepend_scheme"));
    if (v == "always") return PrependScheme::Always;
    if (v == "never") return PrependScheme::Never;
    if (v == "first") return PrependScheme::First;
    fail(field_path(where, "prepend_scheme"), fmt::format("unknown prepend_scheme \"{}\" (always, never, first)", v));
  }
  // Files written before prepend_scheme existed say add_prefix_space instead.
  return bool_or(j, "add_prefix_space", true, where) ? PrependScheme::Always : PrependScheme::Never;
}

}  // namespace

const std::vector<std::string>& byte_to_char_utf8() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    char32_t next = 256;
    for (unsigned b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      unicode::append_utf8(t[b], printable ? static_cast<char32_t>(b) : next++);
    }
    return t;
  }();
  return table;
}

int byte_of_char(char32_t c) {
  static const std::vector<int> table = [] {
    std::vector<int> t(324, -1);  // the map's characters are all below U+0144
    const auto& to_char = byte_to_char_utf8();
    for (int b = 0; b < 256; ++b) {
      size_t i = 0;
      t[unicode::next_code_point(to_char[static_cast<size_t>(b)], i)] = b;
    }
    return t;
  }();
  return c < table.size() ? table[c] : -1;
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where) {
  const NestingGuard guard(where);
  const std::string type = as_string(required(j, "type", where), field_path(where, "type"));
  if (type == "Split") {
    const bool invert = bool_or(j, "invert", false, where);
    return std::make_unique<Split>(Pattern(required(j, "pattern", where), field_path(where, "pattern")),
                                   parse_behavior(required(j, "behavior", where), field_path(where, "behavior")),
                                   invert);
  }
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(bool_or(j, "add_prefix_space", true, where),
                                       bool_or(j, "use_regex", true, where), where);
  if (type == "Metaspace")
    return std::make_unique<Metaspace>(as_char(required(j, "replacement", where), field_path(where, "replacement")),
                                       parse_prepend_scheme(j, where), bool_or(j, "split", true, where));
  if (type == "Digits") return std::make_unique<Digits>(bool_or(j, "individual_digits", false, where));
  if (type == "Sequence") {
    const std::string list_where = field_path(where, "pretokenizers");
    const json& list = expect_array(required(j, "pretokenizers", where), list_where);
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t i = 0; i < list.size(); ++i) steps.push_back(make_pre_tokenizer(list[i], index_path(list_where, i)));
    return std::make_unique<PreTokenizerSequence>(std::move(steps));
  }
  fail(field_path(where, "type"),
       fmt::format("unsupported pre-tokenizer type \"{}\" (supported: Split, ByteLevel, Metaspace, Digits, Sequence)",
                   type));
}

}  // namespace vkllm::frontends::components
