// A Hugging Face model folder: config.json, generation_config.json and the weights in
// model.safetensors or shards listed by model.safetensors.index.json. Tensors are memory-mapped
// and looked up by name across shards.
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "frontends/checkpoint/safetensors.h"

namespace vkllm::frontends {

class Checkpoint {
 public:
  // Throws FormatError naming the file and the problem (missing config, bad index, corrupt shard).
  static Checkpoint open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  const nlohmann::json& config() const { return config_; }
  // Empty object when the folder has no generation_config.json.
  const nlohmann::json& generation_config() const { return generation_config_; }

  const TensorView* find(const std::string& name) const;
  // Throws FormatError("missing tensor ...") naming the folder when absent.
  const TensorView& tensor(const std::string& name) const;
  std::vector<std::string> tensor_names() const;

 private:
  std::filesystem::path dir_;
  nlohmann::json config_;
  nlohmann::json generation_config_ = nlohmann::json::object();
  std::vector<std::shared_ptr<SafetensorsFile>> shards_;
  std::map<std::string, const TensorView*> index_;
};

// Reads a JSON file; errors name the file and the parse position.
nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace vkllm::frontends
