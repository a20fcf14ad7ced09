#include "frontends/source/model_source.h"

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <span>
#include <stdexcept>

#include "frontends/gguf/gguf_model.h"
#include "frontends/source/mlx_layers.h"
#include "frontends/source/repack.h"

namespace vkllm::frontends {
namespace {

std::optional<ir::DType> float_dtype(StDType t) {
  switch (t) {
    case StDType::F32: return ir::DType::F32;
    case StDType::F16: return ir::DType::F16;
    case StDType::BF16: return ir::DType::BF16;
    default: return std::nullopt;
  }
}

// A Hugging Face folder, plain or MLX-quantized.
class FolderSource : public ModelSource {
 public:
  explicit FolderSource(const std::filesystem::path& dir) : ck_(Checkpoint::open(dir)) {
    const nlohmann::json& config = ck_.config();
    const char* key = config.contains("quantization") ? "quantization"
                      : config.contains("quantization_config") ? "quantization_config" : nullptr;
    const std::string where = (dir / "config.json").string();
    if (!key) {
      for (const std::string& name : ck_.tensor_names())
        if (name.ends_with(".scales"))
          throw FormatError(fmt::format("{} has no `quantization` but the weights hold '{}' (an MLX-quantized layer)",
                                        where, name));
      format_ = "safetensors";
      return;
    }
    mlx_ = read_mlx_layers(
        config[key], ck_.tensor_names(), [&](const std::string& n) { return ck_.find(n); },
        fmt::format("{} `{}`", where, key), ck_.dir().string());
    format_ = mlx_.format;
  }

  const std::filesystem::path& path() const override { return ck_.dir(); }
  std::string format() const override { return format_; }
  const nlohmann::json& config() const override { return ck_.config(); }
  const nlohmann::json& generation_config() const override { return ck_.generation_config(); }
  const Checkpoint* checkpoint() const override { return &ck_; }

  std::vector<std::string> tensor_names() const override {
    std::vector<std::string> names;
    for (const std::string& n : ck_.tensor_names())
      if (!mlx_.folded.contains(n)) names.push_back(n);
    return names;
  }

  std::optional<SourceTensor> find(const std::string& name) const override {
    if (auto it = mlx_.by_weight.find(name); it != mlx_.by_weight.end())
      return SourceTensor{{it->second.rows, it->second.cols}, it->second.kernel_dtype};
    const TensorView* v = mlx_.folded.contains(name) ? nullptr : ck_.find(name);
    if (!v) return std::nullopt;
    const std::optional<ir::DType> d = float_dtype(v->dtype);
    if (!d)
      throw FormatError(fmt::format("{}: tensor '{}' has dtype {}; model weights must be F32, F16 or BF16{}",
                                    ck_.dir().string(), name, to_string(v->dtype),
                                    v->dtype == StDType::U32 ? " (or MLX-quantized with scales and biases)" : ""));
    return SourceTensor{v->shape, *d};
  }

  ir::HostTensor tensor(const std::string& name) const override {
    const SourceTensor info = this->info(name);
    ir::HostTensor t;
    t.dtype = info.dtype;
    t.shape = info.shape;
    if (auto it = mlx_.by_weight.find(name); it != mlx_.by_weight.end()) {
      t.bytes = repack_mlx_layer(it->second, ck_.dir().string());
      return t;
    }
    const std::span<const uint8_t> stored = stored_float_bytes(name);
    t.bytes.assign(stored.begin(), stored.end());
    return t;
  }

  std::optional<std::span<const uint8_t>> stored_bytes(const std::string& name) const override {
    if (mlx_.by_weight.contains(name) || mlx_.folded.contains(name)) return std::nullopt;
    return stored_float_bytes(name);
  }

 private:
  // The bytes tensor() copies for a float tensor, in place in the mapped file. Throws as tensor() does.
  std::span<const uint8_t> stored_float_bytes(const std::string& name) const {
    if (mlx_.by_weight.contains(name) || mlx_.folded.contains(name))
      throw std::logic_error(fmt::format("'{}' is part of an MLX-quantized layer, not a float tensor", name));
    return ck_.tensor(name).bytes;
  }

  Checkpoint ck_;
  std::string format_;
  MlxLayers mlx_;  // empty for a plain HF folder
};

class GgufSource : public ModelSource {
 public:
  explicit GgufSource(const std::filesystem::path& path) : path_(path), model_(GgufModel::open(path)) {}

  const std::filesystem::path& path() const override { return path_; }
  std::string format() const override { return "GGUF"; }
  const nlohmann::json& config() const override { return model_.hf_config(); }
  const nlohmann::json& generation_config() const override { return model_.hf_generation_config(); }
  std::vector<std::string> tensor_names() const override { return model_.hf_tensor_names(); }

  std::optional<SourceTensor> find(const std::string& name) const override {
    if (!model_.contains(name)) return std::nullopt;
    const GgufModel::Tensor& t = model_.tensor(name);
    return SourceTensor{t.shape, dtype_of(t)};
  }

  ir::HostTensor tensor(const std::string& name) const override {
    const GgufModel::Tensor& t = model_.tensor(name);
    ir::HostTensor out;
    out.dtype = dtype_of(t);
    out.shape = t.shape;
    if (std::optional<quant::BlockType> b = block_type_of(t.type))
      out.bytes = repack_ggml(*b, t.raw);
    else
      out.bytes.assign(t.raw.begin(), t.raw.end());
    return out;
  }

 private:
  ir::DType dtype_of(const GgufModel::Tensor& t) const {
    switch (t.type) {
      case GgmlType::F32: return ir::DType::F32;
      case GgmlType::F16: return ir::DType::F16;
      case GgmlType::BF16: return ir::DType::BF16;
      default: break;
    }
    if (std::optional<quant::BlockType> b = block_type_of(t.type)) return kernel_dtype(*b);
    throw FormatError(fmt::format("{}: tensor '{}' ({}) has type {}, which vkllm cannot run", path_.string(), t.hf_name,
                                  t.gguf_name, ggml_type_name(t.type)));
  }

  std::filesystem::path path_;
  GgufModel model_;
};

// Projection and embedding matrices quantized on first read; everything else passed through.
class QuantizingSource : public ModelSource {
 public:
  QuantizingSource(std::unique_ptr<ModelSource> inner, const ModelSpec& spec, const WeightQuant& quant)
      : inner_(std::move(inner)), quant_(quant) {
    // The output head: lm_head, or the embedding table when the head is tied to it.
    auto is_head = [&](const TensorSpec& t) {
      return spec.tie_word_embeddings ? t.role == TensorSpec::Role::Embedding : t.name == "lm_head.weight";
    };
    for (const TensorSpec& t : expected_tensors(spec)) {
      if (t.role != TensorSpec::Role::Projection && t.role != TensorSpec::Role::Embedding) continue;
      const std::optional<SourceTensor> s = inner_->find(t.name);
      if (!s || ir::is_quantized(s->dtype) || s->shape.size() != 2) continue;
      const ir::DType target = fit_to_rows(is_head(t) ? quant.output_head : quant.matrices, s->shape[1]);
      if (s->shape[1] % ir::info(target).block_elems != 0)
        throw FormatError(fmt::format("{}: cannot quantize '{}' to {}: its rows of {} values are not whole "
                                      "{}-value blocks", inner_->path().string(), t.name, ir::name(target),
                                      s->shape[1], ir::info(target).block_elems));
      targets_[t.name] = target;
    }
  }

  const std::filesystem::path& path() const override { return inner_->path(); }
  std::string format() const override { return fmt::format("{}, quantized at load to {}", inner_->format(), quant_.name); }
  const nlohmann::json& config() const override { return inner_->config(); }
  const nlohmann::json& generation_config() const override { return inner_->generation_config(); }
  std::vector<std::string> tensor_names() const override { return inner_->tensor_names(); }
  const Checkpoint* checkpoint() const override { return inner_->checkpoint(); }

  std::optional<SourceTensor> find(const std::string& name) const override {
    std::optional<SourceTensor> s = inner_->find(name);
    if (auto it = targets_.find(name); s && it != targets_.end()) s->dtype = it->second;
    return s;
  }

  ir::HostTensor tensor(const std::string& name) const override {
    auto it = targets_.find(name);
    if (it == targets_.end()) return inner_->tensor(name);
    // The load-time cost of --quant: the quantizer's threads read a folder's weights straight from the
    // mapped file (no single-threaded copy of the stored matrix first) and split the rows (repack.h).
    ir::HostTensor stored;
    std::span<const uint8_t> bytes;
    const SourceTensor s = inner_->info(name);
    if (const std::optional<std::span<const uint8_t>> in_place = inner_->stored_bytes(name)) {
      bytes = *in_place;
    } else {
      stored = inner_->tensor(name);
      bytes = stored.bytes;
    }
    ir::HostTensor t;
    t.dtype = it->second;
    t.shape = s.shape;
    try {
      t.bytes = quantize_matrix_for_kernel(it->second, s.dtype, s.shape[0], s.shape[1], bytes);
    } catch (const std::invalid_argument& e) {
      throw FormatError(fmt::format("{}: quantizing '{}' to {}: {}", path().string(), name, ir::name(it->second), e.what()));
    }
    return t;
  }

 private:
  std::unique_ptr<ModelSource> inner_;
  WeightQuant quant_;
  std::map<std::string, ir::DType> targets_;
};

// Derived tensors (model_spec.h derived_tensors) served as row gathers of their stored tensors.
class DerivedTensorsSource : public ModelSource {
 public:
  DerivedTensorsSource(std::unique_ptr<ModelSource> inner, std::vector<DerivedTensor> derived) : inner_(std::move(inner)) {
    for (DerivedTensor& d : derived) derived_.emplace(d.name, std::move(d));
  }

  const std::filesystem::path& path() const override { return inner_->path(); }
  std::string format() const override { return inner_->format(); }
  const nlohmann::json& config() const override { return inner_->config(); }
  const nlohmann::json& generation_config() const override { return inner_->generation_config(); }
  std::vector<std::string> tensor_names() const override { return inner_->tensor_names(); }
  const Checkpoint* checkpoint() const override { return inner_->checkpoint(); }

  std::optional<SourceTensor> find(const std::string& name) const override {
    auto it = derived_.find(name);
    if (it == derived_.end()) return inner_->find(name);
    std::optional<SourceTensor> s = inner_->find(it->second.source);
    if (!s) return std::nullopt;
    if (s->shape.size() != 2)
      throw FormatError(fmt::format("{}: tensor '{}' has {} dims; '{}' is rows of it, so it must be a matrix",
                                    path().string(), it->second.source, s->shape.size(), name));
    s->shape[0] = static_cast<int64_t>(it->second.source_rows.size());
    return s;
  }

  ir::HostTensor tensor(const std::string& name) const override {
    auto it = derived_.find(name);
    if (it == derived_.end()) return inner_->tensor(name);
    const DerivedTensor& d = it->second;
    const ir::HostTensor src = inner_->tensor(d.source);
    const int64_t rows = src.shape.empty() ? 0 : src.shape[0];
    const int64_t cols = src.shape.size() == 2 ? src.shape[1] : 0;
    const int64_t row_bytes = ir::storage_bytes(src.dtype, cols);
    if (src.shape.size() != 2 || cols % ir::info(src.dtype).block_elems != 0 || src.size_bytes() != rows * row_bytes)
      throw FormatError(fmt::format("{}: tensor '{}' ([{}] {}) is not a matrix of whole rows, so '{}' cannot be "
                                    "gathered from it", path().string(), d.source, fmt::join(src.shape, ", "),
                                    ir::name(src.dtype), name));
    ir::HostTensor out;
    out.dtype = src.dtype;
    out.shape = {static_cast<int64_t>(d.source_rows.size()), cols};
    out.bytes.resize(d.source_rows.size() * static_cast<size_t>(row_bytes));
    for (size_t r = 0; r < d.source_rows.size(); ++r) {
      const int64_t from = d.source_rows[r];
      if (from < 0 || from >= rows)
        throw FormatError(fmt::format("{}: tensor '{}' has {} rows; '{}' needs row {} of it (does config.json match "
                                      "the weights?)", path().string(), d.source, rows, name, from));
      std::memcpy(out.bytes.data() + r * static_cast<size_t>(row_bytes),
                  src.bytes.data() + from * row_bytes, static_cast<size_t>(row_bytes));
    }
    return out;
  }

 private:
  std::unique_ptr<ModelSource> inner_;
  std::map<std::string, DerivedTensor> derived_;
};

}  // namespace

SourceTensor ModelSource::info(const std::string& name) const {
  std::optional<SourceTensor> s = find(name);
  if (!s) throw FormatError(fmt::format("{}: missing tensor '{}'", path().string(), name));
  return *s;
}

bool is_gguf_path(const std::filesystem::path& path) {
  return std::filesystem::is_regular_file(path);
}

std::unique_ptr<ModelSource> open_model_source(const std::filesystem::path& path) {
  if (is_gguf_path(path)) return std::make_unique<GgufSource>(path);
  return std::make_unique<FolderSource>(path);
}

std::optional<WeightQuant> parse_weight_quant(const std::string& name) {
  if (name.empty() || name == "f16" || name == "bf16" || name == "f32") return std::nullopt;
  if (name == "q4") return WeightQuant{name, ir::DType::Q4_K, ir::DType::Q6_K};
  if (name == "q8") return WeightQuant{name, ir::DType::Q8_0, ir::DType::Q8_0};
  if (std::optional<ir::DType> d = ir::parse_dtype(name); d && can_quantize_to(*d)) return WeightQuant{name, *d, *d};
  throw std::invalid_argument(fmt::format(
      "unknown weight quantization '{}' (q4, q8, f16, bf16, or a kernel format: q8_0 q4_0 q4_K q5_K q6_K qa4 qa8 qa4h qa8h qa4h_g64 qa8h_g64)", name));
}

ir::DType fit_to_rows(ir::DType format, int64_t cols) {
  if (cols % ir::info(format).block_elems == 0) return format;
  if (format == ir::DType::Q4_K) return ir::DType::QA4H;
  if (format == ir::DType::Q5_K || format == ir::DType::Q6_K) return ir::DType::Q8_0;
  if (format == ir::DType::QA4H_G64) return ir::DType::QA4H;
  if (format == ir::DType::QA8H_G64) return ir::DType::QA8H;
  return format;  // 32-value blocks: quantize_for_kernel reports rows that do not hold them
}

std::unique_ptr<ModelSource> quantize_weights(std::unique_ptr<ModelSource> source, const ModelSpec& spec,
                                              const WeightQuant& quant) {
  return std::make_unique<QuantizingSource>(std::move(source), spec, quant);
}

std::unique_ptr<ModelSource> with_derived_tensors(std::unique_ptr<ModelSource> source, const ModelSpec& spec) {
  std::vector<DerivedTensor> derived = derived_tensors(spec);
  if (derived.empty()) return source;
  return std::make_unique<DerivedTensorsSource>(std::move(source), std::move(derived));
}

std::optional<nlohmann::json> tokenizer_json(const std::filesystem::path& model) {
  if (is_gguf_path(model)) return GgufModel::open(model).hf_tokenizer_json();
  if (!std::filesystem::exists(model / "tokenizer.json")) return std::nullopt;
  return read_json_file(model / "tokenizer.json");
}

std::optional<nlohmann::json> tokenizer_config(const std::filesystem::path& model) {
  if (is_gguf_path(model)) return GgufModel::open(model).hf_tokenizer_config();
  if (!std::filesystem::exists(model / "tokenizer_config.json")) return std::nullopt;
  return read_json_file(model / "tokenizer_config.json");
}

}  // namespace vkllm::frontends
