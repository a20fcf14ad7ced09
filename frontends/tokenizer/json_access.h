// Typed access to tokenizer.json / tokenizer_config.json values. Every failure throws
// TokenizerError naming the file and the JSON path ("tokenizer.json: model.merges[3]: ...").
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace vkllm::frontends::json_access {

using nlohmann::json;

[[noreturn]] void fail(const std::string& where, const std::string& what);

std::string field_path(const std::string& where, const char* key);  // "where.key"
std::string index_path(const std::string& where, size_t i);         // "where[i]"

// The member `key` of object `obj`; missing or null is an error.
const json& required(const json& obj, const char* key, const std::string& where);
// The member `key` of object `obj`, or nullptr when absent or null.
const json* optional(const json& obj, const char* key);

void expect_object(const json& j, const std::string& where);
const json& expect_array(const json& j, const std::string& where);
std::string as_string(const json& j, const std::string& where);
bool as_bool(const json& j, const std::string& where);
int64_t as_int(const json& j, const std::string& where);
// A token id: an integer in [0, 2^31).
int32_t as_token_id(const json& j, const std::string& where);
// A string holding exactly one character.
char32_t as_char(const json& j, const std::string& where);

// Limits how deeply Sequence components nest, so a hostile file cannot exhaust the stack. One
// guard per level; throws TokenizerError naming `where` past the limit.
class NestingGuard {
 public:
  explicit NestingGuard(const std::string& where);
  ~NestingGuard();
  NestingGuard(const NestingGuard&) = delete;
  NestingGuard& operator=(const NestingGuard&) = delete;
};

bool bool_or(const json& obj, const char* key, bool fallback, const std::string& where);
std::string string_or(const json& obj, const char* key, const std::string& fallback, const std::string& where);

}  // namespace vkllm::frontends::json_access
