#include "frontends/tokenizer/added_vocabulary.h"

#include "frontends/tokenizer/unicode.h"

namespace vkllm::frontends {

int32_t LiteralMatcher::child(int32_t node, unsigned char byte) const {
  auto it = edges_.find((static_cast<uint64_t>(node) << 8) | byte);
  return it == edges_.end() ? -1 : it->second;
}

void LiteralMatcher::add(std::string_view pattern, int32_t value) {
  if (pattern.empty()) return;
  int32_t node = 0;
  for (unsigned char b : pattern) {
    int32_t next = child(node, b);
    if (next < 0) {
      next = static_cast<int32_t>(value_.size());
      value_.push_back(-1);
      edges_.emplace((static_cast<uint64_t>(node) << 8) | b, next);
    }
    node = next;
  }
  value_[static_cast<size_t>(node)] = value;
  first_byte_[static_cast<unsigned char>(pattern[0])] = true;
}

std::vector<LiteralMatcher::Match> LiteralMatcher::find_all(std::string_view text) const {
  std::vector<Match> matches;
  for (size_t pos = 0; pos < text.size();) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    size_t best_end = 0;
    int32_t best = -1;
    int32_t node = 0;
    for (size_t j = pos; j < text.size(); ++j) {
      node = child(node, static_cast<unsigned char>(text[j]));
      if (node < 0) break;
      if (value_[static_cast<size_t>(node)] >= 0) {
        best = value_[static_cast<size_t>(node)];
        best_end = j + 1;
      }
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    matches.push_back({pos, best_end, best});
    pos = best_end;
  }
  return matches;
}

namespace {

// The character before byte `end` / at byte `begin` (text is valid UTF-8).
char32_t char_before(std::string_view s, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return unicode::next_code_point(s, start);
}
char32_t char_at(std::string_view s, size_t begin) { return unicode::next_code_point(s, begin); }

// Start of the whitespace run that ends `s`.
size_t leftmost_space_at_end(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t i = start;
    if (!unicode::is_white_space(unicode::next_code_point(s, i))) break;
    end = start;
  }
  return end;
}

// Length of the whitespace run that starts `s`.
size_t rightmost_space_at_start(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t next = i;
    if (!unicode::is_white_space(unicode::next_code_point(s, next))) break;
    i = next;
  }
  return i;
}

}  // namespace

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const components::Normalizer* normalizer)
    : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    if (t.content.empty()) continue;
    if (!t.normalized) {
      raw_.add(t.content, static_cast<int32_t>(i));
      has_raw_ = true;
      continue;
    }
    std::string content = t.content;
    if (normalizer) normalizer->normalize(content);
    normalized_.add(content, static_cast<int32_t>(i));
    has_normalized_ = has_normalized_ || !content.empty();
  }
}

void AddedVocabulary::split(const Segment& segment, const LiteralMatcher& matcher, std::vector<Segment>& out) const {
  const std::string_view s = segment.text;
  size_t start_offset = 0;
  auto emit_text = [&](size_t begin, size_t end) {
    if (end > begin)
      out.push_back({std::string(s.substr(begin, end - begin)), -1, segment.at_original_start && begin == 0});
  };
  for (const LiteralMatcher::Match& m : matcher.find_all(s)) {
    const AddedToken& t = tokens_[static_cast<size_t>(m.value)];
    size_t start = m.begin, stop = m.end;
    if (t.single_word) {
      const bool space_before = start == 0 || !unicode::is_word_char(char_before(s, start));
      const bool space_after = stop == s.size() || !unicode::is_word_char(char_at(s, stop));
      if (!space_before || !space_after) continue;
    }
    // lstrip / rstrip take the whitespace around the token into it. The matcher resumes after
    // the token itself, so a following match can overlap stripped whitespace (as in Hugging Face).
    if (t.lstrip) start = std::max(leftmost_space_at_end(s.substr(0, start)), start_offset);
    if (t.rstrip) stop += rightmost_space_at_start(s.substr(stop));
    if (start_offset < start) emit_text(start_offset, start);
    out.push_back({std::string(s.substr(start, stop - start)), t.id, false});
    start_offset = stop;
  }
  if (start_offset < s.size()) emit_text(start_offset, s.size());
}

std::vector<Segment> AddedVocabulary::extract_and_normalize(std::string_view text,
                                                            const components::Normalizer* normalizer) const {
  std::vector<Segment> raw_split;
  Segment whole{std::string(text), -1, true};
  if (has_raw_)
    split(whole, raw_, raw_split);
  else if (!text.empty())
    raw_split.push_back(std::move(whole));

  std::vector<Segment> out;
  out.reserve(raw_split.size());
  for (Segment& seg : raw_split) {
    if (seg.token >= 0) {
      out.push_back(std::move(seg));
      continue;
    }
    if (normalizer) normalizer->normalize(seg.text);
    if (seg.text.empty()) continue;
    if (has_normalized_)
      split(seg, normalized_, out);
    else
      out.push_back(std::move(seg));
  }
  return out;
}

}  // namespace vkllm::frontends
