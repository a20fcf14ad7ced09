#include "frontends/chat_template/chat_template.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace vkllm::frontends {

using jinja::ErrorKind;
using jinja::TemplateError;
using json = nlohmann::ordered_json;

namespace {

[[noreturn]] void config_error(const std::filesystem::path& file, const std::string& message) {
  throw TemplateError(ErrorKind::Config, file.string(), 0, message);
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) config_error(path, "cannot open the file");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

json read_json(const std::filesystem::path& path) {
  try {
    return json::parse(read_text(path));
  } catch (const json::parse_error& e) {
    config_error(path, fmt::format("not valid JSON: {}", e.what()));
  }
}

std::string template_origin(const std::string& name) { return name == "default" ? "template" : "template '" + name + "'"; }

// The special tokens transformers passes to the template, from tokenizer_config.json: each is a
// string or an AddedToken object {"content": ...}; null ones are left out (undefined).
json special_tokens_of(const json& config, const std::filesystem::path& file) {
  json tokens = json::object();
  auto token_text = [&](const std::string& key, const json& v) -> std::optional<std::string> {
    if (v.is_null()) return std::nullopt;
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    config_error(file, fmt::format("'{}' must be a string or an object with a string 'content'", key));
  };
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    if (!config.contains(key)) continue;
    if (auto text = token_text(key, config[key])) tokens[key] = *text;
  }
  if (config.contains("additional_special_tokens") && config["additional_special_tokens"].is_array()) {
    json list = json::array();
    for (const auto& t : config["additional_special_tokens"])
      if (auto text = token_text("additional_special_tokens", t)) list.push_back(*text);
    tokens["additional_special_tokens"] = list;
  }
  return tokens;
}

// tokenizer_config.json's "chat_template": a string, or a list of {name, template}.
std::vector<std::pair<std::string, std::string>> config_templates(const json& config, const std::filesystem::path& file) {
  std::vector<std::pair<std::string, std::string>> sources;
  if (!config.contains("chat_template") || config["chat_template"].is_null()) return sources;
  const json& t = config["chat_template"];
  if (t.is_string()) {
    sources.emplace_back("default", t.get<std::string>());
  } else if (t.is_array()) {
    for (const auto& entry : t) {
      if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || !entry.contains("template") ||
          !entry["template"].is_string())
        config_error(file, "each entry of the 'chat_template' list must be {\"name\": ..., \"template\": ...}");
      sources.emplace_back(entry["name"].get<std::string>(), entry["template"].get<std::string>());
    }
  } else {
    config_error(file, "'chat_template' must be a string or a list of {name, template}");
  }
  return sources;
}

}  // namespace

ChatTemplate ChatTemplate::from_model_dir(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) config_error(dir, "not a model folder");
  const auto config_path = dir / "tokenizer_config.json";
  const json config = std::filesystem::exists(config_path) ? read_json(config_path) : json::object();
  if (!config.is_object()) config_error(config_path, "must hold a JSON object");
  std::vector<std::pair<std::string, std::string>> sources;

  if (std::filesystem::exists(dir / "chat_template.jinja")) {
    sources.emplace_back("default", read_text(dir / "chat_template.jinja"));
    const auto extra = dir / "additional_chat_templates";
    if (std::filesystem::is_directory(extra))
      for (const auto& entry : std::filesystem::directory_iterator(extra))
        if (entry.path().extension() == ".jinja") sources.emplace_back(entry.path().stem().string(), read_text(entry.path()));
  } else if (std::filesystem::exists(dir / "chat_template.json")) {
    const json j = read_json(dir / "chat_template.json");
    if (!j.is_object() || !j.contains("chat_template") || !j["chat_template"].is_string())
      config_error(dir / "chat_template.json", "must hold {\"chat_template\": \"...\"}");
    sources.emplace_back("default", j["chat_template"].get<std::string>());
  } else {
    sources = config_templates(config, config_path);
  }
  if (sources.empty())
    config_error(dir, "no chat template (looked for chat_template.jinja, chat_template.json and the 'chat_template' of tokenizer_config.json)");
  return ChatTemplate(sources, special_tokens_of(config, config_path), dir.string());
}

ChatTemplate ChatTemplate::from_tokenizer_config(const json& config, const std::string& origin) {
  if (!config.is_object()) config_error(origin, "the tokenizer config must be a JSON object");
  const auto sources = config_templates(config, origin);
  if (sources.empty()) config_error(origin, "no 'chat_template' in the tokenizer config");
  return ChatTemplate(sources, special_tokens_of(config, origin), origin);
}

ChatTemplate::ChatTemplate(std::string_view source, std::optional<std::string> bos_token, std::optional<std::string> eos_token)
    : origin_("template") {
  templates_.emplace("default", jinja::Template(source, "template"));
  if (bos_token) special_tokens_["bos_token"] = *bos_token;
  if (eos_token) special_tokens_["eos_token"] = *eos_token;
}

ChatTemplate::ChatTemplate(const std::vector<std::pair<std::string, std::string>>& named_sources, json special_tokens,
                           const std::string& origin)
    : special_tokens_(std::move(special_tokens)), origin_(origin) {
  for (const auto& [name, source] : named_sources) {
    if (templates_.count(name)) throw TemplateError(ErrorKind::Config, origin, 0, fmt::format("two chat templates are named '{}'", name));
    templates_.emplace(name, jinja::Template(source, template_origin(name)));
  }
  if (templates_.empty()) throw TemplateError(ErrorKind::Config, origin, 0, "no chat template given");
}

const jinja::Template& ChatTemplate::select(bool has_tools) const {
  // transformers: one template is used as is; among named ones "tool_use" serves requests with
  // tools when it exists, and "default" everything else.
  if (templates_.size() == 1) return templates_.begin()->second;
  if (has_tools && templates_.count("tool_use")) return templates_.at("tool_use");
  if (templates_.count("default")) return templates_.at("default");
  throw TemplateError(ErrorKind::Config, origin_, 0, "the model has several chat templates and none is named 'default'");
}

std::string ChatTemplate::render(const json& request, const jinja::RenderOptions& options) const {
  if (!request.is_object()) throw TemplateError(ErrorKind::Request, "request", 0, "the request must be a JSON object");
  if (!request.contains("messages") || !request["messages"].is_array())
    throw TemplateError(ErrorKind::Request, "request", 0, "the request needs a 'messages' array");
  if (request.contains("continue_final_message"))
    throw TemplateError(ErrorKind::Unsupported, "request", 0,
                        "unsupported 'continue_final_message' (transformers applies it after rendering, not in the template)");
  // Variables as apply_chat_template passes them: the special tokens, overridden by the
  // caller's keyword variables; tools and documents are None and add_generation_prompt False by default.
  json variables = special_tokens_;
  for (const char* key : {"messages", "tools", "documents"}) variables[key] = nullptr;
  variables["add_generation_prompt"] = false;
  for (const auto& [key, value] : request.items()) variables[key] = value;
  const bool has_tools = !variables["tools"].is_null();
  return select(has_tools).render(variables, options);
}

}  // namespace vkllm::frontends
