// vkllm serve: the OpenAI/Anthropic-compatible HTTP server (server/README.md).
#include <fmt/format.h>
#include <gflags/gflags.h>
#include <pthread.h>
#include <signal.h>

#include <thread>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/model_flags.h"
#include "engine/generate.h"
#include "runtime/device.h"
#include "server/server.h"

DEFINE_string(host, "127.0.0.1", "address to listen on (loopback by default; 0.0.0.0 exposes the server)");
DEFINE_int32(port, 8080, "TCP port (0: any free port, printed at start)");
DEFINE_string(api_key, "", "require this key (Authorization: Bearer KEY or x-api-key: KEY); empty: no key");
DEFINE_int64(max_batch, 4, "sequences decoded together in one step (continuous batching width)");
DEFINE_string(alias, "", "model name clients use (default: the model folder's name)");
DEFINE_int64(max_queue, 64, "requests waiting for a slot before the server answers 503");
DEFINE_int64(kv_cache_tokens, 0,
             "KV cache capacity in positions, shared by all sequences (0: ctx x max_batch); requests that do not fit "
             "wait for running ones to finish");
DEFINE_int64(max_body_mb, 8, "largest request body in MiB (larger ones get 413)");
DEFINE_int64(max_thinking_tokens, 0,
             "reasoning models: tokens thinking may take when a request does not say (0: what the context leaves)");

namespace vkllm::cli {

int run_serve(const Args& args) {
  if (args.size() != 1) throw std::runtime_error("expected one MODEL argument (see --help)");
  if (FLAGS_max_batch < 1) throw std::runtime_error("--max_batch must be at least 1");
  if (FLAGS_max_queue < 0) throw std::runtime_error("--max_queue must not be negative");
  if (FLAGS_kv_cache_tokens < 0) throw std::runtime_error("--kv_cache_tokens must not be negative");
  if (FLAGS_max_body_mb < 1) throw std::runtime_error("--max_body_mb must be at least 1");
  if (FLAGS_max_thinking_tokens < 0) throw std::runtime_error("--max_thinking_tokens must not be negative");
  if (!gflags::GetCommandLineFlagInfoOrDie("seed").is_default)
    throw std::runtime_error("--seed does not apply to serve: requests pass their own 'seed'");
  // SIGINT/SIGTERM are taken by one thread (sigwait) that stops the server; every thread started
  // after this inherits the blocked mask. SIGPIPE from a vanished client must not end the process.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  engine::ModelOptions o;
  o.device = FLAGS_device;
  o.max_context = FLAGS_ctx;
  o.max_sequences = FLAGS_max_batch;
  o.max_decode_rows = FLAGS_max_batch;
  o.cache_tokens = FLAGS_kv_cache_tokens;
  o.sampling_history = FLAGS_repeat_last_n;
  apply_graph_variant_flags(o);
  auto model = engine::Model::load(args[0], o);
  server::ServerOptions so;
  so.host = FLAGS_host;
  so.port = FLAGS_port;
  so.api_key = FLAGS_api_key;
  so.model_id = FLAGS_alias;
  so.max_waiting = FLAGS_max_queue;
  so.max_body_bytes = static_cast<size_t>(FLAGS_max_body_mb) << 20;
  so.max_thinking_tokens = FLAGS_max_thinking_tokens;
  // The sampling flags (shared with run and chat) are the defaults of requests that leave a field out.
  so.default_sampling.temperature = FLAGS_temperature;
  so.default_sampling.top_k = FLAGS_top_k;
  so.default_sampling.top_p = FLAGS_top_p;
  so.default_sampling.min_p = FLAGS_min_p;
  so.default_sampling.repetition_penalty = FLAGS_repeat_penalty;
  so.default_sampling.presence_penalty = FLAGS_presence_penalty;
  so.default_sampling.frequency_penalty = FLAGS_frequency_penalty;
  engine::check_sampling(so.default_sampling);
  server::Server server(*model, args[0], so);
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop();
  });
  fmt::print(stderr, "vkllm serve: {} on {} listening on http://{}:{}\n", args[0], model->device().info().name, FLAGS_host,
             server.port());
  std::exception_ptr failure;
  try {
    server.run();
  } catch (...) {
    failure = std::current_exception();
  }
  pthread_kill(stopper.native_handle(), SIGTERM);  // wakes the sigwait if run() ended on its own
  stopper.join();
  if (failure) std::rethrow_exception(failure);
  return 0;
}

}  // namespace vkllm::cli
