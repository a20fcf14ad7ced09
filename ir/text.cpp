#include "ir/text.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "ir/verify.h"

namespace vkllm::ir {

ParseError::ParseError(std::string src, int ln, int col, std::string msg)
    : IrError(fmt::format("{}:{}:{}: error: {}", src, ln, col, msg)),
      source(std::move(src)),
      line(ln),
      column(col),
      message(std::move(msg)) {}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ident_start(char c) { return is_alpha(c) || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }
bool is_name_char(char c) { return is_ident_char(c) || c == '.'; }

// Value and graph names: [A-Za-z0-9_.]+.
bool valid_name(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_name_char); }
// Symbols and attribute keys: [A-Za-z_][A-Za-z0-9_]*.
bool valid_ident(std::string_view s) {
  return !s.empty() && is_ident_start(s[0]) && std::all_of(s.begin(), s.end(), is_ident_char);
}

// Length of the multi-byte UTF-8 sequence at s[i], or 0 if the bytes there are not one.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  auto cont = [&](size_t k) { return (byte(k) & 0xC0u) == 0x80u; };
  unsigned b0 = byte(0);
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;  // no overlongs, no surrogates
    return byte(1) >= lo && byte(1) <= hi && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    unsigned lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;  // no overlongs, <= U+10FFFF
    return byte(1) >= lo && byte(1) <= hi && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The body of a string literal: printable ASCII and valid UTF-8 as is; control characters (C0,
// DEL, C1) as \u{XXXX}; bytes that are not valid UTF-8 as \xHH, so any byte string round-trips.
std::string escape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"')
      out += "\\\"";
    else if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7F)
      out += fmt::format("\\u{{{:04X}}}", c);
    else if (c < 0x80)
      out += static_cast<char>(c);
    else if (size_t n = utf8_sequence_length(s, i)) {
      uint32_t second = static_cast<unsigned char>(s[i + 1]);
      if (n == 2 && c == 0xC2 && second < 0xA0)
        out += fmt::format("\\u{{{:04X}}}", second);  // C1 control
      else
        out.append(s.substr(i, n));
      i += n;
      continue;
    } else {
      out += fmt::format("\\x{:02X}", c);
    }
    ++i;
  }
  return out;
}

// A token quoted for an error message, shortened so that a huge token gives a short message.
std::string quote(std::string_view s) {
  constexpr size_t kMax = 40;
  if (s.size() > kMax) return fmt::format("'{}...'", escape(s.substr(0, kMax)));
  return fmt::format("'{}'", escape(s));
}

std::string format_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d);  // shortest form that reads back exactly
  std::string s(buf, res.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";  // keep floats distinct from ints
  return s;
}

std::string format_attr(const AttrValue& v) {
  struct Visitor {
    std::string operator()(int64_t i) const { return fmt::format("{}", i); }
    std::string operator()(double d) const { return format_float(d); }
    std::string operator()(const std::string& s) const { return "\"" + escape(s) + "\""; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::vector<int64_t>& l) const { return fmt::format("[{}]", fmt::join(l, ", ")); }
  };
  return std::visit(Visitor{}, v);
}

// ---------------------------------------------------------------------------------------------
// Printer

class Printer {
 public:
  explicit Printer(const Graph& g) : g_(g) {}

  std::string graph() {
    check_name(g_.name, "graph name");
    std::string out = fmt::format("graph @{}(", g_.name);
    for (size_t i = 0; i < g_.inputs.size(); ++i)
      out += fmt::format("{}%{}: {}", i ? ", " : "", name(g_.inputs[i]), type(g_.inputs[i]));
    out += ") {\n";
    for (size_t i = 0; i < g_.ops.size(); ++i) out += op(g_.ops[i], i);
    out += "  return";
    for (size_t i = 0; i < g_.outputs.size(); ++i) out += fmt::format("{} %{}", i ? "," : "", name(g_.outputs[i]));
    return out + "\n}\n";
  }

 private:
  std::string op(const Op& o, size_t index) {
    if (static_cast<size_t>(o.kind) >= static_cast<size_t>(kNumOps))
      throw IrError(fmt::format("graph @{}: op #{} has an invalid kind", g_.name, index));
    std::string out = "  ";
    for (size_t i = 0; i < o.results.size(); ++i) out += fmt::format("{}%{}", i ? ", " : "", name(o.results[i]));
    out += fmt::format(" = {}", ir::name(o.kind));
    if (!o.inputs.empty()) {
      out += "(";
      for (size_t i = 0; i < o.inputs.size(); ++i) out += fmt::format("{}%{}", i ? ", " : "", name(o.inputs[i]));
      out += ")";
    }
    if (!o.attrs.empty()) {
      out += " {";
      bool first = true;
      for (const auto& [key, value] : o.attrs) {  // std::map: sorted by key
        check_ident(key, "attribute name");
        out += fmt::format("{}{} = {}", first ? "" : ", ", key, format_attr(value));
        first = false;
      }
      out += "}";
    }
    out += " :";
    for (size_t i = 0; i < o.results.size(); ++i) out += fmt::format("{} {}", i ? "," : "", type(o.results[i]));
    return out + "\n";
  }

  const Value& value(ValueId v) const {
    if (v < 0 || static_cast<size_t>(v) >= g_.values.size())
      throw IrError(fmt::format("graph @{}: cannot print value #{}: there is no such value", g_.name, v));
    return g_.values[static_cast<size_t>(v)];
  }
  const std::string& name(ValueId v) const {
    const std::string& n = value(v).name;
    check_name(n, "value name");
    return n;
  }
  std::string type(ValueId v) const {
    const Type& t = value(v).type;
    for (const Dim& d : t.shape)
      if (!d.is_const()) check_ident(d.sym, "dim symbol");
    return to_string(t);
  }
  void check_name(std::string_view s, const char* what) const {
    if (!valid_name(s))
      throw IrError(
          fmt::format("graph @{}: cannot print {} {}: names must match [A-Za-z0-9_.]+", g_.name, what, quote(s)));
  }
  void check_ident(std::string_view s, const char* what) const {
    if (!valid_ident(s))
      throw IrError(
          fmt::format("graph @{}: cannot print {} {}: it must match [A-Za-z_][A-Za-z0-9_]*", g_.name, what, quote(s)));
  }

  const Graph& g_;
};

// ---------------------------------------------------------------------------------------------
// Lexer

enum class Tok {
  End,
  Ident,
  ValueName,
  GraphName,
  Int,
  Float,
  String,
  LParen,
  RParen,
  LBrace,
  RBrace,
  LBracket,
  RBracket,
  Comma,
  Colon,
  Equal
};

struct Loc {
  int line = 1, col = 1;
};

struct Token {
  Tok kind = Tok::End;
  std::string_view text;  // spelling in the source (for names: without the sigil)
  std::string str;        // decoded contents of a string literal
  Loc loc;
};

class Lexer {
 public:
  Lexer(std::string_view text, std::string source) : text_(text), source_(std::move(source)) {}

  [[noreturn]] void fail(Loc at, const std::string& what) const { throw ParseError(source_, at.line, at.col, what); }

  Token next() {
    skip_space_and_comments();
    Token t;
    t.loc = here();
    if (pos_ >= text_.size()) return t;
    size_t start = pos_;
    char c = text_[pos_];
    auto single = [&](Tok k) {
      ++pos_;
      t.kind = k;
      t.text = text_.substr(start, 1);
      return t;
    };
    switch (c) {
      case '(':
        return single(Tok::LParen);
      case ')':
        return single(Tok::RParen);
      case '{':
        return single(Tok::LBrace);
      case '}':
        return single(Tok::RBrace);
      case '[':
        return single(Tok::LBracket);
      case ']':
        return single(Tok::RBracket);
      case ',':
        return single(Tok::Comma);
      case ':':
        return single(Tok::Colon);
      case '=':
        return single(Tok::Equal);
      case '"':
        return string_literal(t);
      case '%':
      case '@': {
        ++pos_;
        size_t name_start = pos_;
        while (pos_ < text_.size() && is_name_char(text_[pos_])) ++pos_;
        if (pos_ == name_start)
          fail(t.loc, fmt::format("expected a {} name ([A-Za-z0-9_.]+) after '{}'", c == '%' ? "value" : "graph", c));
        t.kind = c == '%' ? Tok::ValueName : Tok::GraphName;
        t.text = text_.substr(name_start, pos_ - name_start);
        return t;
      }
      default:
        break;
    }
    if (is_digit(c) || c == '-') return number(t);
    if (is_ident_start(c)) {
      while (pos_ < text_.size() && is_ident_char(text_[pos_])) ++pos_;
      t.kind = Tok::Ident;
      t.text = text_.substr(start, pos_ - start);
      return t;
    }
    fail(t.loc, fmt::format("unexpected character {}", quote(text_.substr(start, 1))));
  }

 private:
  // Clamped so that absurdly long inputs cannot overflow an int.
  Loc here() const {
    return Loc{line_, static_cast<int>(std::min<size_t>(pos_ - line_start_, std::numeric_limits<int>::max() - 1)) + 1};
  }
  char at(size_t i) const { return i < text_.size() ? text_[i] : '\0'; }

  void skip_space_and_comments() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '\n') {
        ++pos_;
        if (line_ < std::numeric_limits<int>::max()) ++line_;
        line_start_ = pos_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '/' && at(pos_ + 1) == '/') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        return;
      }
    }
  }

  // -?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?, or -inf. Values are converted by the parser.
  Token number(Token& t) {
    size_t start = pos_;
    auto digits = [&](const char* what) {
      if (!is_digit(at(pos_))) fail(here(), fmt::format("bad number: expected {}", what));
      while (is_digit(at(pos_))) ++pos_;
    };
    bool is_float = false;
    if (at(pos_) == '-') {
      ++pos_;
      if (text_.substr(pos_, 3) == "inf" && !is_name_char(at(pos_ + 3))) {
        pos_ += 3;
        t.kind = Tok::Float;
        t.text = text_.substr(start, pos_ - start);
        return t;
      }
    }
    digits("a digit");
    if (at(pos_) == '.') {
      ++pos_;
      digits("a digit after '.'");
      is_float = true;
    }
    if (at(pos_) == 'e' || at(pos_) == 'E') {
      ++pos_;
      if (at(pos_) == '+' || at(pos_) == '-') ++pos_;
      digits("exponent digits");
      is_float = true;
    }
    if (is_name_char(at(pos_))) {
      size_t end = pos_;
      while (is_name_char(at(end))) ++end;
      fail(t.loc, fmt::format("bad number {}", quote(text_.substr(start, end - start))));
    }
    t.kind = is_float ? Tok::Float : Tok::Int;
    t.text = text_.substr(start, pos_ - start);
    return t;
  }

  int hex_digit(char c) const {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  Token string_literal(Token& t) {
    size_t start = pos_++;
    for (;;) {
      if (pos_ >= text_.size() || text_[pos_] == '\n') fail(t.loc, "unterminated string");
      char c = text_[pos_];
      if (c == '"') break;
      if (c != '\\') {
        if (static_cast<unsigned char>(c) < 0x20) fail(here(), "control character in a string: write it as \\u{XXXX}");
        t.str += c;
        ++pos_;
        continue;
      }
      Loc esc = here();
      char e = at(pos_ + 1);
      pos_ += 2;
      switch (e) {
        case '"':
          t.str += '"';
          break;
        case '\\':
          t.str += '\\';
          break;
        case 'n':
          t.str += '\n';
          break;
        case 't':
          t.str += '\t';
          break;
        case 'x': {
          int hi = hex_digit(at(pos_)), lo = hex_digit(at(pos_ + 1));
          if (hi < 0 || lo < 0) fail(esc, "bad escape: \\x takes two hex digits (\\xHH)");
          t.str += static_cast<char>(hi * 16 + lo);
          pos_ += 2;
          break;
        }
        case 'u': {
          if (at(pos_) != '{') fail(esc, "bad escape: expected \\u{XXXX}");
          ++pos_;
          uint32_t cp = 0;
          int n = 0;
          for (int d; (d = hex_digit(at(pos_))) >= 0; ++pos_, ++n) {
            if (n == 6) fail(esc, "bad escape: \\u{...} takes 1 to 6 hex digits");
            cp = cp * 16 + static_cast<uint32_t>(d);
          }
          if (n == 0 || at(pos_) != '}') fail(esc, "bad escape: expected \\u{XXXX} with 1 to 6 hex digits");
          ++pos_;
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            fail(esc, fmt::format("bad escape: U+{:04X} is not a Unicode scalar value", cp));
          append_utf8(t.str, cp);
          break;
        }
        default:
          fail(esc, fmt::format("unknown escape{}: use \\\", \\\\, \\n, \\t, \\xHH or \\u{{XXXX}}",
                                e > 0x20 && e < 0x7F ? fmt::format(" '\\{}'", e) : ""));
      }
    }
    ++pos_;
    t.kind = Tok::String;
    t.text = text_.substr(start, pos_ - start);
    return t;
  }

  std::string_view text_;
  std::string source_;
  size_t pos_ = 0, line_start_ = 0;
  int line_ = 1;
};

// ---------------------------------------------------------------------------------------------
// Parser

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

class Parser {
 public:
  Parser(std::string_view text, std::string_view source) : lex_(text, std::string(source)) { advance(); }

  Module module() {
    Module m;
    std::unordered_map<std::string, Loc> graph_names;
    std::vector<Loc> graph_locs;
    while (tok_.kind != Tok::End) {
      Loc at = tok_.loc;
      m.graphs.push_back(graph(graph_names));
      graph_locs.push_back(at);
    }
    // The parser already checked names and every op's type rule; the verifier has the last word.
    for (size_t i = 0; i < m.graphs.size(); ++i) {
      try {
        verify(m.graphs[i]);
      } catch (const IrError& e) {
        lex_.fail(graph_locs[i], e.what());
      }
    }
    return m;
  }

 private:
  struct Defined {
    ValueId id;
    Loc loc;
  };

  [[noreturn]] void fail(Loc at, const std::string& what) const { lex_.fail(at, what); }

  void advance() { tok_ = lex_.next(); }
  bool at(Tok k) const { return tok_.kind == k; }
  bool at_keyword(std::string_view kw) const { return tok_.kind == Tok::Ident && tok_.text == kw; }
  bool accept(Tok k) {
    if (!at(k)) return false;
    advance();
    return true;
  }
  std::string describe(const Token& t) const { return t.kind == Tok::End ? "end of input" : quote(t.text); }
  std::string describe_current() const {
    if (tok_.kind == Tok::ValueName) return quote("%" + std::string(tok_.text));
    if (tok_.kind == Tok::GraphName) return quote("@" + std::string(tok_.text));
    return describe(tok_);
  }
  [[noreturn]] void unexpected(const std::string& expected) const {
    fail(tok_.loc, fmt::format("expected {}, got {}", expected, describe_current()));
  }
  Token expect(Tok k, const std::string& expected) {
    if (!at(k)) unexpected(expected);
    Token t = std::move(tok_);
    advance();
    return t;
  }

  Graph graph(std::unordered_map<std::string, Loc>& graph_names) {
    if (!at_keyword("graph")) unexpected("'graph'");
    advance();
    Token name = expect(Tok::GraphName, "a graph name (@name)");
    auto [it, fresh] = graph_names.emplace(std::string(name.text), name.loc);
    if (!fresh)
      fail(name.loc, fmt::format("duplicate graph name @{} (first defined at {}:{})", name.text, it->second.line,
                                 it->second.col));
    Graph g;
    g.name = std::string(name.text);
    values_.clear();

    expect(Tok::LParen, "'('");
    if (!at(Tok::RParen)) {
      for (;;) {
        Token v = expect(Tok::ValueName, "an input (%name: type)");
        check_fresh(v);
        expect(Tok::Colon, "':'");
        Type t = type();
        g.inputs.push_back(define(g, v, std::move(t), -1));
        if (!accept(Tok::Comma)) break;
      }
    }
    expect(Tok::RParen, "',' or ')'");
    expect(Tok::LBrace, "'{'");
    while (!at_keyword("return")) {
      if (!at(Tok::ValueName)) unexpected("an op (%result = op(...) : type) or 'return'");
      op(g);
    }
    advance();
    if (at(Tok::ValueName)) {
      for (;;) {
        g.outputs.push_back(use(expect(Tok::ValueName, "a value")));
        if (!accept(Tok::Comma)) break;
      }
    }
    expect(Tok::RBrace, "'}' after the returned values");
    return g;
  }

  void op(Graph& g) {
    std::vector<Token> results;
    std::unordered_set<std::string_view> result_names;
    for (;;) {
      Token r = expect(Tok::ValueName, "a result name");
      check_fresh(r);
      if (!result_names.insert(r.text).second) fail(r.loc, fmt::format("duplicate value name %{}", r.text));
      results.push_back(std::move(r));
      if (!accept(Tok::Comma)) break;
    }
    expect(Tok::Equal, "'=' or ','");
    Token op_name = expect(Tok::Ident, "an op name");
    bool known = false;
    OpKind kind = parse_op_kind(op_name.text, &known);
    if (!known) fail(op_name.loc, unknown_op_message(op_name.text));
    if (info(kind).num_results >= 0 && static_cast<int>(results.size()) != info(kind).num_results)
      fail(results[0].loc,
           fmt::format("'{}' must have {} result(s), has {}", name(kind), info(kind).num_results, results.size()));

    Op o{kind, {}, {}, {}};
    if (accept(Tok::LParen)) {
      if (!at(Tok::RParen)) {
        for (;;) {
          o.inputs.push_back(use(expect(Tok::ValueName, "an operand (%name)")));
          if (!accept(Tok::Comma)) break;
        }
      }
      expect(Tok::RParen, "',' or ')'");
    }
    if (accept(Tok::LBrace)) {
      if (!at(Tok::RBrace)) {
        for (;;) {
          Token key = expect(Tok::Ident, "an attribute name");
          expect(Tok::Equal, "'='");
          if (!o.attrs.emplace(std::string(key.text), attr_value()).second)
            fail(key.loc, fmt::format("duplicate attribute '{}'", key.text));
          if (!accept(Tok::Comma)) break;
        }
      }
      expect(Tok::RBrace, "',' or '}'");
    }
    expect(Tok::Colon, "':' and the result type(s)");
    std::vector<Type> declared;
    std::vector<Loc> type_locs;
    for (;;) {
      type_locs.push_back(tok_.loc);
      declared.push_back(type());
      if (!accept(Tok::Comma)) break;
    }
    if (declared.size() != results.size())
      fail(type_locs[0], fmt::format("{} result name(s) but {} result type(s)", results.size(), declared.size()));

    // Type-check now, so that the error points at this op.
    std::vector<Type> in_types;
    for (ValueId v : o.inputs) in_types.push_back(g.type(v));
    std::vector<Type> inferred;
    try {
      inferred = infer_result_types(kind, in_types, o.attrs, declared);
    } catch (const IrError& e) {
      fail(op_name.loc, e.what());
    }
    if (inferred.size() > declared.size())  // ops whose result count the type rule gives (multi_matmul)
      fail(type_locs.back(), fmt::format("'{}' gives {} results here, {} declared", name(kind), inferred.size(),
                                         declared.size()));
    for (size_t j = 0; j < declared.size(); ++j)
      if (!(j < inferred.size() && inferred[j] == declared[j]))
        fail(type_locs[j],
             fmt::format("'{}': result {} (%{}) is declared {} but the rule gives {}", name(kind), j, results[j].text,
                         to_string(declared[j]), j < inferred.size() ? to_string(inferred[j]) : "no result"));

    int producer = static_cast<int>(g.ops.size());
    for (size_t j = 0; j < results.size(); ++j) o.results.push_back(define(g, results[j], declared[j], producer));
    g.ops.push_back(std::move(o));
  }

  Type type() {
    Token dt = expect(Tok::Ident, "a type (e.g. f32[seq, 64])");
    std::optional<DType> d = parse_dtype(dt.text);
    if (!d) {
      std::string known;
      for (int i = 0; i < kNumDTypes; ++i) known += fmt::format("{}{}", i ? ", " : "", kDTypeInfo[i].name);
      fail(dt.loc, fmt::format("unknown dtype {} (known: {})", quote(dt.text), known));
    }
    Type t{*d, {}};
    expect(Tok::LBracket, "'[' and the dims of the type");
    if (!at(Tok::RBracket)) {
      for (;;) {
        if (at(Tok::Ident)) {
          t.shape.push_back(Dim::symbol(std::string(tok_.text)));
          advance();
        } else if (at(Tok::Int)) {
          int64_t v = integer(tok_);
          if (v < 0) fail(tok_.loc, fmt::format("dim {} is negative; dims must be >= 0", v));
          t.shape.push_back(Dim::of(v));
          advance();
        } else {
          unexpected("a dim (an integer or a symbol)");
        }
        if (!accept(Tok::Comma)) break;
      }
    }
    expect(Tok::RBracket, "',' or ']'");
    return t;
  }

  AttrValue attr_value() {
    AttrValue v;
    switch (tok_.kind) {
      case Tok::Int:
        v = integer(tok_);
        break;
      case Tok::Float:
        v = floating(tok_);
        break;
      case Tok::String:
        v = std::move(tok_.str);
        break;
      case Tok::Ident:
        if (tok_.text == "true" || tok_.text == "false")
          v = tok_.text == "true";
        else if (tok_.text == "inf")
          v = std::numeric_limits<double>::infinity();
        else if (tok_.text == "nan")
          v = std::numeric_limits<double>::quiet_NaN();
        else
          unexpected("an attribute value (integer, float, string, true, false or [integers])");
        break;
      case Tok::LBracket: {
        advance();
        std::vector<int64_t> list;
        if (!at(Tok::RBracket)) {
          for (;;) {
            if (!at(Tok::Int)) unexpected("an integer (attribute lists hold integers only)");
            list.push_back(integer(tok_));
            advance();
            if (!accept(Tok::Comma)) break;
          }
        }
        if (!at(Tok::RBracket)) unexpected("',' or ']'");
        v = std::move(list);
        break;
      }
      default:
        unexpected("an attribute value (integer, float, string, true, false or [integers])");
    }
    advance();
    return v;
  }

  int64_t integer(const Token& t) const {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (ec != std::errc() || end != t.text.data() + t.text.size())
      fail(t.loc, fmt::format("integer {} is out of the range of int64", quote(t.text)));
    return v;
  }

  double floating(const Token& t) const {
    if (t.text == "-inf") return -std::numeric_limits<double>::infinity();
    double v = 0;
    auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (ec != std::errc() || end != t.text.data() + t.text.size())
      fail(t.loc, fmt::format("float {} is out of the range of double", quote(t.text)));
    return v;
  }

  std::string unknown_op_message(std::string_view op) const {
    std::string msg = fmt::format("unknown op {}", quote(op));
    constexpr size_t kMaxSuggestLength = 64;
    if (op.size() > kMaxSuggestLength) return msg;
    std::string_view best;
    size_t best_distance = 3;  // suggest only close spellings
    for (int i = 0; i < kNumOps; ++i) {
      size_t d = edit_distance(op, kOpInfo[i].name);
      if (d < best_distance) {
        best_distance = d;
        best = kOpInfo[i].name;
      }
    }
    return best.empty() ? msg : fmt::format("{} (did you mean '{}'?)", msg, best);
  }

  void check_fresh(const Token& v) const {
    auto it = values_.find(std::string(v.text));
    if (it != values_.end())
      fail(v.loc, fmt::format("duplicate value name %{} (first defined at {}:{})", v.text, it->second.loc.line,
                              it->second.loc.col));
  }

  ValueId define(Graph& g, const Token& v, Type t, int producer) {
    auto id = static_cast<ValueId>(g.values.size());
    g.values.push_back(Value{std::move(t), std::string(v.text), producer});
    values_.emplace(std::string(v.text), Defined{id, v.loc});
    return id;
  }

  ValueId use(const Token& v) const {
    auto it = values_.find(std::string(v.text));
    if (it == values_.end())
      fail(v.loc, fmt::format("unknown value %{} (values must be defined before they are used)", v.text));
    return it->second.id;
  }

  Lexer lex_;
  Token tok_;
  std::unordered_map<std::string, Defined> values_;  // names of the graph being parsed
};

}  // namespace

std::string print(const Graph& g) { return Printer(g).graph(); }

std::string print(const Module& m) {
  std::string out;
  for (size_t i = 0; i < m.graphs.size(); ++i) {
    if (i) out += "\n";
    out += print(m.graphs[i]);
  }
  return out;
}

Module parse_module(std::string_view text, std::string_view source_name) { return Parser(text, source_name).module(); }

}  // namespace vkllm::ir
