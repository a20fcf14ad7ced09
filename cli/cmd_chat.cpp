// vkllm chat: an interactive conversation in the terminal, using the model's own chat template.
#include <fmt/format.h>
#include <gflags/gflags.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_flags.h"
#include "engine/generate.h"
#include "frontends/chat_template/chat_template.h"
#include "frontends/tokenizer/tokenizer.h"
#include "server/generation.h"

DEFINE_string(system, "", "system message that starts the conversation");

namespace vkllm::cli {

int run_chat(const Args& args) {
  if (args.size() != 1) throw std::runtime_error("expected one MODEL argument (see --help)");
  const engine::SamplingParams sampling = sampling_from_flags();
  const std::vector<std::string> stop_strings = parse_stop_strings(FLAGS_stop);
  auto model = load_model(args[0]);
  frontends::Tokenizer tok = load_tokenizer(args[0]);
  frontends::ChatTemplate tmpl = load_chat_template(args[0]);
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!FLAGS_system.empty()) messages.push_back({{"role", "system"}, {"content", FLAGS_system}});
  const bool interactive = isatty(fileno(stdin));
  std::vector<int64_t> stop_ids = model->spec().eos_token_ids;
  if (auto eos = tok.eos_token_id()) stop_ids.push_back(*eos);
  if (interactive && !sampling.greedy() && !seed_given()) fmt::print(stderr, "[seed {}]\n", sampling.seed);
  for (uint64_t turn = 0;; ++turn) {
    std::string line;
    if (interactive) fmt::print("> "), std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    messages.push_back({{"role", "user"}, {"content", line}});
    std::string prompt_text = tmpl.render({{"messages", messages}, {"add_generation_prompt", true}});
    std::vector<int32_t> prompt = tok.encode(prompt_text, false);
    engine::GenerateOptions opts;
    opts.max_tokens = FLAGS_max_tokens;
    opts.eos_ids = stop_ids;
    opts.sampling = sampling;
    opts.sampling.seed = engine::draw_key(sampling.seed, turn);  // each reply its own noise, still repeatable
    frontends::StreamingDecoder stream(tok, true);
    server::StopMatcher stops(stop_strings);
    std::string reply;
    auto show = [&](const std::string& piece) {
      reply += piece;
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    };
    engine::generate(*model, prompt, opts, [&](int32_t id) {
      show(stops.push(stream.push(id)));
      return !stops.matched();
    });
    if (!stops.matched()) show(stops.push(stream.finish()) + stops.flush());
    fmt::print("\n");
    messages.push_back({{"role", "assistant"}, {"content", reply}});
  }
  return 0;
}

}  // namespace vkllm::cli
