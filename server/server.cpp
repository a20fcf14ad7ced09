#include "server/server.h"

#include <fmt/format.h>

#include <fstream>
#include <iterator>
#include <set>

#include "engine/artifact_source.h"
#include "engine/generate.h"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "server/context.h"

namespace vkllm::server {

struct Server::Impl {
  Impl(engine::Model& model, ServerOptions opts, frontends::Tokenizer tokenizer, std::optional<frontends::ChatTemplate> tmpl)
      : options(std::move(opts)),
        device_bytes(warm_up(model)),
        scheduler(std::make_unique<engine::Scheduler>(model, engine::SchedulerOptions{options.max_waiting})),
        ctx{model, *scheduler, std::move(tokenizer), std::move(tmpl)} {}
  // The worker ends (cancelling what runs, whose callbacks count into ctx.metrics) while ctx lives.
  ~Impl() { scheduler.reset(); }

  void check_api_key(const httplib::Request& req) const;
  void install_routes();

  // Runs a short generation through the prefill and the decode graphs, which compiles them and
  // allocates every device buffer; returns the device memory the model then holds.
  static uint64_t warm_up(engine::Model& model);

  ServerOptions options;
  uint64_t device_bytes;
  std::unique_ptr<engine::Scheduler> scheduler;
  ServerContext ctx;
  httplib::Server http;
  int port = 0;
};

namespace {

Dialect dialect_of(const std::string& path) {
  return path.starts_with("/v1/messages") ? Dialect::Anthropic : Dialect::OpenAI;
}

// Endpoint labels for metrics: known routes by path, everything else as "other".
const std::set<std::string>& known_endpoints() {
  static const std::set<std::string> paths = {"/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/messages",
                                              "/v1/messages/count_tokens", "/tokenize", "/detokenize", "/health", "/metrics", "/"};
  return paths;
}

// Compares in time independent of where the strings differ, so the key cannot be guessed byte by byte.
bool same_secret(const std::string& given, const std::string& key) {
  if (key.empty()) return given.empty();
  unsigned char diff = given.size() == key.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ key[i % key.size()]);
  return diff == 0;
}

}  // namespace

uint64_t Server::Impl::warm_up(engine::Model& model) {
  model.prepare_graphs(false);  // every batch size's decode graph, not only those the generation below runs
  // One row more than the decode graph takes (when a prefill chunk holds that many) reaches the prefill graph.
  const int64_t rows = std::min(model.options().max_decode_rows + 1, model.options().prefill_chunk);
  const std::vector<int32_t> prompt(static_cast<size_t>(std::min<int64_t>(rows, model.cache_layout().max_context() - 2)), 0);
  engine::GenerateOptions o;
  o.max_tokens = 2;
  engine::generate(model, prompt, o);
  uint64_t bytes = 0;
  for (auto kind : {runtime::MemoryKind::DeviceLocal, runtime::MemoryKind::HostUpload, runtime::MemoryKind::HostReadback})
    bytes += model.device().allocator().bytes_in_use(kind);
  return bytes;
}

// `Authorization: Bearer KEY` (OpenAI clients) or `x-api-key: KEY` (Anthropic clients).
void Server::Impl::check_api_key(const httplib::Request& req) const {
  if (options.api_key.empty()) return;
  const std::string bearer = req.get_header_value("Authorization");
  if (same_secret(bearer, "Bearer " + options.api_key) || same_secret(req.get_header_value("x-api-key"), options.api_key))
    return;
  throw ApiError(401, "authentication_error",
                 bearer.empty() && !req.has_header("x-api-key") ? "an API key is required (Authorization: Bearer KEY or x-api-key)"
                                                                : "the API key is not valid",
                 "", "invalid_api_key");
}

void Server::Impl::install_routes() {
  http.set_payload_max_length(options.max_body_bytes);
  const int threads = options.http_threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // The health check and the chat page (static, no data) need no key; the page's own requests do.
    if (req.path == "/health" || req.path == "/") return httplib::Server::HandlerResponse::Unhandled;
    try {
      check_api_key(req);
    } catch (const ApiError& e) {
      send_error(res, e, dialect_of(req.path));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors httplib answers itself (unknown route, body over the limit, unreadable request) get a JSON body too.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = res.status == 404   ? fmt::format("no route for {} {}", req.method, req.path)
                          : res.status == 413 ? "the request body is over the size limit"
                                              : fmt::format("HTTP {}", res.status);
    send_error(res, ApiError(res.status, res.status == 404 ? "not_found_error" : "invalid_request_error", message),
               dialect_of(req.path));
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    ctx.metrics.count_request(known_endpoints().count(req.path) ? req.path : "other", res.status);
  });
  add_openai_routes(http, ctx);
  add_anthropic_routes(http, ctx);
  add_utility_routes(http, ctx);
  add_chat_page(http);
}

Server::Server(engine::Model& model, const std::filesystem::path& model_dir, ServerOptions options) {
  // A model folder, GGUF file or .vkm artifact (engine/artifact_source.h).
  frontends::Tokenizer tokenizer = engine::load_model_tokenizer(model_dir);
  std::optional<frontends::ChatTemplate> tmpl;
  if (!tokenizer.chat_template().empty() || std::filesystem::exists(model_dir / "chat_template.json"))
    tmpl = engine::load_model_chat_template(model_dir);
  impl_ = std::make_unique<Impl>(model, std::move(options), std::move(tokenizer), std::move(tmpl));
  ServerContext& ctx = impl_->ctx;
  const std::string folder = std::filesystem::absolute(model_dir).lexically_normal().filename().string();
  ctx.model_id = !impl_->options.model_id.empty() ? impl_->options.model_id
                 : !folder.empty()                 ? folder
                                                   : std::filesystem::absolute(model_dir).parent_path().filename().string();
  ctx.device_name = model.device().info().name;
  ctx.context = model.cache_layout().max_context();
  ctx.eos_ids = model.spec().eos_token_ids;
  if (auto eos = ctx.tokenizer.eos_token_id()) ctx.eos_ids.push_back(*eos);
  ctx.created = unix_time();
  ctx.request_defaults = {ctx.model_id, impl_->options.default_sampling, model.spec().vocab_size};
  ctx.max_thinking_tokens = impl_->options.max_thinking_tokens;
  // A reasoning model: <think> and </think> are tokens and the chat template writes them.
  std::string template_source = ctx.tokenizer.chat_template();
  if (std::ifstream json_template(model_dir / "chat_template.json"); json_template)
    template_source.append(std::istreambuf_iterator<char>(json_template), std::istreambuf_iterator<char>());
  const std::optional<int32_t> think_start = ctx.tokenizer.token_to_id("<think>"), think_end = ctx.tokenizer.token_to_id("</think>");
  ctx.template_takes_tools = ctx.chat_template && template_source.find("tools") != std::string::npos;
  if (ctx.chat_template && think_start && think_end && template_source.find("</think>") != std::string::npos) {
    ctx.think_start = think_start;
    ctx.think_end = think_end;
  }
  ctx.device_bytes = impl_->device_bytes;
  impl_->install_routes();
  const ServerOptions& o = impl_->options;
  impl_->port = o.port == 0 ? impl_->http.bind_to_any_port(o.host) : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (impl_->port < 0) throw std::runtime_error(fmt::format("cannot listen on {}:{} (in use, or not a local address?)", o.host, o.port));
}

Server::~Server() = default;

int Server::port() const { return impl_->port; }

void Server::run() {
  if (!impl_->http.listen_after_bind()) throw std::runtime_error("the HTTP server stopped with an error");
}

void Server::stop() { impl_->http.stop(); }

}  // namespace vkllm::server
