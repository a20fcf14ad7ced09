#include "runtime/uploader.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "runtime/device.h"
#include "runtime/error.h"

namespace vkllm::runtime {
namespace {

// Below this a memcpy is not worth a thread; pieces are split at page multiples.
constexpr uint64_t kMinBytesPerCopyThread = 1ull << 20;
constexpr uint64_t kPage = 4096;
// Staged pieces start at this alignment: wide loads and stores in memcpy and in the copy engine.
constexpr uint64_t kStagingAlignment = 64;
constexpr double kUploadTimeoutSeconds = 300;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void parallel_copy(void* dst, const void* src, uint64_t bytes, unsigned threads) {
  const uint64_t parts = std::clamp<uint64_t>(bytes / kMinBytesPerCopyThread, 1, std::max(1u, threads));
  if (parts == 1) {
    std::memcpy(dst, src, bytes);
    return;
  }
  const uint64_t per_part = (bytes / parts + kPage - 1) / kPage * kPage;
  auto copy_part = [=](uint64_t part) {
    const uint64_t begin = std::min(bytes, part * per_part), end = std::min(bytes, begin + per_part);
    std::memcpy(static_cast<char*>(dst) + begin, static_cast<const char*>(src) + begin, end - begin);
  };
  std::vector<std::jthread> helpers;
  helpers.reserve(parts - 1);
  for (uint64_t p = 1; p < parts; ++p) helpers.emplace_back(copy_part, p);
  copy_part(0);
}  // the helpers join here

Uploader::Uploader(Device& device, const Options& options) : device_(device), options_(options) {
  if (options_.staging_bytes == 0) throw RuntimeError("Uploader: staging_bytes must be positive");
  if (options_.staging_buffers == 0) throw RuntimeError("Uploader: staging_buffers must be at least 1");
  slots_.resize(options_.staging_buffers);
}

Uploader::~Uploader() {
  // The staging buffers and command buffers must not be freed while the GPU still reads them.
  for (Slot& s : slots_) {
    const VkFence fence = s.fence.get();
    if (s.in_flight)
      vkWaitForFences(device_.handle(), 1, &fence, VK_TRUE, static_cast<uint64_t>(kUploadTimeoutSeconds * 1e9));
  }
}

Uploader::Slot& Uploader::fill_slot() {
  Slot& s = slots_[current_];
  if (s.in_flight) wait(s);
  if (!s.staging) {  // first use; the staging buffer last, so a failure leaves the slot unset
    s.pool = device_.create_command_pool();
    VkCommandBufferAllocateInfo info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    info.commandPool = s.pool.get();
    info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    info.commandBufferCount = 1;
    check_vk(vkAllocateCommandBuffers(device_.handle(), &info, &s.commands), "vkAllocateCommandBuffers");
    s.fence = device_.create_fence();
    s.staging = device_.allocator().create(options_.staging_bytes, MemoryKind::HostUpload, "an upload staging buffer");
  }
  return s;
}

void Uploader::wait(Slot& slot) {
  const auto start = std::chrono::steady_clock::now();
  device_.wait(slot.fence.get(), kUploadTimeoutSeconds, "weight upload");
  slot.in_flight = false;
  stats_.wait_seconds += seconds_since(start);
}

void Uploader::submit(Slot& slot) {
  check_vk(vkResetCommandPool(device_.handle(), slot.pool.get(), 0), "vkResetCommandPool");
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check_vk(vkBeginCommandBuffer(slot.commands, &begin), "vkBeginCommandBuffer");
  // One vkCmdCopyBuffer per run of regions with the same destination.
  std::vector<VkBufferCopy> run;
  for (size_t i = 0; i < slot.regions.size();) {
    const VkBuffer dst = slot.regions[i].first;
    run.clear();
    for (; i < slot.regions.size() && slot.regions[i].first == dst; ++i) run.push_back(slot.regions[i].second);
    vkCmdCopyBuffer(slot.commands, slot.staging.handle(), dst, static_cast<uint32_t>(run.size()), run.data());
  }
  // Later submissions on the queue (kernels, downloads) see the copied bytes.
  VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT;
  vkCmdPipelineBarrier(slot.commands, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1, &barrier,
                       0, nullptr, 0, nullptr);
  check_vk(vkEndCommandBuffer(slot.commands), "vkEndCommandBuffer");
  device_.submit({slot.commands}, slot.fence.get());
  slot.in_flight = true;
  stats_.regions += slot.regions.size();
  ++stats_.submissions;
  slot.regions.clear();
  slot.used = 0;
}

void Uploader::enqueue(const Buffer& dst, uint64_t dst_offset, const void* src, uint64_t bytes) {
  if (dst_offset > dst.size() || bytes > dst.size() - dst_offset)
    throw RuntimeError(
        fmt::format("upload of {} bytes at offset {} overflows a buffer of {} bytes", bytes, dst_offset, dst.size()));
  for (uint64_t done = 0; done < bytes;) {
    Slot* slot = &fill_slot();
    uint64_t at = (slot->used + kStagingAlignment - 1) / kStagingAlignment * kStagingAlignment;
    if (at >= options_.staging_bytes) {
      // Full: send it off and fill the next one meanwhile.
      submit(*slot);
      current_ = (current_ + 1) % slots_.size();
      slot = &fill_slot();
      at = 0;
    }
    const uint64_t piece = std::min(bytes - done, options_.staging_bytes - at);
    const auto start = std::chrono::steady_clock::now();
    parallel_copy(static_cast<char*>(slot->staging.mapped()) + at, static_cast<const char*>(src) + done, piece,
                  options_.copy_threads);
    stats_.staging_seconds += seconds_since(start);
    slot->regions.push_back({dst.handle(), VkBufferCopy{at, dst_offset + done, piece}});
    slot->used = at + piece;
    done += piece;
  }
  stats_.bytes += bytes;
}

void Uploader::flush() {
  Slot& s = slots_[current_];
  if (!s.regions.empty()) {
    submit(s);
    current_ = (current_ + 1) % slots_.size();
  }
  for (Slot& slot : slots_)
    if (slot.in_flight) wait(slot);
}

}  // namespace vkllm::runtime
