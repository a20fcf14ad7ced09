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
  Metrics metrics;
};

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
// Runs `handler`, answering ApiError (and any other exception, as 500) in the dialect's error shape.
Handler json_endpoint(Dialect dialect, Handler handler);
void send_json(httplib::Response& res, const nlohmann::json& body, int status = 200);
void send_error(httplib::Response& res, const ApiError& e, Dialect dialect);

// Renders chat messages ([{role, content: string}]) with the model's template, generation prompt on.
std::vector<int32_t> chat_prompt(ServerContext& ctx, const nlohmann::ordered_json& messages);
// 400 when the prompt leaves no room to generate; otherwise the generation budget: `requested`
// (400 naming `param` if prompt + requested exceed the context) or what the context has left,
// capped at `default_cap`.
int64_t generation_budget(const ServerContext& ctx, int64_t prompt_tokens, std::optional<int64_t> requested,
                          const std::string& param, int64_t default_cap);
// Queues a generation; QueueFull becomes 503 (Retry-After), context or input errors 400.
std::shared_ptr<GenerationStream> start_generation(ServerContext& ctx, GenerationRequest request);

// Answers a non-streaming generation with render(all its text and outcome); render throws ApiError
// for outcomes that are errors. A generation that ends within a second is answered plainly. One that
// takes longer gets a chunked body that sends a space every 200 ms until the JSON (JSON allows
// leading whitespace): that is how a client that went away is noticed, and its sequence cancelled.
// Its status is then already 200, so an error that comes later arrives as an error body.
void respond_when_done(httplib::Response& res, std::shared_ptr<GenerationStream> stream, Dialect dialect,
                       std::function<nlohmann::json(const GenerationStream::Update&)> render);

// Streams a generation as server-sent events: `begin` once, `delta` for each piece of text, `end`
// with the outcome. While no text comes, an SSE comment every 200 ms keeps probing the connection:
// a client that goes away cancels the sequence within a few hundred milliseconds.
struct SseEvents {
  std::function<std::string()> begin;
  std::function<std::string(const std::string& text)> delta;
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
