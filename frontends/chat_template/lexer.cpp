#include "frontends/chat_template/lexer.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>

#include "frontends/chat_template/error.h"
#include "frontends/chat_template/unicode.h"

namespace vkllm::frontends::jinja {

const char* describe(TokenType t) {
  switch (t) {
    case TokenType::Data: return "template data";
    case TokenType::VariableBegin: return "begin of print statement";
    case TokenType::VariableEnd: return "end of print statement";
    case TokenType::BlockBegin: return "begin of statement block";
    case TokenType::BlockEnd: return "end of statement block";
    case TokenType::Name: return "name";
    case TokenType::String: return "string";
    case TokenType::Integer: return "integer";
    case TokenType::Float: return "float";
    case TokenType::Operator: return "operator";
    case TokenType::End: return "end of template";
  }
  return "?";
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

class Lexer {
 public:
  Lexer(std::string_view source, const std::string& origin) : origin_(origin) {
    if (!is_valid_utf8(source)) throw TemplateError(ErrorKind::Syntax, origin, 0, "the template is not valid UTF-8");
    // Jinja reads the source with all of \r\n, \r, \n as '\n' and drops one trailing newline.
    src_.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        src_ += '\n';
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        src_ += source[i];
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
  }

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const size_t tag = next_tag(pos_);
      if (tag == std::string::npos) {
        emit_data(src_.substr(pos_));
        break;
      }
      std::string text = src_.substr(pos_, tag - pos_);
      const int text_line = line_;
      const char opener = src_[tag + 1];
      const char sign = tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+') ? src_[tag + 2] : 0;
      const size_t raw_body = opener == '%' ? raw_begin_end(tag) : std::string::npos;
      if (sign == '-') {
        text = rstrip(text);
      } else if (sign != '+' && opener != '{') {
        text = lstrip_block(text);
      }
      advance_lines(pos_, tag);
      if (!text.empty()) tokens_.push_back({TokenType::Data, text_line, std::move(text)});
      pos_ = tag + 2 + (sign ? 1 : 0);
      if (raw_body != std::string::npos) {
        lex_raw(raw_body);
      } else if (opener == '#') {
        lex_comment();
      } else {
        lex_tag(opener == '%');
      }
    }
    tokens_.push_back({TokenType::End, line_, ""});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void error(const std::string& message) const {
    throw TemplateError(ErrorKind::Syntax, origin_, line_, message);
  }

  size_t next_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1))
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    return std::string::npos;
  }

  void advance_lines(size_t from, size_t to) {
    for (size_t i = from; i < to && i < src_.size(); ++i)
      if (src_[i] == '\n') ++line_;
  }

  // Length of the Python whitespace code point at i (0 when there is none).
  size_t space_at(size_t i) const {
    if (i >= src_.size()) return 0;
    const auto b = static_cast<unsigned char>(src_[i]);
    if (b < 0x80) return is_python_space(b) ? 1 : 0;
    const size_t len = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4;
    const std::u32string c = utf8_to_u32(std::string_view(src_).substr(i, len));
    return !c.empty() && is_python_space(c[0]) ? len : 0;
  }
  size_t skip_spaces(size_t i) const {
    while (size_t n = space_at(i)) i += n;
    return i;
  }

  static std::string rstrip(const std::string& text) {
    std::u32string u = utf8_to_u32(text);
    while (!u.empty() && is_python_space(u.back())) u.pop_back();
    return u32_to_utf8(u);
  }

  // lstrip_blocks: spaces between the start of a line and a block or comment tag are removed.
  std::string lstrip_block(const std::string& text) const {
    const size_t line_start = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    if (line_start == 0 && !line_starting_) return text;
    const std::string tail = text.substr(line_start);
    if (tail.empty()) return text;
    for (char32_t c : utf8_to_u32(tail))
      if (!is_python_space(c)) return text;
    return text.substr(0, line_start);
  }

  void emit_data(std::string text) {
    const int line = line_;
    advance_lines(pos_, src_.size());
    pos_ = src_.size();
    if (!text.empty()) tokens_.push_back({TokenType::Data, line, std::move(text)});
  }

  // If a "{% raw %}" tag starts at `tag`, the position just after it (after the whitespace a
  // '-%}' strips); npos otherwise.
  size_t raw_begin_end(size_t tag) const {
    size_t i = tag + 2;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
    i = skip_spaces(i);
    if (src_.compare(i, 3, "raw") != 0 || (i + 3 < src_.size() && is_name_char(src_[i + 3]))) return std::string::npos;
    i = skip_spaces(i + 3);
    if (src_.compare(i, 3, "-%}") == 0) return skip_spaces(i + 3);
    if (src_.compare(i, 2, "%}") == 0) return i + 2;
    return std::string::npos;
  }

  void lex_raw(size_t body_start) {
    advance_lines(pos_, body_start);
    line_starting_ = body_start > 0 && src_[body_start - 1] == '\n';
    for (size_t i = src_.find("{%", body_start); i != std::string::npos; i = src_.find("{%", i + 1)) {
      size_t j = i + 2;
      const char sign = j < src_.size() && (src_[j] == '-' || src_[j] == '+') ? src_[j] : 0;
      if (sign) ++j;
      j = skip_spaces(j);
      if (src_.compare(j, 6, "endraw") != 0) continue;
      j = skip_spaces(j + 6);
      size_t end;
      if (src_.compare(j, 3, "+%}") == 0) end = j + 3;
      else if (src_.compare(j, 3, "-%}") == 0) end = skip_spaces(j + 3);
      else if (src_.compare(j, 2, "%}") == 0) end = j + 2 + (j + 2 < src_.size() && src_[j + 2] == '\n' ? 1 : 0);
      else continue;
      std::string body = src_.substr(body_start, i - body_start);
      if (sign == '-') body = rstrip(body);
      else if (sign != '+') body = lstrip_block(body);
      if (!body.empty()) tokens_.push_back({TokenType::Data, line_, std::move(body)});
      advance_lines(body_start, end);
      line_starting_ = src_[end - 1] == '\n';
      pos_ = end;
      return;
    }
    error("missing end of raw directive");
  }

  void lex_comment() {
    for (size_t q = src_.find("#}", pos_); q != std::string::npos; q = src_.find("#}", q + 1)) {
      size_t end = q + 2;
      const char before = q > pos_ ? src_[q - 1] : 0;
      if (before == '-') end = skip_spaces(end);
      else if (before != '+' && end < src_.size() && src_[end] == '\n') ++end;
      advance_lines(pos_, end);
      line_starting_ = src_[end - 1] == '\n';
      pos_ = end;
      return;
    }
    error("missing end of comment tag");
  }

  // Inside {{ ... }} or {% ... %}: tokens up to the closing tag (brackets must balance first).
  void lex_tag(bool block) {
    tokens_.push_back({block ? TokenType::BlockBegin : TokenType::VariableBegin, line_, ""});
    std::vector<char> open_brackets;
    while (true) {
      if (open_brackets.empty() && try_tag_end(block)) return;
      if (size_t n = space_at(pos_)) {
        if (src_[pos_] == '\n') ++line_;
        pos_ += n;
        continue;
      }
      if (pos_ >= src_.size()) error(fmt::format("unexpected end of template, expected '{}'", block ? "%}" : "}}"));
      const char c = src_[pos_];
      if (is_digit(c)) {
        lex_number();
      } else if (is_name_start(c)) {
        size_t end = pos_;
        while (end < src_.size() && is_name_char(src_[end])) ++end;
        tokens_.push_back({TokenType::Name, line_, src_.substr(pos_, end - pos_)});
        pos_ = end;
      } else if (c == '\'' || c == '"') {
        lex_string();
      } else {
        lex_operator(open_brackets);
      }
    }
  }

  bool try_tag_end(bool block) {
    const char closer = block ? '%' : '}';
    size_t end;
    bool trimmed_newline = false;
    if (block && src_.compare(pos_, 3, "+%}") == 0) {
      end = pos_ + 3;
    } else if (src_.compare(pos_, 3, std::string("-") + closer + "}") == 0) {
      end = skip_spaces(pos_ + 3);
    } else if (src_.compare(pos_, 2, std::string(1, closer) + "}") == 0) {
      end = pos_ + 2;
      if (block && end < src_.size() && src_[end] == '\n') end++, trimmed_newline = true;  // trim_blocks
    } else {
      return false;
    }
    tokens_.push_back({block ? TokenType::BlockEnd : TokenType::VariableEnd, line_, ""});
    advance_lines(pos_, end);
    line_starting_ = trimmed_newline || (end > pos_ + 3 && src_[end - 1] == '\n');
    pos_ = end;
    return true;
  }

  void lex_number() {
    auto digits = [&](size_t i, auto is_valid) {  // d+(_d+)* from i; returns the end (i if none)
      size_t j = i;
      while (j < src_.size() && is_valid(src_[j])) {
        ++j;
        if (j + 1 < src_.size() && src_[j] == '_' && is_valid(src_[j + 1])) ++j;
      }
      return j;
    };
    auto dec = [](char ch) { return is_digit(ch); };
    const size_t start = pos_;
    // Floats: digits '.' digits [e[+-]digits] or digits e[+-]digits, never right after a '.'.
    if (start == 0 || src_[start - 1] != '.') {
      size_t j = digits(start, dec);
      bool is_float = false;
      if (j + 1 < src_.size() && src_[j] == '.' && is_digit(src_[j + 1])) {
        j = digits(j + 1, dec);
        is_float = true;
      }
      if (j < src_.size() && (src_[j] == 'e' || src_[j] == 'E')) {
        size_t k = j + 1;
        if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
        if (k < src_.size() && is_digit(src_[k])) {
          j = digits(k, dec);
          is_float = true;
        }
      }
      if (is_float) {
        std::string text;
        for (size_t i = start; i < j; ++i)
          if (src_[i] != '_') text += src_[i];
        tokens_.push_back({TokenType::Float, line_, text, 0, std::strtod(text.c_str(), nullptr)});
        pos_ = j;
        return;
      }
    }
    int base = 10;
    size_t body = start, end;
    auto prefixed = [&](char letter, int b, auto is_valid) {
      if (src_[start] != '0' || start + 1 >= src_.size() || (src_[start + 1] | 0x20) != letter) return false;
      size_t j = start + 2;
      if (j < src_.size() && src_[j] == '_') ++j;
      if (j >= src_.size() || !is_valid(src_[j])) return false;
      base = b, body = start + 2;
      end = j;
      while (end < src_.size() && (is_valid(src_[end]) || (src_[end] == '_' && end + 1 < src_.size() && is_valid(src_[end + 1])))) ++end;
      return true;
    };
    auto bin = [](char ch) { return ch == '0' || ch == '1'; };
    auto oct = [](char ch) { return ch >= '0' && ch <= '7'; };
    auto hex = [](char ch) { return is_digit(ch) || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f'); };
    if (!prefixed('b', 2, bin) && !prefixed('o', 8, oct) && !prefixed('x', 16, hex)) {
      if (src_[start] == '0') {  // 0(_?0)*
        end = start + 1;
        while (end < src_.size() && (src_[end] == '0' || (src_[end] == '_' && end + 1 < src_.size() && src_[end + 1] == '0'))) ++end;
      } else {
        end = digits(start, dec);
      }
    }
    std::string text;
    for (size_t i = body; i < end; ++i)
      if (src_[i] != '_') text += src_[i];
    errno = 0;
    char* parsed_end = nullptr;
    const long long value = std::strtoll(text.c_str(), &parsed_end, base);
    if (errno == ERANGE)
      throw TemplateError(ErrorKind::Unsupported, origin_, line_,
                          "unsupported integer literal " + src_.substr(start, end - start) + " (beyond 64 bits)");
    tokens_.push_back({TokenType::Integer, line_, src_.substr(start, end - start), value});
    pos_ = end;
  }

  void lex_string() {
    const char quote = src_[pos_];
    const int start_line = line_;
    size_t i = pos_ + 1;
    std::string out;
    while (true) {
      if (i >= src_.size()) error("unexpected end of template inside a string literal");
      const char c = src_[i];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c != '\\') {
        out += c;
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) error("unexpected end of template inside a string literal");
      i = decode_escape(i + 1, out);
    }
    tokens_.push_back({TokenType::String, start_line, std::move(out)});
    pos_ = i + 1;
  }

  // Python's "unicode-escape" decoding, which Jinja applies to string literals. `i` is just after
  // the backslash; returns the position after the escape.
  size_t decode_escape(size_t i, std::string& out) {
    const char e = src_[i];
    auto hex_value = [&](size_t from, size_t count) -> char32_t {
      if (from + count > src_.size()) error(fmt::format("truncated \\{} escape in a string literal", e));
      char32_t v = 0;
      for (size_t k = from; k < from + count; ++k) {
        const char h = src_[k];
        int d = is_digit(h) ? h - '0' : ((h | 0x20) >= 'a' && (h | 0x20) <= 'f') ? (h | 0x20) - 'a' + 10 : -1;
        if (d < 0) error(fmt::format("truncated \\{} escape in a string literal", e));
        v = v * 16 + static_cast<char32_t>(d);
      }
      return v;
    };
    auto code_point = [&](char32_t c) {
      if (c > 0x10FFFF) error("illegal Unicode character in a string literal");
      if (c >= 0xD800 && c <= 0xDFFF)
        throw TemplateError(ErrorKind::Unsupported, origin_, line_, "unsupported lone surrogate escape in a string literal");
      append_utf8(out, c);
    };
    switch (e) {
      case '\\': out += '\\'; return i + 1;
      case '\'': out += '\''; return i + 1;
      case '"': out += '"'; return i + 1;
      case 'a': out += '\a'; return i + 1;
      case 'b': out += '\b'; return i + 1;
      case 'f': out += '\f'; return i + 1;
      case 'n': out += '\n'; return i + 1;
      case 'r': out += '\r'; return i + 1;
      case 't': out += '\t'; return i + 1;
      case 'v': out += '\v'; return i + 1;
      case '\n': ++line_; return i + 1;  // line continuation
      case 'x': code_point(hex_value(i + 1, 2)); return i + 3;
      case 'u': code_point(hex_value(i + 1, 4)); return i + 5;
      case 'U': code_point(hex_value(i + 1, 8)); return i + 9;
      case 'N': throw TemplateError(ErrorKind::Unsupported, origin_, line_, "unsupported \\N{...} escape in a string literal");
      default: break;
    }
    if (e >= '0' && e <= '7') {
      char32_t v = 0;
      size_t k = i;
      while (k < i + 3 && k < src_.size() && src_[k] >= '0' && src_[k] <= '7') v = v * 8 + static_cast<char32_t>(src_[k++] - '0');
      code_point(v);
      return k;
    }
    if (static_cast<unsigned char>(e) >= 0x80) {
      // Jinja first turns non-ASCII characters into \x.. / \u.. / \U.. text, so a backslash before
      // one survives as a literal backslash followed by that text.
      const auto b = static_cast<unsigned char>(e);
      const size_t len = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4;
      const char32_t c = utf8_to_u32(std::string_view(src_).substr(i, len))[0];
      out += '\\';
      out += c < 0x100 ? fmt::format("x{:02x}", static_cast<uint32_t>(c))
             : c < 0x10000 ? fmt::format("u{:04x}", static_cast<uint32_t>(c))
                           : fmt::format("U{:08x}", static_cast<uint32_t>(c));
      return i + len;
    }
    out += '\\';  // unknown escapes stay as written
    out += e;
    return i + 1;
  }

  void lex_operator(std::vector<char>& open_brackets) {
    static const char* const two_char[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : two_char)
      if (src_.compare(pos_, 2, op) == 0) {
        tokens_.push_back({TokenType::Operator, line_, op});
        pos_ += 2;
        return;
      }
    const char c = src_[pos_];
    if (std::string_view("+-/*%~[](){}><=.:|,;").find(c) == std::string_view::npos) {
      if (static_cast<unsigned char>(c) < 0x80) error(fmt::format("unexpected char '{}'", c));
      const auto b = static_cast<unsigned char>(c);
      const size_t len = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4;
      error(fmt::format("unexpected char '{}'", src_.substr(pos_, len)));
    }
    if (c == '(' || c == '[' || c == '{') {
      open_brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (open_brackets.empty()) error(fmt::format("unexpected '{}'", c));
      if (open_brackets.back() != c) error(fmt::format("unexpected '{}', expected '{}'", c, open_brackets.back()));
      open_brackets.pop_back();
    }
    tokens_.push_back({TokenType::Operator, line_, std::string(1, c)});
    ++pos_;
  }

  const std::string& origin_;
  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;  // the text being lexed starts at the beginning of a line
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const std::string& origin) { return Lexer(source, origin).run(); }

}  // namespace vkllm::frontends::jinja
