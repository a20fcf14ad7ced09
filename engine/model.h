// A model ready to run on a device: its checkpoint, family description, the forward graph compiled
// for a prefill bound and a decode bound, and the device buffers (weights uploaded once, the KV cache)
// both executors share. `step` runs one forward pass over rows from one or more sequences.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/kv_cache.h"
#include "frontends/checkpoint/checkpoint.h"
#include "frontends/model/lower.h"
#include "frontends/model/model_spec.h"
#include "ir/host_tensor.h"

namespace vkllm::runtime {
class Device;
class GraphExecutor;
class ModelBuffers;
}  // namespace vkllm::runtime

namespace vkllm::engine {

struct ModelOptions {
  std::string device;              // device selector ("" = best)
  int64_t max_context = 4096;      // positions one sequence may hold
  int64_t max_sequences = 4;       // sequences in flight (block-table rows)
  int64_t cache_tokens = 0;        // KV cache capacity in positions; 0: max_context * max_sequences
  int64_t block_size = 16;
  int64_t prefill_chunk = 256;     // rows of the prefill graph
  int64_t max_decode_rows = 4;     // rows of the decode graph (continuous batching width)
  ir::DType kv_dtype = ir::DType::F16;
};

// One row of a step: a token of a sequence at a position.
struct StepRow {
  int32_t token;
  int32_t pos;
  int32_t slot;        // KV cache slot (SequenceCache::append)
  int32_t seq_row;     // the sequence's row in the step's block table
};

struct StepResult {
  std::vector<int32_t> next_tokens;  // greedy choice for each wanted row
  ir::HostTensor logits;             // [wanted rows, vocab] when asked for
};

class Model {
 public:
  // Reads the checkpoint, lowers and compiles the graphs, uploads the weights. Throws with a message
  // naming the file/field/tensor on a bad checkpoint.
  static std::unique_ptr<Model> load(const std::filesystem::path& dir, const ModelOptions& options);
  ~Model();

  const frontends::ModelSpec& spec() const { return spec_; }
  const frontends::CacheLayout& cache_layout() const { return layout_; }
  const ModelOptions& options() const { return options_; }
  const frontends::Checkpoint& checkpoint() const { return checkpoint_; }
  runtime::Device& device() { return *device_; }
  BlockPool& blocks() { return *blocks_; }

  // One forward pass. `sequences[i]` supplies block-table row i; `wanted` lists the row indices
  // (into `rows`) whose next token (and logits, if `with_logits`) are returned, in that order.
  StepResult step(std::span<const StepRow> rows, std::span<const SequenceCache* const> sequences,
                  std::span<const int32_t> wanted, bool with_logits);

 private:
  Model() = default;
  runtime::GraphExecutor& executor_for(size_t rows, bool with_logits);

  ModelOptions options_;
  frontends::Checkpoint checkpoint_;
  frontends::ModelSpec spec_;
  frontends::CacheLayout layout_;
  std::unique_ptr<runtime::Device> device_;
  std::unique_ptr<runtime::ModelBuffers> buffers_;
  // [prefill, decode] x [tokens only, with logits]
  std::unique_ptr<runtime::GraphExecutor> executors_[2][2];
  std::unique_ptr<BlockPool> blocks_;
  std::vector<int32_t> block_table_;  // host copy, max_sequences x max_blocks
};

}  // namespace vkllm::engine
