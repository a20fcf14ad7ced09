// The syntax tree of a parsed template. Node layout follows Jinja's own (jinja2.nodes), reduced to
// what chat templates use; operator precedence is decided by the parser.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "frontends/chat_template/value.h"

namespace vkllm::frontends::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct CallArgs {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  ExprPtr star;       // f(*args)
  ExprPtr star_star;  // f(**kwargs)
};

enum class ExprKind {
  Const,     // constant
  Name,      // name
  List,      // operands: items
  Tuple,     // operands: items
  Dict,      // operands: key0, value0, key1, value1, ...
  GetAttr,   // operands[0].name
  GetItem,   // operands[0][operands[1]]
  Slice,     // only as a GetItem key: operands start, stop, step (each may be null)
  Call,      // operands[0](args)
  Filter,    // operands[0] | name(args); operands[0] is null in filter blocks
  Test,      // operands[0] is name(args)
  Neg,       // -operands[0]
  Pos,       // +operands[0]
  Not,       // not operands[0]
  And,       // operands[0] and operands[1]
  Or,        // operands[0] or operands[1]
  Binary,    // operands[0] <name> operands[1], name in + - * / // % **
  Concat,    // operands joined with ~
  Compare,   // operands[0] compare_ops[0] operands[1] compare_ops[1] ... (chained, as Python)
  CondExpr,  // operands[1] if operands[0] else operands[2] (operands[2] may be null)
};

struct Expr {
  ExprKind kind;
  int line;
  Value constant;
  std::string name;
  std::vector<ExprPtr> operands;
  std::vector<std::string> compare_ops;  // == != < <= > >= in notin
  CallArgs args;
};

// Where {% set %}, {% for %} and {% with %} store values.
struct Target {
  enum class Kind { Name, Tuple, NamespaceAttribute };
  Kind kind = Kind::Name;
  std::vector<std::string> names;  // one for Name and NamespaceAttribute
  std::string attribute;           // NamespaceAttribute: {% set ns.attribute = ... %}
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

struct MacroStmt {
  std::string name;
  std::vector<std::string> parameters;
  std::vector<ExprPtr> defaults;  // one per parameter; null where it has none
  Body body;
  bool uses_varargs = false;  // the body reads `varargs`: extra positional arguments are allowed
  bool uses_kwargs = false;   // the body reads `kwargs`: extra keyword arguments are allowed
};

enum class StmtKind {
  Text,         // text
  Output,       // {{ expr }}
  If,           // branches (condition, body), else body
  For,          // for target in expr [if condition]: body, else body
  Set,          // set target = expr
  SetBlock,     // set target [| filters] ... endset: body; expr is the filter chain or null
  Macro,        // macro
  FilterBlock,  // filter chain expr ... endfilter: body
  With,         // with assignments: body
  Break,
  Continue,
  Generation,   // transformers' {% generation %}: body, rendered as is
};

struct Stmt {
  StmtKind kind;
  int line;
  std::string text;
  ExprPtr expr;
  ExprPtr condition;
  Target target;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::unique_ptr<MacroStmt> macro;
  std::vector<std::pair<Target, ExprPtr>> assignments;
};

// Names of Jinja's built-in filters and tests (those this interpreter implements and those it
// reports as unsupported).
bool is_jinja_filter(const std::string& name);
bool is_jinja_test(const std::string& name);

// Parses a template; throws TemplateError (Syntax, or Unsupported for valid Jinja this interpreter
// does not implement) naming `origin` and the line.
Body parse_template(std::string_view source, const std::string& origin);

}  // namespace vkllm::frontends::jinja
