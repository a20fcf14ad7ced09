#include "runtime/allocator.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "runtime/device.h"
#include "runtime/error.h"

namespace vkllm::runtime {

// One VkDeviceMemory and its free ranges (offset -> size, coalesced).
struct Buffer::Block {
  VkDeviceMemory memory = VK_NULL_HANDLE;
  uint64_t size = 0;
  uint32_t type = 0;
  MemoryKind kind = MemoryKind::DeviceLocal;
  bool dedicated = false;
  void* mapped = nullptr;
  uint64_t used = 0;
  std::map<uint64_t, uint64_t> free;
};

namespace {

constexpr uint64_t kHostBlockBytes = 32ull << 20;
constexpr VkBufferUsageFlags kBufferUsage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                            VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT |
                                            VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT;

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

struct TypePreference {
  VkMemoryPropertyFlags required, wanted, unwanted;
};

TypePreference preference(MemoryKind kind) {
  constexpr VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  switch (kind) {
    case MemoryKind::DeviceLocal:
      // Keep host-visible device memory (resizable BAR) for what the host writes.
      return {VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT};
    case MemoryKind::HostUpload:
      return {host, 0, VK_MEMORY_PROPERTY_HOST_CACHED_BIT};
    case MemoryKind::HostReadback:
      return {host, VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0};
  }
  return {};
}

// Types we never place buffers in: protected, lazily allocated, AMD device-coherent/uncached.
constexpr VkMemoryPropertyFlags kExcludedTypeFlags = VK_MEMORY_PROPERTY_PROTECTED_BIT |
                                                     VK_MEMORY_PROPERTY_LAZILY_ALLOCATED_BIT |
                                                     0x40 /*DEVICE_COHERENT_AMD*/ | 0x80 /*DEVICE_UNCACHED_AMD*/;

}  // namespace

std::string_view to_string(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::DeviceLocal:
      return "device-local";
    case MemoryKind::HostUpload:
      return "host-visible (upload)";
    case MemoryKind::HostReadback:
      return "host-visible (readback)";
  }
  return "?";
}

std::string format_bytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes) / 1024;
  int u = 0;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.2f} {}", v, units[u]);
}

// ---- Buffer ----

Buffer::~Buffer() { release(); }

Buffer::Buffer(Buffer&& other) noexcept { *this = std::move(other); }

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    allocator_ = std::exchange(other.allocator_, nullptr);
    block_ = std::exchange(other.block_, nullptr);
    buffer_ = std::exchange(other.buffer_, VK_NULL_HANDLE);
    address_ = std::exchange(other.address_, 0);
    size_ = std::exchange(other.size_, 0);
    offset_ = std::exchange(other.offset_, 0);
    reserved_ = std::exchange(other.reserved_, 0);
    kind_ = other.kind_;
    mapped_ = std::exchange(other.mapped_, nullptr);
  }
  return *this;
}

VkDeviceMemory Buffer::memory() const { return block_ ? block_->memory : VK_NULL_HANDLE; }
bool Buffer::dedicated() const { return block_ && block_->dedicated; }

void Buffer::release() {
  if (allocator_) allocator_->release(*this);
  allocator_ = nullptr;
  block_ = nullptr;
  buffer_ = VK_NULL_HANDLE;
  mapped_ = nullptr;
}

// ---- Allocator ----

Allocator::Allocator(VkDevice device, VkPhysicalDevice physical_device, const DeviceInfo& info, uint64_t block_bytes)
    : device_(device),
      physical_device_(physical_device),
      device_name_(info.name),
      memory_budget_(info.memory_budget),
      max_allocation_(info.max_memory_allocation_size),
      max_buffer_(info.max_buffer_size ? info.max_buffer_size : info.max_memory_allocation_size),
      block_bytes_(std::min(block_bytes, info.max_memory_allocation_size)) {
  if (block_bytes == 0) throw RuntimeError("allocator: the block size must be positive");
  vkGetPhysicalDeviceMemoryProperties(physical_device, &memory_);
}

Allocator::~Allocator() {
  // Buffers must not outlive their allocator; whatever blocks remain are returned here.
  for (auto& block : blocks_) vkFreeMemory(device_, block->memory, nullptr);
}

uint32_t Allocator::memory_type(MemoryKind kind, uint32_t allowed_types, std::string_view what) const {
  const TypePreference pref = preference(kind);
  int best = -1, best_penalty = 0;
  for (uint32_t i = 0; i < memory_.memoryTypeCount; ++i) {
    const VkMemoryPropertyFlags flags = memory_.memoryTypes[i].propertyFlags;
    if (!(allowed_types & (1u << i)) || (flags & pref.required) != pref.required || (flags & kExcludedTypeFlags))
      continue;
    const int penalty = __builtin_popcount(flags & pref.unwanted) + __builtin_popcount(pref.wanted & ~flags);
    if (best < 0 || penalty < best_penalty) {
      best = static_cast<int>(i);
      best_penalty = penalty;
    }
  }
  if (best < 0)
    throw OutOfDeviceMemory(
        fmt::format("device '{}' has no {} memory type usable for buffers (needed for {}); "
                    "its driver is unusual: report it with the output of `vkllm doctor`",
                    device_name_, to_string(kind), what));
  return static_cast<uint32_t>(best);
}

void Allocator::out_of_memory(uint64_t bytes, MemoryKind kind, uint32_t type, std::string_view what,
                              std::string_view reason) const {
  const uint32_t heap_index = memory_.memoryTypes[type].heapIndex;
  const std::vector<MemoryHeap> heaps = query_memory_heaps(physical_device_, memory_budget_);
  std::vector<uint64_t> reserved_per_heap(heaps.size(), 0);
  for (const auto& block : blocks_) reserved_per_heap[memory_.memoryTypes[block->type].heapIndex] += block->size;
  std::string heap_lines;
  for (size_t h = 0; h < heaps.size(); ++h) {
    heap_lines += fmt::format("\n  heap {}{}: {} ({} bytes), {} held by vkllm", h,
                              heaps[h].device_local ? " (device-local)" : " (host)", format_bytes(heaps[h].size),
                              heaps[h].size, format_bytes(reserved_per_heap[h]));
    if (heaps[h].budget)
      heap_lines += fmt::format(", budget {} of which this process uses {}", format_bytes(heaps[h].budget),
                                format_bytes(heaps[h].usage));
    if (h == heap_index) heap_lines += "  <- this request";
  }
  const std::string advice =
      kind == MemoryKind::DeviceLocal
          ? "Buffers are sized for the maximum symbol values: lower the maximum context or batch, use a smaller "
            "or more quantized model, close other programs using the GPU, or pick a device with more memory "
            "(--device; see `vkllm doctor`)."
          : "Host-visible memory is used for staging and results: free host memory or lower the maximum "
            "context or batch.";
  throw OutOfDeviceMemory(fmt::format("out of {} memory on '{}': {} needs {} bytes ({}): {}.{}\n{}", to_string(kind),
                                      device_name_, what, bytes, format_bytes(bytes), reason, heap_lines, advice));
}

Allocator::Block* Allocator::allocate_block(uint64_t bytes, uint32_t type, MemoryKind kind, bool dedicated,
                                            std::string_view what) {
  const uint32_t heap_index = memory_.memoryTypes[type].heapIndex;
  if (bytes > memory_.memoryHeaps[heap_index].size)
    out_of_memory(bytes, kind, type, what,
                  fmt::format("the heap holds only {} bytes", memory_.memoryHeaps[heap_index].size));
  VkMemoryAllocateFlagsInfo flags{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO};
  flags.flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT;
  VkMemoryAllocateInfo alloc{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &flags};
  alloc.allocationSize = bytes;
  alloc.memoryTypeIndex = type;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  const VkResult r = vkAllocateMemory(device_, &alloc, nullptr, &memory);
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
    out_of_memory(bytes, kind, type, what, fmt::format("the driver refused the allocation ({})", vk_result_name(r)));
  check_vk(r, "vkAllocateMemory");

  auto block = std::make_unique<Block>();
  block->memory = memory;
  block->size = bytes;
  block->type = type;
  block->kind = kind;
  block->dedicated = dedicated;
  block->free[0] = bytes;
  if (kind != MemoryKind::DeviceLocal) {
    const VkResult map = vkMapMemory(device_, memory, 0, VK_WHOLE_SIZE, 0, &block->mapped);
    if (map != VK_SUCCESS) {
      vkFreeMemory(device_, memory, nullptr);
      check_vk(map, "vkMapMemory");
    }
  }
  blocks_.push_back(std::move(block));
  return blocks_.back().get();
}

Buffer Allocator::create(uint64_t bytes, MemoryKind kind, std::string_view what) {
  if (bytes == 0) throw RuntimeError(fmt::format("allocator: {} asks for an empty buffer", what));
  if (bytes > max_buffer_)
    throw OutOfDeviceMemory(fmt::format(
        "{} needs a buffer of {} bytes ({}), larger than the largest buffer device '{}' can create ({} bytes, {}). "
        "Lower the maximum context or batch, or split the tensor.",
        what, bytes, format_bytes(bytes), device_name_, max_buffer_, format_bytes(max_buffer_)));
  if (bytes > max_allocation_)
    throw OutOfDeviceMemory(fmt::format(
        "{} needs {} bytes ({}), more than one allocation may hold on device '{}' (maxMemoryAllocationSize {} "
        "bytes, {}). Lower the maximum context or batch, or split the tensor.",
        what, bytes, format_bytes(bytes), device_name_, max_allocation_, format_bytes(max_allocation_)));

  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = bytes;
  info.usage = kBufferUsage;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer handle = VK_NULL_HANDLE;
  check_vk(vkCreateBuffer(device_, &info, nullptr, &handle), "vkCreateBuffer");
  // Owns the VkBuffer until it is bound and handed to a Buffer.
  struct PendingBuffer {
    VkDevice device;
    VkBuffer& handle;
    ~PendingBuffer() {
      if (handle != VK_NULL_HANDLE) vkDestroyBuffer(device, handle, nullptr);
    }
  } pending{device_, handle};

  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device_, handle, &req);
  const uint32_t type = memory_type(kind, req.memoryTypeBits, what);
  const uint64_t alignment = std::max<uint64_t>(req.alignment, 16);
  const uint64_t reserved = align_up(req.size, alignment);
  const uint64_t shared_block_bytes =
      kind == MemoryKind::DeviceLocal ? block_bytes_ : std::min(block_bytes_, kHostBlockBytes);

  Block* block = nullptr;
  uint64_t offset = 0;
  if (reserved > shared_block_bytes / 2) {
    block = allocate_block(reserved, type, kind, true, what);
  } else {
    for (auto& candidate : blocks_) {
      if (candidate->dedicated || candidate->type != type || candidate->kind != kind) continue;
      for (const auto& [start, size] : candidate->free) {
        const uint64_t aligned = align_up(start, alignment);
        if (aligned + reserved <= start + size) {
          block = candidate.get();
          offset = aligned;
          break;
        }
      }
      if (block) break;
    }
    if (!block) block = allocate_block(shared_block_bytes, type, kind, false, what);
  }

  // Carve [offset, offset + reserved) out of the free range that contains it.
  auto range = std::prev(block->free.upper_bound(offset));
  const uint64_t range_start = range->first, range_end = range->first + range->second;
  block->free.erase(range);
  if (offset > range_start) block->free[range_start] = offset - range_start;
  if (offset + reserved < range_end) block->free[offset + reserved] = range_end - offset - reserved;
  block->used += reserved;

  Buffer buffer;
  buffer.allocator_ = this;
  buffer.block_ = block;
  buffer.offset_ = offset;
  buffer.reserved_ = reserved;
  buffer.size_ = bytes;
  buffer.kind_ = kind;
  buffer.mapped_ = block->mapped ? static_cast<char*>(block->mapped) + offset : nullptr;
  const VkResult bind = vkBindBufferMemory(device_, handle, block->memory, offset);
  buffer.buffer_ = std::exchange(handle, VK_NULL_HANDLE);
  check_vk(bind, "vkBindBufferMemory");  // on failure `buffer` returns its range
  VkBufferDeviceAddressInfo address{VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO};
  address.buffer = buffer.buffer_;
  buffer.address_ = vkGetBufferDeviceAddress(device_, &address);
  return buffer;
}

void Allocator::release(Buffer& buffer) {
  if (buffer.buffer_ != VK_NULL_HANDLE) vkDestroyBuffer(device_, buffer.buffer_, nullptr);
  Block* block = buffer.block_;
  if (!block) return;
  // Return the range, merging it with free neighbours.
  uint64_t start = buffer.offset_, size = buffer.reserved_;
  auto next = block->free.lower_bound(start);
  if (next != block->free.end() && next->first == start + size) {
    size += next->second;
    next = block->free.erase(next);
  }
  if (next != block->free.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == start) {
      start = prev->first;
      size += prev->second;
      block->free.erase(prev);
    }
  }
  block->free[start] = size;
  block->used -= buffer.reserved_;
  if (block->used == 0) {
    // Empty blocks go back to the driver so that memory is not held for tensors that no longer exist.
    vkFreeMemory(device_, block->memory, nullptr);
    blocks_.erase(std::find_if(blocks_.begin(), blocks_.end(), [&](const auto& b) { return b.get() == block; }));
  }
}

uint64_t Allocator::bytes_in_use(MemoryKind kind) const {
  uint64_t total = 0;
  for (const auto& block : blocks_)
    if (block->kind == kind) total += block->used;
  return total;
}

uint64_t Allocator::bytes_reserved(MemoryKind kind) const {
  uint64_t total = 0;
  for (const auto& block : blocks_)
    if (block->kind == kind) total += block->size;
  return total;
}

}  // namespace vkllm::runtime
