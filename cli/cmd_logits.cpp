// vkllm logits: float32 logits of a token sequence, for parity checks against other implementations.
#include <fmt/format.h>
#include <gflags/gflags.h>

#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/model_flags.h"
#include "engine/generate.h"

DEFINE_string(tokens, "", "comma-separated token ids");
DEFINE_string(out, "", "output file: raw little-endian float32, row-major [positions, vocab]");
DEFINE_bool(all_positions, false, "write the logits of every position, not only the last");

namespace vkllm::cli {

int run_logits(const Args& args) {
  if (args.size() != 1) throw std::runtime_error("expected one MODEL argument (see --help)");
  if (FLAGS_tokens.empty() || FLAGS_out.empty()) throw std::runtime_error("--tokens and --out are required");
  std::vector<int32_t> ids;
  std::stringstream ss(FLAGS_tokens);
  for (std::string item; std::getline(ss, item, ',');) {
    size_t used = 0;
    long long v = std::stoll(item, &used);
    if (used != item.size() || v < 0 || v > INT32_MAX) throw std::runtime_error(fmt::format("--tokens: '{}' is not a token id", item));
    ids.push_back(static_cast<int32_t>(v));
  }
  auto model = load_model(args[0]);
  ir::HostTensor logits = engine::prompt_logits(*model, ids, FLAGS_all_positions);
  std::ofstream out(FLAGS_out, std::ios::binary);
  out.write(reinterpret_cast<const char*>(logits.data()), logits.size_bytes());
  if (!out) throw std::runtime_error(fmt::format("cannot write {}", FLAGS_out));
  fmt::print("wrote float32 logits of shape [{}, {}] to {}\n", logits.shape[0], logits.shape[1], FLAGS_out);
  return 0;
}

}  // namespace vkllm::cli
