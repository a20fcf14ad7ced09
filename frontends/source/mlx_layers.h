// Validation of an MLX-quantized folder: config.json's `quantization` object (group_size, bits,
// optional mode "affine", per-layer overrides keyed by module path: {group_size, bits} or a boolean)
// against the folder's tensors (each quantized module: U32 `weight` [rows, cols·bits/32], `scales`
// and `biases` [rows, cols/group_size] in F32/F16/BF16). Pure functions over parsed data, so the
// fuzz target (tests/fuzz/mlx_layers_fuzz.cpp) reaches them without files.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "frontends/checkpoint/safetensors.h"
#include "ir/dtype.h"

namespace vkllm::frontends {

struct MlxLayer {
  int bits = 0, group_size = 0;
  int64_t rows = 0, cols = 0;  // the dequantized matrix
  ir::DType kernel_dtype = ir::DType::QA4;  // repack.h mlx_kernel_dtype
  const TensorView* weight = nullptr;
  const TensorView* scales = nullptr;
  const TensorView* biases = nullptr;
};

struct MlxLayers {
  std::map<std::string, MlxLayer> by_weight;  // by the module's weight name ("model.layers.0.mlp.up_proj.weight")
  std::set<std::string> folded;               // scales and biases names, reached through their weight
  std::string format;                         // "MLX affine 4-bit, group 64" (+ " (with per-layer overrides)")
};

// Throws FormatError naming `where` (the config) or `origin` (the folder) and what is wrong: unknown
// quantization methods or modes, unsupported bits / group sizes, missing or mismatched triples.
MlxLayers read_mlx_layers(const nlohmann::json& quantization, const std::vector<std::string>& tensor_names,
                          const std::function<const TensorView*(const std::string&)>& find, const std::string& where,
                          const std::string& origin);

// The layer's values in its kernel format (layer.kernel_dtype). FormatError on inconsistent sizes.
std::vector<uint8_t> repack_mlx_layer(const MlxLayer& layer, const std::string& origin);

}  // namespace vkllm::frontends
