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

DEFINE_string(system, "", "system message that starts the conversation");

namespace vkllm::cli {

int run_chat(const Args& args) {
  if (args.size() != 1) throw std::runtime_error("expected one MODEL argument (see --help)");
  require_greedy();
  auto model = load_model(args[0]);
  frontends::Tokenizer tok = frontends::Tokenizer::load(args[0]);
  frontends::ChatTemplate tmpl = frontends::ChatTemplate::from_model_dir(args[0]);
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!FLAGS_system.empty()) messages.push_back({{"role", "system"}, {"content", FLAGS_system}});
  const bool interactive = isatty(fileno(stdin));
  std::vector<int64_t> stop_ids = model->spec().eos_token_ids;
  if (auto eos = tok.eos_token_id()) stop_ids.push_back(*eos);
  for (std::string line;;) {
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
    frontends::StreamingDecoder stream(tok, true);
    std::string reply;
    engine::generate(*model, prompt, opts, [&](int32_t id) {
      std::string piece = stream.push(id);
      reply += piece;
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::string rest = stream.finish();
    reply += rest;
    fmt::print("{}\n", rest);
    messages.push_back({{"role", "assistant"}, {"content", reply}});
  }
  return 0;
}

}  // namespace vkllm::cli
