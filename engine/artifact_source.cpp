#include "engine/artifact_source.h"

#include <fmt/format.h>

namespace vkllm::engine {
namespace {

nlohmann::json parse_file(const artifact::Artifact& a, const std::string& name, bool required) {
  auto it = a.contents().files.find(name);
  if (it == a.contents().files.end()) {
    if (required) throw artifact::ArtifactError(fmt::format("{}: holds no {}", a.origin(), name));
    return nlohmann::json::object();
  }
  try {
    return nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    throw artifact::ArtifactError(fmt::format("{}: its {} is not valid JSON: {}", a.origin(), name, e.what()));
  }
}

std::vector<int64_t> dims(const ir::Type& t) {
  std::vector<int64_t> d;
  for (const ir::Dim& x : t.shape) d.push_back(x.value);
  return d;
}

}  // namespace

ArtifactSource::ArtifactSource(const std::filesystem::path& path)
    : path_(path), artifact_(artifact::Artifact::open(path)) {
  config_ = parse_file(artifact_, "config.json", true);
  generation_config_ = parse_file(artifact_, "generation_config.json", false);
}

std::string ArtifactSource::format() const {
  const artifact::Contents& c = artifact_.contents();
  return fmt::format("vkllm artifact (compiled for {} from {})", c.target.name, c.source_format);
}

std::vector<std::string> ArtifactSource::tensor_names() const {
  std::vector<std::string> names;
  for (const artifact::WeightEntry& w : artifact_.weights()) names.push_back(w.name);
  return names;
}

std::optional<frontends::SourceTensor> ArtifactSource::find(const std::string& name) const {
  const artifact::WeightEntry* w = artifact_.find_weight(name);
  if (!w) return std::nullopt;
  return frontends::SourceTensor{dims(w->type), w->type.dtype};
}

ir::HostTensor ArtifactSource::tensor(const std::string& name) const {
  const artifact::WeightEntry* w = artifact_.find_weight(name);
  if (!w) throw artifact::ArtifactError(fmt::format("{}: no weight '{}'", artifact_.origin(), name));
  const std::span<const uint8_t> bytes = artifact_.weight_data(name);
  ir::HostTensor t;
  t.dtype = w->type.dtype;
  t.shape = dims(w->type);
  t.bytes.assign(bytes.begin(), bytes.end());
  return t;
}

std::optional<std::span<const uint8_t>> ArtifactSource::mapped_weight(const std::string& name, const ir::Type& type) const {
  const artifact::WeightEntry* w = artifact_.find_weight(name);
  if (!w) return std::nullopt;
  if (!(w->type == type))
    throw artifact::ArtifactError(fmt::format("{}: weight '{}' is stored as {}; its graph reads {}", artifact_.origin(),
                                              name, ir::to_string(w->type), ir::to_string(type)));
  return artifact_.weight_data(name);
}

frontends::Tokenizer load_model_tokenizer(const std::filesystem::path& path) {
  if (artifact::is_artifact(path)) {
    const artifact::Artifact a = artifact::Artifact::open(path);
    const auto& files = a.contents().files;
    auto json_file = files.find("tokenizer.json"), config = files.find("tokenizer_config.json");
    if (json_file == files.end())
      throw artifact::ArtifactError(fmt::format("{}: holds no tokenizer.json (its model had none)", path.string()));
    return frontends::Tokenizer::from_json(json_file->second, config == files.end() ? std::string() : config->second);
  }
  if (!frontends::is_gguf_path(path)) return frontends::Tokenizer::load(path);
  return frontends::Tokenizer::from_json(frontends::tokenizer_json(path)->dump(), frontends::tokenizer_config(path)->dump());
}

frontends::ChatTemplate load_model_chat_template(const std::filesystem::path& path) {
  if (artifact::is_artifact(path)) {
    const artifact::Artifact a = artifact::Artifact::open(path);
    auto it = a.contents().files.find("tokenizer_config.json");
    const nlohmann::ordered_json config =
        it == a.contents().files.end() ? nlohmann::ordered_json::object() : nlohmann::ordered_json::parse(it->second);
    return frontends::ChatTemplate::from_tokenizer_config(config, path.string());
  }
  if (frontends::is_gguf_path(path))
    return frontends::ChatTemplate::from_tokenizer_config(
        nlohmann::ordered_json::parse(frontends::tokenizer_config(path)->dump()), path.string());
  return frontends::ChatTemplate::from_model_dir(path);
}

}  // namespace vkllm::engine
