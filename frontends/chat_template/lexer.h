// Template source to tokens, as Jinja's lexer does it with Hugging Face's settings
// (trim_blocks=True, lstrip_blocks=True): whitespace control with '-' and '+', comments dropped,
// {% raw %} sections kept as text, newlines normalized to '\n', one trailing newline removed.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vkllm::frontends::jinja {

enum class TokenType { Data, VariableBegin, VariableEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, End };

struct Token {
  TokenType type;
  int line;
  std::string text;  // data, name, decoded string literal, or operator
  int64_t integer = 0;
  double number = 0;
};

// Throws TemplateError (kind Syntax) naming `origin` and the line.
std::vector<Token> tokenize(std::string_view source, const std::string& origin);

const char* describe(TokenType t);

}  // namespace vkllm::frontends::jinja
