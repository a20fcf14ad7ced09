// What the endpoint families share: the model's tokenizer and template, the scheduler, metrics,
// and the helpers every generation endpoint uses (errors, prompt checks, server-sent events).
#pragma once
#include <httplib.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/scheduler.h"
#include "frontends/chat_template/chat_template.h"
#include "frontends/tokenizer/tokenizer.h"
#include "server/api_error.h"
#include "server/generation.h"
#include "server/metrics.h"
#include "server/requests.h"

namespace vkllm::server {

struct ServerContext {
  engine::Model& model;
  engine::Scheduler& scheduler;
  frontends::Tokenizer tokenizer;
  std::optional<frontends::ChatTemplate> chat_template;  // absent when the model has none
  std::string model_id;
  std::string device_name;
  int64_t context = 0;            // positions of one sequence (prompt + generated)
  std::vector<int64_t> eos_ids;   // end a generation
  int64_t created = 0;            // unix time the server started
  RequestDefaults request_defaults;  // model id, default sampling, vocabulary size
  uint64_t device_bytes = 0;      // device memory held by the model (weights, KV cache, activations)
  // Reasoning: the <think> / </think> token ids when the tokenizer has both and the chat template
  // uses them; then chat replies are split into reasoning and answer.
  std::optional<int32_t> think_start, think_end;
  int64_t max_thinking_tokens = 0;  // --max_thinking_tokens: the default thinking budget (0: the context)
  bool template_takes_tools = false;  // the chat template reads `tools`
  Metrics metrics;
};

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
// Runs `handler`, answering ApiError (and any other exception, as 500) in the dialect's error shape.
Handler json_endpoint(Dialect dialect, Handler handler);
void send_json(httplib::Response& res, const nlohmann::json& body, int status = 200);
void send_error(httplib::Response& res, const ApiError& e, Dialect dialect);

// Renders chat messages ([{role, content: string}]) with the model's template, generation prompt on,
// `enable_thinking` and the extra template variables of `thinking` when given.
// `tools` (null: none) are passed as the template's `tools`; a template that takes none refuses them.
std::vector<int32_t> chat_prompt(ServerContext& ctx, const nlohmann::ordered_json& messages, const ThinkingParams& thinking = {},
                                 const nlohmann::ordered_json& tools = nullptr);
// 400 when the prompt leaves no room to generate; otherwise the generation budget: `requested`
// (400 naming `param` if prompt + requested exceed the context) or what the context has left,
// capped at `default_cap`.
int64_t generation_budget(const ServerContext& ctx, int64_t prompt_tokens, std::optional<int64_t> requested,
                          const std::string& param, int64_t default_cap);
// Sets a chat generation's budgets and reasoning split (g.prompt must be set): `answer` bounds the
// answer (400 naming `param` when it cannot fit beside the prompt; absent: what the context leaves);
// for a reasoning model the thinking budget is thinking.max_thinking_tokens, else the server's, else
// the context, and the engine's max_tokens covers both (capped by the context).
void plan_chat_reply(const ServerContext& ctx, GenerationRequest& g, std::optional<int64_t> answer, const std::string& param,
                     const ThinkingParams& thinking);
// Queues a generation; QueueFull becomes 503 (Retry-After), context or input errors 400.
std::shared_ptr<GenerationStream> start_generation(ServerContext& ctx, GenerationRequest request);

// Answers a non-streaming generation with render(all its text and outcome); render throws ApiError
// for outcomes that are errors. A generation that ends within a second is answered plainly. One that
// takes longer gets a chunked body that sends a space every 200 ms until the JSON (JSON allows
// leading whitespace): that is how a client that went away is noticed, and its sequence cancelled.
// Its status is then already 200, so an error that comes later arrives as an error body.
void respond_when_done(httplib::Response& res, std::shared_ptr<GenerationStream> stream, Dialect dialect,
                       std::function<nlohmann::json(const GenerationStream::Update&)> render);

// Streams a generation as server-sent events: `begin` once, `delta` for each update with thinking,
// answer text or tool calls (in that order), `end` with the outcome. While no text comes, an SSE comment every 200 ms keeps probing the connection:
// a client that goes away cancels the sequence within a few hundred milliseconds.
struct SseEvents {
  std::function<std::string()> begin;
  std::function<std::string(const GenerationStream::Update& update)> delta;  // its reasoning, text, tool_calls
  std::function<std::string(const GenerationOutcome& outcome)> end;
};
void stream_events(httplib::Response& res, std::shared_ptr<GenerationStream> stream, SseEvents events);
std::string sse_data(const nlohmann::json& data);
std::string sse_event(const std::string& event, const nlohmann::json& data);

std::string random_id(const std::string& prefix);
int64_t unix_time();

void add_openai_routes(httplib::Server& http, ServerContext& ctx);
void add_anthropic_routes(httplib::Server& http, ServerContext& ctx);
void add_utility_routes(httplib::Server& http, ServerContext& ctx);
void add_chat_page(httplib::Server& http);

}  // namespace vkllm::server
