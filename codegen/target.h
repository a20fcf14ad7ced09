// What a kernel generator may assume about the device it compiles for. Filled by the runtime from
// probed features, or read from a named device profile so one can compile for a GPU not present.
#pragma once
#include <cstdint>
#include <string>

namespace vkllm::codegen {

struct TargetCaps {
  std::string name = "generic";          // device name or profile name
  uint32_t subgroup_size = 32;           // the size kernels are compiled for
  bool subgroup_size_control = false;    // can require subgroup_size per pipeline
  bool subgroup_arithmetic = true;       // subgroupAdd / subgroupMax
  bool subgroup_shuffle = true;
  bool float16_arithmetic = false;       // shaderFloat16
  bool int8_arithmetic = false;          // shaderInt8
  bool storage_16bit = true;             // 16-bit loads/stores from storage buffers
  bool storage_8bit = false;
  bool integer_dot_product = false;      // VK_KHR_shader_integer_dot_product
  bool cooperative_matrix_nv = false;    // VK_NV_cooperative_matrix, fp16 16x16x16 -> fp32
  uint32_t max_workgroup_invocations = 1024;
  uint32_t max_shared_memory_bytes = 32768;
  uint32_t max_push_constant_bytes = 128;
};

}  // namespace vkllm::codegen
