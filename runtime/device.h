// Vulkan instance, device discovery and feature probing, device selection, and the logical device
// every other runtime object is created on.
//
// Selection: a selector (the --device flag, else $VKLLM_DEVICE) is a device index or a
// case-insensitive name substring; without one the most capable usable device wins
// (discrete GPU > integrated > virtual > CPU such as lavapipe).
// Requirements: Vulkan 1.2, a compute queue, bufferDeviceAddress, storageBuffer16BitAccess, shaderInt64.
#pragma once
#include <volk.h>  // Vulkan through a loader opened at run time (a missing loader is an error, not a failed start)

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "codegen/target.h"
#include "runtime/allocator.h"
#include "runtime/handle.h"

namespace vkllm::runtime {

class Uploader;

enum class DeviceType { Discrete, Integrated, Virtual, Cpu, Other };
std::string_view to_string(DeviceType t);  // "discrete GPU", "integrated GPU", "virtual GPU", "CPU", "other"

struct MemoryHeap {
  uint64_t size = 0;
  bool device_local = false;
  uint64_t budget = 0;  // VK_EXT_memory_budget: what this process may use now; 0 when not reported
  uint64_t usage = 0;   // VK_EXT_memory_budget: what this process uses now
};

// One shape VK_NV_cooperative_matrix supports: A (MxK) * B (KxN) + C (MxN).
struct CooperativeMatrixShape {
  uint32_t m = 0, n = 0, k = 0;
  std::string a_type, b_type, c_type, result_type;  // "f16", "f32", "i8", ...
};

struct DeviceInfo {
  uint32_t index = 0;  // position in the loader's enumeration: what `--device N` selects
  std::string name;
  uint32_t vendor_id = 0, device_id = 0;
  std::string vendor;  // "NVIDIA", "AMD", "Intel", "Mesa", ... or the id in hex
  DeviceType type = DeviceType::Other;
  uint32_t api_version = 0, driver_version = 0;
  std::string driver_name, driver_info;

  bool has_compute_queue = false;
  uint32_t compute_queue_family = 0;
  uint32_t timestamp_valid_bits = 0;  // of the compute queue; 0: no timestamps
  float timestamp_period_ns = 0;

  uint32_t subgroup_size = 0, min_subgroup_size = 0, max_subgroup_size = 0;
  uint32_t subgroup_operations = 0;    // VkSubgroupFeatureFlags
  bool subgroups_in_compute = false;   // subgroup operations are supported in compute shaders
  bool subgroup_size_control = false;  // VK_EXT_subgroup_size_control / 1.3, usable in compute
  bool compute_full_subgroups = false;

  bool buffer_device_address = false;
  bool storage_buffer_16bit = false;
  bool storage_buffer_8bit = false;
  bool shader_int64 = false;
  bool shader_int16 = false;
  bool shader_float16 = false;
  bool shader_int8 = false;
  bool integer_dot_product = false;
  // integerDotProduct4x8BitPackedMixedSignednessAccelerated: signed x unsigned packed int8 dot
  // products are one native instruction (codegen's dot=i8 matvec default).
  bool integer_dot_product_accelerated = false;
  bool cooperative_matrix_nv = false;
  std::vector<CooperativeMatrixShape> cooperative_matrix_shapes;
  bool vulkan_memory_model = false;  // SPIR-V using cooperative matrices declares this memory model
  bool pipeline_executable_properties = false;
  bool memory_budget = false;

  uint64_t max_storage_buffer_range = 0;
  uint64_t max_buffer_size = 0;  // 0: not reported (no maintenance4 / Vulkan 1.3)
  uint64_t max_memory_allocation_size = 0;
  uint32_t max_push_constants_size = 0;
  uint32_t max_compute_shared_memory_size = 0;
  uint32_t max_workgroup_invocations = 0;
  std::array<uint32_t, 3> max_workgroup_size{};
  std::array<uint32_t, 3> max_workgroup_count{};
  std::vector<MemoryHeap> memory_heaps;
  std::vector<std::string> extensions;  // every device extension the driver offers

  // What vkllm needs and this device lacks; empty when the device is usable.
  std::vector<std::string> missing_requirements() const;
  bool usable() const { return missing_requirements().empty(); }
  bool has_extension(std::string_view ext) const;
  std::vector<std::string> subgroup_operation_names() const;  // "basic", "arithmetic", "shuffle", ...
};

std::string version_string(uint32_t vk_version);  // "1.3.230"

// What the kernel generators may assume on this device.
codegen::TargetCaps target_caps(const DeviceInfo& info);

// The heaps of a physical device, with budgets when VK_EXT_memory_budget is available.
std::vector<MemoryHeap> query_memory_heaps(VkPhysicalDevice physical_device, bool with_budget);

// The Vulkan instance plus every physical device, probed. Creating it never creates a device, so
// `vkllm doctor` can list devices that vkllm cannot use.
class Instance {
 public:
  // Validation layers are enabled when $VKLLM_VALIDATION is set ("sync" adds synchronization
  // validation); their errors are printed and counted.
  Instance();
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  VkInstance handle() const { return instance_; }
  uint32_t loader_version() const { return loader_version_; }
  bool validation_enabled() const { return messenger_ != VK_NULL_HANDLE; }
  size_t validation_errors() const { return validation_errors_->load(); }
  const std::vector<DeviceInfo>& devices() const { return devices_; }
  VkPhysicalDevice physical_device(size_t index) const { return physical_devices_.at(index); }

 private:
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  void destroy_handles();

  std::unique_ptr<std::atomic<size_t>> validation_errors_;
  uint32_t loader_version_ = 0;
  std::vector<VkPhysicalDevice> physical_devices_;
  std::vector<DeviceInfo> devices_;
};

// The selector in effect: `flag` when non-empty, else $VKLLM_DEVICE, else "".
std::string effective_device_selector(std::string_view flag);

struct DeviceChoice {
  size_t index = 0;    // into the device list
  std::string reason;  // why this one, for `vkllm doctor`
};

// Picks a device. Selector: "" (best usable device), an index, or a case-insensitive name
// substring (among several matches the most capable wins). Throws RuntimeError listing the devices
// when the selector matches none, when the selected device is unusable, or when none is usable.
DeviceChoice choose_device(const std::vector<DeviceInfo>& devices, std::string_view selector);

// The logical device: one compute queue, the memory allocator, one-off transfers.
// Not thread-safe: one thread drives a Device and everything created on it.
class Device {
 public:
  struct Options {
    std::string selector;                 // as for choose_device; empty: $VKLLM_DEVICE, else the best
    uint64_t block_bytes = 256ull << 20;  // device-local memory is suballocated from blocks this large
  };
  Device() : Device(Options{}) {}
  explicit Device(const Options& options);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const DeviceInfo& info() const { return info_; }
  const std::string& selection_reason() const { return selection_reason_; }
  codegen::TargetCaps target_caps() const { return runtime::target_caps(info_); }
  const Instance& instance() const { return *instance_; }
  VkDevice handle() const { return device_; }
  VkPhysicalDevice physical_device() const { return physical_device_; }
  VkQueue queue() const { return queue_; }
  Allocator& allocator() { return *allocator_; }

  // Extension entry points, null when the extension is not enabled.
  PFN_vkGetPipelineExecutablePropertiesKHR get_pipeline_executable_properties = nullptr;
  PFN_vkGetPipelineExecutableStatisticsKHR get_pipeline_executable_statistics = nullptr;

  // A command pool on the compute queue's family, for command buffers recorded once and replayed.
  CommandPool create_command_pool();
  // Submits `buffers` one submission each, in order, the last signalling `fence` (reset first).
  void submit(const std::vector<VkCommandBuffer>& buffers, VkFence fence);
  // Waits for `fence`; throws RuntimeError after `timeout_seconds` (the GPU hung or is far too slow).
  void wait(VkFence fence, double timeout_seconds, std::string_view what);
  Fence create_fence();

  // Records a one-off command buffer with `record`, submits it and waits.
  void submit_and_wait(const std::function<void(VkCommandBuffer)>& record);
  // Copies through host-visible staging buffers on the compute queue and waits (runtime::Uploader;
  // batch many uploads through an Uploader of your own). Offsets and sizes in bytes.
  void upload(const Buffer& dst, uint64_t dst_offset, const void* src, uint64_t bytes);
  void download(const Buffer& src, uint64_t src_offset, void* dst, uint64_t bytes);

 private:
  void finish_setup(const Options& options);
  VkCommandBuffer allocate_command_buffer();
  void destroy_handles();
  Buffer& staging(Buffer& buffer, MemoryKind kind, uint64_t bytes);

  std::unique_ptr<Instance> instance_;
  DeviceInfo info_;
  std::string selection_reason_;
  VkPhysicalDevice physical_device_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  VkCommandPool command_pool_ = VK_NULL_HANDLE;
  VkCommandBuffer one_off_commands_ = VK_NULL_HANDLE;
  Fence one_off_fence_;
  std::unique_ptr<Allocator> allocator_;
  // Declared after the allocator: destroyed first.
  std::unique_ptr<Uploader> uploader_;  // for upload(), made on first use
  Buffer readback_staging_;
};

}  // namespace vkllm::runtime
