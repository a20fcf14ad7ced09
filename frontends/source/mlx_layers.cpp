#include "frontends/source/mlx_layers.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <stdexcept>

#include "frontends/quant/half.h"
#include "frontends/quant/mlx.h"
#include "frontends/source/repack.h"

namespace vkllm::frontends {
namespace {

int positive_int(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<int64_t>() <= 0 || j[key].get<int64_t>() > 1024)
    throw FormatError(fmt::format("{}: `{}` must be a positive integer", where, key));
  return j[key].get<int>();
}

bool is_float(StDType t) { return t == StDType::F32 || t == StDType::F16 || t == StDType::BF16; }

void widen_check(const TensorView& v, const std::string& where) {
  if (!is_float(v.dtype))
    throw FormatError(fmt::format("{}: '{}' has dtype {}; scales and biases must be F32, F16 or BF16", where, v.name,
                                  to_string(v.dtype)));
}

// Values of an F32 / F16 / BF16 tensor as f32 (exact widening).
std::vector<float> widen(const TensorView& v) {
  const auto n = static_cast<size_t>(v.numel());
  std::vector<float> out(n);
  const uint8_t* p = v.bytes.data();
  for (size_t i = 0; i < n; ++i) {
    uint16_t h = 0;
    if (v.dtype == StDType::F32) {
      std::memcpy(&out[i], p + 4 * i, 4);
      continue;
    }
    std::memcpy(&h, p + 2 * i, 2);
    out[i] = v.dtype == StDType::F16 ? quant::f16_to_f32(h) : quant::bf16_to_f32(h);
  }
  return out;
}

}  // namespace

MlxLayers read_mlx_layers(const nlohmann::json& q, const std::vector<std::string>& tensor_names,
                        const std::function<const TensorView*(const std::string&)>& find, const std::string& where,
                        const std::string& origin) {
  MlxLayers out;
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
  for (const std::string& name : tensor_names) {
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
    l.scales = find(name);
    l.weight = find(module + ".weight");
    l.biases = find(module + ".biases");
    const std::string lwhere = fmt::format("{}: MLX-quantized layer '{}'", origin, module);
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
    constexpr int64_t kMaxDim = int64_t{1} << 40;  // keeps the size arithmetic below far from overflow
    if (words <= 0 || words > kMaxDim || l.scales->shape[1] <= 0 || l.scales->shape[1] > kMaxDim)
      throw FormatError(fmt::format("{}: weight [{}] and scales [{}] must have positive row lengths", lwhere,
                                    fmt::join(l.weight->shape, ", "), fmt::join(l.scales->shape, ", ")));
    l.cols = l.scales->shape[1] * l.group_size;
    if (words * 32 != l.cols * l.bits)
      throw FormatError(fmt::format("{}: {} words per row do not hold {} groups of {} {}-bit values (bits and "
                                    "group_size from {})", lwhere, words, l.scales->shape[1], l.group_size, l.bits,
                                    where));
    for (const TensorView* v : {l.scales, l.biases}) widen_check(*v, lwhere);
    l.kernel_dtype = mlx_kernel_dtype(l.bits, l.group_size, widen(*l.scales), widen(*l.biases));
    bits_seen.insert(l.bits);
    out.folded.insert(name);
    out.folded.insert(module + ".biases");
    out.by_weight[module + ".weight"] = l;
  }
  for (const std::string& name : tensor_names)
    if (name.ends_with(".biases") && !out.folded.contains(name))
      throw FormatError(fmt::format("{}: '{}' has no matching scales", origin, name));
  out.format = fmt::format("MLX affine {}-bit, group {}", default_bits, default_group);
  if (bits_seen.size() > 1 || (bits_seen.size() == 1 && *bits_seen.begin() != default_bits))
    out.format += " (with per-layer overrides)";
  return out;
}

std::vector<uint8_t> repack_mlx_layer(const MlxLayer& l, const std::string& origin) {
  widen_check(*l.scales, origin);
  widen_check(*l.biases, origin);
  if (l.weight->dtype != StDType::U32)
    throw FormatError(fmt::format("{}: '{}' is not a U32 tensor of packed values", origin, l.weight->name));
  std::vector<uint32_t> words(static_cast<size_t>(l.weight->numel()));
  std::memcpy(words.data(), l.weight->bytes.data(), words.size() * 4);
  try {
    return repack_mlx(l.kernel_dtype, l.bits, l.group_size, l.rows, l.cols, words, widen(*l.scales),
                      widen(*l.biases));
  } catch (const std::invalid_argument& e) {
    throw FormatError(fmt::format("{}: MLX layer '{}': {}", origin, l.weight->name, e.what()));
  }
}

}  // namespace vkllm::frontends
