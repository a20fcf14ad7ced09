// POST /v1/messages and POST /v1/messages/count_tokens (Anthropic Messages API shapes).
#include <fmt/format.h>

#include "server/context.h"
#include "server/requests.h"

namespace vkllm::server {
namespace {

using json = nlohmann::json;

const char* stop_reason(const GenerationOutcome& o) {
  switch (o.finish) {
    case Finish::StopString: return "stop_sequence";
    case Finish::Length: return "max_tokens";
    default: return o.tool_calls > 0 ? "tool_use" : "end_turn";
  }
}

json tool_use_block(const ToolCall& call) {
  return {{"type", "tool_use"}, {"id", random_id("toolu_")}, {"name", call.name}, {"input", json::parse(call.arguments)}};
}

json stop_sequence(const GenerationOutcome& o) {
  return o.finish == Finish::StopString ? json(o.stop_string) : json(nullptr);
}

// The content blocks of a streamed message, opened as text arrives: a thinking block (reasoning
// models), then a text block. Models that cannot reason open their text block at once.
struct BlockStream {
  int index = -1;
  std::string open;  // "thinking", "text" or "" (none open)

  std::string close() {
    if (open.empty()) return {};
    open.clear();
    return sse_event("content_block_stop", {{"type", "content_block_stop"}, {"index", index}});
  }
  std::string start(const std::string& type) {
    std::string out = close();
    open = type;
    json block = type == "thinking" ? json{{"type", "thinking"}, {"thinking", ""}, {"signature", ""}} : json{{"type", "text"}, {"text", ""}};
    return out + sse_event("content_block_start", {{"type", "content_block_start"}, {"index", ++index}, {"content_block", block}});
  }
  // A whole tool_use block: its start (input {}), the input as one input_json_delta, its stop.
  std::string tool_use(const ToolCall& call) {
    json block = tool_use_block(call);
    const std::string input = block["input"].dump();
    block["input"] = json::object();
    std::string out = close();
    out += sse_event("content_block_start", {{"type", "content_block_start"}, {"index", ++index}, {"content_block", block}});
    out += sse_event("content_block_delta", {{"type", "content_block_delta"}, {"index", index},
                                             {"delta", {{"type", "input_json_delta"}, {"partial_json", input}}}});
    return out + sse_event("content_block_stop", {{"type", "content_block_stop"}, {"index", index}});
  }
  std::string add(const std::string& type, const std::string& text) {
    std::string out = open == type ? std::string() : start(type);
    json delta = type == "thinking" ? json{{"type", "thinking_delta"}, {"thinking", text}} : json{{"type", "text_delta"}, {"text", text}};
    return out + sse_event("content_block_delta", {{"type", "content_block_delta"}, {"index", index}, {"delta", delta}});
  }
};

void messages(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const MessagesRequest p = parse_messages_request(req.body, ctx.request_defaults);
  GenerationRequest g;
  g.prompt = chat_prompt(ctx, p.messages, p.thinking, p.tools);
  const int64_t input_tokens = static_cast<int64_t>(g.prompt.size());
  plan_chat_reply(ctx, g, p.max_tokens, "max_tokens", p.thinking);
  const bool may_think = g.reply.think_end.has_value();
  g.reply.stops = p.stop;
  g.reply.parse_tool_calls = !p.tools.is_null();
  g.sampling = p.sampling;
  auto gen = start_generation(ctx, std::move(g));
  const std::string id = random_id("msg_");
  const std::string model = ctx.model_id;
  auto usage = [](const GenerationOutcome& o) {
    json u = {{"output_tokens", o.completion_tokens}};
    if (o.thinking_budget_exhausted) u["thinking_budget_exhausted"] = true;
    return u;
  };
  if (!p.stream) {
    respond_when_done(res, gen, Dialect::Anthropic, [=](const GenerationStream::Update& u) {
      if (u.outcome.finish == Finish::Failed) throw ApiError(500, "api_error", u.outcome.error);
      if (u.outcome.finish == Finish::Cancelled) throw ApiError(503, "overloaded_error", "the server is shutting down");
      json content = json::array();
      if (u.outcome.reasoning_tokens) content.push_back({{"type", "thinking"}, {"thinking", u.reasoning}, {"signature", ""}});
      if (!u.text.empty() || (!u.outcome.reasoning_tokens && u.tool_calls.empty())) content.push_back({{"type", "text"}, {"text", u.text}});
      for (const ToolCall& call : u.tool_calls) content.push_back(tool_use_block(call));
      json out = {{"id", id}, {"type", "message"}, {"role", "assistant"}, {"model", model}, {"content", std::move(content)},
                  {"stop_reason", stop_reason(u.outcome)}, {"stop_sequence", stop_sequence(u.outcome)},
                  {"usage", {{"input_tokens", u.outcome.prompt_tokens}, {"output_tokens", u.outcome.completion_tokens}}}};
      if (u.outcome.thinking_budget_exhausted) out["thinking_budget_exhausted"] = true;
      return out;
    });
    return;
  }
  auto blocks = std::make_shared<BlockStream>();
  stream_events(res, gen,
                {[=] {
                   json message = {{"id", id}, {"type", "message"}, {"role", "assistant"}, {"model", model},
                                   {"content", json::array()}, {"stop_reason", nullptr}, {"stop_sequence", nullptr},
                                   {"usage", {{"input_tokens", input_tokens}, {"output_tokens", 0}}}};
                   return sse_event("message_start", {{"type", "message_start"}, {"message", message}}) +
                          (may_think ? std::string() : blocks->start("text"));
                 },
                 [=](const GenerationStream::Update& u) {
                   std::string out;
                   if (!u.reasoning.empty()) out += blocks->add("thinking", u.reasoning);
                   if (!u.text.empty()) out += blocks->add("text", u.text);
                   for (const ToolCall& call : u.tool_calls) out += blocks->tool_use(call);
                   return out;
                 },
                 [=](const GenerationOutcome& o) {
                   if (o.finish == Finish::Failed || o.finish == Finish::Cancelled)
                     return sse_event("error", anthropic_error_body(ApiError(500, "api_error", o.finish == Finish::Failed ? o.error : "cancelled")));
                   std::string out = blocks->index < 0 ? blocks->start("text") : std::string();
                   json delta = {{"stop_reason", stop_reason(o)}, {"stop_sequence", stop_sequence(o)}};
                   return out + blocks->close() +
                          sse_event("message_delta", {{"type", "message_delta"}, {"delta", delta}, {"usage", usage(o)}}) +
                          sse_event("message_stop", {{"type", "message_stop"}});
                 }});
}

void count_tokens(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const CountTokensRequest r = parse_count_tokens_request(req.body, ctx.request_defaults);
  send_json(res, {{"input_tokens", chat_prompt(ctx, r.messages, r.thinking, r.tools).size()}});
}

}  // namespace

void add_anthropic_routes(httplib::Server& http, ServerContext& ctx) {
  http.Post("/v1/messages", json_endpoint(Dialect::Anthropic, [&ctx](const auto& req, auto& res) { messages(ctx, req, res); }));
  http.Post("/v1/messages/count_tokens",
            json_endpoint(Dialect::Anthropic, [&ctx](const auto& req, auto& res) { count_tokens(ctx, req, res); }));
}

}  // namespace vkllm::server
