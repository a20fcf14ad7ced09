#include "runtime/model_buffers.h"

#include <fmt/format.h>

#include <chrono>

#include "runtime/device.h"
#include "runtime/error.h"

namespace vkllm::runtime {
namespace {

uint64_t bytes_of(const std::string& what, const std::string& name, const ir::Type& type) {
  for (const ir::Dim& d : type.shape)
    if (!d.is_const())
      throw RuntimeError(fmt::format("{} '{}' has a symbolic shape {}; it must be constant", what, name, ir::to_string(type)));
  return static_cast<uint64_t>(ir::storage_bytes(type.dtype, ir::num_elements(type.shape, {})));
}

void check_same_type(const std::string& what, const std::string& name, const ir::Type& had, const ir::Type& want) {
  if (!(had == want))
    throw RuntimeError(fmt::format("{} '{}' is used as {} by one graph and as {} by another", what, name,
                                   ir::to_string(had), ir::to_string(want)));
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

ModelBuffers::ModelBuffers(Device& device) : device_(device) {}

const Buffer& ModelBuffers::weight(const std::string& name, const ir::Type& type, const ir::WeightFn& source) {
  auto it = weights_.find(name);
  if (it != weights_.end()) {
    check_same_type("weight", name, it->second.type, type);
    return it->second.buffer;
  }
  const uint64_t bytes = bytes_of("weight", name, type);
  const auto source_start = std::chrono::steady_clock::now();
  if (mapped_) {
    const std::optional<std::span<const uint8_t>> view = mapped_(name, type);
    uploads_.source_seconds += seconds_since(source_start);
    if (view) {
      if (view->size() != bytes)
        throw RuntimeError(fmt::format("weight '{}': expected {} ({} bytes), the mapped weights hold {} bytes", name,
                                       ir::to_string(type), bytes, view->size()));
      const Buffer& b = upload_weight(name, type, *view);
      ++uploads_.mapped;
      return b;
    }
  }
  if (!source) throw RuntimeError(fmt::format("weight '{}' is needed but no weight source was given", name));
  const auto copy_start = std::chrono::steady_clock::now();
  const ir::HostTensor data = source(name, type);
  uploads_.source_seconds += seconds_since(copy_start);
  if (data.dtype != type.dtype || data.bytes.size() != bytes)
    throw RuntimeError(fmt::format("weight '{}': expected {} ({} bytes), the weight source gave {} with {} bytes", name,
                                   ir::to_string(type), bytes, ir::name(data.dtype), data.bytes.size()));
  const Buffer& b = upload_weight(name, type, data.bytes);
  ++uploads_.copied;
  return b;
}

const Buffer& ModelBuffers::upload_weight(const std::string& name, const ir::Type& type, std::span<const uint8_t> bytes) {
  Buffer b = device_.allocator().create(std::max<uint64_t>(4, (bytes.size() + 3) / 4 * 4), MemoryKind::DeviceLocal,
                                        fmt::format("weight '{}'", name));
  const Buffer& placed = weights_.emplace(name, Entry{type, std::move(b)}).first->second.buffer;
  const auto start = std::chrono::steady_clock::now();
  if (!uploader_) uploader_ = std::make_unique<Uploader>(device_, Uploader::Options{});
  pending_.push_back(name);
  try {
    uploader_->enqueue(placed, 0, bytes.data(), bytes.size());
  } catch (...) {
    abandon_uploads();
    throw;
  }
  uploads_.upload_seconds += seconds_since(start);
  uploads_.bytes += bytes.size();
  return placed;
}

void ModelBuffers::finish_uploads() {
  if (!uploader_) return;
  const auto start = std::chrono::steady_clock::now();
  try {
    uploader_->flush();
  } catch (...) {
    abandon_uploads();
    throw;
  }
  uploads_.upload_seconds += seconds_since(start);
  uploads_.submissions += uploader_->stats().submissions;
  uploader_.reset();
  pending_.clear();
}

void ModelBuffers::abandon_uploads() {
  // A weight whose bytes may not have arrived is forgotten, so a later request uploads it again.
  uploader_.reset();  // waits for the copies in flight before their buffers go
  for (const std::string& name : pending_) weights_.erase(name);
  pending_.clear();
}

const Buffer& ModelBuffers::state(const std::string& name, const ir::Type& type) {
  auto it = states_.find(name);
  if (it != states_.end()) {
    check_same_type("state", name, it->second.type, type);
    return it->second.buffer;
  }
  const uint64_t bytes = bytes_of("state", name, type);
  Buffer b = device_.allocator().create(std::max<uint64_t>(4, (bytes + 3) / 4 * 4), MemoryKind::DeviceLocal,
                                        fmt::format("state '{}'", name));
  device_.submit_and_wait([&](VkCommandBuffer cmd) { vkCmdFillBuffer(cmd, b.handle(), 0, VK_WHOLE_SIZE, 0); });
  return states_.emplace(name, Entry{type, std::move(b)}).first->second.buffer;
}

void ModelBuffers::clear_states() {
  if (states_.empty()) return;
  device_.submit_and_wait([&](VkCommandBuffer cmd) {
    for (auto& [name, e] : states_) vkCmdFillBuffer(cmd, e.buffer.handle(), 0, VK_WHOLE_SIZE, 0);
  });
}

ir::HostTensor ModelBuffers::read_state(const std::string& name) const {
  auto it = states_.find(name);
  if (it == states_.end()) throw RuntimeError(fmt::format("no state '{}' has been allocated", name));
  const ir::Type& t = it->second.type;
  ir::HostTensor out = ir::HostTensor::zeros(t.dtype, ir::concrete_shape(t.shape, {}));
  device_.download(it->second.buffer, 0, out.bytes.data(), out.bytes.size());
  return out;
}

uint64_t ModelBuffers::weight_bytes() const {
  uint64_t n = 0;
  for (const auto& [name, e] : weights_) n += e.buffer.size();
  return n;
}

uint64_t ModelBuffers::state_bytes() const {
  uint64_t n = 0;
  for (const auto& [name, e] : states_) n += e.buffer.size();
  return n;
}

}  // namespace vkllm::runtime
