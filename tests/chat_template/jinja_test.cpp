// Unit tests of the Jinja interpreter. Expected strings are what Python's Jinja2 (as transformers
// configures it: trim_blocks, lstrip_blocks, sandboxed, default Undefined) renders, worked out by
// hand from Jinja's and Python's documented semantics.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "frontends/chat_template/jinja.h"

namespace {

using vkllm::frontends::jinja::ErrorKind;
using vkllm::frontends::jinja::RenderOptions;
using vkllm::frontends::jinja::Template;
using vkllm::frontends::jinja::TemplateError;
using json = nlohmann::ordered_json;

RenderOptions fixed_clock() {
  RenderOptions o;
  // 2024-03-07 09:05:03.250000 UTC (the tests run with TZ=UTC).
  const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1709802303) + std::chrono::milliseconds(250));
  o.now = [t] { return t; };
  return o;
}

std::string render(std::string_view source, const json& variables = json::object()) {
  return Template(source).render(variables, fixed_clock());
}

TemplateError render_error(std::string_view source, const json& variables = json::object(),
                           const RenderOptions& options = fixed_clock()) {
  try {
    Template(source).render(variables, options);
  } catch (const TemplateError& e) {
    return e;
  }
  ADD_FAILURE() << "expected an error from: " << source;
  return TemplateError(ErrorKind::Runtime, "none", 0, "no error");
}

// ---------------------------------------------------------------------------------------------
// Text and whitespace control (trim_blocks and lstrip_blocks on, as in transformers)

TEST(JinjaWhitespace, TrimBlocksDropsTheNewlineAfterABlockTag) {
  EXPECT_EQ(render("{% if true %}\nx\n{% endif %}\ny"), "x\ny");
  EXPECT_EQ(render("{% set a = 1 %}\n{{ a }}\n"), "1");  // the template's last newline is dropped too
}

TEST(JinjaWhitespace, LstripBlocksDropsIndentationBeforeABlockTag) {
  EXPECT_EQ(render("a\n    {% if true %}\n    b\n    {% endif %}\nc"), "a\n    b\nc");
  EXPECT_EQ(render("a\n  {# comment #}\nb"), "a\nb");
  // Not at the start of a line: kept. Expressions are never lstripped.
  EXPECT_EQ(render("a  {% if true %}b{% endif %}"), "a  b");
  EXPECT_EQ(render("a\n  {{ 'b' }}"), "a\n  b");
}

TEST(JinjaWhitespace, MinusStripsAllWhitespaceOnThatSide) {
  EXPECT_EQ(render("a   {{- 'b' -}}   c  {%- if true -%}  d  {%- endif %}"), "abcd");
  EXPECT_EQ(render("x\n\n  {#- gone -#}\n\n  y"), "xy");
}

TEST(JinjaWhitespace, PlusDisablesLstripAndTrim) {
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");
  EXPECT_EQ(render("{% if true +%}\nx{% endif %}"), "\nx");
}

TEST(JinjaWhitespace, NewlinesAreNormalizedAndOneTrailingNewlineDropped) {
  EXPECT_EQ(render("a\r\nb\rc\n"), "a\nb\nc");
  EXPECT_EQ(render("x\n\n"), "x\n");
}

TEST(JinjaWhitespace, RawBlocksAreLiteral) {
  EXPECT_EQ(render("{% raw %}{{ x }}{% if %}{% endraw %}"), "{{ x }}{% if %}");
  EXPECT_EQ(render("a {%- raw -%}  {{ y }}  {%- endraw -%} b"), "a{{ y }}b");
}

// ---------------------------------------------------------------------------------------------
// Expressions

TEST(JinjaExpressions, Arithmetic) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % -3 }}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 2 ** 10 }}"),
            "7|3|-4|-2|2|3.5|1024");
  EXPECT_EQ(render("{{ 2 ** 3 ** 2 }}"), "64");  // Jinja's ** is left-associative
  EXPECT_EQ(render("{{ 7.5 // 2 }}|{{ -7.5 % 2 }}|{{ 2 ** -1 }}|{{ true + 1 }}"), "3.0|0.5|0.5|2");
  EXPECT_EQ(render("{{ 'ab' * 3 }}|{{ [1] * 2 }}|{{ [1] + [2] }}"), "ababab|[1, 1]|[1, 2]");
}

TEST(JinjaExpressions, NumbersPrintAsPython) {
  EXPECT_EQ(render("{{ 1.0 }}|{{ 0.1 + 0.2 }}|{{ 1e16 }}|{{ 1.5e-5 }}|{{ 123456789.0 }}|{{ 10 / 4 }}|{{ 0.0001 }}|{{ -0.0 }}"),
            "1.0|0.30000000000000004|1e+16|1.5e-05|123456789.0|2.5|0.0001|-0.0");
  EXPECT_EQ(render("{{ 1_000 }}|{{ 0x1F }}|{{ 0o17 }}|{{ 0b101 }}|{{ 2.5e3 }}"), "1000|31|15|5|2500.0");
}

TEST(JinjaExpressions, ValuesPrintAsPythonStr) {
  EXPECT_EQ(render("{{ none }}|{{ true }}|{{ False }}|{{ [1, 'a', none] }}|{{ {'k': 'v', 'n': [1.5]} }}|{{ (1,) }}|{{ () }}|{{ missing }}|"),
            "None|True|False|[1, 'a', None]|{'k': 'v', 'n': [1.5]}|(1,)|()||");
  EXPECT_EQ(render("{{ [\"it's\", 'a\\nb', 'x\"y'] }}"), "[\"it's\", 'a\\nb', 'x\"y']");
}

TEST(JinjaExpressions, StringLiteralsAndEscapes) {
  EXPECT_EQ(render(R"({{ 'tab\there' ~ "q\"uote" ~ '\u00e9' ~ '\x41' ~ '\101' ~ '\d' }})"), "tab\there" "q\"uote" "\xc3\xa9" "AA\\d");
  EXPECT_EQ(render("{{ 'a' 'b' \"c\" }}"), "abc");  // adjacent literals concatenate
  EXPECT_EQ(render("{{ 'multi\nline' }}"), "multi\nline");
}

TEST(JinjaExpressions, ConcatenationWithTilde) { EXPECT_EQ(render("{{ 'n=' ~ 3 ~ none ~ missing ~ 1.5 }}"), "n=3None1.5"); }

TEST(JinjaExpressions, Comparisons) {
  EXPECT_EQ(render("{{ 1 < 2 < 3 }}{{ 1 < 3 < 2 }}{{ 'a' < 'b' }}{{ 1 == 1.0 }}{{ true == 1 }}{{ [1, 2] == [1, 2] }}{{ (1,) == [1] }}"),
            "TrueFalseTrueTrueTrueTrueFalse");
  EXPECT_EQ(render("{{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }}{{ missing == missing }}{{ missing == none }}"), "TrueTrueFalse");
}

TEST(JinjaExpressions, Membership) {
  EXPECT_EQ(render("{{ 'b' in 'abc' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 'q' not in {'k': 1} }}{{ 1 in missing }}{{ 'x' in [] }}"),
            "TrueTrueTrueTrueFalseFalse");
}

TEST(JinjaExpressions, LogicReturnsOperands) {
  EXPECT_EQ(render("{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ [] or none }}|{{ not 0 }}|{{ not [1] }}"), "x|b|None|True|False");
}

TEST(JinjaExpressions, ConditionalExpression) { EXPECT_EQ(render("{{ 'y' if 1 else 'n' }}{{ 'y' if 0 else 'n' }}[{{ 'y' if 0 }}]"), "yn[]"); }

TEST(JinjaExpressions, SlicingCountsCodePoints) {
  EXPECT_EQ(render("{{ 'hello'[1:3] }}|{{ 'hello'[::-1] }}|{{ [1, 2, 3, 4, 5][::2] }}|{{ [1, 2, 3, 4, 5][-2:] }}|{{ [1, 2, 3][5:] }}"),
            "el|olleh|[1, 3, 5]|[4, 5]|[]");
  EXPECT_EQ(render("{{ 'h\xc3\xa9llo'[1] }}{{ 'h\xc3\xa9llo'[-4:-2] }}{{ [1, 2, 3, 4][3:0:-2] }}{{ 'abc'[:-1] }}"), "\xc3\xa9\xc3\xa9l[4, 2]ab");
}

TEST(JinjaExpressions, AttributesAndItems) {
  const json vars = {{"d", {{"a", 1}, {"items", "value"}}}, {"l", {7, 8}}};
  EXPECT_EQ(render("{{ d.a }}{{ d['a'] }}{{ d.missing is defined }}{{ l.0 }}{{ l[-1] }}{{ l[5] is defined }}", vars), "11False78False");
  // Python attributes win for `.`, keys win for `[]`.
  EXPECT_EQ(render("{{ d['items'] }}|{{ d.items() | list }}", vars), "value|[('a', 1), ('items', 'value')]");
}

TEST(JinjaExpressions, FiltersBindTighterThanOperators) {
  EXPECT_EQ(render("{{ 'a' + ' b ' | trim + 'c' }}"), "abc");
  EXPECT_EQ(render("{{ -3 | abs }}|{{ not 0 | string }}|{{ [1, 2] | length + 1 }}"), "3|False|3");
}

TEST(JinjaExpressions, DictLiteralsKeepOrder) { EXPECT_EQ(render("{{ {'z': 1, 'a': 2, 'm': 3} | tojson }}"), "{\"z\": 1, \"a\": 2, \"m\": 3}"); }

TEST(JinjaExpressions, CallsWithKeywordAndStarArguments) {
  EXPECT_EQ(render("{% macro f(a, b=2, c=3) %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ f(1, c=9) }}|{{ f(*[4, 5]) }}|{{ f(**{'a': 7}) }}"),
            "129|453|723");
}

// ---------------------------------------------------------------------------------------------
// Statements

TEST(JinjaStatements, IfElifElse) {
  EXPECT_EQ(render("{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %},{% endfor %}"),
            "one,two,many,");
}

TEST(JinjaStatements, LoopVariables) {
  EXPECT_EQ(render("{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}"),
            "1032TrueFalse3|2121FalseFalse3|3210FalseTrue3|");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.cycle('o', 'e') }};{% endfor %}"),
            "-2-o;1-3-e;2--o;");
}

TEST(JinjaStatements, LoopFilterElseBreakContinue) {
  EXPECT_EQ(render("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{{ loop.length }}{% else %}none{% endfor %}"), "2242");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}{% for x in [1, 3] if x > 5 %}x{% else %}filtered{% endfor %}"),
            "emptyfiltered");
  EXPECT_EQ(render("{% for n in [1, 2, 3, 4] %}{% if n == 2 %}{% continue %}{% endif %}{% if n == 4 %}{% break %}{% endif %}{{ n }}{% endfor %}"),
            "13");
}

TEST(JinjaStatements, LoopsOverDictsStringsAndTuples) {
  const json vars = {{"d", {{"b", 2}, {"a", 1}}}};
  EXPECT_EQ(render("{% for k in d %}{{ k }}{% endfor %}|{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|"
                   "{% for k, v in d | items %}{{ k }}{{ v }}{% endfor %}|{% for c in 'h\xc3\xa9' %}[{{ c }}]{% endfor %}",
                   vars),
            "ba|b=2;a=1;|b2a1|[h][\xc3\xa9]");
  EXPECT_EQ(render("{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}"), "37");
}

TEST(JinjaStatements, SetInsideALoopIsLocalToTheIteration) {
  // Each iteration starts from the enclosing value again; nothing leaks out of the loop.
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = i * 10 %}{{ x }}{% endfor %}{{ x }}"), "1101201");
  EXPECT_EQ(render("{% for i in [1] %}{% set y = 5 %}{% endfor %}[{{ y }}]"), "[]");
  // `if` does not open a scope.
  EXPECT_EQ(render("{% if true %}{% set z = 3 %}{% endif %}{{ z }}"), "3");
}

TEST(JinjaStatements, NamespacesCarryValuesOutOfLoops) {
  EXPECT_EQ(render("{% set ns = namespace(total=0, seen=false) %}{% for x in [1, 2, 3] %}{% set ns.total = ns.total + x %}"
                   "{% if x == 2 %}{% set ns.seen = true %}{% endif %}{% endfor %}{{ ns.total }} {{ ns.seen }}"),
            "6 True");
  EXPECT_EQ(render("{% set ns = namespace() %}{% set ns.a = 'x' %}{{ ns.a }}{{ ns['a'] }}{{ ns.b is defined }}"), "xxFalse");
  EXPECT_EQ(render_error("{% set d = {'a': 1} %}{% set d.a = 2 %}").message(), "cannot assign attribute on non-namespace object");
}

TEST(JinjaStatements, BlockSetAndFilterBlocks) {
  EXPECT_EQ(render("{% set x %}  Hello {{ 'World' }}  {% endset %}[{{ x }}]"), "[  Hello World  ]");
  EXPECT_EQ(render("{% set x | trim | upper %}  hi  {% endset %}[{{ x }}]"), "[HI]");
  EXPECT_EQ(render("{% filter upper %}a{{ 'b' }}{% endfilter %}"), "AB");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ b }}{{ a }}"), "21");
}

TEST(JinjaStatements, MacrosWithDefaultsAndScopes) {
  EXPECT_EQ(render("{% macro greet(name, greeting='Hello', punct=greeting[0]) %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}"
                   "{{ greet('Ann') }}|{{ greet('Bob', greeting='Hi') }}|{{ greet('Cy', 'Yo', '!') | upper }}"),
            "Hello, AnnH|Hi, BobH|YO, CY!");
  // A macro reads the template's variables at call time; its own sets stay inside.
  EXPECT_EQ(render("{% macro show() %}{{ v }}{% set v = 'inner' %}{% endmacro %}{% set v = 'late' %}{{ show() }}{{ v }}"), "latelate");
  EXPECT_EQ(render("{% macro f() %}{{ varargs | length }}{{ kwargs.k }}{% endmacro %}{{ f(1, 2, k='v') }}"), "2v");
  EXPECT_EQ(render_error("{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}").message(), "macro 'f' takes not more than 1 argument(s)");
}

TEST(JinjaStatements, WithAndGeneration) {
  EXPECT_EQ(render("{% set a = 1 %}{% with a = 2, b = a %}{{ a }}{{ b }}{% endwith %}{{ a }}"), "211");
  EXPECT_EQ(render("<{% generation %}assistant text{% endgeneration %}>"), "<assistant text>");
}

// ---------------------------------------------------------------------------------------------
// Filters

TEST(JinjaFilters, ToJsonFollowsTransformers) {
  const json vars = {{"v", {{"name", "f\xc3\xa9"}, {"args", {1, 2.5, nullptr, true, "q\"\\\n\t\x01"}}, {"empty", json::object()}, {"list", json::array()}}}};
  EXPECT_EQ(render("{{ v | tojson }}", vars),
            "{\"name\": \"f\xc3\xa9\", \"args\": [1, 2.5, null, true, \"q\\\"\\\\\\n\\t\\u0001\"], \"empty\": {}, \"list\": []}");
  EXPECT_EQ(render("{{ {'a': [1, {'b': 'x'}], 'c': {}} | tojson(indent=2) }}"),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"x\"\n    }\n  ],\n  \"c\": {}\n}");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 'caf\xc3\xa9'} | tojson(sort_keys=true, ensure_ascii=true, separators=(',', ':')) }}"),
            "{\"a\":\"caf\\u00e9\",\"b\":1}");
  EXPECT_EQ(render("{{ 'emoji \xf0\x9f\xa6\x99' | tojson(ensure_ascii=true) }}"), "\"emoji \\ud83e\\udd99\"");
  EXPECT_EQ(render_error("{{ missing | tojson }}").message(), "Object of type Undefined is not JSON serializable");
}

TEST(JinjaFilters, Strings) {
  EXPECT_EQ(render("[{{ '  x \\n' | trim }}][{{ 'xxaxx' | trim('x') }}]{{ 'aBc' | upper }}{{ 'aBc' | lower }}{{ 'hello WORLD' | capitalize }}"),
            "[x][a]ABCabcHello world");
  EXPECT_EQ(render("{{ 'hello big-world (yes)' | title }}|{{ 'a-b' | replace('-', '+') }}|{{ 'aaa' | replace('a', 'b', 2) }}"),
            "Hello Big-World (Yes)|a+b|bba");
  EXPECT_EQ(render("{{ '\xc3\xa9t\xc3\xa9' | upper }}|{{ '\xce\x9f\xce\x94\xce\x9f\xce\xa3' | lower }}"), "\xc3\x89T\xc3\x89|\xce\xbf\xce\xb4\xce\xbf\xcf\x82");
  EXPECT_EQ(render("{{ 'line1\\nline2\\n\\nline4' | indent(2) }}|{{ 'a\\nb' | indent(first=true, width='> ') }}"),
            "line1\n  line2\n\n  line4|> a\n> b");
  EXPECT_EQ(render("{{ '<a href=\"x\">' | e }}|{{ '<b>' | safe }}|{{ ('<i>' | safe) + '<' }}"),
            "&lt;a href=&#34;x&#34;&gt;|<b>|<i>&lt;");
}

TEST(JinjaFilters, Sequences) {
  const json vars = {{"xs", {3, 1, 2}}, {"words", {"b", "A", "c", "a"}}};
  EXPECT_EQ(render("{{ xs | length }}{{ xs | count }}{{ xs | first }}{{ xs | last }}{{ xs | sum }}{{ xs | min }}{{ xs | max }}", vars),
            "3332613");
  EXPECT_EQ(render("{{ xs | sort }}{{ xs | sort(reverse=true) }}{{ words | sort }}{{ words | sort(case_sensitive=true) }}", vars),
            "[1, 2, 3][3, 2, 1]['A', 'a', 'b', 'c']['A', 'a', 'b', 'c']");
  EXPECT_EQ(render("{{ words | unique | list }}{{ words | join('-') }}{{ xs | join }}{{ xs | reverse | list }}{{ 'abc' | reverse }}", vars),
            "['b', 'A', 'c']b-A-c-a312[2, 1, 3]cba");
  EXPECT_EQ(render("{{ [1, 2, 3, 4, 5] | batch(2) | list }}{{ [1, 2, 3] | batch(2, 0) | list }}"), "[[1, 2], [3, 4], [5]][[1, 2], [3, 0]]");
  EXPECT_EQ(render("{{ 'ab' | list }}{{ {'k': 1} | list }}{{ range(3) | list }}{{ range(5, 0, -2) | list }}{{ range(3) }}"),
            "['a', 'b']['k'][0, 1, 2][5, 3, 1]range(0, 3)");
}

TEST(JinjaFilters, SelectRejectAndMap) {
  const json vars = {{"messages",
                      {{{"role", "system"}, {"content", "s"}},
                       {{"role", "user"}, {"content", "u1"}},
                       {{"role", "user"}, {"content", "u2"}, {"meta", {{"n", 7}}}}}}};
  EXPECT_EQ(render("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}", vars), "u1,u2");
  EXPECT_EQ(render("{{ (messages | selectattr('role', 'equalto', 'user') | list)[-1].content }}", vars), "u2");
  EXPECT_EQ(render("{{ messages | rejectattr('role', 'eq', 'user') | map(attribute='content') | list }}", vars), "['s']");
  EXPECT_EQ(render("{{ messages | selectattr('meta') | map(attribute='meta.n') | list }}", vars), "[7]");
  EXPECT_EQ(render("{{ messages | map(attribute='missing', default='-') | join }}", vars), "---");
  EXPECT_EQ(render("{{ [1, 2, 3, 4] | select('odd') | list }}{{ [1, 2, 3, 4] | reject('divisibleby', 2) | list }}"
                   "{{ ['a', 'B'] | map('upper') | list }}{{ [0, 1, none, 'x'] | select | list }}"),
            "[1, 3][1, 3]['A', 'B'][1, 'x']");
  // What these filters return is a one-shot generator, as in Python.
  EXPECT_EQ(render_error("{{ [1, 2] | select('odd') | length }}").message(), "object of type 'generator' has no len()");
}

TEST(JinjaFilters, DefaultItemsAndConversions) {
  EXPECT_EQ(render("{{ missing | default('d') }}|{{ '' | default('d') }}|{{ '' | default('d', true) }}|{{ none | d('n') }}"), "d||d|None");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': [2]} | items %}{{ k }}{{ v }}{% endfor %}{% for k in missing | items %}x{% endfor %}"),
            "a1b[2]");
  EXPECT_EQ(render("{{ '42' | int }}|{{ '4.7' | int }}|{{ 'x' | int(7) }}|{{ 3.9 | int }}|{{ '0x1A' | int(0, 16) }}|{{ '2.5' | float }}|{{ 'x' | float }}"),
            "42|4|7|3|26|2.5|0.0");
  EXPECT_EQ(render("{{ 2.5 | round }}|{{ 3.5 | round }}|{{ 2.675 | round(2) }}|{{ 1.21 | round(1, 'ceil') }}|{{ 7 | round }}|{{ -1.5 | abs }}"),
            "2.0|4.0|2.67|1.3|7|1.5");
  EXPECT_EQ(render("{{ 5 | string }}{{ [1] | string }}{{ {'b': 1, 'a': 2} | dictsort }}"), "5[1][('a', 2), ('b', 1)]");
}

TEST(JinjaFilters, UnknownAndUnsupportedFiltersAreErrorsWithTheirLine) {
  const TemplateError unknown = render_error("line one\n{{ x | nosuch }}");
  EXPECT_EQ(unknown.kind(), ErrorKind::Syntax);
  EXPECT_EQ(unknown.line(), 2);
  EXPECT_STREQ(unknown.what(), "template:2: no filter named 'nosuch'");
  const TemplateError unsupported = render_error("a\nb\n{{ 'x y' | wordcount }}");
  EXPECT_EQ(unsupported.kind(), ErrorKind::Unsupported);
  EXPECT_STREQ(unsupported.what(), "template:3: unsupported filter 'wordcount'");
}

// ---------------------------------------------------------------------------------------------
// Tests (`is`)

TEST(JinjaTests, Builtins) {
  const json vars = {{"x", 1}, {"n", nullptr}};
  EXPECT_EQ(render("{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ x is defined }}{{ y is undefined }}{{ n is none }}"
                   "{{ 'a' is string }}{{ 1 is number }}{{ true is number }}{{ 1 is integer }}{{ true is integer }}{{ 1.0 is float }}",
                   vars),
            "TrueTrueTrueTrueTrueTrueTrueTrueTrueTrueFalseTrue");
  EXPECT_EQ(render("{{ {} is mapping }}{{ [] is iterable }}{{ 'x' is sequence }}{{ {} is sequence }}{{ 5 is iterable }}{{ true is boolean }}"
                   "{{ 1 is true }}{{ true is true }}{{ false is false }}{{ y is iterable }}{{ range is callable }}",
                   vars),
            "TrueTrueTrueTrueFalseTrueFalseTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ 5 is gt 3 }}{{ 5 is lt 3 }}{{ 'b' is in 'abc' }}{{ 2 is eq 2 }}{{ 2 is ne 2 }}{{ x is not none }}{{ 'ab' is lower }}"
                   "{{ 'Ab' is upper }}{{ none is sameas none }}{{ 'upper' is filter }}{{ 'odd' is test }}",
                   vars),
            "TrueFalseTrueTrueFalseTrueTrueFalseTrueTrueTrue");
}

// ---------------------------------------------------------------------------------------------
// Methods and globals

TEST(JinjaMethods, Strings) {
  EXPECT_EQ(render("{{ ' x '.strip() }}|{{ '\\n\\nx\\n'.strip('\\n') }}|{{ 'xxay'.lstrip('x') }}|{{ 'ayyx'.rstrip('xy') }}"),
            "x|x|ay|a");
  EXPECT_EQ(render("{{ 'a<b>c<b>'.split('<b>') }}{{ ' a  b '.split() }}{{ 'a,b,c'.split(',', 1) }}{{ 'a,b,c'.rsplit(',', 1) }}"
                   "{{ 'r</think>a'.split('</think>')[-1] }}{{ 'l1\\nl2\\r\\nl3'.splitlines() }}"),
            "['a', 'c', '']['a', 'b']['a', 'b,c']['a,b', 'c']a['l1', 'l2', 'l3']");
  EXPECT_EQ(render("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'hello world'.title() }}{{ 'hello'.find('l') }}"
                   "{{ 'hello'.rfind('l') }}{{ 'hello'.count('l') }}{{ 'a-b'.replace('-', '') }}{{ '-'.join(['x', 'y']) }}{{ 'ab'.upper() }}"),
            "TrueTrueHello World232abx-yAB");
  EXPECT_EQ(render("{{ \"they're\".title() }}|{{ 'x'.removeprefix('x') }}|{{ 'k=v'.partition('=') }}"), "They'Re||('k', '=', 'v')");
  EXPECT_EQ(render_error("{{ 'x'.zfill(3) }}").what(), std::string("template:1: unsupported string method 'zfill'"));
}

TEST(JinjaMethods, DictsAndLists) {
  const json vars = {{"d", {{"b", 2}, {"a", 1}}}, {"l", {1, 2, 2}}};
  EXPECT_EQ(render("{{ d.get('x', 'dflt') }}{{ d.get('a') }}{{ d.get('x') }}{{ d.keys() | list }}{{ d.values() | list }}{{ d.items() }}", vars),
            "dflt1None['b', 'a'][2, 1]dict_items([('b', 2), ('a', 1)])");
  EXPECT_EQ(render("{{ l.count(2) }}{{ l.index(2) }}", vars), "21");
  // The sandbox refuses methods that modify values.
  EXPECT_EQ(render_error("{{ l.append(3) }}", vars).message(), "access to attribute 'append' of 'list' object is unsafe.");
  EXPECT_EQ(render_error("{{ d.pop('a') }}", vars).message(), "access to attribute 'pop' of 'dict' object is unsafe.");
}

TEST(JinjaGlobals, RangeDictNamespaceAndClock) {
  EXPECT_EQ(render("{% for i in range(3) %}{{ i }}{% endfor %}{{ range(1, 8, 3) | list }}{{ range(3, -1, -1) | list }}"),
            "012[1, 4, 7][3, 2, 1, 0]");
  EXPECT_EQ(render("{{ dict(a=1, b='x') }}{{ namespace({'k': 1}, j=2).j }}"), "{'a': 1, 'b': 'x'}2");
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S.%f %A %B %j') }}|{{ strftime_now('') }}"),
            "07 Mar 2024|2024-03-07 09:05:03.250000 Thursday March 067|");
  EXPECT_EQ(render_error("{{ range(200000) | length }}").message(), "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
}

TEST(JinjaGlobals, RaiseExceptionCarriesTheTemplatesMessage) {
  const TemplateError e = render_error("{% if true %}\n  {{ raise_exception('Roles must alternate!') }}\n{% endif %}");
  EXPECT_EQ(e.kind(), ErrorKind::Raised);
  EXPECT_EQ(e.line(), 2);
  EXPECT_EQ(e.message(), "Roles must alternate!");
}

// ---------------------------------------------------------------------------------------------
// Undefined values (Jinja's default Undefined)

TEST(JinjaUndefined, PrintsEmptyAndIteratesAsEmpty) {
  EXPECT_EQ(render("[{{ missing }}]{{ missing | length }}{{ missing | default('d') }}{% for x in missing %}x{% endfor %}"
                   "{{ missing | trim }}{{ missing | list }}{{ missing is defined }}{{ {}.nothing is defined }}"),
            "[]0d[]False" "False");
  EXPECT_EQ(render("{% if missing %}yes{% else %}no{% endif %}{% if not missing %}!{% endif %}"), "no!");
}

TEST(JinjaUndefined, UsingItRaisesWithTheOriginalName) {
  TemplateError e = render_error("{{ missing.attr }}");
  EXPECT_EQ(e.kind(), ErrorKind::Runtime);
  EXPECT_EQ(e.message(), "'missing' is undefined");
  EXPECT_EQ(render_error("{{ missing + 1 }}").message(), "'missing' is undefined");
  EXPECT_EQ(render_error("{{ missing() }}").message(), "'missing' is undefined");
  EXPECT_EQ(render_error("{% set d = {} %}{{ d.x.y }}").message(), "'dict object' has no attribute 'x'");
  EXPECT_EQ(render_error("{{ [1][5].y }}").message(), "list object has no element 5");
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(JinjaErrors, RuntimeErrorsNameTheLine) {
  const TemplateError e = render_error("line1\nline2\n  {{ 1 + 'a' }}");
  EXPECT_EQ(e.line(), 3);
  EXPECT_STREQ(e.what(), "template:3: unsupported operand type(s) for +: 'int' and 'str'");
  EXPECT_EQ(render_error("{{ 'a' + 1 }}").message(), "can only concatenate str (not \"int\") to str");
  EXPECT_EQ(render_error("{{ 1 // 0 }}").message(), "integer division or modulo by zero");
  EXPECT_EQ(render_error("{% for a, b in [[1]] %}{% endfor %}").message(), "not enough values to unpack (expected 2, got 1)");
}

TEST(JinjaErrors, SyntaxErrorsNameTheLine) {
  struct Case {
    const char* source;
    int line;
  };
  for (const Case& c : {Case{"{% if x %}\nno end", 2}, Case{"\n{{ 1 + }}", 2}, Case{"{% endfor %}", 1}, Case{"a\nb\n{{ 'open }}", 3},
                        Case{"{{ (1 }}", 1}, Case{"{% for x in y %}{% endif %}", 1}, Case{"{% break %}", 1}, Case{"{# never closed", 1},
                        Case{"{{ x | }}", 1}, Case{"{% set %}", 1}, Case{"{{ x is nosuchtest }}", 1}, Case{"{% do x %}", 1}}) {
    const TemplateError e = render_error(c.source);
    EXPECT_EQ(e.kind(), ErrorKind::Syntax) << c.source << ": " << e.what();
    EXPECT_EQ(e.line(), c.line) << c.source << ": " << e.what();
  }
}

TEST(JinjaErrors, UnsupportedConstructsAreErrors) {
  for (const char* source : {"{% include 'x.jinja' %}", "{% call m() %}x{% endcall %}", "{% for x in y recursive %}{% endfor %}",
                             "{{ '%s' % 1 }}", "{{ lipsum() }}", "{{ {1: 'a'} }}"}) {
    const TemplateError e = render_error(source, {{"y", {1}}});
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported) << source << ": " << e.what();
  }
}

TEST(JinjaErrors, RunawayTemplatesHitLimits) {
  RenderOptions tight = fixed_clock();
  tight.limits.max_steps = 100000;
  EXPECT_EQ(render_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", json::object(), tight).kind(),
            ErrorKind::Limit);
  EXPECT_EQ(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").kind(), ErrorKind::Limit);
  RenderOptions small_output = fixed_clock();
  small_output.limits.max_output_bytes = 1000;
  EXPECT_EQ(render_error("{% for i in range(1000) %}0123456789{% endfor %}", json::object(), small_output).kind(), ErrorKind::Limit);
  EXPECT_EQ(render_error("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                         json::object(), small_output)
                .kind(),
            ErrorKind::Limit);
  std::string deep(500, '(');
  EXPECT_EQ(render_error("{{ " + deep + "1" + std::string(500, ')') + " }}").kind(), ErrorKind::Syntax);
}

TEST(JinjaErrors, InvalidUtf8TemplateIsRejected) { EXPECT_EQ(render_error("ok \xff\xfe").kind(), ErrorKind::Syntax); }

}  // namespace
