#include "frontends/checkpoint/checkpoint.h"

#include <fmt/format.h>

#include <fstream>
#include <set>

namespace vkllm::frontends {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw FormatError(fmt::format("{}: cannot open", path.string()));
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: invalid JSON: {}", path.string(), e.what()));
  }
}

Checkpoint Checkpoint::open(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  Checkpoint c;
  c.dir_ = dir;
  if (!fs::is_directory(dir)) throw FormatError(fmt::format("{}: not a model folder", dir.string()));
  const fs::path config = dir / "config.json";
  if (!fs::exists(config)) throw FormatError(fmt::format("{}: no config.json (is this a Hugging Face model folder?)", dir.string()));
  c.config_ = read_json_file(config);
  if (!c.config_.is_object()) throw FormatError(fmt::format("{}: not a JSON object", config.string()));
  if (fs::exists(dir / "generation_config.json")) {
    c.generation_config_ = read_json_file(dir / "generation_config.json");
    if (!c.generation_config_.is_object())
      throw FormatError(fmt::format("{}: not a JSON object", (dir / "generation_config.json").string()));
  }

  std::vector<fs::path> files;
  const fs::path index = dir / "model.safetensors.index.json";
  std::map<std::string, std::string> weight_map;
  if (fs::exists(index)) {
    nlohmann::json j = read_json_file(index);
    auto wm = j.find("weight_map");
    if (!j.is_object() || wm == j.end() || !wm->is_object())
      throw FormatError(fmt::format("{}: missing 'weight_map' object", index.string()));
    std::set<std::string> names;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string()) throw FormatError(fmt::format("{}: weight_map['{}'] is not a file name", index.string(), it.key()));
      std::string f = it.value().get<std::string>();
      if (f.find('/') != std::string::npos || f.find("..") != std::string::npos)
        throw FormatError(fmt::format("{}: shard name '{}' must be a file in the model folder", index.string(), f));
      weight_map[it.key()] = f;
      names.insert(f);
    }
    for (const std::string& f : names) files.push_back(dir / f);
  } else if (fs::exists(dir / "model.safetensors")) {
    files.push_back(dir / "model.safetensors");
  } else {
    throw FormatError(fmt::format("{}: no model.safetensors or model.safetensors.index.json", dir.string()));
  }
  for (const fs::path& f : files) {
    if (!fs::exists(f)) throw FormatError(fmt::format("{}: shard {} is listed but missing", dir.string(), f.filename().string()));
    auto shard = std::make_shared<SafetensorsFile>(SafetensorsFile::open(f));
    for (const auto& [name, view] : shard->tensors()) {
      if (!weight_map.empty()) {
        auto it = weight_map.find(name);
        if (it == weight_map.end() || it->second != f.filename().string()) continue;  // index decides
      }
      if (!c.index_.emplace(name, &view).second)
        throw FormatError(fmt::format("{}: tensor '{}' appears in more than one shard", dir.string(), name));
    }
    c.shards_.push_back(std::move(shard));
  }
  for (const auto& [name, file] : weight_map)
    if (!c.index_.count(name))
      throw FormatError(fmt::format("{}: index lists tensor '{}' in {}, but that shard does not contain it", dir.string(), name, file));
  return c;
}

const TensorView* Checkpoint::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& Checkpoint::tensor(const std::string& name) const {
  const TensorView* t = find(name);
  if (!t) throw FormatError(fmt::format("{}: missing tensor '{}'", dir_.string(), name));
  return *t;
}

std::vector<std::string> Checkpoint::tensor_names() const {
  std::vector<std::string> out;
  for (const auto& kv : index_) out.push_back(kv.first);
  return out;
}

}  // namespace vkllm::frontends
