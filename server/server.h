// `vkllm serve`: an OpenAI- and Anthropic-compatible HTTP server over one model (see README.md).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/model.h"
#include "engine/sampling.h"

namespace vkllm::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0: any free port (see Server::port())
  std::string api_key;                   // empty: no authentication
  std::string model_id;                  // the name clients use; empty: the model folder's name
  size_t max_body_bytes = size_t{8} << 20;
  int64_t max_waiting = 64;              // queued requests before 503
  int http_threads = 64;                 // connections served at once (streams hold one each)
  engine::SamplingParams default_sampling;  // for requests that leave a sampling field out
  int64_t max_thinking_tokens = 0;       // reasoning models: default thinking budget (0: the context)
};

class Server {
 public:
  // Loads the tokenizer and chat template from `model_dir`, runs the model once (so the first request
  // does not pay for compiling its graphs), starts the scheduler on `model`, binds.
  Server(engine::Model& model, const std::filesystem::path& model_dir, ServerOptions options);
  ~Server();
  int port() const;
  // Serves until stop() (from another thread or a signal handler's thread).
  void run();
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkllm::server
