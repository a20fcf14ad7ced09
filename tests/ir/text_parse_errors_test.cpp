// Malformed text gives a ParseError at the right line and column with a message saying what is
// wrong; the parser never crashes or hangs on hostile input.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "ir/text.h"

namespace vkllm::ir {
namespace {

struct Case {
  const char* label;
  std::string text;
  int line, column;
  std::string message;  // a substring of the message
};

// Wraps op lines in a graph with inputs %x: f32[4] and %i: i32[4]; the first op line is line 2.
std::string in_graph(const std::string& ops, const std::string& ret = "  return %x\n") {
  return "graph @g(%x: f32[4], %i: i32[4]) {\n" + ops + ret + "}\n";
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.label; }

class ParseErrors : public testing::TestWithParam<Case> {};

TEST_P(ParseErrors, LineColumnAndMessage) {
  const Case& c = GetParam();
  try {
    parse_module(c.text, "in.ir");
    FAIL() << "parsed without error:\n" << c.text;
  } catch (const ParseError& e) {
    EXPECT_EQ(e.source, "in.ir");
    EXPECT_EQ(e.line, c.line) << e.what();
    EXPECT_EQ(e.column, c.column) << e.what();
    EXPECT_NE(e.message.find(c.message), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()),
              "in.ir:" + std::to_string(c.line) + ":" + std::to_string(c.column) + ": error: " + e.message);
  }
}

const Case kCases[] = {
    // Lexical errors
    {"unexpected_character", "graph @g() {\n  $\n", 2, 3, "unexpected character '$'"},
    {"lone_slash", "/ comment", 1, 1, "unexpected character '/'"},
    {"empty_value_name", in_graph("  % = silu(%x) : f32[4]\n"), 2, 3, "expected a value name"},
    {"empty_graph_name", "graph @(", 1, 7, "expected a graph name"},
    {"number_with_letters", in_graph("  %c = constant {value = 12abc} : f32[4]\n"), 2, 26, "bad number '12abc'"},
    {"number_missing_fraction", in_graph("  %c = constant {value = 1.e5} : f32[4]\n"), 2, 28,
     "expected a digit after '.'"},
    {"number_missing_exponent", in_graph("  %c = constant {value = 2e} : f32[4]\n"), 2, 28, "exponent digits"},
    {"number_two_dots", in_graph("  %c = constant {value = 1.2.3} : f32[4]\n"), 2, 26, "bad number '1.2.3'"},
    {"minus_alone", in_graph("  %c = constant {value = - 1} : f32[4]\n"), 2, 27, "expected a digit"},
    {"unterminated_string_eof", "graph @g() {\n  %w = weight {name = \"abc", 2, 23, "unterminated string"},
    {"unterminated_string_newline", in_graph("  %w = weight {name = \"ab\n\"} : f32[4]\n"), 2, 23,
     "unterminated string"},
    {"control_character_in_string", in_graph("  %w = weight {name = \"a\x01\"} : f32[4]\n"), 2, 25,
     "control character"},
    {"unknown_escape", in_graph("  %w = weight {name = \"a\\qb\"} : f32[4]\n"), 2, 25, "unknown escape '\\q'"},
    {"escape_at_end", "graph @g() {\n  %w = weight {name = \"a\\", 2, 25, "unknown escape"},
    {"bad_hex_escape", in_graph("  %w = weight {name = \"\\xZ1\"} : f32[4]\n"), 2, 24, "\\x takes two hex digits"},
    {"unicode_escape_without_brace", in_graph("  %w = weight {name = \"\\u0041\"} : f32[4]\n"), 2, 24,
     "expected \\u{XXXX}"},
    {"unicode_escape_empty", in_graph("  %w = weight {name = \"\\u{}\"} : f32[4]\n"), 2, 24, "1 to 6 hex digits"},
    {"unicode_escape_too_long", in_graph("  %w = weight {name = \"\\u{0000041}\"} : f32[4]\n"), 2, 24,
     "1 to 6 hex digits"},
    {"unicode_escape_too_large", in_graph("  %w = weight {name = \"\\u{110000}\"} : f32[4]\n"), 2, 24,
     "not a Unicode scalar value"},
    {"unicode_escape_surrogate", in_graph("  %w = weight {name = \"\\u{D800}\"} : f32[4]\n"), 2, 24,
     "not a Unicode scalar value"},

    // Numbers out of range
    {"int_too_large", in_graph("  %t, %k = top_k(%x) {k = 9223372036854775808} : f32[1], i32[1]\n"), 2, 27,
     "out of the range of int64"},
    {"int_too_small", in_graph("  %c = constant {value = -9223372036854775809} : f32[4]\n"), 2, 26,
     "out of the range of int64"},
    {"int_list_element_too_large", in_graph("  %c = constant {l = [1, 99999999999999999999], value = 1} : f32[4]\n"), 2,
     26, "out of the range of int64"},
    {"float_too_large", in_graph("  %c = constant {value = 1e999} : f32[4]\n"), 2, 26, "out of the range of double"},
    {"dim_too_large", "graph @g(%x: f32[99999999999999999999]) {\n", 1, 18, "out of the range of int64"},
    {"negative_dim", "graph @g(%x: f32[4, -1]) {\n", 1, 21, "dims must be >= 0"},

    // Grammar
    {"missing_graph_keyword", "grph @g() {\n", 1, 1, "expected 'graph', got 'grph'"},
    {"missing_graph_name", "graph g() {\n", 1, 7, "expected a graph name (@name), got 'g'"},
    {"missing_colon_after_input", "graph @g(%x f32[4]) {\n", 1, 13, "expected ':'"},
    {"missing_close_paren", "graph @g(%x: f32[4] {\n", 1, 21, "expected ',' or ')'"},
    {"missing_return", "graph @g() {\n}\n", 2, 1, "expected an op (%result = op(...) : type) or 'return'"},
    {"missing_close_brace", "graph @g(%x: f32[4]) {\n  return %x\n", 3, 1, "got end of input"},
    {"missing_equal", in_graph("  %y silu(%x) : f32[4]\n"), 2, 6, "expected '=' or ','"},
    {"missing_op_name", in_graph("  %y = (%x) : f32[4]\n"), 2, 8, "expected an op name"},
    {"missing_result_type", in_graph("  %y = silu(%x)\n"), 3, 3, "expected ':' and the result type(s)"},
    {"missing_type_brackets", in_graph("  %y = silu(%x) : f32\n"), 3, 3, "expected '[' and the dims"},
    {"bad_dim", in_graph("  %y = silu(%x) : f32[4.0]\n"), 2, 23, "expected a dim (an integer or a symbol)"},
    {"trailing_comma_in_operands", in_graph("  %y = add(%x, ) : f32[4]\n"), 2, 16, "expected an operand"},
    {"float_in_int_list", in_graph("  %c = constant {l = [1, 2.5], value = 1} : f32[4]\n"), 2, 26,
     "attribute lists hold integers only"},
    {"attribute_without_value", in_graph("  %c = constant {value} : f32[4]\n"), 2, 23, "expected '='"},
    {"attribute_bad_value", in_graph("  %c = constant {value = yes} : f32[4]\n"), 2, 26, "expected an attribute value"},
    {"attribute_missing_separator", in_graph("  %c = constant {value = 1 k = 2} : f32[4]\n"), 2, 28,
     "expected ',' or '}'"},
    {"duplicate_attribute", in_graph("  %c = constant {value = 1, value = 2} : f32[4]\n"), 2, 29,
     "duplicate attribute 'value'"},
    {"more_names_than_types", in_graph("  %a, %b = top_k(%x) {k = 1} : f32[1]\n"), 2, 32,
     "2 result name(s) but 1 result type(s)"},

    // Names
    {"unknown_op", in_graph("  %y = silo(%x) : f32[4]\n"), 2, 8, "unknown op 'silo' (did you mean 'silu'?)"},
    {"unknown_op_far_from_any", in_graph("  %y = frobnicate(%x) : f32[4]\n"), 2, 8, "unknown op 'frobnicate'"},
    {"unknown_dtype", in_graph("  %y = silu(%x) : f33[4]\n"), 2, 19, "unknown dtype 'f33' (known: f32, f16, bf16"},
    {"unknown_value", in_graph("  %y = silu(%z) : f32[4]\n"), 2, 13, "unknown value %z"},
    {"use_before_definition", in_graph("  %y = silu(%z) : f32[4]\n  %z = silu(%x) : f32[4]\n"), 2, 13,
     "unknown value %z (values must be defined before they are used)"},
    {"unknown_output", in_graph("", "  return %x, %nope\n"), 2, 14, "unknown value %nope"},
    {"duplicate_input", "graph @g(%x: f32[4], %x: f32[4]) {\n", 1, 22,
     "duplicate value name %x (first defined at 1:10)"},
    {"result_redefines_input", in_graph("  %x = silu(%x) : f32[4]\n"), 2, 3,
     "duplicate value name %x (first defined at 1:10)"},
    {"duplicate_result_in_one_op", in_graph("  %a, %a = top_k(%x) {k = 1} : f32[1], i32[1]\n"), 2, 7,
     "duplicate value name %a"},
    {"duplicate_graph", "graph @g() {\n  return\n}\ngraph @g() {\n  return\n}\n", 4, 7,
     "duplicate graph name @g (first defined at 1:7)"},

    // Verifier rules, reported at the offending op
    {"type_rule", in_graph("  %y = silu(%i) : f32[4]\n"), 2, 8, "'silu': operand 0 (i32[4]) must be a dense float"},
    {"declared_type_differs", in_graph("  %y = silu(%x) : f16[4]\n"), 2, 19,
     "'silu': result 0 (%y) is declared f16[4] but the rule gives f32[4]"},
    {"second_result_type_differs", in_graph("  %v, %k = top_k(%x) {k = 2} : f32[2], f32[2]\n"), 2, 40,
     "'top_k': result 1 (%k) is declared f32[2] but the rule gives i32[2]"},
    {"too_many_results", in_graph("  %a, %b = silu(%x) : f32[4], f32[4]\n"), 2, 3,
     "'silu' must have 1 result(s), has 2"},
    {"too_few_results", in_graph("  %a = top_k(%x) {k = 1} : f32[1]\n"), 2, 3, "'top_k' must have 2 result(s), has 1"},
    {"wrong_operand_count", in_graph("  %y = silu(%x, %x) : f32[4]\n"), 2, 8, "'silu': takes 1 operand(s), got 2"},
    {"missing_attribute", in_graph("  %y = scale(%x) : f32[4]\n"), 2, 8, "'scale': missing attribute 'factor'"},
    {"weight_without_name", in_graph("  %w = weight : f32[4]\n"), 2, 8, "'weight': attribute 'name'"},
    {"error_in_second_graph", "graph @a() {\n  return\n}\n\ngraph @b(%x: f32[2]) {\n  %y = softmax(%x, %x) : f32[2]\n",
     6, 8, "'softmax': takes 1 operand(s), got 2"},
};

INSTANTIATE_TEST_SUITE_P(Text, ParseErrors, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<Case>& info) { return std::string(info.param.label); });

TEST(ParseErrorsHostile, HugeTokenIsShortenedInTheMessage) {
  std::string text = "graph @g() {\n  %y = " + std::string(100000, 'z') + "(%x) : f32[4]\n";
  try {
    parse_module(text);
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_LT(std::string(e.what()).size(), 200u) << e.what();
    EXPECT_EQ(e.column, 8);
  }
}

// Inputs that would be slow with quadratic work, or deep with recursive descent, stay fast.
TEST(ParseErrorsHostile, LongInputsAreLinear) {
  auto start = std::chrono::steady_clock::now();
  std::string many_results = "graph @g(%x: f32[4]) {\n  ";
  for (int i = 0; i < 200000; ++i) many_results += "%r" + std::to_string(i) + ", ";
  EXPECT_THROW(parse_module(many_results), ParseError);
  EXPECT_THROW(parse_module(std::string(1000000, '[')), ParseError);
  EXPECT_THROW(parse_module("graph @g(%x: f32[" + std::string(1000000, '1') + "]) {"), ParseError);
  std::string long_list = "graph @g() {\n  %c = constant {l = [";
  for (int i = 0; i < 200000; ++i) long_list += "1, ";
  long_list += "1], value = 1} : f32[1]\n  return %c\n}\n";
  EXPECT_EQ(parse_module(long_list).graphs.at(0).ops.at(0).attr_ints("l").size(), 200001u);
  std::string many_ops = "graph @g(%v0: f32[4]) {\n";
  for (int i = 1; i <= 20000; ++i)
    many_ops += "  %v" + std::to_string(i) + " = silu(%v" + std::to_string(i - 1) + ") : f32[4]\n";
  many_ops += "  return %v20000\n}\n";
  EXPECT_EQ(parse_module(many_ops).graphs.at(0).ops.size(), 20000u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(ParseErrorsHostile, EveryPrefixOfAValidModuleFailsCleanlyOrParses) {
  const std::string text =
      "graph @g(%x: f32[seq, 8], %p: i32[seq]) {\n"
      "  %w = weight {name = \"a\\\"\\u{1F600}\\xff\"} : bf16[8]\n"
      "  %y = rms_norm(%x, %w) {eps = 1e-06} : f32[seq, 8]\n"
      "  %v, %i = top_k(%y) {k = 2} : f32[seq, 2], i32[seq, 2]\n"
      "  return %y, %i\n"
      "}\n";
  ASSERT_NO_THROW(parse_module(text));
  for (size_t n = 0; n < text.size(); ++n) {
    try {
      parse_module(text.substr(0, n));
    } catch (const ParseError&) {
    }
  }
}

}  // namespace
}  // namespace vkllm::ir
