// Round trips of the text form: graphs built with ir::Builder using every op kind and every kind
// of attribute parse back to the same graph (compared field by field with what was built), and
// printing is canonical (print(parse(print(g))) == print(g)).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>

#include "ir/text.h"

namespace vkllm::ir {
namespace {

Dim sym(const char* s) { return Dim::symbol(s); }
Dim c(int64_t v) { return Dim::of(v); }
Type t(DType d, Shape s) { return Type{d, std::move(s)}; }

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// Bitwise for floats, so that -0.0 differs from 0.0 and NaN equals NaN.
bool same_attr(const AttrValue& a, const AttrValue& b) {
  if (a.index() != b.index()) return false;
  if (auto* x = std::get_if<double>(&a)) {
    double y = std::get<double>(b);
    return (std::isnan(*x) && std::isnan(y)) || std::memcmp(x, &y, sizeof y) == 0;
  }
  return a == b;
}

// Field-by-field equality, by value names (ValueIds may be renumbered by a round trip).
void expect_same_graph(const Graph& want, const Graph& got) {
  SCOPED_TRACE("graph @" + want.name);
  EXPECT_EQ(want.name, got.name);
  auto names = [](const Graph& g, const std::vector<ValueId>& ids) {
    std::vector<std::string> out;
    for (ValueId v : ids) out.push_back(g.value(v).name);
    return out;
  };
  auto types = [](const Graph& g, const std::vector<ValueId>& ids) {
    std::vector<Type> out;
    for (ValueId v : ids) out.push_back(g.type(v));
    return out;
  };
  EXPECT_EQ(names(want, want.inputs), names(got, got.inputs));
  EXPECT_EQ(types(want, want.inputs), types(got, got.inputs));
  ASSERT_EQ(want.ops.size(), got.ops.size());
  for (size_t i = 0; i < want.ops.size(); ++i) {
    const Op &a = want.ops[i], &b = got.ops[i];
    SCOPED_TRACE(fmt::format("op #{} '{}'", i, name(a.kind)));
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(names(want, a.inputs), names(got, b.inputs));
    EXPECT_EQ(names(want, a.results), names(got, b.results));
    EXPECT_EQ(types(want, a.results), types(got, b.results));
    ASSERT_EQ(a.attrs.size(), b.attrs.size());
    for (const auto& [key, value] : a.attrs) {
      ASSERT_TRUE(b.has(key)) << key;
      EXPECT_TRUE(same_attr(value, b.attrs.at(key))) << key << " = " << print(want);
    }
    for (ValueId r : b.results) EXPECT_EQ(got.value(r).producer, static_cast<int>(i));
  }
  EXPECT_EQ(names(want, want.outputs), names(got, got.outputs));
}

void expect_round_trip(const Module& m) {
  const std::string text = print(m);
  Module parsed = parse_module(text, "roundtrip");
  ASSERT_EQ(parsed.graphs.size(), m.graphs.size());
  for (size_t i = 0; i < m.graphs.size(); ++i) expect_same_graph(m.graphs[i], parsed.graphs[i]);
  EXPECT_EQ(print(parsed), text);
}

// One graph using every op, with symbolic and constant dims.
Graph every_op_graph() {
  Builder b("every_op");
  ValueId ids = b.input("ids", t(DType::I32, {sym("seq")}));
  ValueId pos = b.input("pos", t(DType::I32, {sym("seq")}));
  ValueId x = b.input("x", t(DType::F32, {sym("seq"), c(64)}));
  ValueId kv = b.input("kv.cache", t(DType::F16, {sym("ctx"), c(2), c(16)}));

  ValueId table = b.weight("model.embed_tokens.weight", t(DType::Q8_0, {c(1000), c(64)}));
  ValueId e = b.embedding(table, ids);
  ValueId w = b.weight("proj", t(DType::Q4_0, {c(32), c(64)}));
  ValueId m = b.matmul(x, w);
  ValueId bias = b.constant(0.5, t(DType::F32, {c(32)}));
  ValueId a = b.add(m, bias);
  ValueId mu = b.mul(a, b.constant(-1.0, t(DType::BF16, {c(32)})));
  ValueId sc = b.scale(mu, 1.0 / 3);
  ValueId si = b.silu(sc);
  ValueId ge = b.gelu(si, true);
  ValueId sg = b.sigmoid(b.exp(b.softplus(ge)));
  ValueId cap = b.softcap(sg, 30.0);
  ValueId sw = b.swiglu(cap, a);
  ValueId gg = b.geglu(sw, a, false);
  ValueId h = b.cast(gg, DType::F16);
  ValueId nw = b.weight("norm", t(DType::F32, {c(64)}));
  ValueId rn = b.rms_norm(e, nw, 1e-06, 1.0);
  ValueId ln = b.layer_norm(x, nw, nw, 1e-05);
  ValueId sm = b.softmax(ln);
  ValueId q = b.reshape(sm, {sym("seq"), c(4), c(16)});
  ValueId qr = b.rope(q, pos,
                      {{"theta", 500000.0},
                       {"rotary_dims", int64_t{8}},
                       {"layout", std::string("interleaved")},
                       {"scaling", std::string("llama3")},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position", int64_t{8192}}});
  ValueId att = b.attention(qr, kv, kv, pos, 0.25, 4096, 50.0);
  ValueId k_cache = b.state("layers.0.k_cache", t(DType::BF16, {c(16), c(32), c(2), c(16)}));
  ValueId k_rows = b.reshape(sm, {sym("seq"), c(2), c(32)});
  ValueId k_written = b.kv_write(k_cache, b.slice(k_rows, 2, 0, 16), ids);
  ValueId block_table = b.input("block_table", t(DType::I32, {sym("batch"), c(8)}));
  ValueId paged = b.paged_attention(qr, k_written, k_written, block_table, ids, pos, 0.125, 0, 30.0);
  ValueId split = b.attention_combine(
      b.paged_attention_partial(qr, k_written, k_written, block_table, ids, pos, 0.125, 64, 0.0, 8, 32));
  auto [k_fused, v_fused] = b.kv_write_rope(
      b.state("layers.2.k_cache", t(DType::BF16, {c(16), c(32), c(2), c(16)})),
      b.state("layers.2.v_cache", t(DType::BF16, {c(16), c(32), c(2), c(16)})), b.slice(k_rows, 2, 0, 16),
      b.slice(k_rows, 2, 16, 16), ids, pos, {{"theta", 10000.0}, {"rotary_dims", int64_t{8}}});
  const ValueId fused_attention =
      b.emit(OpKind::PagedAttentionSplit,
             {qr, k_fused, v_fused, block_table, ids, pos, b.state("split_counters", t(DType::I32, {c(4), c(4)}))},
             {{"scale", 0.125}, {"splits", int64_t{8}}, {"granule", int64_t{32}}, {"theta", 10000.0}})[0];
  ValueId cw = b.weight("conv.w", t(DType::F32, {c(64), c(4)}));
  ValueId cs = b.input("conv.state", t(DType::F32, {c(3), c(64)}));
  auto [cy, cst] = b.conv1d(rn, cw, cs, true);
  ValueId src_slot = b.input("src_slot", t(DType::I32, {sym("seq")}));
  ValueId dst_slot = b.input("dst_slot", t(DType::I32, {sym("seq")}));
  ValueId conv_slots = b.state("layers.1.conv_state", t(DType::F32, {c(4), c(3), c(64)}));
  auto [pcy, pcst] = b.conv1d(rn, cw, conv_slots, src_slot, dst_slot, false);
  ValueId gdn_state = b.state("layers.1.gdn_state", t(DType::F32, {c(4), c(4), c(16), c(16)}));
  ValueId heads = b.reshape(pcy, {sym("seq"), c(4), c(16)});
  ValueId gates = b.slice(b.reshape(cy, {sym("seq"), c(16), c(4)}), 2, 0, 1);
  ValueId gate = b.reshape(gates, {sym("seq"), c(4), c(4)});
  ValueId g4 = b.slice(gate, 2, 0, 1), b4 = b.slice(gate, 2, 1, 1);
  auto [gdn_o, gdn_st] = b.gated_delta_net(heads, heads, heads, b.reshape(g4, {sym("seq"), c(4)}),
                                           b.reshape(b4, {sym("seq"), c(4)}), gdn_state, src_slot, dst_slot,
                                           0.25, true, 1e-06);
  ValueId am = b.argmax(cy);
  auto [tv, ti] = b.top_k(cy, 5);
  auto [st, ss] = b.sample(cy, b.input("sample.params", t(DType::F32, {sym("seq"), c(8)})),
                           b.input("sample.rng", t(DType::I32, {sym("seq"), c(2)})),
                           b.input("sample.history", t(DType::I32, {sym("seq"), c(64)})));
  const ValueId split_params = b.input("split.params", t(DType::F32, {sym("seq"), c(8)}));
  const ValueId split_rng = b.input("split.rng", t(DType::I32, {sym("seq"), c(2)}));
  const ValueId split_history = b.input("split.history", t(DType::I32, {sym("seq"), c(4)}));
  const ValueId sp = b.emit(OpKind::SamplePartial, {cy, split_params, split_history},
                            {{"splits", int64_t{4}}, {"candidates", int64_t{8}}})[0];
  const std::vector<ValueId> sf = b.emit(OpKind::SampleFinish, {cy, split_params, split_rng, split_history, sp});
  ValueId sl = b.slice(b.reshape(att, {sym("seq"), c(64)}), 1, 8, 16);
  b.set_name(sl, "sliced");
  ValueId fused = b.emit(OpKind::FusedMatMul, {x, w, b.weight("norm", t(DType::BF16, {c(64)})), m},
                         {{"prologue", std::string("rms_norm")}, {"epilogue", std::string("add")}, {"eps", 1e-6}})[0];
  // q/k/v-like projections of one x (the norm folded in) and a gate/up pair with its activation.
  const std::vector<ValueId> projections =
      b.emit(OpKind::MultiMatMul,
             {x, w, b.weight("multi.w1", t(DType::Q4_0, {c(8), c(64)})), b.weight("norm", t(DType::BF16, {c(64)}))},
             {{"prologue", std::string("rms_norm")}, {"eps", 1e-6}, {"offset", 1.0}});
  const ValueId glu =
      b.emit(OpKind::MultiMatMul, {x, w, w}, {{"combine", std::string("geglu")}, {"approximate", std::string("tanh")}})[0];
  // A Gated DeltaNet layer in one op (passes/fuse_gdn_decode.cpp): Hk = 1, Dk = 16, Hv = 2, Dv = 16.
  const std::vector<ValueId> gdn_layer = b.emit(
      OpKind::FusedGatedDeltaNet,
      {b.input("fgdn.qkv", t(DType::F32, {sym("seq"), c(64)})),
       b.input("fgdn.z", t(DType::F32, {sym("seq"), c(2), c(16)})),
       b.input("fgdn.a", t(DType::F32, {sym("seq"), c(2)})), b.input("fgdn.b", t(DType::F32, {sym("seq"), c(2)})),
       b.weight("fgdn.conv_w", t(DType::BF16, {c(64), c(4)})),
       b.state("layers.3.conv_state", t(DType::F32, {c(4), c(3), c(64)})),
       b.weight("fgdn.A_log", t(DType::F32, {c(2)})),
       b.weight("fgdn.dt_bias", t(DType::BF16, {c(2)})), b.weight("fgdn.norm", t(DType::BF16, {c(16)})),
       b.state("layers.3.gdn_state", t(DType::F32, {c(4), c(2), c(16), c(16)})), src_slot, dst_slot},
      {{"scale", 0.25}, {"qk_l2norm", true}, {"l2norm_eps", 1e-06}, {"eps", 1e-06}, {"offset", 1.0}});
  for (ValueId v : {h, cst, am, tv, ti, st, ss, sl, paged, split, pcst, gdn_o, gdn_st, fused, sf[0], sf[1],
                    fused_attention, gdn_layer[0], gdn_layer[1], gdn_layer[2], projections[0], projections[1], glu})
    b.output(v);
  return b.finish();
}

// A graph whose ops carry attributes of every kind and awkward values.
Graph awkward_attributes_graph() {
  Builder b("awkward.attrs_1");
  Attrs attrs = {
      {"name", std::string("w \"quoted\" back\\slash\nnew line\ttab \x01 \x7f \xc2\x85 "
                           "\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80 bad \xff\xfe \xc3 end")},
      {"empty", std::string()},
      {"f_tiny", 1e-06},
      {"f_tenth", 0.1},
      {"f_third", 1.0 / 3},
      {"f_one", 1.0},
      {"f_neg_zero", -0.0},
      {"f_big", 1e300},
      {"f_max", std::numeric_limits<double>::max()},
      {"f_denorm", std::numeric_limits<double>::denorm_min()},
      {"f_long", 123456789012345680000.0},
      {"f_inf", kInf},
      {"f_neg_inf", -kInf},
      {"f_nan", std::numeric_limits<double>::quiet_NaN()},
      {"i_min", kMin},
      {"i_max", kMax},
      {"i_near_min", kMin + 1},
      {"i_near_max", kMax - 1},
      {"i_zero", int64_t{0}},
      {"b_true", true},
      {"b_false", false},
      {"list", std::vector<int64_t>{kMin, -1, 0, 1, kMax}},
      {"list_empty", std::vector<int64_t>{}},
  };
  ValueId w = b.emit(OpKind::Weight, {}, attrs, {t(DType::BF16, {c(0), sym("_Sym_9")})})[0];
  b.output(w);
  // Floats where an int would also type-check: the round trip must keep them floats.
  ValueId k = b.constant(2.0, t(DType::F32, {}));
  b.output(b.scale(k, 4.0));
  b.output(b.emit(OpKind::Scale, {k}, {{"factor", int64_t{4}}})[0]);
  return b.finish();
}

TEST(TextRoundTrip, EveryOpKindIsCovered) {
  Graph g = every_op_graph();
  std::set<OpKind> used;
  for (const Op& op : g.ops) used.insert(op.kind);
  for (int k = 0; k < kNumOps; ++k)
    EXPECT_TRUE(used.count(static_cast<OpKind>(k)))
        << "op '" << name(static_cast<OpKind>(k)) << "' is not in every_op_graph(); add it";
}

TEST(TextRoundTrip, EveryOp) { expect_round_trip(Module{{every_op_graph()}}); }

TEST(TextRoundTrip, AwkwardAttributes) { expect_round_trip(Module{{awkward_attributes_graph()}}); }

TEST(TextRoundTrip, ModuleOfSeveralGraphs) {
  Builder empty("empty");
  expect_round_trip(Module{{every_op_graph(), empty.finish(), awkward_attributes_graph()}});
}

TEST(TextRoundTrip, FloatsKeepTheirKindAndBits) {
  Graph g = awkward_attributes_graph();
  Module parsed = parse_module(print(g));
  const Op& scale_float = parsed.graphs[0].ops[2];
  const Op& scale_int = parsed.graphs[0].ops[3];
  EXPECT_TRUE(std::holds_alternative<double>(scale_float.attrs.at("factor")));
  EXPECT_TRUE(std::holds_alternative<int64_t>(scale_int.attrs.at("factor")));
  double neg_zero = std::get<double>(parsed.graphs[0].ops[0].attrs.at("f_neg_zero"));
  EXPECT_TRUE(neg_zero == 0.0 && std::signbit(neg_zero));
}

TEST(TextRoundTrip, RandomFloatsAndStrings) {
  std::mt19937_64 rng(20240611);
  for (int round = 0; round < 200; ++round) {
    Attrs attrs{{"name", std::string("w")}};
    for (int i = 0; i < 8; ++i) {
      uint64_t bits = rng();
      double d;
      std::memcpy(&d, &bits, sizeof d);  // any bit pattern, including NaNs, denormals and infinities
      attrs[fmt::format("f{}", i)] = d;
      std::string s;
      for (size_t n = rng() % 12; n > 0; --n) s += static_cast<char>(rng());  // any bytes
      attrs[fmt::format("s{}", i)] = s;
      attrs[fmt::format("i{}", i)] = static_cast<int64_t>(rng());
    }
    Builder b("random");
    b.output(b.emit(OpKind::Weight, {}, attrs, {t(DType::F32, {c(1)})})[0]);
    expect_round_trip(Module{{b.finish()}});
    if (HasFailure()) break;
  }
}

}  // namespace
}  // namespace vkllm::ir
