// Renders a parsed template with the semantics of Jinja2's ImmutableSandboxedEnvironment as
// transformers configures it: default Undefined, Python value semantics, HF's tojson, and the
// globals raise_exception and strftime_now. Runaway templates stop at resource limits.
#pragma once
#include <chrono>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "frontends/chat_template/ast.h"
#include "frontends/chat_template/error.h"
#include "frontends/chat_template/value.h"

namespace vkllm::frontends::jinja {

struct RenderLimits {
  size_t max_steps = 20'000'000;       // expressions and statements evaluated
  int max_depth = 300;                 // nesting of evaluation: expressions, blocks, macro calls
  size_t max_output_bytes = 64u << 20;  // the rendered text, and any intermediate string
  size_t max_heap_bytes = 512u << 20;   // data the template creates (lists, dicts, strings)
};

struct RenderOptions {
  RenderLimits limits;
  // The clock strftime_now() reads (local time, as Python's datetime.now()); the system clock when empty.
  std::function<std::chrono::system_clock::time_point()> now;
};

class Interpreter {
 public:
  Interpreter(const std::string& origin, const RenderOptions& options);

  // Renders `body` with `variables` (a JSON object) as the template's globals.
  std::string render(const Body& body, const nlohmann::ordered_json& variables);

  Heap& heap() { return heap_; }
  Value from_json(const nlohmann::ordered_json& j, int depth = 0);
  Value make_string(std::string s, bool markup = false);
  Value make_list(std::vector<Value> items, List::Type type = List::Type::List);

  Value call(const Value& callee, CallArguments& args);
  Value get_attr(const Value& object, const std::string& name);
  // The Python attribute itself (a bound method, a namespace or loop attribute), never an item;
  // nullopt when the object has no such attribute.
  std::optional<Value> attribute(const Value& object, const std::string& name);
  Value get_item(const Value& object, const Value& key);
  Value apply_filter(const std::string& name, const Value& operand, CallArguments& args);
  bool apply_test(const std::string& name, const Value& operand, CallArguments& args);
  bool contains(const Value& container, const Value& item);
  Value add(const Value& a, const Value& b);
  // Charges `units` of work (items visited, 64-byte chunks of text scanned) against the step
  // budget, so builtins that loop over big values cannot run away either.
  void work(size_t units);
  static size_t size_units(const Value& v);
  Value arithmetic(const std::string& op, const Value& a, const Value& b);

 private:
  enum class Flow { Normal, Break, Continue };

  Flow exec(const Body& body, Scope* scope, std::string& out);
  Flow exec_stmt(const Stmt& s, Scope* scope, std::string& out);
  void exec_for(const Stmt& s, Scope* scope, std::string& out);
  void assign(const Target& target, const Value& value, Scope* scope);
  Value eval(const Expr& e, Scope* scope);
  Value eval_inner(const Expr& e, Scope* scope);
  Value eval_filter(const Expr& e, Scope* scope, const Value* block_input);
  CallArguments eval_args(const CallArgs& args, Scope* scope);
  Value lookup(const std::string& name, Scope* scope);
  Value slice(const Value& object, const Expr& slice_expr, Scope* scope);
  Value call_macro(const Function& f, CallArguments& args);
  void append(std::string& out, std::string_view text);
  void step();
  void install_globals(Scope* scope);

  struct DepthGuard {
    Interpreter& in;
    explicit DepthGuard(Interpreter& i);
    ~DepthGuard() { --in.depth_; }
  };

  std::string origin_;
  RenderOptions options_;
  Heap heap_;
  size_t steps_ = 0;
  int depth_ = 0;
};

// Binds a builtin's arguments to its parameters by position or keyword, as Python does; absent
// parameters are nullopt. `what` names the builtin in errors ("filter 'join'").
std::vector<std::optional<Value>> bind_arguments(const std::string& what, const CallArguments& args,
                                                 std::initializer_list<const char*> parameters);

}  // namespace vkllm::frontends::jinja
