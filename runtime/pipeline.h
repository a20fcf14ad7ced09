// Compute pipelines built from codegen::Kernel: SPIR-V, a push-constant block of one 8-byte device
// address per kernel argument, and the kernel's required subgroup size when it names one.
#pragma once
#include <volk.h>  // Vulkan through a loader opened at run time (a missing loader is an error, not a failed start)

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "codegen/kernel.h"
#include "runtime/handle.h"

namespace vkllm::runtime {

class Device;

class Pipeline {
 public:
  // Throws RuntimeError naming the kernel when the device cannot run it (workgroup size, push
  // constant bytes, subgroup size). `capture_statistics` keeps what pipeline_statistics() reads
  // (needs VK_KHR_pipeline_executable_properties).
  Pipeline(Device& device, const codegen::Kernel& kernel, bool capture_statistics = false);

  VkPipeline handle() const { return pipeline_.get(); }
  VkPipelineLayout layout() const { return layout_.get(); }
  uint32_t push_constant_bytes() const { return push_constant_bytes_; }
  const std::string& name() const { return name_; }
  bool captures_statistics() const { return capture_statistics_; }

 private:
  std::string name_;
  uint32_t push_constant_bytes_ = 0;
  bool capture_statistics_ = false;
  PipelineLayout layout_;
  PipelineHandle pipeline_;
};

// One executable of a compiled pipeline (drivers may split a shader) and its driver statistics.
struct ExecutableStatistics {
  std::string name, description;
  uint32_t subgroup_size = 0;
  std::vector<std::pair<std::string, std::string>> statistics;  // name -> value ("42", "true", "1.5")
};

// Driver statistics (registers, spills, instruction counts, ...) of a pipeline created with
// capture_statistics. Throws RuntimeError when the device lacks VK_KHR_pipeline_executable_properties.
std::vector<ExecutableStatistics> pipeline_statistics(const Device& device, const Pipeline& pipeline);

}  // namespace vkllm::runtime
