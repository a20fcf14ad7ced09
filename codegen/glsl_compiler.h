// GLSL -> SPIR-V in process (glslang), then SPIRV-Tools: validate, optimize, validate again.
// Results are cached on disk by a hash of (source, options, tool versions).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace vkllm::codegen {

struct CompileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct CompileOptions {
  bool optimize = true;
  // Vulkan 1.2 / SPIR-V 1.5 is the floor the runtime asks for.
};

// Throws CompileError with the glslang log (and the numbered source) on failure.
std::vector<uint32_t> compile_glsl(const std::string& source, const CompileOptions& opts = {});

// SPIR-V disassembly, for `inspect --spirv` and dumps.
std::string disassemble(const std::vector<uint32_t>& spirv);

// Cache directory: $VKLLM_CACHE_DIR, else $XDG_CACHE_HOME/vkllm, else ~/.cache/vkllm;
// an empty string disables the disk cache.
std::string kernel_cache_dir();

}  // namespace vkllm::codegen
