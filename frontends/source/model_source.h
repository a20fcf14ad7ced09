// Where a model's config and weights come from, behind one interface, so the engine loads every kind
// of model the same way:
//  - a Hugging Face folder (config.json + safetensors; f32 / f16 / bf16 weights);
//  - an MLX-quantized folder (config `quantization` / `quantization_config` with group_size and bits,
//    per-layer overrides; each quantized layer stored as packed uint32 `weight` + `scales` + `biases`);
//  - a .gguf file (frontends/gguf GgufModel: llama.cpp's formats, HF names and layouts).
// Tensors come out under their HF names in a kernel format (ir/dtype.h): float tensors as stored,
// quantized ones repacked losslessly (repack.h). `quantize_weights` wraps a source so that a model's
// projection and embedding matrices are quantized at load time (`--quant`).
#pragma once
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "frontends/checkpoint/checkpoint.h"
#include "frontends/model/model_spec.h"
#include "ir/host_tensor.h"

namespace vkllm::frontends {

struct SourceTensor {
  std::vector<int64_t> shape;  // HF shape ([rows, cols] for matrices)
  ir::DType dtype;             // the kernel format tensor() returns
};

class ModelSource {
 public:
  virtual ~ModelSource() = default;
  // The path it was opened from (for messages) and a short description of the format
  // ("safetensors", "MLX 4-bit affine, group 64", "GGUF", ...).
  virtual const std::filesystem::path& path() const = 0;
  virtual std::string format() const = 0;
  virtual const nlohmann::json& config() const = 0;             // config.json fields
  virtual const nlohmann::json& generation_config() const = 0;  // {} when there is none
  // HF names of the model's tensors (an MLX layer's scales and biases are folded into its weight).
  virtual std::vector<std::string> tensor_names() const = 0;
  virtual std::optional<SourceTensor> find(const std::string& name) const = 0;
  // The tensor's data in find(name)->dtype. Throws FormatError naming the file and tensor.
  virtual ir::HostTensor tensor(const std::string& name) const = 0;
  // The HF folder behind the source, when there is one (nullptr for GGUF files).
  virtual const Checkpoint* checkpoint() const { return nullptr; }
  // The bytes tensor(name) would copy, in place in a mapped file, when the source stores the tensor
  // as is (a folder's float tensors); nullopt when tensor() must convert or assemble it. Lets a
  // reader on several threads (quantization at load) skip the copy.
  virtual std::optional<std::span<const uint8_t>> stored_bytes(const std::string&) const { return std::nullopt; }

  // find(), throwing FormatError("<path>: missing tensor '<name>'") when absent.
  SourceTensor info(const std::string& name) const;
};

// A folder (HF or MLX-quantized, told apart by config.json) or a .gguf file. Throws FormatError.
std::unique_ptr<ModelSource> open_model_source(const std::filesystem::path& path);

// `--quant` names: "q4" (q4_K, output head q6_K), "q8" (q8_0), a kernel format name (q8_0 q4_0 q4_K
// q5_K q6_K qa4 qa8 qa4h qa8h qa4h_g64 qa8h_g64: every matrix), or "f16" / "bf16" / "f32" / "" (keep the weights:
// nullopt). A matrix whose row length is not a multiple of the format's block takes the 32-value
// fallback (q4_K -> qa4h, q5_K and q6_K -> q8_0, qa4h_g64 -> qa4h, qa8h_g64 -> qa8h). Throws std::invalid_argument for unknown names.
struct WeightQuant {
  std::string name;      // as given
  ir::DType matrices;    // projections and embeddings
  ir::DType output_head; // lm_head, or the embedding when it is tied to the head
};
std::optional<WeightQuant> parse_weight_quant(const std::string& name);
// `format`, or its 32-value fallback when rows of `cols` values cannot hold its blocks.
ir::DType fit_to_rows(ir::DType format, int64_t cols);

// A view of `source` whose float projection and embedding matrices (TensorSpec roles Projection and
// Embedding of `spec`) are quantized when first read. Norms, biases and convolution kernels stay as
// they are; already-quantized tensors are kept (never requantized).
std::unique_ptr<ModelSource> quantize_weights(std::unique_ptr<ModelSource> source, const ModelSpec& spec,
                                              const WeightQuant& quant);

// A view of `source` that also serves the tensors `spec` derives from stored ones (derived_tensors:
// Qwen3-Next's fused Gated DeltaNet projections as the four Qwen3.5 matrices the lowering reads):
// each is its source tensor's rows gathered in order, in the source's kernel format. A row of a
// block-quantized matrix is a run of whole blocks (ir/README.md), so the gather is exact for every
// format: HF floats, MLX and GGUF repacks, and `--quant` (wrap quantize_weights' view, not the other
// way round). tensor_names() stays the checkpoint's. Returns `source` unchanged when the spec derives
// nothing.
std::unique_ptr<ModelSource> with_derived_tensors(std::unique_ptr<ModelSource> source, const ModelSpec& spec);

// The tokenizer.json / tokenizer_config.json of a source: the folder's files, or for a GGUF the
// objects GgufModel derives from its metadata. nullopt when the folder has none.
std::optional<nlohmann::json> tokenizer_json(const std::filesystem::path& model);
std::optional<nlohmann::json> tokenizer_config(const std::filesystem::path& model);
bool is_gguf_path(const std::filesystem::path& path);

}  // namespace vkllm::frontends
