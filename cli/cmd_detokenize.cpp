// PLACEHOLDER: replaced by the real implementation of 'vkllm detokenize' (work in progress).
#include <fmt/format.h>

#include "cli/commands.h"

namespace vkllm::cli {
int run_detokenize(const Args&) {
  fmt::print(stderr, "vkllm detokenize: not built yet\n");
  return 1;
}
}  // namespace vkllm::cli
