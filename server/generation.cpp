#include "server/generation.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace vkllm::server {

std::string StopMatcher::push(std::string_view text) {
  if (matched_) return {};
  held_ += text;
  size_t first = std::string::npos;
  for (const std::string& s : stops_) {
    const size_t at = held_.find(s);
    if (at < first) first = at, matched_ = s;
  }
  if (first != std::string::npos) {
    std::string before = held_.substr(0, first);
    held_.clear();
    return before;
  }
  // The longest tail of the text that is a proper prefix of some stop string stays held back.
  size_t keep = 0;
  for (const std::string& s : stops_)
    for (size_t n = std::min(s.size() - 1, held_.size()); n > keep; --n)
      if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
        keep = n;
        break;
      }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

namespace {

constexpr std::string_view kToolCallOpen = "<tool_call>", kToolCallClose = "</tool_call>";

// How many bytes at the end of `text` could be the start of `tag` (a proper prefix of it).
size_t partial_tag(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(tag.size() - 1, text.size()); n > 0; --n)
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  return 0;
}

// {"name": string, "arguments": object or JSON-object string}, in any key order.
std::optional<ToolCall> parse_tool_call(std::string_view body) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return std::nullopt;
  ToolCall call{j["name"].get<std::string>(), "{}"};
  const auto args = j.find("arguments") != j.end() ? j.find("arguments") : j.find("parameters");
  if (args != j.end()) {
    if (args->is_object()) {
      call.arguments = args->dump();
    } else if (args->is_string() && nlohmann::json::parse(args->get<std::string>(), nullptr, false).is_object()) {
      call.arguments = args->get<std::string>();
    } else {
      return std::nullopt;
    }
  }
  return call;
}

}  // namespace

std::string ToolCallParser::push(std::string_view text, std::vector<ToolCall>& calls) {
  held_ += text;
  std::string out;
  while (true) {
    if (!in_call_) {
      const size_t open = held_.find(kToolCallOpen);
      if (open == std::string::npos) {
        const size_t keep = partial_tag(held_, kToolCallOpen);
        out += held_.substr(0, held_.size() - keep);
        held_.erase(0, held_.size() - keep);
        return out;
      }
      out += held_.substr(0, open);
      held_.erase(0, open + kToolCallOpen.size());
      in_call_ = true;
    }
    const size_t close = held_.find(kToolCallClose);
    if (close == std::string::npos) return out;
    const std::string body = held_.substr(0, close);
    held_.erase(0, close + kToolCallClose.size());
    in_call_ = false;
    if (std::optional<ToolCall> call = parse_tool_call(body)) {
      calls.push_back(std::move(*call));
    } else {
      out += std::string(kToolCallOpen) + body + std::string(kToolCallClose);
    }
  }
}

std::string ToolCallParser::flush() {
  std::string out = in_call_ ? std::string(kToolCallOpen) + held_ : held_;
  held_.clear();
  in_call_ = false;
  return out;
}

ReplyAssembler::ReplyAssembler(const frontends::Tokenizer& tokenizer, ReplyOptions options)
    : tokenizer_(tokenizer),
      options_(std::move(options)),
      phase_(!options_.think_end ? Phase::Answer : options_.starts_thinking ? Phase::Thinking : Phase::Start),
      decoder_(tokenizer_, true),
      matcher_(options_.stops),
      answer_started_(phase_ == Phase::Answer) {}

void ReplyAssembler::answer_text(std::string text, Piece& out) {
  if (!answer_started_) {
    const size_t first = text.find_first_not_of("\r\n");
    if (first == std::string::npos) return;
    text.erase(0, first);
    answer_started_ = true;
  }
  if (options_.parse_tool_calls) {
    const size_t had = out.tool_calls.size();
    text = tool_parser_.push(text, out.tool_calls);
    tool_calls_ += static_cast<int64_t>(out.tool_calls.size() - had);
  }
  out.content += matcher_.push(text);
}

// Thinking text, unless the model starts a tool call in it (without closing its thinking, as Qwen3
// sometimes does): from "<tool_call>" on, the text is the answer's.
void ReplyAssembler::reasoning_text(std::string text, Piece& out) {
  if (!options_.parse_tool_calls) {
    out.reasoning += text;
    return;
  }
  reasoning_held_ += text;
  const size_t open = reasoning_held_.find(kToolCallOpen);
  if (open == std::string::npos) {
    const size_t keep = partial_tag(reasoning_held_, kToolCallOpen);
    out.reasoning += reasoning_held_.substr(0, reasoning_held_.size() - keep);
    reasoning_held_.erase(0, reasoning_held_.size() - keep);
    return;
  }
  out.reasoning += reasoning_held_.substr(0, open);
  std::string rest = reasoning_held_.substr(open);
  reasoning_held_.clear();
  phase_ = Phase::Answer;
  answer_started_ = true;
  answer_text(std::move(rest), out);
}

bool ReplyAssembler::push(int32_t id, Piece& out) {
  if (phase_ == Phase::Start) phase_ = id == options_.think_start ? Phase::Thinking : Phase::Answer;
  if (phase_ == Phase::Thinking) {
    ++reasoning_tokens_;
    if (id == options_.think_end) {
      // The thinking text so far is complete; the answer starts a fresh decode.
      reasoning_text(decoder_.finish(), out);
      out.reasoning += std::exchange(reasoning_held_, {});
      decoder_ = frontends::StreamingDecoder(tokenizer_, true);
      phase_ = Phase::Answer;
    } else if (id != options_.think_start) {
      reasoning_text(decoder_.push(id), out);
    }
    if (phase_ == Phase::Thinking && reasoning_tokens_ >= options_.max_thinking_tokens) {
      thinking_exhausted_ = true;
      return false;
    }
    return true;
  }
  ++answer_tokens_;
  answer_text(decoder_.push(id), out);
  if (matcher_.matched()) return false;
  if (options_.single_tool_call && tool_calls_ > 0) return false;
  if (answer_tokens_ >= options_.max_answer_tokens) {
    answer_exhausted_ = true;
    return false;
  }
  return true;
}

void ReplyAssembler::finish(Piece& out) {
  if (phase_ == Phase::Thinking) {
    reasoning_text(decoder_.finish(), out);
    if (phase_ == Phase::Thinking) {
      out.reasoning += std::exchange(reasoning_held_, {});
      return;
    }
  }
  // Text the decoder held back may still complete a tool call or a stop string.
  answer_text(decoder_.finish(), out);
  if (options_.parse_tool_calls && !matcher_.matched()) out.content += matcher_.push(tool_parser_.flush());
  if (!matcher_.matched()) out.content += matcher_.flush();
}

const char* metrics_label(Finish finish) {
  switch (finish) {
    case Finish::EndOfSequence: return "stop";
    case Finish::StopString: return "stop_string";
    case Finish::Length: return "length";
    case Finish::Cancelled: return "cancelled";
    case Finish::Failed: return "failed";
  }
  return "failed";
}

std::shared_ptr<GenerationStream> GenerationStream::start(engine::Scheduler& scheduler, const frontends::Tokenizer& tokenizer,
                                                          GenerationRequest request) {
  auto stream = std::make_shared<GenerationStream>(tokenizer, std::move(request.reply), request.metrics);
  engine::Request r;
  r.prompt = std::move(request.prompt);
  r.max_tokens = request.max_tokens;
  r.stop_ids = std::move(request.stop_ids);
  r.sampling = request.sampling;
  r.cancel = stream->cancel_;
  r.on_token = [stream](int32_t id) { return stream->on_token(id); };
  r.on_end = [stream](const engine::RequestResult& result) { stream->on_end(result); };
  scheduler.submit(std::move(r));
  return stream;
}

bool GenerationStream::on_token(int32_t id) {
  if (metrics_) {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - last_event_).count();
    first_token_ ? metrics_->observe_first_token(seconds) : metrics_->observe_inter_token(seconds);
    first_token_ = false;
    last_event_ = now;
  }
  ReplyAssembler::Piece piece;
  const bool go_on = assembler_.push(id, piece);
  {
    std::lock_guard lock(mutex_);
    reasoning_ += piece.reasoning;
    text_ += piece.content;
    for (ToolCall& c : piece.tool_calls) tool_calls_.push_back(std::move(c));
  }
  changed_.notify_all();
  return go_on;
}

void GenerationStream::on_end(const engine::RequestResult& result) {
  ReplyAssembler::Piece piece;
  assembler_.finish(piece);
  GenerationOutcome o;
  o.prompt_tokens = result.prompt_tokens;
  o.completion_tokens = result.generated_tokens;
  o.reasoning_tokens = assembler_.reasoning_tokens();
  o.tool_calls = assembler_.tool_calls();
  o.error = result.error;
  if (assembler_.stop_matched()) {
    o.finish = Finish::StopString;
    o.stop_string = *assembler_.stop_matched();
  } else if (result.end == engine::RequestEnd::Stopped && !assembler_.thinking_budget_exhausted() &&
             !assembler_.answer_budget_exhausted()) {  // the one tool call parallel_tool_calls: false allows
    o.finish = Finish::EndOfSequence;
  } else if (result.end == engine::RequestEnd::Stopped) {  // a budget of the assembler ran out
    o.finish = Finish::Length;
    o.thinking_budget_exhausted = assembler_.thinking_budget_exhausted();
  } else {
    switch (result.end) {
      case engine::RequestEnd::Eos: o.finish = Finish::EndOfSequence; break;
      case engine::RequestEnd::Length: o.finish = Finish::Length; break;
      case engine::RequestEnd::Stopped: o.finish = Finish::Length; break;
      case engine::RequestEnd::Cancelled: o.finish = Finish::Cancelled; break;
      case engine::RequestEnd::Failed: o.finish = Finish::Failed; break;
    }
  }
  if (metrics_) metrics_->count_generation(metrics_label(o.finish), o.prompt_tokens, o.completion_tokens);
  {
    std::lock_guard lock(mutex_);
    reasoning_ += piece.reasoning;
    text_ += piece.content;
    for (ToolCall& c : piece.tool_calls) tool_calls_.push_back(std::move(c));
    outcome_ = o;
    ended_ = true;
  }
  changed_.notify_all();
}

GenerationStream::Update GenerationStream::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return ended_ || !text_.empty() || !reasoning_.empty() || !tool_calls_.empty(); });
  Update u;
  u.reasoning.swap(reasoning_);
  u.text.swap(text_);
  u.tool_calls.swap(tool_calls_);
  u.ended = ended_;
  if (ended_) u.outcome = outcome_;
  return u;
}

bool GenerationStream::wait_end(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return ended_; });
}

GenerationStream::Update GenerationStream::wait_all() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return ended_; });
  Update u;
  u.reasoning.swap(reasoning_);
  u.text.swap(text_);
  u.tool_calls.swap(tool_calls_);
  u.ended = true;
  u.outcome = outcome_;
  return u;
}

}  // namespace vkllm::server
