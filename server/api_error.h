// Errors a request handler raises to answer with an HTTP error: the status, the OpenAI error type
// (invalid_request_error, authentication_error, not_found_error, ...), the parameter at fault and a
// code. Rendered in OpenAI's or Anthropic's error shape by the endpoint family.
#pragma once
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace vkllm::server {

struct ApiError : std::runtime_error {
  ApiError(int status, std::string type, const std::string& message, std::string param = {}, std::string code = {})
      : std::runtime_error(message), status(status), type(std::move(type)), param(std::move(param)), code(std::move(code)) {}
  int status;
  std::string type;
  std::string param;  // empty: null
  std::string code;   // empty: null
};

// 400 invalid_request_error about `param`.
ApiError bad_request(const std::string& param, const std::string& message, std::string code = {});

enum class Dialect { OpenAI, Anthropic };

// {"error": {"message", "type", "param", "code"}}
nlohmann::json openai_error_body(const ApiError& e);
// {"type": "error", "error": {"type", "message"}}, with Anthropic's type names.
nlohmann::json anthropic_error_body(const ApiError& e);
nlohmann::json error_body(const ApiError& e, Dialect dialect);

}  // namespace vkllm::server
