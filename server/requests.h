// What a request asks for, read from its JSON body and validated without touching the model: each
// endpoint's parser reads every field it knows and answers 400 naming any other, so no parameter is
// silently ignored. The parsers throw nothing but ApiError (tests/fuzz/request_parser_fuzz.cpp holds
// them to that); the routes turn the result into a prompt and a generation.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampling.h"
#include "server/api_error.h"

namespace vkllm::server {

// What the parsers need to know about the server.
struct RequestDefaults {
  std::string model_id;             // the name the `model` field must carry
  engine::SamplingParams sampling;  // for sampling fields a request leaves out
  int64_t vocab_size = 0;           // token ids in prompts must be below this
};

// Fields every generation endpoint shares.
struct GenerationParams {
  std::optional<int64_t> max_tokens;  // absent: what the context leaves (chat) or 16 (completions)
  std::string max_tokens_param;       // the field that gave it, for error messages
  bool stream = false;
  bool include_usage = false;         // stream_options.include_usage
  std::vector<std::string> stop;
  bool ignore_eos = false;            // extension (as vLLM's): generate max_tokens whatever the model says
  engine::SamplingParams sampling;
};

// Reasoning models (<think> ... </think>): whether to think, passed to the chat template as
// `enable_thinking` (absent: the template's default), and how many tokens thinking may take.
struct ThinkingParams {
  std::optional<bool> enable_thinking;
  std::optional<int64_t> max_thinking_tokens;  // absent: the server's --max_thinking_tokens
  nlohmann::ordered_json template_kwargs = nlohmann::ordered_json::object();  // chat_template_kwargs
  std::string field;  // the request field that asked for thinking, for errors ("" when none did)
};

// POST /v1/chat/completions. `messages` is ready for the chat template: roles system/user/assistant
// (developer becomes system) and tool, content joined into one string, an assistant's reasoning_content
// and tool_calls (arguments parsed into objects, as templates expect) kept.
struct ChatRequest : GenerationParams {
  nlohmann::ordered_json messages;
  ThinkingParams thinking;
  nlohmann::ordered_json tools;        // for the chat template; null when none are offered (or tool_choice "none")
  bool parallel_tool_calls = true;     // false: the reply ends after its first call
};
ChatRequest parse_chat_request(const std::string& body, const RequestDefaults& defaults);

// POST /v1/completions: the prompt as text (tokenized with special tokens) or as token ids.
struct CompletionRequest : GenerationParams {
  std::optional<std::string> text;
  std::vector<int32_t> tokens;
};
CompletionRequest parse_completion_request(const std::string& body, const RequestDefaults& defaults);

// POST /v1/messages (Anthropic): `messages` for the chat template, the system prompt first.
struct MessagesRequest : GenerationParams {
  nlohmann::ordered_json messages;  // tool_use / tool_result blocks become tool_calls / "tool" messages
  ThinkingParams thinking;  // from `thinking`: {"type": "enabled", "budget_tokens"} or {"type": "disabled"}
  nlohmann::ordered_json tools;     // as chat templates take them (OpenAI's function shape); null: none
};
MessagesRequest parse_messages_request(const std::string& body, const RequestDefaults& defaults);
// POST /v1/messages/count_tokens: the conversation and whether it asks for thinking.
struct CountTokensRequest {
  nlohmann::ordered_json messages;
  ThinkingParams thinking;
  nlohmann::ordered_json tools;
};
CountTokensRequest parse_count_tokens_request(const std::string& body, const RequestDefaults& defaults);

struct TokenizeRequest {
  std::string prompt;
  bool add_special_tokens = true;
};
TokenizeRequest parse_tokenize_request(const std::string& body, const RequestDefaults& defaults);

struct DetokenizeRequest {
  std::vector<int32_t> tokens;
  bool skip_special_tokens = false;
};
DetokenizeRequest parse_detokenize_request(const std::string& body, const RequestDefaults& defaults);

}  // namespace vkllm::server
