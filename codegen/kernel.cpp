#include "codegen/kernel.h"

#include <stdexcept>

namespace vkllm::codegen {

int64_t GridDim::groups(const std::map<std::string, int64_t>& bind) const {
  int64_t n = factor;
  for (const std::string& s : symbols) {
    auto it = bind.find(s);
    if (it == bind.end()) throw std::runtime_error("grid symbol '" + s + "' is not bound");
    n *= it->second;
  }
  return (n + divisor - 1) / divisor;
}

}  // namespace vkllm::codegen
