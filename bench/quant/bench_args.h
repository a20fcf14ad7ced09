// Command-line helpers of the bench/quant tools (quant_kl, quant_load): `--name value` flags and
// comma-separated lists.
#pragma once
#include <string>
#include <vector>

namespace vkllm::bench {

// The value after `--name`, or `fallback` when the flag is absent.
inline std::string flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == "--" + name) return argv[i + 1];
  return fallback;
}

// The non-empty items of a comma-separated list.
inline std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    const std::string part = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace vkllm::bench
