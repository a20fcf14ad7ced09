// A model's chat template, rendered exactly as transformers' apply_chat_template(tokenize=False)
// renders it: the same variables (messages, tools, documents, add_generation_prompt, the special
// tokens, any extra keyword variables) and the same choice between named templates.
#pragma once
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "frontends/chat_template/jinja.h"

namespace vkllm::frontends {

class ChatTemplate {
 public:
  // Reads the template from a Hugging Face model folder: chat_template.jinja when present (plus
  // additional_chat_templates/NAME.jinja), else chat_template.json, else tokenizer_config.json's
  // "chat_template" (a string, or a list of {name, template}); special tokens (bos_token,
  // eos_token, ...) come from tokenizer_config.json. Throws jinja::TemplateError.
  static ChatTemplate from_model_dir(const std::filesystem::path& dir);
  // The template and special tokens of a parsed tokenizer_config.json (e.g. one built from GGUF
  // metadata); `origin` names it in errors.
  static ChatTemplate from_tokenizer_config(const nlohmann::ordered_json& config, const std::string& origin);

  // One template with the given special tokens (absent tokens are undefined in the template).
  ChatTemplate(std::string_view source, std::optional<std::string> bos_token, std::optional<std::string> eos_token);
  // Named templates ("default", "tool_use", ...) and the special-token variables.
  ChatTemplate(const std::vector<std::pair<std::string, std::string>>& named_sources, nlohmann::ordered_json special_tokens,
               const std::string& origin);

  // `request`: {"messages": [...], "tools": [...], "documents": [...], "add_generation_prompt": bool,
  // ...extra variables such as enable_thinking or date_string}. Returns the prompt text.
  std::string render(const nlohmann::ordered_json& request, const jinja::RenderOptions& options = {}) const;

  // The template render() uses for a request with (or without) tools.
  const jinja::Template& select(bool has_tools) const;

 private:
  std::map<std::string, jinja::Template> templates_;
  nlohmann::ordered_json special_tokens_ = nlohmann::ordered_json::object();
  std::string origin_;
};

}  // namespace vkllm::frontends
