#include "tests/ops/op_harness.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "codegen/compile_graph.h"
#include "runtime/device.h"
#include "runtime/graph_executor.h"

namespace vkllm::ops_test {
namespace {

std::vector<OpCase>& case_registry() {
  static std::vector<OpCase> cases;
  return cases;
}

// NaN as f32 and as both halves in f16 / bf16 buffers: an element a kernel forgot to write fails.
constexpr uint32_t kPoison = 0x7fc07fc0u;

// The device ($VKLLM_DEVICE, else the best usable one) is created once per process and shared.
runtime::Device& test_device() {
  static runtime::Device device;
  return device;
}

uint64_t seed_of(const std::string& name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across runs and platforms
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string index_text(int64_t flat, const std::vector<int64_t>& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  return fmt::format("[{}]", fmt::join(idx, ", "));
}

}  // namespace

int add_cases(std::vector<OpCase> cases) {
  for (OpCase& c : cases) case_registry().push_back(std::move(c));
  return static_cast<int>(cases.size());
}

const std::vector<OpCase>& registered_cases() { return case_registry(); }

ir::Graph make_graph(const std::string& name, const std::function<void(ir::Builder&)>& body) {
  ir::Builder b(name);
  body(b);
  return b.finish();
}

TensorFn uniform(double lo, double hi) {
  return [lo, hi](ir::DType dtype, const std::vector<int64_t>& shape, const ir::SymbolBindings&,
                  std::mt19937_64& rng) { return ir::HostTensor::random(dtype, shape, rng, lo, hi); };
}

TensorFn integers(int lo, int hi) {
  return [lo, hi](ir::DType, const std::vector<int64_t>& shape, const ir::SymbolBindings&, std::mt19937_64& rng) {
    return ir::HostTensor::random(ir::DType::I32, shape, rng, lo, hi);
  };
}

TensorFn trailing_positions(std::string kv_symbol) {
  return [kv_symbol](ir::DType, const std::vector<int64_t>& shape, const ir::SymbolBindings& symbols,
                     std::mt19937_64&) {
    ir::HostTensor t = ir::HostTensor::zeros(ir::DType::I32, shape);
    const int64_t rows = t.numel(), kv = symbols.at(kv_symbol);
    for (int64_t i = 0; i < rows; ++i) t.set(i, static_cast<double>(kv - rows + i));
    return t;
  };
}

double tolerance_for(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::F32: return 1e-4;
    case ir::DType::F16: return 2e-3;
    case ir::DType::BF16: return 1.6e-2;
    default: return 0.0;
  }
}

void expect_close(const ir::HostTensor& got, const ir::HostTensor& want, bool exact, const std::string& what,
                  double tolerance) {
  ASSERT_EQ(got.dtype, want.dtype) << what;
  ASSERT_EQ(got.shape, want.shape) << what;
  if (exact || ir::is_quantized(want.dtype) || want.dtype == ir::DType::I32) {
    ASSERT_EQ(got.bytes.size(), want.bytes.size()) << what;
    int64_t bad = 0, first_bad = -1;
    const int64_t n = want.numel();
    for (int64_t i = 0; i < n && !ir::is_quantized(want.dtype); ++i) {
      const double g = got.get(i), w = want.get(i);
      if (!(g == w || (std::isnan(g) && std::isnan(w)))) {
        if (first_bad < 0) first_bad = i;
        ++bad;
      }
    }
    if (ir::is_quantized(want.dtype) && got.bytes != want.bytes) bad = 1;
    EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << n << " elements differ"
                      << (first_bad >= 0 ? fmt::format("; first at {}: got {}, want {}",
                                                       index_text(first_bad, want.shape), got.get(first_bad),
                                                       want.get(first_bad))
                                         : std::string());
    return;
  }
  const int64_t n = want.numel();
  double scale = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double w = want.get(i);
    if (std::isfinite(w)) scale = std::max(scale, std::fabs(w));
  }
  if (tolerance <= 0.0) tolerance = tolerance_for(want.dtype);
  const double limit = tolerance * std::max(scale, 1e-30);
  int64_t bad = 0, worst = -1;
  double worst_error = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = got.get(i), w = want.get(i);
    double error = 0.0;
    if (std::isnan(w) || std::isnan(g)) {
      error = std::isnan(w) && std::isnan(g) ? 0.0 : INFINITY;
    } else if (std::isinf(w) || std::isinf(g)) {
      error = g == w ? 0.0 : INFINITY;
    } else {
      error = std::fabs(g - w);
    }
    if (error > limit) ++bad;
    if (error > worst_error || worst < 0) {
      worst_error = error;
      worst = i;
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << n << " elements outside " << limit << " (tolerance "
                    << tolerance << " x max |ref| " << scale << "); largest error " << worst_error
                    << " at " << index_text(worst, want.shape) << ": got " << got.get(worst) << ", want "
                    << want.get(worst);
}

void run_case(const OpCase& c) {
  std::mt19937_64 rng(seed_of(c.name));
  runtime::Device& device = test_device();
  codegen::TargetCaps caps = device.target_caps();
  if (c.requires_cooperative_matrix && !caps.cooperative_matrix_nv)
    GTEST_SKIP() << "device '" << caps.name << "' lacks VK_NV_cooperative_matrix (fp16 16x16x16 -> f32)";
  caps.subgroup_arithmetic &= c.subgroup_arithmetic;
  caps.cooperative_matrix_nv &= c.cooperative_matrix;
  codegen::CompiledGraph compiled = codegen::compile_graph(c.graph, caps, c.max_symbols);
  if (c.edit_compiled) c.edit_compiled(compiled, caps);

  // Weights: drawn once, the same tensor for the reference and the device.
  std::map<std::string, ir::HostTensor> weight_data;
  for (const ir::Op& op : c.graph.ops) {
    if (op.kind != ir::OpKind::Weight) continue;
    const std::string& name = op.attr_str("name");
    const ir::Type& type = c.graph.type(op.results[0]);
    const std::vector<int64_t> shape = ir::concrete_shape(type.shape, {});
    auto maker = c.weights.count(name) ? c.weights.at(name) : uniform(-1.0, 1.0);
    weight_data.emplace(name, maker(type.dtype, shape, {}, rng));
  }
  const ir::WeightFn weights = [&weight_data](const std::string& name, const ir::Type&) {
    return weight_data.at(name);
  };

  ir::SymbolBindings max_symbols;
  for (const ir::SymbolBindings& run : c.runs)
    for (const auto& [sym, value] : run) max_symbols[sym] = std::max(max_symbols[sym], value);
  runtime::GraphExecutor executor(device, compiled, max_symbols, weights);

  for (size_t r = 0; r < c.runs.size(); ++r) {
    const ir::SymbolBindings& symbols = c.runs[r];
    std::string run_label = fmt::format("run {}", r);
    for (const auto& [sym, value] : symbols) run_label += fmt::format(" {}={}", sym, value);
    SCOPED_TRACE(run_label);

    std::map<std::string, ir::HostTensor> inputs;
    for (ir::ValueId id : c.graph.inputs) {
      const ir::Value& v = c.graph.value(id);
      const std::vector<int64_t> shape = ir::concrete_shape(v.type.shape, symbols);
      auto maker = c.inputs.count(v.name) ? c.inputs.at(v.name) : uniform(-1.0, 1.0);
      inputs.emplace(v.name, maker(v.type.dtype, shape, symbols, rng));
    }
    const ir::ReferenceRun want = ir::run_reference(c.graph, symbols, inputs, weights);

    executor.fill_activations(kPoison);
    for (const auto& [name, tensor] : inputs)
      executor.set_input(name, tensor.data(), static_cast<size_t>(tensor.size_bytes()));
    executor.run(symbols);
    for (size_t o = 0; o < c.graph.outputs.size(); ++o) {
      const std::string& name = c.graph.value(c.graph.outputs[o]).name;
      expect_close(executor.read_output(name), want.outputs[o], c.exact || c.exact_outputs.count(name) != 0,
                   fmt::format("output %{}", name), c.tolerance);
    }
  }
}

}  // namespace vkllm::ops_test
