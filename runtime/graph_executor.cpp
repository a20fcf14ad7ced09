#include "runtime/graph_executor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <tuple>

#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/handle.h"
#include "runtime/model_buffers.h"
#include "runtime/pipeline.h"

namespace vkllm::runtime {
namespace {

using ir::ValueId;

constexpr uint64_t kIndirectCommandBytes = sizeof(VkDispatchIndirectCommand);

// Bytes of value `v` when its symbols are bound as `symbols`.
uint64_t value_bytes(const ir::Graph& g, ValueId v, const ir::SymbolBindings& symbols) {
  const ir::Type& t = g.type(v);
  return static_cast<uint64_t>(ir::storage_bytes(t.dtype, ir::num_elements(t.shape, symbols)));
}

void barrier(VkCommandBuffer cmd, VkPipelineStageFlags src_stage, VkAccessFlags src_access,
             VkPipelineStageFlags dst_stage, VkAccessFlags dst_access) {
  VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  b.srcAccessMask = src_access;
  b.dstAccessMask = dst_access;
  vkCmdPipelineBarrier(cmd, src_stage, dst_stage, 0, 1, &b, 0, nullptr, 0, nullptr);
}

std::string names_of(const ir::Graph& g, const std::vector<ValueId>& values) {
  std::vector<std::string> names;
  for (ValueId v : values) names.push_back("'" + g.value(v).name + "'");
  return names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "));
}

std::string bindings_text(const ir::SymbolBindings& symbols) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : symbols) parts.push_back(fmt::format("{}={}", name, value));
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace

struct GraphExecutor::Impl {
  struct Input {
    ValueId value;
    Buffer staging;
    std::optional<uint64_t> set_bytes;  // size of the data last given to set_input
  };
  struct Output {
    ValueId value;
    Buffer readback;
  };
  struct CommandSet {
    std::vector<VkCommandBuffer> segments;
  };

  Impl(Device& d, codegen::CompiledGraph g, const ExecutorOptions& o) : device(d), graph(std::move(g)), options(o) {}

  Device& device;
  codegen::CompiledGraph graph;
  ExecutorOptions options;
  ir::SymbolBindings max_symbols;
  // The symbols of the last completed run: one entry per graph symbol, made at construction and
  // overwritten in place by each run (through last_value_of_slot), so a run allocates nothing.
  ir::SymbolBindings last_symbols;
  std::vector<int64_t*> last_value_of_slot;  // by graph.symbols slot: its entry in last_symbols
  bool has_run = false;
  std::string run_label;  // "graph @name", for errors of a run (made once: run() must not allocate)

  std::unique_ptr<ModelBuffers> own_model_buffers;  // when no shared ones were given
  ModelBuffers* model_buffers = nullptr;            // weights and states
  std::vector<Buffer> storage;       // by storage-owning value: buffers private to this graph
  std::vector<const Buffer*> bound;  // by storage-owning value: its buffer (private or shared); null if unused
  std::vector<bool> shared_storage;  // by value: the owner is a weight or a state
  Buffer params;                     // uint32 per symbol, slot order of graph.symbols
  Buffer indirect;                   // one VkDispatchIndirectCommand per dispatch
  std::vector<Input> inputs;
  std::vector<Output> outputs;
  std::vector<std::unique_ptr<Pipeline>> pipelines;
  std::vector<size_t> pipeline_of_dispatch;

  CommandPool pool;
  Fence fence;
  CommandSet plain, profiled;
  QueryPool queries;
  size_t records = 0;
  bool profiling = false;
  std::vector<KernelTiming> timings;

  ValueId owner(ValueId v) const { return graph.storage_of.at(static_cast<size_t>(v)); }
  const Buffer& buffer_of(ValueId v) const { return *bound.at(static_cast<size_t>(owner(v))); }

  // By dispatch: whether a barrier must precede it (see barriers_per_run in the header).
  std::vector<bool> barrier_before;

  void validate_graph();
  void plan_barriers();
  void allocate(const ir::WeightFn& weights);
  void create_pipelines();
  CommandSet record(bool with_timestamps);
  void write_step_parameters(const ir::SymbolBindings& symbols);
  void read_timings();
  // Output `name`, after a run (errors name the graph and its outputs).
  const Output& ran_output(std::string_view name) const;
};

void GraphExecutor::Impl::validate_graph() {
  const ir::Graph& g = graph.graph;
  auto fail = [&](const std::string& what) {
    throw RuntimeError(fmt::format("graph @{} cannot be executed: {}", g.name, what));
  };
  if (graph.storage_of.size() != g.values.size())
    fail(fmt::format("storage_of has {} entries for {} values", graph.storage_of.size(), g.values.size()));
  for (size_t v = 0; v < g.values.size(); ++v) {
    const ValueId o = graph.storage_of[v];
    if (o < 0 || static_cast<size_t>(o) >= g.values.size() || graph.storage_of[static_cast<size_t>(o)] != o)
      fail(
          fmt::format("value '{}' has storage owner {}, which is not a value owning its storage", g.values[v].name, o));
  }
  for (size_t d = 0; d < graph.dispatches.size(); ++d) {
    const codegen::Dispatch& dispatch = graph.dispatches[d];
    if (dispatch.kernel.args.size() != dispatch.args.size() + 1)
      fail(
          fmt::format("dispatch {} (kernel '{}') binds {} values to a kernel of {} arguments (argument 0 is the "
                      "step parameters)",
                      d, dispatch.kernel.name, dispatch.args.size(), dispatch.kernel.args.size()));
    for (ValueId v : dispatch.args)
      if (v < 0 || static_cast<size_t>(v) >= g.values.size())
        fail(fmt::format("dispatch {} (kernel '{}') binds value id {}, which does not exist", d, dispatch.kernel.name,
                         v));
    for (const codegen::GridDim& dim : dispatch.kernel.grid) {
      if (dim.factor < 0 || dim.divisor <= 0)
        fail(fmt::format("kernel '{}' has a grid dimension with factor {} and divisor {}", dispatch.kernel.name,
                         dim.factor, dim.divisor));
      for (const std::string& s : dim.symbols)
        if (std::find(graph.symbols.begin(), graph.symbols.end(), s) == graph.symbols.end())
          fail(fmt::format("kernel '{}' sizes its grid by symbol '{}', which is not a graph symbol",
                           dispatch.kernel.name, s));
    }
  }
  for (const std::string& s : graph.symbols) {
    auto it = max_symbols.find(s);
    if (it == max_symbols.end())
      fail(fmt::format("symbol '{}' has no maximum (max_symbols binds: {})", s, bindings_text(max_symbols)));
    if (it->second < 0 || it->second > 0xffffffffll)
      fail(fmt::format("the maximum of symbol '{}' is {}, outside the 32-bit step-parameter range", s, it->second));
    // Kernels specialized for a bound (codegen::compile_graph's max_symbols) cannot run past it.
    auto compiled = graph.max_symbols.find(s);
    if (compiled != graph.max_symbols.end() && it->second > compiled->second)
      fail(fmt::format("symbol '{}' may reach {}, but the graph was compiled for at most {}", s, it->second,
                       compiled->second));
  }
}

void GraphExecutor::Impl::allocate(const ir::WeightFn& weights) {
  const ir::Graph& g = graph.graph;
  Allocator& allocator = device.allocator();

  // Values that need memory: everything a dispatch binds, graph inputs and outputs, weights.
  std::set<ValueId> used(g.inputs.begin(), g.inputs.end());
  used.insert(g.outputs.begin(), g.outputs.end());
  for (const codegen::Dispatch& d : graph.dispatches) used.insert(d.args.begin(), d.args.end());
  shared_storage.assign(g.values.size(), false);
  for (const ir::Op& op : g.ops)
    if (op.kind == ir::OpKind::Weight || op.kind == ir::OpKind::State) {
      used.insert(op.results[0]);
      shared_storage[static_cast<size_t>(owner(op.results[0]))] = true;
    }

  // A storage owner is sized for the largest value sharing it, at the maximum symbols.
  std::map<ValueId, uint64_t> owner_bytes;
  for (ValueId v : used) {
    uint64_t& b = owner_bytes[owner(v)];
    b = std::max(b, value_bytes(g, v, max_symbols));
  }
  storage.resize(g.values.size());
  bound.assign(g.values.size(), nullptr);
  for (const auto& [o, b] : owner_bytes) {
    if (shared_storage[static_cast<size_t>(o)]) continue;
    storage[static_cast<size_t>(o)] = allocator.create(std::max<uint64_t>(4, (b + 3) / 4 * 4), MemoryKind::DeviceLocal,
                                                       fmt::format("value '{}' of graph @{}", g.value(o).name, g.name));
    bound[static_cast<size_t>(o)] = &storage[static_cast<size_t>(o)];
  }
  for (const ir::Op& op : g.ops) {
    if (op.kind != ir::OpKind::Weight && op.kind != ir::OpKind::State) continue;
    const ValueId v = op.results[0];
    const std::string name = op.attr_str("name");
    try {
      bound[static_cast<size_t>(owner(v))] = op.kind == ir::OpKind::Weight
                                                 ? &model_buffers->weight(name, g.type(v), weights)
                                                 : &model_buffers->state(name, g.type(v));
    } catch (const RuntimeError& e) {
      throw RuntimeError(fmt::format("graph @{}: {}", g.name, e.what()));
    }
  }
  // The weights were uploaded in batches: all of them are on the device from here on.
  model_buffers->finish_uploads();

  params = allocator.create(4 * std::max<size_t>(1, graph.symbols.size()), MemoryKind::HostUpload,
                            fmt::format("the step parameters of graph @{}", g.name));
  std::memset(params.mapped(), 0, params.size());
  indirect = allocator.create(kIndirectCommandBytes * std::max<size_t>(1, graph.dispatches.size()),
                              MemoryKind::HostUpload, fmt::format("the dispatch sizes of graph @{}", g.name));
  std::memset(indirect.mapped(), 0, indirect.size());
  for (ValueId v : g.inputs) {
    Input in{v,
             allocator.create(buffer_of(v).size(), MemoryKind::HostUpload,
                              fmt::format("the staging of input '{}' of graph @{}", g.value(v).name, g.name)),
             std::nullopt};
    inputs.push_back(std::move(in));
  }
  for (ValueId v : g.outputs) {
    Output out{v, allocator.create(buffer_of(v).size(), MemoryKind::HostReadback,
                                   fmt::format("the readback of output '{}' of graph @{}", g.value(v).name, g.name))};
    outputs.push_back(std::move(out));
  }
}

void GraphExecutor::Impl::create_pipelines() {
  // Identical kernels (the same op in every layer) share one pipeline.
  using Key = std::tuple<std::vector<uint32_t>, std::array<uint32_t, 3>, size_t, uint32_t>;
  std::map<Key, size_t> index_of;
  for (const codegen::Dispatch& d : graph.dispatches) {
    const codegen::Kernel& k = d.kernel;
    Key key{k.spirv, k.local_size, k.args.size(), k.required_subgroup_size};
    auto it = index_of.find(key);
    if (it == index_of.end()) {
      pipelines.push_back(std::make_unique<Pipeline>(device, k));
      it = index_of.emplace(std::move(key), pipelines.size() - 1).first;
    }
    pipeline_of_dispatch.push_back(it->second);
  }
}

// Hazards between dispatches, by buffer: a dispatch reads every buffer it binds and writes those of
// its op's results (in-place results own their operand's buffer, storage_of). Dispatches between two
// barriers run concurrently, so a barrier is needed before one that reads or writes a buffer written
// since the last barrier (read/write-after-write) or writes one read since then (write-after-read).
// Values own distinct buffers, except weights and states that ModelBuffers shares by name: comparing
// buffer addresses covers both.
void GraphExecutor::Impl::plan_barriers() {
  const ir::Graph& g = graph.graph;
  barrier_before.assign(graph.dispatches.size(), false);
  std::set<const Buffer*> read, written;
  std::vector<const Buffer*> writes;
  for (size_t d = 0; d < graph.dispatches.size(); ++d) {
    const codegen::Dispatch& dispatch = graph.dispatches[d];
    writes.clear();
    if (dispatch.op_index >= 0)
      for (ValueId r : g.ops.at(static_cast<size_t>(dispatch.op_index)).results) writes.push_back(&buffer_of(r));
    else  // no op to say what it writes: every buffer it binds
      for (ValueId v : dispatch.args) writes.push_back(&buffer_of(v));
    bool hazard = false;
    for (ValueId v : dispatch.args) hazard = hazard || written.count(&buffer_of(v));
    for (const Buffer* w : writes) hazard = hazard || written.count(w) || read.count(w);
    if (hazard) {
      barrier_before[d] = true;
      read.clear();
      written.clear();
    }
    for (ValueId v : dispatch.args) read.insert(&buffer_of(v));
    written.insert(writes.begin(), writes.end());
  }
}

GraphExecutor::Impl::CommandSet GraphExecutor::Impl::record(bool with_timestamps) {
  const size_t n = graph.dispatches.size();
  const size_t budget = options.dispatches_per_submission;
  const size_t segment_count = n == 0 ? 1 : (n + budget - 1) / budget;
  constexpr VkPipelineStageFlags kWork = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  constexpr VkAccessFlags kWrites = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  constexpr VkAccessFlags kAccesses = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                      VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;

  CommandSet set;
  for (size_t s = 0; s < segment_count; ++s) {
    VkCommandBufferAllocateInfo alloc{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    alloc.commandPool = pool.get();
    alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    alloc.commandBufferCount = 1;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    check_vk(vkAllocateCommandBuffers(device.handle(), &alloc, &cmd), "vkAllocateCommandBuffers");
    set.segments.push_back(cmd);
    VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    check_vk(vkBeginCommandBuffer(cmd, &begin), "vkBeginCommandBuffer");

    const size_t first = s * budget, last = std::min(n, first + budget);
    if (with_timestamps && last > first)
      vkCmdResetQueryPool(cmd, queries.get(), static_cast<uint32_t>(2 * first),
                          static_cast<uint32_t>(2 * (last - first)));
    // Everything earlier in submission order (the previous segment or run, one-off uploads and fills)
    // completes and is visible before this segment touches memory.
    barrier(cmd, kWork, kWrites, kWork, kAccesses);
    if (s == 0) {
      for (const Input& in : inputs) {
        const VkBufferCopy copy{0, 0, in.staging.size()};
        vkCmdCopyBuffer(cmd, in.staging.handle(), buffer_of(in.value).handle(), 1, &copy);
      }
      barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, kWork, kAccesses);
    }
    std::vector<VkDeviceAddress> push;
    for (size_t d = first; d < last; ++d) {
      const codegen::Dispatch& dispatch = graph.dispatches[d];
      const Pipeline& pipeline = *pipelines[pipeline_of_dispatch[d]];
      if (d > first && (with_timestamps || barrier_before[d]))
        barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
      push.assign(1, params.address());
      for (ValueId v : dispatch.args) push.push_back(buffer_of(v).address());
      vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.handle());
      vkCmdPushConstants(cmd, pipeline.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, pipeline.push_constant_bytes(),
                         push.data());
      if (with_timestamps)
        vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries.get(), static_cast<uint32_t>(2 * d));
      vkCmdDispatchIndirect(cmd, indirect.handle(), kIndirectCommandBytes * d);
      if (with_timestamps)
        vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries.get(), static_cast<uint32_t>(2 * d + 1));
    }
    if (s + 1 == segment_count) {
      barrier(cmd, kWork, kWrites, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
      for (const Output& out : outputs) {
        const VkBufferCopy copy{0, 0, out.readback.size()};
        vkCmdCopyBuffer(cmd, buffer_of(out.value).handle(), out.readback.handle(), 1, &copy);
      }
      barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
              VK_ACCESS_HOST_READ_BIT);
    }
    check_vk(vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
    ++records;
  }
  return set;
}

void GraphExecutor::Impl::write_step_parameters(const ir::SymbolBindings& symbols) {
  const ir::Graph& g = graph.graph;
  auto* slots = static_cast<uint32_t*>(params.mapped());
  for (size_t i = 0; i < graph.symbols.size(); ++i) {
    const std::string& s = graph.symbols[i];
    auto it = symbols.find(s);
    if (it == symbols.end())
      throw RuntimeError(
          fmt::format("graph @{}: symbol '{}' is not bound (bound: {})", g.name, s, bindings_text(symbols)));
    const int64_t max = max_symbols.at(s);
    if (it->second < 0 || it->second > max)
      throw RuntimeError(
          fmt::format("graph @{}: symbol {}={} is outside [0, {}], the maximum its buffers were sized for", g.name, s,
                      it->second, max));
    slots[i] = static_cast<uint32_t>(it->second);
    *last_value_of_slot[i] = it->second;
  }
  const DeviceInfo& info = device.info();
  auto* commands = static_cast<VkDispatchIndirectCommand*>(indirect.mapped());
  for (size_t d = 0; d < graph.dispatches.size(); ++d) {
    const codegen::Kernel& k = graph.dispatches[d].kernel;
    uint32_t counts[3];
    for (size_t axis = 0; axis < 3; ++axis) {
      const int64_t groups = k.grid[axis].groups(symbols);
      if (groups < 0 || groups > info.max_workgroup_count[axis])
        throw RuntimeError(
            fmt::format("graph @{}: kernel '{}' needs {} workgroups along axis {} for {}; the device "
                        "allows {}",
                        g.name, k.name, groups, axis, bindings_text(symbols), info.max_workgroup_count[axis]));
      counts[axis] = static_cast<uint32_t>(groups);
    }
    commands[d] = {counts[0], counts[1], counts[2]};
  }
  for (const Input& in : inputs) {
    const std::string& name = g.value(in.value).name;
    const uint64_t expected = value_bytes(g, in.value, symbols);
    if (!in.set_bytes) throw RuntimeError(fmt::format("graph @{}: input '{}' was never set (set_input)", g.name, name));
    if (*in.set_bytes != expected)
      throw RuntimeError(fmt::format("graph @{}: input '{}' holds {} bytes but {} with {} needs {} bytes", g.name, name,
                                     *in.set_bytes, ir::to_string(g.type(in.value)), bindings_text(symbols), expected));
  }
}

void GraphExecutor::Impl::read_timings() {
  timings.clear();
  const size_t n = graph.dispatches.size();
  if (n == 0) return;
  std::vector<uint64_t> stamps(2 * n);
  check_vk(vkGetQueryPoolResults(device.handle(), queries.get(), 0, static_cast<uint32_t>(2 * n),
                                 stamps.size() * sizeof(uint64_t), stamps.data(), sizeof(uint64_t),
                                 VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
           "vkGetQueryPoolResults");
  const DeviceInfo& info = device.info();
  const uint64_t mask = info.timestamp_valid_bits >= 64 ? ~0ull : (1ull << info.timestamp_valid_bits) - 1;
  for (size_t d = 0; d < n; ++d) {
    const uint64_t ticks = (stamps[2 * d + 1] - stamps[2 * d]) & mask;
    timings.push_back({graph.dispatches[d].kernel.name, graph.dispatches[d].op_index,
                       static_cast<double>(ticks) * info.timestamp_period_ns / 1000.0});
  }
}

GraphExecutor::GraphExecutor(Device& device, codegen::CompiledGraph graph, const ir::SymbolBindings& max_symbols,
                             const ir::WeightFn& weights, const ExecutorOptions& options, ModelBuffers* shared)
    : impl_(std::make_unique<Impl>(device, std::move(graph), options)) {
  if (!shared) impl_->own_model_buffers = std::make_unique<ModelBuffers>(device);
  impl_->model_buffers = shared ? shared : impl_->own_model_buffers.get();
  if (options.dispatches_per_submission == 0)
    throw RuntimeError("GraphExecutor: dispatches_per_submission must be at least 1");
  if (!(options.timeout_seconds > 0)) throw RuntimeError("GraphExecutor: timeout_seconds must be positive");
  impl_->max_symbols = max_symbols;
  impl_->run_label = fmt::format("graph @{}", impl_->graph.graph.name);
  for (const std::string& s : impl_->graph.symbols)
    impl_->last_value_of_slot.push_back(&impl_->last_symbols.emplace(s, 0).first->second);
  impl_->validate_graph();
  impl_->allocate(weights);
  impl_->create_pipelines();
  impl_->pool = device.create_command_pool();
  impl_->fence = device.create_fence();
  impl_->plan_barriers();
  impl_->plain = impl_->record(false);
}

GraphExecutor::~GraphExecutor() {
  // Nothing of ours may still be in flight when the buffers and pipelines go away.
  vkQueueWaitIdle(impl_->device.queue());
}

void GraphExecutor::set_input(std::string_view name, const void* data, size_t bytes) {
  const ir::Graph& g = impl_->graph.graph;
  for (Impl::Input& in : impl_->inputs) {
    if (g.value(in.value).name != name) continue;
    if (bytes > in.staging.size())
      throw RuntimeError(fmt::format("graph @{}: input '{}' given {} bytes; at the maximum symbols ({}) it holds {}",
                                     g.name, name, bytes, bindings_text(impl_->max_symbols), in.staging.size()));
    if (bytes) std::memcpy(in.staging.mapped(), data, bytes);
    in.set_bytes = bytes;
    return;
  }
  throw RuntimeError(fmt::format("graph @{} has no input '{}' (inputs: {})", g.name, name, names_of(g, g.inputs)));
}

void GraphExecutor::fill_activations(uint32_t pattern) {
  Impl& im = *impl_;
  im.device.submit_and_wait([&](VkCommandBuffer cmd) {
    for (const Buffer& b : im.storage)
      if (b) vkCmdFillBuffer(cmd, b.handle(), 0, VK_WHOLE_SIZE, pattern);
  });
  // Results the host reads are poisoned too, so a run that failed to copy them cannot pass for one that did.
  for (Impl::Output& out : im.outputs) {
    auto* words = static_cast<uint32_t*>(out.readback.mapped());
    std::fill(words, words + out.readback.size() / 4, pattern);
  }
}

void GraphExecutor::run(const ir::SymbolBindings& symbols) {
  Impl& im = *impl_;
  im.has_run = false;
  im.write_step_parameters(symbols);
  const Impl::CommandSet& commands = im.profiling ? im.profiled : im.plain;
  im.device.submit(commands.segments, im.fence.get());
  im.device.wait(im.fence.get(), im.options.timeout_seconds, im.run_label);
  if (im.profiling) {
    im.read_timings();
  } else {
    im.timings.clear();
  }
  im.has_run = true;
}

const GraphExecutor::Impl::Output& GraphExecutor::Impl::ran_output(std::string_view name) const {
  const ir::Graph& g = graph.graph;
  for (const Output& out : outputs) {
    if (g.value(out.value).name != name) continue;
    if (!has_run) throw RuntimeError(fmt::format("graph @{}: output '{}' read before a successful run", g.name, name));
    return out;
  }
  throw RuntimeError(fmt::format("graph @{} has no output '{}' (outputs: {})", g.name, name, names_of(g, g.outputs)));
}

ir::HostTensor GraphExecutor::read_output(std::string_view name) const {
  const Impl& im = *impl_;
  const ir::Graph& g = im.graph.graph;
  const Impl::Output& out = im.ran_output(name);
  ir::HostTensor t;
  t.dtype = g.type(out.value).dtype;
  t.shape = ir::concrete_shape(g.type(out.value).shape, im.last_symbols);
  t.bytes.resize(value_bytes(g, out.value, im.last_symbols));
  if (!t.bytes.empty()) std::memcpy(t.bytes.data(), out.readback.mapped(), t.bytes.size());
  return t;
}

size_t GraphExecutor::read_output(std::string_view name, std::span<std::byte> out) const {
  const Impl& im = *impl_;
  const ir::Graph& g = im.graph.graph;
  const Impl::Output& o = im.ran_output(name);
  const uint64_t bytes = value_bytes(g, o.value, im.last_symbols);
  if (bytes > out.size())
    throw RuntimeError(fmt::format("graph @{}: output '{}' holds {} bytes; the buffer given for it holds {}", g.name,
                                   name, bytes, out.size()));
  if (bytes) std::memcpy(out.data(), o.readback.mapped(), bytes);
  return static_cast<size_t>(bytes);
}

ir::DType GraphExecutor::output_dtype(std::string_view name) const {
  return impl_->graph.graph.type(impl_->ran_output(name).value).dtype;
}

size_t GraphExecutor::output_bytes(std::string_view name) const {
  return static_cast<size_t>(value_bytes(impl_->graph.graph, impl_->ran_output(name).value, impl_->last_symbols));
}

void GraphExecutor::set_profiling(bool on) {
  Impl& im = *impl_;
  if (on && im.profiled.segments.empty()) {
    const DeviceInfo& info = im.device.info();
    if (info.timestamp_valid_bits == 0)
      throw RuntimeError(
          fmt::format("device '{}' has no timestamps on its compute queue: profiling is unavailable", info.name));
    VkQueryPoolCreateInfo query_info{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    query_info.queryType = VK_QUERY_TYPE_TIMESTAMP;
    query_info.queryCount = static_cast<uint32_t>(2 * std::max<size_t>(1, im.graph.dispatches.size()));
    VkQueryPool pool = VK_NULL_HANDLE;
    check_vk(vkCreateQueryPool(im.device.handle(), &query_info, nullptr, &pool), "vkCreateQueryPool");
    im.queries = QueryPool(im.device.handle(), pool);
    im.profiled = im.record(true);
  }
  im.profiling = on;
  if (!on) im.timings.clear();
}

std::vector<KernelTiming> GraphExecutor::last_timings() const { return impl_->timings; }

const codegen::CompiledGraph& GraphExecutor::graph() const { return impl_->graph; }

size_t GraphExecutor::record_count() const { return impl_->records; }

size_t GraphExecutor::submissions_per_run() const { return impl_->plain.segments.size(); }

size_t GraphExecutor::barriers_per_run() const {
  const size_t budget = impl_->options.dispatches_per_submission;
  size_t n = 0;
  for (size_t d = 0; d < impl_->barrier_before.size(); ++d) n += d % budget != 0 && impl_->barrier_before[d];
  return n;
}

}  // namespace vkllm::runtime
