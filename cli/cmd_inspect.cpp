// vkllm inspect: what a compiled model holds — an artifact (.vkm), or a model folder / GGUF file
// compiled in memory with the compile flags. Summary by default; --graph, --dump_after, --kernels,
// --kernel N [--glsl|--spirv|--stats], --dump DIR; --json for every view.
#include <fmt/format.h>
#include <gflags/gflags.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>

#include "artifact/artifact.h"
#include "cli/commands.h"
#include "cli/compile_flags.h"
#include "cli/flags.h"
#include "codegen/cost.h"
#include "codegen/glsl_compiler.h"
#include "engine/compile.h"
#include "ir/text.h"
#include "passes/pass.h"
#include "runtime/device.h"
#include "runtime/pipeline.h"

DECLARE_string(graph);       // cmd_exec.cpp
DECLARE_string(dump_after);  // cmd_opt.cpp
DEFINE_bool(kernels, false, "inspect: list every dispatch with its kernel, grid, bytes read/written and FLOPs");
DEFINE_int64(kernel, -1, "inspect: show kernel N of the kernel table (with --glsl, --spirv or --stats)");
DEFINE_bool(glsl, false, "inspect --kernel N: print its generated GLSL");
DEFINE_bool(spirv, false, "inspect --kernel N: print its SPIR-V disassembly");
DEFINE_bool(stats, false, "inspect --kernel N: the driver's pipeline statistics (VK_KHR_pipeline_executable_properties)");
DEFINE_string(dump, "", "inspect: write every view (summary, graphs, IR after each pass, kernels) into this folder");

namespace vkllm::cli {
namespace {

using nlohmann::json;

struct Inspected {
  std::string path;
  std::optional<artifact::Artifact> file;  // when `path` is an artifact
  artifact::Contents compiled;              // when it is a model compiled here
  std::vector<artifact::WeightEntry> weights;

  const artifact::Contents& contents() const { return file ? file->contents() : compiled; }
};

Inspected load(const std::string& path) {
  Inspected in;
  in.path = path;
  if (artifact::is_artifact(path)) {
    in.file = artifact::Artifact::open(path);
    in.weights = in.file->weights();
    return in;
  }
  const engine::ModelOptions options = compile_options();
  const codegen::TargetCaps caps = compile_target();
  engine::OpenedModel model = engine::open_model(path, options);
  engine::CompiledModel c = engine::compile_model(*model.source, model.spec, options, caps);
  artifact::Contents& out = in.compiled;
  out.family = c.spec.architecture;
  out.source_format = model.source->format();
  out.options = engine::options_to_json(options);
  out.target = caps;
  out.passes = engine::forward_passes();
  out.graphs = std::move(c.graphs);
  out.lowered_ir = std::move(c.lowered_ir);
  std::map<std::string, ir::Type> weights;
  for (const codegen::CompiledGraph& g : out.graphs)
    for (const ir::Op& op : g.graph.ops)
      if (op.kind == ir::OpKind::Weight) weights.emplace(op.attr_str("name"), g.graph.type(op.results[0]));
  for (const auto& [name, type] : weights) in.weights.push_back({name, type});
  return in;
}

std::string human(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string sink_text;  // what a view writes, before it goes to stdout or a --dump file
template <typename... A>
void out(fmt::format_string<A...> f, A&&... a) {
  sink_text += fmt::format(f, std::forward<A>(a)...);
}

std::vector<const codegen::CompiledGraph*> selected_graphs(const artifact::Contents& c) {
  std::vector<const codegen::CompiledGraph*> gs;
  for (const codegen::CompiledGraph& g : c.graphs)
    if (FLAGS_graph.empty() || g.graph.name == FLAGS_graph) gs.push_back(&g);
  if (gs.empty()) {
    std::string names;
    for (const codegen::CompiledGraph& g : c.graphs) names += (names.empty() ? "" : ", ") + g.graph.name;
    throw std::invalid_argument(fmt::format("no graph '{}' (graphs: {})", FLAGS_graph, names));
  }
  return gs;
}

// ---- views ---------------------------------------------------------------------------------------

json summary_json(const Inspected& in) {
  const artifact::Contents& c = in.contents();
  const artifact::KernelTable table = artifact::kernel_table(c);
  json graphs = json::array();
  uint64_t state_bytes = 0;
  for (const codegen::CompiledGraph& g : c.graphs) {
    const codegen::MemoryPlan p = codegen::memory_plan(g);
    state_bytes = std::max(state_bytes, p.state_bytes);
    graphs.push_back({{"name", g.graph.name},
                      {"ops", g.graph.ops.size()},
                      {"dispatches", g.dispatches.size()},
                      {"max_symbols", g.max_symbols},
                      {"activations", p.activations},
                      {"activation_bytes", p.activation_bytes},
                      {"states", p.states},
                      {"state_bytes", p.state_bytes}});
  }
  uint64_t weight_bytes = 0;
  std::map<std::string, uint64_t> by_dtype;
  for (const artifact::WeightEntry& w : in.weights) {
    weight_bytes += w.bytes();
    ++by_dtype[std::string(ir::name(w.type.dtype))];
  }
  json files = json::array();
  for (const auto& [name, text] : c.files) files.push_back(name);
  json j = {{"path", in.path},
            {"kind", in.file ? "artifact" : "model compiled in memory"},
            {"family", c.family},
            {"source_format", c.source_format},
            {"target", artifact::caps_to_json(c.target)},
            {"options", c.options},
            {"passes", c.passes},
            {"weights", {{"count", in.weights.size()}, {"bytes", weight_bytes}, {"dtypes", by_dtype}}},
            {"state_bytes", state_bytes},
            {"graphs", graphs},
            {"kernels", table.kernels.size()},
            {"files", files}};
  if (in.file) j["file_bytes"] = in.file->file_bytes(), j["format_version"] = artifact::kFormatVersion;
  return j;
}

void print_summary(const Inspected& in) {
  const json j = summary_json(in);
  if (FLAGS_json) return out("{}\n", j.dump(2));
  const artifact::Contents& c = in.contents();
  if (in.file)
    out("artifact    {} ({}, format {})\n", in.path, human(in.file->file_bytes()), artifact::kFormatVersion);
  else
    out("model       {} (compiled in memory; `vkllm compile` writes an artifact)\n", in.path);
  out("family      {}, from {}\n", c.family, c.source_format);
  const codegen::TargetCaps& t = c.target;
  out("target      {} (subgroup {}, fp16 {}, int8 {}, coopmat {}, shared memory {})\n", t.name, t.subgroup_size,
      t.float16_arithmetic ? "yes" : "no", t.int8_arithmetic ? "yes" : "no", t.cooperative_matrix_nv ? "yes" : "no",
      human(t.max_shared_memory_bytes));
  const json& o = c.options;
  auto opt = [&](const char* k) {
    return !o.contains(k) ? std::string("?") : o[k].is_string() ? o[k].get<std::string>() : o[k].dump();
  };
  auto list = [&](const char* k) {
    if (!o.contains(k) || !o[k].is_array()) return std::string("?");
    return o[k].empty() ? std::string("none") : fmt::format("{}", fmt::join(o[k].get<std::vector<int64_t>>(), ","));
  };
  out("options     ctx {}, sequences {}, decode rows {} (batch sizes {}), spec depths {}, prefill chunk {}, kv {}, quant "
      "{}\n",
      opt("max_context"), opt("max_sequences"), opt("max_decode_rows"), list("decode_row_bounds"), list("spec_depths"),
      opt("prefill_chunk"), opt("kv_dtype"),
      o.value("weight_quant", std::string()).empty() ? "none (as stored)" : o.value("weight_quant", std::string()));
  out("passes      {}\n", fmt::join(c.passes, ", "));
  std::string dtypes;
  for (const auto& [dt, n] : j["weights"]["dtypes"].items()) dtypes += fmt::format("{}{} {}", dtypes.empty() ? "" : ", ", dt, n.get<int>());
  out("weights     {} tensors, {} ({})\n", in.weights.size(), human(j["weights"]["bytes"].get<uint64_t>()), dtypes);
  out("states      {} (KV cache, recurrent state)\n", human(j["state_bytes"].get<uint64_t>()));
  out("kernels     {} distinct\n", j["kernels"].get<size_t>());
  out("graphs      (memory plan at the row bounds)\n");
  for (const json& g : j["graphs"]) {
    std::string bounds;
    for (const auto& [s, v] : g["max_symbols"].items()) bounds += fmt::format("{}{} ≤ {}", bounds.empty() ? "" : ", ", s, v.get<int64_t>());
    out("  {:<16} {:>5} ops {:>5} dispatches  activations {} in {} buffers  ({})\n", g["name"].get<std::string>(),
        g["ops"].get<size_t>(), g["dispatches"].get<size_t>(), human(g["activation_bytes"].get<uint64_t>()),
        g["activations"].get<size_t>(), bounds);
  }
  if (!c.files.empty()) out("files       {}\n", fmt::join(j["files"].get<std::vector<std::string>>(), ", "));
}

void print_graph_ir(const artifact::Contents& c) {
  for (const codegen::CompiledGraph* g : selected_graphs(c)) {
    const std::string text = ir::print(g->graph);
    if (FLAGS_json) out("{}\n", json{{"graph", g->graph.name}, {"ir", text}}.dump(2));
    else out("{}", text);
  }
}

// The lowered IR of each selected graph, re-run through the stored pass pipeline.
void print_dump_after(const artifact::Contents& c) {
  if (FLAGS_dump_after != "all" && std::find(c.passes.begin(), c.passes.end(), FLAGS_dump_after) == c.passes.end())
    throw std::invalid_argument(fmt::format("--dump_after={} names no pass of the pipeline ({})", FLAGS_dump_after,
                                            fmt::join(c.passes, ", ")));
  for (const codegen::CompiledGraph* g : selected_graphs(c)) {
    auto it = c.lowered_ir.find(g->graph.name);
    if (it == c.lowered_ir.end()) throw std::runtime_error(fmt::format("no lowered IR of graph '{}' is stored", g->graph.name));
    ir::Module m = ir::parse_module(it->second, g->graph.name + " (lowered)");
    json after = json::array();
    if (FLAGS_dump_after == "all") {
      if (FLAGS_json) after.push_back({{"pass", "(lowered)"}, {"ir", it->second}});
      else out("// ----- {}: lowered -----\n{}", g->graph.name, it->second);
    }
    passes::run_passes(
        m, c.passes,
        [&](std::string_view pass, const ir::Module& now) {
          if (FLAGS_dump_after != "all" && FLAGS_dump_after != pass) return;
          if (FLAGS_json) after.push_back({{"pass", pass}, {"ir", ir::print(now)}});
          else out("// ----- {}: after {} -----\n{}", g->graph.name, pass, ir::print(now));
        },
        g->max_symbols);  // the row bounds the graph was compiled with
    if (FLAGS_json) out("{}\n", json{{"graph", g->graph.name}, {"after", after}}.dump(2));
  }
}

void print_kernels(const artifact::Contents& c) {
  const artifact::KernelTable table = artifact::kernel_table(c);
  json all = json::array();
  for (size_t gi = 0; gi < c.graphs.size(); ++gi) {
    const codegen::CompiledGraph& g = c.graphs[gi];
    if (!FLAGS_graph.empty() && g.graph.name != FLAGS_graph) continue;
    json rows = json::array();
    uint64_t read = 0, written = 0, flops = 0;
    if (!FLAGS_json)
      out("graph {} ({} dispatches, at {})\n{:>5} {:>6}  {:<44} {:>18} {:>6} {:>11} {:>11} {:>13}\n", g.graph.name,
          g.dispatches.size(), json(g.max_symbols).dump(), "#", "kernel", "name", "groups", "local", "read", "written",
          "FLOPs");
    for (size_t i = 0; i < g.dispatches.size(); ++i) {
      const codegen::Dispatch& d = g.dispatches[i];
      const codegen::DispatchCost cost = codegen::dispatch_cost(g, i);
      read += cost.bytes_read, written += cost.bytes_written, flops += cost.flops;
      const size_t k = table.kernel_of_dispatch[gi][i];
      if (FLAGS_json) {
        rows.push_back({{"dispatch", i},
                        {"op", d.op_index},
                        {"op_kind", ir::name(g.graph.ops[static_cast<size_t>(d.op_index)].kind)},
                        {"kernel", k},
                        {"name", d.kernel.name},
                        {"groups", cost.groups},
                        {"local_size", d.kernel.local_size},
                        {"bytes_read", cost.bytes_read},
                        {"bytes_written", cost.bytes_written},
                        {"flops", cost.flops}});
      } else {
        out("{:>5} {:>6}  {:<44.44} {:>18} {:>6} {:>11} {:>11} {:>13}\n", i, k, d.kernel.name,
            fmt::format("{}x{}x{}", cost.groups[0], cost.groups[1], cost.groups[2]), d.kernel.local_size[0],
            cost.bytes_read, cost.bytes_written, cost.flops);
      }
    }
    if (FLAGS_json)
      all.push_back({{"graph", g.graph.name},
                     {"symbols", g.max_symbols},
                     {"dispatches", rows},
                     {"total", {{"bytes_read", read}, {"bytes_written", written}, {"flops", flops}}}});
    else
      out("total: read {} ({}), written {} ({}), {} FLOPs\n\n", read, human(read), written, human(written), flops);
  }
  if (FLAGS_json) out("{}\n", all.dump(2));
}

void print_kernel(const artifact::Contents& c, int64_t n) {
  const artifact::KernelTable table = artifact::kernel_table(c);
  if (n < 0 || static_cast<size_t>(n) >= table.kernels.size())
    throw std::invalid_argument(fmt::format("--kernel {}: the kernel table has {} kernels (0..{})", n,
                                            table.kernels.size(), table.kernels.size() - 1));
  const codegen::Kernel& k = *table.kernels[static_cast<size_t>(n)];
  if (FLAGS_glsl) return out("{}", k.glsl);
  if (FLAGS_spirv) return out("{}", codegen::disassemble(k.spirv));
  if (FLAGS_stats) {
    runtime::Device device(runtime::Device::Options{FLAGS_device});
    const runtime::Pipeline pipeline(device, k, true);
    json execs = json::array();
    for (const runtime::ExecutableStatistics& e : runtime::pipeline_statistics(device, pipeline)) {
      if (FLAGS_json) {
        execs.push_back({{"name", e.name}, {"description", e.description}, {"subgroup_size", e.subgroup_size},
                         {"statistics", e.statistics}});
        continue;
      }
      out("{} ({}), subgroup size {}\n", e.name, e.description, e.subgroup_size);
      for (const auto& [name, value] : e.statistics) out("  {:<40} {}\n", name, value);
    }
    if (FLAGS_json) out("{}\n", json{{"kernel", n}, {"device", device.info().name}, {"executables", execs}}.dump(2));
    return;
  }
  json uses = json::array();
  for (size_t gi = 0; gi < c.graphs.size(); ++gi)
    for (size_t i = 0; i < table.kernel_of_dispatch[gi].size(); ++i)
      if (table.kernel_of_dispatch[gi][i] == static_cast<size_t>(n))
        uses.push_back({{"graph", c.graphs[gi].graph.name}, {"dispatch", i}});
  json args = json::array();
  for (const codegen::KernelArg& a : k.args) args.push_back({{"name", a.name}, {"written", a.written}});
  json grid = json::array();
  for (const codegen::GridDim& g : k.grid) grid.push_back({{"factor", g.factor}, {"symbols", g.symbols}, {"divisor", g.divisor}});
  const json j = {{"kernel", n},           {"name", k.name}, {"local_size", k.local_size},
                  {"required_subgroup_size", k.required_subgroup_size}, {"args", args}, {"grid", grid},
                  {"spirv_words", k.spirv.size()}, {"glsl_lines", std::count(k.glsl.begin(), k.glsl.end(), '\n')},
                  {"dispatches", uses}};
  if (FLAGS_json) return out("{}\n", j.dump(2));
  out("kernel {}: {}\n  local size {}x{}x{}, required subgroup size {}\n", n, k.name, k.local_size[0], k.local_size[1],
      k.local_size[2], k.required_subgroup_size ? std::to_string(k.required_subgroup_size) : "any");
  for (size_t a = 0; a < k.args.size(); ++a)
    out("  arg {}: {}{}\n", a, k.args[a].name, k.args[a].written ? " (written)" : "");
  for (size_t a = 0; a < 3; ++a)
    out("  grid {}: ceil({} * {} / {})\n", "xyz"[a], k.grid[a].factor,
        k.grid[a].symbols.empty() ? "1" : fmt::format("{}", fmt::join(k.grid[a].symbols, " * ")), k.grid[a].divisor);
  out("  {} SPIR-V words, {} GLSL lines; used by {} dispatches\n", k.spirv.size(), j["glsl_lines"].get<int64_t>(), uses.size());
  out("  (--glsl, --spirv or --stats for more)\n");
}

std::string take() { return std::exchange(sink_text, std::string()); }

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
  if (!f) throw std::runtime_error(fmt::format("cannot write '{}'", p.string()));
}

// Every view of every graph and kernel into `dir`.
void dump_all(const Inspected& in, const std::filesystem::path& dir) {
  const artifact::Contents& c = in.contents();
  const char* ext = FLAGS_json ? "json" : "txt";
  print_summary(in);
  write_file(dir / fmt::format("summary.{}", ext), take());
  print_kernels(c);
  write_file(dir / fmt::format("kernels.{}", ext), take());
  for (const codegen::CompiledGraph& g : c.graphs) {
    write_file(dir / "graphs" / (g.graph.name + ".ir"), ir::print(g.graph));
    auto it = c.lowered_ir.find(g.graph.name);
    if (it == c.lowered_ir.end()) continue;
    ir::Module m = ir::parse_module(it->second, g.graph.name);
    write_file(dir / "passes" / g.graph.name / "00_lowered.ir", it->second);
    int step = 0;
    passes::run_passes(
        m, c.passes,
        [&](std::string_view pass, const ir::Module& now) {
          write_file(dir / "passes" / g.graph.name / fmt::format("{:02}_after_{}.ir", ++step, pass), ir::print(now));
        },
        g.max_symbols);
  }
  const artifact::KernelTable table = artifact::kernel_table(c);
  for (size_t i = 0; i < table.kernels.size(); ++i) {
    const codegen::Kernel& k = *table.kernels[i];
    const std::string stem = fmt::format("{:04}_{}", i, k.name);
    write_file(dir / "kernels" / (stem + ".comp"), k.glsl);
    write_file(dir / "kernels" / (stem + ".spvasm"), codegen::disassemble(k.spirv));
  }
  if (in.file) write_file(dir / "manifest.json", in.file->manifest().dump(1));
  fmt::print(stderr, "wrote {} graphs and {} kernels to {}\n", c.graphs.size(), table.kernels.size(), dir.string());
}

}  // namespace

int run_inspect(const Args& args) {
  if (args.size() != 1) {
    fmt::print(stderr,
               "usage: vkllm inspect OUT.vkm|MODEL [--graph NAME] [--dump_after PASS|all] [--kernels] "
               "[--kernel N [--glsl|--spirv|--stats]] [--dump DIR] [--json]\n");
    return 2;
  }
  if (FLAGS_kernel < 0 && (FLAGS_glsl || FLAGS_spirv || FLAGS_stats))
    throw std::invalid_argument("--glsl, --spirv and --stats show one kernel: add --kernel N");
  if (FLAGS_glsl + FLAGS_spirv + FLAGS_stats > 1) throw std::invalid_argument("give one of --glsl, --spirv, --stats");
  const Inspected in = load(args[0]);
  const artifact::Contents& c = in.contents();
  if (!FLAGS_dump.empty()) {
    dump_all(in, FLAGS_dump);
    return 0;
  }
  if (FLAGS_kernel >= 0) print_kernel(c, FLAGS_kernel);
  else if (FLAGS_kernels) print_kernels(c);
  else if (!FLAGS_dump_after.empty()) print_dump_after(c);
  else if (!FLAGS_graph.empty()) print_graph_ir(c);
  else print_summary(in);
  fmt::print("{}", take());
  return 0;
}

}  // namespace vkllm::cli
