#include "server/requests.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string_view>

#include "server/params.h"

namespace vkllm::server {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// Fields of the objects nested in a body (messages, content parts, blocks, tools), each error naming
// the field's path: `at` is the object's ("messages[0]"), a field's is at + "." + key.

// obj[key] as a string; 400 when absent or not a string.
std::string string_field(const json& obj, const std::string& at, const char* key) {
  if (!obj.contains(key) || !obj[key].is_string()) throw bad_request(at + "." + key, fmt::format("'{}.{}' must be a string", at, key));
  return obj[key].get<std::string>();
}

// obj[key] as a boolean when present; 400 when not a boolean.
std::optional<bool> boolean_field(const json& obj, const std::string& at, const char* key) {
  if (!obj.contains(key)) return std::nullopt;
  if (!obj[key].is_boolean()) throw bad_request(at + "." + key, fmt::format("'{}.{}' must be a boolean", at, key));
  return obj[key].get<bool>();
}

// 400 naming the first field of `obj` that `allowed` does not list.
void allow_fields(const json& obj, const std::string& at, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : obj.items())
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      throw bad_request(at + "." + key, fmt::format("unsupported field '{}.{}'", at, key));
}

// The "type" of a content part or block: it must be an object with a string "type".
std::string type_of(const json& obj, const std::string& at) {
  if (!obj.is_object() || !obj.contains("type") || !obj["type"].is_string())
    throw bad_request(at, fmt::format("'{}' must be an object with a string 'type'", at));
  return obj["type"].get<std::string>();
}

// A non-empty array field (the conversation).
const json& non_empty_array(Fields& f, const char* name) {
  const json& value = f.required(name);
  if (!value.is_array() || value.empty()) throw bad_request(name, fmt::format("'{}' must be a non-empty array", name));
  return value;
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts (joined).
// Anthropic parts may also carry a cache_control hint (`cache_control_ok`).
std::string text_content(const json& content, const std::string& where, bool cache_control_ok) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw bad_request(where, fmt::format("'{}' must be a string or an array of text parts", where));
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const json& part = content[j];
    const std::string at = fmt::format("{}[{}]", where, j);
    if (const std::string type = type_of(part, at); type != "text")
      throw bad_request(at + ".type", fmt::format("'{}.type' is '{}'; only text parts are supported", at, type));
    text += string_field(part, at, "text");
    if (cache_control_ok) allow_fields(part, at, {"type", "text", "cache_control"});
    else allow_fields(part, at, {"type", "text"});
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

// An assistant's earlier calls: [{"id", "type": "function", "function": {"name", "arguments": JSON text}}].
// The arguments become an object, which is what chat templates print.
ordered_json assistant_tool_calls(const json& calls, const std::string& where) {
  if (!calls.is_array()) throw bad_request(where, fmt::format("'{}' must be an array", where));
  ordered_json out = ordered_json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const json& c = calls[i];
    const std::string at = fmt::format("{}[{}]", where, i);
    if (!c.is_object() || !c.contains("function") || !c["function"].is_object())
      throw bad_request(at, fmt::format("'{}' must be an object with a 'function'", at));
    const json& fn = c["function"];
    const std::string name = string_field(fn, at + ".function", "name");
    ordered_json arguments = ordered_json::object();
    if (fn.contains("arguments")) {
      if (!fn["arguments"].is_string()) throw bad_request(at + ".function.arguments", fmt::format("'{}.function.arguments' must be a JSON string", at));
      arguments = ordered_json::parse(fn["arguments"].get<std::string>(), nullptr, false);
      if (!arguments.is_object())
        throw bad_request(at + ".function.arguments", fmt::format("'{}.function.arguments' must hold a JSON object", at));
    }
    ordered_json call = {{"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}};
    if (c.contains("id")) call["id"] = string_field(c, at, "id");
    out.push_back(std::move(call));
  }
  return out;
}

ordered_json chat_messages(Fields& f) {
  const json& messages = non_empty_array(f, "messages");
  ordered_json out = ordered_json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string at = fmt::format("messages[{}]", i);
    if (!m.is_object()) throw bad_request(at, fmt::format("'{}' must be an object", at));
    const std::string role = string_field(m, at, "role");
    if (role != "system" && role != "developer" && role != "user" && role != "assistant" && role != "tool")
      throw bad_request(at + ".role", fmt::format("'{}.role' is '{}'; supported roles: system, developer, user, assistant, tool", at, role));
    ordered_json msg = {{"role", role == "developer" ? "system" : role}};  // chat templates know "system"
    for (const auto& [key, value] : m.items()) {
      if (key == "role") continue;
      if (key == "content") {
        // An assistant message that only calls tools may have no content.
        if (value.is_null() && role == "assistant" && m.contains("tool_calls")) continue;
        msg["content"] = text_content(value, at + ".content", false);
      } else if (key == "tool_calls" && role == "assistant") {
        msg["tool_calls"] = assistant_tool_calls(value, at + ".tool_calls");
      } else if (key == "name" || (key == "reasoning_content" && role == "assistant") || (key == "tool_call_id" && role == "tool")) {
        msg[key] = string_field(m, at, key.c_str());
      } else {
        throw bad_request(at + "." + key, fmt::format("unsupported message field '{}.{}'", at, key));
      }
    }
    if (!msg.contains("content")) {
      if (!msg.contains("tool_calls")) throw bad_request(at + ".content", fmt::format("'{}.content' is required", at));
      msg["content"] = "";
    }
    out.push_back(std::move(msg));
  }
  return out;
}

// The fields every generation endpoint shares (GenerationParams), by the names and rules of each.
struct GenerationFields {
  Dialect dialect;               // which sampling fields (read_sampling) and extras apply
  const char* max_tokens;        // the length limit
  const char* max_tokens_alias;  // an older name for it (nullptr: none); both given must agree, the alias is reported
  bool max_tokens_required;
  const char* stop;              // the stop strings and how many
  size_t max_stops;
};
constexpr GenerationFields kChatFields{Dialect::OpenAI, "max_completion_tokens", "max_tokens", false, "stop", 4};
constexpr GenerationFields kCompletionFields{Dialect::OpenAI, "max_tokens", nullptr, false, "stop", 4};
constexpr GenerationFields kMessagesFields{Dialect::Anthropic, "max_tokens", nullptr, true, "stop_sequences", 16};

// OpenAI's own: n, stream_options, ignore_eos, and the fields accepted as they change nothing here.
void read_openai_extras(Fields& f, GenerationParams& p) {
  if (auto n = f.integer("n", 1, 128); n && *n != 1) throw bad_request("n", "only n = 1 is supported", "unsupported_parameter");
  if (const json* so = f.get("stream_options")) {
    if (!p.stream) throw bad_request("stream_options", "'stream_options' is only allowed when 'stream' is true");
    if (!so->is_object()) throw bad_request("stream_options", "'stream_options' must be an object");
    allow_fields(*so, "stream_options", {"include_usage"});
    p.include_usage = boolean_field(*so, "stream_options", "include_usage").value_or(false);
  }
  p.ignore_eos = f.boolean("ignore_eos").value_or(false);
  if (f.boolean("store").value_or(false))
    throw bad_request("store", "stored completions are not supported ('store' must be false)", "unsupported_parameter");
  f.string("user");  // an end-user id for abuse monitoring: nothing to do locally
}

void read_generation_fields(Fields& f, const RequestDefaults& d, const GenerationFields& g, GenerationParams& p) {
  p.max_tokens = f.integer(g.max_tokens, 1, INT64_MAX);
  p.max_tokens_param = g.max_tokens;
  if (g.max_tokens_alias) {
    if (auto alias = f.integer(g.max_tokens_alias, 1, INT64_MAX)) {
      if (p.max_tokens && *p.max_tokens != *alias)
        throw bad_request(g.max_tokens_alias, fmt::format("'{}' and '{}' disagree; give one of them", g.max_tokens_alias, g.max_tokens));
      p.max_tokens = alias;
      p.max_tokens_param = g.max_tokens_alias;
    }
  }
  if (!p.max_tokens && g.max_tokens_required) f.required(g.max_tokens);  // throws
  p.stream = f.boolean("stream").value_or(false);
  p.stop = read_stop_strings(f, g.stop, g.max_stops);
  p.sampling = read_sampling(f, g.dialect, d.sampling);
  if (g.dialect == Dialect::OpenAI) {
    read_openai_extras(f, p);
  } else {
    p.include_usage = true;  // Anthropic's message_delta always carries the usage
  }
  // OpenAI: tags for stored completions; Anthropic: {user_id}, for abuse monitoring. Nothing to do here.
  if (const json* metadata = f.get("metadata"); metadata && !metadata->is_object())
    throw bad_request("metadata", "'metadata' must be an object");
}

// Every parser: the body as a JSON object, its `model` checked, the endpoint's fields read by `read`,
// then a 400 naming any field nobody read.
template <typename Request, typename Read>
Request parse_request(const std::string& body, const RequestDefaults& d, bool model_required, Read&& read) {
  const json j = parse_body(body);
  Fields f(j);
  check_model(f, d, model_required);
  Request r;
  read(f, r);
  f.reject_unknown();
  return r;
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

// enable_thinking, chat_template_kwargs (extra chat template variables, as vLLM's), max_thinking_tokens.
ThinkingParams read_openai_thinking(Fields& f) {
  ThinkingParams t;
  t.enable_thinking = f.boolean("enable_thinking");
  if (const json* kwargs = f.get("chat_template_kwargs")) {
    if (!kwargs->is_object()) throw bad_request("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    for (const auto& [key, value] : kwargs->items()) {
      if (key == "messages" || key == "tools" || key == "add_generation_prompt")
        throw bad_request("chat_template_kwargs." + key, fmt::format("'chat_template_kwargs' may not set '{}'", key));
      if (key == "enable_thinking") {
        if (!value.is_boolean()) throw bad_request("chat_template_kwargs.enable_thinking", "'enable_thinking' must be a boolean");
        if (t.enable_thinking && *t.enable_thinking != value.get<bool>())
          throw bad_request("enable_thinking", "'enable_thinking' and 'chat_template_kwargs.enable_thinking' disagree");
        t.enable_thinking = value.get<bool>();
        continue;
      }
      t.template_kwargs[key] = value;
    }
  }
  t.max_thinking_tokens = f.integer("max_thinking_tokens", 1, INT64_MAX);
  if (t.max_thinking_tokens) t.field = "max_thinking_tokens";
  else if (t.enable_thinking.value_or(false)) t.field = "enable_thinking";
  return t;
}

// tools: [{"type": "function", "function": {"name", "description"?, "parameters"?, "strict"?}}];
// tool_choice: "auto" or "none" ("required" and a named function would need constrained sampling).
void read_tools(Fields& f, ChatRequest& r) {
  const json* tools = f.get("tools");
  std::string choice = "auto";
  if (const json* c = f.get("tool_choice")) {
    if (!c->is_string() || (*c != "auto" && *c != "none"))
      throw bad_request("tool_choice", "'tool_choice' may be \"auto\" or \"none\": forcing a call would need constrained sampling",
                        "unsupported_parameter");
    choice = c->get<std::string>();
  }
  r.parallel_tool_calls = f.boolean("parallel_tool_calls").value_or(true);
  reject_fields(f, {"functions", "function_call"}, "the deprecated function-calling fields are not supported (use 'tools')");
  if (!tools) return;
  if (!tools->is_array()) throw bad_request("tools", "'tools' must be an array");
  ordered_json out = ordered_json::array();
  for (size_t i = 0; i < tools->size(); ++i) {
    const json& t = (*tools)[i];
    const std::string at = fmt::format("tools[{}]", i);
    if (!t.is_object() || t.value("type", json()) != "function" || !t.contains("function") || !t["function"].is_object())
      throw bad_request(at, fmt::format("'{}' must be {{\"type\": \"function\", \"function\": {{...}}}}", at));
    for (const auto& [key, value] : t.items())
      if (key != "type" && key != "function") throw bad_request(at + "." + key, fmt::format("unsupported field '{}.{}'", at, key));
    const json& fn = t["function"];
    if (!fn.contains("name") || !fn["name"].is_string() || fn["name"].get<std::string>().empty())
      throw bad_request(at + ".function.name", fmt::format("'{}.function.name' must be a non-empty string", at));
    for (const auto& [key, value] : fn.items()) {
      if (key == "name") continue;
      if (key == "description" && value.is_string()) continue;
      if (key == "parameters" && value.is_object()) continue;
      if (key == "strict" && value.is_boolean() && !value.get<bool>()) continue;
      throw bad_request(at + ".function." + key, key == "strict" ? "'strict' tool schemas need constrained sampling, which this server does not have"
                                                                 : fmt::format("'{}.function.{}' is not supported or has the wrong type", at, key));
    }
    out.push_back(ordered_json(t));
  }
  if (choice != "none" && !out.empty()) r.tools = std::move(out);
}

const char* const kNoLogprobs = "token log-probabilities are not returned";

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

// One Anthropic message as chat-template messages. Blocks: text (both roles), thinking and tool_use
// (assistant: reasoning_content and tool_calls), tool_result (user: a "tool" message each, before
// the user's text).
void anthropic_message(const json& m, const std::string& at, ordered_json& out) {
  const std::string role = m["role"];
  const json& content = m["content"];
  if (content.is_string()) {
    out.push_back({{"role", role}, {"content", content}});
    return;
  }
  if (!content.is_array()) throw bad_request(at + ".content", fmt::format("'{}.content' must be a string or an array of blocks", at));
  std::string text, reasoning;
  ordered_json tool_calls = ordered_json::array();
  for (size_t j = 0; j < content.size(); ++j) {
    const json& block = content[j];
    const std::string where = fmt::format("{}.content[{}]", at, j);
    const std::string type = type_of(block, where);
    // Every block may carry a cache_control hint.
    if (type == "text") {
      allow_fields(block, where, {"type", "cache_control", "text"});
      text += string_field(block, where, "text");
    } else if (type == "thinking" && role == "assistant") {
      allow_fields(block, where, {"type", "cache_control", "thinking", "signature"});
      reasoning += string_field(block, where, "thinking");
    } else if (type == "tool_use" && role == "assistant") {
      allow_fields(block, where, {"type", "cache_control", "id", "name", "input"});
      if (!block.contains("input") || !block["input"].is_object())
        throw bad_request(where + ".input", fmt::format("'{}.input' must be an object", where));
      tool_calls.push_back({{"id", string_field(block, where, "id")}, {"type", "function"},
                            {"function", {{"name", string_field(block, where, "name")}, {"arguments", ordered_json(block["input"])}}}});
    } else if (type == "tool_result" && role == "user") {
      allow_fields(block, where, {"type", "cache_control", "tool_use_id", "content", "is_error"});
      std::string result = block.contains("content") ? text_content(block["content"], where + ".content", true) : "";
      if (boolean_field(block, where, "is_error").value_or(false)) result = "Error: " + result;
      out.push_back({{"role", "tool"}, {"tool_call_id", string_field(block, where, "tool_use_id")}, {"content", result}});
    } else {
      throw bad_request(where + ".type", fmt::format("'{}.type' is '{}'; supported: text, tool_result (user), thinking and tool_use (assistant)",
                                                    where, type));
    }
  }
  if (role == "user" && text.empty() && !out.empty() && out.back()["role"] == "tool") return;  // only tool results
  ordered_json msg = {{"role", role}, {"content", text}};
  if (!reasoning.empty()) msg["reasoning_content"] = reasoning;
  if (!tool_calls.empty()) msg["tool_calls"] = std::move(tool_calls);
  out.push_back(std::move(msg));
}

// system + messages (Anthropic) as chat-template messages.
ordered_json anthropic_conversation(Fields& f) {
  ordered_json out = ordered_json::array();
  if (const json* system = f.get("system"))
    out.push_back({{"role", "system"}, {"content", text_content(*system, "system", true)}});
  const json& messages = non_empty_array(f, "messages");
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string at = fmt::format("messages[{}]", i);
    if (!m.is_object()) throw bad_request(at, fmt::format("'{}' must be an object", at));
    allow_fields(m, at, {"role", "content"});
    if (!m.contains("role") || (m["role"] != "user" && m["role"] != "assistant"))
      throw bad_request(at + ".role", fmt::format("'{}.role' must be \"user\" or \"assistant\"", at));
    if (!m.contains("content")) throw bad_request(at + ".content", fmt::format("'{}.content' is required", at));
    anthropic_message(m, at, out);
  }
  if (out.back()["role"] == "assistant")
    throw bad_request("messages", "a final assistant message (prefilling the reply) is not supported", "unsupported_parameter");
  return out;
}

// tools: [{"name", "description"?, "input_schema"}] → the OpenAI-style function list chat templates
// take; tool_choice: {"type": "auto"} or {"type": "none"}.
ordered_json read_anthropic_tools(Fields& f) {
  const json* tools = f.get("tools");
  std::string choice = "auto";
  if (const json* c = f.get("tool_choice")) {
    if (!c->is_object() || !c->contains("type") || ((*c)["type"] != "auto" && (*c)["type"] != "none"))
      throw bad_request("tool_choice", "'tool_choice' may be {\"type\": \"auto\"} or {\"type\": \"none\"}: forcing a call would need "
                        "constrained sampling", "unsupported_parameter");
    allow_fields(*c, "tool_choice", {"type", "disable_parallel_tool_use"});
    if (c->contains("disable_parallel_tool_use"))
      throw bad_request("tool_choice.disable_parallel_tool_use", "'disable_parallel_tool_use' is not supported", "unsupported_parameter");
    choice = (*c)["type"].get<std::string>();
  }
  if (!tools) return nullptr;
  if (!tools->is_array()) throw bad_request("tools", "'tools' must be an array");
  ordered_json out = ordered_json::array();
  for (size_t i = 0; i < tools->size(); ++i) {
    const json& t = (*tools)[i];
    const std::string at = fmt::format("tools[{}]", i);
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("input_schema") || !t["input_schema"].is_object())
      throw bad_request(at, fmt::format("'{}' must be a custom tool {{\"name\", \"input_schema\"}} (server tools are not supported)", at));
    ordered_json fn = {{"name", t["name"]}};
    for (const auto& [key, value] : t.items()) {
      if (key == "name" || key == "cache_control" || (key == "type" && value == "custom")) continue;
      if (key == "description" && value.is_string()) fn["description"] = value;
      else if (key == "input_schema") fn["parameters"] = ordered_json(value);
      else throw bad_request(at + "." + key, fmt::format("'{}.{}' is not supported or has the wrong type", at, key));
    }
    out.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  if (choice == "none" || out.empty()) return nullptr;
  return out;
}

// `thinking`: {"type": "enabled", "budget_tokens": N} or {"type": "disabled"}.
ThinkingParams read_anthropic_thinking(Fields& f) {
  ThinkingParams t;
  const json* thinking = f.get("thinking");
  if (!thinking) return t;
  if (!thinking->is_object() || !thinking->contains("type") || !(*thinking)["type"].is_string())
    throw bad_request("thinking", "'thinking' must be an object with a string 'type' (\"enabled\" or \"disabled\")");
  const std::string type = (*thinking)["type"];
  if (type == "enabled") allow_fields(*thinking, "thinking", {"type", "budget_tokens"});
  else allow_fields(*thinking, "thinking", {"type"});
  if (type == "disabled") {
    t.enable_thinking = false;
  } else if (type == "enabled") {
    t.enable_thinking = true;
    t.field = "thinking";
    const json* budget = thinking->contains("budget_tokens") ? &(*thinking)["budget_tokens"] : nullptr;
    if (!budget || !budget->is_number_integer() || budget->get<int64_t>() < 1)
      throw bad_request("thinking.budget_tokens", "'thinking.budget_tokens' must be an integer of at least 1");
    t.max_thinking_tokens = budget->get<int64_t>();
  } else {
    throw bad_request("thinking.type", fmt::format("'thinking.type' is '{}'; it must be \"enabled\" or \"disabled\"", type));
  }
  return t;
}

}  // namespace

ChatRequest parse_chat_request(const std::string& body, const RequestDefaults& d) {
  return parse_request<ChatRequest>(body, d, true, [&](Fields& f, ChatRequest& r) {
    r.messages = chat_messages(f);
    read_generation_fields(f, d, kChatFields, r);
    r.thinking = read_openai_thinking(f);
    if (f.boolean("logprobs").value_or(false)) reject_fields(f, {"logprobs"}, kNoLogprobs);
    reject_fields(f, {"top_logprobs"}, kNoLogprobs);
    read_response_format(f);
    read_tools(f, r);
  });
}

CompletionRequest parse_completion_request(const std::string& body, const RequestDefaults& d) {
  return parse_request<CompletionRequest>(body, d, true, [&](Fields& f, CompletionRequest& r) {
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
    read_generation_fields(f, d, kCompletionFields, r);
    if (f.boolean("echo").value_or(false)) reject_fields(f, {"echo"}, "returning the prompt with the completion is not implemented");
    reject_fields(f, {"suffix"}, "insertion is not implemented");
    reject_fields(f, {"logprobs"}, kNoLogprobs);
    if (auto best_of = f.integer("best_of", 1, 20); best_of && *best_of != 1)
      throw bad_request("best_of", "only best_of = 1 is supported", "unsupported_parameter");
  });
}

MessagesRequest parse_messages_request(const std::string& body, const RequestDefaults& d) {
  return parse_request<MessagesRequest>(body, d, true, [&](Fields& f, MessagesRequest& r) {
    r.messages = anthropic_conversation(f);
    read_generation_fields(f, d, kMessagesFields, r);
    r.tools = read_anthropic_tools(f);
    r.thinking = read_anthropic_thinking(f);
  });
}

CountTokensRequest parse_count_tokens_request(const std::string& body, const RequestDefaults& d) {
  return parse_request<CountTokensRequest>(body, d, true, [&](Fields& f, CountTokensRequest& r) {
    r.messages = anthropic_conversation(f);
    r.tools = read_anthropic_tools(f);
    r.thinking = read_anthropic_thinking(f);
  });
}

TokenizeRequest parse_tokenize_request(const std::string& body, const RequestDefaults& d) {
  return parse_request<TokenizeRequest>(body, d, false, [&](Fields& f, TokenizeRequest& r) {
    const std::optional<std::string> prompt = f.string("prompt");
    if (!prompt) f.required("prompt");  // throws
    r.prompt = *prompt;
    r.add_special_tokens = f.boolean("add_special_tokens").value_or(true);
  });
}

DetokenizeRequest parse_detokenize_request(const std::string& body, const RequestDefaults& d) {
  return parse_request<DetokenizeRequest>(body, d, false, [&](Fields& f, DetokenizeRequest& r) {
    const json& tokens = f.required("tokens");
    if (!tokens.is_array()) throw bad_request("tokens", "'tokens' must be an array of token ids");
    r.tokens = token_ids(tokens, "tokens", d.vocab_size);
    r.skip_special_tokens = f.boolean("skip_special_tokens").value_or(false);
  });
}

}  // namespace vkllm::server
