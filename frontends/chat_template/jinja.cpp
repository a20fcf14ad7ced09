#include "frontends/chat_template/jinja.h"

namespace vkllm::frontends::jinja {

Template::Template(std::string_view source, std::string origin)
    : origin_(std::move(origin)), body_(std::make_shared<const Body>(parse_template(source, origin_))) {}

std::string Template::render(const nlohmann::ordered_json& variables, const RenderOptions& options) const {
  Interpreter interpreter(origin_, options);
  return interpreter.render(*body_, variables);
}

}  // namespace vkllm::frontends::jinja
