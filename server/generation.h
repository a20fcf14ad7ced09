// The bridge between an HTTP request and the scheduler: token ids become text (StreamingDecoder),
// stop strings end the generation without ever showing up in the text (StopMatcher), and the HTTP
// thread collects the text as it grows (GenerationStream).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampling.h"
#include "engine/scheduler.h"
#include "frontends/tokenizer/tokenizer.h"
#include "server/metrics.h"

namespace vkllm::server {

// Finds stop strings in text that arrives in pieces. push() returns the text that is safe to show:
// everything before a match, and otherwise everything except a tail that could still become the
// start of a stop string (held back until the next piece or flush()).
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  std::string push(std::string_view text);
  std::string flush();  // the held-back tail, once no more text comes
  const std::optional<std::string>& matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  std::optional<std::string> matched_;
};

enum class Finish { EndOfSequence, StopString, Length, Cancelled, Failed };
// The label of vkllm_generations_total: "stop", "stop_string", "length", "cancelled", "failed".
const char* metrics_label(Finish finish);

struct GenerationOutcome {
  Finish finish = Finish::Length;
  std::string stop_string;  // the stop string that matched (Finish::StopString)
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string error;        // Finish::Failed
};

struct GenerationRequest {
  std::vector<int32_t> prompt;
  int64_t max_tokens = 16;
  std::vector<int64_t> stop_ids;  // set by start_generation: the model's end-of-sequence ids
  bool ignore_eos = false;         // leaves stop_ids empty
  std::vector<std::string> stop_strings;
  engine::SamplingParams sampling;
  Metrics* metrics = nullptr;  // when set: time to first token, inter-token latency, the outcome
};

// Shared by the scheduler's worker (producer) and an HTTP thread (consumer).
class GenerationStream {
 public:
  struct Update {
    std::string text;  // new text since the previous wait()
    bool ended = false;
    GenerationOutcome outcome;  // when ended
  };
  // Queues the request (throws what engine::Scheduler::submit throws).
  static std::shared_ptr<GenerationStream> start(engine::Scheduler& scheduler, const frontends::Tokenizer& tokenizer,
                                                 GenerationRequest request);
  // Waits up to `timeout` for new text or the end.
  Update wait(std::chrono::milliseconds timeout);
  // Waits for the end; all the text and the outcome.
  Update wait_all();
  // Whether the generation ended within `timeout` (its text stays for wait() / wait_all()).
  bool wait_end(std::chrono::milliseconds timeout);
  // Ends the sequence early (a client went away); its KV blocks are freed at the next iteration.
  void cancel() { cancel_->store(true); }

  GenerationStream(const frontends::Tokenizer& tokenizer, std::vector<std::string> stops, Metrics* metrics)
      : decoder_(tokenizer, true), matcher_(std::move(stops)), metrics_(metrics) {}

 private:
  bool on_token(int32_t id);
  void on_end(const engine::RequestResult& result);

  frontends::StreamingDecoder decoder_;  // worker only
  StopMatcher matcher_;                  // worker only
  Metrics* metrics_;
  std::chrono::steady_clock::time_point last_event_ = std::chrono::steady_clock::now();  // worker only
  bool first_token_ = true;                                                              // worker only
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string text_;  // guarded: produced, not yet taken
  bool ended_ = false;
  GenerationOutcome outcome_;
};

}  // namespace vkllm::server
