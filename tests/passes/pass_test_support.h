// Helpers shared by the pass tests: run named passes on one graph, count its ops by kind, compare
// reference outputs before and after.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ir/ir.h"
#include "ir/reference.h"
#include "passes/pass.h"

namespace vkllm::passes {

// `g` after the passes `names` (in order), with the row bounds a decode or prefill graph has.
inline ir::Graph run_passes_on(ir::Graph g, const std::vector<std::string>& names, const SymbolBounds& bounds) {
  ir::Module m{{std::move(g)}};
  run_passes(m, names, {}, bounds);
  return std::move(m.graphs[0]);
}

// How many ops of each kind `g` has.
inline std::map<ir::OpKind, int> kinds(const ir::Graph& g) {
  std::map<ir::OpKind, int> count;
  for (const ir::Op& op : g.ops) ++count[op.kind];
  return count;
}

// The reference executor's outputs of `g` on random inputs drawn from `seed`, each weight drawn
// from `seed` and its name (so two graphs naming the same weights get the same values).
inline std::vector<ir::HostTensor> reference_outputs(const ir::Graph& g, uint64_t seed,
                                                     const ir::SymbolBindings& symbols) {
  std::mt19937_64 rng(seed);
  std::map<std::string, ir::HostTensor> inputs;
  for (ir::ValueId v : g.inputs)
    inputs[g.value(v).name] = ir::HostTensor::random(g.type(v).dtype, ir::concrete_shape(g.type(v).shape, symbols), rng);
  auto weights = [&](const std::string& name, const ir::Type& t) {
    std::mt19937_64 weight_rng(seed ^ std::hash<std::string>{}(name));
    return ir::HostTensor::random(t.dtype, ir::concrete_shape(t.shape, symbols), weight_rng);
  };
  return ir::run_reference(g, symbols, inputs, weights).outputs;
}

// Expects `after` (a pass's result) to give bit-identical reference outputs to `before` for each
// `seq` value, on fresh random inputs.
inline void expect_same_reference_outputs(const ir::Graph& before, const ir::Graph& after,
                                          const std::vector<int64_t>& seq_values) {
  const uint64_t seed = std::random_device{}();
  for (int64_t rows : seq_values) {
    const ir::SymbolBindings symbols{{"seq", rows}};
    const std::vector<ir::HostTensor> want = reference_outputs(before, seed, symbols),
                                      got = reference_outputs(after, seed, symbols);
    ASSERT_EQ(want.size(), got.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(want[i].bytes, got[i].bytes) << "seed " << seed << ", output " << i;
  }
}

}  // namespace vkllm::passes
