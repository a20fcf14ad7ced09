// PLACEHOLDER: replaced by the real implementation of 'vkllm doctor' (work in progress).
#include <fmt/format.h>

#include "cli/commands.h"

namespace vkllm::cli {
int run_doctor(const Args&) {
  fmt::print(stderr, "vkllm doctor: not built yet\n");
  return 1;
}
}  // namespace vkllm::cli
