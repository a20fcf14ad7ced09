// Continuous batching over one Model: a worker thread owns the model; requests are queued and run
// together. Each iteration admits waiting requests, runs one prefill chunk of the request being
// admitted, then one decode step over every running sequence at once (one row each, each row naming
// its sequence's block-table row), so prefills never starve decoding. Tokens are the same as running
// each request alone with engine::generate, sampled ones included (a draw depends only on the
// request's seed and the token's index, never on the batch).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/model.h"
#include "engine/sampling.h"

namespace vkllm::engine {

enum class RequestEnd {
  Eos,        // an end-of-sequence token (not delivered)
  Length,     // max_tokens generated
  Stopped,    // on_token returned false (e.g. a stop string matched)
  Cancelled,  // the cancel flag was set, or the scheduler shut down
  Failed,     // the device step threw; `error` says why
};

struct RequestResult {
  RequestEnd end = RequestEnd::Length;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  std::string error;
};

struct Request {
  std::vector<int32_t> prompt;
  int64_t max_tokens = 16;
  std::vector<int64_t> stop_ids;                     // end the generation (not delivered)
  SamplingParams sampling;                           // how tokens are chosen (default: greedy)
  std::function<bool(int32_t)> on_token;             // each new token; false stops (worker thread)
  std::function<void(const RequestResult&)> on_end;  // exactly once, last (worker thread)
  std::shared_ptr<std::atomic<bool>> cancel;         // may be null; set it to cancel from any thread
};

// submit() throws this when the waiting queue is at its limit (servers answer 503 + Retry-After).
struct QueueFull : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct SchedulerOptions {
  int64_t max_waiting = 64;  // queued requests beyond the running ones
};

struct SchedulerStats {
  int64_t running = 0;  // sequences holding a slot (prefilling or decoding)
  int64_t waiting = 0;  // queued, not admitted yet
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_total = 0;
};

class Scheduler {
 public:
  // The model belongs to the scheduler's worker until the scheduler is destroyed.
  Scheduler(Model& model, SchedulerOptions options = {});
  ~Scheduler();  // cancels what is still queued or running (on_end with Cancelled) and joins
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Validates and queues a request. Throws std::invalid_argument for an empty prompt,
  // max_tokens < 1 or sampling parameters out of range (engine::check_sampling), ContextOverflow when prompt + max_tokens exceed the model's context, QueueFull.
  void submit(Request request);
  SchedulerStats stats() const;
  // Sequences one decode step runs at most (min of the model's decode rows and block-table rows).
  int64_t max_running() const { return max_running_; }

 private:
  struct Sequence;
  void work();
  bool fits(const Sequence& s) const;
  void prefill_chunk();
  void decode_step();
  bool deliver(Sequence& s, int32_t token);  // false when the sequence ended
  void finish(Sequence& s, RequestEnd end, std::string error = {});
  void drop_ended();

  Model& model_;
  SchedulerOptions options_;
  int64_t max_running_;
  int64_t reserved_blocks_ = 0;  // blocks running sequences may still take (worker only)
  std::vector<std::unique_ptr<Sequence>> running_;  // worker only
  // A step's buffers, reserved once by the worker and reused so steps allocate nothing (worker only).
  std::vector<Sequence*> active_;
  std::vector<StepRow> step_rows_;
  std::vector<const SequenceCache*> step_sequences_;
  std::vector<int32_t> step_wanted_, step_slots_;
  std::vector<RowSampling> row_sampling_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Sequence>> waiting_;  // guarded by mutex_
  bool stopping_ = false;                          // guarded by mutex_
  std::atomic<int64_t> stat_running_{0}, stat_blocks_used_{0};
  std::thread worker_;
};

}  // namespace vkllm::engine
