#include "tests/quant/mlx_folder.h"

#include <cstring>
#include <fstream>
#include <vector>

#include "frontends/checkpoint/checkpoint.h"
#include "frontends/checkpoint/safetensors.h"
#include "frontends/quant/half.h"

namespace vkllm::frontends::mlx_testing {
namespace fs = std::filesystem;

namespace {

std::vector<float> values_of(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    uint16_t h = 0;
    if (t.dtype == StDType::F32) {
      std::memcpy(&out[i], t.bytes.data() + 4 * i, 4);
      continue;
    }
    std::memcpy(&h, t.bytes.data() + 2 * i, 2);
    out[i] = t.dtype == StDType::BF16 ? quant::bf16_to_f32(h) : quant::f16_to_f32(h);
  }
  return out;
}

TensorToWrite scale_tensor(const std::string& name, const std::vector<float>& v, std::vector<int64_t> shape,
                           quant::MlxScaleType type) {
  TensorToWrite t{name, StDType::F32, std::move(shape), {}};
  if (type == quant::MlxScaleType::F32) {
    t.bytes.resize(v.size() * 4);
    std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
    return t;
  }
  t.dtype = type == quant::MlxScaleType::F16 ? StDType::F16 : StDType::BF16;
  t.bytes.resize(v.size() * 2);
  for (size_t i = 0; i < v.size(); ++i) {
    const uint16_t h = type == quant::MlxScaleType::F16 ? quant::f32_to_f16(v[i]) : quant::f32_to_bf16(v[i]);
    std::memcpy(t.bytes.data() + 2 * i, &h, 2);
  }
  return t;
}

}  // namespace

void convert_to_mlx(const fs::path& hf_dir, const fs::path& out, const MlxConvertOptions& opts) {
  const Checkpoint ck = Checkpoint::open(hf_dir);
  fs::create_directories(out);
  for (const char* f : {"generation_config.json", "tokenizer.json", "tokenizer_config.json"})
    if (fs::exists(hf_dir / f)) fs::copy_file(hf_dir / f, out / f, fs::copy_options::overwrite_existing);
  nlohmann::json q = {{"group_size", opts.group_size}, {"bits", opts.bits}};
  std::vector<TensorToWrite> tensors;
  for (const std::string& name : ck.tensor_names()) {
    const TensorView& t = ck.tensor(name);
    const std::string module = name.substr(0, name.rfind('.'));
    int bits = opts.bits, group = opts.group_size;
    if (auto it = opts.overrides.find(module); it != opts.overrides.end()) {
      std::tie(bits, group) = it->second;
      q[module] = {{"group_size", group}, {"bits", bits}};
    }
    if (t.shape.size() != 2 || !name.ends_with(".weight") || t.shape[1] % group != 0) {
      tensors.push_back({name, t.dtype, t.shape, {t.bytes.begin(), t.bytes.end()}});
      continue;
    }
    const quant::MlxQuantized mq = quant::quantize_mlx(bits, group, values_of(t), opts.scale_type);
    TensorToWrite w{name, StDType::U32, {t.shape[0], t.shape[1] * bits / 32}, {}};
    w.bytes.resize(mq.packed.size() * 4);
    std::memcpy(w.bytes.data(), mq.packed.data(), w.bytes.size());
    tensors.push_back(std::move(w));
    const std::vector<int64_t> groups{t.shape[0], t.shape[1] / group};
    tensors.push_back(scale_tensor(module + ".scales", mq.scales, groups, opts.scale_type));
    tensors.push_back(scale_tensor(module + ".biases", mq.biases, groups, opts.scale_type));
  }
  write_safetensors(out / "model.safetensors", tensors);
  nlohmann::json config = ck.config();
  config["quantization"] = q;
  config["quantization_config"] = q;
  std::ofstream(out / "config.json") << config.dump(2);
}

}  // namespace vkllm::frontends::mlx_testing
