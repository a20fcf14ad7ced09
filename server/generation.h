// The bridge between an HTTP request and the scheduler: token ids become text (StreamingDecoder),
// stop strings end the generation without ever showing up in the text (StopMatcher), and the HTTP
// thread collects the text as it grows (GenerationStream).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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

// A tool call the model wrote: the function's name and its arguments as JSON text.
struct ToolCall {
  std::string name;
  std::string arguments;
};

// Finds tool calls in answer text that arrives in pieces, in the format of Qwen3 and Hermes
// templates: <tool_call>{"name": ..., "arguments": {...}}</tool_call> (keys in any order). push()
// returns the text outside calls that is safe to show (a tail that could start "<tool_call>" is held
// back) and appends each complete, well-formed call to `calls`; a call whose body is not such an
// object is shown as text.
class ToolCallParser {
 public:
  std::string push(std::string_view text, std::vector<ToolCall>& calls);
  std::string flush();  // once no more text comes: what was held back (an unfinished call as text)

 private:
  std::string held_;
  bool in_call_ = false;
};

// How a reply is split and bounded. Reasoning models think between <think> and </think> tokens
// (their ids come from the tokenizer); the split works on token ids, so it holds whether the tags
// are special tokens (dropped by decoding) or not.
struct ReplyOptions {
  std::optional<int32_t> think_start, think_end;  // both absent: the model does not reason
  bool starts_thinking = false;                   // the prompt ends inside <think> (the template opened it)
  int64_t max_answer_tokens = INT64_MAX;          // answer tokens (after thinking); then the reply ends
  int64_t max_thinking_tokens = INT64_MAX;        // thinking tokens, the tags included
  std::vector<std::string> stops;                 // stop strings, matched in the answer only
  bool parse_tool_calls = false;                  // the request offered tools
  bool single_tool_call = false;                  // parallel_tool_calls: false: the reply ends after one call
};

// Token ids in, reasoning and answer text out (worker thread only). Answer text goes through a
// StopMatcher; the leading newlines models put after </think> are dropped.
class ReplyAssembler {
 public:
  struct Piece {
    std::string reasoning, content;
    std::vector<ToolCall> tool_calls;
  };
  ReplyAssembler(const frontends::Tokenizer& tokenizer, ReplyOptions options);
  // Adds the token's text to `out`; false when the reply is over (a stop string or a budget).
  bool push(int32_t id, Piece& out);
  // The text still held back, once no more tokens come.
  void finish(Piece& out);

  int64_t reasoning_tokens() const { return reasoning_tokens_; }
  bool thinking_budget_exhausted() const { return thinking_exhausted_; }
  bool answer_budget_exhausted() const { return answer_exhausted_; }
  int64_t tool_calls() const { return tool_calls_; }
  const std::optional<std::string>& stop_matched() const { return matcher_.matched(); }

 private:
  enum class Phase { Start, Thinking, Answer };
  void answer_text(std::string text, Piece& out);

  frontends::Tokenizer tokenizer_;
  ReplyOptions options_;
  Phase phase_;
  void reasoning_text(std::string text, Piece& out);

  frontends::StreamingDecoder decoder_;
  StopMatcher matcher_;
  ToolCallParser tool_parser_;
  std::string reasoning_held_;  // thinking text that could start "<tool_call>"
  int64_t tool_calls_ = 0;
  bool answer_started_ = false;  // past the newlines after </think>
  int64_t reasoning_tokens_ = 0, answer_tokens_ = 0;
  bool thinking_exhausted_ = false, answer_exhausted_ = false;
};

enum class Finish { EndOfSequence, StopString, Length, Cancelled, Failed };
// The label of vkllm_generations_total: "stop", "stop_string", "length", "cancelled", "failed".
const char* metrics_label(Finish finish);

struct GenerationOutcome {
  Finish finish = Finish::Length;
  std::string stop_string;  // the stop string that matched (Finish::StopString)
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t reasoning_tokens = 0;            // of completion_tokens, spent thinking
  int64_t tool_calls = 0;                  // calls parsed from the reply
  bool thinking_budget_exhausted = false;  // Finish::Length because thinking used its whole budget
  std::string error;        // Finish::Failed
};

struct GenerationRequest {
  std::vector<int32_t> prompt;
  int64_t max_tokens = 16;
  std::vector<int64_t> stop_ids;  // set by start_generation: the model's end-of-sequence ids
  bool ignore_eos = false;         // leaves stop_ids empty
  ReplyOptions reply;             // stop strings, reasoning split, answer and thinking budgets
  engine::SamplingParams sampling;
  Metrics* metrics = nullptr;  // when set: time to first token, inter-token latency, the outcome
};

// Shared by the scheduler's worker (producer) and an HTTP thread (consumer).
class GenerationStream {
 public:
  struct Update {
    std::string reasoning;  // new thinking text since the previous wait()
    std::string text;       // new answer text since the previous wait()
    std::vector<ToolCall> tool_calls;  // calls completed since the previous wait()
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

  GenerationStream(const frontends::Tokenizer& tokenizer, ReplyOptions reply, Metrics* metrics)
      : assembler_(tokenizer, std::move(reply)), metrics_(metrics) {}

 private:
  bool on_token(int32_t id);
  void on_end(const engine::RequestResult& result);

  ReplyAssembler assembler_;  // worker only
  Metrics* metrics_;
  std::chrono::steady_clock::time_point last_event_ = std::chrono::steady_clock::now();  // worker only
  bool first_token_ = true;                                                              // worker only
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string reasoning_, text_;     // guarded: produced, not yet taken
  std::vector<ToolCall> tool_calls_;  // guarded
  bool ended_ = false;
  GenerationOutcome outcome_;
};

}  // namespace vkllm::server
