// POST /tokenize, POST /detokenize, GET /health, GET /metrics.
#include <fmt/format.h>
#include <unistd.h>

#include <fstream>

#include "server/context.h"
#include "server/requests.h"

namespace vkllm::server {
namespace {

using json = nlohmann::json;

void tokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const TokenizeRequest r = parse_tokenize_request(req.body, ctx.request_defaults);
  std::vector<int32_t> ids = ctx.tokenizer.encode(r.prompt, r.add_special_tokens);
  send_json(res, {{"tokens", ids}, {"count", ids.size()}, {"max_model_len", ctx.context}});
}

void detokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const DetokenizeRequest r = parse_detokenize_request(req.body, ctx.request_defaults);
  send_json(res, {{"prompt", ctx.tokenizer.decode(r.tokens, r.skip_special_tokens)}});
}

// The process's resident set size (Linux /proc/self/statm), 0 when unknown.
uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

void add_utility_routes(httplib::Server& http, ServerContext& ctx) {
  http.Post("/tokenize", json_endpoint(Dialect::OpenAI, [&ctx](const auto& req, auto& res) { tokenize(ctx, req, res); }));
  http.Post("/detokenize", json_endpoint(Dialect::OpenAI, [&ctx](const auto& req, auto& res) { detokenize(ctx, req, res); }));
  http.Get("/health", json_endpoint(Dialect::OpenAI, [&ctx](const auto&, auto& res) {
    engine::SchedulerStats s = ctx.scheduler.stats();
    const engine::ModelOptions& o = ctx.model.options();
    send_json(res, {{"status", "ok"},
                    {"model", ctx.model_id},
                    {"device", ctx.device_name},
                    {"queue_depth", s.waiting},
                    {"running", s.running},
                    {"max_running", ctx.scheduler.max_running()},
                    {"context", ctx.context},
                    {"kv_cache", {{"blocks_used", s.kv_blocks_used},
                                  {"blocks_total", s.kv_blocks_total},
                                  {"block_size", o.block_size},
                                  {"usage", s.kv_blocks_total ? double(s.kv_blocks_used) / double(s.kv_blocks_total) : 0.0}}},
                    {"memory", {{"device_bytes", ctx.device_bytes}, {"host_rss_bytes", resident_bytes()}}}});
  }));
  http.Get("/metrics", [&ctx](const httplib::Request&, httplib::Response& res) {
    res.set_content(ctx.metrics.render(ctx.scheduler.stats()), "text/plain; version=0.0.4");
  });
}

}  // namespace vkllm::server
