#include "frontends/gguf/gguf_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>

#include "frontends/gguf/gguf_tokenizer.h"

namespace vkllm::frontends {
namespace {

using json = nlohmann::json;

// What llama.cpp's converter did per architecture (convert_hf_to_gguf.py).
struct ArchInfo {
  const char* gguf;
  const char* architecture;  // HF architectures[0]
  const char* model_type;
  bool permuted_qk;  // LlamaModel.permute applied to q_proj/k_proj weights and biases
  bool gemma;        // norm weights stored as 1 + w; sandwich norms named post_attention_norm/post_ffw_norm
};
constexpr ArchInfo kArchs[] = {
    {"llama", "LlamaForCausalLM", "llama", true, false},
    {"qwen2", "Qwen2ForCausalLM", "qwen2", false, false},
    {"qwen3", "Qwen3ForCausalLM", "qwen3", false, false},
    {"gemma2", "Gemma2ForCausalLM", "gemma2", false, true},
    {"gemma3", "Gemma3ForCausalLM", "gemma3_text", false, true},
};

const ArchInfo& arch_info(const GgufFile& f, const std::string& arch) {
  for (const ArchInfo& a : kArchs)
    if (arch == a.gguf) return a;
  if (arch == "qwen35" || arch == "qwen35moe")
    throw f.error(fmt::format("GGUF architecture '{}' (Qwen3.5) is not supported yet", arch));
  std::string known;
  for (const ArchInfo& a : kArchs) known += known.empty() ? a.gguf : fmt::format(", {}", a.gguf);
  throw f.error(fmt::format("GGUF architecture '{}' is not supported (supported: {})", arch, known));
}

// A per-layer hyperparameter that may be stored as one integer or as one per layer (all equal).
std::optional<int64_t> uniform_int(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  if (!v) return std::nullopt;
  if (!v->is_array()) return f.get_int(key);
  std::vector<int64_t> values;
  try {
    for (uint64_t i = 0; i < v->size(); ++i) values.push_back(v->int_at(i));
  } catch (const FormatError& e) {
    throw f.error(fmt::format("metadata '{}': {}", key, e.what()));
  }
  if (values.empty()) throw f.error(fmt::format("metadata '{}' is an empty array", key));
  for (int64_t x : values)
    if (x != values[0])
      throw f.error(fmt::format("metadata '{}' differs between layers ({} and {}); per-layer sizes are not supported",
                                key, values[0], x));
  return values[0];
}

int64_t require_positive(const GgufFile& f, const std::string& key, std::optional<int64_t> v) {
  if (!v) throw f.error(fmt::format("missing metadata '{}'", key));
  if (*v <= 0 || *v > (int64_t{1} << 40)) throw f.error(fmt::format("metadata '{}' = {} is not a valid size", key, *v));
  return *v;
}

// --- llama3 RoPE scaling from rope_freqs ---------------------------------------------------------
// llama.cpp's converter turns rope_scaling {factor F, low_freq_factor lo, high_freq_factor hi,
// original_max_position_embeddings L} into one factor per frequency (generate_extra_tensors):
// with r = L / wavelen, 1 where r > hi, F where r < lo, else 1 / ((1 - s)/F + s) with
// s = (r - lo)/(hi - lo). Only the product of these choices is observable, so the inverse picks
// L (the file's rope.scaling.original_context_length, else the converter's default 8192) and fits
// lo and hi to the smooth entries, then checks that the result reproduces every stored factor.

struct Llama3Params {
  double factor, low, high, original;
};

double llama3_factor(const Llama3Params& p, double inv_freq) {
  const double wavelen = 2 * std::numbers::pi / inv_freq;
  if (wavelen < p.original / p.high) return 1.0;
  if (wavelen > p.original / p.low) return p.factor;
  const double smooth = (p.original / wavelen - p.low) / (p.high - p.low);
  return 1 / ((1 - smooth) / p.factor + smooth);
}

bool llama3_matches(const Llama3Params& p, const std::vector<double>& inv, const std::vector<float>& factors) {
  if (!(p.low > 0) || !(p.high > p.low)) return false;
  for (size_t i = 0; i < factors.size(); ++i)
    if (!(std::fabs(llama3_factor(p, inv[i]) - factors[i]) <= 1e-5 * factors[i])) return false;
  return true;
}

json llama3_scaling(const GgufFile& f, const std::vector<float>& factors, double theta, int64_t rotary_dims,
                    int64_t original) {
  if (static_cast<int64_t>(factors.size()) * 2 != rotary_dims)
    throw f.error(fmt::format("rope_freqs.weight has {} entries; {} rotary dimensions need {}", factors.size(),
                              rotary_dims, rotary_dims / 2));
  double max_factor = 1.0;
  for (size_t i = 0; i < factors.size(); ++i) {
    if (!std::isfinite(factors[i]) || factors[i] < 1.0f - 1e-6f)
      throw f.error(fmt::format("rope_freqs.weight[{}] = {} is not a RoPE scaling factor (>= 1)", i, factors[i]));
    max_factor = std::max(max_factor, static_cast<double>(factors[i]));
  }
  if (max_factor <= 1.0 + 1e-6) return nullptr;  // no scaling
  // Frequencies as the converter computed them (float32, as torch does).
  std::vector<double> inv(factors.size());
  for (size_t i = 0; i < factors.size(); ++i)
    inv[i] = 1.0f / std::pow(static_cast<float>(theta), static_cast<float>(2 * i) / static_cast<float>(rotary_dims));
  const double L = static_cast<double>(original);
  const double tol = 1e-5;
  double max_r_scaled = 0, min_r_unscaled = std::numeric_limits<double>::infinity();
  std::vector<std::pair<double, double>> smooth;  // (r, s)
  for (size_t i = 0; i < factors.size(); ++i) {
    const double r = L * inv[i] / (2 * std::numbers::pi);
    const double v = factors[i];
    if (std::fabs(v - 1.0) <= tol) min_r_unscaled = std::min(min_r_unscaled, r);
    else if (std::fabs(v - max_factor) <= tol * max_factor) max_r_scaled = std::max(max_r_scaled, r);
    else smooth.emplace_back(r, (1 / v - 1 / max_factor) / (1 - 1 / max_factor));
  }
  std::vector<Llama3Params> candidates;
  if (smooth.size() >= 2) {
    // Least-squares line s = a·r + b; lo = -b/a, hi = lo + 1/a.
    double sr = 0, ss = 0, srr = 0, srs = 0;
    for (auto [r, s] : smooth) {
      sr += r;
      ss += s;
      srr += r * r;
      srs += r * s;
    }
    const double n = static_cast<double>(smooth.size());
    const double a = (n * srs - sr * ss) / (n * srr - sr * sr);
    const double b = (ss - a * sr) / n;
    if (a > 0) candidates.push_back({max_factor, -b / a, -b / a + 1 / a, L});
  } else if (smooth.size() == 1) {
    const auto [r, s] = smooth[0];
    // Prefer the usual low_freq_factor 1, else any low between the scaled entries and r.
    for (double low : {1.0, (max_r_scaled + r) / 2})
      if (s > 0 && low < r) candidates.push_back({max_factor, low, low + (r - low) / s, L});
  } else {
    const double hi_bound = std::isinf(min_r_unscaled) ? 4 * std::max(max_r_scaled, 1.0) : min_r_unscaled;
    candidates.push_back({max_factor, 1.0, 4.0, L});
    candidates.push_back(
        {max_factor, max_r_scaled + (hi_bound - max_r_scaled) / 3, max_r_scaled + 2 * (hi_bound - max_r_scaled) / 3, L});
  }
  for (Llama3Params p : candidates) {
    if (!llama3_matches(p, inv, factors)) continue;
    // Report round values when they describe the same frequencies (1 and 4 rather than 0.9999998).
    Llama3Params rounded = p;
    rounded.low = std::round(p.low * 1000) / 1000;
    rounded.high = std::round(p.high * 1000) / 1000;
    rounded.factor = std::round(p.factor * 1000) / 1000;
    if (llama3_matches(rounded, inv, factors)) p = rounded;
    return {{"rope_type", "llama3"},
            {"factor", p.factor},
            {"low_freq_factor", p.low},
            {"high_freq_factor", p.high},
            {"original_max_position_embeddings", original}};
  }
  throw f.error("rope_freqs.weight does not follow the Llama 3 RoPE scaling formula, so it cannot be expressed as "
                "rope_scaling");
}

// --- config.json -------------------------------------------------------------------------------------

struct Hyper {
  int64_t layers, hidden, heads, kv_heads, head_dim;
};

json build_config(const GgufFile& f, const ArchInfo& a, Hyper& h) {
  const std::string arch = a.gguf;
  auto key = [&](const char* k) { return fmt::format("{}.{}", arch, k); };
  json c = json::object();
  c["architectures"] = {a.architecture};
  c["model_type"] = a.model_type;
  h.layers = require_positive(f, key("block_count"), f.get_int(key("block_count")));
  h.hidden = require_positive(f, key("embedding_length"), f.get_int(key("embedding_length")));
  const int64_t ff = require_positive(f, key("feed_forward_length"), uniform_int(f, key("feed_forward_length")));
  h.heads = require_positive(f, key("attention.head_count"), uniform_int(f, key("attention.head_count")));
  h.kv_heads = require_positive(f, key("attention.head_count_kv"),
                                uniform_int(f, key("attention.head_count_kv")).value_or(h.heads));
  const std::optional<int64_t> key_length = f.get_int(key("attention.key_length"));
  h.head_dim = key_length ? require_positive(f, key("attention.key_length"), key_length) : h.hidden / h.heads;
  if (const std::optional<int64_t> value_length = f.get_int(key("attention.value_length")); value_length && *value_length != h.head_dim)
    throw f.error(fmt::format("attention.key_length {} differs from attention.value_length {}; not supported",
                              h.head_dim, *value_length));
  c["hidden_size"] = h.hidden;
  c["intermediate_size"] = ff;
  c["num_hidden_layers"] = h.layers;
  c["num_attention_heads"] = h.heads;
  c["num_key_value_heads"] = h.kv_heads;
  c["head_dim"] = h.head_dim;
  if (auto ctx = f.get_int(key("context_length"))) c["max_position_embeddings"] = *ctx;
  if (auto eps = f.get_number(key("attention.layer_norm_rms_epsilon"))) c["rms_norm_eps"] = *eps;

  const double default_theta = arch == "gemma3" ? 1e6 : 10000.0;
  const double theta = f.get_number(key("rope.freq_base")).value_or(default_theta);
  if (!std::isfinite(theta) || theta <= 1.0) throw f.error(fmt::format("rope.freq_base {} is not a RoPE base", theta));
  c["rope_theta"] = theta;
  int64_t rotary_dims = h.head_dim;
  if (auto dims = f.get_int(key("rope.dimension_count"))) {
    rotary_dims = *dims;
    if (rotary_dims <= 0 || rotary_dims > h.head_dim || rotary_dims % 2 != 0)
      throw f.error(fmt::format("rope.dimension_count {} does not fit head size {}", rotary_dims, h.head_dim));
    if (rotary_dims != h.head_dim)
      c["partial_rotary_factor"] = static_cast<double>(rotary_dims) / static_cast<double>(h.head_dim);
  }
  const std::string scaling = f.get_string(key("rope.scaling.type")).value_or("none");
  const std::optional<int64_t> original = f.get_int(key("rope.scaling.original_context_length"));
  const GgufTensorInfo* rope_freqs = f.find_tensor("rope_freqs.weight");
  if (scaling == "linear" || scaling == "yarn") {
    if (rope_freqs) throw f.error("the file has both rope.scaling.type and a rope_freqs tensor");
    const std::optional<double> factor = f.get_number(key("rope.scaling.factor"));
    if (!factor) throw f.error(fmt::format("missing metadata '{}'", key("rope.scaling.factor")));
    json s = {{"rope_type", scaling}, {"factor", *factor}};
    if (original) s["original_max_position_embeddings"] = *original;
    c["rope_scaling"] = s;
  } else if (scaling != "none") {
    throw f.error(fmt::format("RoPE scaling type '{}' is not supported (none, linear, yarn)", scaling));
  } else if (rope_freqs) {
    const std::vector<float> factors = dequantize_tensor(f, *rope_freqs);
    json s = llama3_scaling(f, factors, theta, rotary_dims, original.value_or(8192));
    if (!s.is_null()) c["rope_scaling"] = s;
  }

  // Tied embeddings: the converter writes no output.weight when lm_head is the embedding.
  c["tie_word_embeddings"] = f.find_tensor("output.weight") == nullptr;
  const bool attn_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  if (arch != "qwen2") c["attention_bias"] = attn_bias;
  if (arch == "llama") c["mlp_bias"] = f.find_tensor("blk.0.ffn_gate.bias") != nullptr;
  if (const std::optional<int64_t> window = f.get_int(key("attention.sliding_window")); window && *window > 0)
    c["sliding_window"] = *window;

  if (a.gemma) {
    c["hidden_act"] = "gelu_pytorch_tanh";
    c["hidden_activation"] = "gelu_pytorch_tanh";
    // llama.cpp scales queries by 1/sqrt(head_dim), except for the 27B models (46 Gemma 2 or 62
    // Gemma 3 layers), where query_pre_attn_scalar = hidden_size / heads.
    const bool big = (arch == "gemma2" && h.layers == 46) || (arch == "gemma3" && h.layers == 62);
    c["query_pre_attn_scalar"] = big ? h.hidden / h.heads : h.head_dim;
    if (auto cap = f.get_number(key("attn_logit_softcapping"))) c["attn_logit_softcapping"] = *cap;
    if (auto cap = f.get_number(key("final_logit_softcapping"))) c["final_logit_softcapping"] = *cap;
    if (arch == "gemma3") {
      // Not stored in the file; llama.cpp hard-codes both for Gemma 3.
      c["rope_local_base_freq"] = 10000.0;
      c["sliding_window_pattern"] = 6;
      if (!c.contains("sliding_window"))
        c["layer_types"] = std::vector<std::string>(static_cast<size_t>(h.layers), "full_attention");
    }
  } else {
    c["hidden_act"] = "silu";
  }
  return c;
}

// --- tensor names --------------------------------------------------------------------------------------

std::string layer_tensor(const std::string& rest, bool gemma) {
  static const std::pair<const char*, const char*> common[] = {
      {"attn_norm", "input_layernorm"},       {"attn_q", "self_attn.q_proj"},      {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"},         {"attn_output", "self_attn.o_proj"}, {"attn_q_norm", "self_attn.q_norm"},
      {"attn_k_norm", "self_attn.k_norm"},    {"ffn_gate", "mlp.gate_proj"},       {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"},
  };
  static const std::pair<const char*, const char*> plain_norms[] = {{"ffn_norm", "post_attention_layernorm"}};
  static const std::pair<const char*, const char*> gemma_norms[] = {
      {"ffn_norm", "pre_feedforward_layernorm"},
      {"post_attention_norm", "post_attention_layernorm"},
      {"post_ffw_norm", "post_feedforward_layernorm"},
  };
  const size_t dot = rest.rfind('.');
  if (dot == std::string::npos) return "";
  const std::string base = rest.substr(0, dot), suffix = rest.substr(dot);
  if (suffix != ".weight" && suffix != ".bias") return "";
  auto lookup = [&](std::span<const std::pair<const char*, const char*>> table) -> std::string {
    for (const auto& [g, hf] : table)
      if (base == g) return hf + suffix;
    return "";
  };
  std::string hf = lookup(common);
  if (hf.empty()) hf = gemma ? lookup(gemma_norms) : lookup(plain_norms);
  // Norms have weights only.
  if (!hf.empty() && suffix == ".bias" && base.ends_with("norm")) return "";
  return hf;
}

bool is_norm(const std::string& gguf_name) {
  return gguf_name.ends_with("norm.weight");
}

}  // namespace

std::string hf_tensor_name(const std::string& gguf_arch, const std::string& gguf_name) {
  bool gemma = false;
  for (const ArchInfo& a : kArchs)
    if (gguf_arch == a.gguf) gemma = a.gemma;
  if (gguf_name == "token_embd.weight") return "model.embed_tokens.weight";
  if (gguf_name == "output_norm.weight") return "model.norm.weight";
  if (gguf_name == "output.weight") return "lm_head.weight";
  if (!gguf_name.starts_with("blk.")) return "";
  const size_t dot = gguf_name.find('.', 4);
  if (dot == std::string::npos || dot == 4 || dot - 4 > 9) return "";
  int64_t layer = 0;
  const char* begin = gguf_name.data() + 4;
  const auto [ptr, ec] = std::from_chars(begin, gguf_name.data() + dot, layer);
  if (ec != std::errc() || ptr != gguf_name.data() + dot || (gguf_name[4] == '0' && dot != 5)) return "";
  const std::string hf = layer_tensor(gguf_name.substr(dot + 1), gemma);
  return hf.empty() ? "" : fmt::format("model.layers.{}.{}", layer, hf);
}

int64_t GgufModel::Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

GgufModel GgufModel::open(const std::filesystem::path& path) { return from_file(GgufFile::open(path)); }

GgufModel GgufModel::from_file(GgufFile file) {
  GgufModel m;
  m.file_ = std::move(file);
  const GgufFile& f = m.file_;
  m.arch_ = f.require_string("general.architecture");
  const ArchInfo& a = arch_info(f, m.arch_);
  Hyper h{};
  m.config_ = build_config(f, a, h);

  // Vocabulary size: the embedding's rows, which llama.cpp requires to equal the token count.
  const GgufTensorInfo* embed = f.find_tensor("token_embd.weight");
  if (!embed || embed->dims.size() != 2) throw f.error("missing or malformed tensor 'token_embd.weight'");
  const int64_t vocab = embed->dims[1];
  if (const GgufValue* tokens = f.find("tokenizer.ggml.tokens"); tokens && tokens->is_array() &&
                                                                   static_cast<int64_t>(tokens->size()) != vocab)
    throw f.error(fmt::format("the tokenizer has {} tokens but token_embd.weight has {} rows", tokens->size(), vocab));
  m.config_["vocab_size"] = vocab;

  json generation = json::object();
  auto token_id = [&](const char* which) -> std::optional<int64_t> {
    const std::string k = fmt::format("tokenizer.ggml.{}_token_id", which);
    std::optional<int64_t> id = f.get_int(k);
    if (id && (*id < 0 || *id >= vocab))
      throw f.error(fmt::format("metadata '{}' = {} is not a token id (vocabulary of {})", k, *id, vocab));
    return id;
  };
  const std::optional<int64_t> bos = token_id("bos"), eos = token_id("eos"), pad = token_id("padding");
  if (bos) m.config_["bos_token_id"] = generation["bos_token_id"] = *bos;
  if (eos) m.config_["eos_token_id"] = *eos;
  if (pad) m.config_["pad_token_id"] = *pad;
  std::vector<int64_t> eos_ids;
  for (const char* which : {"eos", "eot", "eom"})
    if (std::optional<int64_t> id = token_id(which); id && std::find(eos_ids.begin(), eos_ids.end(), *id) == eos_ids.end())
      eos_ids.push_back(*id);
  if (eos_ids.size() == 1) generation["eos_token_id"] = eos_ids[0];
  else if (!eos_ids.empty()) generation["eos_token_id"] = eos_ids;
  m.generation_config_ = generation;

  for (const GgufTensorInfo& info : f.tensors()) {
    if (info.name == "rope_freqs.weight") continue;  // folded into rope_scaling
    const std::string hf = hf_tensor_name(m.arch_, info.name);
    if (hf.empty())
      throw f.error(fmt::format("tensor '{}' has no Hugging Face equivalent in a {} model (vkllm reads the dense "
                                "text models of this architecture)",
                                info.name, m.arch_));
    if (info.name.starts_with("blk.")) {
      const int64_t layer = std::stoll(info.name.substr(4));
      if (layer >= h.layers)
        throw f.error(fmt::format("tensor '{}' belongs to layer {}, but the model has {} layers", info.name, layer,
                                  h.layers));
    }
    auto e = std::make_unique<Entry>();
    e->info = &info;
    e->tensor.hf_name = hf;
    e->tensor.gguf_name = info.name;
    e->tensor.type = info.type;
    e->tensor.shape.assign(info.dims.rbegin(), info.dims.rend());
    const bool q = info.name.ends_with("attn_q.weight") || info.name.ends_with("attn_q.bias");
    const bool k = info.name.ends_with("attn_k.weight") || info.name.ends_with("attn_k.bias");
    if (a.permuted_qk && (q || k)) {
      e->fixup = Fixup::UnpermuteRows;
      e->heads = q ? h.heads : h.kv_heads;
      const int64_t rows = e->tensor.shape.empty() ? 1 : e->tensor.shape[0];
      if (rows % (2 * e->heads) != 0)
        throw f.error(fmt::format("tensor '{}' has {} rows, not a multiple of 2 x {} heads", info.name, rows, e->heads));
    } else if (a.gemma && is_norm(info.name)) {
      e->fixup = Fixup::SubtractOne;
      e->tensor.type = GgmlType::F32;
    }
    if (!m.index_.emplace(hf, m.entries_.size()).second)
      throw f.error(fmt::format("two tensors map to '{}'", hf));
    m.entries_.push_back(std::move(e));
  }
  return m;
}

json GgufModel::hf_tokenizer_json() const { return gguf_tokenizer_json(file_); }

json GgufModel::hf_tokenizer_config() const {
  return gguf_tokenizer_config(file_, config_.value("max_position_embeddings", int64_t{0}));
}

std::vector<std::string> GgufModel::hf_tensor_names() const {
  std::vector<std::string> names;
  for (const auto& e : entries_) names.push_back(e->tensor.hf_name);
  return names;
}

void GgufModel::materialize(Entry& e) const {
  const GgufTensorInfo& info = *e.info;
  const GgmlTypeInfo* type = ggml_type_info(info.type);
  if (!type || !type->supported_by_vkllm)
    throw file_.error(fmt::format("unsupported tensor type {} ({}); supported: f32, f16, bf16, q8_0, q4_0, q4_1, "
                                  "q5_0, q4_K, q5_K, q6_K",
                                  ggml_type_name(info.type), info.name));
  switch (e.fixup) {
    case Fixup::None:
      e.tensor.raw = info.data;
      return;
    case Fixup::SubtractOne: {
      std::vector<float> v = dequantize_tensor(file_, info);
      for (float& x : v) x -= 1.0f;
      e.converted.resize(v.size() * sizeof(float));
      if (!v.empty()) std::memcpy(e.converted.data(), v.data(), e.converted.size());
      e.tensor.raw = e.converted;
      return;
    }
    case Fixup::UnpermuteRows: {
      // The converter reshaped rows as [heads, 2, head_dim/2] and swapped the last two axes:
      // file row h·d + 2i + s holds HF row h·d + s·d/2 + i.
      const auto rows = static_cast<uint64_t>(e.tensor.shape.empty() ? 1 : e.tensor.shape[0]);
      if (e.tensor.shape.size() == 1 && type->block_elems != 1)
        throw file_.error(fmt::format("tensor '{}' is a {} vector; its elements cannot be reordered", info.name,
                                      type->name));
      const uint64_t row_bytes = rows ? info.bytes / rows : 0;
      const uint64_t head_dim = rows / static_cast<uint64_t>(e.heads);
      e.converted.resize(info.bytes);
      for (uint64_t hd = 0; hd < static_cast<uint64_t>(e.heads); ++hd)
        for (uint64_t s = 0; s < 2; ++s)
          for (uint64_t i = 0; i < head_dim / 2; ++i) {
            const uint64_t hf_row = hd * head_dim + s * (head_dim / 2) + i;
            const uint64_t file_row = hd * head_dim + 2 * i + s;
            std::memcpy(e.converted.data() + hf_row * row_bytes, info.data.data() + file_row * row_bytes, row_bytes);
          }
      e.tensor.raw = e.converted;
      return;
    }
  }
}

const GgufModel::Tensor& GgufModel::tensor(const std::string& hf_name) const {
  auto it = index_.find(hf_name);
  if (it == index_.end()) throw file_.error(fmt::format("missing tensor '{}'", hf_name));
  Entry& e = *entries_[it->second];
  std::call_once(e.once, [&] { materialize(e); });
  return e.tensor;
}

std::vector<float> GgufModel::dequantized(const std::string& hf_name) const {
  const Tensor& t = tensor(hf_name);
  std::vector<float> out(static_cast<size_t>(t.numel()));
  try {
    dequantize_ggml(t.type, t.raw, out, t.gguf_name);
  } catch (const FormatError& e) {
    throw file_.error(e.what());
  }
  return out;
}

}  // namespace vkllm::frontends
