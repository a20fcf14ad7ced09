// A .vkm artifact seen as a model source: config, generation config and weights come from the
// artifact (weights in their compiled kernel formats, read from the memory map, checksum verified),
// so Model::load treats it like a folder, taking its graphs from the artifact instead of compiling.
#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "artifact/artifact.h"
#include "frontends/chat_template/chat_template.h"
#include "frontends/source/model_source.h"
#include "frontends/tokenizer/tokenizer.h"

namespace vkllm::engine {

class ArtifactSource : public frontends::ModelSource {
 public:
  explicit ArtifactSource(const std::filesystem::path& path);

  const std::filesystem::path& path() const override { return path_; }
  std::string format() const override;
  const nlohmann::json& config() const override { return config_; }
  const nlohmann::json& generation_config() const override { return generation_config_; }
  std::vector<std::string> tensor_names() const override;
  std::optional<frontends::SourceTensor> find(const std::string& name) const override;
  ir::HostTensor tensor(const std::string& name) const override;
  // The stored bytes of weight `name` in the mapping, checksum verified, without a copy (what
  // Model::load uploads from: runtime::ModelBuffers::set_mapped_weights); nullopt when the artifact
  // holds no such weight. Throws ArtifactError when it holds it as another type than `type`.
  std::optional<std::span<const uint8_t>> mapped_weight(const std::string& name, const ir::Type& type) const;

  const artifact::Artifact& artifact() const { return artifact_; }

 private:
  std::filesystem::path path_;
  artifact::Artifact artifact_;
  nlohmann::json config_, generation_config_;
};

// The tokenizer and chat template of a model path: an artifact's stored files, a GGUF file's
// metadata, or a folder's files. Throw naming the path when the model has none.
frontends::Tokenizer load_model_tokenizer(const std::filesystem::path& path);
frontends::ChatTemplate load_model_chat_template(const std::filesystem::path& path);

}  // namespace vkllm::engine
