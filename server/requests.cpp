#include "server/requests.h"

#include <fmt/format.h>

#include "server/params.h"

namespace vkllm::server {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// A message's content: a string, or an array of {"type": "text", "text": ...} parts (joined).
// `extra_ok` names one more field a part may carry (Anthropic's cache_control hint), or nullptr.
std::string text_content(const json& content, const std::string& where, const char* extra_ok) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw bad_request(where, fmt::format("'{}' must be a string or an array of text parts", where));
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const json& part = content[j];
    const std::string at = fmt::format("{}[{}]", where, j);
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      throw bad_request(at, fmt::format("'{}' must be an object with a string 'type'", at));
    if (part["type"] != "text")
      throw bad_request(at + ".type", fmt::format("'{}.type' is '{}'; only text parts are supported", at, part["type"].get<std::string>()));
    if (!part.contains("text") || !part["text"].is_string())
      throw bad_request(at + ".text", fmt::format("'{}.text' must be a string", at));
    for (const auto& [key, value] : part.items())
      if (key != "type" && key != "text" && !(extra_ok && key == extra_ok))
        throw bad_request(at + "." + key, fmt::format("unsupported field '{}.{}'", at, key));
    text += part["text"].get<std::string>();
  }
  return text;
}

void check_model(Fields& f, const RequestDefaults& d, bool required) {
  const std::optional<std::string> model = f.string("model");
  if (!model) {
    if (required) f.required("model");  // throws
    return;
  }
  if (*model != d.model_id)
    throw ApiError(404, "invalid_request_error", fmt::format("the model '{}' does not exist; this server serves '{}'", *model, d.model_id),
                   "model", "model_not_found");
}

ordered_json chat_messages(Fields& f) {
  const json& messages = f.required("messages");
  if (!messages.is_array() || messages.empty()) throw bad_request("messages", "'messages' must be a non-empty array");
  ordered_json out = ordered_json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string at = fmt::format("messages[{}]", i);
    if (!m.is_object()) throw bad_request(at, fmt::format("'{}' must be an object", at));
    if (!m.contains("role") || !m["role"].is_string()) throw bad_request(at + ".role", fmt::format("'{}.role' must be a string", at));
    const std::string role = m["role"];
    if (role != "system" && role != "developer" && role != "user" && role != "assistant")
      throw bad_request(at + ".role", fmt::format("'{}.role' is '{}'; supported roles: system, developer, user, assistant", at, role));
    ordered_json msg = {{"role", role == "developer" ? "system" : role}};  // chat templates know "system"
    for (const auto& [key, value] : m.items()) {
      if (key == "role") continue;
      if (key == "content") {
        msg["content"] = text_content(value, at + ".content", nullptr);
      } else if (key == "name") {
        if (!value.is_string()) throw bad_request(at + ".name", fmt::format("'{}.name' must be a string", at));
        msg["name"] = value;
      } else {
        throw bad_request(at + "." + key, fmt::format("unsupported message field '{}.{}'", at, key));
      }
    }
    if (!msg.contains("content")) throw bad_request(at + ".content", fmt::format("'{}.content' is required", at));
    out.push_back(std::move(msg));
  }
  return out;
}

// n, stream / stream_options, stop, sampling, and the fields accepted as they change nothing here.
void read_openai_common(Fields& f, const RequestDefaults& d, GenerationParams& p) {
  if (auto n = f.integer("n", 1, 128); n && *n != 1) throw bad_request("n", "only n = 1 is supported", "unsupported_parameter");
  p.stream = f.boolean("stream").value_or(false);
  if (const json* so = f.get("stream_options")) {
    if (!p.stream) throw bad_request("stream_options", "'stream_options' is only allowed when 'stream' is true");
    if (!so->is_object()) throw bad_request("stream_options", "'stream_options' must be an object");
    for (const auto& [key, value] : so->items()) {
      if (key != "include_usage") throw bad_request("stream_options." + key, fmt::format("unsupported field 'stream_options.{}'", key));
      if (!value.is_boolean()) throw bad_request("stream_options.include_usage", "'stream_options.include_usage' must be a boolean");
      p.include_usage = value.get<bool>();
    }
  }
  p.stop = read_stop_strings(f, "stop", 4);
  p.ignore_eos = f.boolean("ignore_eos").value_or(false);
  p.sampling = read_sampling(f, Dialect::OpenAI, d.sampling);
  if (f.boolean("store").value_or(false))
    throw bad_request("store", "stored completions are not supported ('store' must be false)", "unsupported_parameter");
  f.string("user");  // an end-user id for abuse monitoring: nothing to do locally
  if (const json* metadata = f.get("metadata"); metadata && !metadata->is_object())  // tags for stored completions
    throw bad_request("metadata", "'metadata' must be an object");
}

// `response_format`: {"type": "text"} is what happens anyway; the JSON modes would need constrained
// sampling, which the engine does not have, so they are refused rather than ignored.
void read_response_format(Fields& f) {
  const json* format = f.get("response_format");
  if (!format) return;
  if (!format->is_object() || !format->contains("type") || !(*format)["type"].is_string())
    throw bad_request("response_format", "'response_format' must be an object with a string 'type'");
  const std::string type = (*format)["type"];
  if (type == "text" && format->size() == 1) return;
  throw bad_request("response_format", fmt::format("'response_format' of type '{}' is not supported: structured output needs "
                                                   "constrained sampling, which this server does not have (only 'text')", type),
                    "unsupported_parameter");
}

void reject_fields(Fields& f, std::initializer_list<const char*> names, const char* why) {
  for (const char* name : names)
    if (f.get(name)) throw bad_request(name, fmt::format("'{}' is not supported: {}", name, why), "unsupported_parameter");
}

const char* const kNoLogprobs = "token log-probabilities are not returned";
const char* const kNoTools = "tool calling is not implemented by this server yet";

// A list of token ids, each in [0, vocab).
std::vector<int32_t> token_ids(const json& list, const std::string& name, int64_t vocab) {
  std::vector<int32_t> ids;
  for (const json& t : list) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= vocab)
      throw bad_request(name, fmt::format("'{}' token ids must be integers in [0, {})", name, vocab));
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return ids;
}

// system + messages (Anthropic) as chat-template messages.
ordered_json anthropic_conversation(Fields& f) {
  ordered_json out = ordered_json::array();
  if (const json* system = f.get("system"))
    out.push_back({{"role", "system"}, {"content", text_content(*system, "system", "cache_control")}});
  const json& messages = f.required("messages");
  if (!messages.is_array() || messages.empty()) throw bad_request("messages", "'messages' must be a non-empty array");
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string at = fmt::format("messages[{}]", i);
    if (!m.is_object()) throw bad_request(at, fmt::format("'{}' must be an object", at));
    for (const auto& [key, value] : m.items())
      if (key != "role" && key != "content") throw bad_request(at + "." + key, fmt::format("unsupported message field '{}.{}'", at, key));
    if (!m.contains("role") || (m["role"] != "user" && m["role"] != "assistant"))
      throw bad_request(at + ".role", fmt::format("'{}.role' must be \"user\" or \"assistant\"", at));
    if (!m.contains("content")) throw bad_request(at + ".content", fmt::format("'{}.content' is required", at));
    out.push_back({{"role", m["role"]}, {"content", text_content(m["content"], at + ".content", "cache_control")}});
  }
  if (out.back()["role"] == "assistant")
    throw bad_request("messages", "a final assistant message (prefilling the reply) is not supported", "unsupported_parameter");
  return out;
}

}  // namespace

ChatRequest parse_chat_request(const std::string& body, const RequestDefaults& d) {
  const json j = parse_body(body);
  Fields f(j);
  ChatRequest r;
  check_model(f, d, true);
  r.messages = chat_messages(f);
  r.max_tokens = f.integer("max_completion_tokens", 1, INT64_MAX);
  r.max_tokens_param = "max_completion_tokens";
  if (auto legacy = f.integer("max_tokens", 1, INT64_MAX)) {
    if (r.max_tokens && *r.max_tokens != *legacy)
      throw bad_request("max_tokens", "'max_tokens' and 'max_completion_tokens' disagree; give one of them");
    r.max_tokens = legacy;
    r.max_tokens_param = "max_tokens";
  }
  read_openai_common(f, d, r);
  if (f.boolean("logprobs").value_or(false)) reject_fields(f, {"logprobs"}, kNoLogprobs);
  reject_fields(f, {"top_logprobs"}, kNoLogprobs);
  read_response_format(f);
  reject_fields(f, {"tools", "tool_choice", "parallel_tool_calls", "functions", "function_call"}, kNoTools);
  f.reject_unknown();
  return r;
}

CompletionRequest parse_completion_request(const std::string& body, const RequestDefaults& d) {
  const json j = parse_body(body);
  Fields f(j);
  CompletionRequest r;
  check_model(f, d, true);
  // `prompt`: a string, a list of token ids, or a list holding one of those.
  const json& prompt = f.required("prompt");
  const json* one = &prompt;
  if (prompt.is_array() && prompt.size() == 1 && (prompt[0].is_string() || prompt[0].is_array())) one = &prompt[0];
  if (one->is_string()) {
    r.text = one->get<std::string>();
  } else if (one->is_array() && !one->empty() && (*one)[0].is_number()) {
    r.tokens = token_ids(*one, "prompt", d.vocab_size);
  } else if (prompt.is_array() && prompt.size() > 1 && (prompt[0].is_string() || prompt[0].is_array())) {
    throw bad_request("prompt", "only one prompt per request is supported", "unsupported_parameter");
  } else {
    throw bad_request("prompt", "'prompt' must be a string, a non-empty list of token ids, or a list with one of those");
  }
  r.max_tokens = f.integer("max_tokens", 1, INT64_MAX);
  r.max_tokens_param = "max_tokens";
  read_openai_common(f, d, r);
  if (f.boolean("echo").value_or(false)) reject_fields(f, {"echo"}, "returning the prompt with the completion is not implemented");
  reject_fields(f, {"suffix"}, "insertion is not implemented");
  reject_fields(f, {"logprobs"}, kNoLogprobs);
  if (auto best_of = f.integer("best_of", 1, 20); best_of && *best_of != 1)
    throw bad_request("best_of", "only best_of = 1 is supported", "unsupported_parameter");
  f.reject_unknown();
  return r;
}

MessagesRequest parse_messages_request(const std::string& body, const RequestDefaults& d) {
  const json j = parse_body(body);
  Fields f(j);
  MessagesRequest r;
  check_model(f, d, true);
  r.messages = anthropic_conversation(f);
  r.max_tokens = f.integer("max_tokens", 1, INT64_MAX);
  if (!r.max_tokens) f.required("max_tokens");  // throws: Anthropic requires it
  r.max_tokens_param = "max_tokens";
  r.stop = read_stop_strings(f, "stop_sequences", 16);
  r.stream = f.boolean("stream").value_or(false);
  r.include_usage = true;  // message_delta always carries the usage
  r.sampling = read_sampling(f, Dialect::Anthropic, d.sampling);
  if (const json* metadata = f.get("metadata"); metadata && !metadata->is_object())  // {user_id}, for abuse monitoring
    throw bad_request("metadata", "'metadata' must be an object");
  reject_fields(f, {"tools", "tool_choice"}, kNoTools);
  reject_fields(f, {"thinking"}, "extended thinking is not implemented by this server yet");
  f.reject_unknown();
  return r;
}

nlohmann::ordered_json parse_count_tokens_request(const std::string& body, const RequestDefaults& d) {
  const json j = parse_body(body);
  Fields f(j);
  check_model(f, d, true);
  ordered_json messages = anthropic_conversation(f);
  reject_fields(f, {"tools", "tool_choice"}, kNoTools);
  reject_fields(f, {"thinking"}, "extended thinking is not implemented by this server yet");
  f.reject_unknown();
  return messages;
}

TokenizeRequest parse_tokenize_request(const std::string& body, const RequestDefaults& d) {
  const json j = parse_body(body);
  Fields f(j);
  check_model(f, d, false);
  TokenizeRequest r;
  const std::optional<std::string> prompt = f.string("prompt");
  if (!prompt) f.required("prompt");  // throws
  r.prompt = *prompt;
  r.add_special_tokens = f.boolean("add_special_tokens").value_or(true);
  f.reject_unknown();
  return r;
}

DetokenizeRequest parse_detokenize_request(const std::string& body, const RequestDefaults& d) {
  const json j = parse_body(body);
  Fields f(j);
  check_model(f, d, false);
  DetokenizeRequest r;
  const json& tokens = f.required("tokens");
  if (!tokens.is_array()) throw bad_request("tokens", "'tokens' must be an array of token ids");
  r.tokens = token_ids(tokens, "tokens", d.vocab_size);
  r.skip_special_tokens = f.boolean("skip_special_tokens").value_or(false);
  f.reject_unknown();
  return r;
}

}  // namespace vkllm::server
