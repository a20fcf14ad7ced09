#include "frontends/tokenizer/json_access.h"

#include <fmt/format.h>

#include "frontends/tokenizer/tokenizer.h"
#include "frontends/tokenizer/unicode.h"

namespace vkllm::frontends::json_access {
namespace {
std::string describe(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "an unsupported value";
  }
}
}  // namespace

void fail(const std::string& where, const std::string& what) {
  throw TokenizerError(fmt::format("{}{}{}", where, where.ends_with(' ') ? "" : ": ", what));
}

std::string field_path(const std::string& where, const char* key) {
  return where.empty() || where.back() == ' ' ? where + key : fmt::format("{}.{}", where, key);
}

std::string index_path(const std::string& where, size_t i) { return fmt::format("{}[{}]", where, i); }

void expect_object(const json& j, const std::string& where) {
  if (!j.is_object()) fail(where, fmt::format("expected an object, found {}", describe(j)));
}

const json& required(const json& obj, const char* key, const std::string& where) {
  expect_object(obj, where);
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) fail(field_path(where, key), "missing (required)");
  return *it;
}

const json* optional(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

const json& expect_array(const json& j, const std::string& where) {
  if (!j.is_array()) fail(where, fmt::format("expected an array, found {}", describe(j)));
  return j;
}

std::string as_string(const json& j, const std::string& where) {
  if (!j.is_string()) fail(where, fmt::format("expected a string, found {}", describe(j)));
  return j.get<std::string>();
}

bool as_bool(const json& j, const std::string& where) {
  if (!j.is_boolean()) fail(where, fmt::format("expected true or false, found {}", describe(j)));
  return j.get<bool>();
}

int64_t as_int(const json& j, const std::string& where) {
  if (j.is_number_unsigned()) {
    const auto v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) fail(where, "integer out of range");
    return static_cast<int64_t>(v);
  }
  if (!j.is_number_integer()) fail(where, fmt::format("expected an integer, found {}", describe(j)));
  return j.get<int64_t>();
}

int32_t as_token_id(const json& j, const std::string& where) {
  const int64_t v = as_int(j, where);
  if (v < 0 || v > INT32_MAX) fail(where, fmt::format("token id {} is outside [0, 2^31)", v));
  return static_cast<int32_t>(v);
}

char32_t as_char(const json& j, const std::string& where) {
  const std::string s = as_string(j, where);
  if (s.empty() || unicode::find_invalid_utf8(s) != std::string::npos) fail(where, "expected one character");
  size_t i = 0;
  const char32_t c = unicode::next_code_point(s, i);
  if (i != s.size()) fail(where, fmt::format("expected one character, found \"{}\"", s));
  return c;
}

namespace {
constexpr int kMaxNesting = 32;
thread_local int nesting = 0;
}  // namespace

NestingGuard::NestingGuard(const std::string& where) {
  if (nesting >= kMaxNesting) fail(where, fmt::format("components nested more than {} levels deep", kMaxNesting));
  ++nesting;
}

NestingGuard::~NestingGuard() { --nesting; }

bool bool_or(const json& obj, const char* key, bool fallback, const std::string& where) {
  const json* v = optional(obj, key);
  return v ? as_bool(*v, field_path(where, key)) : fallback;
}

std::string string_or(const json& obj, const char* key, const std::string& fallback, const std::string& where) {
  const json* v = optional(obj, key);
  return v ? as_string(*v, field_path(where, key)) : fallback;
}

}  // namespace vkllm::frontends::json_access
