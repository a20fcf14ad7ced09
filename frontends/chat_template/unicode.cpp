#include "frontends/chat_template/unicode.h"

#include <fmt/format.h>
#include <locale.h>
#include <wctype.h>

#include "frontends/chat_template/error.h"

namespace vkllm::frontends::jinja {

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len;
    char32_t c;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2, c = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3, c = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4, c = b & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cb = static_cast<unsigned char>(s[i + k]);
      if ((cb & 0xC0) != 0x80) return false;
      c = (c << 6) | (cb & 0x3F);
    }
    const char32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_for_len[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::u32string utf8_to_u32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4;
    char32_t c = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; k < len && i + k < s.size(); ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(c);
    i += len;
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string u32_to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

size_t count_code_points(std::string_view s) {
  size_t n = 0;
  for (char ch : s)
    if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++n;
  return n;
}

bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

namespace {

// The C.UTF-8 locale gives the Unicode simple case mappings (the same tables Python uses for
// characters whose mapping is a single code point).
locale_t unicode_locale() {
  static const locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return loc;
}

// Python maps these to several code points (SpecialCasing.txt) or to a distinct titlecase form.
bool has_multi_char_upper(char32_t c) {
  return c == 0xDF || c == 0x149 || c == 0x1F0 || c == 0x390 || c == 0x3B0 || c == 0x587 ||
         (c >= 0x1E96 && c <= 0x1E9A) || (c >= 0x1F50 && c <= 0x1F56) || (c >= 0x1F80 && c <= 0x1FFC) ||
         (c >= 0xFB00 && c <= 0xFB06) || (c >= 0xFB13 && c <= 0xFB17);
}
bool has_distinct_titlecase(char32_t c) { return (c >= 0x1C4 && c <= 0x1CC) || (c >= 0x1F1 && c <= 0x1F3); }

[[noreturn]] void unmappable(const char* what, char32_t c) {
  unsupported(fmt::format("{} of U+{:04X}: Python maps it to several characters", what, static_cast<uint32_t>(c)));
}

char32_t to_upper(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if (has_multi_char_upper(c)) unmappable("upper()", c);
  const locale_t loc = unicode_locale();
  if (!loc) unsupported("case mapping of non-ASCII text (the C.UTF-8 locale is missing)");
  return static_cast<char32_t>(towupper_l(static_cast<wint_t>(c), loc));
}

char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c == 0x130) unmappable("lower()", c);
  const locale_t loc = unicode_locale();
  if (!loc) unsupported("case mapping of non-ASCII text (the C.UTF-8 locale is missing)");
  return static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), loc));
}

char32_t to_title(char32_t c) {
  if (has_distinct_titlecase(c)) unmappable("titlecase", c);
  return to_upper(c);
}

bool is_upper_char(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z';
  const locale_t loc = unicode_locale();
  return loc && iswupper_l(static_cast<wint_t>(c), loc);
}
bool is_lower_char(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z';
  const locale_t loc = unicode_locale();
  return loc && iswlower_l(static_cast<wint_t>(c), loc);
}
bool is_cased(char32_t c) { return is_upper_char(c) || is_lower_char(c) || has_distinct_titlecase(c); }

}  // namespace

std::string python_upper(std::string_view s) {
  std::u32string u = utf8_to_u32(s);
  for (char32_t& c : u) c = to_upper(c);
  return u32_to_utf8(u);
}

std::string python_lower(std::string_view s) {
  std::u32string u = utf8_to_u32(s);
  std::u32string out = u;
  for (size_t i = 0; i < u.size(); ++i) {
    // Capital sigma lowers to final sigma at the end of a word (Python's Final_Sigma rule).
    if (u[i] == 0x3A3) {
      const bool after_cased = i > 0 && is_cased(u[i - 1]);
      const bool before_cased = i + 1 < u.size() && is_cased(u[i + 1]);
      out[i] = after_cased && !before_cased ? 0x3C2 : 0x3C3;
    } else {
      out[i] = to_lower(u[i]);
    }
  }
  return u32_to_utf8(out);
}

std::string python_title(std::string_view s) {
  std::u32string u = utf8_to_u32(s);
  bool previous_cased = false;
  for (char32_t& c : u) {
    const bool cased = is_cased(c);
    c = previous_cased ? to_lower(c) : to_title(c);
    previous_cased = cased;
  }
  return u32_to_utf8(u);
}

std::string python_capitalize(std::string_view s) {
  std::u32string u = utf8_to_u32(s);
  for (size_t i = 0; i < u.size(); ++i) u[i] = i == 0 ? to_title(u[i]) : to_lower(u[i]);
  return u32_to_utf8(u);
}

std::string jinja_title(std::string_view s) {
  // Jinja splits on runs of [-\s({\[<] and upper-cases the first character of every piece.
  auto is_separator = [](char32_t c) { return is_python_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<'; };
  std::u32string u = utf8_to_u32(s);
  bool at_piece_start = true;
  bool in_separator_run = false;
  for (char32_t& c : u) {
    const bool sep = is_separator(c);
    if (sep != in_separator_run) at_piece_start = true;
    in_separator_run = sep;
    c = at_piece_start ? to_upper(c) : to_lower(c);
    at_piece_start = false;
  }
  return u32_to_utf8(u);
}

bool python_is_lower(std::string_view s) {
  bool any_cased = false;
  for (char32_t c : utf8_to_u32(s)) {
    if (is_upper_char(c) || has_distinct_titlecase(c)) return false;
    any_cased |= is_lower_char(c);
  }
  return any_cased;
}

bool python_is_upper(std::string_view s) {
  bool any_cased = false;
  for (char32_t c : utf8_to_u32(s)) {
    if (is_lower_char(c) || has_distinct_titlecase(c)) return false;
    any_cased |= is_upper_char(c);
  }
  return any_cased;
}

}  // namespace vkllm::frontends::jinja
