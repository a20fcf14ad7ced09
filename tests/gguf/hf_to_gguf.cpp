#include "tests/gguf/hf_to_gguf.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <map>
#include <numbers>
#include <regex>
#include <stdexcept>

#include "frontends/gguf/gguf_writer.h"

namespace vkllm::frontends::gguf_testing {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::optional<quant::BlockType> matrix_type(const ConvertOptions& opts, const std::string& name) {
  if (opts.matrix_types) return opts.matrix_types(name);
  if (opts.q8_0_matrices && name != "model.embed_tokens.weight") return quant::BlockType::Q8_0;
  return std::nullopt;
}

float half_to_float(uint16_t h) {
  const int exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  const float sign = (h & 0x8000) ? -1.0f : 1.0f;
  return exp == 0 ? sign * std::ldexp(static_cast<float>(mant), -24)
                  : sign * std::ldexp(static_cast<float>(1024 + mant), exp - 25);
}

}  // namespace

GgmlType ggml_block_type(quant::BlockType t) {
  switch (t) {
    case quant::BlockType::Q8_0: return GgmlType::Q8_0;
    case quant::BlockType::Q4_0: return GgmlType::Q4_0;
    case quant::BlockType::Q4_1: return GgmlType::Q4_1;
    case quant::BlockType::Q5_0: return GgmlType::Q5_0;
    case quant::BlockType::Q4_K: return GgmlType::Q4_K;
    case quant::BlockType::Q5_K: return GgmlType::Q5_K;
    case quant::BlockType::Q6_K: return GgmlType::Q6_K;
  }
  throw std::invalid_argument("unknown block type");
}

std::string gguf_tensor_name(const std::string& hf, bool gemma) {
  static const std::map<std::string, std::string> top = {
      {"model.embed_tokens.weight", "token_embd.weight"}, {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"}};
  if (auto it = top.find(hf); it != top.end()) return it->second;
  static const std::regex layer(R"(model\.layers\.(\d+)\.(.+)\.(weight|bias))");
  std::smatch m;
  if (!std::regex_match(hf, m, layer)) return "";
  std::map<std::string, std::string> names = {
      {"input_layernorm", "attn_norm"},        {"self_attn.q_proj", "attn_q"},      {"self_attn.k_proj", "attn_k"},
      {"self_attn.v_proj", "attn_v"},          {"self_attn.o_proj", "attn_output"}, {"self_attn.q_norm", "attn_q_norm"},
      {"self_attn.k_norm", "attn_k_norm"},     {"mlp.gate_proj", "ffn_gate"},       {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"},           {"post_feedforward_layernorm", "post_ffw_norm"},
      {"pre_feedforward_layernorm", "ffn_norm"},
      {"post_attention_layernorm", gemma ? "post_attention_norm" : "ffn_norm"}};
  auto it = names.find(m[2].str());
  return it == names.end() ? "" : fmt::format("blk.{}.{}.{}", m[1].str(), it->second, m[3].str());
}

std::vector<float> as_floats(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    if (t.dtype == StDType::F32) {
      std::memcpy(&out[i], t.bytes.data() + 4 * i, 4);
    } else {
      const uint16_t h = static_cast<uint16_t>(t.bytes[2 * i] | (t.bytes[2 * i + 1] << 8));
      if (t.dtype == StDType::BF16) {
        const uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(&out[i], &bits, 4);
      } else {
        out[i] = half_to_float(h);
      }
    }
  }
  return out;
}

std::vector<uint8_t> float_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// LlamaModel.permute: rows reshaped [heads, 2, head_dim/2], the last two axes swapped.
std::vector<uint8_t> permute_rows(std::span<const uint8_t> data, int64_t rows, int64_t heads) {
  const int64_t head_dim = rows / heads;
  const size_t row_bytes = data.size() / static_cast<size_t>(rows);
  std::vector<uint8_t> out(data.size());
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < head_dim / 2; ++i)
      for (int64_t s = 0; s < 2; ++s) {
        const int64_t dst = h * head_dim + i * 2 + s, src = h * head_dim + s * (head_dim / 2) + i;
        std::memcpy(out.data() + static_cast<size_t>(dst) * row_bytes, data.data() + static_cast<size_t>(src) * row_bytes,
                    row_bytes);
      }
  return out;
}

GgmlType ggml_type(StDType t) {
  return t == StDType::BF16 ? GgmlType::BF16 : t == StDType::F16 ? GgmlType::F16 : GgmlType::F32;
}

// generate_extra_tensors of LlamaModel: the llama3 rope factors, old_context_len from the top-level
// config (default 8192), as the converter reads it.
std::vector<float> llama3_rope_factors(const json& config, int64_t dim) {
  const json& rs = config["rope_scaling"];
  const double base = config.value("rope_theta", 10000.0);
  const double factor = rs.value("factor", 8.0), low = rs.value("low_freq_factor", 1.0), high = rs.value("high_freq_factor", 4.0);
  const double old_context_len = config.value("original_max_position_embeddings", 8192.0);
  std::vector<float> out;
  for (int64_t i = 0; i < dim; i += 2) {
    const float freq = 1.0f / std::pow(static_cast<float>(base), static_cast<float>(i) / static_cast<float>(dim));
    const double wavelen = 2 * std::numbers::pi / freq;
    if (wavelen < old_context_len / high) out.push_back(1.0f);
    else if (wavelen > old_context_len / low) out.push_back(static_cast<float>(factor));
    else {
      const double smooth = (old_context_len / wavelen - low) / (high - low);
      out.push_back(static_cast<float>(1 / ((1 - smooth) / factor + smooth)));
    }
  }
  return out;
}

void convert_to_gguf(const fs::path& hf_dir, const fs::path& out, const ConvertOptions& opts) {
  const Checkpoint ck = Checkpoint::open(hf_dir);
  const json& c = ck.config();
  const json tok = read_json_file(hf_dir / "tokenizer.json");
  const json tok_config = read_json_file(hf_dir / "tokenizer_config.json");
  const std::string model_type = c["model_type"];
  const std::string arch = model_type == "mistral" ? "llama" : model_type == "gemma3_text" ? "gemma3" : model_type;
  const bool gemma = arch == "gemma2" || arch == "gemma3";
  const int64_t heads = c["num_attention_heads"], kv_heads = c["num_key_value_heads"];
  const int64_t head_dim = c.value("head_dim", c["hidden_size"].get<int64_t>() / heads);
  auto key = [&](const char* k) { return fmt::format("{}.{}", arch, k); };
  GgufWriter w;
  w.set("general.architecture", GgufValue::string(arch));
  w.set("general.name", GgufValue::string("tiny"));
  w.set(key("context_length"), GgufValue::u32(c["max_position_embeddings"]));
  w.set(key("embedding_length"), GgufValue::u32(c["hidden_size"]));
  w.set(key("block_count"), GgufValue::u32(c["num_hidden_layers"]));
  w.set(key("feed_forward_length"), GgufValue::u32(c["intermediate_size"]));
  w.set(key("attention.head_count"), GgufValue::u32(static_cast<uint32_t>(heads)));
  w.set(key("attention.head_count_kv"), GgufValue::u32(static_cast<uint32_t>(kv_heads)));
  if (arch != "gemma2") w.set(key("rope.freq_base"), GgufValue::f32(c.value("rope_theta", 10000.0f)));
  w.set(key("attention.layer_norm_rms_epsilon"), GgufValue::f32(c["rms_norm_eps"]));
  if (c.contains("head_dim")) {
    w.set(key("attention.key_length"), GgufValue::u32(static_cast<uint32_t>(head_dim)));
    w.set(key("attention.value_length"), GgufValue::u32(static_cast<uint32_t>(head_dim)));
  }
  if (arch == "llama") {
    w.set(key("vocab_size"), GgufValue::u32(c["vocab_size"]));
    w.set(key("rope.dimension_count"), GgufValue::u32(static_cast<uint32_t>(head_dim)));
  }
  if (arch == "gemma2") {
    w.set(key("attn_logit_softcapping"), GgufValue::f32(c["attn_logit_softcapping"]));
    w.set(key("final_logit_softcapping"), GgufValue::f32(c["final_logit_softcapping"]));
  }
  if (gemma) w.set(key("attention.sliding_window"), GgufValue::u32(c["sliding_window"]));

  // Tokenizer (gguf.vocab / _set_vocab_gpt2): ids in order, added tokens as control tokens.
  const int64_t vocab_size = c["vocab_size"];
  std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
  std::vector<int64_t> types(tokens.size(), 5);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = fmt::format("[PAD{}]", i);
  for (auto it = tok["model"]["vocab"].begin(); it != tok["model"]["vocab"].end(); ++it) {
    tokens[it.value().get<size_t>()] = it.key();
    types[it.value().get<size_t>()] = 1;
  }
  for (const json& a : tok["added_tokens"]) {
    tokens[a["id"].get<size_t>()] = a["content"];
    types[a["id"].get<size_t>()] = a["special"].get<bool>() ? 3 : 4;
  }
  std::vector<std::string> merges;
  for (const json& m : tok["model"]["merges"]) merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
  auto id_of = [&](const json& token) -> std::optional<int64_t> {
    if (!token.is_string()) return std::nullopt;
    for (size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] == token.get<std::string>()) return static_cast<int64_t>(i);
    return std::nullopt;
  };
  w.set("tokenizer.ggml.model", GgufValue::string("gpt2"));
  w.set("tokenizer.ggml.pre", GgufValue::string("gpt-2"));
  w.set("tokenizer.ggml.tokens", GgufValue::array_of_strings(tokens));
  w.set("tokenizer.ggml.token_type", GgufValue::array_of_ints(GgufType::I32, types));
  w.set("tokenizer.ggml.merges", GgufValue::array_of_strings(merges));
  // SpecialVocab: ids of tokenizer_config's tokens, falling back to config.json's ids.
  const std::optional<int64_t> bos = id_of(tok_config["bos_token"]);
  w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(static_cast<uint32_t>(bos.value_or(c["bos_token_id"].get<int64_t>()))));
  w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(*id_of(tok_config["eos_token"]))));
  w.set("tokenizer.ggml.padding_token_id", GgufValue::u32(static_cast<uint32_t>(*id_of(tok_config["pad_token"]))));
  w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(tok_config["add_bos_token"]));
  w.set("tokenizer.chat_template", GgufValue::string(tok_config["chat_template"]));

  if (arch == "llama" && c.contains("rope_scaling") && c["rope_scaling"].is_object())
    w.add_tensor("rope_freqs.weight", GgmlType::F32, {head_dim / 2}, float_bytes(llama3_rope_factors(c, head_dim)));
  for (const std::string& name : ck.tensor_names()) {
    const TensorView& t = ck.tensor(name);
    const std::string gname = gguf_tensor_name(name, gemma);
    if (gname.empty()) throw std::runtime_error("no GGUF name for tensor " + name);
    const std::vector<int64_t> dims(t.shape.rbegin(), t.shape.rend());
    std::vector<uint8_t> data(t.bytes.begin(), t.bytes.end());
    const bool q = name.find("q_proj") != std::string::npos, k = name.find("k_proj") != std::string::npos;
    if (arch == "llama" && (q || k)) data = permute_rows(data, t.shape[0], q ? heads : kv_heads);
    if (t.shape.size() == 1) {
      // 1-D tensors are stored as F32; Gemma's norms get 1 added (Gemma2Model/Gemma3Model.modify_tensors).
      const TensorView view{name, t.dtype, t.shape, data};
      std::vector<float> v = as_floats(view);
      if (gemma && name.ends_with("norm.weight"))
        for (float& x : v) x += 1.0f;
      w.add_tensor(gname, GgmlType::F32, dims, float_bytes(v));
    } else if (std::optional<quant::BlockType> b = matrix_type(opts, name)) {
      // Quantized from the HF values in HF row order, then permuted: whole rows move (as llama.cpp
      // permutes before quantizing, rows of blocks come out the same).
      const TensorView view{name, t.dtype, t.shape, {t.bytes.begin(), t.bytes.end()}};
      std::vector<uint8_t> blocks = quant::quantize(*b, as_floats(view));
      if (arch == "llama" && (q || k)) blocks = permute_rows(blocks, t.shape[0], q ? heads : kv_heads);
      w.add_tensor(gname, ggml_block_type(*b), dims, std::move(blocks));
    } else {
      w.add_tensor(gname, ggml_type(t.dtype), dims, std::move(data));
    }
  }
  w.write(out);
}

}  // namespace vkllm::frontends::gguf_testing
