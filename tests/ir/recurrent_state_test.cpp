// The reference executor's recurrent ops with per-sequence state slots (ir/README.md "recurrent
// state slots"): gated_delta_net and the paged conv1d. Properties: T rows at once equal T chained
// single-row calls exactly; the slot rules (-2 zero start, -1 continue, dst writes at intermediate
// rows, several sequences in one call, untouched slots); GQA as HF's repeat_interleave; l2norm;
// the chunked (WY) form of the delta rule computed independently here; contract violations throw.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ir/reference.h"

namespace vkllm::ir {
namespace {

const Dim kSeq = Dim::symbol("seq");

Shape dims(std::initializer_list<int64_t> ds) {
  Shape s;
  for (int64_t d : ds) s.push_back(Dim::of(d));
  return s;
}

HostTensor i32(const std::vector<int>& v) {
  HostTensor t = HostTensor::zeros(DType::I32, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.set(static_cast<int64_t>(i), v[i]);
  return t;
}

std::vector<double> all_values(const HostTensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.get(i));
  return v;
}

// Elements [begin, begin + n) of t.
std::vector<double> part(const HostTensor& t, int64_t begin, int64_t n) {
  std::vector<double> v;
  for (int64_t i = begin; i < begin + n; ++i) v.push_back(t.get(i));
  return v;
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want, double tolerance,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tolerance * std::max(1.0, std::fabs(want[i]))) << what << " element " << i;
}

// ---- gated_delta_net --------------------------------------------------------------------------

struct Gdn {
  int64_t key_heads = 1, value_heads = 2, key_dim = 4, value_dim = 3, slots = 4;
  bool l2norm = true;
  double scale = 0.5;

  Graph graph() const {
    Builder b("gdn");
    auto q = b.input("q", {DType::F32, {kSeq, Dim::of(key_heads), Dim::of(key_dim)}});
    auto k = b.input("k", {DType::F32, {kSeq, Dim::of(key_heads), Dim::of(key_dim)}});
    auto v = b.input("v", {DType::F32, {kSeq, Dim::of(value_heads), Dim::of(value_dim)}});
    auto g = b.input("g", {DType::F32, {kSeq, Dim::of(value_heads)}});
    auto beta = b.input("beta", {DType::F32, {kSeq, Dim::of(value_heads)}});
    auto state = b.input("state", {DType::F32, dims({slots, value_heads, key_dim, value_dim})});
    auto src = b.input("src", {DType::I32, {kSeq}});
    auto dst = b.input("dst", {DType::I32, {kSeq}});
    auto [o, new_state] = b.gated_delta_net(q, k, v, g, beta, state, src, dst, scale, l2norm);
    b.output(o);
    b.output(new_state);
    return b.finish();
  }
  int64_t slot_size() const { return value_heads * key_dim * value_dim; }

  // Random rows as the model produces them: q, k, v ~ N(0, 1), g = -softplus(N(0, 1)), beta in (0, 1).
  std::map<std::string, HostTensor> rows(int64_t t, std::mt19937_64& rng) const {
    std::normal_distribution<double> normal;
    auto make = [&](std::vector<int64_t> shape, auto f) {
      HostTensor x = HostTensor::zeros(DType::F32, std::move(shape));
      for (int64_t i = 0; i < x.numel(); ++i) x.set(i, f());
      return x;
    };
    auto n = [&] { return normal(rng); };
    return {{"q", make({t, key_heads, key_dim}, n)},
            {"k", make({t, key_heads, key_dim}, n)},
            {"v", make({t, value_heads, value_dim}, n)},
            {"g", make({t, value_heads}, [&] { return -std::log1p(std::exp(normal(rng))); })},
            {"beta", make({t, value_heads}, [&] { return 1.0 / (1.0 + std::exp(-normal(rng))); })}};
  }
  HostTensor random_state(std::mt19937_64& rng) const {
    return HostTensor::random(DType::F32, {slots, value_heads, key_dim, value_dim}, rng, -1, 1);
  }
  // Rows [begin, begin + n) of every row input.
  static std::map<std::string, HostTensor> slice_rows(const std::map<std::string, HostTensor>& in, int64_t begin,
                                                      int64_t n) {
    std::map<std::string, HostTensor> out;
    for (const auto& [name, t] : in) {
      std::vector<int64_t> shape = t.shape;
      const int64_t row = t.numel() / shape[0];
      shape[0] = n;
      HostTensor r = HostTensor::zeros(t.dtype, shape);
      for (int64_t i = 0; i < n * row; ++i) r.set(i, t.get(begin * row + i));
      out.emplace(name, std::move(r));
    }
    return out;
  }
  ReferenceRun run(std::map<std::string, HostTensor> in, const HostTensor& state, const std::vector<int>& src,
                   const std::vector<int>& dst) const {
    in["state"] = state;
    in["src"] = i32(src);
    in["dst"] = i32(dst);
    return run_reference(graph(), {{"seq", static_cast<int64_t>(src.size())}}, in, {});
  }
};

TEST(ReferenceGatedDeltaNet, RowsAtOnceEqualChainedSingleRowsExactly) {
  std::mt19937_64 rng(71);
  const Gdn d;
  const int t_len = 6, slot = 2;
  const auto in = d.rows(t_len, rng);
  HostTensor state = d.random_state(rng);
  std::vector<int> src(t_len, -1), dst(t_len, -1);
  src[0] = slot;
  dst[t_len - 1] = slot;
  const ReferenceRun chunk = d.run(in, state, src, dst);
  const int64_t row = d.value_heads * d.value_dim;
  for (int t = 0; t < t_len; ++t) {
    const ReferenceRun step = d.run(Gdn::slice_rows(in, t, 1), state, {slot}, {slot});
    EXPECT_EQ(all_values(step.outputs[0]), part(chunk.outputs[0], t * row, row)) << "row " << t;
    state = step.outputs[1];
  }
  EXPECT_EQ(all_values(state), all_values(chunk.outputs[1]));
}

TEST(ReferenceGatedDeltaNet, SlotRules) {
  // Rows 0-3: sequence A from slot 1 (row 2 also stored into slot 0, as a verify step keeps a
  // drafted position's state), stored into slot 1. Rows 4-5: sequence B from zeros, into slot 3.
  // Slot 2 is untouched.
  std::mt19937_64 rng(72);
  const Gdn d;
  const auto in = d.rows(6, rng);
  const HostTensor state = d.random_state(rng);
  const ReferenceRun both = d.run(in, state, {1, -1, -1, -1, -2, -1}, {-1, -1, 0, 1, -1, 3});
  const int64_t row = d.value_heads * d.value_dim, size = d.slot_size();

  const ReferenceRun a = d.run(Gdn::slice_rows(in, 0, 4), state, {1, -1, -1, -1}, {-1, -1, 0, 1});
  const ReferenceRun a_head = d.run(Gdn::slice_rows(in, 0, 3), state, {1, -1, -1}, {-1, -1, 0});
  HostTensor zeros = HostTensor::zeros(DType::F32, state.shape);
  const ReferenceRun b = d.run(Gdn::slice_rows(in, 4, 2), zeros, {3, -1}, {-1, 3});  // slot 3 zeroed = -2
  EXPECT_EQ(part(both.outputs[0], 0, 4 * row), all_values(a.outputs[0]));
  EXPECT_EQ(part(both.outputs[0], 4 * row, 2 * row), all_values(b.outputs[0]));
  EXPECT_EQ(part(both.outputs[1], 0, size), part(a_head.outputs[1], 0, size)) << "slot 0: state after row 2";
  EXPECT_EQ(part(both.outputs[1], size, size), part(a.outputs[1], size, size)) << "slot 1: state after row 3";
  EXPECT_EQ(part(both.outputs[1], 2 * size, size), part(state, 2 * size, size)) << "slot 2 untouched";
  EXPECT_EQ(part(both.outputs[1], 3 * size, size), part(b.outputs[1], 3 * size, size)) << "slot 3";
  EXPECT_NE(part(both.outputs[1], 3 * size, size), part(state, 3 * size, size));
}

TEST(ReferenceGatedDeltaNet, ValueHeadsShareKeyHeadsLikeRepeatInterleave) {
  // Hv = 4 over Hk = 2 equals Hk = 4 with key head h repeated for value heads 2h and 2h + 1.
  std::mt19937_64 rng(73);
  Gdn grouped;
  grouped.key_heads = 2;
  grouped.value_heads = 4;
  Gdn repeated = grouped;
  repeated.key_heads = 4;
  const int t_len = 3;
  auto in = grouped.rows(t_len, rng);
  auto rin = in;
  for (const char* name : {"q", "k"}) {
    HostTensor r = HostTensor::zeros(DType::F32, {t_len, 4, grouped.key_dim});
    for (int t = 0; t < t_len; ++t)
      for (int h = 0; h < 4; ++h)
        for (int i = 0; i < grouped.key_dim; ++i)
          r.set((t * 4 + h) * grouped.key_dim + i, in[name].get((t * 2 + h / 2) * grouped.key_dim + i));
    rin[name] = r;
  }
  const HostTensor state = grouped.random_state(rng);
  const ReferenceRun a = grouped.run(in, state, {0, -1, -1}, {-1, -1, 0});
  const ReferenceRun b = repeated.run(rin, state, {0, -1, -1}, {-1, -1, 0});
  EXPECT_EQ(all_values(a.outputs[0]), all_values(b.outputs[0]));
  EXPECT_EQ(all_values(a.outputs[1]), all_values(b.outputs[1]));
}

TEST(ReferenceGatedDeltaNet, L2NormMakesQAndKScaleFree) {
  std::mt19937_64 rng(74);
  const Gdn d;
  auto in = d.rows(3, rng);
  const HostTensor state = d.random_state(rng);
  const ReferenceRun a = d.run(in, state, {1, -1, -1}, {-1, -1, 1});
  for (const char* name : {"q", "k"})
    for (int64_t i = 0; i < in[name].numel(); ++i) in[name].set(i, in[name].get(i) * 3.0);
  const ReferenceRun b = d.run(in, state, {1, -1, -1}, {-1, -1, 1});
  expect_near(all_values(b.outputs[0]), all_values(a.outputs[0]), 1e-5, "o");
  expect_near(all_values(b.outputs[1]), all_values(a.outputs[1]), 1e-5, "state");
}

// The chunked (WY / UT) form of HF torch_chunk_gated_delta_rule, per head and in f64: within a chunk,
// with G the cumulative sum of g from the chunk start, U = (I + A)^-1 (beta (V - exp(G) K S0)) for
// A[t, s] = beta_t exp(G_t - G_s) k_t.k_s (s < t); o_t = exp(G_t) S0^T q_t + sum_{s <= t}
// exp(G_t - G_s) (q_t.k_s) u_s; S = exp(G_last) S0 + sum_s exp(G_last - G_s) k_s u_s^T.
// Codegen's chunked kernel computes the same; here it checks the algebra against the recurrence.
void chunked_delta_rule(const Gdn& d, std::map<std::string, HostTensor> in, std::vector<double>& state, int64_t chunk,
                        std::vector<double>& out) {
  const int64_t rows = in["q"].shape[0], dk = d.key_dim, dv = d.value_dim, hv = d.value_heads;
  out.assign(static_cast<size_t>(rows * hv * dv), 0.0);
  for (int64_t h = 0; h < hv; ++h) {
    const int64_t kh = h / (hv / d.key_heads);
    double* s = state.data() + h * dk * dv;
    auto key = [&](const char* name, int64_t t, int64_t i) {
      double sum = 0.0;
      for (int64_t e = 0; e < dk; ++e) sum += std::pow(in[name].get((t * d.key_heads + kh) * dk + e), 2);
      return in[name].get((t * d.key_heads + kh) * dk + i) / std::sqrt(sum + 1e-6) *
             (name[0] == 'q' ? d.scale : 1.0);
    };
    for (int64_t c0 = 0; c0 < rows; c0 += chunk) {
      const int64_t n = std::min(chunk, rows - c0);
      std::vector<double> G(static_cast<size_t>(n)), beta(static_cast<size_t>(n));
      for (int64_t t = 0; t < n; ++t) {
        G[t] = (t ? G[t - 1] : 0.0) + in["g"].get((c0 + t) * hv + h);
        beta[t] = in["beta"].get((c0 + t) * hv + h);
      }
      auto dot = [&](const char* a, int64_t t, const char* b, int64_t u) {
        double sum = 0.0;
        for (int64_t i = 0; i < dk; ++i) sum += key(a, c0 + t, i) * key(b, c0 + u, i);
        return sum;
      };
      std::vector<double> u(static_cast<size_t>(n * dv));
      for (int64_t t = 0; t < n; ++t)
        for (int64_t j = 0; j < dv; ++j) {
          double ks = 0.0;
          for (int64_t i = 0; i < dk; ++i) ks += key("k", c0 + t, i) * s[i * dv + j];
          double x = beta[t] * (in["v"].get(((c0 + t) * hv + h) * dv + j) - std::exp(G[t]) * ks);
          for (int64_t m = 0; m < t; ++m) x -= beta[t] * std::exp(G[t] - G[m]) * dot("k", t, "k", m) * u[m * dv + j];
          u[t * dv + j] = x;
        }
      for (int64_t t = 0; t < n; ++t)
        for (int64_t j = 0; j < dv; ++j) {
          double qs = 0.0;
          for (int64_t i = 0; i < dk; ++i) qs += key("q", c0 + t, i) * s[i * dv + j];
          double o = std::exp(G[t]) * qs;
          for (int64_t m = 0; m <= t; ++m) o += std::exp(G[t] - G[m]) * dot("q", t, "k", m) * u[m * dv + j];
          out[static_cast<size_t>(((c0 + t) * hv + h) * dv + j)] = o;
        }
      for (int64_t i = 0; i < dk; ++i)
        for (int64_t j = 0; j < dv; ++j) {
          double x = std::exp(G[n - 1]) * s[i * dv + j];
          for (int64_t m = 0; m < n; ++m) x += std::exp(G[n - 1] - G[m]) * key("k", c0 + m, i) * u[m * dv + j];
          s[i * dv + j] = x;
        }
    }
  }
}

TEST(ReferenceGatedDeltaNet, EqualsTheChunkedForm) {
  std::mt19937_64 rng(75);
  Gdn d;
  d.slots = 1;
  const int t_len = 11;
  const auto in = d.rows(t_len, rng);
  const HostTensor state = d.random_state(rng);
  std::vector<int> src(t_len, -1), dst(t_len, -1);
  src[0] = 0;
  dst[t_len - 1] = 0;
  const ReferenceRun run = d.run(in, state, src, dst);
  for (int64_t chunk : {1, 4, 16}) {
    std::vector<double> s = all_values(state), o;
    chunked_delta_rule(d, in, s, chunk, o);
    expect_near(o, all_values(run.outputs[0]), 1e-5, "o, chunk " + std::to_string(chunk));
    expect_near(s, all_values(run.outputs[1]), 1e-5, "state, chunk " + std::to_string(chunk));
  }
}

TEST(ReferenceGatedDeltaNet, BrokenSlotsAreErrors) {
  std::mt19937_64 rng(76);
  const Gdn d;
  const auto in = d.rows(2, rng);
  const HostTensor state = d.random_state(rng);
  auto error = [&](const std::vector<int>& src, const std::vector<int>& dst) {
    try {
      d.run(in, state, src, dst);
    } catch (const IrError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto expect_error = [&](const std::vector<int>& src, const std::vector<int>& dst, const std::string& part) {
    const std::string message = error(src, dst);
    EXPECT_NE(message.find(part), std::string::npos) << message;
    EXPECT_NE(message.find("'gated_delta_net'"), std::string::npos) << message;
  };
  expect_error({-1, -1}, {-1, -1}, "src_slot[0] = -1 continues a chain, but row 0 has no previous row");
  expect_error({-3, -1}, {-1, -1}, "src_slot[0] = -3; expected a slot >= 0, -1 (continue) or -2 (zero state)");
  expect_error({4, -1}, {-1, -1}, "src_slot[0] = 4 is past the 4 slots of the state");
  expect_error({0, -1}, {-1, 9}, "dst_slot[1] = 9 is past the 4 slots of the state");
  expect_error({0, 1}, {1, -1},
               "slot 1 is written by the chain starting at row 0 and read by the one starting at row 1");
  expect_error({0, -2}, {2, 2}, "dst_slot[1] = 2: the chains starting at rows 0 and 1 both write that slot");
  // One chain may read and write the same slot, and write a slot more than once (the last wins).
  EXPECT_EQ(error({0, -1}, {0, 0}), "");
}

// ---- paged conv1d -----------------------------------------------------------------------------

struct Conv {
  int64_t channels = 3, taps = 4, slots = 3;
  Graph paged() const {
    Builder b("paged_conv");
    auto x = b.input("x", {DType::F32, {kSeq, Dim::of(channels)}});
    auto w = b.input("w", {DType::F32, dims({channels, taps})});
    auto state = b.input("state", {DType::F32, dims({slots, taps - 1, channels})});
    auto [y, new_state] = b.conv1d(x, w, state, b.input("src", {DType::I32, {kSeq}}),
                                   b.input("dst", {DType::I32, {kSeq}}), true);
    b.output(y);
    b.output(new_state);
    return b.finish();
  }
  Graph plain() const {
    Builder b("conv");
    auto x = b.input("x", {DType::F32, {kSeq, Dim::of(channels)}});
    auto w = b.input("w", {DType::F32, dims({channels, taps})});
    auto [y, new_state] = b.conv1d(x, w, b.input("state", {DType::F32, dims({taps - 1, channels})}), true);
    b.output(y);
    b.output(new_state);
    return b.finish();
  }
};

HostTensor rows_of(const HostTensor& t, int64_t begin, int64_t n) {
  const int64_t row = t.numel() / t.shape[0];
  std::vector<int64_t> shape = t.shape;
  shape[0] = n;
  HostTensor r = HostTensor::zeros(t.dtype, shape);
  for (int64_t i = 0; i < n * row; ++i) r.set(i, t.get(begin * row + i));
  return r;
}

TEST(ReferenceConv1dPaged, EachChainEqualsThePlainFormOnItsSlot) {
  // Rows 0-1: sequence from slot 2 (fewer rows than K - 1), stored back; rows 2-6: a new sequence
  // (-2) stored into slot 0 after row 3 and into slot 1 after row 6. Slot 2's old window is kept for
  // nobody else; every slot no row names keeps its contents.
  std::mt19937_64 rng(77);
  const Conv c;
  const HostTensor x = HostTensor::random(DType::F32, {7, c.channels}, rng, -2, 2);
  const HostTensor w = HostTensor::random(DType::F32, {c.channels, c.taps}, rng, -1, 1);
  const HostTensor state = HostTensor::random(DType::F32, {c.slots, c.taps - 1, c.channels}, rng, -2, 2);
  const ReferenceRun paged = run_reference(c.paged(), {{"seq", 7}},
                                           {{"x", x},
                                            {"w", w},
                                            {"state", state},
                                            {"src", i32({2, -1, -2, -1, -1, -1, -1})},
                                            {"dst", i32({-1, 2, -1, 0, -1, -1, 1})}},
                                           {});
  const int64_t window = (c.taps - 1) * c.channels;
  auto plain = [&](int64_t begin, int64_t n, const std::vector<double>& initial) {
    HostTensor s = HostTensor::zeros(DType::F32, {c.taps - 1, c.channels});
    for (int64_t i = 0; i < window; ++i) s.set(i, initial[static_cast<size_t>(i)]);
    return run_reference(c.plain(), {{"seq", n}}, {{"x", rows_of(x, begin, n)}, {"w", w}, {"state", s}}, {});
  };
  const ReferenceRun first = plain(0, 2, part(state, 2 * window, window));
  const std::vector<double> zeros(static_cast<size_t>(window), 0.0);
  const ReferenceRun second = plain(2, 5, zeros), second_head = plain(2, 2, zeros);
  EXPECT_EQ(part(paged.outputs[0], 0, 2 * c.channels), all_values(first.outputs[0]));
  EXPECT_EQ(part(paged.outputs[0], 2 * c.channels, 5 * c.channels), all_values(second.outputs[0]));
  EXPECT_EQ(part(paged.outputs[1], 0, window), all_values(second_head.outputs[1]));
  EXPECT_EQ(part(paged.outputs[1], window, window), all_values(second.outputs[1]));
  EXPECT_EQ(part(paged.outputs[1], 2 * window, window), all_values(first.outputs[1]));
}

TEST(ReferenceConv1dPaged, BrokenSlotsAreErrors) {
  const Conv c;
  std::mt19937_64 rng(78);
  std::string message;
  try {
    run_reference(c.paged(), {{"seq", 2}},
                  {{"x", HostTensor::random(DType::F32, {2, c.channels}, rng)},
                   {"w", HostTensor::random(DType::F32, {c.channels, c.taps}, rng)},
                   {"state", HostTensor::random(DType::F32, {c.slots, c.taps - 1, c.channels}, rng)},
                   {"src", i32({-1, 0})},
                   {"dst", i32({-1, -1})}},
                  {});
  } catch (const IrError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("'conv1d'"), std::string::npos) << message;
  EXPECT_NE(message.find("src_slot[0] = -1 continues a chain"), std::string::npos) << message;
}

}  // namespace
}  // namespace vkllm::ir
