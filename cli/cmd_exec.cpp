// vkllm exec: compile textual IR to SPIR-V kernels, run it on the Vulkan device with random inputs
// and weights, and (with --check) compare every output with the reference executor.
#include <fmt/format.h>
#include <gflags/gflags.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>

#include "cli/commands.h"
#include "cli/flags.h"
#include "codegen/compile_graph.h"
#include "ir/reference.h"
#include "ir/text.h"
#include "runtime/device.h"
#include "runtime/graph_executor.h"

DEFINE_string(graph, "", "graph to run (default: the first in the file)");
DEFINE_string(bind, "", "symbol values, comma-separated name=value (e.g. seq=9,ctx=64)");
DEFINE_bool(check, false, "compare every output with the reference executor; exit 1 on a mismatch");
DEFINE_uint64(exec_seed, 1, "seed of the random inputs and weights");
DEFINE_bool(profile, false, "print per-kernel GPU times");

namespace vkllm::cli {
namespace {

ir::SymbolBindings parse_bindings(const std::string& text) {
  ir::SymbolBindings out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos) throw std::runtime_error(fmt::format("--bind: '{}' is not name=value", item));
    out[item.substr(0, eq)] = std::stoll(item.substr(eq + 1));
  }
  return out;
}

// Random but meaningful inputs: floats in [-1, 1); i32 inputs count 0, 1, 2, ... along their
// elements (positions, token ids and row indices all stay in range for small bindings).
ir::HostTensor make_input(const ir::Type& t, const ir::SymbolBindings& bind, std::mt19937_64& rng) {
  std::vector<int64_t> shape = ir::concrete_shape(t.shape, bind);
  if (t.dtype != ir::DType::I32) return ir::HostTensor::random(t.dtype, shape, rng);
  ir::HostTensor h = ir::HostTensor::zeros(t.dtype, shape);
  for (int64_t i = 0; i < h.numel(); ++i) h.set(i, static_cast<double>(i));
  return h;
}

// Tolerance relative to the largest reference magnitude, by dtype.
double tolerance(ir::DType t) {
  switch (t) {
    case ir::DType::F16: return 4e-3;
    case ir::DType::BF16: return 2e-2;
    case ir::DType::I32: return 0;
    default: return 1e-3;
  }
}

}  // namespace

int run_exec(const Args& args) {
  if (args.size() != 1) throw std::runtime_error("expected one IR file (see --help)");
  std::ifstream in(args[0]);
  if (!in) throw std::runtime_error(fmt::format("cannot open {}", args[0]));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ir::Module module = ir::parse_module(text, args[0]);
  if (module.graphs.empty()) throw std::runtime_error(fmt::format("{}: no graph", args[0]));
  const ir::Graph* g = FLAGS_graph.empty() ? &module.graphs[0] : module.find(FLAGS_graph);
  if (!g) throw std::runtime_error(fmt::format("{}: no graph @{}", args[0], FLAGS_graph));
  const ir::SymbolBindings bind = parse_bindings(FLAGS_bind);

  std::mt19937_64 rng(FLAGS_exec_seed);
  std::map<std::string, ir::HostTensor> inputs;
  for (ir::ValueId v : g->inputs) inputs[g->value(v).name] = make_input(g->type(v), bind, rng);
  std::map<std::string, ir::HostTensor> weights;
  ir::WeightFn weight_fn = [&](const std::string& name, const ir::Type& t) {
    auto it = weights.find(name);
    if (it == weights.end())
      it = weights.emplace(name, ir::HostTensor::random(t.dtype, ir::concrete_shape(t.shape, bind), rng)).first;
    return it->second;
  };

  runtime::Device device(runtime::Device::Options{FLAGS_device});
  fmt::print("device: {} ({})\n", device.info().name, device.info().driver_info);
  codegen::CompiledGraph compiled = codegen::compile_graph(*g, device.target_caps());
  fmt::print("graph @{}: {} ops -> {} kernels\n", g->name, g->ops.size(), compiled.dispatches.size());
  runtime::GraphExecutor exec(device, compiled, bind, weight_fn);
  for (const auto& [name, t] : inputs) exec.set_input(name, t.data(), static_cast<size_t>(t.size_bytes()));
  exec.fill_activations(0x7FC00000u);  // NaN: an output the kernels never wrote shows up as a mismatch
  exec.set_profiling(FLAGS_profile);
  exec.run(bind);

  if (FLAGS_profile) {
    double total = 0;
    for (const auto& t : exec.last_timings()) {
      fmt::print("  {:>9.1f} us  {}\n", t.microseconds, t.kernel);
      total += t.microseconds;
    }
    fmt::print("  {:>9.1f} us  total\n", total);
  }

  int failures = 0;
  ir::ReferenceRun ref;
  if (FLAGS_check) ref = ir::run_reference(*g, bind, inputs, weight_fn);
  for (size_t o = 0; o < g->outputs.size(); ++o) {
    const ir::Value& v = g->value(g->outputs[o]);
    ir::HostTensor got = exec.read_output(v.name);
    fmt::print("output %{}: {}[{}]", v.name, ir::name(got.dtype), fmt::join(got.shape, ", "));
    if (!FLAGS_check) {
      fmt::print("\n");
      continue;
    }
    const ir::HostTensor& want = ref.outputs[o];
    double max_ref = 0, max_err = 0;
    int64_t worst = 0;
    for (int64_t i = 0; i < want.numel(); ++i) max_ref = std::max(max_ref, std::abs(want.get(i)));
    for (int64_t i = 0; i < want.numel(); ++i) {
      double e = std::abs(got.get(i) - want.get(i));
      if (!(e <= max_err)) {  // catches NaN
        max_err = std::isnan(e) ? INFINITY : e;
        worst = i;
      }
    }
    double tol = tolerance(v.type.dtype) * std::max(max_ref, 1e-30);
    bool ok = max_err <= tol;
    failures += !ok;
    fmt::print("  max |err| {:.3g} (max |ref| {:.3g}, tolerance {:.3g}) {}\n", max_err, max_ref, tol,
               ok ? "OK" : fmt::format("MISMATCH at element {}: got {}, want {}", worst, got.get(worst), want.get(worst)));
  }
  if (FLAGS_check) fmt::print("{}\n", failures ? "check FAILED" : "check passed: device matches the reference");
  return failures ? 1 : 0;
}

}  // namespace vkllm::cli
