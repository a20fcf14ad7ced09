#include "server/params.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>

namespace vkllm::server {
namespace {

const char* json_type(const nlohmann::json& v) {
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

ApiError wrong_type(const std::string& name, const nlohmann::json& v, const char* want) {
  return bad_request(name, fmt::format("'{}' must be {}, got {}", name, want, json_type(v)), "invalid_type");
}

}  // namespace

nlohmann::json parse_body(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) throw bad_request("", "the request body is not valid JSON", "invalid_json");
  if (!j.is_object()) throw bad_request("", fmt::format("the request body must be a JSON object, got {}", json_type(j)));
  return j;
}

const nlohmann::json* Fields::get(const std::string& name) {
  used_.insert(name);
  auto it = body_.find(name);
  return it == body_.end() || it->is_null() ? nullptr : &*it;
}

const nlohmann::json& Fields::required(const std::string& name) {
  const nlohmann::json* v = get(name);
  if (!v) throw bad_request(name, fmt::format("'{}' is required", name), "missing_required_parameter");
  return *v;
}

std::optional<int64_t> Fields::integer(const std::string& name, int64_t min, int64_t max) {
  const nlohmann::json* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer() && !v->is_number_unsigned()) throw wrong_type(name, *v, "an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    throw bad_request(name, fmt::format("'{}' is too large", name));
  const int64_t x = v->get<int64_t>();
  if (x < min || x > max) throw bad_request(name, fmt::format("'{}' is {}; it must be in [{}, {}]", name, x, min, max));
  return x;
}

std::optional<double> Fields::number(const std::string& name, double min, double max) {
  const nlohmann::json* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw wrong_type(name, *v, "a number");
  const double x = v->get<double>();
  if (!(x >= min && x <= max)) throw bad_request(name, fmt::format("'{}' is {}; it must be in [{}, {}]", name, x, min, max));
  return x;
}

std::optional<bool> Fields::boolean(const std::string& name) {
  const nlohmann::json* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw wrong_type(name, *v, "a boolean");
  return v->get<bool>();
}

std::optional<std::string> Fields::string(const std::string& name) {
  const nlohmann::json* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw wrong_type(name, *v, "a string");
  return v->get<std::string>();
}

void Fields::reject_unknown() const {
  for (auto it = body_.begin(); it != body_.end(); ++it)
    if (!used_.count(it.key()))
      throw bad_request(it.key(), fmt::format("unknown or unsupported parameter '{}'", it.key()), "unsupported_parameter");
}

engine::SamplingParams read_sampling(Fields& f, Dialect dialect, const engine::SamplingParams& defaults) {
  engine::SamplingParams s = defaults;
  const double max_temperature = dialect == Dialect::OpenAI ? 2.0 : 1.0;
  if (auto t = f.number("temperature", 0.0, max_temperature)) s.temperature = *t;
  if (auto p = f.number("top_p", 0.0, 1.0)) s.top_p = *p;
  if (auto k = f.integer("top_k", -1, INT32_MAX)) s.top_k = std::max<int64_t>(*k, 0);  // vLLM spells "off" -1
  std::optional<int64_t> seed;
  if (dialect == Dialect::OpenAI) {
    if (auto m = f.number("min_p", 0.0, 1.0)) s.min_p = *m;
    if (auto x = f.number("presence_penalty", -2.0, 2.0)) s.presence_penalty = *x;
    if (auto x = f.number("frequency_penalty", -2.0, 2.0)) s.frequency_penalty = *x;
    if (auto r = f.number("repetition_penalty", 0.0, 100.0)) {
      if (*r == 0.0) throw bad_request("repetition_penalty", "'repetition_penalty' must be greater than 0 (1 is off)");
      s.repetition_penalty = *r;
    }
    seed = f.integer("seed", INT64_MIN, INT64_MAX);
    if (const nlohmann::json* bias = f.get("logit_bias")) {
      if (!bias->is_object()) throw wrong_type("logit_bias", *bias, "an object");
      if (!bias->empty())
        throw bad_request("logit_bias", "'logit_bias' is not supported (only an empty object is accepted)", "unsupported_parameter");
    }
  }
  if (seed) {
    s.seed = static_cast<uint64_t>(*seed);
  } else if (!s.greedy()) {
    thread_local std::mt19937_64 rng(std::random_device{}());
    s.seed = rng();
  }
  return s;
}

std::vector<std::string> read_stop_strings(Fields& f, const std::string& name, size_t max_count) {
  const nlohmann::json* v = f.get(name);
  std::vector<std::string> stops;
  if (!v) return stops;
  if (v->is_string()) {
    stops.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    for (const nlohmann::json& s : *v) {
      if (!s.is_string()) throw wrong_type(name + "[]", s, "a string");
      stops.push_back(s.get<std::string>());
    }
  } else {
    throw wrong_type(name, *v, "a string or an array of strings");
  }
  if (stops.size() > max_count) throw bad_request(name, fmt::format("'{}' has {} entries; at most {} are allowed", name, stops.size(), max_count));
  for (const std::string& s : stops)
    if (s.empty()) throw bad_request(name, fmt::format("'{}' contains an empty string", name));
  return stops;
}

}  // namespace vkllm::server
