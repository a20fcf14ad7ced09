// Errors of the chat-template interpreter. Every failure (syntax, a runtime type error, a construct
// this interpreter does not support, the template's own raise_exception, a resource limit) is a
// TemplateError whose message names the template and the line: "template:12: unsupported filter 'xyz'".
#pragma once
#include <stdexcept>
#include <string>

namespace vkllm::frontends::jinja {

enum class ErrorKind {
  Syntax,       // the template does not parse
  Runtime,      // what Jinja raises while rendering (type errors, undefined values used, ...)
  Unsupported,  // valid Jinja this interpreter does not implement: never rendered approximately
  Raised,       // the template called raise_exception(message); message() is the template's text
  Limit,        // a resource limit (steps, nesting, output size) stopped a runaway template
  Request,      // the request (messages, variables) is malformed
  Config,       // the model folder's template files are missing or malformed
};

class TemplateError : public std::runtime_error {
 public:
  TemplateError(ErrorKind kind, std::string origin, int line, std::string message);
  ErrorKind kind() const { return kind_; }
  const std::string& origin() const { return origin_; }
  int line() const { return line_; }  // 0 when the error is not tied to a line
  const std::string& message() const { return message_; }

 private:
  ErrorKind kind_;
  std::string origin_;
  int line_;
  std::string message_;
};

// Raised below the interpreter (values, filters, text helpers), where the line is not known; the
// interpreter turns it into a TemplateError at the innermost node being evaluated.
class EvalError : public std::runtime_error {
 public:
  EvalError(ErrorKind kind, std::string message) : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] inline void fail(std::string message) { throw EvalError(ErrorKind::Runtime, std::move(message)); }
[[noreturn]] inline void unsupported(std::string message) {
  throw EvalError(ErrorKind::Unsupported, "unsupported " + std::move(message));
}

}  // namespace vkllm::frontends::jinja
