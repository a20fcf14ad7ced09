#include "frontends/chat_template/error.h"

#include <fmt/format.h>

namespace vkllm::frontends::jinja {

TemplateError::TemplateError(ErrorKind kind, std::string origin, int line, std::string message)
    : std::runtime_error(line > 0 ? fmt::format("{}:{}: {}", origin, line, message) : fmt::format("{}: {}", origin, message)),
      kind_(kind),
      origin_(std::move(origin)),
      line_(line),
      message_(std::move(message)) {}

}  // namespace vkllm::frontends::jinja
