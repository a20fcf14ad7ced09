#include "engine/compile.h"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
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
  // Fusions (passes/README.md) before dce, which removes what they leave unused. fuse-attention-rope
  // and fuse-attention-combine follow split-decode-attention (the query's rope goes into the split's
  // partial op, the combine into its last workgroups); fuse-gdn-decode (decode graphs) takes a Gated
  // DeltaNet layer's ops between its projections and out_proj into one kernel. The prologue
  // fusions, split-decode-attention and split-decode-sample act on decode graphs only (by their row bound,
  // forward_max_symbols): the matrix-vector kernels apply a prologue once per x chunk for all their
  // weight rows, the prefill kernels would pay it per tile. So do fuse-glu-pair (gate, up and their
  // swiglu/geglu in one kernel; before fuse-swiglu-matmul, which would fold the activation into
  // down_proj) and merge-sibling-matmuls (q/k/v, a Gated DeltaNet layer's input projections: one
  // kernel each). VKLLM_PASSES (comma-separated pass names) replaces the list, to measure a pipeline
  // without rebuilding (docs/CLI.md).
  static const std::vector<std::string> passes = [] {
    if (const char* env = std::getenv("VKLLM_PASSES")) {
      std::vector<std::string> names;
      std::stringstream list(env);
      for (std::string name; std::getline(list, name, ',');) {
        if (name.empty()) continue;
        passes::get_pass(name);  // throws for an unknown name, listing the known passes
        names.push_back(name);
      }
      return names;
    }
    return std::vector<std::string>{"dedupe-weights",         "fuse-matmul-add",       "fuse-rms-norm-matmul",
                                    "fuse-glu-pair",          "merge-sibling-matmuls", "fuse-swiglu-matmul",
                                    "fuse-geglu-matmul",      "split-decode-attention", "fuse-kv-write",
                                    "fuse-attention-rope",    "fuse-attention-combine", "fuse-gdn-decode",
                                    "split-decode-sample",    "dce"};
  }();
  return passes;
}

std::string forward_graph_name(const ForwardGraph& g) {
  switch (g.kind) {
    case ForwardGraph::Kind::Prefill: return g.with_logits ? "prefill_logits" : "prefill";
    case ForwardGraph::Kind::Decode: return fmt::format("decode{}_b{}", g.with_logits ? "_logits" : "", g.max_rows);
    case ForwardGraph::Kind::Verify: return fmt::format("verify_d{}", g.spec_depth);
  }
  throw std::logic_error("unknown forward graph kind");
}

std::vector<int64_t> decode_row_bounds(const ModelOptions& options) {
  std::set<int64_t> bounds(options.decode_row_bounds.begin(), options.decode_row_bounds.end());
  if (options.decode_row_bounds.empty())
    for (int64_t b = 1; b < options.max_decode_rows; b *= 2) bounds.insert(b);
  bounds.insert(options.max_decode_rows);
  for (const int64_t b : bounds)
    if (b < 1 || b > options.max_decode_rows)
      throw std::invalid_argument(fmt::format("model options: batch size (decode row bound) {} is outside 1..{}, "
                                              "the rows of the widest decode graph", b, options.max_decode_rows));
  return {bounds.begin(), bounds.end()};
}

int64_t verify_max_rows(const ModelOptions& options, int64_t depth) { return options.max_sequences * (depth + 1); }

std::vector<ForwardGraph> forward_graphs(const ModelOptions& options) {
  using Kind = ForwardGraph::Kind;
  std::vector<ForwardGraph> graphs = {{Kind::Prefill, false, options.prefill_chunk, 0},
                                      {Kind::Prefill, true, options.prefill_chunk, 0}};
  for (const int64_t bound : decode_row_bounds(options))
    for (const bool with_logits : {false, true}) graphs.push_back({Kind::Decode, with_logits, bound, 0});
  // Drafters propose a handful of tokens; a depth past this is a typo (the verify graph's rows, and
  // its logits buffer, grow with it).
  constexpr int64_t kMaxSpecDepth = 64;
  const std::set<int64_t> depths(options.spec_depths.begin(), options.spec_depths.end());
  for (const int64_t d : depths) {
    if (d < 1 || d > kMaxSpecDepth)
      throw std::invalid_argument(fmt::format("model options: speculative depth {} is outside 1..{}", d, kMaxSpecDepth));
    graphs.push_back({Kind::Verify, true, verify_max_rows(options, d), d});
  }
  return graphs;
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

namespace {
ir::Graph lower_named(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                      const frontends::CacheLayout& layout, bool with_logits, const std::string& name) {
  auto dtype_of = [&](const std::string& tensor) { return source.info(tensor).dtype; };
  return frontends::build_forward_graph(spec, layout, dtype_of, with_logits, name);
}
}  // namespace

ir::Graph lower_forward_graph(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                              const frontends::CacheLayout& layout, const ForwardGraph& graph) {
  return lower_named(source, spec, layout, graph.with_logits, forward_graph_name(graph));
}

ir::Graph lower_forward_graph(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                              const frontends::CacheLayout& layout, bool decode, bool with_logits) {
  return lower_named(source, spec, layout, with_logits,
                     fmt::format("{}{}", decode ? "decode" : "prefill", with_logits ? "_logits" : ""));
}

std::map<std::string, int64_t> forward_max_symbols(int64_t max_rows) {
  return {{frontends::kRowsSymbol, max_rows}, {frontends::kOutRowsSymbol, max_rows}};
}

std::map<std::string, int64_t> forward_max_symbols(const ModelOptions& options, bool decode) {
  return forward_max_symbols(decode ? options.max_decode_rows : options.prefill_chunk);
}

ir::Graph run_forward_passes(ir::Graph lowered, const std::map<std::string, int64_t>& max_symbols,
                             const std::function<void(std::string_view pass, const ir::Module&)>& after_pass) {
  ir::Module module;
  module.graphs.push_back(std::move(lowered));
  passes::run_passes(module, forward_passes(), after_pass, max_symbols);
  return std::move(module.graphs[0]);
}

codegen::CompiledGraph codegen_forward_graph(const ir::Graph& g, const codegen::TargetCaps& caps,
                                             const ForwardGraph& graph) {
  return codegen::compile_graph(g, caps, forward_max_symbols(graph.max_rows));
}

codegen::CompiledGraph compile_forward_graph(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                                             const frontends::CacheLayout& layout, const codegen::TargetCaps& caps,
                                             const ForwardGraph& graph) {
  return codegen_forward_graph(
      run_forward_passes(lower_forward_graph(source, spec, layout, graph), forward_max_symbols(graph.max_rows)), caps,
      graph);
}

CompiledModel compile_model(const frontends::ModelSource& source, const frontends::ModelSpec& spec,
                            const ModelOptions& options, const codegen::TargetCaps& caps, const StageFn& stage) {
  CompiledModel c;
  c.options = options;
  c.spec = spec;
  c.layout = cache_layout_for(options);
  c.target = caps;
  for (const ForwardGraph& graph : forward_graphs(options)) {
    const std::string name = forward_graph_name(graph);
    if (stage) stage(fmt::format("lowering {}", name));
    ir::Graph lowered = lower_forward_graph(source, spec, c.layout, graph);
    c.lowered_ir[name] = ir::print(lowered);
    if (stage) stage(fmt::format("passes on {}: {}", name, fmt::join(forward_passes(), ", ")));
    const ir::Graph optimized = run_forward_passes(std::move(lowered), forward_max_symbols(graph.max_rows));
    if (stage) stage(fmt::format("generating and compiling the kernels of {}", name));
    c.graphs.push_back(codegen_forward_graph(optimized, caps, graph));
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
          {"decode_row_bounds", decode_row_bounds(o)},
          {"spec_depths", std::set<int64_t>(o.spec_depths.begin(), o.spec_depths.end())},
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
  auto integers = [&](const char* key) {
    if (!j.contains(key) || !j[key].is_array())
      throw artifact::ArtifactError(fmt::format("artifact options: '{}' is missing or not an array", key));
    std::vector<int64_t> values;
    for (const nlohmann::json& v : j[key]) {
      if (!v.is_number_integer())
        throw artifact::ArtifactError(fmt::format("artifact options: '{}' holds a value that is not an integer", key));
      values.push_back(v.get<int64_t>());
    }
    return values;
  };
  o.max_context = integer("max_context");
  o.max_sequences = integer("max_sequences");
  o.cache_tokens = integer("cache_tokens");
  o.block_size = integer("block_size");
  o.prefill_chunk = integer("prefill_chunk");
  o.max_decode_rows = integer("max_decode_rows");
  o.decode_row_bounds = integers("decode_row_bounds");
  o.spec_depths = integers("spec_depths");
  o.spare_state_slots = integer("spare_state_slots");
  o.sampling_history = integer("sampling_history");
  if (!j.contains("kv_dtype") || !j["kv_dtype"].is_string() || !ir::parse_dtype(j["kv_dtype"].get<std::string>()))
    throw artifact::ArtifactError("artifact options: 'kv_dtype' is missing or not a dtype");
  o.kv_dtype = *ir::parse_dtype(j["kv_dtype"].get<std::string>());
  if (!j.contains("weight_quant") || !j["weight_quant"].is_string())
    throw artifact::ArtifactError("artifact options: 'weight_quant' is missing");
  o.weight_quant = j["weight_quant"].get<std::string>();
  try {
    cache_layout_for(o);
    forward_graphs(o);
  } catch (const std::invalid_argument& e) {
    throw artifact::ArtifactError(fmt::format("artifact options: {}", e.what()));
  }
  return o;
}

}  // namespace vkllm::engine
