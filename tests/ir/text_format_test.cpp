// The text form against hand-written expectations: exact printed text for built graphs, and
// exact values for parsed hand-written text (ir/README.md, "Text form").
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ir/text.h"

namespace vkllm::ir {
namespace {

Type f32(Shape s) { return Type{DType::F32, std::move(s)}; }
Dim sym(const char* s) { return Dim::symbol(s); }
Dim c(int64_t v) { return Dim::of(v); }

// A graph holding one `constant` op whose extra attribute `a` has the given value.
std::string print_attr(AttrValue v) {
  Builder b("g");
  auto r = b.emit(OpKind::Constant, {}, {{"value", 0.0}, {"a", std::move(v)}}, {f32({})});
  b.output(r[0]);
  std::string text = print(b.finish());
  const std::string prefix = "graph @g() {\n  %0 = constant {a = ";
  const std::string suffix = ", value = 0.0} : f32[]\n  return %0\n}\n";
  EXPECT_EQ(text.substr(0, prefix.size()), prefix) << text;
  EXPECT_GE(text.size(), prefix.size() + suffix.size()) << text;
  EXPECT_EQ(text.substr(text.size() - suffix.size()), suffix) << text;
  return text.substr(prefix.size(), text.size() - prefix.size() - suffix.size());
}

TEST(TextPrint, Graph) {
  Builder b("decode");
  ValueId tokens = b.input("tokens", Type{DType::I32, {sym("seq")}});
  ValueId embed = b.weight("model.embed_tokens.weight", Type{DType::BF16, {c(32000), c(64)}});
  b.set_name(embed, "embed");
  ValueId x = b.embedding(embed, tokens);
  b.set_name(x, "x");
  ValueId w = b.weight("conv.w", f32({c(64), c(4)}));
  ValueId s = b.weight("conv.s", f32({c(3), c(64)}));
  auto [y, state] = b.conv1d(x, w, s, true);
  ValueId n = b.rms_norm(y, b.weight("norm", f32({c(64)})), 1e-6, 1.0);
  b.output(x);
  b.output(n);
  b.output(state);
  EXPECT_EQ(print(b.finish()),
            "graph @decode(%tokens: i32[seq]) {\n"
            "  %embed = weight {name = \"model.embed_tokens.weight\"} : bf16[32000, 64]\n"
            "  %x = embedding(%embed, %tokens) : f32[seq, 64]\n"
            "  %2 = weight {name = \"conv.w\"} : f32[64, 4]\n"
            "  %3 = weight {name = \"conv.s\"} : f32[3, 64]\n"
            "  %4, %5 = conv1d(%x, %2, %3) {activation = \"silu\"} : f32[seq, 64], f32[3, 64]\n"
            "  %6 = weight {name = \"norm\"} : f32[64]\n"
            "  %7 = rms_norm(%4, %6) {eps = 1e-06, offset = 1.0} : f32[seq, 64]\n"
            "  return %x, %7, %5\n"
            "}\n");
}

TEST(TextPrint, OpWithoutAttributesHasNoBraces) {
  Builder b("g");
  ValueId x = b.input("x", f32({c(2), c(3)}));
  b.output(b.softmax(x));
  EXPECT_EQ(print(b.finish()), "graph @g(%x: f32[2, 3]) {\n  %0 = softmax(%x) : f32[2, 3]\n  return %0\n}\n");
}

TEST(TextPrint, GraphWithoutOutputsAndModuleOfTwoGraphs) {
  Module m;
  m.graphs.push_back(Builder("a").finish());
  Builder b("b");
  b.output(b.input("x", f32({})));
  m.graphs.push_back(b.finish());
  EXPECT_EQ(print(m), "graph @a() {\n  return\n}\n\ngraph @b(%x: f32[]) {\n  return %x\n}\n");
  EXPECT_EQ(print(Module{}), "");
}

TEST(TextPrint, FloatsAreShortestAndNeverLookLikeInts) {
  EXPECT_EQ(print_attr(1e-06), "1e-06");
  EXPECT_EQ(print_attr(0.1), "0.1");
  EXPECT_EQ(print_attr(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(print_attr(1.0), "1.0");
  EXPECT_EQ(print_attr(100.0), "100.0");
  EXPECT_EQ(print_attr(-2.5), "-2.5");
  EXPECT_EQ(print_attr(-0.0), "-0.0");
  EXPECT_EQ(print_attr(1e300), "1e+300");
  EXPECT_EQ(print_attr(1e16), "1e+16");
  EXPECT_EQ(print_attr(5e-324), "5e-324");
  EXPECT_EQ(print_attr(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(print_attr(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(print_attr(std::numeric_limits<double>::quiet_NaN()), "nan");
}

TEST(TextPrint, IntsBoolsLists) {
  EXPECT_EQ(print_attr(int64_t{0}), "0");
  EXPECT_EQ(print_attr(int64_t{-3}), "-3");
  EXPECT_EQ(print_attr(std::numeric_limits<int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(print_attr(std::numeric_limits<int64_t>::max()), "9223372036854775807");
  EXPECT_EQ(print_attr(true), "true");
  EXPECT_EQ(print_attr(false), "false");
  EXPECT_EQ(print_attr(std::vector<int64_t>{1, -2, 3}), "[1, -2, 3]");
  EXPECT_EQ(print_attr(std::vector<int64_t>{}), "[]");
}

TEST(TextPrint, StringEscapes) {
  EXPECT_EQ(print_attr(std::string("plain.name_0")), "\"plain.name_0\"");
  EXPECT_EQ(print_attr(std::string("q\"b\\n\nt\t")), R"("q\"b\\n\nt\t")");
  EXPECT_EQ(print_attr(std::string("\x01\x1f\x7f", 3)), R"("\u{0001}\u{001F}\u{007F}")");
  EXPECT_EQ(print_attr(std::string("\0", 1)), R"("\u{0000}")");
  // Valid UTF-8 stays as is; C1 controls are escaped; bytes that are not UTF-8 become \xHH.
  EXPECT_EQ(print_attr(std::string("\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80")),
            "\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"");
  EXPECT_EQ(print_attr(std::string("\xc2\x85")), R"("\u{0085}")");
  EXPECT_EQ(print_attr(std::string("\xff\xc3")), R"("\xFF\xC3")");
  EXPECT_EQ(print_attr(std::string("\xed\xa0\x80")), R"("\xED\xA0\x80")");  // a UTF-16 surrogate
  EXPECT_EQ(print_attr(std::string("\xc0\x80")), R"("\xC0\x80")");          // overlong NUL
}

TEST(TextPrint, NamesThatCannotBeWrittenAreErrors) {
  Builder b("g");
  ValueId x = b.input("bad name", f32({c(2)}));
  b.output(x);
  EXPECT_THROW(print(b.finish()), IrError);
  Builder b2("bad-graph");
  EXPECT_THROW(print(b2.finish()), IrError);
  Builder b3("g");
  b3.output(b3.input("x", f32({sym("2seq")})));
  EXPECT_THROW(print(b3.finish()), IrError);
}

const Op& only_op(const Module& m) {
  EXPECT_EQ(m.graphs.size(), 1u);
  EXPECT_EQ(m.graphs.at(0).ops.size(), 1u);
  return m.graphs.at(0).ops.at(0);
}

TEST(TextParse, AttributeValues) {
  Module m = parse_module(
      "// comment\r\n"
      "graph @g() {  // trailing comment\n"
      "  %0 = constant {b = true, c = false, f = 1e-06, g = -0.5, h = 1.0, i = -9223372036854775808, "
      "j = 9223372036854775807, k = 7, l = [], m = [3, -4], n = inf, o = -inf, p = nan, q = 1E+2, "
      "s = \"a\\\"b\\\\c\\nd\\te\\u{1F600}\\u{e9}\\x41\\xff\", value = 2} : f32[]\n"
      "  return %0\n"
      "}\n");
  const Attrs& a = only_op(m).attrs;
  EXPECT_EQ(a.at("b"), AttrValue(true));
  EXPECT_EQ(a.at("c"), AttrValue(false));
  EXPECT_EQ(a.at("f"), AttrValue(1e-06));
  EXPECT_EQ(a.at("g"), AttrValue(-0.5));
  EXPECT_EQ(a.at("h"), AttrValue(1.0));
  EXPECT_EQ(a.at("i"), AttrValue(std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(a.at("j"), AttrValue(std::numeric_limits<int64_t>::max()));
  EXPECT_EQ(a.at("k"), AttrValue(int64_t{7}));
  EXPECT_EQ(a.at("l"), AttrValue(std::vector<int64_t>{}));
  EXPECT_EQ(a.at("m"), AttrValue(std::vector<int64_t>{3, -4}));
  EXPECT_EQ(a.at("n"), AttrValue(std::numeric_limits<double>::infinity()));
  EXPECT_EQ(a.at("o"), AttrValue(-std::numeric_limits<double>::infinity()));
  ASSERT_TRUE(std::holds_alternative<double>(a.at("p")));
  EXPECT_TRUE(std::isnan(std::get<double>(a.at("p"))));
  EXPECT_EQ(a.at("q"), AttrValue(100.0));
  EXPECT_EQ(a.at("s"), AttrValue(std::string("a\"b\\c\nd\te\xf0\x9f\x98\x80\xc3\xa9"
                                             "A\xff")));
  EXPECT_EQ(a.at("value"), AttrValue(int64_t{2}));
}

TEST(TextParse, GraphStructure) {
  Module m = parse_module(
      "graph @first(%x: f32[seq, 8], %w: q4_0[4, 8]) {\n"
      "  %t.0 = matmul(%x, %w) : f32[seq, 4]\n"
      "  %v, %i = top_k(%t.0) {k = 2} : f32[seq, 2], i32[seq, 2]\n"
      "  return %i, %t.0\n"
      "}\n"
      "graph @second() {\n"
      "  return\n"
      "}\n",
      "test.ir");
  ASSERT_EQ(m.graphs.size(), 2u);
  const Graph& g = m.graphs[0];
  EXPECT_EQ(g.name, "first");
  ASSERT_EQ(g.inputs.size(), 2u);
  EXPECT_EQ(g.value(g.inputs[0]).name, "x");
  EXPECT_EQ(g.type(g.inputs[0]), (Type{DType::F32, {sym("seq"), c(8)}}));
  EXPECT_EQ(g.type(g.inputs[1]), (Type{DType::Q4_0, {c(4), c(8)}}));
  ASSERT_EQ(g.ops.size(), 2u);
  EXPECT_EQ(g.ops[0].kind, OpKind::MatMul);
  EXPECT_EQ(g.ops[0].inputs, g.inputs);
  EXPECT_EQ(g.ops[1].kind, OpKind::TopK);
  EXPECT_EQ(g.ops[1].inputs, g.ops[0].results);
  ASSERT_EQ(g.ops[1].results.size(), 2u);
  EXPECT_EQ(g.value(g.ops[1].results[1]).name, "i");
  EXPECT_EQ(g.type(g.ops[1].results[1]), (Type{DType::I32, {sym("seq"), c(2)}}));
  EXPECT_EQ(g.value(g.ops[1].results[0]).producer, 1);
  EXPECT_EQ(g.outputs, (std::vector<ValueId>{g.ops[1].results[1], g.ops[0].results[0]}));
  EXPECT_EQ(m.graphs[1].name, "second");
  EXPECT_TRUE(m.graphs[1].ops.empty());
  EXPECT_TRUE(m.graphs[1].outputs.empty());
}

TEST(TextParse, EmptyAttributeBracesAreAccepted) {
  Module m = parse_module("graph @g(%x: f32[2]) {\n  %y = silu(%x) {} : f32[2]\n  return %y\n}\n");
  EXPECT_TRUE(only_op(m).attrs.empty());
  EXPECT_EQ(print(m), "graph @g(%x: f32[2]) {\n  %y = silu(%x) : f32[2]\n  return %y\n}\n");
}

TEST(TextParse, ParenthesesOfAnOpWithoutOperandsAreOptional) {
  Module with = parse_module("graph @g() {\n  %w = weight() {name = \"w\"} : f32[2]\n  return %w\n}\n");
  Module without = parse_module("graph @g() {\n  %w = weight {name = \"w\"} : f32[2]\n  return %w\n}\n");
  EXPECT_EQ(print(with), print(without));
  EXPECT_TRUE(only_op(with).inputs.empty());
}

}  // namespace
}  // namespace vkllm::ir
