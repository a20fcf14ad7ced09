// Jinja's built-in filters and tests, Python's str / dict / list methods, attribute and item
// lookup with the sandbox's rules, and the globals of transformers' chat-template environment.
#include <fmt/format.h>
#include <locale.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <set>
#include <unordered_map>

#include "frontends/chat_template/interpreter.h"
#include "frontends/chat_template/unicode.h"

namespace vkllm::frontends::jinja {

std::vector<std::optional<Value>> bind_arguments(const std::string& what, const CallArguments& args,
                                                 std::initializer_list<const char*> parameters) {
  const std::vector<const char*> names(parameters);
  if (args.positional.size() > names.size())
    fail(fmt::format("{} takes at most {} argument(s) ({} given)", what, names.size(), args.positional.size()));
  std::vector<std::optional<Value>> bound(names.size());
  for (size_t i = 0; i < args.positional.size(); ++i) bound[i] = args.positional[i];
  for (const auto& keyword : args.keywords) {
    const std::string& key = keyword.first;
    auto it = std::find_if(names.begin(), names.end(), [&](const char* n) { return key == n; });
    if (it == names.end()) fail(fmt::format("{} got an unexpected keyword argument '{}'", what, key));
    auto& slot = bound[static_cast<size_t>(it - names.begin())];
    if (slot) fail(fmt::format("{} got multiple values for argument '{}'", what, key));
    slot = keyword.second;
  }
  return bound;
}

namespace {

using Filter = Value (*)(Interpreter&, const Value&, CallArguments&);
using Test = bool (*)(Interpreter&, const Value&, CallArguments&);

// Python's object_type_repr, used in undefined-value messages.
std::string object_type_repr(const Value& v) {
  switch (v.kind()) {
    case Kind::None: return "None";
    case Kind::Object:
      return v.as_object().type == Object::Type::Namespace ? "jinja2.utils.Namespace object" : "jinja2.runtime.LoopContext object";
    case Kind::Function: return v.as_function().macro ? "jinja2.runtime.Macro object" : "builtin_function_or_method object";
    case Kind::String: return v.is_markup() ? "markupsafe.Markup object" : "str object";
    default: return std::string(type_name(v)) + " object";
  }
}

Value missing_attribute(const Value& object, const std::string& name) {
  return Value::undefined(fmt::format("'{}' has no attribute '{}'", object_type_repr(object), name));
}

int64_t to_int(const Value& v, const char* what) {
  if (v.kind() == Kind::Int) return v.as_int();
  if (v.kind() == Kind::Bool) return v.as_bool() ? 1 : 0;
  if (v.is_undefined()) fail(v.undefined_hint());
  fail(fmt::format("{} must be an integer, not {}", what, type_name(v)));
}

const std::string& to_string_arg(const Value& v, const char* what) {
  if (v.is_string()) return v.as_string();
  if (v.is_undefined()) fail(v.undefined_hint());
  fail(fmt::format("{} must be a string, not {}", what, type_name(v)));
}

// soft_str: strings (Markup included) as they are, anything else through str().
Value soft_str(Interpreter& in, const Value& v) { return v.is_string() ? v : in.make_string(to_str(v)); }

Value ignore_case(Interpreter& in, const Value& v) {
  return v.is_string() ? in.make_string(python_lower(v.as_string()), v.is_markup()) : v;
}

// environment.make_attrgetter: "a.b.0" looks up item by item (getitem, then attribute).
Value get_path(Interpreter& in, const Value& item, const Value& attribute) {
  if (!attribute.is_string()) return in.get_item(item, attribute);
  Value v = item;
  const std::string& path = attribute.as_string();
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = in.get_item(v, numeric ? Value::integer(std::strtoll(part.c_str(), nullptr, 10)) : Value::string(part));
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Python str helpers on code points

std::u32string strip_set(const std::optional<Value>& chars) {
  if (!chars || chars->is_none()) return {};
  return utf8_to_u32(to_string_arg(*chars, "strip chars"));
}

std::string py_strip(const std::string& s, const std::optional<Value>& chars, bool left, bool right) {
  const std::u32string set = strip_set(chars);
  const bool whitespace = !chars || chars->is_none();
  auto strippable = [&](char32_t c) { return whitespace ? is_python_space(c) : set.find(c) != std::u32string::npos; };
  const std::u32string u = utf8_to_u32(s);
  size_t b = 0, e = u.size();
  if (left)
    while (b < e && strippable(u[b])) ++b;
  if (right)
    while (e > b && strippable(u[e - 1])) --e;
  return u32_to_utf8(u.substr(b, e - b));
}

std::vector<std::string> py_split(const std::string& s, const std::optional<Value>& sep_value, int64_t maxsplit, bool from_right) {
  std::vector<std::string> parts;
  if (!sep_value || sep_value->is_none()) {
    // Runs of whitespace separate; no empty strings at either end.
    std::u32string u = utf8_to_u32(s);
    std::vector<std::u32string> words;
    if (!from_right) {
      size_t i = 0;
      while (true) {
        while (i < u.size() && is_python_space(u[i])) ++i;
        if (i >= u.size()) break;
        if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
          size_t e = u.size();
          words.push_back(u.substr(i, e - i));
          break;
        }
        size_t j = i;
        while (j < u.size() && !is_python_space(u[j])) ++j;
        words.push_back(u.substr(i, j - i));
        i = j;
      }
    } else {
      size_t i = u.size();
      while (true) {
        while (i > 0 && is_python_space(u[i - 1])) --i;
        if (i == 0) break;
        if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
          words.push_back(u.substr(0, i));
          break;
        }
        size_t j = i;
        while (j > 0 && !is_python_space(u[j - 1])) --j;
        words.push_back(u.substr(j, i - j));
        i = j;
      }
      std::reverse(words.begin(), words.end());
    }
    for (auto& w : words) parts.push_back(u32_to_utf8(w));
    return parts;
  }
  const std::string& sep = to_string_arg(*sep_value, "separator");
  if (sep.empty()) fail("empty separator");
  if (!from_right) {
    size_t start = 0;
    while (true) {
      const size_t at = (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) ? std::string::npos : s.find(sep, start);
      if (at == std::string::npos) {
        parts.push_back(s.substr(start));
        return parts;
      }
      parts.push_back(s.substr(start, at - start));
      start = at + sep.size();
    }
  }
  size_t end = s.size();
  while (true) {
    const size_t at = (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) || end < sep.size()
                          ? std::string::npos
                          : s.rfind(sep, end - sep.size());
    if (at == std::string::npos) {
      parts.push_back(s.substr(0, end));
      break;
    }
    parts.push_back(s.substr(at + sep.size(), end - at - sep.size()));
    end = at;
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

bool is_line_break(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
         c == 0x2028 || c == 0x2029;
}

std::vector<std::string> py_splitlines(const std::string& s, bool keepends) {
  std::vector<std::string> lines;
  const std::u32string u = utf8_to_u32(s);
  size_t start = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    if (!is_line_break(u[i])) continue;
    size_t end = i + 1;
    if (u[i] == '\r' && i + 1 < u.size() && u[i + 1] == '\n') end = i + 2;
    lines.push_back(u32_to_utf8(u.substr(start, (keepends ? end : i) - start)));
    start = end;
    i = end - 1;
  }
  if (start < u.size()) lines.push_back(u32_to_utf8(u.substr(start)));
  return lines;
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& replacement, int64_t count) {
  if (count < 0) count = std::numeric_limits<int64_t>::max();
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement before every code point and at the end.
    const std::u32string u = utf8_to_u32(s);
    int64_t done = 0;
    for (char32_t c : u) {
      if (done < count) out += replacement, ++done;
      append_utf8(out, c);
    }
    if (done < count) out += replacement;
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (done < count) {
    const size_t at = s.find(old, start);
    if (at == std::string::npos) break;
    out.append(s, start, at - start);
    out += replacement;
    start = at + old.size();
    ++done;
  }
  out.append(s, start, std::string::npos);
  return out;
}

// Python's slice bounds for str.find / count / startswith: code point indices into `u`.
std::pair<size_t, size_t> str_range(const std::u32string& u, const std::optional<Value>& start, const std::optional<Value>& end) {
  auto norm = [&](const std::optional<Value>& v, int64_t fallback) {
    if (!v || v->is_none()) return fallback;
    int64_t x = to_int(*v, "slice index");
    const auto n = static_cast<int64_t>(u.size());
    if (x < 0) x = std::max<int64_t>(0, x + n);
    return std::min(x, n);
  };
  const int64_t b = norm(start, 0);
  const int64_t e = norm(end, static_cast<int64_t>(u.size()));
  return {static_cast<size_t>(b), static_cast<size_t>(std::max(b, e))};
}

// Python float() of a string: decimal with optional exponent and underscores, inf, nan.
std::optional<double> parse_python_float(const std::string& text) {
  std::string s = py_strip(text, std::nullopt, true, true);
  std::string lower = s;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string body = lower;
  double sign = 1;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    sign = body[0] == '-' ? -1 : 1;
    body.erase(0, 1);
  }
  if (body == "inf" || body == "infinity") return sign * std::numeric_limits<double>::infinity();
  if (body == "nan") return std::numeric_limits<double>::quiet_NaN();
  std::string clean;
  size_t i = 0;
  auto digits = [&]() {
    size_t n = 0;
    while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) {
      clean += body[i++];
      ++n;
      if (i + 1 < body.size() && body[i] == '_' && std::isdigit(static_cast<unsigned char>(body[i + 1]))) ++i;
    }
    return n;
  };
  size_t mantissa = digits();
  if (i < body.size() && body[i] == '.') {
    clean += body[i++];
    mantissa += digits();
  }
  if (mantissa == 0) return std::nullopt;
  if (i < body.size() && body[i] == 'e') {
    clean += body[i++];
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) clean += body[i++];
    if (digits() == 0) return std::nullopt;
  }
  if (i != body.size()) return std::nullopt;
  return sign * std::strtod(clean.c_str(), nullptr);
}

// Python int(text, base) for ASCII digits.
std::optional<int64_t> parse_python_int(const std::string& text, int64_t base) {
  std::string s = py_strip(text, std::nullopt, true, true);
  bool negative = false;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  auto prefix_base = [&](size_t at) -> int64_t {
    if (at + 1 >= s.size() || s[at] != '0') return 0;
    const char p = static_cast<char>(std::tolower(static_cast<unsigned char>(s[at + 1])));
    return p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
  };
  if (base == 0) {
    base = prefix_base(i) ? prefix_base(i) : 10;
    if (base != 10) i += 2;
  } else if ((base == 16 || base == 8 || base == 2) && prefix_base(i) == base) {
    i += 2;
  }
  if (base < 2 || base > 36) fail("int() base must be >= 2 and <= 36, or 0");
  if (i < s.size() && s[i] == '_' && i > 0 && (s[i - 1] | 0x20) >= 'a') ++i;  // 0x_1f
  int64_t value = 0;
  size_t ndigits = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_' && ndigits > 0 && i + 1 < s.size() && s[i + 1] != '_') continue;
    int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
            : std::isalpha(static_cast<unsigned char>(c)) ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                                                          : 99;
    if (d >= base) return std::nullopt;
    if (__builtin_mul_overflow(value, base, &value) || __builtin_add_overflow(value, d, &value))
      unsupported("integer beyond 64 bits");
    ++ndigits;
  }
  if (ndigits == 0) return std::nullopt;
  return negative ? -value : value;
}

bool has_non_ascii(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

Value make_iterator(Interpreter& in, std::vector<Value> items) { return in.make_list(std::move(items), List::Type::Iterator); }

// ---------------------------------------------------------------------------------------------
// Filters

Value filter_select_or_reject(Interpreter& in, const Value& seq, CallArguments& args, bool select, bool by_attribute,
                              const char* name) {
  size_t off = 0;
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) fail(fmt::format("{}() missing the attribute argument", name));
    attribute = args.positional[0];
    off = 1;
  }
  std::optional<std::string> test;
  CallArguments test_args;
  if (args.positional.size() > off) {
    test = to_string_arg(args.positional[off], "test name");
    test_args.positional.assign(args.positional.begin() + static_cast<long>(off) + 1, args.positional.end());
    test_args.keywords = args.keywords;
  }
  std::vector<Value> out;
  for (const Value& item : iterate(seq)) {
    const Value probe = by_attribute ? get_path(in, item, attribute) : item;
    CallArguments call_args = test_args;
    const bool passed = test ? in.apply_test(*test, probe, call_args) : truthy(probe);
    if (passed == select) out.push_back(item);
  }
  return make_iterator(in, std::move(out));
}

Value filter_map(Interpreter& in, const Value& seq, CallArguments& args) {
  std::vector<Value> out;
  if (args.positional.empty()) {
    auto bound = bind_arguments("filter 'map'", args, {"attribute", "default"});
    if (!bound[0]) fail("map() requires a filter name or attribute=");
    for (const Value& item : iterate(seq)) {
      Value v = get_path(in, item, *bound[0]);
      if (v.is_undefined() && bound[1]) v = *bound[1];
      out.push_back(v);
    }
    return make_iterator(in, std::move(out));
  }
  const std::string filter = to_string_arg(args.positional[0], "filter name");
  CallArguments rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keywords = args.keywords;
  for (const Value& item : iterate(seq)) {
    CallArguments call_args = rest;
    out.push_back(in.apply_filter(filter, item, call_args));
  }
  return make_iterator(in, std::move(out));
}

// Keys for sort/unique/min/max: the items (or their attributes), lower-cased unless case-sensitive.
std::vector<Value> sort_keys(Interpreter& in, const std::vector<Value>& items, const std::optional<Value>& attribute, bool case_sensitive) {
  std::vector<Value> keys;
  for (const Value& item : items) {
    if (attribute && !attribute->is_none()) {
      // A comma-separated attribute list sorts by several keys (make_multi_attrgetter).
      std::vector<Value> parts;
      if (attribute->is_string()) {
        for (const std::string& a : py_split(attribute->as_string(), Value::string(","), -1, false)) {
          Value v = get_path(in, item, Value::string(a));
          parts.push_back(case_sensitive ? v : ignore_case(in, v));
        }
      } else {
        Value v = get_path(in, item, *attribute);
        parts.push_back(case_sensitive ? v : ignore_case(in, v));
      }
      keys.push_back(parts.size() == 1 ? parts[0] : in.make_list(std::move(parts)));
    } else {
      keys.push_back(case_sensitive ? item : ignore_case(in, item));
    }
  }
  return keys;
}

Value filter_sort(Interpreter& in, const Value& value, CallArguments& args) {
  auto b = bind_arguments("filter 'sort'", args, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = b[0] && truthy(*b[0]);
  std::vector<Value> items = iterate(value);
  const std::vector<Value> keys = sort_keys(in, items, b[2], b[1] && truthy(*b[1]));
  in.work(items.size() * static_cast<size_t>(std::log2(items.size() + 1.0) + 1));
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Python's sorted() is stable in both directions.
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return reverse ? compare(keys[y], keys[x]) < 0 : compare(keys[x], keys[y]) < 0;
  });
  std::vector<Value> out;
  for (size_t i : order) out.push_back(items[i]);
  return in.make_list(std::move(out));
}

Value filter_unique(Interpreter& in, const Value& value, CallArguments& args) {
  auto b = bind_arguments("filter 'unique'", args, {"case_sensitive", "attribute"});
  std::vector<Value> items = iterate(value);
  const std::vector<Value> keys = sort_keys(in, items, b[1], b[0] && truthy(*b[0]));
  std::vector<Value> seen, out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (keys[i].kind() == Kind::Dict || (keys[i].kind() == Kind::List && keys[i].as_list().type != List::Type::Tuple))
      fail(fmt::format("unhashable type: '{}'", type_name(keys[i])));
    in.work(seen.size());
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& k) { return equals(k, keys[i]); })) continue;
    seen.push_back(keys[i]);
    out.push_back(items[i]);
  }
  return make_iterator(in, std::move(out));
}

Value filter_min_max(Interpreter& in, const Value& value, CallArguments& args, bool want_max) {
  auto b = bind_arguments(want_max ? "filter 'max'" : "filter 'min'", args, {"case_sensitive", "attribute"});
  std::vector<Value> items = iterate(value);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  const std::vector<Value> keys = sort_keys(in, items, b[1], b[0] && truthy(*b[0]));
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    const int c = compare(keys[i], keys[best]);
    if (want_max ? c > 0 : c < 0) best = i;
  }
  return items[best];
}

Value filter_tojson(Interpreter& in, const Value& value, CallArguments& args) {
  // transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
  auto b = bind_arguments("filter 'tojson'", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = b[0] && truthy(*b[0]);
  if (b[1] && !b[1]->is_none()) {
    if (b[1]->is_string()) o.indent = b[1]->as_string();
    else o.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, to_int(*b[1], "indent"))), ' ');
    o.item_separator = ",";
  }
  if (b[2] && !b[2]->is_none()) {
    const std::vector<Value> seps = iterate(*b[2]);
    if (seps.size() != 2) fail(fmt::format("separators must be a pair of strings, got {} items", seps.size()));
    o.item_separator = to_string_arg(seps[0], "item separator");
    o.key_separator = to_string_arg(seps[1], "key separator");
  }
  o.sort_keys = b[3] && truthy(*b[3]);
  return in.make_string(to_json(value, o));
}

Value filter_indent(Interpreter& in, const Value& value, CallArguments& args) {
  auto b = bind_arguments("filter 'indent'", args, {"width", "first", "blank"});
  if (!value.is_string()) {
    if (value.is_undefined()) fail(value.undefined_hint());
    fail(fmt::format("can only concatenate {} (not \"str\")", type_name(value)));
  }
  std::string indention = "    ";
  if (b[0]) indention = b[0]->is_string() ? b[0]->as_string() : std::string(static_cast<size_t>(std::max<int64_t>(0, to_int(*b[0], "width"))), ' ');
  if (value.is_markup()) indention = escape_html(indention);
  // Jinja appends a newline before splitting, so a trailing line break is kept.
  const std::vector<std::string> lines = py_splitlines(value.as_string() + "\n", false);
  std::string out;
  if (b[2] && truthy(*b[2])) {
    for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" + indention : "") + lines[i];
  } else {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i == 0) out += lines[i];
      else out += "\n" + (lines[i].empty() ? "" : indention) + lines[i];
    }
  }
  if (b[1] && truthy(*b[1])) out = indention + out;
  return in.make_string(std::move(out), value.is_markup());
}

Value filter_round(Interpreter& in, const Value& value, CallArguments& args) {
  auto b = bind_arguments("filter 'round'", args, {"precision", "method"});
  const int64_t precision = b[0] ? to_int(*b[0], "precision") : 0;
  const std::string method = b[1] ? to_string_arg(*b[1], "method") : "common";
  if (method != "common" && method != "ceil" && method != "floor") fail("method must be common, ceil or floor");
  if (value.is_undefined()) fail(value.undefined_hint());
  if (!value.is_number()) fail(fmt::format("type {} doesn't define __round__ method", type_name(value)));
  (void)in;
  if (method != "common") {
    if (precision < -300 || precision > 300) unsupported("round() precision beyond 300 digits");
    const double scale = std::pow(10.0, static_cast<double>(precision));
    const double x = value.to_double() * scale;
    return Value::real((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
  }
  if (value.kind() != Kind::Float) {
    const int64_t i = value.kind() == Kind::Bool ? value.as_bool() : value.as_int();
    if (precision >= 0) return Value::integer(i);
    if (precision < -18) return Value::integer(0);
    int64_t unit = 1;
    for (int64_t k = 0; k < -precision; ++k) unit *= 10;
    int64_t q = i / unit, r = i % unit;
    if (r < 0) r += unit, --q;  // floor division
    if (2 * r > unit || (2 * r == unit && (q & 1))) ++q;  // round half to even
    int64_t out;
    if (__builtin_mul_overflow(q, unit, &out)) unsupported("integer arithmetic beyond 64 bits");
    return Value::integer(out);
  }
  const double d = value.as_float();
  if (!std::isfinite(d)) return value;
  if (precision < 0) unsupported("round() of a float to a negative precision");
  if (precision > 330) return value;
  // printf rounds the exact binary value half-to-even, as Python's correctly rounded round() does.
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(precision), d);
  return Value::real(std::strtod(buf, nullptr));
}

Value filter_int(Interpreter& in, const Value& value, CallArguments& args) {
  auto b = bind_arguments("filter 'int'", args, {"default", "base"});
  const Value fallback = b[0] ? *b[0] : Value::integer(0);
  const int64_t base = b[1] ? to_int(*b[1], "base") : 10;
  (void)in;
  switch (value.kind()) {
    case Kind::Int: return value;
    case Kind::Bool: return Value::integer(value.as_bool() ? 1 : 0);
    case Kind::Float: {
      const double d = value.as_float();
      if (!std::isfinite(d)) return fallback;
      if (std::fabs(d) >= 9.2e18) unsupported("integer beyond 64 bits");
      return Value::integer(static_cast<int64_t>(d));
    }
    case Kind::String: {
      const std::string stripped = py_strip(value.as_string(), std::nullopt, true, true);
      if (has_non_ascii(stripped)) unsupported("int() of non-ASCII digits");
      if (auto i = parse_python_int(value.as_string(), base)) return Value::integer(*i);
      if (auto d = parse_python_float(value.as_string()); d && std::isfinite(*d)) {
        if (std::fabs(*d) >= 9.2e18) unsupported("integer beyond 64 bits");
        return Value::integer(static_cast<int64_t>(*d));
      }
      return fallback;
    }
    case Kind::Undefined: fail(value.undefined_hint());
    default: return fallback;
  }
}

Value filter_float(Interpreter& in, const Value& value, CallArguments& args) {
  auto b = bind_arguments("filter 'float'", args, {"default"});
  const Value fallback = b[0] ? *b[0] : Value::real(0.0);
  (void)in;
  switch (value.kind()) {
    case Kind::Int:
    case Kind::Bool:
    case Kind::Float: return Value::real(value.to_double());
    case Kind::String: {
      if (has_non_ascii(py_strip(value.as_string(), std::nullopt, true, true))) unsupported("float() of non-ASCII digits");
      if (auto d = parse_python_float(value.as_string())) return Value::real(*d);
      return fallback;
    }
    case Kind::Undefined: fail(value.undefined_hint());
    default: return fallback;
  }
}

Value filter_join(Interpreter& in, const Value& value, CallArguments& args) {
  auto b = bind_arguments("filter 'join'", args, {"d", "attribute"});
  const std::string separator = b[0] ? to_str(*b[0]) : "";
  std::string out;
  bool first = true;
  for (const Value& item : iterate(value)) {
    if (!first) out += separator;
    first = false;
    out += to_str(b[1] && !b[1]->is_none() ? get_path(in, item, *b[1]) : item);
  }
  return in.make_string(std::move(out));
}

Value filter_default(Interpreter&, const Value& value, CallArguments& args) {
  auto b = bind_arguments("filter 'default'", args, {"default_value", "boolean"});
  const bool boolean = b[1] && truthy(*b[1]);
  if (value.is_undefined() || (boolean && !truthy(value))) return b[0] ? *b[0] : Value::string("");
  return value;
}

Value filter_dictsort(Interpreter& in, const Value& value, CallArguments& args) {
  auto b = bind_arguments("filter 'dictsort'", args, {"case_sensitive", "by", "reverse"});
  if (value.kind() != Kind::Dict) fail(fmt::format("'{}' object has no attribute 'items'", type_name(value)));
  const std::string by = b[1] ? to_string_arg(*b[1], "by") : "key";
  if (by != "key" && by != "value") fail("You can only sort by either 'key' or 'value'");
  const bool case_sensitive = b[0] && truthy(*b[0]);
  const bool reverse = b[2] && truthy(*b[2]);
  std::vector<Value> pairs, keys;
  for (const auto& [k, v] : value.as_dict().entries) {
    pairs.push_back(in.make_list({Value::string(k), v}, List::Type::Tuple));
    const Value key = by == "key" ? Value::string(k) : v;
    keys.push_back(case_sensitive ? key : ignore_case(in, key));
  }
  std::vector<size_t> order(pairs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return reverse ? compare(keys[y], keys[x]) < 0 : compare(keys[x], keys[y]) < 0;
  });
  std::vector<Value> out;
  for (size_t i : order) out.push_back(pairs[i]);
  return in.make_list(std::move(out));
}

Value filter_batch(Interpreter& in, const Value& value, CallArguments& args) {
  auto b = bind_arguments("filter 'batch'", args, {"linecount", "fill_with"});
  if (!b[0]) fail("batch() missing required argument 'linecount'");
  const int64_t count = to_int(*b[0], "linecount");
  std::vector<Value> batches, current;
  for (const Value& item : iterate(value)) {
    if (static_cast<int64_t>(current.size()) == count) batches.push_back(in.make_list(std::move(current))), current.clear();
    current.push_back(item);
  }
  if (!current.empty()) {
    if (b[1] && !b[1]->is_none())
      while (static_cast<int64_t>(current.size()) < count) current.push_back(*b[1]);
    batches.push_back(in.make_list(std::move(current)));
  }
  return make_iterator(in, std::move(batches));
}

Value filter_sum(Interpreter& in, const Value& value, CallArguments& args) {
  auto b = bind_arguments("filter 'sum'", args, {"attribute", "start"});
  Value total = b[1] ? *b[1] : Value::integer(0);
  for (const Value& item : iterate(value)) total = in.add(total, b[0] && !b[0]->is_none() ? get_path(in, item, *b[0]) : item);
  return total;
}

Value filter_reverse(Interpreter& in, const Value& value, CallArguments& args) {
  bind_arguments("filter 'reverse'", args, {});
  if (value.is_string()) {
    std::u32string u = utf8_to_u32(value.as_string());
    std::reverse(u.begin(), u.end());
    return in.make_string(u32_to_utf8(u), value.is_markup());
  }
  if (value.is_undefined()) return make_iterator(in, {});
  std::vector<Value> items = iterate(value);
  std::reverse(items.begin(), items.end());
  // reversed() of a generator fails and Jinja falls back to a list; other sequences give an iterator.
  const bool generator = value.kind() == Kind::List && value.as_list().type == List::Type::Iterator;
  return generator ? in.make_list(std::move(items)) : make_iterator(in, std::move(items));
}

Value no_arguments(const char* name, CallArguments& args) {
  bind_arguments(fmt::format("filter '{}'", name), args, {});
  return Value();
}

const std::unordered_map<std::string, Filter>& filter_table() {
  static const std::unordered_map<std::string, Filter> table = {
      {"abs",
       [](Interpreter&, const Value& v, CallArguments& a) {
         no_arguments("abs", a);
         if (v.kind() == Kind::Float) return Value::real(std::fabs(v.as_float()));
         if (v.kind() == Kind::Int || v.kind() == Kind::Bool) {
           const int64_t i = v.kind() == Kind::Bool ? v.as_bool() : v.as_int();
           if (i == std::numeric_limits<int64_t>::min()) unsupported("integer arithmetic beyond 64 bits");
           return Value::integer(i < 0 ? -i : i);
         }
         if (v.is_undefined()) fail(v.undefined_hint());
         fail(fmt::format("bad operand type for abs(): '{}'", type_name(v)));
       }},
      {"attr",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         auto b = bind_arguments("filter 'attr'", a, {"name"});
         if (!b[0]) fail("attr() missing required argument 'name'");
         const std::string name = to_string_arg(*b[0], "attribute name");
         if (v.is_undefined()) fail(v.undefined_hint());
         // |attr looks up attributes only, never items.
         if (auto found = in.attribute(v, name)) return *found;
         return missing_attribute(v, name);
       }},
      {"batch", filter_batch},
      {"capitalize",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         no_arguments("capitalize", a);
         const Value s = soft_str(in, v);
         return in.make_string(python_capitalize(s.as_string()), s.is_markup());
       }},
      {"count",
       [](Interpreter&, const Value& v, CallArguments& a) {
         no_arguments("count", a);
         auto n = length(v);
         if (!n) fail(fmt::format("object of type '{}' has no len()", type_name(v)));
         return Value::integer(static_cast<int64_t>(*n));
       }},
      {"d", filter_default},
      {"default", filter_default},
      {"dictsort", filter_dictsort},
      {"e",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         no_arguments("e", a);
         return v.is_markup() ? v : in.make_string(escape_html(to_str(v)), true);
       }},
      {"escape",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         no_arguments("escape", a);
         return v.is_markup() ? v : in.make_string(escape_html(to_str(v)), true);
       }},
      {"forceescape",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         no_arguments("forceescape", a);
         return in.make_string(escape_html(to_str(v)), true);
       }},
      {"first",
       [](Interpreter&, const Value& v, CallArguments& a) {
         no_arguments("first", a);
         std::vector<Value> items = iterate(v);
         return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
       }},
      {"float", filter_float},
      {"indent", filter_indent},
      {"int", filter_int},
      {"items",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         no_arguments("items", a);
         if (v.is_undefined()) return make_iterator(in, {});
         if (v.kind() != Kind::Dict) fail("Can only get item pairs from a mapping.");
         std::vector<Value> pairs;
         for (const auto& [k, x] : v.as_dict().entries) pairs.push_back(in.make_list({Value::string(k), x}, List::Type::Tuple));
         return make_iterator(in, std::move(pairs));
       }},
      {"join", filter_join},
      {"last",
       [](Interpreter&, const Value& v, CallArguments& a) {
         no_arguments("last", a);
         if (v.kind() == Kind::List && v.as_list().type == List::Type::Iterator) fail("'generator' object is not reversible");
         std::vector<Value> items = iterate(v);
         return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
       }},
      {"length",
       [](Interpreter&, const Value& v, CallArguments& a) {
         no_arguments("length", a);
         auto n = length(v);
         if (!n) fail(fmt::format("object of type '{}' has no len()", type_name(v)));
         return Value::integer(static_cast<int64_t>(*n));
       }},
      {"list",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         no_arguments("list", a);
         return in.make_list(iterate(v));
       }},
      {"lower",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         no_arguments("lower", a);
         const Value s = soft_str(in, v);
         return in.make_string(python_lower(s.as_string()), s.is_markup());
       }},
      {"map", filter_map},
      {"max", [](Interpreter& in, const Value& v, CallArguments& a) { return filter_min_max(in, v, a, true); }},
      {"min", [](Interpreter& in, const Value& v, CallArguments& a) { return filter_min_max(in, v, a, false); }},
      {"reject", [](Interpreter& in, const Value& v, CallArguments& a) { return filter_select_or_reject(in, v, a, false, false, "reject"); }},
      {"rejectattr",
       [](Interpreter& in, const Value& v, CallArguments& a) { return filter_select_or_reject(in, v, a, false, true, "rejectattr"); }},
      {"replace",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         auto b = bind_arguments("filter 'replace'", a, {"old", "new", "count"});
         if (!b[0] || !b[1]) fail("replace() missing required arguments 'old' and 'new'");
         const int64_t count = b[2] && !b[2]->is_none() ? to_int(*b[2], "count") : -1;
         return in.make_string(py_replace(to_str(v), to_str(*b[0]), to_str(*b[1]), count));
       }},
      {"reverse", filter_reverse},
      {"round", filter_round},
      {"safe",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         no_arguments("safe", a);
         return v.is_markup() ? v : in.make_string(to_str(v), true);
       }},
      {"select", [](Interpreter& in, const Value& v, CallArguments& a) { return filter_select_or_reject(in, v, a, true, false, "select"); }},
      {"selectattr",
       [](Interpreter& in, const Value& v, CallArguments& a) { return filter_select_or_reject(in, v, a, true, true, "selectattr"); }},
      {"sort", filter_sort},
      {"string",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         no_arguments("string", a);
         return soft_str(in, v);
       }},
      {"sum", filter_sum},
      {"title",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         no_arguments("title", a);
         const Value s = soft_str(in, v);
         return in.make_string(jinja_title(s.as_string()), s.is_markup());
       }},
      {"tojson", filter_tojson},
      {"trim",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         auto b = bind_arguments("filter 'trim'", a, {"chars"});
         const Value s = soft_str(in, v);
         return in.make_string(py_strip(s.as_string(), b[0], true, true), s.is_markup());
       }},
      {"unique", filter_unique},
      {"upper",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         no_arguments("upper", a);
         const Value s = soft_str(in, v);
         return in.make_string(python_upper(s.as_string()), s.is_markup());
       }},
  };
  return table;
}

// ---------------------------------------------------------------------------------------------
// Tests

bool is_callable(const Value& v) {
  return v.kind() == Kind::Function || v.is_undefined() || (v.kind() == Kind::Object && v.as_object().type == Object::Type::Loop);
}

const Value& test_argument(const char* name, CallArguments& args) {
  if (args.positional.size() != 1 || !args.keywords.empty()) fail(fmt::format("test '{}' takes exactly one argument", name));
  return args.positional[0];
}

void no_test_arguments(const char* name, CallArguments& args) {
  if (!args.positional.empty() || !args.keywords.empty()) fail(fmt::format("test '{}' takes no arguments", name));
}

bool python_mod_zero(Interpreter& in, const Value& v, const Value& divisor) {
  return equals(in.arithmetic("%", v, divisor), Value::integer(0));
}

const std::unordered_map<std::string, Test>& test_table() {
  static const std::unordered_map<std::string, Test> table = {
      {"boolean", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("boolean", a), v.kind() == Kind::Bool; }},
      {"callable", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("callable", a), is_callable(v); }},
      {"defined", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("defined", a), !v.is_undefined(); }},
      {"undefined", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("undefined", a), v.is_undefined(); }},
      {"none", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("none", a), v.is_none(); }},
      {"true", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("true", a), v.kind() == Kind::Bool && v.as_bool(); }},
      {"false", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("false", a), v.kind() == Kind::Bool && !v.as_bool(); }},
      {"integer", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("integer", a), v.kind() == Kind::Int; }},
      {"float", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("float", a), v.kind() == Kind::Float; }},
      {"number", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("number", a), v.is_number(); }},
      {"string", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("string", a), v.is_string(); }},
      {"mapping", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("mapping", a), v.kind() == Kind::Dict; }},
      {"iterable",
       [](Interpreter&, const Value& v, CallArguments& a) {
         no_test_arguments("iterable", a);
         return v.is_undefined() || v.is_string() || v.kind() == Kind::List || v.kind() == Kind::Dict;
       }},
      {"sequence",
       [](Interpreter&, const Value& v, CallArguments& a) {
         no_test_arguments("sequence", a);
         return v.is_undefined() || v.is_string() || v.kind() == Kind::Dict || (v.kind() == Kind::List && v.as_list().indexable());
       }},
      {"escaped", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("escaped", a), v.is_markup(); }},
      {"lower", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("lower", a), python_is_lower(to_str(v)); }},
      {"upper", [](Interpreter&, const Value& v, CallArguments& a) { return no_test_arguments("upper", a), python_is_upper(to_str(v)); }},
      {"odd",
       [](Interpreter& in, const Value& v, CallArguments& a) {
         no_test_arguments("odd", a);
         return equals(in.arithmetic("%", v, Value::integer(2)), Value::integer(1));
       }},
      {"even", [](Interpreter& in, const Value& v, CallArguments& a) { return no_test_arguments("even", a), python_mod_zero(in, v, Value::integer(2)); }},
      {"divisibleby",
       [](Interpreter& in, const Value& v, CallArguments& a) { return python_mod_zero(in, v, test_argument("divisibleby", a)); }},
      {"eq", [](Interpreter&, const Value& v, CallArguments& a) { return equals(v, test_argument("eq", a)); }},
      {"equalto", [](Interpreter&, const Value& v, CallArguments& a) { return equals(v, test_argument("equalto", a)); }},
      {"ne", [](Interpreter&, const Value& v, CallArguments& a) { return !equals(v, test_argument("ne", a)); }},
      {"lt", [](Interpreter&, const Value& v, CallArguments& a) { return compare(v, test_argument("lt", a)) < 0; }},
      {"lessthan", [](Interpreter&, const Value& v, CallArguments& a) { return compare(v, test_argument("lessthan", a)) < 0; }},
      {"le", [](Interpreter&, const Value& v, CallArguments& a) { return compare(v, test_argument("le", a)) <= 0; }},
      {"gt", [](Interpreter&, const Value& v, CallArguments& a) { return compare(v, test_argument("gt", a)) > 0; }},
      {"greaterthan", [](Interpreter&, const Value& v, CallArguments& a) { return compare(v, test_argument("greaterthan", a)) > 0; }},
      {"ge", [](Interpreter&, const Value& v, CallArguments& a) { return compare(v, test_argument("ge", a)) >= 0; }},
      {"in", [](Interpreter& in, const Value& v, CallArguments& a) { return in.contains(test_argument("in", a), v); }},
      {"sameas", [](Interpreter&, const Value& v, CallArguments& a) { return v.same_object(test_argument("sameas", a)); }},
      {"filter",
       [](Interpreter&, const Value& v, CallArguments& a) {
         no_test_arguments("filter", a);
         return v.is_string() && (filter_table().count(v.as_string()) || v.as_string() == "center" || v.as_string() == "format");
       }},
      {"test",
       [](Interpreter&, const Value& v, CallArguments& a) {
         no_test_arguments("test", a);
         return v.is_string() && test_table().count(v.as_string()) > 0;
       }},
  };
  return table;
}

// ---------------------------------------------------------------------------------------------
// Methods

const std::set<std::string>& python_str_methods() {
  static const std::set<std::string> names = {
      "capitalize", "casefold", "center",   "count",      "encode",     "endswith",   "expandtabs", "find",
      "format",     "format_map", "index",  "isalnum",    "isalpha",    "isascii",    "isdecimal",  "isdigit",
      "isidentifier", "islower", "isnumeric", "isprintable", "isspace",  "istitle",    "isupper",    "join",
      "ljust",      "lower",    "lstrip",   "maketrans",  "partition",  "removeprefix", "removesuffix", "replace",
      "rfind",      "rindex",   "rjust",    "rpartition", "rsplit",     "rstrip",     "split",      "splitlines",
      "startswith", "strip",    "swapcase", "title",      "translate",  "upper",      "zfill"};
  return names;
}

Value bound_method(Interpreter& in, const Value& receiver, const std::string& name,
                   Value (*impl)(Interpreter&, const Value&, const std::string&, CallArguments&)) {
  Function f;
  f.name = name;
  f.native = [receiver, name, impl](Interpreter& interp, CallArguments& args) { return impl(interp, receiver, name, args); };
  return Value::function(in.heap().new_function(std::move(f)));
}

Value unsafe_attribute(const Value& object, const std::string& name) {
  return Value::undefined(fmt::format("access to attribute '{}' of '{}' object is unsafe.", name, type_name(object)));
}

Value dict_method(Interpreter& in, const Value& d, const std::string& name, CallArguments& args) {
  in.work(Interpreter::size_units(d));
  if (!args.keywords.empty()) fail(fmt::format("dict.{}() takes no keyword arguments", name));
  const auto& p = args.positional;
  if (name == "get") {
    if (p.empty() || p.size() > 2) fail(fmt::format("get expected 1 or 2 arguments, got {}", p.size()));
    const Value* found = p[0].is_string() ? d.as_dict().find(p[0].as_string()) : nullptr;
    return found ? *found : (p.size() > 1 ? p[1] : Value::none());
  }
  if (!p.empty()) fail(fmt::format("dict.{}() takes no arguments ({} given)", name, p.size()));
  if (name == "copy") {
    Dict* copy = in.heap().new_dict();
    *copy = d.as_dict();
    return Value::dict(copy);
  }
  std::vector<Value> items;
  for (const auto& [k, v] : d.as_dict().entries) {
    if (name == "items") items.push_back(in.make_list({Value::string(k), v}, List::Type::Tuple));
    else items.push_back(name == "keys" ? Value::string(k) : v);
  }
  return in.make_list(std::move(items), name == "items" ? List::Type::DictItems : name == "keys" ? List::Type::DictKeys : List::Type::DictValues);
}

Value list_method(Interpreter& in, const Value& l, const std::string& name, CallArguments& args) {
  in.work(Interpreter::size_units(l));
  if (!args.keywords.empty()) fail(fmt::format("{}() takes no keyword arguments", name));
  const auto& items = l.as_list().items;
  const auto& p = args.positional;
  if (name == "copy") {
    if (!p.empty()) fail("copy() takes no arguments");
    return in.make_list(items);
  }
  if (p.empty()) fail(fmt::format("{}() takes at least 1 argument (0 given)", name));
  if (name == "count") return Value::integer(std::count_if(items.begin(), items.end(), [&](const Value& v) { return equals(v, p[0]); }));
  for (size_t i = 0; i < items.size(); ++i)  // index
    if (equals(items[i], p[0])) return Value::integer(static_cast<int64_t>(i));
  fail(fmt::format("{} is not in list", repr(p[0])));
}

Value str_method(Interpreter& in, const Value& s, const std::string& name, CallArguments& args);

Value unsupported_method(Interpreter&, const Value& receiver, const std::string& name, CallArguments&) {
  unsupported(fmt::format("{} method '{}'", type_name(receiver), name));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Attribute and item lookup, as SandboxedEnvironment.getattr / getitem

std::optional<Value> Interpreter::attribute(const Value& object, const std::string& name) {
  const bool dunder = name.size() > 4 && name.rfind("__", 0) == 0 && name.compare(name.size() - 2, 2, "__") == 0;
  switch (object.kind()) {
    case Kind::Dict:
      if (name == "get" || name == "items" || name == "keys" || name == "values" || name == "copy")
        return bound_method(*this, object, name, dict_method);
      if (name == "pop" || name == "popitem" || name == "setdefault" || name == "update" || name == "clear")
        return unsafe_attribute(object, name);
      if (name == "fromkeys") return bound_method(*this, object, name, unsupported_method);
      break;
    case Kind::List: {
      const List::Type t = object.as_list().type;
      if (t == List::Type::List || t == List::Type::Tuple || t == List::Type::Range) {
        if (name == "count" || name == "index" || (name == "copy" && t == List::Type::List))
          return bound_method(*this, object, name, list_method);
        if (t == List::Type::List && (name == "append" || name == "clear" || name == "extend" || name == "insert" ||
                                      name == "pop" || name == "remove" || name == "reverse" || name == "sort"))
          return unsafe_attribute(object, name);
        if (t == List::Type::Range && (name == "start" || name == "stop" || name == "step")) {
          const List& r = object.as_list();
          return Value::integer(name == "start" ? r.range_start : name == "stop" ? r.range_stop : r.range_step);
        }
      }
      break;
    }
    case Kind::String:
      if (python_str_methods().count(name)) return bound_method(*this, object, name, str_method);
      break;
    case Kind::Object: {
      if (const Value* v = object.as_object().attributes.find(name)) return *v;
      break;
    }
    case Kind::Function:
      if (object.as_function().macro && name == "name") return make_string(object.as_function().name);
      if (object.as_function().macro && name == "arguments") {
        std::vector<Value> names;
        for (const auto& p : object.as_function().macro->parameters) names.push_back(make_string(p));
        return make_list(std::move(names), List::Type::Tuple);
      }
      break;
    case Kind::Int:
    case Kind::Bool:
    case Kind::Float:
      if (name == "real") return object.kind() == Kind::Float ? object : Value::integer(object.kind() == Kind::Bool ? object.as_bool() : object.as_int());
      if (name == "imag") return object.kind() == Kind::Float ? Value::real(0.0) : Value::integer(0);
      if (name == "is_integer" || name == "bit_length" || name == "conjugate" || name == "as_integer_ratio" ||
          name == "to_bytes" || name == "hex" || name == "numerator" || name == "denominator")
        return bound_method(*this, object, name, unsupported_method);
      break;
    default: break;
  }
  // Python objects all have dunder attributes; the sandbox refuses them.
  if (dunder) return unsafe_attribute(object, name);
  return std::nullopt;
}

namespace {
std::optional<Value> item_of(Interpreter& in, const Value& object, const Value& key) {
  switch (object.kind()) {
    case Kind::Dict:
      if (key.is_string())
        if (const Value* v = object.as_dict().find(key.as_string())) return *v;
      return std::nullopt;
    case Kind::List:
    case Kind::String: {
      if (key.kind() != Kind::Int && key.kind() != Kind::Bool) return std::nullopt;
      if (object.kind() == Kind::List && !object.as_list().indexable()) return std::nullopt;
      int64_t i = key.kind() == Kind::Bool ? key.as_bool() : key.as_int();
      if (object.kind() == Kind::List) {
        const auto n = static_cast<int64_t>(object.as_list().items.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) return std::nullopt;
        return object.as_list().items[static_cast<size_t>(i)];
      }
      in.work(Interpreter::size_units(object));
      const std::u32string u = utf8_to_u32(object.as_string());
      const auto n = static_cast<int64_t>(u.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return std::nullopt;
      std::string ch;
      append_utf8(ch, u[static_cast<size_t>(i)]);
      return in.make_string(std::move(ch), object.is_markup());
    }
    default: return std::nullopt;
  }
}
}  // namespace

Value Interpreter::get_attr(const Value& object, const std::string& name) {
  if (object.is_undefined()) fail(object.undefined_hint());
  if (auto a = attribute(object, name)) return *a;
  if (auto item = item_of(*this, object, Value::string(name))) return *item;
  return missing_attribute(object, name);
}

Value Interpreter::get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) fail(object.undefined_hint());
  if (auto item = item_of(*this, object, key)) return *item;
  if (key.is_string()) {
    if (auto a = attribute(object, key.as_string())) return *a;
    return missing_attribute(object, key.as_string());
  }
  return Value::undefined(fmt::format("{} has no element {}", object_type_repr(object), repr(key)));
}

Value Interpreter::apply_filter(const std::string& name, const Value& operand, CallArguments& args) {
  work(size_units(operand));
  const auto& table = filter_table();
  auto it = table.find(name);
  if (it == table.end()) {
    if (is_jinja_filter(name)) unsupported(fmt::format("filter '{}'", name));
    fail(fmt::format("No filter named '{}' found.", name));
  }
  return it->second(*this, operand, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& operand, CallArguments& args) {
  work(size_units(operand));
  const auto& table = test_table();
  auto it = table.find(name);
  if (it == table.end()) fail(fmt::format("No test named '{}' found.", name));
  return it->second(*this, operand, args);
}

namespace {

Value str_method(Interpreter& in, const Value& self, const std::string& name, CallArguments& args) {
  in.work(Interpreter::size_units(self));
  for (const Value& a : args.positional) in.work(Interpreter::size_units(a));
  const std::string& s = self.as_string();
  const bool markup = self.is_markup();
  // Markup's methods escape their string arguments and return Markup.
  auto arg_text = [&](const Value& v, const char* what) {
    const std::string& t = to_string_arg(v, what);
    return markup && !v.is_markup() ? escape_html(t) : t;
  };
  auto result = [&](std::string text) { return in.make_string(std::move(text), markup); };
  auto strings = [&](const std::vector<std::string>& parts) {
    std::vector<Value> items;
    for (const auto& p : parts) items.push_back(in.make_string(p, markup));
    return in.make_list(std::move(items));
  };
  const std::string what = "str." + name + "()";
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    bind_arguments(what, args, {});
    if (name == "upper") return result(python_upper(s));
    if (name == "lower") return result(python_lower(s));
    return result(name == "title" ? python_title(s) : python_capitalize(s));
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    auto b = bind_arguments(what, args, {"chars"});
    std::optional<Value> chars = b[0];
    if (chars && chars->is_string() && markup) chars = Value::string(escape_html(chars->as_string()));
    return result(py_strip(s, chars, name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    auto b = bind_arguments(what, args, {"sep", "maxsplit"});
    const int64_t maxsplit = b[1] ? to_int(*b[1], "maxsplit") : -1;
    return strings(py_split(s, b[0], maxsplit, name == "rsplit"));
  }
  if (name == "splitlines") {
    auto b = bind_arguments(what, args, {"keepends"});
    if (b[0] && b[0]->kind() != Kind::Int && b[0]->kind() != Kind::Bool)
      fail(fmt::format("'{}' object cannot be interpreted as an integer", type_name(*b[0])));
    return strings(py_splitlines(s, b[0] && truthy(*b[0])));
  }
  if (name == "startswith" || name == "endswith") {
    if (!args.keywords.empty()) fail(what + " takes no keyword arguments");
    auto b = bind_arguments(what, args, {"prefix", "start", "end"});
    if (!b[0]) fail(what + " takes at least 1 argument (0 given)");
    const std::u32string u = utf8_to_u32(s);
    const auto [from, to] = str_range(u, b[1], b[2]);
    const std::u32string window = u.substr(from, to - from);
    std::vector<Value> candidates = b[0]->kind() == Kind::List && b[0]->as_list().type == List::Type::Tuple
                                        ? b[0]->as_list().items
                                        : std::vector<Value>{*b[0]};
    for (const Value& c : candidates) {
      if (!c.is_string()) fail(fmt::format("{} first arg must be str or a tuple of str, not {}", what, type_name(c)));
      const std::u32string needle = utf8_to_u32(c.as_string());
      if (needle.size() > window.size()) continue;
      if (name == "startswith" ? window.compare(0, needle.size(), needle) == 0
                               : window.compare(window.size() - needle.size(), needle.size(), needle) == 0)
        return Value::boolean(true);
    }
    return Value::boolean(false);
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    if (!args.keywords.empty()) fail(what + " takes no keyword arguments");
    auto b = bind_arguments(what, args, {"sub", "start", "end"});
    if (!b[0]) fail(what + " takes at least 1 argument (0 given)");
    const std::u32string u = utf8_to_u32(s);
    const std::u32string needle = utf8_to_u32(to_string_arg(*b[0], "substring"));
    const auto [from, to] = str_range(u, b[1], b[2]);
    const std::u32string window = u.substr(from, to - from);
    if (name == "count") {
      if (needle.empty()) return Value::integer(static_cast<int64_t>(window.size() + 1));
      int64_t n = 0;
      for (size_t at = window.find(needle); at != std::u32string::npos; at = window.find(needle, at + needle.size())) ++n;
      return Value::integer(n);
    }
    const size_t at = name[0] == 'r' ? window.rfind(needle) : window.find(needle);
    if (at == std::u32string::npos) {
      if (name == "index" || name == "rindex") fail("substring not found");
      return Value::integer(-1);
    }
    return Value::integer(static_cast<int64_t>(from + at));
  }
  if (name == "replace") {
    if (!args.keywords.empty()) fail(what + " takes no keyword arguments");
    auto b = bind_arguments(what, args, {"old", "new", "count"});
    if (!b[0] || !b[1]) fail("replace expected at least 2 arguments");
    const int64_t count = b[2] ? to_int(*b[2], "count") : -1;
    return result(py_replace(s, arg_text(*b[0], "old"), arg_text(*b[1], "new"), count));
  }
  if (name == "join") {
    auto b = bind_arguments(what, args, {"iterable"});
    if (!b[0]) fail("join() takes exactly one argument (0 given)");
    std::string out;
    bool first = true;
    for (const Value& item : iterate(*b[0])) {
      if (!item.is_string()) fail(fmt::format("sequence item: expected str instance, {} found", type_name(item)));
      if (!first) out += s;
      first = false;
      out += markup && !item.is_markup() ? escape_html(item.as_string()) : item.as_string();
    }
    return result(std::move(out));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    auto b = bind_arguments(what, args, {"affix"});
    if (!b[0]) fail(what + " takes exactly one argument (0 given)");
    const std::string affix = arg_text(*b[0], "affix");
    if (name == "removeprefix") return result(s.rfind(affix, 0) == 0 ? s.substr(affix.size()) : s);
    const bool ends = s.size() >= affix.size() && s.compare(s.size() - affix.size(), affix.size(), affix) == 0;
    return result(ends && !affix.empty() ? s.substr(0, s.size() - affix.size()) : s);
  }
  if (name == "partition" || name == "rpartition") {
    auto b = bind_arguments(what, args, {"sep"});
    if (!b[0]) fail(what + " takes exactly one argument (0 given)");
    const std::string sep = arg_text(*b[0], "separator");
    if (sep.empty()) fail("empty separator");
    const size_t at = name == "partition" ? s.find(sep) : s.rfind(sep);
    std::vector<Value> parts;
    if (at == std::string::npos) {
      parts = name == "partition" ? std::vector<Value>{result(s), result(""), result("")}
                                  : std::vector<Value>{result(""), result(""), result(s)};
    } else {
      parts = {result(s.substr(0, at)), result(sep), result(s.substr(at + sep.size()))};
    }
    return in.make_list(std::move(parts), List::Type::Tuple);
  }
  if (name == "isspace" || name == "islower" || name == "isupper" || name == "isdigit" || name == "isalpha" ||
      name == "isalnum" || name == "isascii") {
    bind_arguments(what, args, {});
    const std::u32string u = utf8_to_u32(s);
    if (name == "isascii") return Value::boolean(std::all_of(u.begin(), u.end(), [](char32_t c) { return c < 0x80; }));
    if (name == "islower") return Value::boolean(python_is_lower(s));
    if (name == "isupper") return Value::boolean(python_is_upper(s));
    if (name == "isspace") return Value::boolean(!u.empty() && std::all_of(u.begin(), u.end(), is_python_space));
    if (std::any_of(u.begin(), u.end(), [](char32_t c) { return c >= 0x80; }))
      unsupported(fmt::format("{} of non-ASCII text", what));
    auto check = [&](auto pred) { return Value::boolean(!u.empty() && std::all_of(u.begin(), u.end(), pred)); };
    if (name == "isdigit") return check([](char32_t c) { return c >= '0' && c <= '9'; });
    if (name == "isalpha") return check([](char32_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; });
    return check([](char32_t c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); });
  }
  unsupported(fmt::format("string method '{}'", name));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Globals

namespace {

Value make_mapping(Interpreter& in, CallArguments& args, const char* what, Dict& out) {
  if (args.positional.size() > 1) fail(fmt::format("{} expected at most 1 argument, got {}", what, args.positional.size()));
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_undefined()) fail(source.undefined_hint());  // dict() looks up .keys first
    if (source.kind() == Kind::Dict) {
      for (const auto& [k, v] : source.as_dict().entries) out.set(k, v);
    } else {
      for (const Value& pair : iterate(source)) {
        const std::vector<Value> kv = iterate(pair);
        if (kv.size() != 2) fail(fmt::format("dictionary update sequence element has length {}; 2 is required", kv.size()));
        if (!kv[0].is_string()) unsupported("dict with a non-string key");
        out.set(kv[0].as_string(), kv[1]);
      }
    }
  }
  for (const auto& [k, v] : args.keywords) out.set(k, v);
  (void)in;
  return Value();
}

std::string strftime_python(const std::string& format, std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  // datetime.strftime handles %f, and %z / %Z are empty for the naive datetime.now().
  std::string c_format;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 >= format.size()) {
      c_format += format[i];
      continue;
    }
    const char d = format[i + 1];
    if (d == 'f') c_format += fmt::format("{:06d}", micros < 0 ? micros + 1000000 : micros), ++i;
    else if (d == 'z' || d == 'Z') ++i;
    else if (d == ':' && i + 2 < format.size() && format[i + 2] == 'z') i += 2;
    else c_format += format.substr(i, 2), ++i;
  }
  static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  c_format = c_format.substr(0, c_format.find('\0'));  // C strftime (and so Python's) stops at a NUL
  c_format += ' ';  // strftime returns 0 for an empty result; the sentinel keeps results non-empty
  for (size_t size = 256; size <= (1u << 20); size *= 4) {
    std::string buf(size, '\0');
    const size_t n = strftime_l(buf.data(), buf.size(), c_format.c_str(), &tm, c_locale);
    if (n > 0) return buf.substr(0, n - 1);
  }
  fail("strftime_now(): the formatted date is too long");
}

Value native(Interpreter& in, const char* name, std::function<Value(Interpreter&, CallArguments&)> fn) {
  Function f;
  f.name = name;
  f.native = std::move(fn);
  return Value::function(in.heap().new_function(std::move(f)));
}

}  // namespace

void Interpreter::install_globals(Scope* scope) {
  Dict& g = scope->variables;
  g.set("range", native(*this, "range", [](Interpreter& in, CallArguments& args) {
          if (!args.keywords.empty()) fail("range() takes no keyword arguments");
          const auto& p = args.positional;
          if (p.empty() || p.size() > 3) fail(fmt::format("range expected 1 to 3 arguments, got {}", p.size()));
          const int64_t start = p.size() == 1 ? 0 : to_int(p[0], "range() argument");
          const int64_t stop = to_int(p.size() == 1 ? p[0] : p[1], "range() argument");
          const int64_t step = p.size() == 3 ? to_int(p[2], "range() argument") : 1;
          if (step == 0) fail("range() arg 3 must not be zero");
          const double count = std::max(0.0, std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step)));
          // The sandbox's safe_range refuses ranges longer than MAX_RANGE.
          if (count > 100000) fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
          std::vector<Value> items;
          for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) items.push_back(Value::integer(i));
          Value r = in.make_list(std::move(items), List::Type::Range);
          r.as_list().range_start = start;
          r.as_list().range_stop = stop;
          r.as_list().range_step = step;
          return r;
        }));
  g.set("dict", native(*this, "dict", [](Interpreter& in, CallArguments& args) {
          Dict* d = in.heap().new_dict();
          make_mapping(in, args, "dict", *d);
          return Value::dict(d);
        }));
  g.set("namespace", native(*this, "namespace", [](Interpreter& in, CallArguments& args) {
          Object* ns = in.heap().new_object(Object::Type::Namespace);
          make_mapping(in, args, "namespace", ns->attributes);
          return Value::object(ns);
        }));
  g.set("raise_exception", native(*this, "raise_exception", [](Interpreter&, CallArguments& args) -> Value {
          auto b = bind_arguments("raise_exception()", args, {"message"});
          if (!b[0]) fail("raise_exception() missing 1 required positional argument: 'message'");
          throw EvalError(ErrorKind::Raised, to_str(*b[0]));
        }));
  const auto clock = options_.now;
  g.set("strftime_now", native(*this, "strftime_now", [clock](Interpreter& in, CallArguments& args) {
          auto b = bind_arguments("strftime_now()", args, {"format"});
          if (!b[0]) fail("strftime_now() missing 1 required positional argument: 'format'");
          return in.make_string(strftime_python(to_string_arg(*b[0], "format"), clock ? clock() : std::chrono::system_clock::now()));
        }));
  for (const char* name : {"lipsum", "cycler", "joiner"})
    g.set(name, native(*this, name, [name](Interpreter&, CallArguments&) -> Value { unsupported(fmt::format("global function '{}'", name)); }));
}

}  // namespace vkllm::frontends::jinja
