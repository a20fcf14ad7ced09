#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "frontends/chat_template/jinja.h"
#include "server/context.h"

namespace vkllm::server {

Handler json_endpoint(Dialect dialect, Handler handler) {
  return [dialect, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    try {
      handler(req, res);
    } catch (const ApiError& e) {
      send_error(res, e, dialect);
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, "server_error", fmt::format("internal error: {}", e.what())), dialect);
    }
  };
}

void send_json(httplib::Response& res, const nlohmann::json& body, int status) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e, Dialect dialect) {
  if (e.status == 503) res.set_header("Retry-After", "1");
  send_json(res, error_body(e, dialect), e.status);
}

std::vector<int32_t> chat_prompt(ServerContext& ctx, const nlohmann::ordered_json& messages, const ThinkingParams& thinking,
                                 const nlohmann::ordered_json& tools) {
  if (!ctx.chat_template)
    throw bad_request("messages", "this model has no chat template; use /v1/completions with a plain prompt");
  nlohmann::ordered_json request = thinking.template_kwargs;
  request["messages"] = messages;
  if (!tools.is_null()) {
    if (!ctx.template_takes_tools)
      throw bad_request("tools", "this model's chat template does not take tools", "unsupported_parameter");
    request["tools"] = tools;
  }
  request["add_generation_prompt"] = true;
  if (thinking.enable_thinking) request["enable_thinking"] = *thinking.enable_thinking;
  std::string text;
  try {
    text = ctx.chat_template->render(request);
  } catch (const frontends::jinja::TemplateError& e) {
    throw bad_request("messages", fmt::format("the chat template rejected the messages: {}", e.what()));
  }
  return ctx.tokenizer.encode(text, false);
}

int64_t generation_budget(const ServerContext& ctx, int64_t prompt_tokens, std::optional<int64_t> requested,
                          const std::string& param, int64_t default_cap) {
  if (prompt_tokens == 0) throw bad_request("", "the prompt is empty");
  if (prompt_tokens >= ctx.context)
    throw bad_request("", fmt::format("the prompt has {} tokens and the context holds {}: it is {} tokens too long (one "
                                      "position must stay free to generate)", prompt_tokens, ctx.context,
                                      prompt_tokens - ctx.context + 1),
                      "context_length_exceeded");
  const int64_t room = ctx.context - prompt_tokens;
  if (!requested) return std::min(room, default_cap);
  if (*requested > room)
    throw bad_request(param, fmt::format("the prompt has {} tokens and '{}' is {}: together they exceed the context of {} "
                                         "by {}", prompt_tokens, param, *requested, ctx.context, *requested - room),
                      "context_length_exceeded");
  return *requested;
}

void plan_chat_reply(const ServerContext& ctx, GenerationRequest& g, std::optional<int64_t> answer, const std::string& param,
                     const ThinkingParams& thinking) {
  const int64_t prompt_tokens = static_cast<int64_t>(g.prompt.size());
  const int64_t answer_budget = generation_budget(ctx, prompt_tokens, answer, param, INT64_MAX);
  g.max_tokens = answer_budget;
  if (!ctx.think_end) {
    if (!thinking.field.empty())
      throw bad_request(thinking.field, fmt::format("'{}': this model does not think (its chat template writes no <think> block)",
                                                    thinking.field), "unsupported_parameter");
    return;
  }
  const int64_t room = ctx.context - prompt_tokens;
  const int64_t thinking_budget = thinking.max_thinking_tokens.value_or(ctx.max_thinking_tokens > 0 ? ctx.max_thinking_tokens : room);
  g.max_tokens = std::min(room, answer_budget + std::min(thinking_budget, room));
  g.reply.think_start = ctx.think_start;
  g.reply.think_end = ctx.think_end;
  g.reply.max_answer_tokens = answer_budget;
  g.reply.max_thinking_tokens = thinking_budget;
  // A template that opens <think> itself (thinking on by default) leaves the prompt inside it.
  const auto last_start = std::find(g.prompt.rbegin(), g.prompt.rend(), *ctx.think_start);
  const auto last_end = std::find(g.prompt.rbegin(), g.prompt.rend(), *ctx.think_end);
  g.reply.starts_thinking = last_start != g.prompt.rend() && last_start < last_end;
}

std::shared_ptr<GenerationStream> start_generation(ServerContext& ctx, GenerationRequest request) {
  if (!request.ignore_eos) request.stop_ids = ctx.eos_ids;
  request.metrics = &ctx.metrics;
  try {
    return GenerationStream::start(ctx.scheduler, ctx.tokenizer, std::move(request));
  } catch (const engine::QueueFull& e) {
    throw ApiError(503, "server_busy", fmt::format("the server is busy: {}", e.what()));
  } catch (const engine::ContextOverflow& e) {
    throw bad_request("", e.what(), "context_length_exceeded");
  } catch (const std::invalid_argument& e) {
    throw bad_request("", e.what());
  }
}

void respond_when_done(httplib::Response& res, std::shared_ptr<GenerationStream> stream, Dialect dialect,
                       std::function<nlohmann::json(const GenerationStream::Update&)> render) {
  if (stream->wait_end(std::chrono::seconds(1))) {
    send_json(res, render(stream->wait_all()));
    return;
  }
  // "; charset=utf-8" keeps httplib from gzipping the body, which would hold the probing spaces back.
  res.set_chunked_content_provider(
      "application/json; charset=utf-8",
      [stream, dialect, render = std::move(render)](size_t, httplib::DataSink& sink) {
        if (!stream->wait_end(std::chrono::milliseconds(200))) return sink.write(" ", 1);
        std::string body;
        try {
          body = render(stream->wait_all()).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        } catch (const ApiError& e) {
          body = error_body(e, dialect).dump();
        }
        if (!sink.write(body.data(), body.size())) return false;
        sink.done();
        return true;
      },
      [stream](bool success) {
        if (!success) stream->cancel();
      });
}

void stream_events(httplib::Response& res, std::shared_ptr<GenerationStream> stream, SseEvents events) {
  struct State {
    std::shared_ptr<GenerationStream> stream;
    SseEvents events;
    bool started = false;
  };
  auto state = std::make_shared<State>(State{std::move(stream), std::move(events)});
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [state](size_t, httplib::DataSink& sink) {
        auto send = [&](const std::string& s) { return s.empty() || sink.write(s.data(), s.size()); };
        if (!state->started) {
          state->started = true;
          const std::string begin = state->events.begin();
          return send(begin.empty() ? std::string(": start\n\n") : begin);
        }
        GenerationStream::Update u = state->stream->wait(std::chrono::milliseconds(200));
        const bool got_text = !u.reasoning.empty() || !u.text.empty() || !u.tool_calls.empty();
        if (got_text && !send(state->events.delta(u))) return false;
        if (u.ended) {
          if (!send(state->events.end(u.outcome))) return false;
          sink.done();
        } else if (!got_text) {
          // An SSE comment: clients ignore it, and writing it is what reveals a closed connection.
          return send(": waiting\n\n");
        }
        return true;
      },
      // Not a success: the client went away or a write failed; the sequence must not keep its slot.
      [state](bool success) {
        if (!success) state->stream->cancel();
      });
}

std::string sse_data(const nlohmann::json& data) {
  return "data: " + data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

std::string sse_event(const std::string& event, const nlohmann::json& data) {
  return "event: " + event + "\n" + sse_data(data);
}

std::string random_id(const std::string& prefix) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{}{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

int64_t unix_time() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace vkllm::server
