// The device buffers a model's graphs share: weights (uploaded once, whichever graph asks first)
// and states (persistent tensors such as the KV cache, allocated and zero-filled once). The
// prefill and decode executors of one model bind the same buffers, so weights are never duplicated
// and the cache one graph writes is the cache the other reads.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "ir/host_tensor.h"
#include "ir/ir.h"
#include "ir/reference.h"
#include "runtime/allocator.h"

namespace vkllm::runtime {

class Device;

class ModelBuffers {
 public:
  explicit ModelBuffers(Device& device);
  ModelBuffers(const ModelBuffers&) = delete;
  ModelBuffers& operator=(const ModelBuffers&) = delete;

  // The buffer of weight `name` (`type` with a constant shape), uploaded from `source` on first use.
  // A later request with another type is an error naming the weight.
  const Buffer& weight(const std::string& name, const ir::Type& type, const ir::WeightFn& source);
  // The buffer of state `name`, allocated and zero-filled on first use.
  const Buffer& state(const std::string& name, const ir::Type& type);
  // Zero-fills every state (forgets every cached sequence).
  void clear_states();
  // The contents of state `name` (allocated by a graph already), downloaded from the device.
  ir::HostTensor read_state(const std::string& name) const;

  uint64_t weight_bytes() const;
  uint64_t state_bytes() const;

 private:
  struct Entry {
    ir::Type type;
    Buffer buffer;
  };
  Device& device_;
  std::map<std::string, Entry> weights_, states_;
};

}  // namespace vkllm::runtime
