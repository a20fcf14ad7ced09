#include "runtime/error.h"

#include <fmt/format.h>

namespace vkllm::runtime {

std::string vk_result_name(VkResult result) {
  switch (result) {
#define VKLLM_RESULT(r) \
  case r:               \
    return #r;
    VKLLM_RESULT(VK_SUCCESS)
    VKLLM_RESULT(VK_NOT_READY)
    VKLLM_RESULT(VK_TIMEOUT)
    VKLLM_RESULT(VK_INCOMPLETE)
    VKLLM_RESULT(VK_ERROR_OUT_OF_HOST_MEMORY)
    VKLLM_RESULT(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    VKLLM_RESULT(VK_ERROR_INITIALIZATION_FAILED)
    VKLLM_RESULT(VK_ERROR_DEVICE_LOST)
    VKLLM_RESULT(VK_ERROR_MEMORY_MAP_FAILED)
    VKLLM_RESULT(VK_ERROR_LAYER_NOT_PRESENT)
    VKLLM_RESULT(VK_ERROR_EXTENSION_NOT_PRESENT)
    VKLLM_RESULT(VK_ERROR_FEATURE_NOT_PRESENT)
    VKLLM_RESULT(VK_ERROR_INCOMPATIBLE_DRIVER)
    VKLLM_RESULT(VK_ERROR_TOO_MANY_OBJECTS)
    VKLLM_RESULT(VK_ERROR_FORMAT_NOT_SUPPORTED)
    VKLLM_RESULT(VK_ERROR_FRAGMENTED_POOL)
    VKLLM_RESULT(VK_ERROR_UNKNOWN)
    VKLLM_RESULT(VK_ERROR_OUT_OF_POOL_MEMORY)
    VKLLM_RESULT(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    VKLLM_RESULT(VK_ERROR_FRAGMENTATION)
    VKLLM_RESULT(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
    VKLLM_RESULT(VK_PIPELINE_COMPILE_REQUIRED)
#undef VKLLM_RESULT
    default:
      return fmt::format("VkResult {}", static_cast<int>(result));
  }
}

void check_vk(VkResult result, const char* what) {
  if (result == VK_SUCCESS) return;
  std::string hint;
  if (result == VK_ERROR_DEVICE_LOST)
    hint = " (the GPU reset or the driver crashed; a driver watchdog may have killed a long submission)";
  throw RuntimeError(fmt::format("{}: {}{}", what, vk_result_name(result), hint));
}

}  // namespace vkllm::runtime
