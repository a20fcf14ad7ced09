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

// The forward graphs a Model runs: [prefill | decode] x [tokens only | with logits]. Prefill graphs
// take up to options.prefill_chunk rows, decode graphs up to options.max_decode_rows.
std::string forward_graph_name(bool decode, bool with_logits);  // "prefill", "decode_logits", ...

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

// The largest value each symbol of a forward graph takes: its rows, up to options.prefill_chunk or
// options.max_decode_rows. Passes (split-decode-attention) and codegen specialize on them.
std::map<std::string, int64_t> forward_max_symbols(const ModelOptions& options, bool decode);

// The three steps of compiling a forward graph: lowering (frontends), forward_passes() with the
// graph's forward_max_symbols (`after_pass` sees the module after each: vkllm inspect --dump-after),
// codegen for `caps` with the same bounds.
ir::Graph lower_forward_graph(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                              const frontends::CacheLayout& layout, bool decode, bool with_logits);
ir::Graph run_forward_passes(ir::Graph lowered, const std::map<std::string, int64_t>& max_symbols,
                             const std::function<void(std::string_view pass, const ir::Module&)>& after_pass = {});
codegen::CompiledGraph codegen_forward_graph(const ir::Graph& g, const ModelOptions& options,
                                             const codegen::TargetCaps& caps, bool decode);
// All three.
codegen::CompiledGraph compile_forward_graph(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                                             const frontends::CacheLayout& layout, const ModelOptions& options,
                                             const codegen::TargetCaps& caps, bool decode, bool with_logits);

// Everything `vkllm compile` computes for a model, weights aside (they stay in the source).
struct CompiledModel {
  ModelOptions options;
  frontends::ModelSpec spec;
  frontends::CacheLayout layout;
  codegen::TargetCaps target;
  std::vector<codegen::CompiledGraph> graphs;  // the four forward graphs, named by forward_graph_name
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
