// vkllm detokenize --model DIR: one JSON array of token ids per stdin line -> one JSON string per
// stdout line, as transformers' decode(ids, skip_special_tokens=False) (the tokenizer's decoder,
// then clean_up_tokenization_spaces when tokenizer_config.json sets it). Ids outside the
// vocabulary are skipped, as Hugging Face does. A line that cannot be read prints `null` and an
// error naming the line on stderr; the exit status is 1 when any line failed.
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

DEFINE_bool(skip_special_tokens, false, "detokenize: leave special tokens out of the text");

namespace vkllm::cli {
namespace {
std::vector<int32_t> parse_ids(const std::string& line) {
  const nlohmann::json j = nlohmann::json::parse(line);
  if (!j.is_array()) throw std::invalid_argument("expected a JSON array of token ids");
  std::vector<int32_t> ids;
  ids.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    const nlohmann::json& v = j[i];
    const bool in_range = (v.is_number_unsigned() && v.get<uint64_t>() <= INT32_MAX) ||
                          (v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= INT32_MAX);
    if (!in_range) throw std::invalid_argument(fmt::format("element {} is not a token id (an integer >= 0)", i));
    ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return ids;
}
}  // namespace

int run_detokenize(const Args& args) {
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
      const std::string text = tokenizer.decode(parse_ids(line), FLAGS_skip_special_tokens);
      out = nlohmann::json(text).dump() + "\n";
    } catch (const std::exception& e) {
      fmt::print(stderr, "vkllm detokenize: line {}: {}\n", line_number, e.what());
      out = "null\n";
      failed = true;
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
  return failed ? 1 : 0;
}

}  // namespace vkllm::cli
