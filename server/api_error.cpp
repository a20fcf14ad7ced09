#include "server/api_error.h"

namespace vkllm::server {

ApiError bad_request(const std::string& param, const std::string& message, std::string code) {
  return ApiError(400, "invalid_request_error", message, param, std::move(code));
}

nlohmann::json openai_error_body(const ApiError& e) {
  auto or_null = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
  return {{"error", {{"message", e.what()}, {"type", e.type}, {"param", or_null(e.param)}, {"code", or_null(e.code)}}}};
}

nlohmann::json anthropic_error_body(const ApiError& e) {
  // Anthropic names errors by kind and status; the parameter goes into the message.
  std::string type = e.type;
  if (e.status == 401) type = "authentication_error";
  else if (e.status == 404) type = "not_found_error";
  else if (e.status == 413) type = "request_too_large";
  else if (e.status == 503) type = "overloaded_error";
  else if (e.status >= 500) type = "api_error";
  else type = "invalid_request_error";
  std::string message = e.what();
  if (!e.param.empty() && message.find(e.param) == std::string::npos) message = e.param + ": " + message;
  return {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
}

nlohmann::json error_body(const ApiError& e, Dialect dialect) {
  return dialect == Dialect::OpenAI ? openai_error_body(e) : anthropic_error_body(e);
}

}  // namespace vkllm::server
