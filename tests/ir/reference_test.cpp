// The reference executor against hand-computed values and naive formulas written here, plus the
// properties ir/README.md states for each op.
#include "ir/reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <random>
#include <set>

namespace vkllm::ir {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Shape dims(std::initializer_list<int64_t> ds) {
  Shape s;
  for (int64_t d : ds) s.push_back(Dim::of(d));
  return s;
}

HostTensor tensor(DType dtype, std::vector<int64_t> shape, const std::vector<double>& v) {
  HostTensor t = HostTensor::zeros(dtype, std::move(shape));
  EXPECT_EQ(static_cast<int64_t>(v.size()), t.numel());
  for (size_t i = 0; i < v.size(); ++i) t.set(static_cast<int64_t>(i), v[i]);
  return t;
}
HostTensor f32(std::vector<int64_t> shape, const std::vector<double>& v) { return tensor(DType::F32, shape, v); }
HostTensor i32(std::vector<int64_t> shape, const std::vector<double>& v) { return tensor(DType::I32, shape, v); }

std::vector<double> all_values(const HostTensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.get(i));
  return v;
}

// A q8_0 row of 32 from a scale and quants given by the test.
HostTensor q8_rows(std::vector<int64_t> shape, const std::vector<std::pair<uint16_t, std::vector<int8_t>>>& blocks) {
  HostTensor t;
  t.dtype = DType::Q8_0;
  t.shape = std::move(shape);
  for (const auto& [scale_bits, quants] : blocks) {
    t.bytes.push_back(static_cast<uint8_t>(scale_bits & 0xFF));
    t.bytes.push_back(static_cast<uint8_t>(scale_bits >> 8));
    for (int8_t q : quants) t.bytes.push_back(static_cast<uint8_t>(q));
  }
  return t;
}

WeightFn weights_from(std::map<std::string, HostTensor> named) {
  return [named = std::move(named)](const std::string& name, const Type&) { return named.at(name); };
}

void expect_values(const HostTensor& got, const std::vector<double>& want, double tolerance,
                   const std::string& what = "") {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size())) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got.get(static_cast<int64_t>(i));
    if (std::isinf(want[i]) || tolerance == 0.0)
      EXPECT_EQ(g, want[i]) << what << " element " << i;
    else
      EXPECT_NEAR(g, want[i], tolerance * std::max(1.0, std::fabs(want[i]))) << what << " element " << i;
  }
}

// ---- One known-value case per op kind ------------------------------------------------------------
// Each case builds a graph around the op, gives its inputs and the expected outputs, computed here
// by hand or by a direct formula. EveryOpKindHasACase checks the table covers ops.def.

struct OpCase {
  Graph graph;
  std::map<std::string, HostTensor> inputs;
  std::map<std::string, HostTensor> weights;
  std::vector<std::vector<double>> expected;  // one per graph output
  double tolerance = 1e-6;                    // relative; 0 = exact
  SymbolBindings symbols;
  StateMap states;                                             // before the run
  std::map<std::string, std::vector<double>> expected_states;  // after the run
};

OpCase case_weight() {
  Builder b("weight");
  b.output(b.weight("w", {DType::BF16, dims({2, 3})}));
  return {
      b.finish(), {}, {{"w", tensor(DType::BF16, {2, 3}, {1, -2, 0.5, 3, 0.25, -8})}}, {{1, -2, 0.5, 3, 0.25, -8}}, 0};
}

OpCase case_constant() {
  Builder b("constant");
  b.output(b.constant(1.5, {DType::F32, dims({2, 2})}));
  b.output(b.constant(0.1, {DType::F16, dims({3})}));  // rounded to half: 0x2E66
  b.output(b.constant(-4, {DType::I32, dims({2})}));
  return {b.finish(), {}, {}, {{1.5, 1.5, 1.5, 1.5}, {0.0999755859375, 0.0999755859375, 0.0999755859375}, {-4, -4}}, 0};
}

OpCase case_embedding() {
  Builder b("embedding");
  ValueId ids = b.input("ids", {DType::I32, dims({2, 2})});
  ValueId table = b.weight("table", {DType::F32, dims({4, 3})});
  b.output(b.embedding(table, ids));
  ValueId qids = b.input("qids", {DType::I32, dims({3})});
  b.output(b.embedding(b.weight("qtable", {DType::Q8_0, dims({2, 32})}), qids));
  // table row r = [3r, 3r+1, 3r+2]; ids 4 and -1 are out of range: zero rows.
  HostTensor t = f32({4, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  // q8_0 rows: row 0 = 0.5·(j − 16), row 1 = 2·(−j).
  std::vector<int8_t> q0, q1;
  std::vector<double> row0, row1;
  for (int j = 0; j < 32; ++j) {
    q0.push_back(static_cast<int8_t>(j - 16));
    q1.push_back(static_cast<int8_t>(-j));
    row0.push_back(0.5 * (j - 16));
    row1.push_back(-2.0 * j);
  }
  std::vector<double> qexpected = row1;
  qexpected.insert(qexpected.end(), row0.begin(), row0.end());
  qexpected.insert(qexpected.end(), 32, 0.0);
  return {b.finish(),
          {{"ids", i32({2, 2}, {2, 0, 4, -1})}, {"qids", i32({3}, {1, 0, 2})}},
          {{"table", t}, {"qtable", q8_rows({2, 32}, {{0x3800, q0}, {0x4000, q1}})}},
          {{6, 7, 8, 0, 1, 2, 0, 0, 0, 0, 0, 0}, qexpected},
          0};
}

OpCase case_matmul() {
  Builder b("matmul");
  ValueId x = b.input("x", {DType::F32, dims({2, 3})});
  b.output(b.matmul(x, b.weight("w", {DType::F32, dims({2, 3})})));
  // A q4_0 weight: row 0 d = 0.25, byte j = j | (15 − j) << 4; row 1 d = 1.5, bytes 0x9A.
  HostTensor q4;
  q4.dtype = DType::Q4_0;
  q4.shape = {2, 32};
  q4.bytes = {0x00, 0x34};
  for (int j = 0; j < 16; ++j) q4.bytes.push_back(static_cast<uint8_t>(j | (15 - j) << 4));
  q4.bytes.insert(q4.bytes.end(), {0x00, 0x3E});
  q4.bytes.insert(q4.bytes.end(), 16, 0x9A);
  ValueId ones = b.input("ones", {DType::F32, dims({1, 32})});
  b.output(b.matmul(ones, b.weight("q4", {DType::Q4_0, dims({2, 32})})));
  // Row 0 sums (j−8) and (7−j) over j < 16: −16 · 0.25 = −4. Row 1: 16·2 + 16·1 = 48 · 1.5 = 72.
  return {b.finish(),
          {{"x", f32({2, 3}, {1, 2, 3, 4, 5, 6})}, {"ones", f32({1, 32}, std::vector<double>(32, 1.0))}},
          {{"w", f32({2, 3}, {1, 0, -1, 0.5, 0.5, 0.5})}, {"q4", q4}},
          {{-2, 3, -2, 7.5}, {-4, 72}},
          0};
}

OpCase case_add() {
  Builder b("add");
  ValueId a = b.input("a", {DType::F32, dims({2, 3})}), c = b.input("b", {DType::F32, dims({3})});
  b.output(b.add(a, c));
  return {b.finish(),
          {{"a", f32({2, 3}, {1, 2, 3, 4, 5, 6})}, {"b", f32({3}, {10, -20, 0.5})}},
          {},
          {{11, -18, 3.5, 14, -15, 6.5}},
          0};
}

OpCase case_mul() {
  Builder b("mul");
  ValueId a = b.input("a", {DType::F32, dims({2, 3})}), c = b.input("b", {DType::F32, dims({3})});
  b.output(b.mul(a, c));
  return {b.finish(),
          {{"a", f32({2, 3}, {1, 2, 3, 4, 5, 6})}, {"b", f32({3}, {10, -2, 0.5})}},
          {},
          {{10, -4, 1.5, 40, -10, 3}},
          0};
}

OpCase case_scale() {
  Builder b("scale");
  b.output(b.scale(b.input("x", {DType::F32, dims({3})}), -0.5));
  return {b.finish(), {{"x", f32({3}, {2, -3, 0.25})}}, {}, {{-1, 1.5, -0.125}}, 0};
}

// Unary activations at -1, 0, 1, 2 (values computed with an independent calculator).
OpCase unary_case(const char* graph_name, std::function<ValueId(Builder&, ValueId)> op, std::vector<double> want) {
  Builder b(graph_name);
  b.output(op(b, b.input("x", {DType::F32, dims({4})})));
  return {b.finish(), {{"x", f32({4}, {-1, 0, 1, 2})}}, {}, {std::move(want)}};
}

OpCase case_silu() {
  return unary_case("silu", [](Builder& b, ValueId x) { return b.silu(x); },
                    {-0.2689414213699951, 0, 0.7310585786300049, 1.7615941559557646});
}

OpCase case_gelu() {
  Builder b("gelu");
  ValueId x = b.input("x", {DType::F32, dims({4})});
  b.output(b.gelu(x, false));
  b.output(b.gelu(x, true));
  return {b.finish(),
          {{"x", f32({4}, {-1, 0, 1, 2})}},
          {},
          {{-0.15865525393145707, 0, 0.8413447460685429, 1.9544997361036416},
           {-0.15880800939172324, 0, 0.8411919906082768, 1.954597694087775}}};
}

OpCase case_sigmoid() {
  return unary_case("sigmoid", [](Builder& b, ValueId x) { return b.sigmoid(x); },
                    {0.2689414213699951, 0.5, 0.7310585786300049, 0.8807970779778823});
}

OpCase case_softplus() {
  // log(1 + e^x)
  return unary_case("softplus", [](Builder& b, ValueId x) { return b.softplus(x); },
                    {0.31326168751822286, 0.6931471805599453, 1.3132616875182228, 2.1269280110429727});
}

OpCase case_exp() {
  return unary_case("exp", [](Builder& b, ValueId x) { return b.exp(x); },
                    {0.36787944117144233, 1, 2.718281828459045, 7.38905609893065});
}

OpCase case_softcap() {
  // 2·tanh(x/2)
  return unary_case("softcap", [](Builder& b, ValueId x) { return b.softcap(x, 2.0); },
                    {-0.9242343145200195, 0, 0.9242343145200195, 1.5231883119115296});
}

OpCase case_swiglu() {
  Builder b("swiglu");
  ValueId gate = b.input("gate", {DType::F32, dims({2})}), up = b.input("up", {DType::F32, dims({2})});
  b.output(b.swiglu(gate, up));
  return {b.finish(),
          {{"gate", f32({2}, {1, 2})}, {"up", f32({2}, {3, -1})}},
          {},
          {{3 * 0.7310585786300049, -1.7615941559557646}}};
}

OpCase case_geglu() {
  Builder b("geglu");
  ValueId gate = b.input("gate", {DType::F32, dims({2})}), up = b.input("up", {DType::F32, dims({2})});
  b.output(b.geglu(gate, up, false));
  b.output(b.geglu(gate, up, true));
  return {b.finish(),
          {{"gate", f32({2}, {1, -1})}, {"up", f32({2}, {2, 2})}},
          {},
          {{1.6826894921370859, -0.31731050786291415}, {2 * 0.8411919906082768, 2 * -0.15880800939172324}}};
}

OpCase case_cast() {
  Builder b("cast");
  ValueId x = b.input("x", {DType::F32, dims({4})});
  b.output(b.cast(x, DType::F16));
  b.output(b.cast(x, DType::BF16));
  ValueId h = b.input("h", {DType::F16, dims({2})});
  b.output(b.cast(h, DType::F32));
  // 0.1f: half 0x2E66, bf16 0x3DCD. 65520: half overflows (tie to even is 2^16), bf16 rounds to 2^16.
  // 1/3f: half 0x3555, bf16 0x3EAB = 171/512.
  return {b.finish(),
          {{"x", f32({4}, {0.1, 65520, 1.0 / 3.0, -2.5})}, {"h", tensor(DType::F16, {2}, {0.5, -65504})}},
          {},
          {{0.0999755859375, kInf, 0.333251953125, -2.5}, {0.10009765625, 65536, 0.333984375, -2.5}, {0.5, -65504}},
          0};
}

OpCase case_rms_norm() {
  Builder b("rms_norm");
  ValueId x = b.input("x", {DType::F32, dims({2, 4})}), w = b.input("w", {DType::F32, dims({4})});
  b.output(b.rms_norm(x, w, 1e-5));
  // Row 0: mean of squares (1+4+9+16)/4 = 7.5. Row 1: 1/4.
  const double r0 = 1 / std::sqrt(7.5 + 1e-5), r1 = 1 / std::sqrt(0.25 + 1e-5);
  return {b.finish(),
          {{"x", f32({2, 4}, {1, 2, 3, 4, 0, 0, 0, 1})}, {"w", f32({4}, {1, 1, 2, 0.5})}},
          {},
          {{r0, 2 * r0, 6 * r0, 2 * r0, 0, 0, 0, 0.5 * r1}}};
}

OpCase case_fused_matmul() {
  Builder b("fused_matmul");
  ValueId x = b.input("x", {DType::F32, dims({1, 4})}), g = b.input("g", {DType::F32, dims({4})});
  ValueId r = b.input("r", {DType::F32, dims({1, 2})});
  b.output(b.emit(OpKind::FusedMatMul, {x, b.weight("w", {DType::F32, dims({2, 4})}), g, r},
                  {{"prologue", std::string("rms_norm")}, {"epilogue", std::string("add")}, {"eps", 0.25},
                   {"offset", 1.0}})[0]);
  // Mean of squares 3/4, + eps = 1: the norm is x·(g + 1) = [1, 2, 3, 0]; times w: [6, -2]; plus r.
  return {b.finish(),
          {{"x", f32({1, 4}, {1, 1, 1, 0})}, {"g", f32({4}, {0, 1, 2, 3})}, {"r", f32({1, 2}, {10, 20})}},
          {{"w", f32({2, 4}, {1, 1, 1, 1, 1, 0, -1, 0})}},
          {{16, 18}}};
}

OpCase case_multi_matmul() {
  Builder b("multi_matmul");
  ValueId x = b.input("x", {DType::F32, dims({1, 4})}), g = b.input("g", {DType::F32, dims({4})});
  for (ValueId v : b.emit(OpKind::MultiMatMul,
                          {x, b.weight("w0", {DType::F32, dims({2, 4})}), b.weight("w1", {DType::F32, dims({1, 4})}), g},
                          {{"prologue", std::string("rms_norm")}, {"eps", 0.25}, {"offset", 1.0}}))
    b.output(v);
  ValueId y = b.input("y", {DType::F32, dims({1, 2})});
  b.output(b.emit(OpKind::MultiMatMul, {y, b.weight("gate", {DType::F32, dims({2, 2})}), b.weight("up", {DType::F32, dims({2, 2})})},
                  {{"combine", std::string("swiglu")}})[0]);
  // As fused_matmul's case: the norm is x·(g + 1) = [1, 2, 3, 0]; times w0: [6, -2], times w1: [3].
  // y = [1, 2]: gate [1, 0], up [2, 10]: silu(1)·2, silu(0)·10.
  return {b.finish(),
          {{"x", f32({1, 4}, {1, 1, 1, 0})}, {"g", f32({4}, {0, 1, 2, 3})}, {"y", f32({1, 2}, {1, 2})}},
          {{"w0", f32({2, 4}, {1, 1, 1, 1, 1, 0, -1, 0})},
           {"w1", f32({1, 4}, {0, 0, 1, 0})},
           {"gate", f32({2, 2}, {1, 0, 0, 0})},
           {"up", f32({2, 2}, {2, 0, 0, 5})}},
          {{6, -2}, {3}, {2 / (1 + std::exp(-1.0)), 0}}};
}

OpCase case_layer_norm() {
  Builder b("layer_norm");
  ValueId x = b.input("x", {DType::F32, dims({1, 4})});
  ValueId w = b.input("w", {DType::F32, dims({4})}), bias = b.input("b", {DType::F32, dims({4})});
  b.output(b.layer_norm(x, w, bias, 1e-5));
  // mean 2.5, biased variance (2.25+0.25+0.25+2.25)/4 = 1.25
  const double s = 1 / std::sqrt(1.25 + 1e-5);
  return {b.finish(),
          {{"x", f32({1, 4}, {1, 2, 3, 4})}, {"w", f32({4}, {1, 2, 1, 1})}, {"b", f32({4}, {0, 0, 1, -1})}},
          {},
          {{-1.5 * s, 2 * -0.5 * s, 0.5 * s + 1, 1.5 * s - 1}}};
}

OpCase case_softmax() {
  Builder b("softmax");
  b.output(b.softmax(b.input("x", {DType::F32, dims({2, 3})})));
  return {b.finish(),
          {{"x", f32({2, 3}, {1, 2, 3, 5, 5, 5})}},
          {},
          {{0.09003057317038046, 0.24472847105479767, 0.6652409557748219, 1.0 / 3, 1.0 / 3, 1.0 / 3}}};
}

OpCase case_rope() {
  Builder b("rope");
  ValueId x = b.input("x", {DType::F32, dims({1, 1, 4})}), pos = b.input("pos", {DType::I32, dims({1})});
  b.output(b.rope(x, pos, {{"theta", 10000.0}}));
  b.output(b.rope(x, pos, {{"theta", 10000.0}, {"layout", std::string("interleaved")}}));
  // Dh = 4: inv_freq = [1, 10000^-1/2 = 0.01]; at position 1 the angles are 1 and 0.01.
  // neox pairs (0, 2) and (1, 3); interleaved pairs (0, 1) and (2, 3). x = [1, 2, 3, 4].
  const double c1 = std::cos(1.0), s1 = std::sin(1.0), c2 = std::cos(0.01), s2 = std::sin(0.01);
  return {b.finish(),
          {{"x", f32({1, 1, 4}, {1, 2, 3, 4})}, {"pos", i32({1}, {1})}},
          {},
          {{1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 3 * c1 + 1 * s1, 4 * c2 + 2 * s2},
           {1 * c1 - 2 * s1, 2 * c1 + 1 * s1, 3 * c2 - 4 * s2, 4 * c2 + 3 * s2}}};
}

OpCase case_attention() {
  Builder b("attention");
  ValueId q = b.input("q", {DType::F32, dims({2, 1, 1})}), k = b.input("k", {DType::F32, dims({2, 1, 1})});
  ValueId v = b.input("v", {DType::F32, dims({2, 1, 2})}), pos = b.input("pos", {DType::I32, dims({2})});
  b.output(b.attention(q, k, v, pos, 1.0));
  // Scores q·k = 0 and ln 3: row at position 1 weighs the values 1/4 and 3/4; row at position 0
  // sees only key 0.
  return {b.finish(),
          {{"q", f32({2, 1, 1}, {1, 1})},
           {"k", f32({2, 1, 1}, {0, std::log(3.0)})},
           {"v", f32({2, 1, 2}, {4, -1, 8, 3})},
           {"pos", i32({2}, {0, 1})}},
          {},
          {{4, -1, 0.25 * 4 + 0.75 * 8, 0.25 * -1 + 0.75 * 3}}};
}

OpCase case_state() {
  Builder b("state");
  b.output(b.state("s", {DType::BF16, dims({2, 2})}));
  OpCase c{b.finish(), {}, {}, {{1, -2, 0.5, 3}}, 0};
  c.states = {{"s", tensor(DType::BF16, {2, 2}, {1, -2, 0.5, 3})}};
  c.expected_states = {{"s", {1, -2, 0.5, 3}}};  // reading leaves it as it is
  return c;
}

OpCase case_kv_write() {
  Builder b("kv_write");
  // A state cache [N = 2, B = 2, H = 1, D = 2]: flat rows 0..3 hold [2r, 2r + 1].
  ValueId cache = b.state("kv", {DType::F32, dims({2, 2, 1, 2})});
  ValueId x = b.input("x", {DType::F32, dims({3, 1, 2})});
  b.output(b.kv_write(cache, x, b.input("slots", {DType::I32, dims({3})})));
  // An f16 cache given as an input: rows are rounded to nearest even (0.1 -> 0x2E66, 65520 -> inf).
  ValueId half = b.input("half", {DType::F16, dims({1, 2, 1, 2})});
  ValueId y = b.input("y", {DType::F32, dims({1, 1, 2})});
  b.output(b.kv_write(half, y, b.input("one_slot", {DType::I32, dims({1})})));
  OpCase c{b.finish(),
           {{"x", f32({3, 1, 2}, {10, 11, 12, 13, 14, 15})},
            {"slots", i32({3}, {3, -1, 0})},  // row 1 is padding
            {"half", tensor(DType::F16, {1, 2, 1, 2}, {1, 2, 3, 4})},
            {"y", f32({1, 1, 2}, {0.1, 65520})},
            {"one_slot", i32({1}, {1})}},
           {},
           {{14, 15, 2, 3, 4, 5, 10, 11}, {1, 2, 0.0999755859375, kInf}},
           0};
  c.states = {{"kv", f32({2, 2, 1, 2}, {0, 1, 2, 3, 4, 5, 6, 7})}};
  c.expected_states = {{"kv", {14, 15, 2, 3, 4, 5, 10, 11}}};
  return c;
}

// The operands of case_paged_attention's op (q, k, v, table, row_seq, pos), declared in `b`; the
// partial and split cases reuse that case's inputs.
std::vector<ValueId> paged_attention_operands(Builder& b) {
  return {b.input("q", {DType::F32, dims({3, 1, 1})}), b.input("k", {DType::F32, dims({3, 2, 1, 1})}),
          b.input("v", {DType::F32, dims({3, 2, 1, 2})}), b.input("table", {DType::I32, dims({2, 2})}),
          b.input("row_seq", {DType::I32, dims({3})}), b.input("pos", {DType::I32, dims({3})})};
}

// case_paged_attention in 2 runs of ceil(n / 2) keys, entries (o0, o1, m, l). Row 0 (3 keys):
// positions 0, 1 (scores 0, 0; values [4, 0], [0, 8]), then position 2 (score ln 2, value [2, 2]).
// Row 1 (1 key, score 7): one run, the second empty. Row 2 (padding): all zeros.
const std::vector<double> kPagedAttentionEntries = {4, 8, 0, 2, 2, 2, std::log(2.0), 1, -3, 5, 7, 1,
                                                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

OpCase case_paged_attention() {
  Builder b("paged_attention");
  const std::vector<ValueId> in = paged_attention_operands(b);
  b.output(b.paged_attention(in[0], in[1], in[2], in[3], in[4], in[5], 1.0));
  // Blocks of 2 rows; flat cache row r = block·2 + offset. Sequence 0 owns blocks [2, 0], sequence 1
  // block [1] (entry -1 unused). Row 0 (sequence 0, position 2) sees positions 0, 1 in block 2
  // (rows 4, 5, scores 0, 0) and position 2 in block 0 (row 0, score ln 2): weights 1/4, 1/4, 1/2,
  // out = [4, 0]/4 + [0, 8]/4 + [2, 2]/2 = [2, 3]. Row 1 (sequence 1, position 0) sees only row 2.
  // Row 2 is padding (position -1): zeros. Rows 1 and 3 of the cache are never visible.
  return {b.finish(),
          {{"q", f32({3, 1, 1}, {1, 1, 1})},
           {"k", f32({3, 2, 1, 1}, {std::log(2.0), 100, 7, 100, 0, 0})},
           {"v", f32({3, 2, 1, 2}, {2, 2, 1000, 1000, -3, 5, 1000, 1000, 4, 0, 0, 8})},
           {"table", i32({2, 2}, {2, 0, 1, -1})},
           {"row_seq", i32({3}, {0, 1, -1})},
           {"pos", i32({3}, {2, 0, -1})}},
          {},
          {{2, 3, -3, 5, 0, 0}}};
}

OpCase case_paged_attention_partial() {
  OpCase c = case_paged_attention();
  Builder b("paged_attention_partial");
  const std::vector<ValueId> in = paged_attention_operands(b);
  b.output(b.paged_attention_partial(in[0], in[1], in[2], in[3], in[4], in[5], 1.0, 0, 0.0, /*splits=*/2,
                                     /*granule=*/1));
  c.graph = b.finish();
  c.expected = {kPagedAttentionEntries};
  return c;
}

OpCase case_paged_attention_split() {
  OpCase c = case_paged_attention();
  const std::vector<double> attention = c.expected[0];
  Builder b("paged_attention_split");
  std::vector<ValueId> in = paged_attention_operands(b);
  in.push_back(b.input("counters", {DType::I32, dims({4, 1})}));
  for (ValueId r :
       b.emit(OpKind::PagedAttentionSplit, in, {{"scale", 1.0}, {"splits", int64_t{2}}, {"granule", int64_t{1}}}))
    b.output(r);
  c.graph = b.finish();
  c.inputs["counters"] = i32({4, 1}, {0, 0, 0, 0});
  // paged_attention's output, case_paged_attention_partial's entries, the counters unchanged.
  c.expected = {attention, kPagedAttentionEntries, {0, 0, 0, 0}};
  return c;
}

OpCase case_kv_write_rope() {
  Builder b("kv_write_rope");
  // k_cache [N = 1, B = 2, H = 1, D = 2], v_cache [1, 2, 1, 1]; one row to slot 1 at position 1: k = [1, 0]
  // rotates by 1 radian (rotary dims 2: inv_freq 1) to [cos 1, sin 1]; v is copied.
  ValueId k_cache = b.state("k", {DType::F32, dims({1, 2, 1, 2})});
  ValueId v_cache = b.state("v", {DType::F32, dims({1, 2, 1, 1})});
  auto [k_written, v_written] =
      b.kv_write_rope(k_cache, v_cache, b.input("k_rows", {DType::F32, dims({1, 1, 2})}),
                      b.input("v_rows", {DType::F32, dims({1, 1, 1})}), b.input("slots", {DType::I32, dims({1})}),
                      b.input("pos", {DType::I32, dims({1})}), {{"theta", 10000.0}});
  b.output(k_written);
  b.output(v_written);
  OpCase c{b.finish(),
           {{"k_rows", f32({1, 1, 2}, {1, 0})},
            {"v_rows", f32({1, 1, 1}, {9})},
            {"slots", i32({1}, {1})},
            {"pos", i32({1}, {1})}},
           {},
           {{7, 8, std::cos(1.0), std::sin(1.0)}, {1, 9}}};
  c.states = {{"k", f32({1, 2, 1, 2}, {7, 8, 5, 5})}, {"v", f32({1, 2, 1, 1}, {1, 2})}};
  c.expected_states = {{"k", {7, 8, static_cast<float>(std::cos(1.0)), static_cast<float>(std::sin(1.0))}},  // f32
                       {"v", {1, 9}}};
  return c;
}

OpCase case_attention_combine() {
  Builder b("attention_combine");
  b.output(b.attention_combine(b.input("partials", {DType::F32, dims({1, 2, 3, 4})})));
  // Head 0: the runs of case_paged_attention_partial's row 0 and one with l = 0 (skipped, its o and m
  // unread): m = ln 2, o = [4, 8]/2 + [2, 2] = [4, 6], l = 2/2 + 1 = 2, out [2, 3] (paged_attention's).
  // Head 1: no run has a key: zeros.
  return {b.finish(),
          {{"partials", f32({1, 2, 3, 4}, {4, 8, 0, 2, 2, 2, std::log(2.0), 1, 99, 99, 5, 0,  //
                                           7, 7, 3, 0, 1, 1, 0, 0, 2, 2, 2, 0})}},
          {},
          {{2, 3, 0, 0}}};
}

OpCase case_conv1d() {
  Builder b("conv1d");
  ValueId x = b.input("x", {DType::F32, dims({2, 1})}), w = b.input("w", {DType::F32, dims({1, 3})});
  ValueId state = b.input("state", {DType::F32, dims({2, 1})});
  auto [y, new_state] = b.conv1d(x, w, state, false);
  b.output(y);
  b.output(new_state);
  b.output(b.conv1d(x, w, state, true).first);
  // xp = [10, 20, 1, 2]; y0 = 1·10 + 2·20 + 3·1 = 53, y1 = 1·20 + 2·1 + 3·2 = 28.
  return {b.finish(),
          {{"x", f32({2, 1}, {1, 2})}, {"w", f32({1, 3}, {1, 2, 3})}, {"state", f32({2, 1}, {10, 20})}},
          {},
          {{53, 28}, {1, 2}, {53 / (1 + std::exp(-53.0)), 28 / (1 + std::exp(-28.0))}}};
}

OpCase case_gated_delta_net() {
  Builder b("gated_delta_net");
  ValueId q = b.input("q", {DType::F32, dims({2, 1, 2})}), k = b.input("k", {DType::F32, dims({2, 1, 2})});
  ValueId v = b.input("v", {DType::F32, dims({2, 1, 1})});
  ValueId g = b.input("g", {DType::F32, dims({2, 1})}), beta = b.input("beta", {DType::F32, dims({2, 1})});
  ValueId state = b.input("state", {DType::F32, dims({2, 1, 2, 1})});
  ValueId src = b.input("src", {DType::I32, dims({2})}), dst = b.input("dst", {DType::I32, dims({2})});
  auto [o, new_state] = b.gated_delta_net(q, k, v, g, beta, state, src, dst, 0.5, false);
  b.output(o);
  b.output(new_state);
  // Row 0 starts from slot 0, S = [1, 2]ᵀ: decay 1/2 gives [0.5, 1]; k = [1, 0]: kv = 0.5,
  // delta = (2.5 − 0.5)·0.5 = 1, S = [1.5, 1]; o = 0.5·(1.5 + 1) = 1.25; stored into slot 1.
  // Row 1 starts from zeros: kv = 0, delta = 4·0.5 = 2, k = [0, 1]: S = [0, 2], o = 0.5·2 = 1; not stored.
  return {b.finish(),
          {{"q", f32({2, 1, 2}, {1, 1, 1, 1})},
           {"k", f32({2, 1, 2}, {1, 0, 0, 1})},
           {"v", f32({2, 1, 1}, {2.5, 4})},
           {"g", f32({2, 1}, {std::log(0.5), 0})},
           {"beta", f32({2, 1}, {0.5, 0.5})},
           {"state", f32({2, 1, 2, 1}, {1, 2, 7, 7})},
           {"src", i32({2}, {0, -2})},
           {"dst", i32({2}, {1, -1})}},
          {},
          {{1.25, 1}, {1, 2, 1.5, 1}}};
}

OpCase case_fused_gated_delta_net() {
  Builder b("fused_gated_delta_net");
  // Hk = Hv = 1, Dk = Dv = 1 (channels q, k, v), conv kernel 2, two slots; no l2 norm, scale 1.
  const std::vector<ValueId> r = b.emit(
      OpKind::FusedGatedDeltaNet,
      {b.input("qkv", {DType::F32, dims({1, 3})}), b.input("z", {DType::F32, dims({1, 1, 1})}),
       b.input("a", {DType::F32, dims({1, 1})}), b.input("b", {DType::F32, dims({1, 1})}),
       b.weight("conv_w", {DType::F32, dims({3, 2})}), b.input("conv_state", {DType::F32, dims({2, 1, 3})}),
       b.weight("A_log", {DType::BF16, dims({1})}), b.weight("dt_bias", {DType::F32, dims({1})}),
       b.weight("norm_w", {DType::F32, dims({1})}), b.input("state", {DType::F32, dims({2, 1, 1, 1})}),
       b.input("src", {DType::I32, dims({1})}), b.input("dst", {DType::I32, dims({1})})},
      {{"scale", 1.0}, {"eps", 1e-6}, {"offset", 1.0}});
  for (ValueId v : r) b.output(v);
  // Conv over the window [slot 0's row, x] = [[1, 2, 3], [1, 1, 2]]: sums 1 + 1 = 2, 0·2 + 1 = 1,
  // 3 + 0 = 3, so q = silu(2), k = silu(1), v = silu(3); the window stored is x. Gates: beta =
  // sigmoid(0) = 1/2, g = -exp(0)·softplus(0 + 0) = -ln 2 (decay 1/2). State 4 → 2, kv = 2k,
  // delta = (v - 2k)/2, S = 2 + k·delta, o = S·q; out = o/√(o² + 1e-6) · (0.5 + 1) · silu(1).
  auto silu = [](double x) { return x / (1 + std::exp(-x)); };
  const double q = silu(2), k = silu(1), v = silu(3);
  const double s = 2 + k * (v - 2 * k) / 2, o = s * q;
  const double out = o / std::sqrt(o * o + 1e-6) * 1.5 * silu(1);
  return {b.finish(),
          {{"qkv", f32({1, 3}, {1, 1, 2})},
           {"z", f32({1, 1, 1}, {1})},
           {"a", f32({1, 1}, {0})},
           {"b", f32({1, 1}, {0})},
           {"conv_state", f32({2, 1, 3}, {1, 2, 3, 7, 7, 7})},
           {"state", f32({2, 1, 1, 1}, {4, 9})},
           {"src", i32({1}, {0})},
           {"dst", i32({1}, {0})}},
          {{"conv_w", f32({3, 2}, {1, 1, 0, 1, 1, 0})},
           {"A_log", tensor(DType::BF16, {1}, {0})},
           {"dt_bias", f32({1}, {0})},
           {"norm_w", f32({1}, {0.5})}},
          {{out}, {1, 1, 2, 7, 7, 7}, {s, 9}}};
}

OpCase case_argmax() {
  Builder b("argmax");
  b.output(b.argmax(b.input("x", {DType::F32, dims({3, 4})})));
  return {b.finish(), {{"x", f32({3, 4}, {1, 3, 3, 2, -1, -1, -1, -1, 0, -5, 0.5, 0.25})}}, {}, {{1, 0, 2}}, 0};
}

OpCase case_top_k() {
  Builder b("top_k");
  auto [values, indices] = b.top_k(b.input("x", {DType::F32, dims({2, 5})}), 3);
  b.output(values);
  b.output(indices);
  return {b.finish(),
          {{"x", f32({2, 5}, {1, 3, 3, 2, 5, 0, 0, 0, 0, 0})}},
          {},
          {{5, 3, 3, 0, 0, 0}, {4, 1, 2, 0, 1, 2}},
          0};
}

// Greedy with and without penalties (a repeated id, an id outside the vocabulary, padding), and
// filters that leave one token: its score is log 1 = 0 whatever the noise.
OpCase case_sample() {
  Builder b("sample");
  auto [tokens, scores] = b.sample(b.input("logits", {DType::F32, dims({4, 4})}),
                                   b.input("params", {DType::F32, dims({4, 8})}),
                                   b.input("rng", {DType::I32, dims({4, 2})}),
                                   b.input("history", {DType::I32, dims({4, 4})}));
  b.output(tokens);
  b.output(scores);
  auto log_sum_exp = [](std::vector<double> v) {
    double s = 0;
    for (double x : v) s += std::exp(x);
    return std::log(s);
  };
  return {b.finish(),
          {{"logits", f32({4, 4}, {1, 3, 3, 2, 0.5, -1, 2.5, 2, 1, 3, 4, 2, -1, -2, -0.5, -3})},
           // [T, top_k, top_p, min_p, repetition, presence, frequency, 0]
           {"params", f32({4, 8}, {0, 0, 1, 0, 1, 0, 0, 0,      //
                                   0.7, 1, 1, 0, 1, 0, 0, 0,    // top-k 1
                                   0, 0, 1, 0, 2, 0, 0.5, 0,    // 4 -> 4 / 2 - 0.5 * 2 = 1
                                   1, 0, 0, 0, 2, 0.25, 0, 0})},  // -1 -> -1 * 2 - 0.25; top-p 0
           {"rng", i32({4, 2}, {1, 2, 3, 4, -5, 6, 7, -8})},
           {"history", i32({4, 4}, {1, 1, 1, 1, 0, 1, 2, 3, 2, 2, -1, 9, 0, -1, -1, -1})}},
          {},
          {{1, 2, 1, 2},
           {3 - log_sum_exp({1, 3, 3, 2}), 0, 3 - log_sum_exp({1, 3, 1, 2}), 0}},
          1e-6};
}

// Two rows of 5 logits in 2 chunks of 3 and 2 tokens: top-k 2 at T = 0.5 (candidates, ties at the
// chunk's threshold kept), and greedy with penalties (4 -> 4 / 2 - 0.5 = 1.5; no candidates).
OpCase case_sample_partial() {
  Builder b("sample_partial");
  b.output(b.emit(OpKind::SamplePartial,
                  {b.input("logits", {DType::F32, dims({2, 5})}), b.input("params", {DType::F32, dims({2, 8})}),
                   b.input("history", {DType::I32, dims({2, 1})})},
                  {{"splits", int64_t{2}}, {"candidates", int64_t{2}}})[0]);
  const double e = std::exp(1.0);
  return {b.finish(),
          {{"logits", f32({2, 5}, {1, 3, 3, 2, 0.5, 4, -1, 2, 0, 1})},
           {"params", f32({2, 8}, {0.5, 2, 1, 0, 1, 0, 0, 0,  //
                                   0, 0, 1, 0, 2, 0, 0.5, 0})},
           {"history", i32({2, 1}, {-1, 0})}},
          {},
          {{3, 1, 2 + std::pow(e, -4), 2, 3, 1, 3, 2, 3,      // chunk [1, 3, 3]
            2, 3, 1 + std::pow(e, -3), 2, 0.5, 3, 2, 4, 0.5,  // chunk [2, 0.5]
            2, 2, std::pow(e, -0.5) + std::pow(e, -3) + 1, 0, 0, 0, 0, 0, 0,  // [1.5, -1, 2]
            1, 4, std::pow(e, -1) + 1, 0, 0, 0, 0, 0, 0}},                      // [0, 1]
          1e-6};
}

// case_sample through sample_partial + sample_finish: the same tokens and scores.
OpCase case_sample_finish() {
  OpCase whole = case_sample();
  Builder b("sample_finish");
  const ValueId logits = b.input("logits", {DType::F32, dims({4, 4})});
  const ValueId params = b.input("params", {DType::F32, dims({4, 8})});
  const ValueId rng = b.input("rng", {DType::I32, dims({4, 2})});
  const ValueId history = b.input("history", {DType::I32, dims({4, 4})});
  const ValueId partials = b.emit(OpKind::SamplePartial, {logits, params, history},
                                  {{"splits", int64_t{3}}, {"candidates", int64_t{1}}})[0];
  const std::vector<ValueId> out = b.emit(OpKind::SampleFinish, {logits, params, rng, history, partials});
  b.output(out[0]);
  b.output(out[1]);
  whole.graph = b.finish();
  return whole;
}

OpCase case_reshape() {
  Builder b("reshape");
  b.output(b.reshape(b.input("x", {DType::F16, dims({2, 3})}), dims({3, 2})));
  b.output(b.reshape(b.weight("q", {DType::Q8_0, dims({2, 32})}), dims({1, 64})));
  std::vector<int8_t> q0, q1;
  std::vector<double> want;
  for (int j = 0; j < 32; ++j) q0.push_back(static_cast<int8_t>(j)), want.push_back(j);
  for (int j = 0; j < 32; ++j) q1.push_back(static_cast<int8_t>(-j)), want.push_back(-0.5 * j);
  return {b.finish(),
          {{"x", tensor(DType::F16, {2, 3}, {1, 2, 3, 4, 5, 6})}},
          {{"q", q8_rows({2, 32}, {{0x3C00, q0}, {0x3800, q1}})}},
          {{1, 2, 3, 4, 5, 6}, want},
          0};
}

OpCase case_slice() {
  Builder b("slice");
  b.output(b.slice(b.input("x", {DType::F32, dims({2, 3, 4})}), 1, 1, 2));
  b.output(b.slice(b.weight("q", {DType::Q8_0, dims({3, 32})}), 0, 1, 1));
  std::vector<double> x, want;
  for (int i = 0; i < 24; ++i) x.push_back(i);  // x[a, b, c] = 12a + 4b + c
  for (int a = 0; a < 2; ++a)
    for (int r = 1; r < 3; ++r)
      for (int c = 0; c < 4; ++c) want.push_back(12 * a + 4 * r + c);
  std::vector<int8_t> q(32, 5);
  std::vector<double> qwant(32, 10.0);  // row 1: d = 2, q = 5
  return {b.finish(),
          {{"x", f32({2, 3, 4}, x)}},
          {{"q", q8_rows({3, 32}, {{0x3C00, q}, {0x4000, q}, {0x3800, q}})}},
          {want, qwant},
          0};
}

struct NamedCase {
  const char* name;
  OpCase (*make)();
};
const NamedCase kCases[] = {
    {"weight", case_weight},         {"constant", case_constant}, {"embedding", case_embedding},
    {"matmul", case_matmul},         {"add", case_add},           {"mul", case_mul},
    {"scale", case_scale},           {"silu", case_silu},         {"gelu", case_gelu},
    {"sigmoid", case_sigmoid},       {"softcap", case_softcap},   {"swiglu", case_swiglu},
    {"softplus", case_softplus},     {"exp", case_exp},
    {"geglu", case_geglu},           {"cast", case_cast},         {"rms_norm", case_rms_norm},
    {"layer_norm", case_layer_norm}, {"softmax", case_softmax},   {"rope", case_rope},
    {"attention", case_attention},   {"conv1d", case_conv1d},     {"argmax", case_argmax},
    {"top_k", case_top_k},           {"sample", case_sample},     {"reshape", case_reshape},   {"slice", case_slice},
    {"state", case_state},           {"kv_write", case_kv_write}, {"paged_attention", case_paged_attention},
    {"paged_attention_partial", case_paged_attention_partial}, {"attention_combine", case_attention_combine},
    {"gated_delta_net", case_gated_delta_net}, {"fused_matmul", case_fused_matmul}, {"multi_matmul", case_multi_matmul},
    {"sample_partial", case_sample_partial}, {"sample_finish", case_sample_finish},
    {"kv_write_rope", case_kv_write_rope}, {"paged_attention_split", case_paged_attention_split},
    {"fused_gated_delta_net", case_fused_gated_delta_net},
};

TEST(ReferenceCases, EveryOpKindHasACase) {
  std::set<int> covered;
  for (const NamedCase& c : kCases) {
    OpCase oc = c.make();
    bool named_op_present = false;
    for (const Op& op : oc.graph.ops) {
      covered.insert(static_cast<int>(op.kind));
      named_op_present |= name(op.kind) == c.name;
    }
    EXPECT_TRUE(named_op_present) << "case '" << c.name << "' does not use the op it is named after";
  }
  for (int k = 0; k < kNumOps; ++k)
    EXPECT_TRUE(covered.count(k)) << "op '" << name(static_cast<OpKind>(k)) << "' has no known-value case";
}

void PrintTo(const NamedCase& c, std::ostream* os) { *os << c.name; }

class KnownValues : public testing::TestWithParam<NamedCase> {};

TEST_P(KnownValues, MatchHandComputed) {
  OpCase c = GetParam().make();
  ReferenceRun run = run_reference(c.graph, c.symbols, c.inputs, weights_from(c.weights), &c.states);
  ASSERT_EQ(run.outputs.size(), c.expected.size());
  for (const auto& [state, want] : c.expected_states) expect_values(c.states.at(state), want, 0, "state " + state);
  ASSERT_EQ(run.values.size(), c.graph.values.size());
  for (size_t i = 0; i < c.expected.size(); ++i) {
    const Type& declared = c.graph.type(c.graph.outputs[i]);
    EXPECT_EQ(run.outputs[i].dtype, declared.dtype) << "output " << i;
    EXPECT_EQ(run.outputs[i].shape, concrete_shape(declared.shape, c.symbols)) << "output " << i;
    expect_values(run.outputs[i], c.expected[i], c.tolerance, "output " + std::to_string(i));
  }
}

INSTANTIATE_TEST_SUITE_P(ReferenceOps, KnownValues, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<NamedCase>& info) { return std::string(info.param.name); });

// ---- Naive formulas, written independently of the executor ------------------------------------

// out[t][h][d] for x[T][H][Dh] with an explicit list of rotated index pairs.
std::vector<double> naive_rope(const std::vector<double>& x, const std::vector<int>& pos, int heads, int head_dim,
                               const std::vector<std::pair<int, int>>& pairs, const std::vector<double>& inv_freq) {
  std::vector<double> out = x;
  for (size_t t = 0; t < pos.size(); ++t)
    for (int h = 0; h < heads; ++h) {
      auto at = [&](int d) { return (static_cast<int>(t) * heads + h) * head_dim + d; };
      for (size_t i = 0; i < pairs.size(); ++i) {
        const double a = pos[t] * inv_freq[i];
        const double u = x[static_cast<size_t>(at(pairs[i].first))], w = x[static_cast<size_t>(at(pairs[i].second))];
        out[static_cast<size_t>(at(pairs[i].first))] = u * std::cos(a) - w * std::sin(a);
        out[static_cast<size_t>(at(pairs[i].second))] = w * std::cos(a) + u * std::sin(a);
      }
    }
  return out;
}

// Attention through a full score matrix with −inf for masked keys.
std::vector<double> naive_attention(const std::vector<double>& q, const std::vector<double>& k,
                                    const std::vector<double>& v, const std::vector<int>& pos, int hq, int hkv, int d,
                                    int dv, int s_len, double scale, int window, double softcap) {
  const int t_len = static_cast<int>(pos.size());
  std::vector<double> out(static_cast<size_t>(t_len * hq * dv), 0.0);
  for (int t = 0; t < t_len; ++t)
    for (int h = 0; h < hq; ++h) {
      const int g = h * hkv / hq;  // kv head shared by hq/hkv consecutive query heads
      std::vector<double> score(static_cast<size_t>(s_len), -kInf);
      for (int s = 0; s < s_len; ++s) {
        const bool causal = s <= pos[t];
        const bool in_window = window == 0 || pos[t] - s < window;
        if (!causal || !in_window) continue;
        double dot = 0;
        for (int e = 0; e < d; ++e)
          dot += q[static_cast<size_t>((t * hq + h) * d + e)] * k[static_cast<size_t>((s * hkv + g) * d + e)];
        score[static_cast<size_t>(s)] = softcap > 0 ? softcap * std::tanh(scale * dot / softcap) : scale * dot;
      }
      double max = -kInf;
      for (double x : score) max = std::max(max, x);
      if (max == -kInf) continue;
      double total = 0;
      for (double x : score) total += std::exp(x - max);
      for (int s = 0; s < s_len; ++s) {
        const double p = std::exp(score[static_cast<size_t>(s)] - max) / total;
        for (int e = 0; e < dv; ++e)
          out[static_cast<size_t>((t * hq + h) * dv + e)] += p * v[static_cast<size_t>((s * hkv + g) * dv + e)];
      }
    }
  return out;
}

HostTensor run_one(const Graph& g, const std::map<std::string, HostTensor>& inputs, const SymbolBindings& symbols = {},
                   const WeightFn& weights = {}) {
  return run_reference(g, symbols, inputs, weights).outputs.at(0);
}

// ---- matmul and rounding -----------------------------------------------------------------------

TEST(ReferenceMatMul, RandomAgainstNaiveLoops) {
  std::mt19937_64 rng(11);
  Builder b("mm");
  ValueId x = b.input("x", {DType::F32, dims({2, 3, 32})});
  b.output(b.matmul(x, b.weight("w", {DType::F16, dims({5, 32})})));
  b.output(b.matmul(x, b.weight("wq", {DType::Q8_0, dims({5, 32})})));
  const Graph g = b.finish();
  std::map<std::string, HostTensor> weights{{"w", HostTensor::random(DType::F16, {5, 32}, rng)},
                                            {"wq", HostTensor::random(DType::Q8_0, {5, 32}, rng)}};
  const HostTensor xs = HostTensor::random(DType::F32, {2, 3, 32}, rng);
  ReferenceRun run = run_reference(g, {}, {{"x", xs}}, weights_from(weights));
  for (int out = 0; out < 2; ++out) {
    const HostTensor& w = weights.at(out == 0 ? "w" : "wq");
    std::vector<double> want;
    for (int a = 0; a < 2; ++a)
      for (int r = 0; r < 3; ++r)
        for (int n = 0; n < 5; ++n) {
          long double sum = 0;
          for (int k = 31; k >= 0; --k)
            sum += static_cast<long double>(xs.get(a * 96 + r * 32 + k)) * w.get(n * 32 + k);
          want.push_back(static_cast<double>(sum));
        }
    expect_values(run.outputs[static_cast<size_t>(out)], want, 1e-6, out == 0 ? "f16 weight" : "q8_0 weight");
  }
}

TEST(ReferenceMatMul, TinyModelSizedSpotChecks) {
  std::mt19937_64 rng(12);
  Builder b("mm");
  b.output(b.matmul(b.input("x", {DType::F32, dims({64, 256})}), b.weight("w", {DType::Q4_0, dims({1024, 256})})));
  const Graph g = b.finish();
  const HostTensor x = HostTensor::random(DType::F32, {64, 256}, rng);
  const HostTensor w = HostTensor::random(DType::Q4_0, {1024, 256}, rng);
  const HostTensor out = run_one(g, {{"x", x}}, {}, weights_from({{"w", w}}));
  for (auto [i, n] : {std::pair{0, 0}, std::pair{63, 1023}, std::pair{17, 500}}) {
    double sum = 0;
    for (int k = 0; k < 256; ++k) sum += x.get(i * 256 + k) * w.get(n * 256 + k);
    EXPECT_NEAR(out.get(i * 1024 + n), sum, 1e-5 * std::max(1.0, std::fabs(sum)));
  }
}

TEST(ReferenceRounding, ResultsAreRoundedToTheirDeclaredDtype) {
  Builder b("round");
  ValueId h1 = b.input("h1", {DType::F16, dims({3})}), h2 = b.input("h2", {DType::F16, dims({3})});
  b.output(b.add(h1, h2));
  ValueId g1 = b.input("g1", {DType::BF16, dims({3})}), g2 = b.input("g2", {DType::BF16, dims({3})});
  b.output(b.add(g1, g2));
  b.output(b.scale(h1, 70000.0));  // 70000 overflows half
  b.output(b.matmul(b.input("x", {DType::F32, dims({1, 2})}), b.input("w", {DType::F32, dims({1, 2})})));
  const Graph g = b.finish();
  const double u11 = std::ldexp(1.0, -11), u8 = std::ldexp(1.0, -8);
  ReferenceRun run = run_reference(g, {},
                                   {{"h1", tensor(DType::F16, {3}, {1, 1, 1})},
                                    {"h2", tensor(DType::F16, {3}, {u11, 3 * u11, 2 * u11})},
                                    {"g1", tensor(DType::BF16, {3}, {1, 1, 1})},
                                    {"g2", tensor(DType::BF16, {3}, {u8, 3 * u8, 2 * u8})},
                                    {"x", f32({1, 2}, {1, std::ldexp(1.0, -30)})},
                                    {"w", f32({1, 2}, {1, 1})}},
                                   {});
  EXPECT_EQ(run.outputs[0].dtype, DType::F16);
  expect_values(run.outputs[0], {1.0, 1.0 + 4 * u11, 1.0 + 2 * u11}, 0);  // ties go to even
  EXPECT_EQ(run.outputs[1].dtype, DType::BF16);
  expect_values(run.outputs[1], {1.0, 1.0 + 4 * u8, 1.0 + 2 * u8}, 0);
  expect_values(run.outputs[2], {kInf, kInf, kInf}, 0);
  expect_values(run.outputs[3], {1.0}, 0);  // 1 + 2^-30 is 1 in f32
}

// ---- normalization ------------------------------------------------------------------------------

TEST(ReferenceSoftmax, RowsSumToOne) {
  std::mt19937_64 rng(21);
  Builder b("sm");
  b.output(b.softmax(b.input("x", {DType::F32, dims({5, 17})})));
  const HostTensor out = run_one(b.finish(), {{"x", HostTensor::random(DType::F32, {5, 17}, rng, -20, 20)}});
  for (int r = 0; r < 5; ++r) {
    double sum = 0;
    for (int i = 0; i < 17; ++i) {
      const double p = out.get(r * 17 + i);
      EXPECT_GE(p, 0.0);
      EXPECT_LE(p, 1.0);
      sum += p;
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
}

TEST(ReferenceLayerNorm, OutputHasZeroMeanAndUnitVariance) {
  std::mt19937_64 rng(22);
  Builder b("ln");
  ValueId x = b.input("x", {DType::F32, dims({4, 64})});
  b.output(b.layer_norm(x, b.constant(1.0, {DType::F32, dims({64})}), b.constant(0.0, {DType::F32, dims({64})}), 1e-5));
  const HostTensor out = run_one(b.finish(), {{"x", HostTensor::random(DType::F32, {4, 64}, rng, 2, 8)}});
  for (int r = 0; r < 4; ++r) {
    double mean = 0, square = 0;
    for (int i = 0; i < 64; ++i) mean += out.get(r * 64 + i) / 64;
    for (int i = 0; i < 64; ++i) square += out.get(r * 64 + i) * out.get(r * 64 + i) / 64;
    EXPECT_NEAR(mean, 0.0, 1e-6);
    EXPECT_NEAR(square, 1.0, 1e-3);  // var / (var + eps)
  }
}

TEST(ReferenceRmsNorm, OffsetOneEqualsWeightPlusOne) {
  std::mt19937_64 rng(23);
  Builder b("rms");
  ValueId x = b.input("x", {DType::F32, dims({3, 16})}), w = b.input("w", {DType::F32, dims({16})});
  b.output(b.rms_norm(x, w, 1e-6, 1.0));
  const HostTensor xs = HostTensor::random(DType::F32, {3, 16}, rng, -2, 2);
  const HostTensor ws = HostTensor::random(DType::F32, {16}, rng, -0.5, 0.5);
  const HostTensor out = run_one(b.finish(), {{"x", xs}, {"w", ws}});
  for (int r = 0; r < 3; ++r) {
    double squares = 0;
    for (int i = 0; i < 16; ++i) squares += xs.get(r * 16 + i) * xs.get(r * 16 + i);
    const double rms = std::sqrt(squares / 16 + 1e-6);
    for (int i = 0; i < 16; ++i) EXPECT_NEAR(out.get(r * 16 + i), xs.get(r * 16 + i) / rms * (ws.get(i) + 1.0), 1e-6);
  }
}

// ---- rope -------------------------------------------------------------------------------------

struct RopeRun {
  HostTensor x, out;
};

RopeRun run_rope(int rows, int heads, int head_dim, const std::vector<double>& positions, Attrs attrs,
                 std::mt19937_64& rng) {
  Builder b("rope");
  ValueId x = b.input("x", {DType::F32, dims({rows, heads, head_dim})});
  b.output(b.rope(x, b.input("pos", {DType::I32, dims({rows})}), std::move(attrs)));
  RopeRun r;
  r.x = HostTensor::random(DType::F32, {rows, heads, head_dim}, rng, -2, 2);
  r.out = run_one(b.finish(), {{"x", r.x}, {"pos", i32({rows}, positions)}});
  return r;
}

std::vector<std::pair<int, int>> neox_pairs(int rotary_dims) {
  std::vector<std::pair<int, int>> p;
  for (int i = 0; i < rotary_dims / 2; ++i) p.emplace_back(i, i + rotary_dims / 2);
  return p;
}
std::vector<std::pair<int, int>> interleaved_pairs(int rotary_dims) {
  std::vector<std::pair<int, int>> p;
  for (int i = 0; i < rotary_dims / 2; ++i) p.emplace_back(2 * i, 2 * i + 1);
  return p;
}
std::vector<double> plain_inv_freq(double theta, int rotary_dims) {
  std::vector<double> f;
  for (int i = 0; i < rotary_dims / 2; ++i) f.push_back(1.0 / std::pow(theta, 2.0 * i / rotary_dims));
  return f;
}

TEST(ReferenceRope, KeepsEveryPairsNorm) {
  std::mt19937_64 rng(31);
  for (const char* layout : {"neox", "interleaved"}) {
    RopeRun r = run_rope(3, 2, 8, {0, 7, 123}, {{"theta", 10000.0}, {"layout", std::string(layout)}}, rng);
    const auto pairs = std::string(layout) == "neox" ? neox_pairs(8) : interleaved_pairs(8);
    for (int row = 0; row < 6; ++row)
      for (auto [j, k] : pairs) {
        const double before = std::hypot(r.x.get(row * 8 + j), r.x.get(row * 8 + k));
        const double after = std::hypot(r.out.get(row * 8 + j), r.out.get(row * 8 + k));
        EXPECT_NEAR(after, before, 1e-6) << layout;
      }
  }
}

TEST(ReferenceRope, PositionZeroIsTheIdentity) {
  std::mt19937_64 rng(32);
  for (const char* layout : {"neox", "interleaved"}) {
    RopeRun r = run_rope(2, 3, 8, {0, 0}, {{"theta", 10000.0}, {"layout", std::string(layout)}}, rng);
    expect_values(r.out, all_values(r.x), 0, layout);
  }
}

TEST(ReferenceRope, LayoutsPairTheirSpecifiedDims) {
  std::mt19937_64 rng(33);
  const std::vector<double> positions{3, 40};
  RopeRun neox = run_rope(2, 2, 8, positions, {{"theta", 500.0}}, rng);
  RopeRun inter = run_rope(2, 2, 8, positions, {{"theta", 500.0}, {"layout", std::string("interleaved")}}, rng);
  expect_values(neox.out, naive_rope(all_values(neox.x), {3, 40}, 2, 8, neox_pairs(8), plain_inv_freq(500, 8)), 1e-6,
                "neox");
  expect_values(inter.out, naive_rope(all_values(inter.x), {3, 40}, 2, 8, interleaved_pairs(8), plain_inv_freq(500, 8)),
                1e-6, "interleaved");
  // The same input rotated by the two layouts differs.
  const std::vector<double> on_neox_input =
      naive_rope(all_values(neox.x), {3, 40}, 2, 8, interleaved_pairs(8), plain_inv_freq(500, 8));
  double difference = 0;
  for (size_t i = 0; i < on_neox_input.size(); ++i)
    difference += std::fabs(on_neox_input[i] - neox.out.get(static_cast<int64_t>(i)));
  EXPECT_GT(difference, 0.1);
}

TEST(ReferenceRope, PartialRotaryLeavesTheTailUnchanged) {
  std::mt19937_64 rng(34);
  for (const char* layout : {"neox", "interleaved"}) {
    RopeRun r = run_rope(2, 2, 10, {5, 9},
                         {{"theta", 10000.0}, {"rotary_dims", int64_t{4}}, {"layout", std::string(layout)}}, rng);
    const auto pairs = std::string(layout) == "neox" ? neox_pairs(4) : interleaved_pairs(4);
    expect_values(r.out, naive_rope(all_values(r.x), {5, 9}, 2, 10, pairs, plain_inv_freq(10000, 4)), 1e-6, layout);
    for (int row = 0; row < 4; ++row)
      for (int d = 4; d < 10; ++d) EXPECT_EQ(r.out.get(row * 10 + d), r.x.get(row * 10 + d)) << layout;
  }
}

// Rotates the unit vector (1, 0) of pair i at row i and reads the angle back: inv_freq[i] = angle / pos.
std::vector<double> measured_inv_freq(const Attrs& attrs, const std::vector<double>& positions) {
  const int half = static_cast<int>(positions.size()), head_dim = 2 * half;
  Builder b("rope");
  ValueId x = b.input("x", {DType::F32, dims({half, 1, head_dim})});
  b.output(b.rope(x, b.input("pos", {DType::I32, dims({half})}), attrs));
  std::vector<double> xs(static_cast<size_t>(half * head_dim), 0.0);
  for (int i = 0; i < half; ++i) xs[static_cast<size_t>(i * head_dim + i)] = 1.0;  // neox pair (i, i + half)
  const HostTensor out = run_one(b.finish(), {{"x", f32({half, 1, head_dim}, xs)}, {"pos", i32({half}, positions)}});
  std::vector<double> inv_freq;
  for (int i = 0; i < half; ++i)
    inv_freq.push_back(std::atan2(out.get(i * head_dim + i + half), out.get(i * head_dim + i)) /
                       positions[static_cast<size_t>(i)]);
  return inv_freq;
}

TEST(ReferenceRope, LinearScalingDividesFrequencies) {
  // theta 10000, 8 dims: inv_freq = 10^-i, divided by 4.
  const auto got =
      measured_inv_freq({{"theta", 10000.0}, {"scaling", std::string("linear")}, {"factor", 4.0}}, {1, 10, 100, 1000});
  const std::vector<double> want{0.25, 0.025, 0.0025, 0.00025};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5 * want[i]) << i;
}

TEST(ReferenceRope, Llama3ScalingHasThreeBands) {
  // theta 10000, 8 dims: inv_freq = [1, 0.1, 0.01, 0.001], wavelengths 2π·[1, 10, 100, 1000].
  // original_max_position 1000, low_freq_factor 1, high_freq_factor 4: the low-frequency wavelength
  // bound is 1000, the high-frequency one 250. So dims 0 and 1 (6.3, 63) keep their frequency,
  // dim 3 (6283) is divided by the factor 8, and dim 2 (628) is blended with
  // smooth = (1000 / 628.3 − 1) / (4 − 1) = 0.197184: 0.01 · ((1 − smooth) / 8 + smooth).
  const auto got = measured_inv_freq({{"theta", 10000.0},
                                      {"scaling", std::string("llama3")},
                                      {"factor", 8.0},
                                      {"low_freq_factor", 1.0},
                                      {"high_freq_factor", 4.0},
                                      {"original_max_position", int64_t{1000}}},
                                     {1, 10, 100, 1000});
  const double smooth = (1000 / (2 * std::numbers::pi * 100) - 1) / 3;
  const std::vector<double> want{1.0, 0.1, 0.01 * ((1 - smooth) / 8 + smooth), 0.001 / 8};
  EXPECT_NEAR(want[2], 0.0029753525, 1e-10);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5 * want[i]) << i;
}

// ---- attention ------------------------------------------------------------------------------------

struct AttentionSetup {
  int hq = 4, hkv = 2, d = 8, dv = 6, s_len = 7;
  std::vector<double> positions{2, 3, 4, 5, 6};
  double scale = 1 / std::sqrt(8.0);
  int64_t window = 0;
  double softcap = 0;
  HostTensor q, k, v;

  int t_len() const { return static_cast<int>(positions.size()); }
  void randomize(std::mt19937_64& rng) {
    q = HostTensor::random(DType::F32, {t_len(), hq, d}, rng, -2, 2);
    k = HostTensor::random(DType::F32, {s_len, hkv, d}, rng, -2, 2);
    v = HostTensor::random(DType::F32, {s_len, hkv, dv}, rng, -2, 2);
  }
  HostTensor run() const {
    Builder b("attn");
    ValueId qv = b.input("q", {DType::F32, dims({t_len(), hq, d})});
    ValueId kv = b.input("k", {DType::F32, dims({s_len, hkv, d})});
    ValueId vv = b.input("v", {DType::F32, dims({s_len, hkv, dv})});
    ValueId pos = b.input("pos", {DType::I32, dims({t_len()})});
    b.output(b.attention(qv, kv, vv, pos, scale, window, softcap));
    return run_one(b.finish(), {{"q", q}, {"k", k}, {"v", v}, {"pos", i32({t_len()}, positions)}});
  }
  std::vector<double> naive() const {
    std::vector<int> pos;
    for (double p : positions) pos.push_back(static_cast<int>(p));
    return naive_attention(all_values(q), all_values(k), all_values(v), pos, hq, hkv, d, dv, s_len, scale,
                           static_cast<int>(window), softcap);
  }
};

TEST(ReferenceAttention, CausalMaskMatchesNaive) {
  std::mt19937_64 rng(41);
  AttentionSetup a;
  a.randomize(rng);
  const HostTensor before = a.run();
  expect_values(before, a.naive(), 1e-6);
  // Changing the last key/value row (position 6) changes only the query at position 6.
  for (int i = 0; i < a.hkv * a.d; ++i) a.k.set(6 * a.hkv * a.d + i, 3.0);
  for (int i = 0; i < a.hkv * a.dv; ++i) a.v.set(6 * a.hkv * a.dv + i, -5.0);
  const HostTensor after = a.run();
  const int row = a.hq * a.dv;
  for (int i = 0; i < 4 * row; ++i) EXPECT_EQ(after.get(i), before.get(i));
  double change = 0;
  for (int i = 4 * row; i < 5 * row; ++i) change += std::fabs(after.get(i) - before.get(i));
  EXPECT_GT(change, 0.1);
}

TEST(ReferenceAttention, SlidingWindowMatchesNaive) {
  std::mt19937_64 rng(42);
  AttentionSetup a;
  a.window = 3;
  a.randomize(rng);
  expect_values(a.run(), a.naive(), 1e-6);
  // A window as long as the context is no window.
  AttentionSetup whole = a;
  whole.window = 7;
  AttentionSetup none = a;
  none.window = 0;
  expect_values(whole.run(), all_values(none.run()), 0);
}

TEST(ReferenceAttention, SoftcapMatchesNaiveAndBoundsScores) {
  std::mt19937_64 rng(43);
  AttentionSetup a;
  a.scale = 2.0;  // large scores, so that the cap matters
  a.softcap = 1.5;
  a.randomize(rng);
  const HostTensor capped = a.run();
  expect_values(capped, a.naive(), 1e-6);
  AttentionSetup uncapped = a;
  uncapped.softcap = 0;
  double change = 0;
  for (int64_t i = 0; i < capped.numel(); ++i) change += std::fabs(capped.get(i) - uncapped.run().get(i));
  EXPECT_GT(change, 0.1);
}

TEST(ReferenceAttention, GqaQueryHeadsShareKvHeads) {
  std::mt19937_64 rng(44);
  AttentionSetup a;  // 4 query heads over 2 kv heads: heads 0, 1 read kv head 0; heads 2, 3 kv head 1
  a.randomize(rng);
  for (int s = 0; s < a.s_len; ++s)
    for (int g = 0; g < a.hkv; ++g)
      for (int e = 0; e < a.dv; ++e) a.v.set((s * a.hkv + g) * a.dv + e, g == 0 ? 1.0 + e : -10.0 - e);
  const HostTensor out = a.run();
  for (int t = 0; t < a.t_len(); ++t)
    for (int h = 0; h < a.hq; ++h)
      for (int e = 0; e < a.dv; ++e) EXPECT_NEAR(out.get((t * a.hq + h) * a.dv + e), h < 2 ? 1.0 + e : -10.0 - e, 1e-5);
}

TEST(ReferenceAttention, RowWithoutVisibleKeysIsZero) {
  std::mt19937_64 rng(45);
  AttentionSetup a;
  a.positions = {-1, 20, 3};  // position -1: no key s <= -1; position 20 with window 4: keys 17..20 don't exist
  a.window = 4;
  a.randomize(rng);
  const HostTensor out = a.run();
  const int row = a.hq * a.dv;
  for (int i = 0; i < 2 * row; ++i) EXPECT_EQ(out.get(i), 0.0);
  double third = 0;
  for (int i = 2 * row; i < 3 * row; ++i) third += std::fabs(out.get(i));
  EXPECT_GT(third, 0.0);
  expect_values(out, a.naive(), 1e-6);
}

TEST(ReferenceAttention, SingleVisibleKeyReturnsItsValue) {
  std::mt19937_64 rng(46);
  AttentionSetup a;
  a.positions = {0, 5};  // position 0: only key 0; position 5 with window 1: only key 5
  a.window = 1;
  a.randomize(rng);
  const HostTensor out = a.run();
  for (int t = 0; t < 2; ++t) {
    const int key = t == 0 ? 0 : 5;
    for (int h = 0; h < a.hq; ++h)
      for (int e = 0; e < a.dv; ++e)
        EXPECT_EQ(out.get((t * a.hq + h) * a.dv + e), a.v.get((key * a.hkv + h / 2) * a.dv + e));
  }
}

// ---- conv1d -------------------------------------------------------------------------------------

Graph conv_graph(int channels, int kernel, bool silu) {
  Builder b("conv");
  ValueId x = b.input("x", {DType::F32, {Dim::symbol("seq"), Dim::of(channels)}});
  ValueId w = b.input("w", {DType::F32, dims({channels, kernel})});
  ValueId state = b.input("state", {DType::F32, dims({kernel - 1, channels})});
  auto [y, new_state] = b.conv1d(x, w, state, silu);
  b.output(y);
  b.output(new_state);
  return b.finish();
}

TEST(ReferenceConv1d, MatchesTheDirectFormula) {
  std::mt19937_64 rng(51);
  const int t_len = 5, c = 3, k = 4;
  const HostTensor x = HostTensor::random(DType::F32, {t_len, c}, rng, -2, 2);
  const HostTensor w = HostTensor::random(DType::F32, {c, k}, rng, -1, 1);
  const HostTensor state = HostTensor::random(DType::F32, {k - 1, c}, rng, -2, 2);
  ReferenceRun run =
      run_reference(conv_graph(c, k, true), {{"seq", t_len}}, {{"x", x}, {"w", w}, {"state", state}}, {});
  std::vector<double> want;
  for (int t = 0; t < t_len; ++t)
    for (int ch = 0; ch < c; ++ch) {
      double sum = 0;
      for (int j = 0; j < k; ++j) {
        const int row = t + j - (k - 1);  // row of x, or of the state when negative
        sum += w.get(ch * k + j) * (row < 0 ? state.get((k - 1 + row) * c + ch) : x.get(row * c + ch));
      }
      want.push_back(sum / (1 + std::exp(-sum)));
    }
  expect_values(run.outputs[0], want, 1e-6);
  // The new state is the last K-1 = 3 rows of x.
  const std::vector<double> xs = all_values(x);
  expect_values(run.outputs[1], std::vector<double>(xs.end() - 9, xs.end()), 0);
}

TEST(ReferenceConv1d, StateKeepsOldRowsWhenFewerThanKMinusOneArrive) {
  // K = 4, T = 2: the new state is [state row 2, x row 0, x row 1].
  const HostTensor x = f32({2, 2}, {1, 2, 3, 4});
  const HostTensor state = f32({3, 2}, {10, 20, 30, 40, 50, 60});
  const HostTensor w = f32({2, 4}, {1, 1, 1, 1, 1, 1, 1, 1});
  ReferenceRun run = run_reference(conv_graph(2, 4, false), {{"seq", 2}}, {{"x", x}, {"w", w}, {"state", state}}, {});
  expect_values(run.outputs[1], {50, 60, 1, 2, 3, 4}, 0);
  // y row 0 = state rows 0..2 + x row 0; y row 1 = state rows 1..2 + x rows 0..1.
  expect_values(run.outputs[0], {10 + 30 + 50 + 1, 20 + 40 + 60 + 2, 30 + 50 + 1 + 3, 40 + 60 + 2 + 4}, 0);
}

TEST(ReferenceConv1d, ChunkEqualsChainedSingleRows) {
  std::mt19937_64 rng(52);
  const int t_len = 6, c = 4, k = 3;
  const Graph g = conv_graph(c, k, true);
  const HostTensor x = HostTensor::random(DType::F32, {t_len, c}, rng, -2, 2);
  const HostTensor w = HostTensor::random(DType::F32, {c, k}, rng, -1, 1);
  HostTensor state = HostTensor::random(DType::F32, {k - 1, c}, rng, -2, 2);
  ReferenceRun chunk = run_reference(g, {{"seq", t_len}}, {{"x", x}, {"w", w}, {"state", state}}, {});
  const std::vector<double> xs = all_values(x);
  for (int t = 0; t < t_len; ++t) {
    const std::vector<double> row(xs.begin() + t * c, xs.begin() + (t + 1) * c);
    ReferenceRun step = run_reference(g, {{"seq", 1}}, {{"x", f32({1, c}, row)}, {"w", w}, {"state", state}}, {});
    for (int ch = 0; ch < c; ++ch) EXPECT_EQ(step.outputs[0].get(ch), chunk.outputs[0].get(t * c + ch)) << t;
    state = step.outputs[1];
  }
  expect_values(state, all_values(chunk.outputs[1]), 0);
}

// ---- selection ------------------------------------------------------------------------------------

TEST(ReferenceSelection, TiesGoToTheLowestIndex) {
  Builder b("sel");
  ValueId x = b.input("x", {DType::F32, dims({3, 5})});
  b.output(b.argmax(x));
  auto [values, indices] = b.top_k(x, 4);
  b.output(values);
  b.output(indices);
  ReferenceRun run = run_reference(b.finish(), {},
                                   {{"x", f32({3, 5}, {7, 7, 7, 7, 7, 2, 9, 2, 9, 2, -kInf, -3, kInf, -3, kInf})}}, {});
  expect_values(run.outputs[0], {0, 1, 2}, 0);
  expect_values(run.outputs[1], {7, 7, 7, 7, 9, 9, 2, 2, kInf, kInf, -3, -3}, 0);
  expect_values(run.outputs[2], {0, 1, 2, 3, 1, 3, 0, 2, 2, 4, 1, 3}, 0);
}

TEST(ReferenceSelection, NanRanksBelowEveryNumber) {
  Builder b("sel");
  ValueId x = b.input("x", {DType::F32, dims({1, 4})});
  b.output(b.argmax(x));
  b.output(b.top_k(x, 4).second);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ReferenceRun run = run_reference(b.finish(), {}, {{"x", f32({1, 4}, {nan, 1, -kInf, nan})}}, {});
  expect_values(run.outputs[0], {1}, 0);
  expect_values(run.outputs[1], {1, 2, 0, 3}, 0);
}

// ---- symbols and errors ---------------------------------------------------------------------------

Graph symbolic_graph() {
  Builder b("sym");
  ValueId x = b.input("x", {DType::F32, {Dim::symbol("seq"), Dim::of(4)}});
  ValueId y = b.matmul(x, b.weight("w", {DType::F32, dims({2, 4})}));
  b.output(b.reshape(y, {Dim::of(2), Dim::symbol("seq")}));
  b.output(b.slice(x, 0, 1, 2));
  return b.finish();
}

TEST(ReferenceSymbols, AreBoundAtRunTime) {
  const Graph g = symbolic_graph();
  const WeightFn w = weights_from({{"w", f32({2, 4}, {1, 0, 0, 0, 0, 0, 0, 1})}});
  for (int seq : {3, 6}) {
    std::vector<double> xs;
    for (int i = 0; i < seq * 4; ++i) xs.push_back(i);
    ReferenceRun run = run_reference(g, {{"seq", seq}}, {{"x", f32({seq, 4}, xs)}}, w);
    EXPECT_EQ(run.outputs[0].shape, (std::vector<int64_t>{2, seq}));
    std::vector<double> want;  // rows [4i, 4i+3] of x, in order, reshaped
    for (int i = 0; i < seq; ++i) want.insert(want.end(), {4.0 * i, 4.0 * i + 3});
    expect_values(run.outputs[0], want, 0);
    expect_values(run.outputs[1], {4, 5, 6, 7, 8, 9, 10, 11}, 0);
  }
  // slice [1, 3) of a dim bound to 2 is out of range: only detectable at run time.
  try {
    run_reference(g, {{"seq", 2}}, {{"x", f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8})}}, w);
    FAIL() << "expected an error";
  } catch (const IrError& e) {
    EXPECT_NE(std::string(e.what()).find("slice"), std::string::npos) << e.what();
  }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const IrError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ReferenceErrors, NameTheMissingInput) {
  Builder b("g");
  b.output(b.embedding(b.weight("emb", {DType::F32, dims({4, 2})}), b.input("tokens", {DType::I32, dims({3})})));
  const Graph g = b.finish();
  const std::string msg = error_of([&] { run_reference(g, {}, {}, weights_from({})); });
  EXPECT_NE(msg.find("%tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}

TEST(ReferenceErrors, NameTheUnboundSymbol) {
  const Graph g = symbolic_graph();
  const std::string msg = error_of([&] { run_reference(g, {}, {{"x", f32({1, 4}, {1, 2, 3, 4})}}, {}); });
  EXPECT_NE(msg.find("'seq'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("%x"), std::string::npos) << msg;

  // A symbol that appears only in an op's result type.
  Builder b("g");
  b.output(b.constant(1.0, {DType::F32, {Dim::symbol("n")}}));
  const std::string in_op = error_of([&] { run_reference(b.finish(), {}, {}, {}); });
  EXPECT_NE(in_op.find("'n'"), std::string::npos) << in_op;
  EXPECT_NE(in_op.find("'constant'"), std::string::npos) << in_op;
}

TEST(ReferenceErrors, NameTheMismatchedInput) {
  const Graph g = symbolic_graph();
  const WeightFn w = weights_from({{"w", f32({2, 4}, {1, 0, 0, 0, 0, 0, 0, 1})}});
  const std::string dtype = error_of([&] {
    run_reference(g, {{"seq", 1}}, {{"x", tensor(DType::F16, {1, 4}, {1, 2, 3, 4})}}, w);
  });
  EXPECT_NE(dtype.find("%x"), std::string::npos) << dtype;
  EXPECT_NE(dtype.find("f16[1, 4]"), std::string::npos) << dtype;
  const std::string shape = error_of([&] { run_reference(g, {{"seq", 2}}, {{"x", f32({1, 4}, {1, 2, 3, 4})}}, w); });
  EXPECT_NE(shape.find("%x"), std::string::npos) << shape;
  EXPECT_NE(shape.find("f32[2, 4]"), std::string::npos) << shape;
  const std::string unknown = error_of([&] {
    run_reference(g, {{"seq", 1}}, {{"x", f32({1, 4}, {1, 2, 3, 4})}, {"y", f32({1}, {0})}}, w);
  });
  EXPECT_NE(unknown.find("%y"), std::string::npos) << unknown;
  const std::string negative = error_of([&] {
    run_reference(g, {{"seq", -1}}, {{"x", f32({1, 4}, {1, 2, 3, 4})}}, w);
  });
  EXPECT_NE(negative.find("'seq'"), std::string::npos) << negative;
  HostTensor short_bytes = f32({1, 4}, {1, 2, 3, 4});
  short_bytes.bytes.resize(8);
  const std::string bytes = error_of([&] { run_reference(g, {{"seq", 1}}, {{"x", short_bytes}}, w); });
  EXPECT_NE(bytes.find("%x"), std::string::npos) << bytes;
}

TEST(ReferenceErrors, SelectionNeedsEnoughElements) {
  Builder b("sel");
  ValueId x = b.input("x", {DType::F32, {Dim::of(2), Dim::symbol("n")}});
  b.output(b.argmax(x));
  b.output(b.top_k(x, 3).first);
  const Graph g = b.finish();
  const std::string empty = error_of([&] { run_reference(g, {{"n", 0}}, {{"x", f32({2, 0}, {})}}, {}); });
  EXPECT_NE(empty.find("'argmax'"), std::string::npos) << empty;
  const std::string short_row = error_of([&] { run_reference(g, {{"n", 2}}, {{"x", f32({2, 2}, {1, 2, 3, 4})}}, {}); });
  EXPECT_NE(short_row.find("'top_k'"), std::string::npos) << short_row;
  ReferenceRun run = run_reference(g, {{"n", 3}}, {{"x", f32({2, 3}, {1, 3, 2, 6, 5, 4})}}, {});
  expect_values(run.outputs[0], {1, 0}, 0);
  expect_values(run.outputs[1], {3, 2, 1, 6, 5, 4}, 0);
}

TEST(ReferenceErrors, NameTheBadWeight) {
  const Graph g = symbolic_graph();
  const std::map<std::string, HostTensor> x{{"x", f32({1, 4}, {1, 2, 3, 4})}};
  for (const HostTensor& bad :
       {f32({4, 2}, std::vector<double>(8, 1.0)), tensor(DType::F16, {2, 4}, std::vector<double>(8, 1.0))}) {
    const std::string msg = error_of([&] { run_reference(g, {{"seq", 1}}, x, weights_from({{"w", bad}})); });
    EXPECT_NE(msg.find("\"w\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("f32[2, 4]"), std::string::npos) << msg;
  }
  const std::string none = error_of([&] { run_reference(g, {{"seq", 1}}, x, {}); });
  EXPECT_NE(none.find("\"w\""), std::string::npos) << none;
}

// ---- paged KV cache -------------------------------------------------------------------------------

// Positions 0..len-1 of a sequence whose blocks are `blocks`, copied out of a cache [N, B, H, D] into
// a contiguous f32 [len, H, D] by plain indexing.
HostTensor gather_sequence(const HostTensor& cache, const std::vector<int>& blocks, int len) {
  const int64_t block_size = cache.shape[1], row = cache.shape[2] * cache.shape[3];
  HostTensor out = HostTensor::zeros(DType::F32, {len, cache.shape[2], cache.shape[3]});
  for (int s = 0; s < len; ++s) {
    const int64_t cache_row = blocks[static_cast<size_t>(s / block_size)] * block_size + s % block_size;
    for (int64_t e = 0; e < row; ++e) out.set(s * row + e, cache.get(cache_row * row + e));
  }
  return out;
}

// Cache block ids 0..n-1 in a fixed shuffled order (so a sequence's blocks are not neighbours).
std::vector<int> shuffled_blocks(int n, std::mt19937_64& rng) {
  std::vector<int> ids(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = i;
  std::shuffle(ids.begin(), ids.end(), rng);
  return ids;
}

TEST(ReferencePagedAttention, EqualsAttentionOverTheGatheredSequence) {
  std::mt19937_64 rng(61);
  const int blocks = 10, block_size = 3, width = 3, sequences = 3, hq = 4, hkv = 2, d = 8, dv = 6;
  const HostTensor k_cache = HostTensor::random(DType::F16, {blocks, block_size, hkv, d}, rng, -2, 2);
  const HostTensor v_cache = HostTensor::random(DType::F16, {blocks, block_size, hkv, dv}, rng, -2, 2);
  const std::vector<int> ids = shuffled_blocks(blocks, rng);
  std::vector<double> table;
  for (int i = 0; i < sequences * width; ++i) table.push_back(ids[static_cast<size_t>(i)]);
  const std::vector<double> row_seq{0, 1, 2, 0, 1}, positions{8, 0, 4, 3, 7};
  const int rows = static_cast<int>(positions.size());
  const HostTensor q = HostTensor::random(DType::F32, {rows, hq, d}, rng, -2, 2);

  struct Variant {
    double scale;
    int64_t window;
    double softcap;
  };
  for (const Variant& variant : {Variant{0.35, 0, 0}, Variant{0.35, 3, 0}, Variant{2.0, 0, 1.5}}) {
    SCOPED_TRACE(testing::Message() << "window " << variant.window << " softcap " << variant.softcap);
    Builder b("paged");
    ValueId qv = b.input("q", {DType::F32, dims({rows, hq, d})});
    ValueId kv = b.input("k", {DType::F16, dims({blocks, block_size, hkv, d})});
    ValueId vv = b.input("v", {DType::F16, dims({blocks, block_size, hkv, dv})});
    ValueId tv = b.input("table", {DType::I32, dims({sequences, width})});
    ValueId sv = b.input("row_seq", {DType::I32, dims({rows})});
    ValueId pv = b.input("pos", {DType::I32, dims({rows})});
    b.output(b.paged_attention(qv, kv, vv, tv, sv, pv, variant.scale, variant.window, variant.softcap));
    const HostTensor paged = run_one(b.finish(), {{"q", q},
                                                  {"k", k_cache},
                                                  {"v", v_cache},
                                                  {"table", i32({sequences, width}, table)},
                                                  {"row_seq", i32({rows}, row_seq)},
                                                  {"pos", i32({rows}, positions)}});

    // Each row through `attention` over its sequence's keys, gathered into contiguous tensors.
    const int len = width * block_size;
    Builder a("contiguous");
    ValueId q1 = a.input("q", {DType::F32, dims({1, hq, d})});
    ValueId k1 = a.input("k", {DType::F32, dims({len, hkv, d})});
    ValueId v1 = a.input("v", {DType::F32, dims({len, hkv, dv})});
    ValueId p1 = a.input("pos", {DType::I32, dims({1})});
    a.output(a.attention(q1, k1, v1, p1, variant.scale, variant.window, variant.softcap));
    const Graph contiguous = a.finish();
    const int row_elems = hq * dv;
    for (int t = 0; t < rows; ++t) {
      const auto seq = static_cast<size_t>(row_seq[static_cast<size_t>(t)]);
      const std::vector<int> seq_blocks(ids.begin() + static_cast<std::ptrdiff_t>(seq * width),
                                        ids.begin() + static_cast<std::ptrdiff_t>((seq + 1) * width));
      std::vector<double> q_row;
      for (int i = 0; i < hq * d; ++i) q_row.push_back(q.get(t * hq * d + i));
      const HostTensor want = run_one(contiguous, {{"q", f32({1, hq, d}, q_row)},
                                                   {"k", gather_sequence(k_cache, seq_blocks, len)},
                                                   {"v", gather_sequence(v_cache, seq_blocks, len)},
                                                   {"pos", i32({1}, {positions[static_cast<size_t>(t)]})}});
      std::vector<double> got;
      for (int i = 0; i < row_elems; ++i) got.push_back(paged.get(t * row_elems + i));
      expect_values(want, got, 1e-12, "row " + std::to_string(t));
    }
  }
}

// @write: kv_write into state "k" (through a [6, 1, 2, 2] view of its [3, 2, 2, 2] when `view`);
// @read: returns state "k".
Module state_module() {
  const Type cache{DType::F16, dims({3, 2, 2, 2})};
  Builder w("write");
  ValueId x = w.input("x", {DType::F32, {Dim::symbol("seq"), Dim::of(2), Dim::of(2)}});
  ValueId slots = w.input("slots", {DType::I32, {Dim::symbol("seq")}});
  w.output(w.kv_write(w.state("k", cache), x, slots));
  Builder v("write_view");
  ValueId vx = v.input("x", {DType::F32, dims({1, 2, 2})});
  ValueId view = v.reshape(v.state("k", cache), dims({6, 1, 2, 2}));
  v.kv_write(view, vx, v.input("slots", {DType::I32, dims({1})}));  // no output uses it: side effect only
  Builder r("read");
  r.output(r.state("k", cache));
  return Module{{w.finish(), v.finish(), r.finish()}};
}

// `cache` with flat row slots[t] (4 elements each) replaced by row t of x.
HostTensor with_rows(HostTensor cache, const HostTensor& x, const std::vector<int>& slots) {
  for (size_t t = 0; t < slots.size(); ++t)
    if (slots[t] >= 0)
      for (int e = 0; e < 4; ++e) cache.set(slots[t] * 4 + e, x.get(static_cast<int64_t>(t) * 4 + e));
  return cache;
}

TEST(ReferenceKvWrite, StateSurvivesRunsAndIsSharedByTheModulesGraphs) {
  std::mt19937_64 rng(62);
  const Module m = state_module();
  const Graph &write = m.graphs[0], &write_view = m.graphs[1], &read = m.graphs[2];
  const HostTensor initial = HostTensor::random(DType::F16, {3, 2, 2, 2}, rng, -4, 4);
  StateMap states{{"k", initial}};

  const HostTensor x1 = HostTensor::random(DType::F32, {2, 2, 2}, rng, -4, 4);
  ReferenceRun first = run_reference(write, {{"seq", 2}}, {{"x", x1}, {"slots", i32({2}, {5, 0})}}, {}, &states);
  const HostTensor after_first = with_rows(initial, x1, {5, 0});
  EXPECT_EQ(first.outputs[0].bytes, after_first.bytes);
  EXPECT_EQ(states.at("k").bytes, after_first.bytes);

  const HostTensor x2 = HostTensor::random(DType::F32, {2, 2, 2}, rng, -4, 4);
  run_reference(write, {{"seq", 2}}, {{"x", x2}, {"slots", i32({2}, {1, -1})}}, {}, &states);
  const HostTensor after_second = with_rows(after_first, x2, {1, -1});
  EXPECT_EQ(states.at("k").bytes, after_second.bytes);

  // Through the view: flat row 2 of [6, 1] is flat row 2 of [3, 2]; the state keeps its shape.
  const HostTensor x3 = HostTensor::random(DType::F32, {1, 2, 2}, rng, -4, 4);
  run_reference(write_view, {}, {{"x", x3}, {"slots", i32({1}, {2})}}, {}, &states);
  const HostTensor after_view = with_rows(after_second, x3, {2});
  EXPECT_EQ(states.at("k").shape, initial.shape);
  EXPECT_EQ(states.at("k").bytes, after_view.bytes);

  // Another graph of the module reads what the writes left.
  EXPECT_EQ(run_reference(read, {}, {}, {}, &states).outputs[0].bytes, after_view.bytes);
  EXPECT_NE(after_view.bytes, initial.bytes);
}

TEST(ReferencePagedAttention, ChunkedPrefillThroughTheCacheEqualsOneShotAttention) {
  std::mt19937_64 rng(63);
  const int len = 11, hq = 4, hkv = 2, d = 8, blocks = 6, block_size = 3, width = 4;
  const std::vector<double> table{4, 0, 5, 2};  // positions 0..11 in blocks 4, 0, 5, 2
  const HostTensor q = HostTensor::random(DType::F32, {len, hq, d}, rng, -2, 2);
  const HostTensor k = HostTensor::random(DType::F32, {len, hkv, d}, rng, -2, 2);
  const HostTensor v = HostTensor::random(DType::F32, {len, hkv, d}, rng, -2, 2);
  const Dim seq = Dim::symbol("seq");

  for (int64_t window : {0, 5}) {
    SCOPED_TRACE(testing::Message() << "window " << window);
    const double softcap = window ? 3.0 : 0.0;
    Builder one("one_shot");
    ValueId qa = one.input("q", {DType::F32, dims({len, hq, d})});
    ValueId ka = one.input("k", {DType::F32, dims({len, hkv, d})});
    ValueId va = one.input("v", {DType::F32, dims({len, hkv, d})});
    ValueId pa = one.input("pos", {DType::I32, dims({len})});
    one.output(one.attention(qa, ka, va, pa, 0.3, window, softcap));
    std::vector<double> all_positions;
    for (int p = 0; p < len; ++p) all_positions.push_back(p);
    const HostTensor want = run_one(one.finish(), {{"q", q}, {"k", k}, {"v", v}, {"pos", i32({len}, all_positions)}});

    Builder step("chunk");
    const Type cache{DType::F32, dims({blocks, block_size, hkv, d})};
    ValueId qs = step.input("q", {DType::F32, {seq, Dim::of(hq), Dim::of(d)}});
    ValueId ks = step.input("k", {DType::F32, {seq, Dim::of(hkv), Dim::of(d)}});
    ValueId vs = step.input("v", {DType::F32, {seq, Dim::of(hkv), Dim::of(d)}});
    ValueId slots = step.input("slots", {DType::I32, {seq}});
    ValueId block_table = step.input("table", {DType::I32, dims({1, width})});
    ValueId row_seq = step.input("row_seq", {DType::I32, {seq}});
    ValueId pos = step.input("pos", {DType::I32, {seq}});
    ValueId k_cache = step.kv_write(step.state("k_cache", cache), ks, slots);
    ValueId v_cache = step.kv_write(step.state("v_cache", cache), vs, slots);
    step.output(step.paged_attention(qs, k_cache, v_cache, block_table, row_seq, pos, 0.3, window, softcap));
    const Graph chunk_graph = step.finish();

    // Caches start with garbage: only what the chunks write may be read.
    StateMap states{{"k_cache", HostTensor::random(DType::F32, {blocks, block_size, hkv, d}, rng, -9, 9)},
                    {"v_cache", HostTensor::random(DType::F32, {blocks, block_size, hkv, d}, rng, -9, 9)}};
    std::vector<double> got;
    int start = 0;
    for (int rows : {4, 1, 6}) {
      auto slice_rows = [&](const HostTensor& t, int heads) {
        std::vector<double> part;
        for (int i = start * heads * d; i < (start + rows) * heads * d; ++i) part.push_back(t.get(i));
        return f32({rows, heads, d}, part);
      };
      std::vector<double> chunk_slots, chunk_pos;
      for (int p = start; p < start + rows; ++p) {
        chunk_pos.push_back(p);
        chunk_slots.push_back(table[static_cast<size_t>(p / block_size)] * block_size + p % block_size);
      }
      ReferenceRun run = run_reference(chunk_graph, {{"seq", rows}},
                                       {{"q", slice_rows(q, hq)},
                                        {"k", slice_rows(k, hkv)},
                                        {"v", slice_rows(v, hkv)},
                                        {"slots", i32({rows}, chunk_slots)},
                                        {"table", i32({1, width}, table)},
                                        {"row_seq", i32({rows}, std::vector<double>(static_cast<size_t>(rows), 0))},
                                        {"pos", i32({rows}, chunk_pos)}},
                                       {}, &states);
      const std::vector<double> out = all_values(run.outputs[0]);
      got.insert(got.end(), out.begin(), out.end());
      start += rows;
    }
    ASSERT_EQ(start, len);
    expect_values(want, got, 1e-12);
  }
}

TEST(ReferenceStateErrors, NameTheStateAndWhatIsWrong) {
  Builder b("g");
  b.output(b.state("layers.0.k", {DType::F16, dims({2, 4, 1, 8})}));
  const Graph g = b.finish();
  const std::string no_map = error_of([&] { run_reference(g, {}, {}, {}); });
  EXPECT_NE(no_map.find("state \"layers.0.k\" (f16[2, 4, 1, 8])"), std::string::npos) << no_map;
  EXPECT_NE(no_map.find("no StateMap was given"), std::string::npos) << no_map;
  StateMap empty;
  const std::string missing = error_of([&] { run_reference(g, {}, {}, {}, &empty); });
  EXPECT_NE(missing.find("state \"layers.0.k\" (f16[2, 4, 1, 8]) is missing from the StateMap"), std::string::npos)
      << missing;
  StateMap wrong{{"layers.0.k", HostTensor::zeros(DType::F32, {2, 4, 1, 8})}};
  const std::string mismatch = error_of([&] { run_reference(g, {}, {}, {}, &wrong); });
  EXPECT_NE(mismatch.find("the StateMap holds f32[2, 4, 1, 8] (256 bytes) but the graph declares f16[2, 4, 1, 8]"),
            std::string::npos)
      << mismatch;
}

TEST(ReferenceKvWrite, SlotsPastTheCacheOrWrittenTwiceAreErrors) {
  Builder b("g");
  ValueId cache = b.input("cache", {DType::F32, dims({3, 4, 1, 2})});
  ValueId x = b.input("x", {DType::F32, dims({3, 1, 2})});
  b.output(b.kv_write(cache, x, b.input("slots", {DType::I32, dims({3})})));
  const Graph g = b.finish();
  auto run_with = [&](const std::vector<double>& slots) {
    return error_of([&] {
      run_reference(g, {},
                    {{"cache", f32({3, 4, 1, 2}, std::vector<double>(24, 1.0))},
                     {"x", f32({3, 1, 2}, {1, 2, 3, 4, 5, 6})},
                     {"slots", i32({3}, slots)}},
                    {});
    });
  };
  const std::string past = run_with({0, 12, 1});
  EXPECT_NE(past.find("'kv_write'"), std::string::npos) << past;
  EXPECT_NE(past.find("slots[1] = 12 is past the 12 rows (N·B) of the cache f32[3, 4, 1, 2]"), std::string::npos)
      << past;
  const std::string twice = run_with({4, -1, 4});
  EXPECT_NE(twice.find("slots[0] and slots[2] both name cache row 4"), std::string::npos) << twice;
  EXPECT_EQ(run_with({11, -5, 0}), "no error");
}

TEST(ReferencePagedAttention, LookupsOutsideTheTableOrCacheAreErrors) {
  Builder b("g");
  ValueId q = b.input("q", {DType::F32, dims({1, 1, 2})});
  ValueId k = b.input("k", {DType::F32, dims({4, 2, 1, 2})});
  ValueId table = b.input("table", {DType::I32, dims({2, 2})});
  ValueId row_seq = b.input("row_seq", {DType::I32, dims({1})});
  ValueId pos = b.input("pos", {DType::I32, dims({1})});
  b.output(b.paged_attention(q, k, k, table, row_seq, pos, 1.0, 2));
  const Graph g = b.finish();
  auto run_with = [&](const std::vector<double>& table_ids, double seq, double p) {
    return error_of([&] {
      run_reference(g, {},
                    {{"q", f32({1, 1, 2}, {1, 2})},
                     {"k", f32({4, 2, 1, 2}, std::vector<double>(16, 0.5))},
                     {"table", i32({2, 2}, table_ids)},
                     {"row_seq", i32({1}, {seq})},
                     {"pos", i32({1}, {p})}},
                    {});
    });
  };
  const std::string bad_seq = run_with({0, 1, 2, 3}, 2, 1);
  EXPECT_NE(bad_seq.find("'paged_attention'"), std::string::npos) << bad_seq;
  EXPECT_NE(bad_seq.find("row 0 (position 1): row_seq = 2 is not a sequence of the block table (0 <= row_seq < 2)"),
            std::string::npos)
      << bad_seq;
  const std::string bad_block = run_with({0, 1, 2, 9}, 1, 3);
  EXPECT_NE(bad_block.find("row 0 (sequence 1, position 3): block_table[1, 1] = 9 is not a cache block (0 <= id < 4)"),
            std::string::npos)
      << bad_block;
  const std::string past_table = run_with({0, 1, 2, 3}, 0, 4);
  EXPECT_NE(past_table.find("row 0 (sequence 0, position 4) needs block 2 of its sequence but the block table holds 2"),
            std::string::npos)
      << past_table;
  // Only visible keys are looked up: with window 2, position 3 reads block 1 only (block 0 freed),
  // and a padding row (position -1) reads nothing, not even row_seq.
  EXPECT_EQ(run_with({-1, 2, 0, 1}, 0, 3), "no error");
  EXPECT_EQ(run_with({-1, -1, -1, -1}, -7, -1), "no error");
}

}  // namespace
}  // namespace vkllm::ir
