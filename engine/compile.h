// Compiling a model: source → family description → forward graphs → passes → kernels. Shared by the
// two ways a model is run: Model::load(folder or GGUF) compiles in memory (kernels cached on disk by
// codegen), `vkllm compile` writes the result to a .vkm artifact (artifact/) that Model::load reads
// back without passes or codegen. Docs: docs/ARCHITECTURE.md "The compile / serve split".
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "artifact/artifact.h"
#include "codegen/compile_graph.h"
#include "codegen/target.h"
#include "engine/model.h"
#include "frontends/model/lower.h"
#include "frontends/model/model_spec.h"
#include "frontends/source/model_source.h"

namespace vkllm::engine {

// The passes run on every forward graph before codegen, in order.
const std::vector<std::string>& forward_passes();

// One forward graph a model is compiled into. Every graph is the same lowering (with or without the
// logits output); what differs is the row bound passes and codegen specialize on (e.g. the matvec's
// activation rows per workgroup, the split-decode-attention split count), so a step runs the graph
// with the smallest bound that holds its rows (Model::step).
struct ForwardGraph {
  enum class Kind { Prefill, Decode, Verify };
  Kind kind = Kind::Prefill;
  bool with_logits = false;  // Verify graphs always have the logits output
  int64_t max_rows = 0;      // the rows (and wanted rows) a step of this graph may have
  int64_t spec_depth = 0;    // Verify: drafted tokens per sequence
};
// The one naming function: "prefill", "prefill_logits", "decode_b2", "decode_logits_b2", "verify_d3".
std::string forward_graph_name(const ForwardGraph& g);

// The decode row bounds compiled: options.decode_row_bounds, or by default 1, 2, 4, ... below
// max_decode_rows; max_decode_rows is always one. Ascending, distinct. Throws std::invalid_argument
// for a bound outside 1..max_decode_rows.
std::vector<int64_t> decode_row_bounds(const ModelOptions& options);
// The rows of the verify graph of speculative depth `depth`: each of max_sequences sequences runs its
// last accepted token and `depth` drafted tokens in one step (Model::step's verify form).
int64_t verify_max_rows(const ModelOptions& options, int64_t depth);
// Every graph a model compiles for `options`, in this order: prefill, prefill_logits, then per
// decode bound (ascending) decode and decode_logits, then a verify graph per speculative depth
// (ascending). Throws std::invalid_argument for bad bounds or depths.
std::vector<ForwardGraph> forward_graphs(const ModelOptions& options);

// The KV cache and recurrent-state layout `options` imply. Throws std::invalid_argument naming the
// option out of range.
frontends::CacheLayout cache_layout_for(const ModelOptions& options);

// Opens a model (HF or MLX folder, GGUF file), describes it and applies options.weight_quant; the
// source also serves the tensors the spec derives from stored ones (frontends::with_derived_tensors).
struct OpenedModel {
  std::unique_ptr<frontends::ModelSource> source;
  frontends::ModelSpec spec;
};
OpenedModel open_model(const std::filesystem::path& path, const ModelOptions& options);

// The largest value each symbol of a forward graph takes: its rows (and wanted rows), up to
// `max_rows`. Passes (split-decode-attention, the prologue fusions) and codegen specialize on them.
std::map<std::string, int64_t> forward_max_symbols(int64_t max_rows);
// The same for the prefill graph (options.prefill_chunk) or the widest decode graph
// (options.max_decode_rows).
std::map<std::string, int64_t> forward_max_symbols(const ModelOptions& options, bool decode);

// The three steps of compiling a forward graph: lowering (frontends), forward_passes() with the
// graph's forward_max_symbols (`after_pass` sees the module after each: vkllm inspect --dump-after),
// codegen for `caps` with the same bounds.
ir::Graph lower_forward_graph(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                              const frontends::CacheLayout& layout, const ForwardGraph& graph);
// The same lowering named "prefill[_logits]" or "decode[_logits]" (tests of the passes).
ir::Graph lower_forward_graph(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                              const frontends::CacheLayout& layout, bool decode, bool with_logits);
ir::Graph run_forward_passes(ir::Graph lowered, const std::map<std::string, int64_t>& max_symbols,
                             const std::function<void(std::string_view pass, const ir::Module&)>& after_pass = {});
codegen::CompiledGraph codegen_forward_graph(const ir::Graph& g, const codegen::TargetCaps& caps,
                                             const ForwardGraph& graph);
// All three.
codegen::CompiledGraph compile_forward_graph(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                                             const frontends::CacheLayout& layout, const codegen::TargetCaps& caps,
                                             const ForwardGraph& graph);

// Everything `vkllm compile` computes for a model, weights aside (they stay in the source).
struct CompiledModel {
  ModelOptions options;
  frontends::ModelSpec spec;
  frontends::CacheLayout layout;
  codegen::TargetCaps target;
  std::vector<codegen::CompiledGraph> graphs;  // forward_graphs(options), named by forward_graph_name
  std::map<std::string, std::string> lowered_ir;  // each graph as lowered, before the passes (text form)
};
// `stage` is called before each step ("lowering and compiling decode_logits", ...).
using StageFn = std::function<void(const std::string& stage)>;
CompiledModel compile_model(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                            const ModelOptions& options, const codegen::TargetCaps& caps, const StageFn& stage = {});

// Writes `compiled` with the weights of `source` (read, and repacked or quantized, one at a time) and
// the model's config, generation config, tokenizer and chat template (from `model_path`).
void write_model_artifact(const std::filesystem::path& out, const std::filesystem::path& model_path,
                          const frontends::ModelSource& source, const CompiledModel& compiled,
                          const artifact::ProgressFn& progress = {});

// ModelOptions as stored in an artifact (every field but `device`), and back.
nlohmann::json options_to_json(const ModelOptions& options);
ModelOptions options_from_json(const nlohmann::json& j);  // throws artifact::ArtifactError on bad fields

}  // namespace vkllm::engine
