// A compiled compute kernel: what codegen hands the runtime. Kernels read and write tensors through
// buffer device addresses passed as push constants (no descriptor sets, no maxStorageBufferRange
// limit); argument 0 is always the step-parameter buffer holding the graph's symbol values.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vkllm::codegen {

// Workgroups along one grid axis: ceil(factor * product(symbol values) / divisor).
// Symbols are bound per step, so the runtime recomputes counts every step and dispatches
// indirectly; the recorded command buffer never changes.
struct GridDim {
  int64_t factor = 1;
  std::vector<std::string> symbols;
  int64_t divisor = 1;

  int64_t groups(const std::map<std::string, int64_t>& bind) const;
};

struct KernelArg {
  std::string name;   // for dumps: "params", "x", "w", "out", ...
  bool written = false;
};

struct Kernel {
  std::string name;                     // e.g. "rms_norm_f32_d4096"
  std::string glsl;                     // generated source (kept for inspection)
  std::vector<uint32_t> spirv;          // optimized, validated SPIR-V
  std::array<uint32_t, 3> local_size{1, 1, 1};
  std::vector<KernelArg> args;          // push-constant slots, 8-byte device addresses, in order
  std::array<GridDim, 3> grid;
  uint32_t required_subgroup_size = 0;  // 0: the driver's choice
};

}  // namespace vkllm::codegen
