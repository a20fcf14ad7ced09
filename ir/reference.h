// The reference executor: a plain C++ evaluator of every op, accumulating in f64. It is the
// specification (ir/README.md made executable) and the oracle of every kernel, pass and model test.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/host_tensor.h"
#include "ir/ir.h"

namespace vkllm::ir {

using SymbolBindings = std::map<std::string, int64_t>;
// Returns the data of the weight called `name`, whose declared type is `type`.
using WeightFn = std::function<HostTensor(const std::string& name, const Type& type)>;
// The model's persistent tensors (KV caches), by the name of their `state` ops. A run reads them
// and leaves their updated contents here for the next run.
using StateMap = std::map<std::string, HostTensor>;

struct ReferenceRun {
  std::vector<HostTensor> outputs;   // in the order of graph.outputs
  std::vector<HostTensor> values;    // every value of the graph, indexed by ValueId
};

// Runs `g` with symbols bound as given. `inputs` maps graph input names to tensors whose dtype
// and shape match the input's type under the bindings; each result is rounded to its declared
// dtype. Throws IrError on a missing input, a name that is not an input of `g`, a shape mismatch,
// an unbound symbol, or a weight whose tensor does not match its declared type.
// `state` ops read `(*states)[name]` (which must exist with the declared type); after each in-place
// op (ir::in_place_writes) writing a state's storage, the updated tensor is stored back under that
// name. A graph with state ops needs `states`.
ReferenceRun run_reference(const Graph& g, const SymbolBindings& symbols,
                           const std::map<std::string, HostTensor>& inputs, const WeightFn& weights,
                           StateMap* states = nullptr);

// Concrete dims of a shape under bindings.
std::vector<int64_t> concrete_shape(const Shape& s, const SymbolBindings& symbols);

}  // namespace vkllm::ir
