// Cases for gated_delta_net and the paged conv1d: their state is a graph input here (the runtime
// binds `state` ops to the same kind of buffer), written in place and compared whole, so slots no
// row names must come back unchanged. Inputs as the model produces them: q, k, v ~ N(0, 1),
// g = -softplus(N(0, 1)), beta in (0, 1). Slot patterns: decode (one row per sequence, one new),
// verify (one chain storing every row into its own slot), prefill (one chain, T not a multiple of
// the chunk), two prefills in one step (one with a store mid-chain), four sequences of mixed kinds.
#include <algorithm>
#include <cmath>

#include "tests/ops/op_harness.h"
#include "tests/ops/state_slots.h"

namespace vkllm::ops_test {
namespace {

using ir::Dim;
using ir::DType;

const Dim kSeq = Dim::symbol("seq");

TensorFn from_normal(double (*f)(double)) {
  return [f](DType, const std::vector<int64_t>& shape, const ir::SymbolBindings&, std::mt19937_64& rng) {
    std::normal_distribution<double> normal;
    ir::HostTensor t = ir::HostTensor::zeros(DType::F32, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.set(i, f(normal(rng)));
    return t;
  };
}
double identity(double x) { return x; }
double negative_softplus(double x) { return -std::log1p(std::exp(x)); }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

struct GdnCase {
  const char* name;
  int64_t key_heads, value_heads, key_dim, value_dim;
  bool l2norm;
  Slots slots;
  std::vector<int64_t> rows;  // one run per entry; a negative entry -T: T rows as a constant dim
};

OpCase gdn_case(const GdnCase& k) {
  OpCase c;
  c.name = k.name;
  const bool constant_rows = k.rows.size() == 1 && k.rows[0] < 0;
  const Dim rows = constant_rows ? Dim::of(-k.rows[0]) : Dim::symbol("seq");
  c.graph = make_graph(c.name, [&](ir::Builder& b) {
    auto q = b.input("q", {DType::F32, {rows, Dim::of(k.key_heads), Dim::of(k.key_dim)}});
    auto key = b.input("k", {DType::F32, {rows, Dim::of(k.key_heads), Dim::of(k.key_dim)}});
    auto v = b.input("v", {DType::F32, {rows, Dim::of(k.value_heads), Dim::of(k.value_dim)}});
    auto g = b.input("g", {DType::F32, {rows, Dim::of(k.value_heads)}});
    auto beta = b.input("beta", {DType::F32, {rows, Dim::of(k.value_heads)}});
    auto state = b.input(
        "state", {DType::F32, {Dim::of(kStateSlots), Dim::of(k.value_heads), Dim::of(k.key_dim), Dim::of(k.value_dim)}});
    auto [o, new_state] = b.gated_delta_net(q, key, v, g, beta, state, b.input("src", {DType::I32, {rows}}),
                                            b.input("dst", {DType::I32, {rows}}),
                                            1.0 / std::sqrt(static_cast<double>(k.key_dim)), k.l2norm);
    b.output(o);
    b.output(new_state);
  });
  if (!constant_rows) {
    c.runs.clear();
    for (int64_t t : k.rows) c.runs.push_back({{"seq", t}});
  }
  c.inputs = {{"q", from_normal(identity)},
              {"k", from_normal(identity)},
              {"v", from_normal(identity)},
              {"g", from_normal(negative_softplus)},
              {"beta", from_normal(sigmoid)},
              {"src", slots_of(k.slots, false)},
              {"dst", slots_of(k.slots, true)}};
  return c;
}

// (src, dst) slots of four chains over `rows` rows: [0, a) from slot 1 storing slot 4 mid-chain and
// slot 1 at its end; row a alone (slot 2 to slot 2); [a + 1, b) new, into slot 5; [b, rows) from slot
// 0 storing slot 7 after 33 rows (when that is before its end) and slot 6 at its end.
TensorFn many_sequences_slots(bool destination) {
  return [destination](DType, const std::vector<int64_t>& shape, const ir::SymbolBindings&, std::mt19937_64&) {
    const int64_t rows = shape[0], a = rows * 3 / 8, b = a + 1 + rows / 4;
    std::vector<int> src(static_cast<size_t>(rows), -1), dst(static_cast<size_t>(rows), -1);
    src[0] = 1;
    dst[a / 2] = 4;
    dst[a - 1] = 1;
    src[a] = dst[a] = 2;
    src[a + 1] = -2;
    dst[b - 1] = 5;
    src[b] = 0;
    if (b + 33 < rows - 1) dst[b + 33] = 7;
    dst[rows - 1] = 6;
    ir::HostTensor t = ir::HostTensor::zeros(DType::I32, shape);
    for (int64_t i = 0; i < rows; ++i) t.set(i, destination ? dst[i] : src[i]);
    return t;
  };
}

std::vector<OpCase> gated_delta_net_cases() {
  // A constant row count up to 32 compiles the recurrent kernel, a symbolic one the chunked kernel
  // (codegen/ops/gated_delta_net.cpp); both meet the same slot patterns.
  const std::vector<GdnCase> gdns = {
      {"gated_delta_net_recurrent_decode", 2, 4, 16, 8, true, Slots::Decode, {-4}},
      {"gated_delta_net_recurrent_verify", 1, 2, 8, 24, true, Slots::Verify, {-4}},
      {"gated_delta_net_recurrent_two_prefills", 1, 2, 16, 16, true, Slots::TwoPrefills, {-32}},
      {"gated_delta_net_recurrent_d128", 1, 2, 128, 128, true, Slots::Decode, {-3}},
      {"gated_delta_net_decode", 2, 4, 16, 8, true, Slots::Decode, {1, 4, 2}},
      {"gated_delta_net_verify", 1, 2, 8, 24, true, Slots::Verify, {4, 1}},
      {"gated_delta_net_prefill", 1, 2, 16, 16, true, Slots::Prefill, {1, 63, 64, 65, 200, 300}},
      {"gated_delta_net_prefill_new_no_l2norm", 2, 2, 8, 8, false, Slots::PrefillNew, {65, 3}},
      {"gated_delta_net_two_prefills", 1, 3, 8, 8, true, Slots::TwoPrefills, {130, 9}},
      // Qwen3.5's head size.
      {"gated_delta_net_d128", 1, 2, 128, 128, true, Slots::TwoPrefills, {70}},
      {"gated_delta_net_d128_decode", 1, 2, 128, 128, true, Slots::Decode, {3}},
      // Qwen3.5's head counts (16 key heads, 32 value heads) at small dims.
      {"gated_delta_net_qwen35_heads", 16, 32, 16, 16, true, Slots::Prefill, {40, 77}},
      // Dk = 20 pads the chunked kernel's state rows; Dv = 40 leaves the second column block part empty.
      {"gated_delta_net_odd_dims", 1, 2, 20, 40, true, Slots::TwoPrefills, {45}},
  };
  std::vector<OpCase> cases;
  for (const GdnCase& k : gdns) cases.push_back(gdn_case(k));
  // Four sequences in one step (a prefill with a store mid-chain, a decode row, a new sequence, a
  // continued one), rows per chain not multiples of the chunk.
  {
    OpCase c = gdn_case({"gated_delta_net_many_sequences", 2, 4, 32, 24, true, Slots::Prefill, {100, 150}});
    c.inputs["src"] = many_sequences_slots(false);
    c.inputs["dst"] = many_sequences_slots(true);
    cases.push_back(std::move(c));
  }
  // Without subgroup operations the chunked kernel gives each invocation a whole state column.
  {
    OpCase c = gdn_case({"gated_delta_net_no_subgroups", 1, 2, 32, 8, true, Slots::TwoPrefills, {70}});
    c.subgroup_arithmetic = false;
    cases.push_back(std::move(c));
  }
  // A symbolic row count bounded at compile time (the engine's decode and verify graphs) gets the
  // recurrent kernel too.
  for (const GdnCase& k : gdns) {
    if (k.slots != Slots::Decode && k.slots != Slots::Verify) continue;
    if (k.rows.size() == 1 && k.rows[0] < 0) continue;
    OpCase c = gdn_case(k);
    c.name += "_bounded";
    c.max_symbols = {{"seq", 4}};
    cases.push_back(std::move(c));
  }
  return cases;
}

struct ConvCase {
  const char* name;
  int64_t channels, taps;
  Slots slots;
  std::vector<int64_t> rows;
};

std::vector<OpCase> paged_conv1d_cases() {
  const std::vector<ConvCase> convs = {
      {"conv1d_paged_decode", 33, 4, Slots::Decode, {1, 4}},
      {"conv1d_paged_verify", 16, 4, Slots::Verify, {4}},
      {"conv1d_paged_prefill", 200, 4, Slots::Prefill, {2, 65}},
      {"conv1d_paged_two_prefills_k2", 40, 2, Slots::TwoPrefills, {4, 9}},
  };
  std::vector<OpCase> cases;
  for (const ConvCase& k : convs) {
    OpCase c;
    c.name = k.name;
    c.graph = make_graph(c.name, [&](ir::Builder& b) {
      auto x = b.input("x", {DType::F32, {kSeq, Dim::of(k.channels)}});
      auto w = b.weight("w", {DType::F32, {Dim::of(k.channels), Dim::of(k.taps)}});
      auto state = b.input("state", {DType::F32, {Dim::of(kStateSlots), Dim::of(k.taps - 1), Dim::of(k.channels)}});
      auto [y, new_state] = b.conv1d(x, w, state, b.input("src", {DType::I32, {kSeq}}),
                                     b.input("dst", {DType::I32, {kSeq}}), true);
      b.output(y);
      b.output(new_state);
    });
    c.runs.clear();
    for (int64_t t : k.rows) c.runs.push_back({{"seq", t}});
    c.inputs = {{"src", slots_of(k.slots, false)}, {"dst", slots_of(k.slots, true)}};
    c.exact_outputs = {c.graph.value(c.graph.outputs[1]).name};  // windows are copies of x and the state
    cases.push_back(std::move(c));
  }
  return cases;
}

const int kRegistered = add_cases(gated_delta_net_cases()) + add_cases(paged_conv1d_cases());

}  // namespace
}  // namespace vkllm::ops_test
