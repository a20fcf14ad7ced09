#include "frontends/source/model_source.h"

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "frontends/gguf/gguf_model.h"
#include "frontends/quant/half.h"
#include "frontends/quant/mlx.h"
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

// Values of an F32 / F16 / BF16 tensor as f32 (exact widening).
std::vector<float> widen(const TensorView& v, const std::string& origin) {
  const auto n = static_cast<size_t>(v.numel());
  std::vector<float> out(n);
  const uint8_t* p = v.bytes.data();
  for (size_t i = 0; i < n; ++i) {
    uint16_t h = 0;
    switch (v.dtype) {
      case StDType::F32: std::memcpy(&out[i], p + 4 * i, 4); break;
      case StDType::F16: std::memcpy(&h, p + 2 * i, 2); out[i] = quant::f16_to_f32(h); break;
      case StDType::BF16: std::memcpy(&h, p + 2 * i, 2); out[i] = quant::bf16_to_f32(h); break;
      default:
        throw FormatError(fmt::format("{}: tensor '{}' has dtype {}; MLX scales and biases must be F32, F16 or BF16",
                                      origin, v.name, to_string(v.dtype)));
    }
  }
  return out;
}

std::vector<float> widen(const ir::HostTensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(t.get(static_cast<int64_t>(i)));
  return out;
}

// An MLX-quantized layer: packed `weight` words, per-group `scales` and `biases`.
struct MlxLayer {
  int bits = 0, group_size = 0;
  int64_t rows = 0, cols = 0;
  const TensorView* weight = nullptr;
  const TensorView* scales = nullptr;
  const TensorView* biases = nullptr;
};

int positive_int(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_number_integer())
    throw FormatError(fmt::format("{}: `{}` must be an integer", where, key));
  return j[key].get<int>();
}

// A Hugging Face folder, plain or MLX-quantized.
class FolderSource : public ModelSource {
 public:
  explicit FolderSource(const std::filesystem::path& dir) : ck_(Checkpoint::open(dir)) {
    const nlohmann::json& config = ck_.config();
    const char* key = config.contains("quantization") ? "quantization"
                      : config.contains("quantization_config") ? "quantization_config" : nullptr;
    const std::string where = fmt::format("{}: config.json", (dir / "config.json").string());
    if (!key) {
      for (const std::string& name : ck_.tensor_names())
        if (name.ends_with(".scales"))
          throw FormatError(fmt::format("{} has no `quantization` but the weights hold '{}' (an MLX-quantized layer)",
                                        where, name));
      format_ = "safetensors";
      return;
    }
    read_mlx_layers(config[key], fmt::format("{} `{}`", where, key));
  }

  const std::filesystem::path& path() const override { return ck_.dir(); }
  std::string format() const override { return format_; }
  const nlohmann::json& config() const override { return ck_.config(); }
  const nlohmann::json& generation_config() const override { return ck_.generation_config(); }
  const Checkpoint* checkpoint() const override { return &ck_; }

  std::vector<std::string> tensor_names() const override {
    std::vector<std::string> names;
    for (const std::string& n : ck_.tensor_names())
      if (!folded_.contains(n)) names.push_back(n);
    return names;
  }

  std::optional<SourceTensor> find(const std::string& name) const override {
    if (auto it = mlx_.find(name); it != mlx_.end())
      return SourceTensor{{it->second.rows, it->second.cols}, mlx_kernel_dtype(it->second.bits)};
    const TensorView* v = folded_.contains(name) ? nullptr : ck_.find(name);
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
    if (auto it = mlx_.find(name); it != mlx_.end()) {
      const MlxLayer& l = it->second;
      std::vector<uint32_t> words(static_cast<size_t>(l.weight->numel()));
      std::memcpy(words.data(), l.weight->bytes.data(), words.size() * 4);
      const std::string origin = ck_.dir().string();
      try {
        t.bytes = repack_mlx(l.bits, l.group_size, l.rows, l.cols, words, widen(*l.scales, origin),
                             widen(*l.biases, origin));
      } catch (const std::invalid_argument& e) {
        throw FormatError(fmt::format("{}: MLX layer '{}': {}", origin, name, e.what()));
      }
      return t;
    }
    const TensorView& v = ck_.tensor(name);
    t.bytes.assign(v.bytes.begin(), v.bytes.end());
    return t;
  }

 private:
  void read_mlx_layers(const nlohmann::json& q, const std::string& where) {
    if (!q.is_object()) throw FormatError(fmt::format("{} must be an object", where));
    if (q.contains("quant_method"))
      throw FormatError(fmt::format("{}: quantization method {} is not supported (vkllm reads MLX affine folders "
                                    "and GGUF files)", where, q["quant_method"].dump()));
    if (q.contains("mode") && q["mode"] != "affine")
      throw FormatError(fmt::format("{}: MLX mode {} is not supported (only \"affine\")", where, q["mode"].dump()));
    const int default_bits = positive_int(q, "bits", where), default_group = positive_int(q, "group_size", where);
    try {
      quant::check_mlx_format(default_bits, default_group);
    } catch (const std::invalid_argument& e) {
      throw FormatError(fmt::format("{}: {}", where, e.what()));
    }
    std::set<int> bits_seen;
    for (const std::string& name : ck_.tensor_names()) {
      if (!name.ends_with(".scales")) continue;
      const std::string module = name.substr(0, name.size() - 7);
      MlxLayer l{default_bits, default_group};
      if (q.contains(module)) {  // per-layer override: {group_size, bits}, or false (left unquantized)
        const nlohmann::json& o = q[module];
        const std::string owhere = fmt::format("{} entry \"{}\"", where, module);
        if (o.is_boolean() && !o.get<bool>())
          throw FormatError(fmt::format("{} says the layer is not quantized, but '{}' exists", owhere, name));
        if (o.is_object()) {
          if (o.contains("bits")) l.bits = positive_int(o, "bits", owhere);
          if (o.contains("group_size")) l.group_size = positive_int(o, "group_size", owhere);
        } else if (!o.is_boolean()) {
          throw FormatError(fmt::format("{} must be an object or a boolean", owhere));
        }
        try {
          quant::check_mlx_format(l.bits, l.group_size);
        } catch (const std::invalid_argument& e) {
          throw FormatError(fmt::format("{}: {}", owhere, e.what()));
        }
      }
      l.scales = ck_.find(name);
      l.weight = ck_.find(module + ".weight");
      l.biases = ck_.find(module + ".biases");
      const std::string lwhere = fmt::format("{}: MLX-quantized layer '{}'", ck_.dir().string(), module);
      if (!l.weight || !l.biases)
        throw FormatError(fmt::format("{} has scales but no {} (affine layers store weight, scales and biases)", lwhere,
                                      l.weight ? "biases" : "weight"));
      if (l.weight->dtype != StDType::U32 || l.weight->shape.size() != 2)
        throw FormatError(fmt::format("{}: weight must be a U32 matrix of packed values, not {}[{}]", lwhere,
                                      to_string(l.weight->dtype), fmt::join(l.weight->shape, ", ")));
      l.rows = l.weight->shape[0];
      const int64_t words = l.weight->shape[1];
      if (l.scales->shape.size() != 2 || l.scales->shape[0] != l.rows || l.biases->shape != l.scales->shape)
        throw FormatError(fmt::format("{}: scales [{}] and biases [{}] must both be [{}, groups]", lwhere,
                                      fmt::join(l.scales->shape, ", "), fmt::join(l.biases->shape, ", "), l.rows));
      l.cols = l.scales->shape[1] * l.group_size;
      if (l.cols <= 0 || words * 32 != l.cols * l.bits)
        throw FormatError(fmt::format("{}: {} words per row do not hold {} groups of {} {}-bit values (bits and "
                                      "group_size from {})", lwhere, words, l.scales->shape[1], l.group_size, l.bits,
                                      where));
      for (const TensorView* v : {l.scales, l.biases}) widen_check(*v, lwhere);
      bits_seen.insert(l.bits);
      folded_.insert(name);
      folded_.insert(module + ".biases");
      mlx_[module + ".weight"] = l;
    }
    for (const std::string& name : ck_.tensor_names())
      if (name.ends_with(".biases") && !folded_.contains(name))
        throw FormatError(fmt::format("{}: '{}' has no matching scales", ck_.dir().string(), name));
    format_ = fmt::format("MLX affine {}-bit, group {}", default_bits, default_group);
    if (bits_seen.size() > 1 || (bits_seen.size() == 1 && *bits_seen.begin() != default_bits))
      format_ += " (with per-layer overrides)";
  }

  static void widen_check(const TensorView& v, const std::string& where) {
    if (!float_dtype(v.dtype))
      throw FormatError(fmt::format("{}: '{}' has dtype {}; scales and biases must be F32, F16 or BF16", where, v.name,
                                    to_string(v.dtype)));
  }

  Checkpoint ck_;
  std::string format_;
  std::map<std::string, MlxLayer> mlx_;  // by the HF weight name
  std::set<std::string> folded_;         // scales and biases, reached through their weight
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
    const std::string head = spec.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
    for (const TensorSpec& t : expected_tensors(spec)) {
      if (t.role != TensorSpec::Role::Projection && t.role != TensorSpec::Role::Embedding) continue;
      const std::optional<SourceTensor> s = inner_->find(t.name);
      if (!s || ir::is_quantized(s->dtype) || s->shape.size() != 2) continue;
      targets_[t.name] = fit_to_rows(t.name == head ? quant.output_head : quant.matrices, s->shape[1]);
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
    ir::HostTensor t = inner_->tensor(name);
    try {
      t.bytes = quantize_for_kernel(it->second, t.shape[1], widen(t));
    } catch (const std::invalid_argument& e) {
      throw FormatError(fmt::format("{}: quantizing '{}' to {}: {}", path().string(), name, ir::name(it->second), e.what()));
    }
    t.dtype = it->second;
    return t;
  }

 private:
  std::unique_ptr<ModelSource> inner_;
  WeightQuant quant_;
  std::map<std::string, ir::DType> targets_;
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
      "unknown weight quantization '{}' (q4, q8, f16, bf16, or a kernel format: q8_0 q4_0 q4_K q6_K qa4 qa8)", name));
}

ir::DType fit_to_rows(ir::DType format, int64_t cols) {
  if (cols % ir::info(format).block_elems == 0) return format;
  if (format == ir::DType::Q4_K) return ir::DType::QA4;
  if (format == ir::DType::Q6_K) return ir::DType::Q8_0;
  return format;  // 32-value blocks: quantize_for_kernel reports rows that do not hold them
}

std::unique_ptr<ModelSource> quantize_weights(std::unique_ptr<ModelSource> source, const ModelSpec& spec,
                                              const WeightQuant& quant) {
  return std::make_unique<QuantizingSource>(std::move(source), spec, quant);
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
