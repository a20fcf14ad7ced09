#include "runtime/pipeline.h"

#include <fmt/format.h>

#include "runtime/device.h"
#include "runtime/error.h"

namespace vkllm::runtime {

namespace {
constexpr uint32_t kSpirvMagic = 0x07230203;
}

Pipeline::Pipeline(Device& device, const codegen::Kernel& kernel, bool capture_statistics)
    : name_(kernel.name), capture_statistics_(capture_statistics) {
  const DeviceInfo& info = device.info();
  auto fail = [&](const std::string& what) {
    throw RuntimeError(fmt::format("kernel '{}' cannot run on '{}': {}", kernel.name, info.name, what));
  };
  if (kernel.spirv.size() < 5 || kernel.spirv[0] != kSpirvMagic) fail("its SPIR-V is empty or has no SPIR-V header");
  if (kernel.args.empty()) fail("it has no arguments (argument 0 must be the step-parameter buffer)");
  uint64_t invocations = 1;
  for (int axis = 0; axis < 3; ++axis) {
    const uint32_t size = kernel.local_size[static_cast<size_t>(axis)];
    if (size == 0 || size > info.max_workgroup_size[static_cast<size_t>(axis)])
      fail(fmt::format("local size {} along axis {} is outside [1, {}]", size, axis,
                       info.max_workgroup_size[static_cast<size_t>(axis)]));
    invocations *= size;
  }
  if (invocations > info.max_workgroup_invocations)
    fail(fmt::format("{} invocations per workgroup exceed the device's {}", invocations,
                     info.max_workgroup_invocations));
  const uint64_t push_bytes = 8 * kernel.args.size();
  if (push_bytes > info.max_push_constants_size)
    fail(fmt::format("{} arguments need {} bytes of push constants; the device allows {}", kernel.args.size(),
                     push_bytes, info.max_push_constants_size));
  push_constant_bytes_ = static_cast<uint32_t>(push_bytes);
  if (capture_statistics && !info.pipeline_executable_properties)
    fail("pipeline statistics need VK_KHR_pipeline_executable_properties, which the device lacks");

  const uint32_t subgroup = kernel.required_subgroup_size;
  if (subgroup != 0) {
    if (!info.subgroup_size_control)
      fail(
          fmt::format("it requires subgroup size {} but the device cannot fix the "
                      "subgroup size of compute shaders (subgroup_size_control)",
                      subgroup));
    if (subgroup < info.min_subgroup_size || subgroup > info.max_subgroup_size || (subgroup & (subgroup - 1)))
      fail(fmt::format("it requires subgroup size {}; the device supports powers of two in [{}, {}]", subgroup,
                       info.min_subgroup_size, info.max_subgroup_size));
  }

  VkShaderModuleCreateInfo module_info{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  module_info.codeSize = kernel.spirv.size() * sizeof(uint32_t);
  module_info.pCode = kernel.spirv.data();
  VkShaderModule module_handle = VK_NULL_HANDLE;
  check_vk(vkCreateShaderModule(device.handle(), &module_info, nullptr, &module_handle),
           fmt::format("vkCreateShaderModule for kernel '{}'", kernel.name).c_str());
  const ShaderModule module(device.handle(), module_handle);

  const VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_constant_bytes_};
  VkPipelineLayoutCreateInfo layout_info{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  layout_info.pushConstantRangeCount = 1;
  layout_info.pPushConstantRanges = &range;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  check_vk(vkCreatePipelineLayout(device.handle(), &layout_info, nullptr, &layout), "vkCreatePipelineLayout");
  layout_ = PipelineLayout(device.handle(), layout);

  VkPipelineShaderStageRequiredSubgroupSizeCreateInfo required{
      VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO};
  required.requiredSubgroupSize = subgroup;
  VkComputePipelineCreateInfo pipeline_info{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  pipeline_info.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  pipeline_info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  pipeline_info.stage.module = module.get();
  pipeline_info.stage.pName = "main";
  if (subgroup != 0) {
    pipeline_info.stage.pNext = &required;
    // A kernel that fixes its subgroup size counts on whole subgroups when its workgroup allows them.
    if (info.compute_full_subgroups && kernel.local_size[0] % subgroup == 0)
      pipeline_info.stage.flags |= VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
  }
  if (capture_statistics) pipeline_info.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
  pipeline_info.layout = layout_.get();
  VkPipeline pipeline = VK_NULL_HANDLE;
  check_vk(vkCreateComputePipelines(device.handle(), VK_NULL_HANDLE, 1, &pipeline_info, nullptr, &pipeline),
           fmt::format("vkCreateComputePipelines for kernel '{}'", kernel.name).c_str());
  pipeline_ = PipelineHandle(device.handle(), pipeline);
}

std::vector<ExecutableStatistics> pipeline_statistics(const Device& device, const Pipeline& pipeline) {
  if (!device.get_pipeline_executable_properties || !device.get_pipeline_executable_statistics)
    throw RuntimeError(
        fmt::format("device '{}' does not report pipeline statistics "
                    "(VK_KHR_pipeline_executable_properties is missing)",
                    device.info().name));
  if (!pipeline.captures_statistics())
    throw RuntimeError(fmt::format("pipeline '{}' was created without capture_statistics", pipeline.name()));
  VkPipelineInfoKHR pipeline_info{VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR};
  pipeline_info.pipeline = pipeline.handle();
  uint32_t count = 0;
  check_vk(device.get_pipeline_executable_properties(device.handle(), &pipeline_info, &count, nullptr),
           "vkGetPipelineExecutablePropertiesKHR");
  std::vector<VkPipelineExecutablePropertiesKHR> props(count, {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR});
  check_vk(device.get_pipeline_executable_properties(device.handle(), &pipeline_info, &count, props.data()),
           "vkGetPipelineExecutablePropertiesKHR");

  std::vector<ExecutableStatistics> out;
  for (uint32_t e = 0; e < count; ++e) {
    ExecutableStatistics exe;
    exe.name = props[e].name;
    exe.description = props[e].description;
    exe.subgroup_size = props[e].subgroupSize;
    VkPipelineExecutableInfoKHR exe_info{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR};
    exe_info.pipeline = pipeline.handle();
    exe_info.executableIndex = e;
    uint32_t stat_count = 0;
    check_vk(device.get_pipeline_executable_statistics(device.handle(), &exe_info, &stat_count, nullptr),
             "vkGetPipelineExecutableStatisticsKHR");
    std::vector<VkPipelineExecutableStatisticKHR> stats(stat_count,
                                                        {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR});
    check_vk(device.get_pipeline_executable_statistics(device.handle(), &exe_info, &stat_count, stats.data()),
             "vkGetPipelineExecutableStatisticsKHR");
    for (uint32_t s = 0; s < stat_count; ++s) {
      const auto& st = stats[s];
      std::string value;
      switch (st.format) {
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR:
          value = st.value.b32 ? "true" : "false";
          break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
          value = std::to_string(st.value.i64);
          break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
          value = std::to_string(st.value.u64);
          break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR:
          value = fmt::format("{}", st.value.f64);
          break;
        default:
          value = fmt::format("(statistic format {})", static_cast<int>(st.format));
          break;
      }
      exe.statistics.emplace_back(st.name, value);
    }
    out.push_back(std::move(exe));
  }
  return out;
}

}  // namespace vkllm::runtime
