// PLACEHOLDER: replaced by the real implementation of 'vkllm opt' (work in progress).
#include <fmt/format.h>

#include "cli/commands.h"

namespace vkllm::cli {
int run_opt(const Args&) {
  fmt::print(stderr, "vkllm opt: not built yet\n");
  return 1;
}
}  // namespace vkllm::cli
