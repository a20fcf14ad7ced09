// The device buffers a model's graphs share: weights (uploaded once, whichever graph asks first)
// and states (persistent tensors such as the KV cache, allocated and zero-filled once). The
// prefill and decode executors of one model bind the same buffers, so weights are never duplicated
// and the cache one graph writes is the cache the other reads.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ir/host_tensor.h"
#include "ir/ir.h"
#include "ir/reference.h"
#include "runtime/allocator.h"
#include "runtime/uploader.h"

namespace vkllm::runtime {

class Device;

// A weight's bytes exactly as the kernels read them, already in host memory (an artifact's read-only
// mapping): nullopt for a weight it does not hold. The bytes must stay valid while ModelBuffers uploads.
using MappedWeightFn = std::function<std::optional<std::span<const uint8_t>>(const std::string& name, const ir::Type& type)>;

// How the weights so far reached the device.
struct WeightUploads {
  int64_t mapped = 0;          // straight from mapped bytes (no host copy)
  int64_t copied = 0;          // through a HostTensor the WeightFn made
  uint64_t bytes = 0;          // weight bytes uploaded
  double source_seconds = 0;   // in the mapping / WeightFn: reading, checksums, conversion
  double upload_seconds = 0;   // staging copies and waits for the device (Uploader), finish_uploads included
  uint64_t submissions = 0;    // upload command buffers submitted
};

class ModelBuffers {
 public:
  explicit ModelBuffers(Device& device);
  ModelBuffers(const ModelBuffers&) = delete;
  ModelBuffers& operator=(const ModelBuffers&) = delete;

  // Weights the mapping holds are uploaded from its bytes (staging -> device), never copied into a
  // HostTensor; the WeightFn then serves only the weights it lacks.
  void set_mapped_weights(MappedWeightFn mapped) { mapped_ = std::move(mapped); }
  // The buffer of weight `name` (`type` with a constant shape), uploaded on first use from the mapped
  // weights when they hold it, else from `source`. A later request with another type is an error
  // naming the weight. The upload is batched with others (runtime::Uploader): the bytes are on the
  // device once finish_uploads() returns, not before.
  const Buffer& weight(const std::string& name, const ir::Type& type, const ir::WeightFn& source);
  // Submits the weight uploads still staged, waits for all of them and frees the staging memory.
  // GraphExecutor calls it once it has asked for all its weights.
  void finish_uploads();
  // The buffer of state `name`, allocated and zero-filled on first use.
  const Buffer& state(const std::string& name, const ir::Type& type);
  // Zero-fills every state (forgets every cached sequence).
  void clear_states();
  // The contents of state `name` (allocated by a graph already), downloaded from the device.
  ir::HostTensor read_state(const std::string& name) const;

  uint64_t weight_bytes() const;
  uint64_t state_bytes() const;
  const WeightUploads& weight_uploads() const { return uploads_; }

 private:
  struct Entry {
    ir::Type type;
    Buffer buffer;
  };
  const Buffer& upload_weight(const std::string& name, const ir::Type& type, std::span<const uint8_t> bytes);
  void abandon_uploads();

  Device& device_;
  MappedWeightFn mapped_;
  WeightUploads uploads_;
  std::map<std::string, Entry> weights_, states_;
  // While weights are being uploaded; declared after the buffers so it is destroyed (waiting for the
  // copies in flight) before them.
  std::unique_ptr<Uploader> uploader_;
  std::vector<std::string> pending_;  // weights enqueued on uploader_ since the last finish_uploads()
};

}  // namespace vkllm::runtime
