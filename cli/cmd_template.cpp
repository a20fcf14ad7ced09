// vkllm template --model DIR: reads one JSON request from stdin and prints the model's chat
// template rendered for it, exactly (no newline added).
#include <fmt/format.h>
#include <gflags/gflags.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/model_flags.h"
#include "frontends/chat_template/chat_template.h"

DEFINE_int64(now, -1,
             "the time strftime_now() reports, in seconds since the Unix epoch (shown in local time, TZ applies); "
             "default: the current time");

namespace vkllm::cli {

int run_template(const Args& args) {
  if (!args.empty()) throw std::runtime_error(fmt::format("unexpected argument '{}' (the request is read from stdin)", args[0]));
  if (FLAGS_model.empty()) throw std::runtime_error("--model DIR is required");
  const auto chat_template = load_chat_template(FLAGS_model);

  const std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  nlohmann::ordered_json request;
  try {
    request = nlohmann::ordered_json::parse(input);
  } catch (const nlohmann::ordered_json::parse_error& e) {
    throw std::runtime_error(fmt::format("stdin: the request is not one JSON object: {}", e.what()));
  }

  frontends::jinja::RenderOptions options;
  if (FLAGS_now >= 0) {
    const auto fixed = std::chrono::system_clock::time_point(std::chrono::seconds(FLAGS_now));
    options.now = [fixed] { return fixed; };
  }
  const std::string prompt = chat_template.render(request, options);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace vkllm::cli
