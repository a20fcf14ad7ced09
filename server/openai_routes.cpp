// POST /v1/chat/completions, POST /v1/completions, GET /v1/models (OpenAI API shapes).
#include <fmt/format.h>

#include "server/context.h"
#include "server/requests.h"

namespace vkllm::server {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

const char* finish_reason(const GenerationOutcome& o) {
  if (o.finish == Finish::Length) return "length";
  return o.tool_calls > 0 ? "tool_calls" : "stop";
}

// OpenAI's tool_calls entries; `first_index` numbers them across a stream's chunks.
json tool_calls_json(const std::vector<ToolCall>& calls, size_t first_index, bool with_index) {
  json out = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    json c = {{"id", random_id("call_")}, {"type", "function"}, {"function", {{"name", calls[i].name}, {"arguments", calls[i].arguments}}}};
    if (with_index) c["index"] = first_index + i;
    out.push_back(std::move(c));
  }
  return out;
}

json usage_of(const GenerationOutcome& o) {
  json u = {{"prompt_tokens", o.prompt_tokens},
            {"completion_tokens", o.completion_tokens},
            {"total_tokens", o.prompt_tokens + o.completion_tokens}};
  if (o.reasoning_tokens) u["completion_tokens_details"] = {{"reasoning_tokens", o.reasoning_tokens}};
  return u;
}

// The choice's finish fields; a reply whose thinking used its whole budget says so.
void add_finish(json& choice, const GenerationOutcome& o) {
  choice["finish_reason"] = finish_reason(o);
  if (o.thinking_budget_exhausted) choice["thinking_budget_exhausted"] = true;
}

// A failed or cancelled generation (the scheduler shut down) is a server error.
void require_finished(const GenerationOutcome& o) {
  if (o.finish == Finish::Failed) throw ApiError(500, "server_error", o.error);
  if (o.finish == Finish::Cancelled) throw ApiError(503, "server_busy", "the server is shutting down");
}

// The streaming chunk envelope shared by both endpoints.
json chunk(const std::string& id, const char* object, int64_t created, const std::string& model, json choice, bool usage_field) {
  json c = {{"id", id}, {"object", object}, {"created", created}, {"model", model}, {"choices", json::array({std::move(choice)})}};
  if (usage_field) c["usage"] = nullptr;
  return c;
}

void chat_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const ChatRequest p = parse_chat_request(req.body, ctx.request_defaults);
  GenerationRequest g;
  g.prompt = chat_prompt(ctx, p.messages, p.thinking, p.tools);
  plan_chat_reply(ctx, g, p.max_tokens, p.max_tokens_param, p.thinking);
  g.reply.stops = p.stop;
  g.reply.parse_tool_calls = !p.tools.is_null();
  g.reply.single_tool_call = !p.parallel_tool_calls;
  g.ignore_eos = p.ignore_eos;
  g.sampling = p.sampling;
  auto stream = start_generation(ctx, std::move(g));
  const std::string id = random_id("chatcmpl-");
  const int64_t created = unix_time();
  const std::string model = ctx.model_id;
  if (!p.stream) {
    respond_when_done(res, stream, Dialect::OpenAI, [=](const GenerationStream::Update& u) {
      require_finished(u.outcome);
      json message = {{"role", "assistant"}, {"content", u.text}, {"refusal", nullptr}};
      if (u.outcome.reasoning_tokens) message["reasoning_content"] = u.reasoning;
      if (!u.tool_calls.empty()) {
        message["tool_calls"] = tool_calls_json(u.tool_calls, 0, false);
        if (u.text.empty()) message["content"] = nullptr;
      }
      json c = {{"index", 0}, {"message", std::move(message)}, {"logprobs", nullptr}};
      add_finish(c, u.outcome);
      return json{{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", model},
                  {"choices", json::array({std::move(c)})}, {"usage", usage_of(u.outcome)}};
    });
    return;
  }
  const bool usage = p.include_usage;
  auto choice = [](json delta, json finish) {
    return json{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", std::move(finish)}};
  };
  stream_events(res, stream,
                {[=] { return sse_data(chunk(id, "chat.completion.chunk", created, model,
                                             choice({{"role", "assistant"}, {"content", ""}}, nullptr), usage)); },
                 [=, calls_sent = std::make_shared<size_t>(0)](const GenerationStream::Update& u) {
                   std::string out;
                   auto send = [&](json delta) {
                     out += sse_data(chunk(id, "chat.completion.chunk", created, model, choice(std::move(delta), nullptr), usage));
                   };
                   if (!u.reasoning.empty()) send({{"reasoning_content", u.reasoning}});
                   if (!u.text.empty()) send({{"content", u.text}});
                   if (!u.tool_calls.empty()) {
                     send({{"tool_calls", tool_calls_json(u.tool_calls, *calls_sent, true)}});
                     *calls_sent += u.tool_calls.size();
                   }
                   return out;
                 },
                 [=](const GenerationOutcome& o) {
                   if (o.finish == Finish::Failed || o.finish == Finish::Cancelled)
                     return sse_data(openai_error_body(ApiError(500, "server_error", o.finish == Finish::Failed ? o.error : "cancelled")));
                   json last = choice(json::object(), nullptr);
                   add_finish(last, o);
                   std::string out = sse_data(chunk(id, "chat.completion.chunk", created, model, std::move(last), usage));
                   if (usage)
                     out += sse_data({{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                                      {"choices", json::array()}, {"usage", usage_of(o)}});
                   return out + "data: [DONE]\n\n";
                 }});
}

void completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const CompletionRequest p = parse_completion_request(req.body, ctx.request_defaults);
  GenerationRequest g;
  g.prompt = p.text ? ctx.tokenizer.encode(*p.text, true) : p.tokens;
  g.max_tokens = generation_budget(ctx, static_cast<int64_t>(g.prompt.size()), p.max_tokens, "max_tokens", 16);  // OpenAI's default
  g.reply.stops = p.stop;
  g.ignore_eos = p.ignore_eos;
  g.sampling = p.sampling;
  auto stream = start_generation(ctx, std::move(g));
  const std::string id = random_id("cmpl-");
  const int64_t created = unix_time();
  const std::string model = ctx.model_id;
  auto choice = [](const std::string& text, json finish) {
    return json{{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", std::move(finish)}};
  };
  if (!p.stream) {
    respond_when_done(res, stream, Dialect::OpenAI, [=](const GenerationStream::Update& u) {
      require_finished(u.outcome);
      json out = chunk(id, "text_completion", created, model, choice(u.text, finish_reason(u.outcome)), false);
      out["usage"] = usage_of(u.outcome);
      return out;
    });
    return;
  }
  const bool usage = p.include_usage;
  stream_events(res, stream,
                {[] { return std::string(); },
                 [=](const GenerationStream::Update& u) {  // completions have no reasoning or tool calls
                   return sse_data(chunk(id, "text_completion", created, model, choice(u.text, nullptr), usage));
                 },
                 [=](const GenerationOutcome& o) {
                   if (o.finish == Finish::Failed || o.finish == Finish::Cancelled)
                     return sse_data(openai_error_body(ApiError(500, "server_error", o.finish == Finish::Failed ? o.error : "cancelled")));
                   std::string out = sse_data(chunk(id, "text_completion", created, model, choice("", finish_reason(o)), usage));
                   if (usage)
                     out += sse_data({{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model},
                                      {"choices", json::array()}, {"usage", usage_of(o)}});
                   return out + "data: [DONE]\n\n";
                 }});
}

}  // namespace

void add_openai_routes(httplib::Server& http, ServerContext& ctx) {
  http.Post("/v1/chat/completions", json_endpoint(Dialect::OpenAI, [&ctx](const auto& req, auto& res) { chat_completions(ctx, req, res); }));
  http.Post("/v1/completions", json_endpoint(Dialect::OpenAI, [&ctx](const auto& req, auto& res) { completions(ctx, req, res); }));
  auto model_entry = [&ctx] { return json{{"id", ctx.model_id}, {"object", "model"}, {"created", ctx.created}, {"owned_by", "vkllm"}}; };
  http.Get("/v1/models", json_endpoint(Dialect::OpenAI, [model_entry](const auto&, auto& res) {
    send_json(res, {{"object", "list"}, {"data", json::array({model_entry()})}});
  }));
  http.Get(R"(/v1/models/(.+))", json_endpoint(Dialect::OpenAI, [&ctx, model_entry](const httplib::Request& req, auto& res) {
    if (req.matches[1] != ctx.model_id)
      throw ApiError(404, "invalid_request_error", fmt::format("the model '{}' does not exist", req.matches[1].str()), "model", "model_not_found");
    send_json(res, model_entry());
  }));
}

}  // namespace vkllm::server
