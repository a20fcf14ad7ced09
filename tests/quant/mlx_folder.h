// Test helper: turns a Hugging Face folder into an MLX-quantized one the way mlx_lm.convert does —
// every 2-D weight whose rows hold whole groups becomes packed uint32 `weight` + `scales` + `biases`
// (frontends/quant's MLX quantizer), config.json gains `quantization` and `quantization_config`
// (with per-layer overrides), the other files are copied.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <utility>

#include "frontends/quant/mlx.h"

namespace vkllm::frontends::mlx_testing {

struct MlxConvertOptions {
  int bits = 4;
  int group_size = 64;
  quant::MlxScaleType scale_type = quant::MlxScaleType::BF16;
  // module path ("model.layers.0.mlp.down_proj") -> {bits, group_size}
  std::map<std::string, std::pair<int, int>> overrides;
};

void convert_to_mlx(const std::filesystem::path& hf_dir, const std::filesystem::path& out,
                    const MlxConvertOptions& opts = {});

}  // namespace vkllm::frontends::mlx_testing
