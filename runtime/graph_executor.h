// Runs a compiled graph on a Vulkan device. Construction allocates every buffer at the maximum
// symbol values, uploads the weights once and records the dispatch sequence into a command buffer
// once; run() then only writes the step parameters (symbol values, indirect dispatch sizes, inputs),
// submits and waits. Nothing is allocated or recorded per step.
#pragma once
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "codegen/compile_graph.h"
#include "ir/host_tensor.h"
#include "ir/reference.h"

namespace vkllm::runtime {

class Device;
class ModelBuffers;

struct KernelTiming {
  std::string kernel;   // kernel name
  int op_index;
  double microseconds;  // GPU time from timestamps
};

struct ExecutorOptions {
  // Dispatches per command buffer: longer graphs are split into several submissions, in order, so
  // no single one runs long enough to trip a driver watchdog.
  size_t dispatches_per_submission = 256;
  // run() gives up (RuntimeError) when the GPU has not finished after this long.
  double timeout_seconds = 300;
};

class GraphExecutor {
 public:
  // `max_symbols` bounds every symbol (sizes buffers); `weights` supplies each weight op's data.
  // Weights and states live in `shared` when given (so several graphs of one model share them),
  // else in buffers private to this executor.
  GraphExecutor(Device& device, codegen::CompiledGraph graph, const ir::SymbolBindings& max_symbols,
                const ir::WeightFn& weights, const ExecutorOptions& options = {}, ModelBuffers* shared = nullptr);
  ~GraphExecutor();
  GraphExecutor(const GraphExecutor&) = delete;
  GraphExecutor& operator=(const GraphExecutor&) = delete;

  // Data of graph input `name` for the next run, in the input's dtype, sized for the symbols of that run.
  void set_input(std::string_view name, const void* data, size_t bytes);
  // Fills every buffer but weights and states with a 32-bit pattern (tests poison outputs with NaN
  // before a run).
  void fill_activations(uint32_t pattern);
  // Binds symbols (each <= its max), writes step parameters, submits the recorded work and waits.
  void run(const ir::SymbolBindings& symbols);
  // Graph output `name` (a value name listed in graph outputs) from the last run, as a host tensor.
  ir::HostTensor read_output(std::string_view name) const;
  // The same into a caller-owned buffer, allocating nothing (the per-step path); returns the bytes
  // written: the output's size under the last run's symbols. Throws when `out` is smaller.
  size_t read_output(std::string_view name, std::span<std::byte> out) const;
  // Dtype and bytes of output `name` under the last run's symbols (to size a read_output buffer).
  ir::DType output_dtype(std::string_view name) const;
  size_t output_bytes(std::string_view name) const;
  // Per-dispatch GPU times of the last run; empty unless profiling was enabled.
  void set_profiling(bool on);
  std::vector<KernelTiming> last_timings() const;

  const codegen::CompiledGraph& graph() const;
  // Command buffers recorded so far (construction, plus the profiling variant once enabled); a
  // run never records, so this stays constant across steps.
  size_t record_count() const;
  // Command buffers (submissions) one run uses.
  size_t submissions_per_run() const;
  // Execution barriers between the dispatches of one run (not counting the barriers around the input
  // uploads and output readbacks): a barrier goes only before a dispatch that touches a buffer an
  // earlier dispatch since the last barrier wrote, or writes one it read. Profiling records a barrier
  // after every dispatch instead, so that each kernel's timestamps are its own.
  size_t barriers_per_run() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkllm::runtime
