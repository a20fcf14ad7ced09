// A model ready to run on a device: its checkpoint, family description, the forward graph compiled
// for several row bounds (prefill, decode per batch size, verify per speculative depth), and the
// device buffers (weights uploaded once, the KV cache) all executors share. `step` runs one forward
// pass over rows from one or more sequences.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/kv_cache.h"
#include "engine/sampling.h"
#include "frontends/checkpoint/checkpoint.h"
#include "frontends/source/model_source.h"
#include "frontends/model/lower.h"
#include "frontends/model/model_spec.h"
#include "ir/host_tensor.h"
#include "ir/reference.h"

namespace vkllm::runtime {
class Device;
class GraphExecutor;
struct KernelTiming;
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
  int64_t max_decode_rows = 4;     // rows of the widest decode graph (continuous batching width)
  // Row bounds of the decode graphs (engine::decode_row_bounds): a step runs the graph with the
  // smallest bound that holds its rows, whose kernels are specialized for that few. Empty: 1, 2, 4,
  // ... below max_decode_rows; max_decode_rows is always compiled.
  std::vector<int64_t> decode_row_bounds;
  // Speculative depths to compile a verify graph for (logits for every row; rows up to
  // max_sequences * (depth + 1)). Empty: none (a verify step then runs a decode or prefill graph).
  std::vector<int64_t> spec_depths;
  ir::DType kv_dtype = ir::DType::F16;
  // Recurrent-state slots beyond one per sequence (models with Gated DeltaNet layers): scratch slots
  // a speculative verify step writes the state after each drafted token into.
  int64_t spare_state_slots = 0;
  int64_t sampling_history = 64;   // recent tokens the repetition penalties see (llama.cpp's repeat_last_n)
  // Load-time weight quantization (frontends::parse_weight_quant: "q4", "q8", a kernel format; "" keeps).
  std::string weight_quant;
};

// One row of a step: a token of a sequence at a position.
struct StepRow {
  int32_t token;
  int32_t pos;
  int32_t slot;        // KV cache slot (SequenceCache::append)
  int32_t seq_row;     // the sequence's row in the step's block table
};

// How one wanted row's next token is chosen (the forward graph's `sample` op).
struct RowSampling {
  SamplingParams params;              // default: greedy
  std::span<const int32_t> context;   // the sequence so far (prompt + generated); penalties see its last
                                      // ModelOptions::sampling_history tokens
  int64_t token_index = 0;            // which generated token this is (0: the first); with the seed it
                                      // selects the noise (draw_key)
};

// What a step chose. It lives in buffers the Model sized at load and reuses, so a step allocates
// nothing: valid until the model's next step (copy what must outlive it).
struct StepResult {
  std::span<const int32_t> next_tokens;  // the chosen token of each wanted row
  std::span<const float> next_scores;    // its log-probability under the row's sampling (ir/README.md "sample")
  ir::HostTensor logits;                 // [wanted rows, vocab] when asked for, else empty
};

class Model {
 public:
  // Reads the model (an HF or MLX folder, or a .gguf file), lowers and compiles the graphs, uploads the weights. Throws with a message
  // naming the file/field/tensor on a bad checkpoint. A .vkm artifact (`vkllm compile`) brings its
  // compiled graphs and weights: nothing is lowered or compiled, `options` other than `device` are
  // the artifact's, and a device lacking a feature its target assumed is an error naming it.
  static std::unique_ptr<Model> load(const std::filesystem::path& dir, const ModelOptions& options);
  ~Model();

  const frontends::ModelSpec& spec() const { return spec_; }
  const frontends::CacheLayout& cache_layout() const { return layout_; }
  const ModelOptions& options() const { return options_; }
  // Where config and weights come from (HF folder, MLX folder or GGUF file; kernel formats).
  const frontends::ModelSource& source() const { return *source_; }
  // The HF folder behind the model; throws std::logic_error for a model loaded from a GGUF file.
  const frontends::Checkpoint& checkpoint() const;
  runtime::Device& device() { return *device_; }
  BlockPool& blocks() { return *blocks_; }

  // One forward pass. `sequences[i]` supplies block-table row i; `wanted` lists the row indices
  // (into `rows`) whose next token (and logits, if `with_logits`) are returned, in that order.
  // `sampling[i]` says how wanted row i's token is chosen; empty: greedy for every row.
  // A step runs the graph with the smallest row bound holding its rows (engine::forward_graphs: a
  // decode graph per batch size; a verify of d drafts per sequence fits the verify graph of depth d),
  // one with the logits output if `with_logits`. Once that graph's executor exists (first use, or
  // prepare_graphs), a step allocates no host memory.
  const StepResult& step(std::span<const StepRow> rows, std::span<const SequenceCache* const> sequences,
                  std::span<const int32_t> wanted, bool with_logits, std::span<const RowSampling> sampling = {});
  // The same with explicit recurrent-state slots per row (models with Gated DeltaNet layers; the
  // plain step derives them: a sequence's first row starts from its state slot, or from zeros at
  // position 0, and its last row stores into it). Row i starts from slot state_src[i] (-2: zeros,
  // -1: the state after row i-1) and stores its state into state_dst[i] when >= 0 (ir/README.md).
  // A speculative verify of k tokens of one sequence passes src = {seq.state_slot(), -1, ...} and
  // dst = k scratch slots (blocks().take_state_slot()); accepting j of them is
  // seq.exchange_state_slot(dst[j - 1]) (and truncating its KV): a state is chosen, never re-run or copied.
  const StepResult& step(std::span<const StepRow> rows, std::span<const SequenceCache* const> sequences,
                  std::span<const int32_t> wanted, bool with_logits, std::span<const int32_t> state_src,
                  std::span<const int32_t> state_dst, std::span<const RowSampling> sampling = {});
  // The current contents of persistent state `name` (e.g. "gdn_state.0"), for tests and debugging.
  ir::HostTensor read_state(const std::string& name);
  // The device buffers of weights and states (sizes, how the weights were uploaded).
  const runtime::ModelBuffers& buffers() const { return *buffers_; }

  // GPU time of every dispatch of the last step (timestamp queries; `vkllm bench --profile`).
  // Profiling records a second command buffer per graph once; steps stay allocation-free.
  void set_profiling(bool on);
  std::vector<runtime::KernelTiming> last_step_timings() const;
  // Barriers between the dispatches of the last step's graph when not profiling (0 before any step).
  size_t last_step_barriers() const;
  // Creates now the executor of every graph a step (with logits, if asked) may run, so that no later
  // step compiles or records one: a server's warm-up. Otherwise each is created on first use.
  void prepare_graphs(bool with_logits);
  // The compiled graph the last step ran (engine::forward_graph_name: "decode_b1", ...; "" before any).
  const std::string& last_step_graph() const;
  // Every graph this model may run (engine::forward_graphs), in the order a step considers them: by
  // row bound, the one without the logits output first.
  std::vector<std::string> graph_names() const;

 private:
  Model() = default;
  // The graph with the smallest row bound that holds `rows` and has the logits output if asked for
  // (at equal bounds one without logits output when none is asked), its executor created on first use.
  runtime::GraphExecutor& executor_for(size_t rows, bool with_logits);

  ModelOptions options_;
  std::unique_ptr<frontends::ModelSource> source_;
  frontends::ModelSpec spec_;
  frontends::CacheLayout layout_;
  std::unique_ptr<runtime::Device> device_;
  std::unique_ptr<runtime::ModelBuffers> buffers_;
  // The forward graphs (engine::forward_graphs) ordered by row bound, graphs without the logits
  // output first at equal bounds; executors_[i] runs variants_[i] once a step needed it.
  struct Variant {
    std::string name;
    int64_t max_rows;
    bool with_logits;
  };
  std::vector<Variant> variants_;
  std::vector<std::unique_ptr<runtime::GraphExecutor>> executors_;
  bool profiling_ = false;
  const runtime::GraphExecutor* last_executor_ = nullptr;
  const std::string* last_graph_name_ = nullptr;
  std::unique_ptr<BlockPool> blocks_;
  std::vector<int32_t> block_table_;  // host copy, max_sequences x max_blocks
  void fill_sampling_inputs(std::span<const RowSampling> sampling, size_t rows);
  // The sample op's inputs for the wanted rows, sized once for the largest step.
  std::vector<float> sample_params_;
  std::vector<int32_t> sample_rng_, sample_history_;
  std::vector<int32_t> state_src_, state_dst_;  // derived per step by the plain step()
  // Per-step host buffers, sized once at load for the largest step: the row inputs, the outputs
  // read back, which sequences a step has seen, and the step's symbol values (entries made once,
  // values written in place).
  std::vector<int32_t> row_tokens_, row_pos_, row_slots_, row_seq_;
  std::vector<int32_t> next_tokens_;
  std::vector<float> next_scores_;
  std::vector<char> sequence_seen_;
  ir::SymbolBindings step_symbols_;
  int64_t* rows_symbol_ = nullptr;
  int64_t* out_rows_symbol_ = nullptr;
  StepResult result_;
};

}  // namespace vkllm::engine
