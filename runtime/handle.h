// A move-only owner of one Vulkan object created on a device (fence, pipeline, query pool, ...).
#pragma once
#include <volk.h>  // Vulkan through a loader opened at run time (a missing loader is an error, not a failed start)

#include <utility>

namespace vkllm::runtime {

// Destroy is the address of volk's function-pointer variable (filled in once the loader is open).
template <typename Handle, void (**Destroy)(VkDevice, Handle, const VkAllocationCallbacks*)>
class Owned {
 public:
  Owned() = default;
  Owned(VkDevice device, Handle handle) : device_(device), handle_(handle) {}
  ~Owned() { reset(); }
  Owned(Owned&& other) noexcept
      : device_(std::exchange(other.device_, VK_NULL_HANDLE)), handle_(std::exchange(other.handle_, VK_NULL_HANDLE)) {}
  Owned& operator=(Owned&& other) noexcept {
    if (this != &other) {
      reset();
      device_ = std::exchange(other.device_, VK_NULL_HANDLE);
      handle_ = std::exchange(other.handle_, VK_NULL_HANDLE);
    }
    return *this;
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;

  Handle get() const { return handle_; }
  void reset() {
    if (handle_ != VK_NULL_HANDLE) (*Destroy)(device_, handle_, nullptr);
    handle_ = VK_NULL_HANDLE;
  }

 private:
  VkDevice device_ = VK_NULL_HANDLE;
  Handle handle_ = VK_NULL_HANDLE;
};

using Fence = Owned<VkFence, &vkDestroyFence>;
using QueryPool = Owned<VkQueryPool, &vkDestroyQueryPool>;
using ShaderModule = Owned<VkShaderModule, &vkDestroyShaderModule>;
using PipelineLayout = Owned<VkPipelineLayout, &vkDestroyPipelineLayout>;
using PipelineHandle = Owned<VkPipeline, &vkDestroyPipeline>;
using CommandPool = Owned<VkCommandPool, &vkDestroyCommandPool>;

}  // namespace vkllm::runtime
