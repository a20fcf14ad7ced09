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

// POST /v1/chat/completions. `messages` is ready for the chat template: roles system/user/assistant
// (developer becomes system), content joined into one string.
struct ChatRequest : GenerationParams {
  nlohmann::ordered_json messages;
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
  nlohmann::ordered_json messages;
};
MessagesRequest parse_messages_request(const std::string& body, const RequestDefaults& defaults);
// POST /v1/messages/count_tokens: the conversation only.
nlohmann::ordered_json parse_count_tokens_request(const std::string& body, const RequestDefaults& defaults);

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
