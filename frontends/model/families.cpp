// The family descriptions: how each supported architecture differs, read from its config.json.
// Semantics follow Hugging Face transformers' modeling files for each family.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "frontends/checkpoint/safetensors.h"
#include "frontends/model/model_spec.h"

namespace vkllm::frontends {
namespace {

using json = nlohmann::json;

// Typed access to config fields with errors that name the field.
struct ConfigReader {
  const json& j;
  std::string arch;

  bool has(const char* k) const { return j.contains(k) && !j[k].is_null(); }
  int64_t integer(const char* k) const {
    if (!has(k) || !j[k].is_number_integer())
      throw FormatError(fmt::format("config.json ({}): '{}' must be an integer", arch, k));
    return j[k].get<int64_t>();
  }
  int64_t integer(const char* k, int64_t dflt) const { return has(k) ? integer(k) : dflt; }
  double number(const char* k, double dflt) const {
    if (!has(k)) return dflt;
    if (!j[k].is_number()) throw FormatError(fmt::format("config.json ({}): '{}' must be a number", arch, k));
    return j[k].get<double>();
  }
  bool boolean(const char* k, bool dflt) const {
    if (!has(k)) return dflt;
    if (!j[k].is_boolean()) throw FormatError(fmt::format("config.json ({}): '{}' must be true or false", arch, k));
    return j[k].get<bool>();
  }
  std::string string(const char* k, const std::string& dflt) const {
    if (!has(k)) return dflt;
    if (!j[k].is_string()) throw FormatError(fmt::format("config.json ({}): '{}' must be a string", arch, k));
    return j[k].get<std::string>();
  }
};

// RoPE from a rope_scaling-style object (rope_type/type, factor, ...) over a base theta.
RopeSpec rope_from(const ConfigReader& c, double theta, const json* scaling, int64_t rotary_dims) {
  RopeSpec r;
  r.theta = theta;
  r.rotary_dims = rotary_dims;
  if (!scaling || scaling->is_null()) return r;
  if (!scaling->is_object()) throw FormatError(fmt::format("config.json ({}): rope_scaling must be an object", c.arch));
  ConfigReader s{*scaling, c.arch};
  std::string type = s.string("rope_type", s.string("type", "default"));
  if (type == "default") return r;
  if (type == "linear") {
    r.scaling = "linear";
    r.factor = s.number("factor", 1.0);
  } else if (type == "llama3") {
    r.scaling = "llama3";
    r.factor = s.number("factor", 8.0);
    r.low_freq_factor = s.number("low_freq_factor", 1.0);
    r.high_freq_factor = s.number("high_freq_factor", 4.0);
    r.original_max_position = s.integer("original_max_position_embeddings", 8192);
  } else {
    throw FormatError(fmt::format("config.json ({}): RoPE scaling type '{}' is not supported (supported: default, "
                                  "linear, llama3)",
                                  c.arch, type));
  }
  return r;
}

// Theta and scaling for layers of one kind, from either the classic fields (rope_theta +
// rope_scaling) or the newer `rope_parameters` (flat, or keyed by layer type).
RopeSpec rope_for(const ConfigReader& c, const char* layer_type, double default_theta, int64_t rotary_dims) {
  if (c.has("rope_parameters")) {
    const json& rp = c.j["rope_parameters"];
    const json* p = &rp;
    if (rp.is_object() && rp.contains(layer_type)) p = &rp[layer_type];
    ConfigReader pr{*p, c.arch};
    return rope_from(c, pr.number("rope_theta", default_theta), p, rotary_dims);
  }
  const json* scaling = c.has("rope_scaling") ? &c.j["rope_scaling"] : nullptr;
  return rope_from(c, c.number("rope_theta", default_theta), scaling, rotary_dims);
}

// Layer kinds from `layer_types` when the config lists them, else from the family's rule.
void assign_layer_kinds(const ConfigReader& c, ModelSpec& m, const std::function<bool(int64_t)>& sliding_rule) {
  m.layers.assign(static_cast<size_t>(m.num_layers), {});
  if (c.has("layer_types")) {
    const json& lt = c.j["layer_types"];
    if (!lt.is_array() || static_cast<int64_t>(lt.size()) != m.num_layers)
      throw FormatError(fmt::format("config.json ({}): layer_types must list {} layers", c.arch, m.num_layers));
    for (int64_t i = 0; i < m.num_layers; ++i) {
      std::string t = lt[static_cast<size_t>(i)].is_string() ? lt[static_cast<size_t>(i)].get<std::string>() : "";
      if (t == "sliding_attention") m.layers[static_cast<size_t>(i)].kind = LayerKind::SlidingAttention;
      else if (t != "full_attention")
        throw FormatError(fmt::format("config.json ({}): layer_types[{}] = '{}' is not supported here", c.arch, i, t));
    }
  } else {
    for (int64_t i = 0; i < m.num_layers; ++i)
      if (sliding_rule(i)) m.layers[static_cast<size_t>(i)].kind = LayerKind::SlidingAttention;
  }
  bool any_sliding = false;
  for (const LayerSpec& l : m.layers) any_sliding |= l.kind == LayerKind::SlidingAttention;
  if (any_sliding && m.sliding_window <= 0)
    throw FormatError(fmt::format("config.json ({}): sliding layers need a positive 'sliding_window'", c.arch));
}

// Fields every family shares (Llama naming).
void read_common(const ConfigReader& c, ModelSpec& m) {
  m.vocab_size = c.integer("vocab_size");
  m.hidden_size = c.integer("hidden_size");
  m.intermediate_size = c.integer("intermediate_size");
  m.num_layers = c.integer("num_hidden_layers");
  m.num_heads = c.integer("num_attention_heads");
  m.num_kv_heads = c.integer("num_key_value_heads", m.num_heads);
  if (m.num_heads <= 0 || m.hidden_size <= 0 || m.num_layers <= 0 || m.vocab_size <= 0 || m.intermediate_size <= 0)
    throw FormatError(fmt::format("config.json ({}): sizes must be positive", c.arch));
  m.head_dim = c.integer("head_dim", m.hidden_size / m.num_heads);
  if (m.num_kv_heads <= 0 || m.num_heads % m.num_kv_heads != 0)
    throw FormatError(fmt::format("config.json ({}): num_attention_heads ({}) must be a multiple of "
                                  "num_key_value_heads ({})", c.arch, m.num_heads, m.num_kv_heads));
  if (m.head_dim <= 0 || m.head_dim % 2 != 0)
    throw FormatError(fmt::format("config.json ({}): head_dim ({}) must be positive and even", c.arch, m.head_dim));
  m.max_position = c.integer("max_position_embeddings", 4096);
  m.norm_eps = c.number("rms_norm_eps", 1e-6);
  m.tie_word_embeddings = c.boolean("tie_word_embeddings", false);
  m.attn_scale = 1.0 / std::sqrt(static_cast<double>(m.head_dim));
  m.bos_token_id = c.integer("bos_token_id", -1);
  std::string act = c.string("hidden_act", c.string("hidden_activation", "silu"));
  if (act == "silu" || act == "swish") m.activation = Activation::Silu;
  else if (act == "gelu_pytorch_tanh" || act == "gelu_new") m.activation = Activation::GeluTanh;
  else if (act == "gelu") m.activation = Activation::Gelu;
  else throw FormatError(fmt::format("config.json ({}): activation '{}' is not supported", c.arch, act));
}

// Same rope on every layer (all but Gemma 3).
void uniform_rope(const ConfigReader& c, ModelSpec& m, double default_theta) {
  int64_t rot = static_cast<int64_t>(std::llround(static_cast<double>(m.head_dim) * c.number("partial_rotary_factor", 1.0)));
  RopeSpec r = rope_for(c, "full_attention", default_theta, rot);
  for (LayerSpec& l : m.layers) l.rope = r;
}

void describe_llama(const ConfigReader& c, ModelSpec& m) {
  read_common(c, m);
  m.qkv_bias = m.o_bias = c.boolean("attention_bias", false);
  m.mlp_bias = c.boolean("mlp_bias", false);
  m.sliding_window = c.integer("sliding_window", 0);
  // Mistral's sliding window (when set) applies to every layer.
  assign_layer_kinds(c, m, [&](int64_t) { return m.sliding_window > 0; });
  uniform_rope(c, m, 10000.0);
}

void describe_qwen(const ConfigReader& c, ModelSpec& m, bool qwen3) {
  read_common(c, m);
  m.qkv_bias = qwen3 ? c.boolean("attention_bias", false) : true;
  m.o_bias = qwen3 && c.boolean("attention_bias", false);
  m.qk_norm = qwen3;
  bool use_sliding = c.boolean("use_sliding_window", false);
  m.sliding_window = use_sliding ? c.integer("sliding_window", 0) : 0;
  int64_t max_window_layers = c.integer("max_window_layers", m.num_layers);
  // transformers: with use_sliding_window, layers from max_window_layers on use the window.
  assign_layer_kinds(c, m, [&](int64_t i) { return use_sliding && i >= max_window_layers; });
  uniform_rope(c, m, 10000.0);
}

void describe_gemma(const ConfigReader& c, ModelSpec& m, bool gemma3) {
  read_common(c, m);
  m.norm_offset = 1.0;
  m.sandwich_norms = true;
  m.tie_word_embeddings = c.boolean("tie_word_embeddings", true);
  m.qkv_bias = m.o_bias = c.boolean("attention_bias", false);
  m.qk_norm = gemma3;
  m.embedding_scale = std::sqrt(static_cast<double>(m.hidden_size));
  m.attn_scale = 1.0 / std::sqrt(c.number("query_pre_attn_scalar", static_cast<double>(m.head_dim)));
  m.attn_softcap = c.number("attn_logit_softcapping", gemma3 ? 0.0 : 50.0);
  m.final_softcap = c.number("final_logit_softcapping", gemma3 ? 0.0 : 30.0);
  m.sliding_window = c.integer("sliding_window", 4096);
  if (!gemma3) {
    assign_layer_kinds(c, m, [](int64_t i) { return i % 2 == 0; });
    uniform_rope(c, m, 10000.0);
    return;
  }
  int64_t pattern = c.integer("sliding_window_pattern", 6);
  assign_layer_kinds(c, m, [&](int64_t i) { return pattern <= 0 || (i + 1) % pattern != 0; });
  RopeSpec global = rope_for(c, "full_attention", 1000000.0, m.head_dim);
  RopeSpec local;
  if (c.has("rope_parameters")) {
    local = rope_for(c, "sliding_attention", 10000.0, m.head_dim);
  } else {
    local.theta = c.number("rope_local_base_freq", 10000.0);
    local.rotary_dims = m.head_dim;
  }
  for (LayerSpec& l : m.layers) l.rope = l.kind == LayerKind::SlidingAttention ? local : global;
}

// The hybrid text model Qwen3.5 and Qwen3-Next share (HF models/qwen3_5, models/qwen3_next), from its
// flat config fields: every full_attention_interval-th layer is gated softmax attention, the others
// Gated DeltaNet; zero-centred norms. `family_name` is for messages, `default_theta` the family's
// rope_theta default.
void read_hybrid_text(const ConfigReader& c, ModelSpec& m, const char* family_name, double default_theta) {
  read_common(c, m);
  // The GDN conv applies hidden_act too (HF causal_conv1d_fn); the conv1d op knows SiLU.
  if (m.activation != Activation::Silu)
    throw FormatError(fmt::format("config.json ({}): hidden_act must be silu for {}", c.arch, family_name));
  // HF config defaults (Qwen3_5TextConfig and Qwen3NextConfig agree on these).
  m.head_dim = c.integer("head_dim", 256);
  if (m.head_dim <= 0 || m.head_dim % 2 != 0)
    throw FormatError(fmt::format("config.json ({}): head_dim ({}) must be positive and even", c.arch, m.head_dim));
  m.attn_scale = 1.0 / std::sqrt(static_cast<double>(m.head_dim));
  m.norm_offset = 1.0;  // Qwen3_5RMSNorm / Qwen3NextRMSNorm: x * (1 + w), trunk, q/k and MTP norms alike
  m.qk_norm = true;
  // The attention always doubles q_proj and gates; a config's attn_output_gate is not read by HF.
  m.attn_output_gate = true;
  m.qkv_bias = m.o_bias = c.boolean("attention_bias", false);
  m.linear_num_key_heads = c.integer("linear_num_key_heads", 16);
  m.linear_num_value_heads = c.integer("linear_num_value_heads", 32);
  m.linear_key_head_dim = c.integer("linear_key_head_dim", 128);
  m.linear_value_head_dim = c.integer("linear_value_head_dim", 128);
  m.linear_conv_kernel = c.integer("linear_conv_kernel_dim", 4);
  if (m.linear_num_key_heads <= 0 || m.linear_num_value_heads % m.linear_num_key_heads != 0 ||
      m.linear_key_head_dim <= 0 || m.linear_value_head_dim <= 0 || m.linear_conv_kernel < 2)
    throw FormatError(fmt::format("config.json ({}): linear attention needs positive head sizes, "
                                  "linear_num_value_heads ({}) a multiple of linear_num_key_heads ({}) and "
                                  "linear_conv_kernel_dim >= 2",
                                  c.arch, m.linear_num_value_heads, m.linear_num_key_heads));

  m.layers.assign(static_cast<size_t>(m.num_layers), {});
  if (c.has("layer_types")) {
    const json& lt = c.j["layer_types"];
    if (!lt.is_array() || static_cast<int64_t>(lt.size()) != m.num_layers)
      throw FormatError(fmt::format("config.json ({}): layer_types must list {} layers", c.arch, m.num_layers));
    for (int64_t i = 0; i < m.num_layers; ++i) {
      std::string t = lt[static_cast<size_t>(i)].is_string() ? lt[static_cast<size_t>(i)].get<std::string>() : "";
      if (t == "linear_attention") m.layers[static_cast<size_t>(i)].kind = LayerKind::LinearAttention;
      else if (t != "full_attention")
        throw FormatError(fmt::format("config.json ({}): layer_types[{}] = '{}' is not supported here (expected "
                                      "linear_attention or full_attention)", c.arch, i, t));
    }
  } else {
    const int64_t interval = c.integer("full_attention_interval", 4);
    if (interval <= 0) throw FormatError(fmt::format("config.json ({}): full_attention_interval must be positive", c.arch));
    for (int64_t i = 0; i < m.num_layers; ++i)
      if ((i + 1) % interval != 0) m.layers[static_cast<size_t>(i)].kind = LayerKind::LinearAttention;
  }

  // Partial rotary over the first int(head_dim * partial_rotary_factor) dims of each head (HF
  // compute_default_rope_parameters), rotate_half (neox) layout.
  double partial = c.number("partial_rotary_factor", 0.25);
  if (c.has("rope_parameters") && c.j["rope_parameters"].is_object())
    partial = ConfigReader{c.j["rope_parameters"], c.arch}.number("partial_rotary_factor", partial);
  const int64_t rot = static_cast<int64_t>(static_cast<double>(m.head_dim) * partial);
  if (rot <= 0 || rot > m.head_dim || rot % 2 != 0)
    throw FormatError(fmt::format("config.json ({}): partial_rotary_factor {} gives {} rotary dims of head_dim {}; "
                                  "they must be even and in (0, head_dim]", c.arch, partial, rot, m.head_dim));
  RopeSpec r = rope_for(c, "full_attention", default_theta, rot);
  for (LayerSpec& l : m.layers) l.rope = r;
}

// Qwen3.5 (HF models/qwen3_5). Qwen3_5ForConditionalGeneration (the published checkpoints) nests the
// text model's fields under text_config and stores its weights under model.language_model. beside
// the vision tower (model.visual., unused here); Qwen3_5ForCausalLM is the flat text-only form.
// The text model's rotary embedding is multimodal (M-RoPE): three position ids per token (temporal,
// height, width), their frequencies interleaved by mrope_section
// (Qwen3_5TextRotaryEmbedding.recomposition_frequencies). For text, Qwen3_5Model.get_rope_index and
// Qwen3_5TextModel.forward give all three the same position (arange(text_len) expanded to 3 rows), so
// every frequency slot sees the one position and M-RoPE is exactly 1-D RoPE; mrope_section and
// mrope_interleaved are therefore not read.
void describe_qwen35(const ConfigReader& top, ModelSpec& m) {
  const bool nested = top.arch == "Qwen3_5ForConditionalGeneration";
  if (nested && (!top.has("text_config") || !top.j["text_config"].is_object()))
    throw FormatError(fmt::format("config.json ({}): 'text_config' must be an object", top.arch));
  const ConfigReader c = nested ? ConfigReader{top.j["text_config"], top.arch} : top;
  if (nested) {
    m.weight_prefix = "model.language_model.";
    m.ignored_tensor_prefixes = {"model.visual."};
  }
  read_hybrid_text(c, m, "Qwen3.5", 10000000.0);
  m.tie_word_embeddings = nested ? top.boolean("tie_word_embeddings", c.boolean("tie_word_embeddings", false))
                                 : c.boolean("tie_word_embeddings", false);
  m.mtp_layers = c.integer("mtp_num_hidden_layers", 0);
}

// Qwen3-Next (HF models/qwen3_next, Qwen3NextForCausalLM): the Qwen3.5 block design (plain 1-D RoPE,
// rope_theta default 10000) with fused GDN projections (ModelSpec::linear_fused_projections) and
// sparse mixture-of-experts MLPs: layer i's MLP is MoE unless i is in mlp_only_layers, when
// num_experts > 0 and (i + 1) % decoder_sparse_step == 0 (Qwen3NextDecoderLayer; HF defaults 512
// experts, step 1). Only dense configs run here: any MoE layer is an error naming the feature.
// MTP head: HF ignores mtp.*; vLLM (qwen3_next_mtp) reads num_nextn_predict_layers, default 1, which
// the published configs leave out although their checkpoints hold one layer.
void describe_qwen3_next(const ConfigReader& c, ModelSpec& m) {
  read_hybrid_text(c, m, "Qwen3-Next", 10000.0);
  m.linear_fused_projections = true;
  m.mtp_layers = c.integer("num_nextn_predict_layers", 1);

  const int64_t experts = c.integer("num_experts", 512), step = c.integer("decoder_sparse_step", 1);
  std::vector<int64_t> dense_only;
  if (c.has("mlp_only_layers")) {
    const json& l = c.j["mlp_only_layers"];
    const auto is_index = [](const json& e) { return e.is_number_integer(); };
    if (!l.is_array() || !std::all_of(l.begin(), l.end(), is_index))
      throw FormatError(fmt::format("config.json ({}): mlp_only_layers must be a list of layer indices", c.arch));
    for (const json& e : l) dense_only.push_back(e.get<int64_t>());
  }
  if (experts <= 0) return;
  if (step <= 0) throw FormatError(fmt::format("config.json ({}): decoder_sparse_step must be positive", c.arch));
  std::vector<int64_t> moe;
  for (int64_t i = 0; i < m.num_layers; ++i)
    if ((i + 1) % step == 0 && std::find(dense_only.begin(), dense_only.end(), i) == dense_only.end()) moe.push_back(i);
  if (moe.empty()) return;
  const size_t shown = std::min<size_t>(moe.size(), 8);
  throw FormatError(fmt::format(
      "config.json ({}): {} {}{} {} sparse mixture-of-experts MLPs (num_experts {}, decoder_sparse_step {}), "
      "which vkllm does not support yet; only dense Qwen3-Next configs load (num_experts 0, or every layer in "
      "mlp_only_layers)",
      c.arch, moe.size() > 1 ? "layers" : "layer",
      fmt::join(moe.begin(), moe.begin() + static_cast<std::ptrdiff_t>(shown), ", "),
      moe.size() > shown ? fmt::format(" and {} more", moe.size() - shown) : "", moe.size() > 1 ? "use" : "uses",
      experts, step));
}

struct FamilyEntry {
  FamilyInfo info;
  void (*describe)(const ConfigReader&, ModelSpec&);
};

const std::vector<FamilyEntry>& family_table() {
  static const std::vector<FamilyEntry> table = {
      {{"llama", {"LlamaForCausalLM"}}, describe_llama},
      {{"mistral", {"MistralForCausalLM"}}, describe_llama},
      {{"qwen2", {"Qwen2ForCausalLM"}}, [](const ConfigReader& c, ModelSpec& m) { describe_qwen(c, m, false); }},
      {{"qwen3", {"Qwen3ForCausalLM"}}, [](const ConfigReader& c, ModelSpec& m) { describe_qwen(c, m, true); }},
      {{"gemma2", {"Gemma2ForCausalLM"}}, [](const ConfigReader& c, ModelSpec& m) { describe_gemma(c, m, false); }},
      {{"gemma3", {"Gemma3ForCausalLM"}}, [](const ConfigReader& c, ModelSpec& m) { describe_gemma(c, m, true); }},
      {{"qwen35", {"Qwen3_5ForConditionalGeneration", "Qwen3_5ForCausalLM"}}, describe_qwen35},
      {{"qwen3_next", {"Qwen3NextForCausalLM"}}, describe_qwen3_next},
  };
  return table;
}

std::vector<int64_t> token_ids(const json& v) {
  std::vector<int64_t> out;
  if (v.is_number_integer()) out.push_back(v.get<int64_t>());
  else if (v.is_array())
    for (const json& e : v)
      if (e.is_number_integer()) out.push_back(e.get<int64_t>());
  return out;
}

}  // namespace

const std::vector<FamilyInfo>& supported_families() {
  static const std::vector<FamilyInfo> infos = [] {
    std::vector<FamilyInfo> v;
    for (const FamilyEntry& e : family_table()) v.push_back(e.info);
    return v;
  }();
  return infos;
}

ModelSpec describe_model(const json& config, const json& generation_config) {
  if (!config.is_object()) throw FormatError("config.json: not a JSON object");
  auto archs = config.find("architectures");
  std::string arch;
  if (archs != config.end() && archs->is_array() && !archs->empty() && (*archs)[0].is_string())
    arch = (*archs)[0].get<std::string>();
  std::string supported;
  for (const FamilyEntry& e : family_table())
    for (const std::string& a : e.info.architectures) {
      supported += supported.empty() ? a : ", " + a;
      if (a == arch) {
        ModelSpec m;
        m.family = e.info.family;
        m.architecture = arch;
        ConfigReader reader{config, arch};
        e.describe(reader, m);
        // EOS ids: generation_config.json, else config.json, else its text_config (multimodal configs).
        json eos = config.value("eos_token_id", json());
        if (eos.is_null() && config.contains("text_config") && config["text_config"].is_object())
          eos = config["text_config"].value("eos_token_id", json());
        m.eos_token_ids = token_ids(generation_config.is_object() && generation_config.contains("eos_token_id")
                                        ? generation_config["eos_token_id"]
                                        : eos);
        return m;
      }
    }
  throw FormatError(fmt::format("config.json: architecture '{}' is not supported (supported: {})",
                                arch.empty() ? "<none given>" : arch, supported));
}

}  // namespace vkllm::frontends
