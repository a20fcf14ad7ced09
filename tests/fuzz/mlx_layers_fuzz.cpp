// Fuzz target: an MLX-quantized folder in one buffer — config.json's `quantization` object as JSON
// text, a 0 byte, then a safetensors file image. Validation (frontends/source/mlx_layers.h) and the
// repack of every layer it accepts must only ever throw FormatError (or reject the JSON text).
#include <cstdint>
#include <cstring>
#include <span>

#include "frontends/checkpoint/safetensors.h"
#include "frontends/source/mlx_layers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto* split = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  if (!split) return 0;
  const auto config_size = static_cast<size_t>(split - data);
  const nlohmann::json q = nlohmann::json::parse(data, data + config_size, nullptr, false);
  if (q.is_discarded()) return 0;
  try {
    const auto file = vkllm::frontends::SafetensorsFile::parse(
        std::span<const uint8_t>(split + 1, size - config_size - 1), "fuzz.safetensors");
    std::vector<std::string> names;
    for (const auto& [name, t] : file.tensors()) names.push_back(name);
    const vkllm::frontends::MlxLayers layers = vkllm::frontends::read_mlx_layers(
        q, names, [&](const std::string& n) { return file.find(n); }, "fuzz config", "fuzz");
    for (const auto& [name, layer] : layers.by_weight) {
      if (layer.rows * layer.cols > (int64_t{1} << 24)) continue;  // valid but too large to repack here
      (void)vkllm::frontends::repack_mlx_layer(layer, "fuzz");
    }
  } catch (const vkllm::frontends::FormatError&) {
  }
  return 0;
}
