// Device memory: buffers suballocated from large blocks (one VkBuffer per suballocation, bound at
// an aligned offset), or a dedicated allocation for buffers too big to share a block.
//
// Rules: a device-local request is only ever placed in device-local memory; when that runs out
// the error (OutOfDeviceMemory) states the bytes needed, what each heap has, and what to do.
// Host-visible memory is a separate, explicit kind (staging, step parameters, results).
// Every buffer can be used as a storage, transfer and indirect buffer and has a device address.
#pragma once
#include <volk.h>  // Vulkan through a loader opened at run time (a missing loader is an error, not a failed start)

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vkllm::runtime {

struct DeviceInfo;
class Allocator;

enum class MemoryKind {
  DeviceLocal,   // tensors read and written by kernels
  HostUpload,    // host-visible, coherent: staging for uploads, step parameters, indirect arguments
  HostReadback,  // host-visible, coherent, cached where possible: results the host reads
};
std::string_view to_string(MemoryKind kind);

// "512 B", "3.50 MiB", "2.00 GiB".
std::string format_bytes(uint64_t bytes);

// A buffer and the memory range it owns; returns the range to its allocator when destroyed.
class Buffer {
 public:
  Buffer() = default;
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  explicit operator bool() const { return buffer_ != VK_NULL_HANDLE; }
  VkBuffer handle() const { return buffer_; }
  VkDeviceAddress address() const { return address_; }
  uint64_t size() const { return size_; }  // bytes requested
  MemoryKind kind() const { return kind_; }
  // Host pointer to the buffer's first byte for host-visible kinds, null for DeviceLocal.
  void* mapped() const { return mapped_; }
  // Where the buffer lives (for tests and diagnostics).
  VkDeviceMemory memory() const;
  uint64_t memory_offset() const { return offset_; }
  bool dedicated() const;

 private:
  friend class Allocator;
  struct Block;
  void release();

  Allocator* allocator_ = nullptr;
  Block* block_ = nullptr;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceAddress address_ = 0;
  uint64_t size_ = 0;
  uint64_t offset_ = 0;    // in the block
  uint64_t reserved_ = 0;  // bytes of the block this buffer holds (aligned size)
  MemoryKind kind_ = MemoryKind::DeviceLocal;
  void* mapped_ = nullptr;
};

class Allocator {
 public:
  // `block_bytes`: size of the shared blocks (clamped to maxMemoryAllocationSize); requests larger
  // than half a block get a dedicated allocation.
  Allocator(VkDevice device, VkPhysicalDevice physical_device, const DeviceInfo& info, uint64_t block_bytes);
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // A buffer of `bytes` (> 0) of `kind`; `what` names it in error messages ("weight 'wq'").
  // Throws OutOfDeviceMemory when the request cannot be met.
  Buffer create(uint64_t bytes, MemoryKind kind, std::string_view what);

  uint64_t bytes_in_use(MemoryKind kind) const;    // held by live buffers (aligned sizes)
  uint64_t bytes_reserved(MemoryKind kind) const;  // allocated from the driver
  size_t block_count() const { return blocks_.size(); }

 private:
  friend class Buffer;
  using Block = Buffer::Block;
  void release(Buffer& buffer);
  uint32_t memory_type(MemoryKind kind, uint32_t allowed_types, std::string_view what) const;
  Block* allocate_block(uint64_t bytes, uint32_t type, MemoryKind kind, bool dedicated, std::string_view what);
  [[noreturn]] void out_of_memory(uint64_t bytes, MemoryKind kind, uint32_t type, std::string_view what,
                                  std::string_view reason) const;

  VkDevice device_;
  VkPhysicalDevice physical_device_;
  std::string device_name_;
  bool memory_budget_;
  uint64_t max_allocation_;
  uint64_t max_buffer_;
  uint64_t block_bytes_;
  VkPhysicalDeviceMemoryProperties memory_{};
  std::vector<std::unique_ptr<Block>> blocks_;
};

}  // namespace vkllm::runtime
