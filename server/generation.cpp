#include "server/generation.h"

#include <algorithm>

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
  auto stream = std::make_shared<GenerationStream>(tokenizer, std::move(request.stop_strings), request.metrics);
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
  std::string text = matcher_.push(decoder_.push(id));
  {
    std::lock_guard lock(mutex_);
    text_ += text;
  }
  changed_.notify_all();
  return !matcher_.matched();
}

void GenerationStream::on_end(const engine::RequestResult& result) {
  // Text the decoder held back may still complete a stop string.
  std::string text = matcher_.push(decoder_.finish());
  if (!matcher_.matched()) text += matcher_.flush();
  GenerationOutcome o;
  o.prompt_tokens = result.prompt_tokens;
  o.completion_tokens = result.generated_tokens;
  o.error = result.error;
  if (matcher_.matched()) {
    o.finish = Finish::StopString;
    o.stop_string = *matcher_.matched();
  } else {
    switch (result.end) {
      case engine::RequestEnd::Eos: o.finish = Finish::EndOfSequence; break;
      case engine::RequestEnd::Length: o.finish = Finish::Length; break;
      case engine::RequestEnd::Stopped: o.finish = Finish::StopString; break;
      case engine::RequestEnd::Cancelled: o.finish = Finish::Cancelled; break;
      case engine::RequestEnd::Failed: o.finish = Finish::Failed; break;
    }
  }
  if (metrics_) metrics_->count_generation(metrics_label(o.finish), o.prompt_tokens, o.completion_tokens);
  {
    std::lock_guard lock(mutex_);
    text_ += text;
    outcome_ = o;
    ended_ = true;
  }
  changed_.notify_all();
}

GenerationStream::Update GenerationStream::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return ended_ || !text_.empty(); });
  Update u;
  u.text.swap(text_);
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
  u.text.swap(text_);
  u.ended = true;
  u.outcome = outcome_;
  return u;
}

}  // namespace vkllm::server
