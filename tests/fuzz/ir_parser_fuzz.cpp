// Fuzz target: the IR text parser (ir/text.h). Any byte string must either parse or throw
// ir::IrError; a module that parses must print canonically (print(parse(print(m))) == print(m)).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ir/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vkllm::ir;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const std::string printed = print(parse_module(text, "fuzz"));
    if (print(parse_module(printed, "printed")) != printed) std::abort();
  } catch (const IrError&) {
  }
  return 0;
}
