// PLACEHOLDER: replaced by the real implementation of 'vkllm tokenize' (work in progress).
#include <fmt/format.h>

#include "cli/commands.h"

namespace vkllm::cli {
int run_tokenize(const Args&) {
  fmt::print(stderr, "vkllm tokenize: not built yet\n");
  return 1;
}
}  // namespace vkllm::cli
