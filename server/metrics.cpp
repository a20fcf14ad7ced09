#include "server/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace vkllm::server {

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const size_t bucket = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, count_, name, sum_, name, count_);
}

Metrics::Metrics()
    : first_token_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      inter_token_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}) {}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
}

void Metrics::count_generation(const std::string& reason, int64_t prompt_tokens, int64_t generated_tokens) {
  std::lock_guard lock(mutex_);
  ++generations_[reason];
  prompt_tokens_ += prompt_tokens;
  generated_tokens_ += generated_tokens;
}

void Metrics::observe_first_token(double seconds) {
  std::lock_guard lock(mutex_);
  first_token_.observe(seconds);
}

void Metrics::observe_inter_token(double seconds) {
  std::lock_guard lock(mutex_);
  inter_token_.observe(seconds);
}

std::string Metrics::render(const engine::SchedulerStats& stats) const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto header = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  header("vkllm_requests_total", "counter", "HTTP requests by endpoint and status code.");
  for (const auto& [key, n] : requests_)
    out += fmt::format("vkllm_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
  header("vkllm_generations_total", "counter", "Finished generations by how they ended.");
  for (const char* reason : {"stop", "length", "stop_string", "cancelled", "failed"}) {
    auto it = generations_.find(reason);
    out += fmt::format("vkllm_generations_total{{reason=\"{}\"}} {}\n", reason, it == generations_.end() ? 0 : it->second);
  }
  header("vkllm_prompt_tokens_total", "counter", "Prompt tokens of finished generations.");
  out += fmt::format("vkllm_prompt_tokens_total {}\n", prompt_tokens_);
  header("vkllm_generated_tokens_total", "counter", "Generated tokens of finished generations.");
  out += fmt::format("vkllm_generated_tokens_total {}\n", generated_tokens_);
  header("vkllm_time_to_first_token_seconds", "histogram", "From a request's arrival to its first generated token.");
  first_token_.render(out, "vkllm_time_to_first_token_seconds");
  header("vkllm_inter_token_latency_seconds", "histogram", "Between consecutive tokens of one sequence.");
  inter_token_.render(out, "vkllm_inter_token_latency_seconds");
  header("vkllm_running_sequences", "gauge", "Sequences being prefilled or decoded.");
  out += fmt::format("vkllm_running_sequences {}\n", stats.running);
  header("vkllm_waiting_sequences", "gauge", "Requests queued for a slot.");
  out += fmt::format("vkllm_waiting_sequences {}\n", stats.waiting);
  header("vkllm_kv_blocks_used", "gauge", "KV cache blocks in use.");
  out += fmt::format("vkllm_kv_blocks_used {}\n", stats.kv_blocks_used);
  header("vkllm_kv_blocks_total", "gauge", "KV cache blocks in all.");
  out += fmt::format("vkllm_kv_blocks_total {}\n", stats.kv_blocks_total);
  header("vkllm_kv_cache_usage_ratio", "gauge", "Fraction of the KV cache in use (0 to 1).");
  out += fmt::format("vkllm_kv_cache_usage_ratio {}\n",
                     stats.kv_blocks_total ? static_cast<double>(stats.kv_blocks_used) / static_cast<double>(stats.kv_blocks_total) : 0.0);
  return out;
}

}  // namespace vkllm::server
