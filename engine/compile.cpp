#include "engine/compile.h"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

#include "ir/text.h"
#include "passes/pass.h"

namespace vkllm::engine {
namespace {

std::optional<std::string> read_text_file(const std::filesystem::path& p) {
  if (!std::filesystem::is_regular_file(p)) return std::nullopt;
  std::ifstream f(p, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(f)), {});
  if (f.bad()) throw std::runtime_error(fmt::format("cannot read '{}'", p.string()));
  return s;
}

// tokenizer_config.json with the chat template the folder's other files define, the way
// ChatTemplate::from_model_dir picks it (chat_template.jinja, else chat_template.json, else the config's).
std::optional<std::string> tokenizer_config_with_template(const std::filesystem::path& dir) {
  std::optional<std::string> config = read_text_file(dir / "tokenizer_config.json");
  std::optional<std::string> chat_template = read_text_file(dir / "chat_template.jinja");
  if (!chat_template)
    if (std::optional<std::string> j = read_text_file(dir / "chat_template.json")) {
      const auto parsed = nlohmann::json::parse(*j);
      if (parsed.is_object() && parsed.contains("chat_template") && parsed["chat_template"].is_string())
        chat_template = parsed["chat_template"].get<std::string>();
    }
  if (!chat_template) return config;
  nlohmann::ordered_json c = config ? nlohmann::ordered_json::parse(*config) : nlohmann::ordered_json::object();
  c["chat_template"] = *chat_template;
  return c.dump(2);
}

}  // namespace

const std::vector<std::string>& forward_passes() {
  // Fusions (passes/README.md) before dce, which removes what they leave unused. The prologue
  // fusions (fuse-rms-norm-matmul, fuse-swiglu-matmul, fuse-geglu-matmul) stay out: measured on the
  // H200 they slow decode 114 -> 87 tok/s, since each weight row re-applies the prologue to x
  // (bench/results/2026-12-03-h200-fusion/). split-decode-attention acts on decode graphs only (by
  // their row bound, forward_max_symbols).
  static const std::vector<std::string> passes = {"dedupe-weights", "fuse-matmul-add", "split-decode-attention",
                                                  "dce"};
  return passes;
}

std::string forward_graph_name(bool decode, bool with_logits) {
  return fmt::format("{}{}", decode ? "decode" : "prefill", with_logits ? "_logits" : "");
}

frontends::CacheLayout cache_layout_for(const ModelOptions& options) {
  if (options.max_context <= 0 || options.block_size <= 0 || options.max_sequences <= 0 ||
      options.prefill_chunk <= 0 || options.max_decode_rows <= 0)
    throw std::invalid_argument("model options: context, block size, sequences and row counts must be positive");
  if (options.sampling_history < 1)
    throw std::invalid_argument("model options: sampling_history must be at least 1 token");
  if (options.spare_state_slots < 0) throw std::invalid_argument("model options: spare_state_slots cannot be negative");
  frontends::CacheLayout l;
  l.block_size = options.block_size;
  l.max_seqs = options.max_sequences;
  l.max_blocks_per_seq = (options.max_context + l.block_size - 1) / l.block_size;
  const int64_t cache_tokens =
      options.cache_tokens > 0 ? options.cache_tokens : options.max_context * options.max_sequences;
  l.num_blocks = (cache_tokens + l.block_size - 1) / l.block_size;
  l.kv_dtype = options.kv_dtype;
  l.sample_history = options.sampling_history;
  l.state_slots = options.max_sequences + options.spare_state_slots;
  return l;
}

OpenedModel open_model(const std::filesystem::path& path, const ModelOptions& options) {
  OpenedModel m;
  m.source = frontends::open_model_source(path);
  m.spec = frontends::describe_model(m.source->config(), m.source->generation_config());
  if (std::optional<frontends::WeightQuant> q = frontends::parse_weight_quant(options.weight_quant))
    m.source = frontends::quantize_weights(std::move(m.source), m.spec, *q);
  // Over the quantizing view: derived tensors are row gathers of the (quantized) stored ones.
  m.source = frontends::with_derived_tensors(std::move(m.source), m.spec);
  return m;
}

ir::Graph lower_forward_graph(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                              const frontends::CacheLayout& layout, bool decode, bool with_logits) {
  auto dtype_of = [&](const std::string& name) { return source.info(name).dtype; };
  return frontends::build_forward_graph(spec, layout, dtype_of, with_logits, forward_graph_name(decode, with_logits));
}

std::map<std::string, int64_t> forward_max_symbols(const ModelOptions& options, bool decode) {
  const int64_t max_rows = decode ? options.max_decode_rows : options.prefill_chunk;
  return {{frontends::kRowsSymbol, max_rows}, {frontends::kOutRowsSymbol, max_rows}};
}

ir::Graph run_forward_passes(ir::Graph lowered, const std::map<std::string, int64_t>& max_symbols,
                             const std::function<void(std::string_view pass, const ir::Module&)>& after_pass) {
  ir::Module module;
  module.graphs.push_back(std::move(lowered));
  passes::run_passes(module, forward_passes(), after_pass, max_symbols);
  return std::move(module.graphs[0]);
}

codegen::CompiledGraph codegen_forward_graph(const ir::Graph& g, const ModelOptions& options,
                                             const codegen::TargetCaps& caps, bool decode) {
  return codegen::compile_graph(g, caps, forward_max_symbols(options, decode));
}

codegen::CompiledGraph compile_forward_graph(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                                             const frontends::CacheLayout& layout, const ModelOptions& options,
                                             const codegen::TargetCaps& caps, bool decode, bool with_logits) {
  return codegen_forward_graph(run_forward_passes(lower_forward_graph(source, spec, layout, decode, with_logits),
                                                  forward_max_symbols(options, decode)),
                               options, caps, decode);
}

CompiledModel compile_model(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                            const ModelOptions& options, const codegen::TargetCaps& caps, const StageFn& stage) {
  CompiledModel c;
  c.options = options;
  c.spec = spec;
  c.layout = cache_layout_for(options);
  c.target = caps;
  for (const bool decode : {false, true})
    for (const bool with_logits : {false, true}) {
      const std::string name = forward_graph_name(decode, with_logits);
      if (stage) stage(fmt::format("lowering {}", name));
      ir::Graph lowered = lower_forward_graph(source, spec, c.layout, decode, with_logits);
      c.lowered_ir[name] = ir::print(lowered);
      if (stage) stage(fmt::format("passes on {}: {}", name, fmt::join(forward_passes(), ", ")));
      const ir::Graph optimized = run_forward_passes(std::move(lowered), forward_max_symbols(options, decode));
      if (stage) stage(fmt::format("generating and compiling the kernels of {}", name));
      c.graphs.push_back(codegen_forward_graph(optimized, options, caps, decode));
    }
  return c;
}

void write_model_artifact(const std::filesystem::path& out, const std::filesystem::path& model_path,
                          const frontends::ModelSource& source, const CompiledModel& compiled,
                          const artifact::ProgressFn& progress) {
  artifact::Contents c;
  c.family = compiled.spec.architecture;
  c.source_format = source.format();
  c.options = options_to_json(compiled.options);
  c.target = compiled.target;
  c.passes = forward_passes();
  c.graphs = compiled.graphs;
  c.lowered_ir = compiled.lowered_ir;
  c.files["config.json"] = source.config().dump(2);
  if (!source.generation_config().empty()) c.files["generation_config.json"] = source.generation_config().dump(2);
  if (frontends::is_gguf_path(model_path)) {
    if (std::optional<nlohmann::json> t = frontends::tokenizer_json(model_path)) c.files["tokenizer.json"] = t->dump();
    if (std::optional<nlohmann::json> t = frontends::tokenizer_config(model_path))
      c.files["tokenizer_config.json"] = t->dump(2);
  } else {
    if (std::optional<std::string> t = read_text_file(model_path / "tokenizer.json")) c.files["tokenizer.json"] = *t;
    if (std::optional<std::string> t = tokenizer_config_with_template(model_path)) c.files["tokenizer_config.json"] = *t;
  }

  // Every weight any graph reads, once, with the type the kernels read it as.
  std::map<std::string, ir::Type> weights;
  for (const codegen::CompiledGraph& g : compiled.graphs)
    for (const ir::Op& op : g.graph.ops)
      if (op.kind == ir::OpKind::Weight) {
        const ir::Type& t = g.graph.type(op.results[0]);
        auto [it, added] = weights.emplace(op.attr_str("name"), t);
        if (!added && !(it->second == t))
          throw std::logic_error(fmt::format("weight '{}' is read as {} and as {}", it->first, ir::to_string(it->second),
                                             ir::to_string(t)));
      }
  std::vector<artifact::WeightEntry> entries;
  for (const auto& [name, type] : weights) entries.push_back({name, type});
  artifact::write_artifact(
      out, c, entries,
      [&](const artifact::WeightEntry& w) { return source.tensor(w.name); },
      progress);
}

nlohmann::json options_to_json(const ModelOptions& o) {
  return {{"max_context", o.max_context},
          {"max_sequences", o.max_sequences},
          {"cache_tokens", o.cache_tokens},
          {"block_size", o.block_size},
          {"prefill_chunk", o.prefill_chunk},
          {"max_decode_rows", o.max_decode_rows},
          {"kv_dtype", ir::name(o.kv_dtype)},
          {"spare_state_slots", o.spare_state_slots},
          {"sampling_history", o.sampling_history},
          {"weight_quant", o.weight_quant}};
}

ModelOptions options_from_json(const nlohmann::json& j) {
  ModelOptions o;
  auto integer = [&](const char* key) {
    if (!j.contains(key) || !j[key].is_number_integer())
      throw artifact::ArtifactError(fmt::format("artifact options: '{}' is missing or not an integer", key));
    return j[key].get<int64_t>();
  };
  o.max_context = integer("max_context");
  o.max_sequences = integer("max_sequences");
  o.cache_tokens = integer("cache_tokens");
  o.block_size = integer("block_size");
  o.prefill_chunk = integer("prefill_chunk");
  o.max_decode_rows = integer("max_decode_rows");
  o.spare_state_slots = integer("spare_state_slots");
  o.sampling_history = integer("sampling_history");
  if (!j.contains("kv_dtype") || !j["kv_dtype"].is_string() || !ir::parse_dtype(j["kv_dtype"].get<std::string>()))
    throw artifact::ArtifactError("artifact options: 'kv_dtype' is missing or not a dtype");
  o.kv_dtype = *ir::parse_dtype(j["kv_dtype"].get<std::string>());
  if (!j.contains("weight_quant") || !j["weight_quant"].is_string())
    throw artifact::ArtifactError("artifact options: 'weight_quant' is missing");
  o.weight_quant = j["weight_quant"].get<std::string>();
  return o;
}

}  // namespace vkllm::engine
