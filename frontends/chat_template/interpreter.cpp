#include "frontends/chat_template/interpreter.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "frontends/chat_template/unicode.h"

namespace vkllm::frontends::jinja {

Interpreter::DepthGuard::DepthGuard(Interpreter& i) : in(i) {
  if (++in.depth_ > in.options_.limits.max_depth) {
    --in.depth_;
    throw EvalError(ErrorKind::Limit, fmt::format("evaluation nested more than {} levels deep (runaway recursion?)",
                                                  in.options_.limits.max_depth));
  }
}

Interpreter::Interpreter(const std::string& origin, const RenderOptions& options)
    : origin_(origin), options_(options), heap_(options.limits.max_heap_bytes) {}

void Interpreter::step() {
  if (++steps_ > options_.limits.max_steps)
    throw EvalError(ErrorKind::Limit, fmt::format("rendering took more than {} steps (runaway loop?)", options_.limits.max_steps));
}

void Interpreter::work(size_t units) {
  steps_ += units;
  step();
}

size_t Interpreter::size_units(const Value& v) {
  switch (v.kind()) {
    case Kind::String: return v.as_string().size() / 64;
    case Kind::List: return v.as_list().items.size();
    case Kind::Dict: return v.as_dict().entries.size();
    default: return 0;
  }
}

void Interpreter::append(std::string& out, std::string_view text) {
  if (out.size() + text.size() > options_.limits.max_output_bytes)
    throw EvalError(ErrorKind::Limit, fmt::format("the output grew past {} MiB", options_.limits.max_output_bytes >> 20));
  out += text;
}

Value Interpreter::make_string(std::string s, bool markup) {
  if (s.size() > options_.limits.max_output_bytes)
    throw EvalError(ErrorKind::Limit, fmt::format("a string grew past {} MiB", options_.limits.max_output_bytes >> 20));
  heap_.charge(s.size());
  return Value::string(std::move(s), markup);
}

Value Interpreter::make_list(std::vector<Value> items, List::Type type) { return Value::list(heap_.new_list(std::move(items), type)); }

Value Interpreter::from_json(const nlohmann::ordered_json& j, int depth) {
  if (depth > 128) throw EvalError(ErrorKind::Request, "request data nested more than 128 levels deep");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        throw EvalError(ErrorKind::Unsupported, fmt::format("unsupported integer {} in the request (beyond 64 bits)", u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value::real(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return make_string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(from_json(item, depth + 1));
      return make_list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict* d = heap_.new_dict();
      for (const auto& [key, value] : j.items()) d->set(key, from_json(value, depth + 1));
      return Value::dict(d);
    }
    default: throw EvalError(ErrorKind::Request, "binary values are not supported in the request");
  }
}

std::string Interpreter::render(const Body& body, const nlohmann::ordered_json& variables) {
  std::string out;
  try {
    Scope* builtins = heap_.new_scope(nullptr);
    install_globals(builtins);
    Scope* globals = heap_.new_scope(builtins);
    if (!variables.is_object()) throw EvalError(ErrorKind::Request, "template variables must be a JSON object");
    for (const auto& [key, value] : variables.items()) globals->variables.set(key, from_json(value));
    exec(body, globals, out);
  } catch (const EvalError& e) {
    throw TemplateError(e.kind(), origin_, 0, e.what());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Statements

Interpreter::Flow Interpreter::exec(const Body& body, Scope* scope, std::string& out) {
  for (const auto& s : body) {
    const Flow f = exec_stmt(*s, scope, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_stmt(const Stmt& s, Scope* scope, std::string& out) {
  try {
    step();
    DepthGuard guard(*this);
    switch (s.kind) {
      case StmtKind::Text: append(out, s.text); return Flow::Normal;
      case StmtKind::Output: append(out, to_str(eval(*s.expr, scope))); return Flow::Normal;
      case StmtKind::If:
        for (const auto& [condition, body] : s.branches)
          if (truthy(eval(*condition, scope))) return exec(body, scope, out);
        return exec(s.else_body, scope, out);
      case StmtKind::For: exec_for(s, scope, out); return Flow::Normal;
      case StmtKind::Set: assign(s.target, eval(*s.expr, scope), scope); return Flow::Normal;
      case StmtKind::SetBlock: {
        std::string captured;
        exec(s.body, heap_.new_scope(scope), captured);
        Value value = make_string(std::move(captured));
        if (s.expr) value = eval_filter(*s.expr, scope, &value);
        assign(s.target, value, scope);
        return Flow::Normal;
      }
      case StmtKind::Macro: {
        Function f;
        f.name = s.macro->name;
        f.macro = s.macro.get();
        f.closure = scope;
        scope->variables.set(s.macro->name, Value::function(heap_.new_function(std::move(f))));
        return Flow::Normal;
      }
      case StmtKind::FilterBlock: {
        std::string captured;
        exec(s.body, heap_.new_scope(scope), captured);
        const Value input = make_string(std::move(captured));
        append(out, to_str(eval_filter(*s.expr, scope, &input)));
        return Flow::Normal;
      }
      case StmtKind::With: {
        std::vector<Value> values;
        for (const auto& [target, expr] : s.assignments) values.push_back(eval(*expr, scope));
        Scope* inner = heap_.new_scope(scope);
        for (size_t i = 0; i < values.size(); ++i) assign(s.assignments[i].first, values[i], inner);
        return exec(s.body, inner, out);
      }
      case StmtKind::Break: return Flow::Break;
      case StmtKind::Continue: return Flow::Continue;
      case StmtKind::Generation: return exec(s.body, scope, out);
    }
  } catch (const EvalError& e) {
    throw TemplateError(e.kind(), origin_, s.line, e.what());
  }
  return Flow::Normal;
}

void Interpreter::assign(const Target& target, const Value& value, Scope* scope) {
  switch (target.kind) {
    case Target::Kind::Name: scope->variables.set(target.names[0], value); return;
    case Target::Kind::Tuple: {
      const std::vector<Value> items = iterate(value);
      if (items.size() < target.names.size())
        fail(fmt::format("not enough values to unpack (expected {}, got {})", target.names.size(), items.size()));
      if (items.size() > target.names.size())
        fail(fmt::format("too many values to unpack (expected {})", target.names.size()));
      for (size_t i = 0; i < items.size(); ++i) scope->variables.set(target.names[i], items[i]);
      return;
    }
    case Target::Kind::NamespaceAttribute: {
      const Value ns = lookup(target.names[0], scope);
      if (ns.kind() != Kind::Object || ns.as_object().type != Object::Type::Namespace)
        fail("cannot assign attribute on non-namespace object");
      ns.as_object().attributes.set(target.attribute, value);
      return;
    }
  }
}

// Jinja gives every iteration a fresh frame: what the body assigns is visible for the rest of
// that iteration only, and the next one starts again from the enclosing scope's values.
void Interpreter::exec_for(const Stmt& s, Scope* scope, std::string& out) {
  std::vector<Value> items = iterate(eval(*s.expr, scope));
  if (s.condition) {
    std::vector<Value> kept;
    for (const Value& item : items) {
      step();
      Scope* probe = heap_.new_scope(scope);
      assign(s.target, item, probe);
      if (truthy(eval(*s.condition, probe))) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    exec(s.else_body, heap_.new_scope(scope), out);
    return;
  }
  Object* loop = heap_.new_object(Object::Type::Loop);
  const Value loop_value = Value::object(loop);
  Function cycle;
  cycle.name = "cycle";
  cycle.native = [loop](Interpreter&, CallArguments& args) -> Value {
    if (!args.keywords.empty()) fail("loop.cycle() takes no keyword arguments");
    if (args.positional.empty()) fail("no items for cycling given");
    const int64_t index0 = loop->attributes.find("index0")->as_int();
    return args.positional[static_cast<size_t>(index0) % args.positional.size()];
  };
  Function changed;
  changed.name = "changed";
  changed.native = [](Interpreter&, CallArguments&) -> Value { unsupported("loop.changed()"); };
  Dict& a = loop->attributes;
  a.set("cycle", Value::function(heap_.new_function(std::move(cycle))));
  a.set("changed", Value::function(heap_.new_function(std::move(changed))));
  a.set("depth", Value::integer(1));
  a.set("depth0", Value::integer(0));
  const auto n = static_cast<int64_t>(items.size());
  a.set("length", Value::integer(n));
  for (int64_t i = 0; i < n; ++i) {
    a.set("index", Value::integer(i + 1));
    a.set("index0", Value::integer(i));
    a.set("revindex", Value::integer(n - i));
    a.set("revindex0", Value::integer(n - i - 1));
    a.set("first", Value::boolean(i == 0));
    a.set("last", Value::boolean(i == n - 1));
    a.set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item"));
    a.set("nextitem", i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item"));
    step();
    Scope* iteration = heap_.new_scope(scope);
    iteration->variables.set("loop", loop_value);
    assign(s.target, items[static_cast<size_t>(i)], iteration);
    if (exec(s.body, iteration, out) == Flow::Break) break;
  }
}

// ---------------------------------------------------------------------------------------------
// Expressions

Value Interpreter::eval(const Expr& e, Scope* scope) {
  try {
    step();
    DepthGuard guard(*this);
    return eval_inner(e, scope);
  } catch (const EvalError& err) {
    throw TemplateError(err.kind(), origin_, e.line, err.what());
  }
}

Value Interpreter::lookup(const std::string& name, Scope* scope) {
  for (Scope* s = scope; s; s = s->parent)
    if (const Value* v = s->variables.find(name)) return *v;
  return Value::undefined(fmt::format("'{}' is undefined", name));
}

CallArguments Interpreter::eval_args(const CallArgs& a, Scope* scope) {
  CallArguments args;
  for (const auto& p : a.positional) args.positional.push_back(eval(*p, scope));
  if (a.star)
    for (Value& v : iterate(eval(*a.star, scope))) args.positional.push_back(std::move(v));
  auto add_keyword = [&](const std::string& key, Value v) {
    for (const auto& [k, existing] : args.keywords)
      if (k == key) fail(fmt::format("got multiple values for keyword argument '{}'", key));
    args.keywords.emplace_back(key, std::move(v));
  };
  for (const auto& [key, expr] : a.keywords) add_keyword(key, eval(*expr, scope));
  if (a.star_star) {
    const Value kw = eval(*a.star_star, scope);
    if (kw.kind() != Kind::Dict) fail(fmt::format("argument after ** must be a mapping, not {}", type_name(kw)));
    for (const auto& [key, v] : kw.as_dict().entries) add_keyword(key, v);
  }
  return args;
}

Value Interpreter::eval_filter(const Expr& e, Scope* scope, const Value* block_input) {
  const Value operand = e.operands[0] ? (e.operands[0]->kind == ExprKind::Filter ? eval_filter(*e.operands[0], scope, block_input)
                                                                               : eval(*e.operands[0], scope))
                                      : *block_input;
  CallArguments args = eval_args(e.args, scope);
  try {
    return apply_filter(e.name, operand, args);
  } catch (const EvalError& err) {
    throw TemplateError(err.kind(), origin_, e.line, err.what());
  }
}

Value Interpreter::eval_inner(const Expr& e, Scope* scope) {
  switch (e.kind) {
    case ExprKind::Const: return e.constant;
    case ExprKind::Name: return lookup(e.name, scope);
    case ExprKind::List:
    case ExprKind::Tuple: {
      std::vector<Value> items;
      for (const auto& item : e.operands) items.push_back(eval(*item, scope));
      return make_list(std::move(items), e.kind == ExprKind::Tuple ? List::Type::Tuple : List::Type::List);
    }
    case ExprKind::Dict: {
      Dict* d = heap_.new_dict();
      for (size_t i = 0; i + 1 < e.operands.size(); i += 2) {
        const Value key = eval(*e.operands[i], scope);
        if (!key.is_string()) unsupported(fmt::format("dict literal with a non-string key ({})", type_name(key)));
        d->set(key.as_string(), eval(*e.operands[i + 1], scope));
      }
      return Value::dict(d);
    }
    case ExprKind::GetAttr: return get_attr(eval(*e.operands[0], scope), e.name);
    case ExprKind::GetItem: {
      const Value object = eval(*e.operands[0], scope);
      if (e.operands[1]->kind == ExprKind::Slice) return slice(object, *e.operands[1], scope);
      return get_item(object, eval(*e.operands[1], scope));
    }
    case ExprKind::Slice: unsupported("slice outside of a subscript");
    case ExprKind::Call: {
      const Value callee = eval(*e.operands[0], scope);
      CallArguments args = eval_args(e.args, scope);
      return call(callee, args);
    }
    case ExprKind::Filter: return eval_filter(e, scope, nullptr);
    case ExprKind::Test: {
      const Value operand = eval(*e.operands[0], scope);
      CallArguments args = eval_args(e.args, scope);
      return Value::boolean(apply_test(e.name, operand, args));
    }
    case ExprKind::Neg:
    case ExprKind::Pos: {
      const Value v = eval(*e.operands[0], scope);
      const char* op = e.kind == ExprKind::Neg ? "-" : "+";
      if (v.is_undefined()) fail(v.undefined_hint());
      if (v.kind() == Kind::Float) return Value::real(e.kind == ExprKind::Neg ? -v.as_float() : v.as_float());
      if (v.kind() == Kind::Int || v.kind() == Kind::Bool) {
        const int64_t i = v.kind() == Kind::Bool ? v.as_bool() : v.as_int();
        if (e.kind == ExprKind::Pos) return Value::integer(i);
        if (i == std::numeric_limits<int64_t>::min()) unsupported("integer arithmetic beyond 64 bits");
        return Value::integer(-i);
      }
      fail(fmt::format("bad operand type for unary {}: '{}'", op, type_name(v)));
    }
    case ExprKind::Not: return Value::boolean(!truthy(eval(*e.operands[0], scope)));
    case ExprKind::And: {
      Value left = eval(*e.operands[0], scope);
      return truthy(left) ? eval(*e.operands[1], scope) : left;
    }
    case ExprKind::Or: {
      Value left = eval(*e.operands[0], scope);
      return truthy(left) ? left : eval(*e.operands[1], scope);
    }
    case ExprKind::Binary: {
      const Value left = eval(*e.operands[0], scope);
      const Value right = eval(*e.operands[1], scope);
      return e.name == "+" ? add(left, right) : arithmetic(e.name, left, right);
    }
    case ExprKind::Concat: {
      std::string s;
      for (const auto& part : e.operands) s += to_str(eval(*part, scope));
      return make_string(std::move(s));
    }
    case ExprKind::Compare: {
      Value left = eval(*e.operands[0], scope);
      for (size_t i = 0; i < e.compare_ops.size(); ++i) {
        Value right = eval(*e.operands[i + 1], scope);
        const std::string& op = e.compare_ops[i];
        bool ok;
        if (op == "==") ok = equals(left, right);
        else if (op == "!=") ok = !equals(left, right);
        else if (op == "in") ok = contains(right, left);
        else if (op == "notin") ok = !contains(right, left);
        else {
          const int c = compare(left, right);
          ok = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
        }
        if (!ok) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case ExprKind::CondExpr:
      if (truthy(eval(*e.operands[0], scope))) return eval(*e.operands[1], scope);
      if (e.operands[2]) return eval(*e.operands[2], scope);
      return Value::undefined(fmt::format("the inline if-expression on line {} evaluated to false and no else section was defined.", e.line));
  }
  return Value::undefined("unknown expression");
}

// Python slicing (list[a:b:c], str[a:b:c]) with PySlice_AdjustIndices' bounds rules. Jinja
// compiles slices to a plain Python subscript, so misuse raises instead of giving undefined.
Value Interpreter::slice(const Value& object, const Expr& slice_expr, Scope* scope) {
  std::optional<int64_t> bounds[3];
  for (int k = 0; k < 3; ++k) {
    if (!slice_expr.operands[static_cast<size_t>(k)]) continue;
    const Value b = eval(*slice_expr.operands[static_cast<size_t>(k)], scope);
    if (b.is_none()) continue;
    if (b.kind() == Kind::Int) bounds[k] = b.as_int();
    else if (b.kind() == Kind::Bool) bounds[k] = b.as_bool();
    else if (!(object.is_string() || (object.kind() == Kind::List && object.as_list().indexable()))) break;
    else fail("slice indices must be integers or None or have an __index__ method");
  }
  if (object.is_undefined()) fail(object.undefined_hint());
  const int64_t step = bounds[2].value_or(1);
  if (step == 0) fail("slice step cannot be zero");
  std::vector<Value> source;
  std::u32string text;
  int64_t length;
  if (object.is_string()) {
    text = utf8_to_u32(object.as_string());
    length = static_cast<int64_t>(text.size());
  } else if (object.kind() == Kind::List && object.as_list().indexable()) {
    length = static_cast<int64_t>(object.as_list().items.size());
  } else {
    fail(fmt::format("'{}' object is not subscriptable", type_name(object)));
  }
  auto adjust = [&](std::optional<int64_t> v, int64_t fallback, int64_t low, int64_t high) {
    if (!v) return fallback;
    int64_t x = *v;
    if (x < 0) x += length;
    return std::clamp(x, low, high);
  };
  const int64_t start = step > 0 ? adjust(bounds[0], 0, 0, length) : adjust(bounds[0], length - 1, -1, length - 1);
  const int64_t stop = step > 0 ? adjust(bounds[1], length, 0, length) : adjust(bounds[1], -1, -1, length - 1);
  std::vector<size_t> picked;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) picked.push_back(static_cast<size_t>(i));
  if (object.is_string()) {
    std::u32string out;
    for (size_t i : picked) out += text[i];
    return make_string(u32_to_utf8(out), object.is_markup());
  }
  const List& l = object.as_list();
  std::vector<Value> items;
  for (size_t i : picked) items.push_back(l.items[i]);
  return make_list(std::move(items), l.type == List::Type::Tuple ? List::Type::Tuple : List::Type::List);
}

Value Interpreter::call(const Value& callee, CallArguments& args) {
  if (callee.kind() == Kind::Function) {
    Function& f = callee.as_function();
    if (f.macro) return call_macro(f, args);
    return f.native(*this, args);
  }
  if (callee.is_undefined()) fail(callee.undefined_hint());
  if (callee.kind() == Kind::Object && callee.as_object().type == Object::Type::Loop)
    unsupported("calling loop() (recursive for loops)");
  fail(fmt::format("'{}' object is not callable", type_name(callee)));
}

Value Interpreter::call_macro(const Function& f, CallArguments& args) {
  DepthGuard guard(*this);
  const MacroStmt& m = *f.macro;
  Scope* scope = heap_.new_scope(f.closure);
  std::vector<bool> bound(m.parameters.size(), false);
  std::vector<Value> extra_positional;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < m.parameters.size()) {
      scope->variables.set(m.parameters[i], args.positional[i]);
      bound[i] = true;
    } else {
      extra_positional.push_back(args.positional[i]);
    }
  }
  if (!extra_positional.empty() && !m.uses_varargs)
    fail(fmt::format("macro '{}' takes not more than {} argument(s)", m.name, m.parameters.size()));
  Dict* extra_keywords = heap_.new_dict();
  for (const auto& [key, value] : args.keywords) {
    auto it = std::find(m.parameters.begin(), m.parameters.end(), key);
    if (it == m.parameters.end()) {
      if (!m.uses_kwargs) fail(fmt::format("macro '{}' takes no keyword argument '{}'", m.name, key));
      extra_keywords->set(key, value);
      continue;
    }
    const size_t i = static_cast<size_t>(it - m.parameters.begin());
    if (bound[i]) fail(fmt::format("macro '{}' got multiple values for argument '{}'", m.name, key));
    scope->variables.set(key, value);
    bound[i] = true;
  }
  if (m.uses_varargs) scope->variables.set("varargs", make_list(std::move(extra_positional), List::Type::Tuple));
  if (m.uses_kwargs) scope->variables.set("kwargs", Value::dict(extra_keywords));
  for (size_t i = 0; i < m.parameters.size(); ++i) {
    if (bound[i]) continue;
    scope->variables.set(m.parameters[i], m.defaults[i] ? eval(*m.defaults[i], scope)
                                                        : Value::undefined(fmt::format("parameter '{}' was not provided", m.parameters[i])));
  }
  std::string out;
  exec(m.body, scope, out);
  return make_string(std::move(out));
}

// ---------------------------------------------------------------------------------------------
// Operators

namespace {

int64_t as_integer(const Value& v) { return v.kind() == Kind::Bool ? (v.as_bool() ? 1 : 0) : v.as_int(); }

[[noreturn]] void overflow() { unsupported("integer arithmetic beyond 64 bits"); }

// Python's float floor division and modulo (float_divmod).
std::pair<double, double> float_divmod(double x, double y) {
  double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0) {
    if ((y < 0) != (mod < 0)) {
      mod += y;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, y);
  }
  double floordiv;
  if (div != 0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, x / y);
  }
  return {floordiv, mod};
}

}  // namespace

bool Interpreter::contains(const Value& container, const Value& item) {
  work(size_units(container));
  switch (container.kind()) {
    case Kind::Undefined: return false;
    case Kind::String:
      if (!item.is_string()) fail(fmt::format("'in <string>' requires string as left operand, not {}", type_name(item)));
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Kind::List:
      for (const Value& v : iterate(container))
        if (equals(v, item)) return true;
      return false;
    case Kind::Dict:
      if (item.kind() == Kind::List && item.as_list().type != List::Type::Tuple) fail(fmt::format("unhashable type: '{}'", type_name(item)));
      if (item.kind() == Kind::Dict) fail("unhashable type: 'dict'");
      return item.is_string() && container.as_dict().find(item.as_string()) != nullptr;
    default: fail(fmt::format("argument of type '{}' is not iterable", type_name(container)));
  }
}

Value Interpreter::add(const Value& a, const Value& b) {
  if (a.is_undefined()) fail(a.undefined_hint());
  if (b.is_undefined()) fail(b.undefined_hint());
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Kind::Float || b.kind() == Kind::Float) return Value::real(a.to_double() + b.to_double());
    int64_t r;
    if (__builtin_add_overflow(as_integer(a), as_integer(b), &r)) overflow();
    return Value::integer(r);
  }
  if (a.is_string() && b.is_string()) {
    // markupsafe: adding plain text to a Markup string escapes the plain text.
    if (a.is_markup() != b.is_markup())
      return make_string(a.is_markup() ? a.as_string() + escape_html(b.as_string()) : escape_html(a.as_string()) + b.as_string(), true);
    return make_string(a.as_string() + b.as_string(), a.is_markup());
  }
  if (a.kind() == Kind::List && b.kind() == Kind::List) {
    const List& x = a.as_list();
    const List& y = b.as_list();
    if ((x.type == List::Type::List || x.type == List::Type::Tuple) && x.type == y.type) {
      std::vector<Value> items = x.items;
      items.insert(items.end(), y.items.begin(), y.items.end());
      return make_list(std::move(items), x.type);
    }
  }
  if (a.is_string()) fail(fmt::format("can only concatenate str (not \"{}\") to str", type_name(b)));
  if (a.kind() == Kind::List && a.as_list().type == List::Type::List)
    fail(fmt::format("can only concatenate list (not \"{}\") to list", type_name(b)));
  fail(fmt::format("unsupported operand type(s) for +: '{}' and '{}'", type_name(a), type_name(b)));
}

Value Interpreter::arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (op == "%" && a.is_string()) unsupported("printf-style '%' formatting of strings");
  if (a.is_undefined()) fail(a.undefined_hint());
  if (b.is_undefined()) fail(b.undefined_hint());
  if (a.is_number() && b.is_number()) {
    const bool floating = a.kind() == Kind::Float || b.kind() == Kind::Float;
    if (op == "/") {
      if (b.to_double() == 0) fail(floating ? "float division by zero" : "division by zero");
      return Value::real(a.to_double() / b.to_double());
    }
    if (floating) {
      const double x = a.to_double(), y = b.to_double();
      if (op == "-") return Value::real(x - y);
      if (op == "*") return Value::real(x * y);
      if (op == "//" || op == "%") {
        if (y == 0) fail(op == "//" ? "float floor division by zero" : "float modulo");
        const auto [q, r] = float_divmod(x, y);
        return Value::real(op == "//" ? q : r);
      }
      if (op == "**") {
        if (x == 0 && y < 0) fail("0.0 cannot be raised to a negative power");
        if (x < 0 && std::floor(y) != y) unsupported("a negative number raised to a fractional power (a complex result)");
        const double r = std::pow(x, y);
        if (std::isinf(r) && !std::isinf(x)) fail("(34, 'Numerical result out of range')");
        return Value::real(r);
      }
    } else {
      const int64_t x = as_integer(a), y = as_integer(b);
      int64_t r;
      if (op == "-") {
        if (__builtin_sub_overflow(x, y, &r)) overflow();
        return Value::integer(r);
      }
      if (op == "*") {
        if (__builtin_mul_overflow(x, y, &r)) overflow();
        return Value::integer(r);
      }
      if (op == "//" || op == "%") {
        if (y == 0) fail(op == "//" ? "integer division or modulo by zero" : "integer modulo by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) {
          if (op == "%") return Value::integer(0);
          overflow();
        }
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {
          --q;
          m += y;
        }
        return Value::integer(op == "//" ? q : m);
      }
      if (op == "**") {
        if (y < 0) {
          if (x == 0) fail("0.0 cannot be raised to a negative power");
          return Value::real(std::pow(static_cast<double>(x), static_cast<double>(y)));
        }
        int64_t result = 1, base = x, e = y;
        while (e > 0) {
          if (e & 1)
            if (__builtin_mul_overflow(result, base, &result)) overflow();
          e >>= 1;
          if (e > 0 && __builtin_mul_overflow(base, base, &base)) overflow();
        }
        return Value::integer(result);
      }
    }
  }
  if (op == "*") {
    // Repetition: str * int and list * int, in either order.
    const Value& seq = a.is_number() ? b : a;
    const Value& count_value = a.is_number() ? a : b;
    if (count_value.kind() == Kind::Int || count_value.kind() == Kind::Bool) {
      const int64_t count = std::max<int64_t>(0, as_integer(count_value));
      if (seq.is_string()) {
        if (count > 0 && seq.as_string().size() > options_.limits.max_output_bytes / static_cast<uint64_t>(count))
          throw EvalError(ErrorKind::Limit, fmt::format("a string grew past {} MiB", options_.limits.max_output_bytes >> 20));
        std::string out;
        for (int64_t i = 0; i < count; ++i) out += seq.as_string();
        return make_string(std::move(out), seq.is_markup());
      }
      if (seq.kind() == Kind::List && (seq.as_list().type == List::Type::List || seq.as_list().type == List::Type::Tuple)) {
        const auto& items = seq.as_list().items;
        if (count > 0 && items.size() > (1u << 24) / static_cast<uint64_t>(count))
          throw EvalError(ErrorKind::Limit, "a list grew past 16M items");
        heap_.charge(items.size() * static_cast<size_t>(count) * sizeof(Value));
        std::vector<Value> out;
        for (int64_t i = 0; i < count; ++i) out.insert(out.end(), items.begin(), items.end());
        return make_list(std::move(out), seq.as_list().type);
      }
    }
  }
  fail(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, type_name(a), type_name(b)));
}

}  // namespace vkllm::frontends::jinja
