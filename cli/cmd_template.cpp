// PLACEHOLDER: replaced by the real implementation of 'vkllm template' (work in progress).
#include <fmt/format.h>

#include "cli/commands.h"

namespace vkllm::cli {
int run_template(const Args&) {
  fmt::print(stderr, "vkllm template: not built yet\n");
  return 1;
}
}  // namespace vkllm::cli
