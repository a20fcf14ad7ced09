// vkllm tokenize --model DIR: one JSON string per stdin line -> one JSON array of token ids per
// stdout line, as Hugging Face encode(text, add_special_tokens=False): special tokens written in
// the text are recognised, nothing is added. A line that cannot be read prints `null` (so output
// lines stay aligned with input lines) and an error naming the line on stderr; the exit status is
// 1 when any line failed.
#include <fmt/format.h>
#include <gflags/gflags.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/model_flags.h"
#include "frontends/tokenizer/tokenizer.h"

DEFINE_bool(add_special_tokens, false, "tokenize: also add the tokens the post-processor adds (BOS/EOS ...)");

namespace vkllm::cli {

int run_tokenize(const Args& args) {
  if (!args.empty()) throw std::invalid_argument(fmt::format("unexpected argument '{}'", args.front()));
  if (FLAGS_model.empty()) throw std::invalid_argument("--model DIR is required (a folder with tokenizer.json)");
  const frontends::Tokenizer tokenizer = load_tokenizer(FLAGS_model);
  std::ios::sync_with_stdio(false);
  std::string line, out;
  size_t line_number = 0;
  bool failed = false;
  while (std::getline(std::cin, line)) {
    ++line_number;
    try {
      const nlohmann::json text = nlohmann::json::parse(line);
      if (!text.is_string()) throw std::invalid_argument("expected a JSON string");
      const std::vector<int32_t> ids = tokenizer.encode(text.get_ref<const std::string&>(), FLAGS_add_special_tokens);
      out = fmt::format("[{}]\n", fmt::join(ids, ","));
    } catch (const std::exception& e) {
      fmt::print(stderr, "vkllm tokenize: line {}: {}\n", line_number, e.what());
      out = "null\n";
      failed = true;
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
  return failed ? 1 : 0;
}

}  // namespace vkllm::cli
