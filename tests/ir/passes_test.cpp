// The passes (passes/pass.h) on graphs built with ir::Builder: the expected structure afterwards
// (written out by hand), the result still verifies, and the reference executor computes the same
// outputs before and after.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <set>
#include <stdexcept>

#include "ir/reference.h"
#include "ir/verify.h"
#include "passes/pass.h"

namespace vkllm::passes {
namespace {

using ir::Builder;
using ir::DType;
using ir::Graph;
using ir::OpKind;
using ir::Type;
using ir::ValueId;

ir::Dim c(int64_t v) { return ir::Dim::of(v); }
ir::Dim sym(const char* s) { return ir::Dim::symbol(s); }
Type f32(ir::Shape s) { return Type{DType::F32, std::move(s)}; }

std::vector<std::string> names(const Graph& g, const std::vector<ValueId>& ids) {
  std::vector<std::string> out;
  for (ValueId v : ids) out.push_back(g.value(v).name);
  return out;
}

// Each op as "kind(operand names) -> result names".
std::vector<std::string> op_lines(const Graph& g) {
  std::vector<std::string> out;
  for (const ir::Op& op : g.ops) {
    std::string line = std::string(ir::name(op.kind)) + "(";
    for (const std::string& n : names(g, op.inputs)) line += (line.back() == '(' ? "" : ",") + n;
    line += ") ->";
    for (const std::string& n : names(g, op.results)) line += " " + n;
    out.push_back(line);
  }
  return out;
}

// The invariants every pass keeps: verifies, values are exactly the inputs and the op results,
// and each result knows its producer.
void expect_well_formed(const Graph& g) {
  EXPECT_NO_THROW(ir::verify(g));
  size_t results = 0;
  for (size_t i = 0; i < g.ops.size(); ++i)
    for (ValueId r : g.ops[i].results) {
      EXPECT_EQ(g.value(r).producer, static_cast<int>(i)) << g.value(r).name;
      ++results;
    }
  EXPECT_EQ(g.values.size(), g.inputs.size() + results);
}

// Runs g on the reference executor with fresh random inputs and weights. Weights depend on the
// name only, so merged weights read the same data.
std::vector<ir::HostTensor> run(const Graph& g, uint64_t seed, const ir::SymbolBindings& symbols) {
  std::mt19937_64 rng(seed);
  std::map<std::string, ir::HostTensor> inputs;
  for (ValueId v : g.inputs)
    inputs[g.value(v).name] =
        ir::HostTensor::random(g.type(v).dtype, ir::concrete_shape(g.type(v).shape, symbols), rng);
  auto weights = [&](const std::string& name, const Type& t) {
    std::mt19937_64 weight_rng(seed ^ std::hash<std::string>{}(name));
    return ir::HostTensor::random(t.dtype, ir::concrete_shape(t.shape, symbols), weight_rng);
  };
  return ir::run_reference(g, symbols, inputs, weights).outputs;
}

void expect_same_outputs(const Graph& before, const Graph& after, const ir::SymbolBindings& symbols) {
  const uint64_t seed = std::random_device{}();
  std::vector<ir::HostTensor> want = run(before, seed, symbols), got = run(after, seed, symbols);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(want[i].dtype, got[i].dtype) << "output " << i;
    EXPECT_EQ(want[i].shape, got[i].shape) << "output " << i;
    EXPECT_EQ(want[i].bytes, got[i].bytes) << "output " << i << " (seed " << seed << ")";
  }
}

ir::Module module_of(Graph g) { return ir::Module{{std::move(g)}}; }

// x and cs are used; "unused" is an input nothing reads, and must stay.
Graph graph_with_dead_code() {
  Builder b("g");
  ValueId x = b.input("x", f32({sym("seq"), c(8)}));
  b.input("unused", f32({c(4)}));
  ValueId cs = b.input("cs", f32({c(3), c(8)}));
  ValueId w = b.weight("w", f32({c(8)}));
  b.set_name(w, "w");
  ValueId live = b.mul(x, w);
  b.set_name(live, "live");
  ValueId dead1 = b.silu(x);
  b.set_name(dead1, "dead1");
  b.set_name(b.scale(dead1, 2.0), "dead2");  // a dead chain
  ValueId cw = b.weight("conv.w", f32({c(8), c(4)}));
  b.set_name(cw, "cw");
  auto [y, state] = b.conv1d(live, cw, cs, true);  // only its first result is used
  b.set_name(y, "y");
  b.set_name(state, "state");
  b.set_name(b.weight("unused.w", f32({c(8)})), "dead_w");
  auto [tv, ti] = b.top_k(y, 2);  // both results dead
  b.set_name(tv, "tv");
  b.set_name(ti, "ti");
  b.output(y);
  b.output(x);  // an input can be an output
  return b.finish();
}

TEST(DeadCode, RemovesOpsThatReachNoOutput) {
  Graph before = graph_with_dead_code();
  ir::Module m = module_of(before);
  run_passes(m, {"dce"});
  const Graph& g = m.graphs[0];
  expect_well_formed(g);
  EXPECT_EQ(names(g, g.inputs), (std::vector<std::string>{"x", "unused", "cs"}));
  EXPECT_EQ(op_lines(g), (std::vector<std::string>{
                             "weight() -> w",
                             "mul(x,w) -> live",
                             "weight() -> cw",
                             "conv1d(live,cw,cs) -> y state",
                         }));
  EXPECT_EQ(names(g, g.outputs), (std::vector<std::string>{"y", "x"}));
  expect_same_outputs(before, g, {{"seq", 5}});
}

TEST(DeadCode, KeepsAGraphWithoutDeadCodeAsItIs) {
  Builder b("g");
  ValueId x = b.input("x", f32({c(2), c(8)}));
  b.output(b.softmax(b.silu(x)));
  Graph before = b.finish();
  ir::Module m = module_of(before);
  run_passes(m, {"dce"});
  EXPECT_EQ(op_lines(m.graphs[0]), op_lines(before));
  EXPECT_EQ(names(m.graphs[0], m.graphs[0].outputs), names(before, before.outputs));
}

TEST(DeadCode, GraphWithoutOutputsKeepsOnlyItsInputs) {
  Builder b("g");
  ValueId x = b.input("x", f32({c(2)}));
  b.silu(b.add(x, b.weight("w", f32({c(2)}))));
  ir::Module m = module_of(b.finish());
  run_passes(m, {"dce"});
  expect_well_formed(m.graphs[0]);
  EXPECT_TRUE(m.graphs[0].ops.empty());
  EXPECT_EQ(names(m.graphs[0], m.graphs[0].inputs), (std::vector<std::string>{"x"}));
}

// A decode step writes the cache (state "k") in place; no output uses kv_write's result.
Graph graph_with_side_effects() {
  Builder b("g");
  ValueId x = b.input("x", f32({c(2), c(4)}));
  ValueId rows = b.input("rows", f32({sym("seq"), c(1), c(4)}));
  ValueId slots = b.input("slots", Type{DType::I32, {sym("seq")}});
  auto named = [&](ValueId v, const char* n) {
    b.set_name(v, n);
    return v;
  };
  ValueId cache = named(b.state("k", Type{DType::F16, {c(3), c(2), c(1), c(4)}}), "cache");
  ValueId scaled = named(b.scale(rows, 0.5), "scaled");  // only kv_write reads it
  named(b.kv_write(cache, scaled, slots), "written");
  named(b.silu(x), "dead");
  b.output(named(b.softmax(x), "out"));
  return b.finish();
}

TEST(DeadCode, KeepsOpsWithSideEffectsAndWhatTheyRead) {
  Graph before = graph_with_side_effects();
  ir::Module m = module_of(before);
  run_passes(m, {"dce"});
  const Graph& g = m.graphs[0];
  expect_well_formed(g);
  EXPECT_EQ(op_lines(g), (std::vector<std::string>{
                             "state() -> cache",
                             "scale(rows) -> scaled",
                             "kv_write(cache,scaled,slots) -> written",
                             "softmax(x) -> out",
                         }));
  // The cache ends the same with and without the pass.
  std::mt19937_64 rng(std::random_device{}());
  const ir::HostTensor initial = ir::HostTensor::random(DType::F16, {3, 2, 1, 4}, rng);
  ir::HostTensor slots = ir::HostTensor::random(DType::I32, {2}, rng, 0, 3);
  slots.set(1, slots.get(1) + 3);  // rows 0..2 and 3..5 of the cache: never the same row
  const std::map<std::string, ir::HostTensor> inputs{{"x", ir::HostTensor::random(DType::F32, {2, 4}, rng)},
                                                     {"rows", ir::HostTensor::random(DType::F32, {2, 1, 4}, rng)},
                                                     {"slots", slots}};
  ir::StateMap state_before{{"k", initial}}, state_after{{"k", initial}};
  ir::run_reference(before, {{"seq", 2}}, inputs, {}, &state_before);
  ir::run_reference(g, {{"seq", 2}}, inputs, {}, &state_after);
  EXPECT_EQ(state_after.at("k").bytes, state_before.at("k").bytes);
  EXPECT_NE(state_after.at("k").bytes, initial.bytes);
}

Graph graph_with_duplicate_weights() {
  Builder b("g");
  ValueId x = b.input("x", f32({sym("seq"), c(8)}));
  auto named = [&](ValueId v, const char* n) {
    b.set_name(v, n);
    return v;
  };
  ValueId w1 = named(b.weight("w", f32({c(8)})), "w1");
  ValueId w2 = named(b.weight("w", f32({c(8)})), "w2");               // same as w1
  ValueId w3 = named(b.weight("w", Type{DType::F16, {c(8)}}), "w3");  // same name, other type
  ValueId w4 = named(b.weight("v", f32({c(8)})), "w4");               // other name, same type
  ValueId w5 = named(b.weight("w", f32({c(8)})), "w5");               // same as w1 again
  ValueId a = named(b.mul(x, w1), "a");
  ValueId bb = named(b.mul(x, w2), "b");
  ValueId cc = named(b.add(a, w3), "c");
  ValueId d = named(b.mul(cc, w4), "d");
  ValueId e = named(b.add(d, w5), "e");
  b.output(bb);
  b.output(e);
  b.output(w2);
  return b.finish();
}

TEST(DedupeWeights, MergesSameNameAndTypeAndRewiresUses) {
  Graph before = graph_with_duplicate_weights();
  ir::Module m = module_of(before);
  run_passes(m, {"dedupe-weights"});
  const Graph& g = m.graphs[0];
  expect_well_formed(g);
  EXPECT_EQ(op_lines(g), (std::vector<std::string>{
                             "weight() -> w1",
                             "weight() -> w3",
                             "weight() -> w4",
                             "mul(x,w1) -> a",
                             "mul(x,w1) -> b",
                             "add(a,w3) -> c",
                             "mul(c,w4) -> d",
                             "add(d,w1) -> e",
                         }));
  EXPECT_EQ(names(g, g.outputs), (std::vector<std::string>{"b", "e", "w1"}));
  EXPECT_EQ(g.ops[1].attr_str("name"), "w");
  EXPECT_EQ(g.type(g.ops[1].results[0]).dtype, DType::F16);
  EXPECT_EQ(g.ops[2].attr_str("name"), "v");
  expect_same_outputs(before, g, {{"seq", 3}});
}

TEST(DedupeWeights, IsIdempotentAndLeavesDistinctWeightsAlone) {
  ir::Module m = module_of(graph_with_duplicate_weights());
  run_passes(m, {"dedupe-weights"});
  std::vector<std::string> once = op_lines(m.graphs[0]);
  run_passes(m, {"dedupe-weights"});
  EXPECT_EQ(op_lines(m.graphs[0]), once);
}

TEST(RunPasses, UnknownNameListsTheKnownPassesAndRunsNothing) {
  ir::Module m = module_of(graph_with_dead_code());
  const size_t ops_before = m.graphs[0].ops.size();
  try {
    run_passes(m, {"dce", "nope"});
    FAIL() << "accepted an unknown pass";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown pass 'nope'; known passes: dce, dedupe-weights, fuse-matmul-add, fuse-rms-norm-matmul, "
              "fuse-swiglu-matmul, fuse-geglu-matmul, fuse-glu-pair, merge-sibling-matmuls, split-decode-attention, "
              "split-decode-sample, fuse-kv-write, fuse-attention-rope, fuse-attention-combine, fuse-gdn-decode");
  }
  EXPECT_EQ(m.graphs[0].ops.size(), ops_before);
}

TEST(RunPasses, RunsInOrderOnEveryGraphAndReportsAfterEach) {
  Graph second = graph_with_duplicate_weights();
  second.name = "second";
  ir::Module m{{graph_with_dead_code(), second}};
  std::vector<std::string> seen;
  std::vector<size_t> op_counts;
  run_passes(m, {"dedupe-weights", "dce"}, [&](std::string_view pass, const ir::Module& after) {
    seen.emplace_back(pass);
    op_counts.push_back(after.graphs[0].ops.size() + after.graphs[1].ops.size());
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"dedupe-weights", "dce"}));
  // @g: 8 ops, dedupe changes nothing, dce leaves 4. @second: 10 ops, dedupe leaves 8, dce keeps them.
  EXPECT_EQ(op_counts, (std::vector<size_t>{8 + 8, 4 + 8}));
  EXPECT_EQ(m.graphs[0].ops.size(), 4u);
  EXPECT_EQ(m.graphs[1].ops.size(), 8u);
}

TEST(RunPasses, EmptyListChangesNothing) {
  ir::Module m = module_of(graph_with_dead_code());
  run_passes(m, {}, [](std::string_view, const ir::Module&) { FAIL() << "no pass should run"; });
  EXPECT_EQ(m.graphs[0].ops.size(), 8u);
}

TEST(Registry, NamesAreUniqueAndLookedUp) {
  std::set<std::string_view> seen;
  for (const Pass& p : all_passes()) {
    EXPECT_TRUE(seen.insert(p.name).second) << "duplicate pass name " << p.name;
    EXPECT_FALSE(p.summary.empty()) << p.name;
    EXPECT_NE(p.run, nullptr) << p.name;
    EXPECT_EQ(&get_pass(p.name), &p);
  }
  EXPECT_TRUE(seen.count("dce"));
  EXPECT_TRUE(seen.count("dedupe-weights"));
  EXPECT_THROW(get_pass("DCE"), std::invalid_argument);
}

}  // namespace
}  // namespace vkllm::passes
