#include "cli/flags.h"

#include <gflags/gflags.h>

#include <algorithm>

DEFINE_string(model, "", "model folder (tokenizer.json, tokenizer_config.json, ...), artifact or GGUF file");
DEFINE_string(device, "", "Vulkan device to use: an index from 'vkllm doctor' or a name substring "
                          "(default: $VKLLM_DEVICE, else the first discrete GPU, else integrated, else CPU)");
DEFINE_bool(json, false, "print machine-readable JSON");
DEFINE_string(o, "", "output path (a folder for synth, a file for compile)");

namespace vkllm::cli {
std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    if (end > start) items.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return items;
}
}  // namespace vkllm::cli
