// A Jinja template as Hugging Face renders chat templates: parsed once, rendered many times with
// a JSON object of variables. Errors are TemplateError ("template:LINE: message").
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "frontends/chat_template/error.h"
#include "frontends/chat_template/interpreter.h"

namespace vkllm::frontends::jinja {

class Template {
 public:
  // Parses `source`; `origin` names the template in error messages.
  explicit Template(std::string_view source, std::string origin = "template");

  // Renders with `variables` (a JSON object; key order is kept, as Python dicts keep it).
  std::string render(const nlohmann::ordered_json& variables, const RenderOptions& options = {}) const;

  const std::string& origin() const { return origin_; }

 private:
  std::string origin_;
  std::shared_ptr<const Body> body_;
};

}  // namespace vkllm::frontends::jinja
