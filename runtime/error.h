// Errors of the runtime layer. Every message says what failed, where, and what to do about it.
#pragma once
#include <volk.h>  // Vulkan through a loader opened at run time (a missing loader is an error, not a failed start)

#include <stdexcept>
#include <string>

namespace vkllm::runtime {

struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A device-local (or staging) request the device cannot satisfy; the message has the numbers.
struct OutOfDeviceMemory : RuntimeError {
  using RuntimeError::RuntimeError;
};

// "VK_ERROR_OUT_OF_DEVICE_MEMORY", ... (the enum name, or the number for unknown codes).
std::string vk_result_name(VkResult result);

// Throws RuntimeError("<what>: <result name>") unless result is VK_SUCCESS.
void check_vk(VkResult result, const char* what);

}  // namespace vkllm::runtime
