// Batched host -> device copies that keep the CPU and the GPU busy at the same time.
//
// Bytes are copied (memcpy, split across a few threads for large pieces) into one of a few
// host-visible staging buffers; a staging buffer is submitted as one command buffer of copies when
// it is full, and the next one is filled while the GPU copies it. The host waits only when it comes
// back to a staging buffer whose copies are still in flight, and in flush(). Small tensors share a
// staging buffer and a submission; a tensor larger than one is split across several.
#pragma once
#include <volk.h>  // Vulkan through a loader opened at run time (a missing loader is an error, not a failed start)

#include <cstdint>
#include <utility>
#include <vector>

#include "runtime/allocator.h"
#include "runtime/handle.h"

namespace vkllm::runtime {

class Device;

// memcpy of `bytes`, split across up to `threads` threads (the caller's included) when large enough
// to pay for them.
void parallel_copy(void* dst, const void* src, uint64_t bytes, unsigned threads);

class Uploader {
 public:
  struct Options {
    uint64_t staging_bytes = 32ull << 20;  // each staging buffer (allocated on first use)
    uint32_t staging_buffers = 3;          // how many may be in flight at once (at least 2 to overlap)
    uint32_t copy_threads = 4;             // threads a large memcpy into staging is split across
  };
  // What went through the uploader so far.
  struct Stats {
    uint64_t bytes = 0;          // bytes enqueued
    uint64_t regions = 0;        // device copy regions recorded
    uint64_t submissions = 0;    // command buffers submitted
    double staging_seconds = 0;  // host time copying into staging (page faults on mapped files included)
    double wait_seconds = 0;     // host time waiting for staging buffers to come back, flush included
  };

  Uploader(Device& device, const Options& options);
  // Waits for the copies in flight; staged copies not yet submitted are dropped (call flush() to keep them).
  ~Uploader();
  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;

  // Queues a copy of `bytes` from `src` to `dst` at `dst_offset`. `src` is read before this returns
  // (the caller may free it); the device copy may still be pending until flush(). `dst` must outlive
  // the flush. An overflowing range is a RuntimeError and queues nothing.
  void enqueue(const Buffer& dst, uint64_t dst_offset, const void* src, uint64_t bytes);
  // Submits what is staged and waits for every copy: afterwards every enqueued byte is in its buffer
  // and visible to later submissions on the device's queue.
  void flush();

  const Stats& stats() const { return stats_; }
  const Options& options() const { return options_; }

 private:
  struct Slot {
    Buffer staging;
    CommandPool pool;
    VkCommandBuffer commands = VK_NULL_HANDLE;
    Fence fence;
    bool in_flight = false;
    uint64_t used = 0;                                 // bytes of staging filled
    std::vector<std::pair<VkBuffer, VkBufferCopy>> regions;  // staged, not yet submitted
  };
  // The slot being filled, waited for and set up if needed.
  Slot& fill_slot();
  void submit(Slot& slot);
  void wait(Slot& slot);

  Device& device_;
  Options options_;
  std::vector<Slot> slots_;
  size_t current_ = 0;
  Stats stats_;
};

}  // namespace vkllm::runtime
