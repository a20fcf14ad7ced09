// Counters and histograms for GET /metrics (Prometheus text format 0.0.4): requests by endpoint and
// status, generations by how they ended, prompt and generated tokens, time to first token and
// inter-token latency; the scheduler's gauges (running, waiting, KV cache) are read at render time.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/scheduler.h"

namespace vkllm::server {

// Cumulative buckets with fixed upper bounds (seconds), plus the sum and count of observations.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  void render(std::string& out, const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); the last one is +Inf
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  void count_request(const std::string& endpoint, int status);
  // A generation ended: `reason` is "stop", "length", "stop_string", "cancelled" or "failed".
  void count_generation(const std::string& reason, int64_t prompt_tokens, int64_t generated_tokens);
  void observe_first_token(double seconds);  // from the request's arrival to its first token
  void observe_inter_token(double seconds);  // between two tokens of one sequence
  std::string render(const engine::SchedulerStats& stats) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::map<std::string, int64_t> generations_;
  int64_t prompt_tokens_ = 0, generated_tokens_ = 0;
  Histogram first_token_, inter_token_;
};

}  // namespace vkllm::server
