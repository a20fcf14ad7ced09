// Reading a request body field by field. Every field an endpoint reads is marked; reject_unknown()
// then answers 400 naming the first field nobody read, so no parameter is silently ignored.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/sampling.h"
#include "server/api_error.h"

namespace vkllm::server {

// Parses a request body that must be a JSON object (400 otherwise).
nlohmann::json parse_body(const std::string& body);

class Fields {
 public:
  explicit Fields(const nlohmann::json& body) : body_(body) {}

  // The field, or nullptr when absent or null (clients send null for "not given").
  const nlohmann::json* get(const std::string& name);
  const nlohmann::json& required(const std::string& name);
  std::optional<int64_t> integer(const std::string& name, int64_t min, int64_t max);
  std::optional<double> number(const std::string& name, double min, double max);
  std::optional<bool> boolean(const std::string& name);
  std::optional<std::string> string(const std::string& name);
  // A field clients commonly send that changes nothing here (documented in server/README.md).
  void accept(const std::string& name) { used_.insert(name); }
  void reject_unknown() const;

 private:
  const nlohmann::json& body_;
  std::set<std::string> used_;
};

// Sampling fields mapped onto engine::SamplingParams, starting from `defaults` (the server's flags).
// OpenAI: temperature [0, 2], top_p [0, 1], top_k (>= -1; -1 and 0 mean off), min_p [0, 1], seed,
// presence_penalty and frequency_penalty [-2, 2], repetition_penalty (> 0), logit_bias (only {}).
// Anthropic: temperature [0, 1], top_p, top_k. Without a seed, a sampled request draws a random one.
engine::SamplingParams read_sampling(Fields& fields, Dialect dialect, const engine::SamplingParams& defaults);

// `stop` (OpenAI: a string or a list of up to 4) or `stop_sequences` (Anthropic: a list).
std::vector<std::string> read_stop_strings(Fields& fields, const std::string& name, size_t max_count);

}  // namespace vkllm::server
