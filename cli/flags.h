// Flags shared by several subcommands (defined once in flags.cpp).
#pragma once
#include <gflags/gflags_declare.h>

#include <string>
#include <vector>

DECLARE_string(model);   // model folder / artifact / GGUF file, for commands that take it as a flag
DECLARE_string(device);  // Vulkan device: index or name substring; VKLLM_DEVICE when empty
DECLARE_bool(json);      // machine-readable output
DECLARE_string(o);       // output path (folder or file, per command)

namespace vkllm::cli {
// The non-empty items of a comma-separated flag value ("a,,b" -> {"a", "b"}).
std::vector<std::string> split_list(const std::string& list);
}  // namespace vkllm::cli
