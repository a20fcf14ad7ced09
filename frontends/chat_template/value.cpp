#include "frontends/chat_template/value.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "frontends/chat_template/error.h"
#include "frontends/chat_template/unicode.h"

namespace vkllm::frontends::jinja {

// ---------------------------------------------------------------------------------------------
// Construction

const std::shared_ptr<const std::string>& Value::empty_string() {
  static const auto empty = std::make_shared<const std::string>();
  return empty;
}

Value Value::undefined(std::string hint) {
  Value v;
  v.str_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.u_.b = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::Int;
  v.u_.i = i;
  return v;
}
Value Value::real(double d) {
  Value v;
  v.kind_ = Kind::Float;
  v.u_.f = d;
  return v;
}
Value Value::string(std::string s, bool markup) {
  Value v;
  v.kind_ = Kind::String;
  v.markup_ = markup;
  if (!s.empty()) v.str_ = std::make_shared<const std::string>(std::move(s));
  return v;
}
Value Value::list(List* l) {
  Value v;
  v.kind_ = Kind::List;
  v.u_.list = l;
  return v;
}
Value Value::dict(Dict* d) {
  Value v;
  v.kind_ = Kind::Dict;
  v.u_.dict = d;
  return v;
}
Value Value::object(Object* o) {
  Value v;
  v.kind_ = Kind::Object;
  v.u_.object = o;
  return v;
}
Value Value::function(Function* f) {
  Value v;
  v.kind_ = Kind::Function;
  v.u_.function = f;
  return v;
}

double Value::to_double() const {
  switch (kind_) {
    case Kind::Int: return static_cast<double>(u_.i);
    case Kind::Float: return u_.f;
    case Kind::Bool: return u_.b ? 1.0 : 0.0;
    default: fail(fmt::format("expected a number, got {}", type_name(*this)));
  }
}

bool Value::same_object(const Value& other) const {
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return true;
    case Kind::Bool: return u_.b == other.u_.b;
    case Kind::List: return u_.list == other.u_.list;
    case Kind::Dict: return u_.dict == other.u_.dict;
    case Kind::Object: return u_.object == other.u_.object;
    case Kind::Function: return u_.function == other.u_.function;
    default: return equals(*this, other);  // CPython interns small ints and short strings
  }
}

const Value* Dict::find(std::string_view key) const {
  auto it = index.find(std::string(key));
  return it == index.end() ? nullptr : &entries[it->second].second;
}

void Dict::set(const std::string& key, Value value) {
  auto it = index.find(key);
  if (it != index.end()) {
    entries[it->second].second = std::move(value);
    return;
  }
  index.emplace(key, entries.size());
  entries.emplace_back(key, std::move(value));
}

// ---------------------------------------------------------------------------------------------
// Heap

void Heap::charge(size_t bytes) {
  used_ += bytes;
  if (used_ > budget_)
    throw EvalError(ErrorKind::Limit,
                    fmt::format("the template created more than {} MiB of data", budget_ >> 20));
}
List* Heap::new_list(std::vector<Value> items, List::Type type) {
  charge(64 + items.size() * sizeof(Value));
  lists_.push_back(std::make_unique<List>());
  lists_.back()->items = std::move(items);
  lists_.back()->type = type;
  return lists_.back().get();
}
Dict* Heap::new_dict() {
  charge(128);
  dicts_.push_back(std::make_unique<Dict>());
  return dicts_.back().get();
}
Object* Heap::new_object(Object::Type type) {
  charge(128);
  objects_.push_back(std::make_unique<Object>(Object{type, {}}));
  return objects_.back().get();
}
Function* Heap::new_function(Function f) {
  charge(128);
  functions_.push_back(std::make_unique<Function>(std::move(f)));
  return functions_.back().get();
}
Scope* Heap::new_scope(Scope* parent) {
  charge(128);
  scopes_.push_back(std::make_unique<Scope>(Scope{parent, {}}));
  return scopes_.back().get();
}

// ---------------------------------------------------------------------------------------------
// Python semantics

const char* type_name(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return v.is_markup() ? "Markup" : "str";
    case Kind::List:
      switch (v.as_list().type) {
        case List::Type::List: return "list";
        case List::Type::Tuple: return "tuple";
        case List::Type::Range: return "range";
        case List::Type::DictItems: return "dict_items";
        case List::Type::DictKeys: return "dict_keys";
        case List::Type::DictValues: return "dict_values";
        case List::Type::Iterator: return "generator";
      }
      return "list";
    case Kind::Dict: return "dict";
    case Kind::Object: return v.as_object().type == Object::Type::Namespace ? "Namespace" : "LoopContext";
    case Kind::Function: return v.as_function().macro ? "Macro" : "builtin_function_or_method";
  }
  return "?";
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return v.as_bool();
    case Kind::Int: return v.as_int() != 0;
    case Kind::Float: return v.as_float() != 0.0;
    case Kind::String: return !v.as_string().empty();
    case Kind::List: return v.as_list().type == List::Type::Iterator || !v.as_list().items.empty();
    case Kind::Dict: return !v.as_dict().entries.empty();
    case Kind::Object:
    case Kind::Function: return true;
  }
  return false;
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then Python's layout: positional when the decimal exponent is
  // in [-4, 16), scientific otherwise, always with a '.0' or an exponent.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, end);
  const bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  const size_t e_pos = sci.find('e');
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  } else if (exponent < 0) {
    out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  } else {
    const size_t int_digits = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= int_digits) {
      out += digits + std::string(int_digits - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, int_digits) + "." + digits.substr(int_digits);
    }
  }
  return out;
}

std::string escape_html(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

void check_depth(int depth) {
  if (depth > kMaxValueDepth)
    throw EvalError(ErrorKind::Limit, fmt::format("value nested more than {} levels deep", kMaxValueDepth));
}

void check_size(size_t bytes) {
  if (bytes > kMaxFormattedBytes)
    throw EvalError(ErrorKind::Limit, fmt::format("a value formats to more than {} MiB", kMaxFormattedBytes >> 20));
}

// Counts the nodes a comparison visits (shared sub-values are visited every time they appear).
struct Visits {
  size_t left = kMaxComparedNodes;
  void visit() {
    if (left-- == 0) throw EvalError(ErrorKind::Limit, "comparing values visited more than 10M elements");
  }
};

// Code points Python's str.isprintable() rejects, as far as they can be known without Unicode
// tables: controls, format characters, separators other than space, surrogates, private use.
bool is_python_printable(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
  if (c < 0x100) return true;
  if ((c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F) ||
      c == 0x3000 || c == 0x1680 || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) || c == 0x180E || c == 0x61C)
    return false;
  if ((c >= 0xE000 && c <= 0xF8FF) || c >= 0xF0000) return false;
  return true;
}

std::string repr_string(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t c : utf8_to_u32(s)) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<char32_t>(quote)) out += std::string("\\") + quote;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (is_python_printable(c)) append_utf8(out, c);
    else if (c < 0x100) out += fmt::format("\\x{:02x}", static_cast<uint32_t>(c));
    else if (c < 0x10000) out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
    else out += fmt::format("\\U{:08x}", static_cast<uint32_t>(c));
  }
  out += quote;
  return out;
}

std::string repr_at(const Value& v, int depth);

std::string repr_dict(const Dict& d, int depth) {
  std::string out = "{";
  for (size_t i = 0; i < d.entries.size(); ++i) {
    if (i) out += ", ";
    out += repr_string(d.entries[i].first) + ": " + repr_at(d.entries[i].second, depth + 1);
    check_size(out.size());
  }
  return out + "}";
}

std::string repr_at(const Value& v, int depth) {
  check_depth(depth);
  switch (v.kind()) {
    case Kind::Undefined: return "Undefined";
    case Kind::String: return v.is_markup() ? "Markup(" + repr_string(v.as_string()) + ")" : repr_string(v.as_string());
    case Kind::List: {
      const List& l = v.as_list();
      if (l.type == List::Type::Iterator) unsupported("printing a generator (Python prints its address)");
      if (l.type == List::Type::Range)
        return l.range_step == 1 ? fmt::format("range({}, {})", l.range_start, l.range_stop)
                                 : fmt::format("range({}, {}, {})", l.range_start, l.range_stop, l.range_step);
      const bool tuple = l.type == List::Type::Tuple;
      std::string out = tuple ? "(" : "[";
      for (size_t i = 0; i < l.items.size(); ++i) {
        if (i) out += ", ";
        out += repr_at(l.items[i], depth + 1);
        check_size(out.size());
      }
      if (tuple && l.items.size() == 1) out += ",";
      out += tuple ? ")" : "]";
      if (l.type == List::Type::DictItems || l.type == List::Type::DictKeys || l.type == List::Type::DictValues)
        return std::string(type_name(v)) + "(" + out + ")";
      return out;
    }
    case Kind::Dict: return repr_dict(v.as_dict(), depth);
    case Kind::Object: {
      const Object& o = v.as_object();
      if (o.type == Object::Type::Namespace) return "<Namespace " + repr_dict(o.attributes, depth) + ">";
      const Value* index = o.attributes.find("index");
      const Value* len = o.attributes.find("length");
      return fmt::format("<LoopContext {}/{}>", index ? to_str(*index) : "?", len ? to_str(*len) : "?");
    }
    case Kind::Function:
      if (v.as_function().macro) return "<Macro " + repr_string(v.as_function().name) + ">";
      unsupported(fmt::format("printing the built-in function '{}'", v.as_function().name));
    default: return to_str(v);
  }
}

void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (char32_t c : utf8_to_u32(s)) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
          if (c >= 0x10000) {
            const char32_t v = c - 0x10000;
            out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
          } else {
            out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
          }
        } else {
          append_utf8(out, c);
        }
    }
  }
  out += '"';
}

void json_at(std::string& out, const Value& v, const JsonOptions& o, int depth) {
  check_depth(depth);
  check_size(out.size());
  auto newline = [&](int level) {
    out += '\n';
    for (int i = 0; i < level; ++i) out += *o.indent;
  };
  switch (v.kind()) {
    case Kind::None: out += "null"; return;
    case Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
    case Kind::Int: out += std::to_string(v.as_int()); return;
    case Kind::Float: {
      const double d = v.as_float();
      if (std::isnan(d)) out += "NaN";
      else if (std::isinf(d)) out += d < 0 ? "-Infinity" : "Infinity";
      else out += float_repr(d);
      return;
    }
    case Kind::String: json_string(out, v.as_string(), o.ensure_ascii); return;
    case Kind::List: {
      if (v.as_list().type != List::Type::List && v.as_list().type != List::Type::Tuple)
        fail(fmt::format("Object of type {} is not JSON serializable", type_name(v)));
      const auto& items = v.as_list().items;
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += o.item_separator;
        if (o.indent) newline(depth + 1);
        json_at(out, items[i], o, depth + 1);
      }
      if (o.indent) newline(depth);
      out += ']';
      return;
    }
    case Kind::Dict: {
      std::vector<const std::pair<std::string, Value>*> entries;
      for (const auto& e : v.as_dict().entries) entries.push_back(&e);
      if (entries.empty()) {
        out += "{}";
        return;
      }
      if (o.sort_keys)
        std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out += '{';
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out += o.item_separator;
        if (o.indent) newline(depth + 1);
        json_string(out, entries[i]->first, o.ensure_ascii);
        out += o.key_separator;
        json_at(out, entries[i]->second, o, depth + 1);
      }
      if (o.indent) newline(depth);
      out += '}';
      return;
    }
    default: fail(fmt::format("Object of type {} is not JSON serializable", type_name(v)));
  }
}

bool equals_at(const Value& a, const Value& b, int depth, Visits& visits) {
  check_depth(depth);
  visits.visit();
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Kind::Float || b.kind() == Kind::Float) {
      const Value& f = a.kind() == Kind::Float ? a : b;
      const Value& other = a.kind() == Kind::Float ? b : a;
      if (other.kind() == Kind::Float) return f.as_float() == other.as_float();
      // Python compares an int with a float exactly, not through a rounded double.
      const double d = f.as_float();
      const int64_t i = other.kind() == Kind::Bool ? other.as_bool() : other.as_int();
      if (std::floor(d) != d || std::fabs(d) >= 9.2e18) return false;
      return static_cast<int64_t>(d) == i;
    }
    const int64_t x = a.kind() == Kind::Bool ? a.as_bool() : a.as_int();
    const int64_t y = b.kind() == Kind::Bool ? b.as_bool() : b.as_int();
    return x == y;
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::Undefined:
    case Kind::None: return true;
    case Kind::String: return a.as_string() == b.as_string();
    case Kind::List: {
      const List& x = a.as_list();
      const List& y = b.as_list();
      if (!x.indexable() || !y.indexable()) return a.same_object(b);
      if (x.type != y.type || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i)
        if (!equals_at(x.items[i], y.items[i], depth + 1, visits)) return false;
      return true;
    }
    case Kind::Dict: {
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [key, value] : x.entries) {
        const Value* other = y.find(key);
        if (!other || !equals_at(value, *other, depth + 1, visits)) return false;
      }
      return true;
    }
    default: return a.same_object(b);
  }
}

int compare_at(const Value& a, const Value& b, int depth, Visits& visits) {
  check_depth(depth);
  visits.visit();
  if (a.is_number() && b.is_number()) {
    if (a.kind() != Kind::Float && b.kind() != Kind::Float) {
      const int64_t x = a.kind() == Kind::Bool ? a.as_bool() : a.as_int();
      const int64_t y = b.kind() == Kind::Bool ? b.as_bool() : b.as_int();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    const double x = a.to_double();
    const double y = b.to_double();
    if (std::isnan(x) || std::isnan(y)) unsupported("ordering comparisons with nan");
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.as_string().compare(b.as_string());  // UTF-8 byte order is code point order
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.kind() == Kind::List && b.kind() == Kind::List && a.as_list().type == b.as_list().type &&
      (a.as_list().type == List::Type::List || a.as_list().type == List::Type::Tuple)) {
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equals_at(x[i], y[i], depth + 1, visits)) continue;
      return compare_at(x[i], y[i], depth + 1, visits);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  if (a.is_undefined() || b.is_undefined()) fail((a.is_undefined() ? a : b).undefined_hint());
  fail(fmt::format("'<' not supported between instances of '{}' and '{}'", type_name(a), type_name(b)));
}

}  // namespace

std::string to_str(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return "";
    case Kind::None: return "None";
    case Kind::Bool: return v.as_bool() ? "True" : "False";
    case Kind::Int: return std::to_string(v.as_int());
    case Kind::Float: return float_repr(v.as_float());
    case Kind::String: return v.as_string();
    default: return repr_at(v, 0);
  }
}

std::string repr(const Value& v) { return repr_at(v, 0); }

bool equals(const Value& a, const Value& b) {
  Visits visits;
  return equals_at(a, b, 0, visits);
}

int compare(const Value& a, const Value& b) {
  Visits visits;
  return compare_at(a, b, 0, visits);
}

std::optional<size_t> length(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return 0;
    case Kind::String: return count_code_points(v.as_string());
    case Kind::List:
      if (v.as_list().type == List::Type::Iterator) return std::nullopt;
      return v.as_list().items.size();
    case Kind::Dict: return v.as_dict().entries.size();
    default: return std::nullopt;
  }
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return {};
    case Kind::List: {
      List& l = v.as_list();
      if (l.type != List::Type::Iterator) return l.items;
      std::vector<Value> items = std::move(l.items);  // an iterator yields its items once
      l.items.clear();
      return items;
    }
    case Kind::Dict: {
      std::vector<Value> keys;
      for (const auto& e : v.as_dict().entries) keys.push_back(Value::string(e.first));
      return keys;
    }
    case Kind::String: {
      std::vector<Value> chars;
      for (char32_t c : utf8_to_u32(v.as_string())) {
        std::string s;
        append_utf8(s, c);
        chars.push_back(Value::string(std::move(s), v.is_markup()));
      }
      return chars;
    }
    default: fail(fmt::format("'{}' object is not iterable", type_name(v)));
  }
}

std::string to_json(const Value& v, const JsonOptions& options) {
  std::string out;
  json_at(out, v, options, 0);
  return out;
}

}  // namespace vkllm::frontends::jinja
