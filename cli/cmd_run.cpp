// vkllm run: complete a prompt, streaming the text as it is generated.
#include <fmt/format.h>
#include <gflags/gflags.h>

#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/model_flags.h"
#include "engine/generate.h"
#include "frontends/tokenizer/tokenizer.h"
#include "runtime/model_buffers.h"
#include "server/generation.h"

DEFINE_string(prompt, "", "the text to complete");

namespace vkllm::cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

int run_run(const Args& args) {
  if (args.size() != 1) throw std::runtime_error("expected one MODEL argument (see --help)");
  engine::GenerateOptions opts;
  opts.sampling = sampling_from_flags();
  opts.max_tokens = FLAGS_max_tokens;
  server::StopMatcher stops(parse_stop_strings(FLAGS_stop));
  const auto start = std::chrono::steady_clock::now();
  auto model = load_model(args[0]);
  const double open_seconds = seconds_since(start);
  frontends::Tokenizer tok = load_tokenizer(args[0]);
  std::vector<int32_t> prompt = tok.encode(FLAGS_prompt, true);
  opts.eos_ids = model->spec().eos_token_ids;
  frontends::StreamingDecoder stream(tok, true);
  // Text goes through the stop matcher, which holds back what could still become a stop string.
  double first_token_seconds = 0;
  engine::Generation g = engine::generate(*model, prompt, opts, [&](int32_t id) {
    if (first_token_seconds == 0) first_token_seconds = seconds_since(start);
    print(stops.push(stream.push(id)));
    return !stops.matched();
  });
  if (!stops.matched()) print(stops.push(stream.finish()) + stops.flush());
  print("\n");
  const char* why = g.finish == engine::FinishReason::Eos ? "end of sequence" : "max tokens";
  const std::string stopped = stops.matched() ? fmt::format("stop string \"{}\"", *stops.matched()) : why;
  const std::string seed = opts.sampling.greedy() || seed_given() ? "" : fmt::format(", seed {}", opts.sampling.seed);
  fmt::print(stderr, "[{} prompt tokens, {} generated, stopped by {}{}]\n", prompt.size(), g.tokens.size(), stopped, seed);
  // Where the load time goes (weights are uploaded when the first step builds its graph executor).
  const runtime::WeightUploads& up = model->buffers().weight_uploads();
  const double weight_seconds = up.source_seconds + up.upload_seconds;
  fmt::print(stderr,
             "[load: open {:.2f} s; weights {} in {:.2f} s ({:.2f} GB/s): read+verify {:.2f} s, "
             "staging+upload {:.2f} s, {} submissions; first token {:.2f} s after start]\n",
             open_seconds, runtime::format_bytes(up.bytes), weight_seconds, weight_seconds > 0 ? up.bytes / 1e9 / weight_seconds : 0.0,
             up.source_seconds, up.upload_seconds, up.submissions, first_token_seconds);
  return 0;
}

}  // namespace vkllm::cli
