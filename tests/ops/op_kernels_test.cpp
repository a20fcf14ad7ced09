// Runs every registered case (tests/ops/*_cases.cpp) as its own test, and checks that every op kind
// has both an emitter and at least one case (state ops, bound by the runtime, excepted).
#include <gtest/gtest.h>

#include <set>

#include "codegen/ops/emitter.h"
#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {
namespace {

class OpKernel : public testing::TestWithParam<size_t> {};

TEST_P(OpKernel, MatchesReference) { run_case(registered_cases()[GetParam()]); }

INSTANTIATE_TEST_SUITE_P(Cases, OpKernel, testing::Range<size_t>(0, registered_cases().size()),
                         [](const testing::TestParamInfo<size_t>& info) {
                           return registered_cases()[info.param].name;
                         });

TEST(OpKernelCoverage, EveryOpHasAnEmitterAndACase) {
  std::set<ir::OpKind> tested;
  std::set<std::string> names;
  for (const OpCase& c : registered_cases()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
    for (const ir::Op& op : c.graph.ops) tested.insert(op.kind);
  }
  for (int i = 0; i < ir::kNumOps; ++i) {
    const auto kind = static_cast<ir::OpKind>(i);
    const codegen::ops::OpLowering& lowering = codegen::ops::lowering(kind);
    EXPECT_TRUE(lowering.how != codegen::ops::Lowering::Dispatch || lowering.emit != nullptr)
        << "op '" << ir::name(kind) << "' has no kernel emitter (codegen/ops/emitters.cpp)";
    // A state op has no kernel and no data of its own here: the runtime binds the model's persistent
    // buffer (its tests cover that). The ops that use caches take them as graph inputs in cache_cases.cpp.
    if (lowering.how == codegen::ops::Lowering::State) continue;
    EXPECT_TRUE(tested.count(kind)) << "op '" << ir::name(kind) << "' has no case in tests/ops/*_cases.cpp";
  }
}

}  // namespace
}  // namespace vkllm::ops_test
