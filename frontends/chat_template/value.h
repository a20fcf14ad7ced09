// Values of the Jinja interpreter, with Python semantics: str() / repr() / json.dumps formatting,
// == and < as Python compares, truthiness, len() and iteration. Lists, dicts, namespaces, loop
// objects and functions live in a Heap owned by one render, so templates may build cycles (a
// namespace holding itself) without leaking, and values are cheap to copy.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vkllm::frontends::jinja {

struct List;
struct Dict;
struct Object;
struct Function;

enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Object, Function };

class Value {
 public:
  Value() = default;  // undefined
  static Value undefined(std::string hint);
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value real(double d);
  static Value string(std::string s, bool markup = false);
  static Value list(List* l);
  static Value dict(Dict* d);
  static Value object(Object* o);
  static Value function(Function* f);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_markup() const { return kind_ == Kind::String && markup_; }

  bool as_bool() const { return u_.b; }
  int64_t as_int() const { return u_.i; }
  double as_float() const { return u_.f; }
  double to_double() const;  // Int, Float or Bool as a double
  const std::string& as_string() const { return *str_; }
  // Why this undefined value exists ("'x' is undefined"), for the error raised when it is used.
  const std::string& undefined_hint() const { return *str_; }
  List& as_list() const { return *u_.list; }
  Dict& as_dict() const { return *u_.dict; }
  Object& as_object() const { return *u_.object; }
  Function& as_function() const { return *u_.function; }

  bool same_object(const Value& other) const;  // Python `is` for containers and functions

 private:
  Kind kind_ = Kind::Undefined;
  bool markup_ = false;
  union {
    bool b;
    int64_t i;
    double f;
    List* list;
    Dict* dict;
    Object* object;
    Function* function;
  } u_{};
  std::shared_ptr<const std::string> str_ = empty_string();
  static const std::shared_ptr<const std::string>& empty_string();
};

// Python's sequences: lists, tuples, range objects, dict views and one-shot iterators (what
// filters like map and selectattr return: they print as no value, have no len() and iterate once).
struct List {
  enum class Type { List, Tuple, Range, DictItems, DictKeys, DictValues, Iterator };
  std::vector<Value> items;
  Type type = Type::List;
  int64_t range_start = 0, range_stop = 0, range_step = 1;  // Type::Range, for repr()

  bool indexable() const { return type == Type::List || type == Type::Tuple || type == Type::Range; }
};

// A dict with string keys that keeps insertion order, as Python's does.
struct Dict {
  std::vector<std::pair<std::string, Value>> entries;
  std::unordered_map<std::string, size_t> index;

  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value value);
};

// Attribute bags that are not mappings: namespace() objects and the `loop` variable.
struct Object {
  enum class Type { Namespace, Loop };
  Type type;
  Dict attributes;
};

class Interpreter;
struct CallArguments {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
};
struct MacroStmt;
struct Scope;

// A callable: a macro defined by the template, or a built-in (global function or bound method).
struct Function {
  std::string name;
  const MacroStmt* macro = nullptr;
  Scope* closure = nullptr;  // where a macro was defined
  std::function<Value(Interpreter&, CallArguments&)> native;
};

// Variables of one scope (template top level, a for loop, a macro call, ...).
struct Scope {
  Scope* parent = nullptr;
  Dict variables;
};

// Owns every container a render creates. Allocation is charged against a byte budget, so a
// template cannot exhaust memory.
class Heap {
 public:
  explicit Heap(size_t byte_budget) : budget_(byte_budget) {}
  List* new_list(std::vector<Value> items = {}, List::Type type = List::Type::List);
  Dict* new_dict();
  Object* new_object(Object::Type type);
  Function* new_function(Function f);
  Scope* new_scope(Scope* parent);
  // Charges `bytes` of new data (strings, list items) against the budget; throws a Limit error past it.
  void charge(size_t bytes);

 private:
  size_t budget_;
  size_t used_ = 0;
  std::vector<std::unique_ptr<List>> lists_;
  std::vector<std::unique_ptr<Dict>> dicts_;
  std::vector<std::unique_ptr<Object>> objects_;
  std::vector<std::unique_ptr<Function>> functions_;
  std::vector<std::unique_ptr<Scope>> scopes_;
};

// Limits of the recursive value functions below (deeper or bigger is an error, not a crash or a
// hang): nesting depth, text produced by str() / repr() / JSON, and nodes visited by == and <.
inline constexpr int kMaxValueDepth = 256;
inline constexpr size_t kMaxFormattedBytes = 64u << 20;
inline constexpr size_t kMaxComparedNodes = 10'000'000;

const char* type_name(const Value& v);       // Python's type name: 'str', 'dict', 'NoneType', ...
bool truthy(const Value& v);                 // Python bool()
std::string to_str(const Value& v);          // Python str(): what {{ v }} prints
std::string repr(const Value& v);            // Python repr()
std::string float_repr(double d);            // Python repr(float)
std::string escape_html(std::string_view s);  // markupsafe.escape
bool equals(const Value& a, const Value& b);  // Python ==
int compare(const Value& a, const Value& b);  // Python <, ==, > for orderable types; throws otherwise
std::optional<size_t> length(const Value& v);  // Python len(), nullopt when v has none
std::vector<Value> iterate(const Value& v);  // Python iter(); throws when not iterable

struct JsonOptions {
  std::optional<std::string> indent;  // json.dumps(indent=...): None, or the string one level adds
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool ensure_ascii = false;
  bool sort_keys = false;
};
std::string to_json(const Value& v, const JsonOptions& options);  // Python json.dumps

}  // namespace vkllm::frontends::jinja
