// `vkllm synth`: writes a random-weight checkpoint in exact Hugging Face layout (config.json that
// transformers loads, generation_config.json, safetensors, and a byte-level BPE tokenizer the
// project writes itself) for every family, at test sizes or real shapes. This is how everything is
// tested without downloads.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vkllm::frontends {

struct SynthPreset {
  std::string name;       // e.g. "tiny", "llama3-8b"
  std::string family;     // family key (model_spec.h)
  nlohmann::json config;  // config.json fields (HF names) without token ids and architectures
};
const std::vector<SynthPreset>& synth_presets();

struct SynthOptions {
  std::string family;
  std::string preset = "tiny";
  std::filesystem::path out_dir;
  uint64_t seed = 0;
  std::string dtype = "bfloat16";              // "bfloat16", "float16" or "float32"
  int64_t shard_bytes = int64_t{4} << 30;      // split weights into shards of at most this size
  nlohmann::json overrides = nlohmann::json::object();  // config fields to change (e.g. vocab_size)
  std::function<void(const std::string& stage, int64_t done, int64_t total)> progress;
};

// Writes the checkpoint; throws FormatError for an unknown family/preset (listing the known ones).
void synthesize(const SynthOptions& opts);

}  // namespace vkllm::frontends
