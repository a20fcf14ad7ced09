// Kernel-vs-reference harness: a case is a small graph (usually one op) with the symbol bindings to
// run it under. run_case compiles it for the test device, runs every binding on ONE GraphExecutor
// (so step parameters must carry the symbols), poisons activations with NaN before each run and
// compares every output with ir::run_reference on the same fresh random inputs.
#pragma once
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "codegen/compile_graph.h"
#include "ir/host_tensor.h"
#include "ir/ir.h"
#include "ir/reference.h"

namespace vkllm::ops_test {

// Makes the tensor of one graph input or weight, given its concrete shape and the run's bindings.
using TensorFn = std::function<ir::HostTensor(ir::DType dtype, const std::vector<int64_t>& shape,
                                              const ir::SymbolBindings& symbols, std::mt19937_64& rng)>;

struct OpCase {
  std::string name;  // unique; letters, digits and '_' (it names the GoogleTest case)
  ir::Graph graph;
  std::vector<ir::SymbolBindings> runs{{}};  // one executor, one run per entry, in order
  std::map<std::string, TensorFn> inputs;    // by input name; default: uniform in [-1, 1) of its dtype
  std::map<std::string, TensorFn> weights;   // by weight name; default: uniform in [-1, 1) of its dtype
  bool exact = false;                        // outputs must match the reference bit for bit
  std::set<std::string> exact_outputs;       // outputs (by value name) compared bit for bit regardless
  bool subgroup_arithmetic = true;           // false: compile with the shared-memory reductions
  std::map<std::string, int64_t> max_symbols;  // bounds given to compile_graph (kernels may specialize)
  bool cooperative_matrix = true;            // false: compile as if the device lacked VK_NV_cooperative_matrix
  bool requires_cooperative_matrix = false;  // skipped (GTEST_SKIP) on devices without it
  double tolerance = 0.0;                    // relative to the reference's largest magnitude; 0: by dtype
  // Applied to the compiled graph before it runs: checks which kernels were chosen, or swaps one for
  // a variant compile_graph would not pick on this device.
  std::function<void(codegen::CompiledGraph&, const codegen::TargetCaps&)> edit_compiled;
};

// Registers cases at static initialization (`const int kCases = add_cases({...});`); returns how many.
int add_cases(std::vector<OpCase> cases);
const std::vector<OpCase>& registered_cases();

// Builds a graph: `body` declares inputs and weights, emits ops and marks outputs.
ir::Graph make_graph(const std::string& name, const std::function<void(ir::Builder&)>& body);

// Runs one case; reports failures through GoogleTest assertions.
void run_case(const OpCase& c);

// Tensor makers.
TensorFn uniform(double lo, double hi);  // values of the requested dtype in [lo, hi)
TensorFn integers(int lo, int hi);       // i32 in [lo, hi)
// i32 positions of query rows appended at the end of a cache of `kv_symbol` rows:
// pos[t] = kv - T + t for T rows.
TensorFn trailing_positions(std::string kv_symbol);

// Comparison tolerance relative to the reference tensor's largest magnitude, by dtype.
double tolerance_for(ir::DType dtype);

// Expects `got` to equal `want`: bit for bit when `exact` (and always for i32 and quantized),
// otherwise within `tolerance` (0: tolerance_for(want.dtype)) times the reference's largest
// magnitude. On failure reports the number of bad elements, the largest error and where it is.
void expect_close(const ir::HostTensor& got, const ir::HostTensor& want, bool exact, const std::string& what,
                  double tolerance = 0.0);

}  // namespace vkllm::ops_test
