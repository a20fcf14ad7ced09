// GraphExecutor on hand-built CompiledGraphs whose kernels are small GLSL programs written here:
// one recording replayed over many steps with changing symbols and inputs, dependent dispatches,
// segmented submissions, profiling, views, and the errors a caller can provoke. Expected values
// are computed in the test from the kernels' definitions.
#include "runtime/graph_executor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <span>

#include "codegen/glsl_compiler.h"
#include "runtime/error.h"
#include "tests/runtime/device_fixture.h"

namespace vkllm::runtime_test {
namespace {

using ir::Dim;
using ir::DType;
using runtime::ExecutorOptions;
using runtime::GraphExecutor;

constexpr uint32_t kNaN = 0x7fc00000u;
constexpr int64_t kMaxRows = 64;
constexpr int64_t kMaxK = 1000;
constexpr int64_t kCols = 8;

constexpr const char* kPrologue = R"(#version 460
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
layout(local_size_x = 64) in;
layout(buffer_reference, std430) readonly buffer Params { uint sym[]; };
layout(buffer_reference, std430) buffer F32Buf { float v[]; };
)";

// Step-parameter slots of the test graphs: symbols = {"k", "n"}.
constexpr const char* kAffine = R"(
layout(push_constant) uniform Args { Params params; F32Buf x; F32Buf w; F32Buf out_; } args;
void main() {
  uint k = args.params.sym[0], n = args.params.sym[1];
  uint i = gl_GlobalInvocationID.x;
  if (i >= n * 8u) return;
  args.out_.v[i] = args.x.v[i] * 2.0 + args.w.v[i % 8u] + float(k);
}
)";
// Reads the element mirrored around the middle, written by another workgroup of the previous dispatch.
constexpr const char* kMirror = R"(
layout(push_constant) uniform Args { Params params; F32Buf h; F32Buf out_; } args;
void main() {
  uint n = args.params.sym[1];
  uint i = gl_GlobalInvocationID.x;
  if (i >= n * 8u) return;
  args.out_.v[i] = args.h.v[i] + 0.5 * args.h.v[n * 8u - 1u - i];
}
)";
constexpr const char* kPlusOne = R"(
layout(push_constant) uniform Args { Params params; F32Buf x; F32Buf out_; } args;
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= args.params.sym[1] * 8u) return;
  args.out_.v[i] = args.x.v[i] + 1.0;
}
)";

codegen::Kernel kernel(const std::string& name, const char* body, std::vector<std::string> arg_names) {
  codegen::Kernel k;
  k.name = name;
  k.glsl = std::string(kPrologue) + body;
  k.spirv = codegen::compile_glsl(k.glsl);
  k.local_size = {64, 1, 1};
  k.args.push_back({"params", false});
  for (size_t i = 0; i < arg_names.size(); ++i) k.args.push_back({arg_names[i], i + 1 == arg_names.size()});
  // One invocation per element of the [n, 8] tensors.
  k.grid[0] = codegen::GridDim{kCols, {"n"}, 64};
  return k;
}

codegen::Dispatch dispatch(int op_index, codegen::Kernel k, std::vector<ir::ValueId> args) {
  codegen::Dispatch d;
  d.op_index = op_index;
  d.kernel = std::move(k);
  d.args = std::move(args);
  return d;
}

codegen::CompiledGraph compiled(ir::Graph g) {
  codegen::CompiledGraph c;
  c.symbols = {"k", "n"};
  c.storage_of.resize(g.values.size());
  for (size_t v = 0; v < g.values.size(); ++v) c.storage_of[v] = static_cast<ir::ValueId>(v);
  c.graph = std::move(g);
  return c;
}

// x: f32[n, 8] -> h = affine(x, bias) -> y = mirror(h); outputs h and y.
codegen::CompiledGraph two_dispatch_graph() {
  ir::Builder b("two_dispatches");
  const auto x = b.input("x", {DType::F32, {Dim::symbol("n"), Dim::of(kCols)}});
  const auto w = b.weight("bias", {DType::F32, {Dim::of(kCols)}});
  const auto h = b.add(x, w);
  const auto y = b.scale(h, 1.0);
  b.set_name(h, "h");
  b.set_name(y, "y");
  b.output(h);
  b.output(y);
  codegen::CompiledGraph c = compiled(b.finish());
  c.dispatches.push_back(dispatch(1, kernel("affine", kAffine, {"x", "w", "out"}), {x, w, h}));
  c.dispatches.push_back(dispatch(2, kernel("mirror", kMirror, {"h", "out"}), {h, y}));
  return c;
}

std::vector<float> random_floats(std::mt19937_64& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

std::vector<float> floats_of(const ir::HostTensor& t) {
  EXPECT_EQ(t.dtype, DType::F32);
  std::vector<float> v(t.bytes.size() / 4);
  std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

void expect_floats(const ir::HostTensor& got, const std::vector<float>& want, const std::vector<int64_t>& shape,
                   const std::string& what) {
  EXPECT_EQ(got.shape, shape) << what;
  const std::vector<float> values = floats_of(got);
  ASSERT_EQ(values.size(), want.size()) << what;
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    // One rounding of slack for a fused multiply-add.
    const bool ok = std::abs(values[i] - want[i]) <= 1e-6f * std::max(1.0f, std::abs(want[i]));
    if (!ok && bad++ == 0) first_bad = i;
  }
  EXPECT_EQ(bad, 0u) << what << ": first mismatch at " << first_bad << ": got " << values[first_bad] << ", want "
                     << want[first_bad];
}

class GraphExecutorTest : public DeviceTest {
 protected:
  std::mt19937_64 rng{7};
  std::vector<float> bias = random_floats(rng, kCols, -1, 1);
  ir::WeightFn weights = [this](const std::string& name, const ir::Type& type) {
    EXPECT_EQ(name, "bias");
    ir::HostTensor t;
    t.dtype = type.dtype;
    t.shape = {kCols};
    t.bytes.resize(bias.size() * 4);
    std::memcpy(t.bytes.data(), bias.data(), t.bytes.size());
    return t;
  };
  const ir::SymbolBindings max_symbols{{"n", kMaxRows}, {"k", kMaxK}};

  // Runs one step of two_dispatch_graph with fresh inputs and checks both outputs.
  void step(GraphExecutor& executor, int64_t n, int64_t k) {
    SCOPED_TRACE("n=" + std::to_string(n) + " k=" + std::to_string(k));
    const size_t count = static_cast<size_t>(n * kCols);
    const std::vector<float> x = random_floats(rng, count, -4, 4);
    std::vector<float> h(count), y(count);
    for (size_t i = 0; i < count; ++i) h[i] = x[i] * 2.0f + bias[i % kCols] + static_cast<float>(k);
    for (size_t i = 0; i < count; ++i) y[i] = h[i] + 0.5f * h[count - 1 - i];

    executor.fill_activations(kNaN);
    executor.set_input("x", x.data(), x.size() * 4);
    executor.run({{"n", n}, {"k", k}});
    expect_floats(executor.read_output("h"), h, {n, kCols}, "h");
    const ir::HostTensor y_tensor = executor.read_output("y");
    expect_floats(y_tensor, y, {n, kCols}, "y");

    // The per-step form: the same bytes into a caller-owned buffer sized for the maximum rows, the
    // rest of it untouched.
    constexpr uint32_t kSentinel = 0xdeadbeefu;
    std::vector<uint32_t> into(static_cast<size_t>(kMaxRows * kCols), kSentinel);
    EXPECT_EQ(executor.output_dtype("y"), DType::F32);
    EXPECT_EQ(executor.output_bytes("y"), count * 4);
    ASSERT_EQ(executor.read_output("y", std::as_writable_bytes(std::span(into))), count * 4);
    EXPECT_EQ(std::memcmp(into.data(), y_tensor.bytes.data(), count * 4), 0);
    for (size_t i = count; i < into.size(); ++i) ASSERT_EQ(into[i], kSentinel) << "written past the output at " << i;
  }
};

TEST_F(GraphExecutorTest, ReplaysOneRecordingAcrossManySteps) {
  GraphExecutor executor(device(), two_dispatch_graph(), max_symbols, weights);
  EXPECT_EQ(executor.record_count(), 1u);
  EXPECT_EQ(executor.barriers_per_run(), 1u) << "mirror reads what affine wrote";
  EXPECT_EQ(executor.submissions_per_run(), 1u);
  std::uniform_int_distribution<int64_t> rows(1, kMaxRows), ks(0, kMaxK);
  for (int s = 0; s < 60; ++s) {
    // The extremes first, then random sizes.
    const int64_t n = s == 0 ? kMaxRows : s == 1 ? 1 : rows(rng);
    step(executor, n, s == 0 ? kMaxK : ks(rng));
  }
  EXPECT_EQ(executor.record_count(), 1u) << "a step must not record command buffers";
  EXPECT_TRUE(executor.last_timings().empty());
}

// Barriers only where dispatches conflict: a = x + 1 and b = x + 1 read the same input (none between
// them); e = z + 1 is written in place into x's buffer, which a and b read (write-after-read: a
// barrier); y = mirror(b) reads b, written before that barrier (none). The results show that e did
// not overwrite x before a and b read it.
TEST_F(GraphExecutorTest, BarriersOnlyBetweenConflictingDispatches) {
  ir::Builder b("barriers");
  const ir::Type type{DType::F32, {Dim::symbol("n"), Dim::of(kCols)}};
  const auto x = b.input("x", type);
  const auto z = b.input("z", type);
  const auto a = b.scale(x, 1.0), bv = b.scale(x, 1.0), e = b.scale(z, 1.0), y = b.scale(bv, 1.0);
  b.set_name(a, "a");
  b.set_name(bv, "b");
  b.set_name(e, "e");
  b.set_name(y, "y");
  for (auto v : {a, bv, e, y}) b.output(v);
  codegen::CompiledGraph c = compiled(b.finish());
  c.storage_of[static_cast<size_t>(e)] = x;  // e written in place over x
  const auto op_of = [&](ir::ValueId v) {
    for (size_t i = 0; i < c.graph.ops.size(); ++i)
      if (c.graph.ops[i].results.at(0) == v) return static_cast<int>(i);
    return -1;
  };
  c.dispatches.push_back(dispatch(op_of(a), kernel("plus_one", kPlusOne, {"x", "out"}), {x, a}));
  c.dispatches.push_back(dispatch(op_of(bv), kernel("plus_one", kPlusOne, {"x", "out"}), {x, bv}));
  c.dispatches.push_back(dispatch(op_of(e), kernel("plus_one", kPlusOne, {"x", "out"}), {z, e}));
  c.dispatches.push_back(dispatch(op_of(y), kernel("mirror", kMirror, {"h", "out"}), {bv, y}));
  GraphExecutor executor(device(), std::move(c), max_symbols, weights);
  EXPECT_EQ(executor.barriers_per_run(), 1u);
  for (int64_t n : {kMaxRows, int64_t{5}}) {
    const size_t count = static_cast<size_t>(n * kCols);
    const std::vector<float> xs = random_floats(rng, count, -4, 4), zs = random_floats(rng, count, -4, 4);
    std::vector<float> plus(count), es(count), ys(count);
    for (size_t i = 0; i < count; ++i) plus[i] = xs[i] + 1.0f;
    for (size_t i = 0; i < count; ++i) es[i] = zs[i] + 1.0f;
    for (size_t i = 0; i < count; ++i) ys[i] = plus[i] + 0.5f * plus[count - 1 - i];
    executor.fill_activations(kNaN);
    executor.set_input("x", xs.data(), count * 4);
    executor.set_input("z", zs.data(), count * 4);
    executor.run({{"n", n}, {"k", 0}});
    expect_floats(executor.read_output("a"), plus, {n, kCols}, "a");
    expect_floats(executor.read_output("b"), plus, {n, kCols}, "b");
    expect_floats(executor.read_output("e"), es, {n, kCols}, "e");
    expect_floats(executor.read_output("y"), ys, {n, kCols}, "y");
  }
}

TEST_F(GraphExecutorTest, ZeroRowsDispatchNothing) {
  GraphExecutor executor(device(), two_dispatch_graph(), max_symbols, weights);
  step(executor, 0, 5);
  step(executor, 3, 5);
}

TEST_F(GraphExecutorTest, OneDispatchPerSubmissionGivesTheSameResults) {
  GraphExecutor executor(device(), two_dispatch_graph(), max_symbols, weights, ExecutorOptions{1});
  EXPECT_EQ(executor.submissions_per_run(), 2u);
  EXPECT_EQ(executor.record_count(), 2u);
  std::uniform_int_distribution<int64_t> rows(1, kMaxRows), ks(0, kMaxK);
  for (int s = 0; s < 12; ++s) step(executor, rows(rng), ks(rng));
  EXPECT_EQ(executor.record_count(), 2u);
}

TEST_F(GraphExecutorTest, ProfilingTimesEveryDispatch) {
  for (size_t budget : {size_t{256}, size_t{1}}) {
    SCOPED_TRACE("dispatches per submission " + std::to_string(budget));
    GraphExecutor executor(device(), two_dispatch_graph(), max_symbols, weights, ExecutorOptions{budget});
    const size_t recorded = executor.record_count();
    executor.set_profiling(true);
    EXPECT_EQ(executor.record_count(), 2 * recorded) << "the profiling variant is recorded once";
    for (int s = 0; s < 3; ++s) {
      step(executor, 40 + s, s);
      const auto timings = executor.last_timings();
      ASSERT_EQ(timings.size(), 2u);
      EXPECT_EQ(timings[0].kernel, "affine");
      EXPECT_EQ(timings[0].op_index, 1);
      EXPECT_EQ(timings[1].kernel, "mirror");
      EXPECT_EQ(timings[1].op_index, 2);
      for (const auto& t : timings) {
        EXPECT_GE(t.microseconds, 0.0);
        EXPECT_LT(t.microseconds, 10e6);
      }
    }
    EXPECT_EQ(executor.record_count(), 2 * recorded);
    executor.set_profiling(false);
    step(executor, 7, 1);
    EXPECT_TRUE(executor.last_timings().empty());
    executor.set_profiling(true);
    EXPECT_EQ(executor.record_count(), 2 * recorded);
  }
}

TEST_F(GraphExecutorTest, LongGraphsAreSplitIntoSeveralSubmissions) {
  constexpr int kOps = 300;
  ir::Builder b("chain");
  const auto x = b.input("x", {DType::F32, {Dim::symbol("n"), Dim::of(kCols)}});
  std::vector<ir::ValueId> values{x};
  for (int i = 0; i < kOps; ++i) values.push_back(b.scale(values.back(), 1.0));
  b.set_name(values.back(), "last");
  b.output(values.back());
  codegen::CompiledGraph c = compiled(b.finish());
  const codegen::Kernel plus_one = kernel("plus_one", kPlusOne, {"x", "out"});
  for (int i = 0; i < kOps; ++i) c.dispatches.push_back(dispatch(i, plus_one, {values[i], values[i + 1]}));

  GraphExecutor executor(device(), std::move(c), max_symbols, weights);
  EXPECT_EQ(executor.submissions_per_run(), 2u) << "300 dispatches at 256 per submission";
  for (int64_t n : {int64_t{64}, int64_t{5}}) {
    const std::vector<float> in = random_floats(rng, static_cast<size_t>(n * kCols), -4, 4);
    std::vector<float> want(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      want[i] = in[i];
      for (int op = 0; op < kOps; ++op) want[i] += 1.0f;
    }
    executor.fill_activations(kNaN);
    executor.set_input("x", in.data(), in.size() * 4);
    executor.run({{"n", n}, {"k", 0}});
    expect_floats(executor.read_output("last"), want, {n, kCols}, "last");
  }
  EXPECT_EQ(executor.record_count(), 2u);
}

TEST_F(GraphExecutorTest, ViewsShareTheirSourceStorage) {
  ir::Builder b("view");
  const auto x = b.input("x", {DType::F32, {Dim::symbol("n"), Dim::of(kCols)}});
  const auto w = b.weight("bias", {DType::F32, {Dim::of(kCols)}});
  const auto h = b.add(x, w);
  const auto r = b.reshape(h, {Dim::symbol("n"), Dim::of(2), Dim::of(4)});
  const auto z = b.scale(r, 1.0);
  b.set_name(r, "r");
  b.set_name(z, "z");
  b.output(r);
  b.output(z);
  codegen::CompiledGraph c = compiled(b.finish());
  c.storage_of[static_cast<size_t>(r)] = h;
  c.dispatches.push_back(dispatch(1, kernel("affine", kAffine, {"x", "w", "out"}), {x, w, h}));
  // z reads the view: x + 1 over the same elements.
  c.dispatches.push_back(dispatch(3, kernel("plus_one", kPlusOne, {"x", "out"}), {r, z}));

  GraphExecutor executor(device(), std::move(c), max_symbols, weights);
  const int64_t n = 9, k = 3;
  const std::vector<float> in = random_floats(rng, static_cast<size_t>(n * kCols), -4, 4);
  std::vector<float> h_want(in.size()), z_want(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    h_want[i] = in[i] * 2.0f + bias[i % kCols] + static_cast<float>(k);
    z_want[i] = h_want[i] + 1.0f;
  }
  executor.fill_activations(kNaN);
  executor.set_input("x", in.data(), in.size() * 4);
  executor.run({{"n", n}, {"k", k}});
  expect_floats(executor.read_output("r"), h_want, {n, 2, 4}, "r");
  expect_floats(executor.read_output("z"), z_want, {n, 2, 4}, "z");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const runtime::RuntimeError& e) {
    return e.what();
  }
  return "no error";
}

TEST_F(GraphExecutorTest, CallerMistakesAreErrorsThatSayWhat) {
  GraphExecutor executor(device(), two_dispatch_graph(), max_symbols, weights);
  const std::vector<float> x(kMaxRows * kCols + 8, 1.0f);
  auto contains = [](const std::string& message, const std::string& part) {
    EXPECT_NE(message.find(part), std::string::npos) << "'" << message << "' lacks '" << part << "'";
  };
  contains(error_of([&] { executor.read_output("y"); }), "before a successful run");
  contains(error_of([&] { executor.run({{"n", 2}, {"k", 0}}); }), "input 'x' was never set");
  contains(error_of([&] { executor.set_input("nope", x.data(), 4); }), "no input 'nope' (inputs: 'x')");
  contains(error_of([&] { executor.set_input("x", x.data(), x.size() * 4); }), "at the maximum symbols");
  executor.set_input("x", x.data(), 3 * kCols * 4);
  contains(error_of([&] {
             executor.run({{"n", 2}, {"k", 0}});
           }),
           "input 'x' holds 96 bytes but f32[n, 8] with k=0, n=2 needs 64 bytes");
  contains(error_of([&] { executor.run({{"n", kMaxRows + 1}, {"k", 0}}); }), "symbol n=65 is outside [0, 64]");
  contains(error_of([&] { executor.run({{"n", 3}}); }), "symbol 'k' is not bound");
  contains(error_of([&] { executor.read_output("h"); }), "before a successful run");
  std::vector<std::byte> small(3 * kCols * 4 - 1);
  contains(error_of([&] { executor.read_output("h", small); }), "before a successful run");
  executor.run({{"n", 3}, {"k", 0}});
  contains(error_of([&] { executor.read_output("x2"); }), "no output 'x2' (outputs: 'h', 'y')");
  contains(error_of([&] { executor.read_output("x2", small); }), "no output 'x2' (outputs: 'h', 'y')");
  contains(error_of([&] { executor.read_output("h", small); }), "output 'h' holds 96 bytes; the buffer given for it holds 95");

  contains(error_of([&] {
             GraphExecutor e(device(), two_dispatch_graph(), {{"k", 1}}, weights);
           }),
           "symbol 'n' has no maximum");
  contains(error_of([&] {
             codegen::CompiledGraph bounded = two_dispatch_graph();
             bounded.max_symbols = {{"n", 4}};  // kernels specialized for at most 4 rows
             GraphExecutor e(device(), std::move(bounded), max_symbols, weights);
           }),
           "symbol 'n' may reach 64, but the graph was compiled for at most 4");
  const ir::WeightFn short_weights = [](const std::string&, const ir::Type&) {
    ir::HostTensor t;
    t.dtype = DType::F32;
    t.shape = {4};
    t.bytes.resize(16);
    return t;
  };
  contains(error_of([&] { GraphExecutor e(device(), two_dispatch_graph(), max_symbols, short_weights); }),
           "graph @two_dispatches: weight 'bias': expected f32[8] (32 bytes)");
  codegen::CompiledGraph wrong_args = two_dispatch_graph();
  wrong_args.dispatches[1].args.pop_back();
  contains(error_of([&] { GraphExecutor e(device(), std::move(wrong_args), max_symbols, weights); }),
           "binds 1 values to a kernel of 3 arguments");
}

}  // namespace
}  // namespace vkllm::runtime_test
