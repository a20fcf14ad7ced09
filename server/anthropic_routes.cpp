// POST /v1/messages and POST /v1/messages/count_tokens (Anthropic Messages API shapes).
#include <fmt/format.h>

#include "server/context.h"
#include "server/requests.h"

namespace vkllm::server {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

const char* stop_reason(Finish f) {
  switch (f) {
    case Finish::StopString: return "stop_sequence";
    case Finish::Length: return "max_tokens";
    default: return "end_turn";
  }
}

json stop_sequence(const GenerationOutcome& o) {
  return o.finish == Finish::StopString ? json(o.stop_string) : json(nullptr);
}

void messages(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const MessagesRequest p = parse_messages_request(req.body, ctx.request_defaults);
  GenerationRequest g;
  g.prompt = chat_prompt(ctx, p.messages);
  const int64_t input_tokens = static_cast<int64_t>(g.prompt.size());
  g.max_tokens = generation_budget(ctx, input_tokens, p.max_tokens, "max_tokens", INT64_MAX);
  g.stop_strings = p.stop;
  g.sampling = p.sampling;
  auto gen = start_generation(ctx, std::move(g));
  const std::string id = random_id("msg_");
  const std::string model = ctx.model_id;
  if (!p.stream) {
    respond_when_done(res, gen, Dialect::Anthropic, [=](const GenerationStream::Update& u) {
      if (u.outcome.finish == Finish::Failed) throw ApiError(500, "api_error", u.outcome.error);
      if (u.outcome.finish == Finish::Cancelled) throw ApiError(503, "overloaded_error", "the server is shutting down");
      return json{{"id", id},
                  {"type", "message"},
                  {"role", "assistant"},
                  {"model", model},
                  {"content", json::array({{{"type", "text"}, {"text", u.text}}})},
                  {"stop_reason", stop_reason(u.outcome.finish)},
                  {"stop_sequence", stop_sequence(u.outcome)},
                  {"usage", {{"input_tokens", u.outcome.prompt_tokens}, {"output_tokens", u.outcome.completion_tokens}}}};
    });
    return;
  }
  stream_events(res, gen,
                {[=] {
                   json message = {{"id", id}, {"type", "message"}, {"role", "assistant"}, {"model", model},
                                   {"content", json::array()}, {"stop_reason", nullptr}, {"stop_sequence", nullptr},
                                   {"usage", {{"input_tokens", input_tokens}, {"output_tokens", 0}}}};
                   return sse_event("message_start", {{"type", "message_start"}, {"message", message}}) +
                          sse_event("content_block_start", {{"type", "content_block_start"}, {"index", 0},
                                                            {"content_block", {{"type", "text"}, {"text", ""}}}});
                 },
                 [](const std::string& text) {
                   return sse_event("content_block_delta", {{"type", "content_block_delta"}, {"index", 0},
                                                            {"delta", {{"type", "text_delta"}, {"text", text}}}});
                 },
                 [](const GenerationOutcome& o) {
                   if (o.finish == Finish::Failed || o.finish == Finish::Cancelled)
                     return sse_event("error", anthropic_error_body(ApiError(500, "api_error", o.finish == Finish::Failed ? o.error : "cancelled")));
                   return sse_event("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}}) +
                          sse_event("message_delta", {{"type", "message_delta"},
                                                      {"delta", {{"stop_reason", stop_reason(o.finish)}, {"stop_sequence", stop_sequence(o)}}},
                                                      {"usage", {{"output_tokens", o.completion_tokens}}}}) +
                          sse_event("message_stop", {{"type", "message_stop"}});
                 }});
}

void count_tokens(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const ordered_json messages = parse_count_tokens_request(req.body, ctx.request_defaults);
  send_json(res, {{"input_tokens", chat_prompt(ctx, messages).size()}});
}

}  // namespace

void add_anthropic_routes(httplib::Server& http, ServerContext& ctx) {
  http.Post("/v1/messages", json_endpoint(Dialect::Anthropic, [&ctx](const auto& req, auto& res) { messages(ctx, req, res); }));
  http.Post("/v1/messages/count_tokens",
            json_endpoint(Dialect::Anthropic, [&ctx](const auto& req, auto& res) { count_tokens(ctx, req, res); }));
}

}  // namespace vkllm::server
