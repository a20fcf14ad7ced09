// Recursive-descent parser mirroring jinja2.parser: the same grammar and precedence
// (condexpr < or < and < not < comparisons < + - < ~ < * / // % < ** < unary < postfix/filters).
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "frontends/chat_template/ast.h"
#include "frontends/chat_template/error.h"
#include "frontends/chat_template/lexer.h"

namespace vkllm::frontends::jinja {

bool is_jinja_filter(const std::string& name) {
  static const std::set<std::string> names = {
      "abs",      "attr",    "batch",   "capitalize", "center",  "count",     "d",        "default",
      "dictsort", "e",       "escape",  "filesizeformat", "first", "float",  "forceescape", "format",
      "groupby",  "indent",  "int",     "items",      "join",    "last",      "length",   "list",
      "lower",    "map",     "max",     "min",        "pprint",  "random",    "reject",   "rejectattr",
      "replace",  "reverse", "round",   "safe",       "select",  "selectattr", "slice",   "sort",
      "string",   "striptags", "sum",   "title",      "tojson",  "trim",      "truncate", "unique",
      "upper",    "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr"};
  return names.count(name) > 0;
}

bool is_jinja_test(const std::string& name) {
  static const std::set<std::string> names = {
      "boolean", "callable", "defined", "divisibleby", "eq",      "equalto", "escaped",  "even",
      "false",   "filter",   "float",   "ge",          "gt",      "greaterthan", "in",   "integer",
      "iterable", "le",      "lessthan", "lower",      "lt",      "mapping", "ne",       "none",
      "number",  "odd",      "sameas",  "sequence",    "string",  "test",    "true",     "undefined",
      "upper"};
  return names.count(name) > 0;
}

namespace {

// Deepest nesting of expressions and blocks the parser accepts (deeper is an error, not a crash).
constexpr int kMaxParseDepth = 200;

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& origin) : tokens_(std::move(tokens)), origin_(origin) {}

  Body parse() {
    Body body = parse_statements({});
    if (current().type != TokenType::End) error(fmt::format("unexpected '{}'", current().text));
    check_names(body, false);
    return body;
  }

 private:
  // -- token stream --------------------------------------------------------------------------
  const Token& current() const { return tokens_[pos_]; }
  const Token& look() const { return tokens_[std::min(pos_ + 1, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool at_op(std::string_view op) const { return current().type == TokenType::Operator && current().text == op; }
  bool at_name(std::string_view name) const { return current().type == TokenType::Name && current().text == name; }
  bool skip_op(std::string_view op) {
    if (!at_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!at_name(name)) return false;
    next();
    return true;
  }
  void expect_op(std::string_view op) {
    if (!skip_op(op)) error(fmt::format("expected '{}', got {}", op, describe_current()));
  }
  void expect_name(std::string_view name) {
    if (!skip_name(name)) error(fmt::format("expected '{}', got {}", name, describe_current()));
  }
  std::string expect_identifier() {
    if (current().type != TokenType::Name) error(fmt::format("expected a name, got {}", describe_current()));
    return next().text;
  }
  void expect(TokenType t) {
    if (current().type != t) error(fmt::format("expected {}, got {}", describe(t), describe_current()));
    next();
  }
  std::string describe_current() const {
    const Token& t = current();
    if (t.type == TokenType::Name || t.type == TokenType::Operator) return "'" + t.text + "'";
    return describe(t.type);
  }

  [[noreturn]] void error(const std::string& message) const {
    throw TemplateError(ErrorKind::Syntax, origin_, current().line, message);
  }
  [[noreturn]] void not_supported(const std::string& what, int line) const {
    throw TemplateError(ErrorKind::Unsupported, origin_, line, "unsupported " + what);
  }

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxParseDepth) p.error(fmt::format("template nested more than {} levels deep", kMaxParseDepth));
    }
    ~DepthGuard() { --p.depth_; }
  };

  ExprPtr node(ExprKind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  // -- statements ----------------------------------------------------------------------------
  // Statements until a block tag whose name is in `end_names` (left unconsumed, after "{%").
  Body parse_statements(const std::vector<std::string_view>& end_names) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token& t = current();
      if (t.type == TokenType::End) {
        if (!end_names.empty()) {
          std::string expected;
          for (auto n : end_names) expected += (expected.empty() ? "'" : " or '") + std::string(n) + "'";
          error("unexpected end of template, expected " + expected);
        }
        return body;
      }
      if (t.type == TokenType::Data) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Text;
        s->line = t.line;
        s->text = next().text;
        body.push_back(std::move(s));
      } else if (t.type == TokenType::VariableBegin) {
        next();
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Output;
        s->line = current().line;
        s->expr = parse_tuple(false, true, {});
        expect(TokenType::VariableEnd);
        body.push_back(std::move(s));
      } else if (t.type == TokenType::BlockBegin) {
        next();
        if (current().type == TokenType::Name &&
            std::find(end_names.begin(), end_names.end(), current().text) != end_names.end())
          return body;
        body.push_back(parse_statement());
      } else {
        error(fmt::format("unexpected {}", describe(t.type)));
      }
    }
  }

  // Body of a block ending in `end_name`: consumes the end tag.
  Body parse_block_body(std::string_view end_name) {
    Body body = parse_statements({end_name});
    next();  // the end name
    expect(TokenType::BlockEnd);
    return body;
  }

  std::unique_ptr<Stmt> parse_statement() {
    if (current().type != TokenType::Name) error("tag name expected");
    const int line = current().line;
    const std::string tag = current().text;
    auto s = std::make_unique<Stmt>();
    s->line = line;
    if (tag == "for") return parse_for(std::move(s));
    if (tag == "if") return parse_if(std::move(s));
    if (tag == "set") return parse_set(std::move(s));
    if (tag == "macro") return parse_macro(std::move(s));
    if (tag == "filter") {
      next();
      s->kind = StmtKind::FilterBlock;
      s->expr = parse_filter(nullptr, true);
      expect(TokenType::BlockEnd);
      s->body = parse_block_body("endfilter");
      return s;
    }
    if (tag == "with") return parse_with(std::move(s));
    if (tag == "generation") {
      next();
      expect(TokenType::BlockEnd);
      s->kind = StmtKind::Generation;
      s->body = parse_block_body("endgeneration");
      return s;
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) error(fmt::format("'{}' outside of a for loop", tag));
      next();
      expect(TokenType::BlockEnd);
      s->kind = tag == "break" ? StmtKind::Break : StmtKind::Continue;
      return s;
    }
    if (tag == "call" || tag == "include" || tag == "import" || tag == "from" || tag == "extends" || tag == "block" ||
        tag == "autoescape" || tag == "trans")
      not_supported(fmt::format("tag '{}'", tag), line);
    error(fmt::format("encountered unknown tag '{}'", tag));
  }

  std::unique_ptr<Stmt> parse_for(std::unique_ptr<Stmt> s) {
    next();
    s->kind = StmtKind::For;
    s->target = parse_assign_target(false, {"in"});
    expect_name("in");
    s->expr = parse_tuple(false, false, {"recursive"});
    if (skip_name("if")) s->condition = parse_expression(true);
    if (at_name("recursive")) not_supported("recursive for loops", current().line);
    expect(TokenType::BlockEnd);
    ++loop_depth_;
    s->body = parse_statements({"endfor", "else"});
    --loop_depth_;
    if (skip_name("else")) {
      expect(TokenType::BlockEnd);
      s->else_body = parse_statements({"endfor"});
    }
    next();  // endfor
    expect(TokenType::BlockEnd);
    return s;
  }

  std::unique_ptr<Stmt> parse_if(std::unique_ptr<Stmt> s) {
    next();
    s->kind = StmtKind::If;
    while (true) {
      ExprPtr condition = parse_tuple(false, false, {});
      expect(TokenType::BlockEnd);
      Body body = parse_statements({"elif", "else", "endif"});
      s->branches.emplace_back(std::move(condition), std::move(body));
      if (skip_name("elif")) continue;
      if (skip_name("else")) {
        expect(TokenType::BlockEnd);
        s->else_body = parse_statements({"endif"});
      }
      next();  // endif
      expect(TokenType::BlockEnd);
      return s;
    }
  }

  std::unique_ptr<Stmt> parse_set(std::unique_ptr<Stmt> s) {
    next();
    s->target = parse_assign_target(true, {});
    if (skip_op("=")) {
      s->kind = StmtKind::Set;
      s->expr = parse_tuple(false, true, {});
      expect(TokenType::BlockEnd);
      return s;
    }
    s->kind = StmtKind::SetBlock;
    if (at_op("|")) s->expr = parse_filter(nullptr, false);
    expect(TokenType::BlockEnd);
    s->body = parse_block_body("endset");
    return s;
  }

  std::unique_ptr<Stmt> parse_macro(std::unique_ptr<Stmt> s) {
    next();
    s->kind = StmtKind::Macro;
    auto m = std::make_unique<MacroStmt>();
    m->name = expect_identifier();
    expect_op("(");
    while (!at_op(")")) {
      if (!m->parameters.empty()) expect_op(",");
      m->parameters.push_back(expect_identifier());
      if (skip_op("=")) {
        m->defaults.push_back(parse_expression(true));
      } else {
        if (!m->defaults.empty() && m->defaults.back()) error("non-default argument follows default argument");
        m->defaults.push_back(nullptr);
      }
    }
    expect_op(")");
    expect(TokenType::BlockEnd);
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    m->body = parse_block_body("endmacro");
    loop_depth_ = saved_loop_depth;
    find_special_names(m->body, *m);
    s->macro = std::move(m);
    return s;
  }

  std::unique_ptr<Stmt> parse_with(std::unique_ptr<Stmt> s) {
    next();
    s->kind = StmtKind::With;
    while (current().type != TokenType::BlockEnd) {
      if (!s->assignments.empty()) expect_op(",");
      Target target = parse_assign_target(false, {});
      expect_op("=");
      s->assignments.emplace_back(std::move(target), parse_expression(true));
    }
    next();
    s->body = parse_block_body("endwith");
    return s;
  }

  Target parse_assign_target(bool with_namespace, const std::vector<std::string_view>& extra_end) {
    Target t;
    if (with_namespace && look().type == TokenType::Operator && look().text == ".") {
      t.kind = Target::Kind::NamespaceAttribute;
      t.names.push_back(expect_identifier());
      next();  // '.'
      t.attribute = expect_identifier();
      return t;
    }
    // A name, or names separated by commas (a tuple), optionally in parentheses.
    const bool parenthesized = skip_op("(");
    while (true) {
      if (current().type != TokenType::Name) error(fmt::format("can't assign to {}", describe_current()));
      t.names.push_back(next().text);
      if (!at_op(",")) break;
      next();
      t.kind = Target::Kind::Tuple;
      if (at_op(")") || at_op("=") || current().type == TokenType::BlockEnd) break;
      if (current().type == TokenType::Name &&
          std::find(extra_end.begin(), extra_end.end(), current().text) != extra_end.end())
        break;
    }
    if (parenthesized) {
      expect_op(")");
      if (t.names.size() == 1 && t.kind == Target::Kind::Name) return t;
      t.kind = Target::Kind::Tuple;
    }
    for (const auto& n : t.names)
      if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" || n == "None")
        error(fmt::format("can't assign to constant '{}'", n));
    return t;
  }

  // Jinja rejects unknown filters and tests when it compiles the template, except inside `if`
  // statements and conditional expressions ("soft" frames), where they fail only if evaluated.
  void check_names(const Body& body, bool soft) {
    for (const auto& s : body) {
      switch (s->kind) {
        case StmtKind::If:
          for (const auto& [cond, b] : s->branches) {
            check_names(cond.get(), true);
            check_names(b, true);
          }
          check_names(s->else_body, true);
          break;
        case StmtKind::For:
          check_names(s->expr.get(), soft);
          check_names(s->condition.get(), false);
          check_names(s->body, false);
          check_names(s->else_body, false);
          break;
        case StmtKind::With:
          for (const auto& [target, e] : s->assignments) check_names(e.get(), soft);
          check_names(s->body, false);
          break;
        case StmtKind::Macro:
          for (const auto& d : s->macro->defaults) check_names(d.get(), false);
          check_names(s->macro->body, false);
          break;
        case StmtKind::Output:
        case StmtKind::Set: check_names(s->expr.get(), soft); break;
        default:  // set blocks, filter blocks and generation render their bodies in a new frame
          check_names(s->expr.get(), false);
          check_names(s->body, false);
      }
    }
  }
  void check_names(const Expr* e, bool soft) {
    if (!e) return;
    if (e->kind == ExprKind::CondExpr) soft = true;
    if (!soft && e->kind == ExprKind::Filter && !is_jinja_filter(e->name))
      throw TemplateError(ErrorKind::Syntax, origin_, e->line, fmt::format("no filter named '{}'", e->name));
    if (!soft && e->kind == ExprKind::Test && !is_jinja_test(e->name))
      throw TemplateError(ErrorKind::Syntax, origin_, e->line, fmt::format("no test named '{}'", e->name));
    for (const auto& o : e->operands) check_names(o.get(), soft);
    for (const auto& o : e->args.positional) check_names(o.get(), soft);
    for (const auto& [k, o] : e->args.keywords) check_names(o.get(), soft);
    check_names(e->args.star.get(), soft);
    check_names(e->args.star_star.get(), soft);
  }

  // Marks macros whose body reads `varargs` or `kwargs` (Jinja then accepts extra arguments).
  void find_special_names(const Body& body, MacroStmt& m) {
    for (const auto& s : body) {
      for (const Expr* e : {s->expr.get(), s->condition.get()}) find_special_names(e, m);
      for (const auto& [cond, b] : s->branches) {
        find_special_names(cond.get(), m);
        find_special_names(b, m);
      }
      for (const auto& [target, e] : s->assignments) find_special_names(e.get(), m);
      find_special_names(s->body, m);
      find_special_names(s->else_body, m);
    }
  }
  void find_special_names(const Expr* e, MacroStmt& m) {
    if (!e) return;
    if (e->kind == ExprKind::Name) {
      m.uses_varargs |= e->name == "varargs";
      m.uses_kwargs |= e->name == "kwargs";
    }
    for (const auto& o : e->operands) find_special_names(o.get(), m);
    for (const auto& o : e->args.positional) find_special_names(o.get(), m);
    for (const auto& [k, o] : e->args.keywords) find_special_names(o.get(), m);
    find_special_names(e->args.star.get(), m);
    find_special_names(e->args.star_star.get(), m);
  }

  // -- expressions ---------------------------------------------------------------------------
  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    ExprPtr expr = parse_or();
    while (at_name("if")) {
      const int line = next().line;
      ExprPtr condition = parse_or();
      ExprPtr otherwise;
      if (skip_name("else")) otherwise = parse_condexpr();
      auto n = node(ExprKind::CondExpr, line);
      n->operands.push_back(std::move(condition));
      n->operands.push_back(std::move(expr));
      n->operands.push_back(std::move(otherwise));
      expr = std::move(n);
    }
    return expr;
  }

  ExprPtr binary(ExprKind kind, ExprPtr left, ExprPtr right, int line, std::string op = {}) {
    auto n = node(kind, line);
    n->name = std::move(op);
    n->operands.push_back(std::move(left));
    n->operands.push_back(std::move(right));
    return n;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (at_name("or")) {
      const int line = next().line;
      left = binary(ExprKind::Or, std::move(left), parse_and(), line);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (at_name("and")) {
      const int line = next().line;
      left = binary(ExprKind::And, std::move(left), parse_not(), line);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (at_name("not")) {
      DepthGuard guard(*this);
      auto n = node(ExprKind::Not, next().line);
      n->operands.push_back(parse_not());
      return n;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const int line = current().line;
    ExprPtr expr = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (current().type == TokenType::Operator &&
          (current().text == "==" || current().text == "!=" || current().text == "<" || current().text == "<=" ||
           current().text == ">" || current().text == ">=")) {
        op = next().text;
      } else if (skip_name("in")) {
        op = "in";
      } else if (at_name("not") && look().type == TokenType::Name && look().text == "in") {
        next();
        next();
        op = "notin";
      } else {
        break;
      }
      if (!cmp) {
        cmp = node(ExprKind::Compare, line);
        cmp->operands.push_back(std::move(expr));
      }
      cmp->compare_ops.push_back(op);
      cmp->operands.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(expr);
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (at_op("+") || at_op("-")) {
      const Token& t = next();
      left = binary(ExprKind::Binary, std::move(left), parse_concat(), t.line, t.text);
    }
    return left;
  }

  ExprPtr parse_concat() {
    const int line = current().line;
    ExprPtr first = parse_math2();
    if (!at_op("~")) return first;
    auto n = node(ExprKind::Concat, line);
    n->operands.push_back(std::move(first));
    while (skip_op("~")) n->operands.push_back(parse_math2());
    return n;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const Token& t = next();
      left = binary(ExprKind::Binary, std::move(left), parse_pow(), t.line, t.text);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (at_op("**")) {
      const int line = next().line;
      left = binary(ExprKind::Binary, std::move(left), parse_unary(true), line, "**");
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr n;
    if (at_op("-") || at_op("+")) {
      const Token& t = next();
      n = node(t.text == "-" ? ExprKind::Neg : ExprKind::Pos, t.line);
      n->operands.push_back(parse_unary(false));
    } else {
      n = parse_primary();
    }
    n = parse_postfix(std::move(n));
    if (with_filter) n = parse_filter_expr(std::move(n));
    return n;
  }

  ExprPtr parse_primary() {
    const Token& t = current();
    const int line = t.line;
    if (t.type == TokenType::Name) {
      next();
      auto n = node(ExprKind::Const, line);
      if (t.text == "true" || t.text == "True") n->constant = Value::boolean(true);
      else if (t.text == "false" || t.text == "False") n->constant = Value::boolean(false);
      else if (t.text == "none" || t.text == "None") n->constant = Value::none();
      else n->kind = ExprKind::Name, n->name = t.text;
      return n;
    }
    if (t.type == TokenType::String) {
      std::string s = next().text;
      while (current().type == TokenType::String) s += next().text;  // adjacent literals concatenate
      auto n = node(ExprKind::Const, line);
      n->constant = Value::string(std::move(s));
      return n;
    }
    if (t.type == TokenType::Integer || t.type == TokenType::Float) {
      next();
      auto n = node(ExprKind::Const, line);
      n->constant = t.type == TokenType::Integer ? Value::integer(t.integer) : Value::real(t.number);
      return n;
    }
    if (at_op("(")) {
      next();
      ExprPtr n = parse_tuple(false, true, {}, true);
      expect_op(")");
      return n;
    }
    if (at_op("[")) {
      next();
      auto n = node(ExprKind::List, line);
      while (!at_op("]")) {
        if (!n->operands.empty()) expect_op(",");
        if (at_op("]")) break;
        n->operands.push_back(parse_expression(true));
      }
      expect_op("]");
      return n;
    }
    if (at_op("{")) {
      next();
      auto n = node(ExprKind::Dict, line);
      while (!at_op("}")) {
        if (!n->operands.empty()) expect_op(",");
        if (at_op("}")) break;
        n->operands.push_back(parse_expression(true));
        expect_op(":");
        n->operands.push_back(parse_expression(true));
      }
      expect_op("}");
      return n;
    }
    error(fmt::format("unexpected {}", describe_current()));
  }

  // Comma-separated expressions; a tuple when there is a comma (or empty parentheses).
  ExprPtr parse_tuple(bool simplified, bool with_condexpr, const std::vector<std::string_view>& extra_end,
                      bool explicit_parentheses = false) {
    const int line = current().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    auto at_tuple_end = [&] {
      const Token& t = current();
      if (t.type == TokenType::VariableEnd || t.type == TokenType::BlockEnd || at_op(")")) return true;
      return t.type == TokenType::Name && std::find(extra_end.begin(), extra_end.end(), t.text) != extra_end.end();
    };
    while (true) {
      if (!items.empty()) expect_op(",");
      if (at_tuple_end()) break;
      items.push_back(simplified ? parse_primary() : parse_expression(with_condexpr));
      if (!at_op(",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parentheses) error(fmt::format("expected an expression, got {}", describe_current()));
    }
    auto n = node(ExprKind::Tuple, line);
    n->operands = std::move(items);
    return n;
  }

  ExprPtr parse_postfix(ExprPtr n) {
    while (true) {
      if (at_op(".") || at_op("[")) n = parse_subscript(std::move(n));
      else if (at_op("(")) n = parse_call(std::move(n));
      else return n;
    }
  }

  ExprPtr parse_filter_expr(ExprPtr n) {
    while (true) {
      if (at_op("|")) n = parse_filter(std::move(n), false);
      else if (at_name("is")) n = parse_test(std::move(n));
      else if (at_op("(")) n = parse_call(std::move(n));
      else return n;
    }
  }

  ExprPtr parse_subscript(ExprPtr object) {
    const Token& t = next();
    if (t.text == ".") {
      const Token& attr = next();
      if (attr.type == TokenType::Name) {
        auto n = node(ExprKind::GetAttr, t.line);
        n->operands.push_back(std::move(object));
        n->name = attr.text;
        return n;
      }
      if (attr.type != TokenType::Integer) error("expected name or number after '.'");
      auto key = node(ExprKind::Const, attr.line);
      key->constant = Value::integer(attr.integer);
      auto n = node(ExprKind::GetItem, t.line);
      n->operands.push_back(std::move(object));
      n->operands.push_back(std::move(key));
      return n;
    }
    std::vector<ExprPtr> keys;
    while (!at_op("]")) {
      if (!keys.empty()) expect_op(",");
      keys.push_back(parse_subscribed());
    }
    expect_op("]");
    if (keys.empty()) error("expected a subscript");
    auto n = node(ExprKind::GetItem, t.line);
    n->operands.push_back(std::move(object));
    if (keys.size() == 1) {
      n->operands.push_back(std::move(keys[0]));
    } else {
      auto tuple = node(ExprKind::Tuple, t.line);
      tuple->operands = std::move(keys);
      n->operands.push_back(std::move(tuple));
    }
    return n;
  }

  ExprPtr parse_subscribed() {
    const int line = current().line;
    std::vector<ExprPtr> parts;
    if (at_op(":")) {
      next();
      parts.push_back(nullptr);
    } else {
      ExprPtr e = parse_expression(true);
      if (!at_op(":")) return e;
      next();
      parts.push_back(std::move(e));
    }
    if (at_op(":")) parts.push_back(nullptr);
    else if (!at_op("]") && !at_op(",")) parts.push_back(parse_expression(true));
    else parts.push_back(nullptr);
    if (skip_op(":")) {
      if (!at_op("]") && !at_op(",")) parts.push_back(parse_expression(true));
      else parts.push_back(nullptr);
    } else {
      parts.push_back(nullptr);
    }
    auto n = node(ExprKind::Slice, line);
    n->operands = std::move(parts);
    return n;
  }

  CallArgs parse_call_args() {
    expect_op("(");
    CallArgs args;
    bool require_comma = false;
    auto ensure = [&](bool ok) {
      if (!ok) error("invalid syntax for function call expression");
    };
    while (!at_op(")")) {
      if (require_comma) {
        expect_op(",");
        if (at_op(")")) break;
      }
      if (at_op("*")) {
        ensure(!args.star && !args.star_star);
        next();
        args.star = parse_expression(true);
      } else if (at_op("**")) {
        ensure(!args.star_star);
        next();
        args.star_star = parse_expression(true);
      } else if (current().type == TokenType::Name && look().type == TokenType::Operator && look().text == "=") {
        ensure(!args.star_star);
        std::string key = next().text;
        next();
        args.keywords.emplace_back(std::move(key), parse_expression(true));
      } else {
        ensure(!args.star && !args.star_star && args.keywords.empty());
        args.positional.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect_op(")");
    return args;
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto n = node(ExprKind::Call, current().line);
    n->args = parse_call_args();
    n->operands.push_back(std::move(callee));
    return n;
  }

  // `operand | name(args) | ...`; with start_inline the first '|' is implied (filter blocks).
  ExprPtr parse_filter(ExprPtr operand, bool start_inline) {
    while (at_op("|") || start_inline) {
      if (!start_inline) next();
      start_inline = false;
      const int line = current().line;
      std::string name = expect_identifier();
      while (at_op(".")) {
        next();
        name += "." + expect_identifier();
      }
      auto n = node(ExprKind::Filter, line);
      n->name = name;
      if (at_op("(")) n->args = parse_call_args();
      n->operands.push_back(std::move(operand));
      operand = std::move(n);
    }
    return operand;
  }

  ExprPtr parse_test(ExprPtr operand) {
    const int line = next().line;  // 'is'
    const bool negated = skip_name("not");
    std::string name = expect_identifier();
    while (at_op(".")) {
      next();
      name += "." + expect_identifier();
    }
    auto n = node(ExprKind::Test, line);
    n->name = name;
    n->operands.push_back(std::move(operand));
    const Token& t = current();
    const bool starts_argument = t.type == TokenType::Name || t.type == TokenType::String ||
                                 t.type == TokenType::Integer || t.type == TokenType::Float || at_op("(") ||
                                 at_op("[") || at_op("{");
    if (at_op("(")) {
      n->args = parse_call_args();
    } else if (starts_argument && !at_name("else") && !at_name("or") && !at_name("and")) {
      if (at_name("is")) error("You cannot chain multiple tests with is");
      n->args.positional.push_back(parse_postfix(parse_primary()));
    }
    if (!negated) return n;
    auto neg = node(ExprKind::Not, line);
    neg->operands.push_back(std::move(n));
    return neg;
  }

  std::vector<Token> tokens_;
  const std::string& origin_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body parse_template(std::string_view source, const std::string& origin) {
  return Parser(tokenize(source, origin), origin).parse();
}

}  // namespace vkllm::frontends::jinja
