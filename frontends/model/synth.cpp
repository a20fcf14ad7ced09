#include "frontends/model/synth.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "frontends/checkpoint/safetensors.h"
#include "frontends/model/model_spec.h"

namespace vkllm::frontends {
namespace {

using json = nlohmann::json;

// Real shapes follow the published configs of the models named; `tiny` presets are test-sized
// but keep each family's peculiarities (GQA, q/k norm, sliding layers, softcaps, tied embeddings).
const std::vector<SynthPreset>& preset_table() {
  static const std::vector<SynthPreset> table = {
      {"tiny", "llama",
       {{"vocab_size", 512}, {"hidden_size", 64}, {"intermediate_size", 128}, {"num_hidden_layers", 2},
        {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 16}, {"rms_norm_eps", 1e-5},
        {"rope_theta", 500000.0}, {"max_position_embeddings", 2048}, {"tie_word_embeddings", false},
        {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                          {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}}}}},
      {"llama3.2-1b", "llama",
       {{"vocab_size", 128256}, {"hidden_size", 2048}, {"intermediate_size", 8192}, {"num_hidden_layers", 16},
        {"num_attention_heads", 32}, {"num_key_value_heads", 8}, {"head_dim", 64}, {"rms_norm_eps", 1e-5},
        {"rope_theta", 500000.0}, {"max_position_embeddings", 131072}, {"tie_word_embeddings", true},
        {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 32.0}, {"low_freq_factor", 1.0},
                          {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}}}}},
      {"llama3-8b", "llama",
       {{"vocab_size", 128256}, {"hidden_size", 4096}, {"intermediate_size", 14336}, {"num_hidden_layers", 32},
        {"num_attention_heads", 32}, {"num_key_value_heads", 8}, {"head_dim", 128}, {"rms_norm_eps", 1e-5},
        {"rope_theta", 500000.0}, {"max_position_embeddings", 8192}, {"tie_word_embeddings", false}}},
      {"tiny", "qwen2",
       {{"vocab_size", 512}, {"hidden_size", 64}, {"intermediate_size", 160}, {"num_hidden_layers", 2},
        {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"rms_norm_eps", 1e-6}, {"rope_theta", 1000000.0},
        {"max_position_embeddings", 2048}, {"tie_word_embeddings", true}}},
      {"qwen2.5-0.5b", "qwen2",
       {{"vocab_size", 151936}, {"hidden_size", 896}, {"intermediate_size", 4864}, {"num_hidden_layers", 24},
        {"num_attention_heads", 14}, {"num_key_value_heads", 2}, {"rms_norm_eps", 1e-6}, {"rope_theta", 1000000.0},
        {"max_position_embeddings", 32768}, {"tie_word_embeddings", true}}},
      {"qwen2.5-7b", "qwen2",
       {{"vocab_size", 152064}, {"hidden_size", 3584}, {"intermediate_size", 18944}, {"num_hidden_layers", 28},
        {"num_attention_heads", 28}, {"num_key_value_heads", 4}, {"rms_norm_eps", 1e-6}, {"rope_theta", 1000000.0},
        {"max_position_embeddings", 32768}, {"tie_word_embeddings", false}}},
      {"tiny", "qwen3",
       {{"vocab_size", 512}, {"hidden_size", 64}, {"intermediate_size", 128}, {"num_hidden_layers", 2},
        {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 32}, {"rms_norm_eps", 1e-6},
        {"rope_theta", 1000000.0}, {"max_position_embeddings", 4096}, {"tie_word_embeddings", true}}},
      {"qwen3-0.6b", "qwen3",
       {{"vocab_size", 151936}, {"hidden_size", 1024}, {"intermediate_size", 3072}, {"num_hidden_layers", 28},
        {"num_attention_heads", 16}, {"num_key_value_heads", 8}, {"head_dim", 128}, {"rms_norm_eps", 1e-6},
        {"rope_theta", 1000000.0}, {"max_position_embeddings", 40960}, {"tie_word_embeddings", true}}},
      {"qwen3-8b", "qwen3",
       {{"vocab_size", 151936}, {"hidden_size", 4096}, {"intermediate_size", 12288}, {"num_hidden_layers", 36},
        {"num_attention_heads", 32}, {"num_key_value_heads", 8}, {"head_dim", 128}, {"rms_norm_eps", 1e-6},
        {"rope_theta", 1000000.0}, {"max_position_embeddings", 40960}, {"tie_word_embeddings", false}}},
      {"tiny", "mistral",
       {{"vocab_size", 512}, {"hidden_size", 64}, {"intermediate_size", 128}, {"num_hidden_layers", 2},
        {"num_attention_heads", 4}, {"num_key_value_heads", 1}, {"head_dim", 16}, {"rms_norm_eps", 1e-5},
        {"rope_theta", 10000.0}, {"max_position_embeddings", 4096}, {"sliding_window", 8},
        {"tie_word_embeddings", false}}},
      {"mistral-7b", "mistral",
       {{"vocab_size", 32768}, {"hidden_size", 4096}, {"intermediate_size", 14336}, {"num_hidden_layers", 32},
        {"num_attention_heads", 32}, {"num_key_value_heads", 8}, {"head_dim", 128}, {"rms_norm_eps", 1e-5},
        {"rope_theta", 1000000.0}, {"max_position_embeddings", 32768}, {"sliding_window", nullptr},
        {"tie_word_embeddings", false}}},
      {"tiny", "gemma2",
       {{"vocab_size", 512}, {"hidden_size", 64}, {"intermediate_size", 128}, {"num_hidden_layers", 2},
        {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 32}, {"rms_norm_eps", 1e-6},
        {"rope_theta", 10000.0}, {"max_position_embeddings", 2048}, {"query_pre_attn_scalar", 32},
        {"sliding_window", 8}, {"attn_logit_softcapping", 50.0}, {"final_logit_softcapping", 30.0},
        {"hidden_activation", "gelu_pytorch_tanh"}, {"tie_word_embeddings", true}}},
      {"gemma2-2b", "gemma2",
       {{"vocab_size", 256000}, {"hidden_size", 2304}, {"intermediate_size", 9216}, {"num_hidden_layers", 26},
        {"num_attention_heads", 8}, {"num_key_value_heads", 4}, {"head_dim", 256}, {"rms_norm_eps", 1e-6},
        {"rope_theta", 10000.0}, {"max_position_embeddings", 8192}, {"query_pre_attn_scalar", 256},
        {"sliding_window", 4096}, {"attn_logit_softcapping", 50.0}, {"final_logit_softcapping", 30.0},
        {"hidden_activation", "gelu_pytorch_tanh"}, {"tie_word_embeddings", true}}},
      {"tiny", "gemma3",
       {{"vocab_size", 512}, {"hidden_size", 64}, {"intermediate_size", 128}, {"num_hidden_layers", 3},
        {"num_attention_heads", 4}, {"num_key_value_heads", 1}, {"head_dim", 32}, {"rms_norm_eps", 1e-6},
        {"rope_theta", 1000000.0}, {"rope_local_base_freq", 10000.0}, {"max_position_embeddings", 4096},
        {"query_pre_attn_scalar", 32}, {"sliding_window", 8}, {"sliding_window_pattern", 3},
        {"hidden_activation", "gelu_pytorch_tanh"}, {"tie_word_embeddings", true}}},
      {"gemma3-1b", "gemma3",
       {{"vocab_size", 262144}, {"hidden_size", 1152}, {"intermediate_size", 6912}, {"num_hidden_layers", 26},
        {"num_attention_heads", 4}, {"num_key_value_heads", 1}, {"head_dim", 256}, {"rms_norm_eps", 1e-6},
        {"rope_theta", 1000000.0}, {"rope_local_base_freq", 10000.0}, {"max_position_embeddings", 32768},
        {"query_pre_attn_scalar", 256}, {"sliding_window", 512}, {"sliding_window_pattern", 6},
        {"hidden_activation", "gelu_pytorch_tanh"}, {"tie_word_embeddings", true}}},
      // Qwen3.5: text_config fields (synthesize() nests them as Qwen3_5ForConditionalGeneration).
      // tiny: layers [GDN, attention, GDN, attention], GQA 4/2, 2 key heads serving 4 value heads.
      {"tiny", "qwen35",
       {{"vocab_size", 512}, {"hidden_size", 64}, {"intermediate_size", 128}, {"num_hidden_layers", 4},
        {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 32}, {"rms_norm_eps", 1e-6},
        {"full_attention_interval", 2}, {"linear_num_key_heads", 2}, {"linear_num_value_heads", 4},
        {"linear_key_head_dim", 16}, {"linear_value_head_dim", 16}, {"linear_conv_kernel_dim", 4},
        {"max_position_embeddings", 4096}, {"tie_word_embeddings", true}, {"mtp_num_hidden_layers", 1}}},
      // Published Qwen/Qwen3.5-0.8B and -2B text configs. The 2B's linear heads and intermediate size
      // are inferred (its 2.27B total parameters, vision tower and MTP included), not copied.
      {"qwen35-0.8b", "qwen35",
       {{"vocab_size", 248320}, {"hidden_size", 1024}, {"intermediate_size", 3584}, {"num_hidden_layers", 24},
        {"num_attention_heads", 8}, {"num_key_value_heads", 2}, {"head_dim", 256}, {"rms_norm_eps", 1e-6},
        {"full_attention_interval", 4}, {"linear_num_key_heads", 16}, {"linear_num_value_heads", 16},
        {"linear_key_head_dim", 128}, {"linear_value_head_dim", 128}, {"linear_conv_kernel_dim", 4},
        {"max_position_embeddings", 262144}, {"tie_word_embeddings", true}, {"mtp_num_hidden_layers", 1}}},
      {"qwen35-2b", "qwen35",
       {{"vocab_size", 248320}, {"hidden_size", 2048}, {"intermediate_size", 6144}, {"num_hidden_layers", 24},
        {"num_attention_heads", 8}, {"num_key_value_heads", 2}, {"head_dim", 256}, {"rms_norm_eps", 1e-6},
        {"full_attention_interval", 4}, {"linear_num_key_heads", 16}, {"linear_num_value_heads", 16},
        {"linear_key_head_dim", 128}, {"linear_value_head_dim", 128}, {"linear_conv_kernel_dim", 4},
        {"max_position_embeddings", 262144}, {"tie_word_embeddings", true}, {"mtp_num_hidden_layers", 1}}},
      {"qwen35-9b", "qwen35",
       {{"vocab_size", 248320}, {"hidden_size", 4096}, {"intermediate_size", 12288}, {"num_hidden_layers", 32},
        {"num_attention_heads", 16}, {"num_key_value_heads", 4}, {"head_dim", 256}, {"rms_norm_eps", 1e-6},
        {"full_attention_interval", 4}, {"linear_num_key_heads", 16}, {"linear_num_value_heads", 32},
        {"linear_key_head_dim", 128}, {"linear_value_head_dim", 128}, {"linear_conv_kernel_dim", 4},
        {"max_position_embeddings", 262144}, {"tie_word_embeddings", false}, {"mtp_num_hidden_layers", 1}}},
      // Qwen3-Next, dense: num_experts 0 (the published checkpoints are mixture-of-experts, which
      // vkllm does not run yet). Flat config as Qwen3NextForCausalLM's. tiny: layers [GDN, attention,
      // GDN, attention]; 2 key heads each serving 3 value heads, key and value head sizes differing,
      // so every piece of in_proj_qkvz's per-key-head groups has its own size. No MTP field: as in
      // the published configs, the checkpoint holds one MTP layer (the vLLM default).
      {"tiny", "qwen3_next",
       {{"vocab_size", 512}, {"hidden_size", 64}, {"intermediate_size", 128}, {"num_hidden_layers", 4},
        {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 32}, {"rms_norm_eps", 1e-6},
        {"full_attention_interval", 2}, {"linear_num_key_heads", 2}, {"linear_num_value_heads", 6},
        {"linear_key_head_dim", 32}, {"linear_value_head_dim", 16}, {"linear_conv_kernel_dim", 4},
        {"rope_theta", 10000000.0}, {"partial_rotary_factor", 0.25}, {"max_position_embeddings", 4096},
        {"tie_word_embeddings", false}, {"num_experts", 0}, {"decoder_sparse_step", 1},
        {"mlp_only_layers", nlohmann::json::array()}}},
      // The published Qwen/Qwen3-Next-80B-A3B config with its MoE MLPs replaced by dense ones of the
      // config's intermediate_size (5120): real attention, GDN, vocabulary and layer shapes (~3.7B).
      {"qwen3-next-80b-a3b-dense", "qwen3_next",
       {{"vocab_size", 151936}, {"hidden_size", 2048}, {"intermediate_size", 5120}, {"num_hidden_layers", 48},
        {"num_attention_heads", 16}, {"num_key_value_heads", 2}, {"head_dim", 256}, {"rms_norm_eps", 1e-6},
        {"full_attention_interval", 4}, {"linear_num_key_heads", 16}, {"linear_num_value_heads", 32},
        {"linear_key_head_dim", 128}, {"linear_value_head_dim", 128}, {"linear_conv_kernel_dim", 4},
        {"rope_theta", 10000000.0}, {"partial_rotary_factor", 0.25}, {"max_position_embeddings", 262144},
        {"tie_word_embeddings", false}, {"num_experts", 0}, {"decoder_sparse_step", 1},
        {"mlp_only_layers", nlohmann::json::array()}}},
  };
  return table;
}

struct FamilyText {
  const char* model_type;
  const char* architecture;
  std::vector<std::string> specials;  // appended at the end of the vocabulary, in this order
  std::string bos, eos, eot;          // eot: end-of-turn token the chat template emits (also an EOS id)
  std::string chat_template;
};

FamilyText family_text(const std::string& family) {
  const std::string chatml =
      "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
      "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  if (family == "llama")
    return {"llama", "LlamaForCausalLM",
            {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"},
            "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>",
            "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
            "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if "
            "add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"};
  if (family == "qwen35")
    return {"qwen3_5", "Qwen3_5ForConditionalGeneration",
            {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"},
            "", "<|endoftext|>", "<|im_end|>", chatml};
  if (family == "qwen3_next")
    return {"qwen3_next", "Qwen3NextForCausalLM",
            {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"},
            "", "<|endoftext|>", "<|im_end|>", chatml};
  if (family == "qwen2" || family == "qwen3")
    return {family == "qwen2" ? "qwen2" : "qwen3",
            family == "qwen2" ? "Qwen2ForCausalLM" : "Qwen3ForCausalLM",
            {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"},
            "", "<|endoftext|>", "<|im_end|>", chatml};
  if (family == "mistral")
    return {"mistral", "MistralForCausalLM", {"<unk>", "<s>", "</s>", "[INST]", "[/INST]"}, "<s>", "</s>", "</s>",
            "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
            "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + "
            "eos_token }}{% endif %}{% endfor %}"};
  const bool g3 = family == "gemma3";
  return {g3 ? "gemma3_text" : "gemma2", g3 ? "Gemma3ForCausalLM" : "Gemma2ForCausalLM",
          {"<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"}, "<bos>", "<eos>", "<end_of_turn>",
          "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'assistant' %}{% set role = 'model' "
          "%}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + "
          "message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ "
          "'<start_of_turn>model\\n' }}{% endif %}"};
}

// GPT-2's reversible byte -> printable code point map used by byte-level BPE.
std::vector<std::string> byte_level_alphabet() {
  std::vector<std::string> out(256);
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) s += static_cast<char>(cp);
    else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
  };
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    out[b] = utf8(printable ? b : next++);
  }
  return out;
}

// A byte-level BPE vocabulary of `base_size` entries (specials excluded): the 256 byte symbols, then
// merges built breadth-first over frequent English letters, space-prefixed and not, so words become
// multi-byte tokens. Deterministic. Special tokens take the last ids up to `vocab_size`.
json make_tokenizer(int64_t base_size, const FamilyText& ft, int64_t vocab_size) {
  std::vector<std::string> alpha = byte_level_alphabet();
  json vocab = json::object();
  std::vector<std::string> tokens(alpha.begin(), alpha.end());
  std::set<std::string> seen(alpha.begin(), alpha.end());
  json merges = json::array();
  const std::string letters = "etaoinshrdlcumwfgypbvkjxqz";
  const std::string space = alpha[' '];
  // Words grow one letter per level, with and without a leading space symbol.
  std::vector<std::string> frontier;
  for (char c : letters) {
    frontier.push_back(std::string(1, c));
    frontier.push_back(space + c);
  }
  auto add_merge = [&](const std::string& a, const std::string& b) {
    std::string t = a + b;
    if (!seen.insert(t).second) return;
    merges.push_back(json::array({a, b}));
    tokens.push_back(t);
  };
  for (char c : letters) add_merge(space, std::string(1, c));
  while (static_cast<int64_t>(tokens.size()) < base_size && !frontier.empty()) {
    std::vector<std::string> next;
    for (const std::string& f : frontier)
      for (char c : letters) {
        if (static_cast<int64_t>(tokens.size()) >= base_size) break;
        add_merge(f, std::string(1, c));
        next.push_back(f + c);
      }
    frontier = std::move(next);
  }
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = static_cast<int64_t>(i);
  json added = json::array();
  for (size_t i = 0; i < ft.specials.size(); ++i)
    added.push_back({{"id", vocab_size - static_cast<int64_t>(ft.specials.size()) + static_cast<int64_t>(i)},
                     {"content", ft.specials[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", byte_level},
          {"post_processor", byte_level},
          {"decoder", byte_level},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", vocab},
            {"merges", merges}}}};
}

// Counter-based generator: every element's value depends only on (seed, tensor, index), so the
// output is the same whatever the thread count.
inline uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint16_t to_bf16(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  b += 0x7FFF + ((b >> 16) & 1);
  return static_cast<uint16_t>(b >> 16);
}

uint16_t to_f16(float f) {
  // Values here are small and finite: a plain round-to-nearest conversion without NaN handling.
  uint32_t b;
  std::memcpy(&b, &f, 4);
  uint32_t sign = (b >> 16) & 0x8000;
  int32_t exp = static_cast<int32_t>((b >> 23) & 0xFF) - 127 + 15;
  uint32_t mant = b & 0x7FFFFF;
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000;
    uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    if (rem > (1u << (shift - 1)) || (rem == (1u << (shift - 1)) && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t h = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;
  return static_cast<uint16_t>(h);
}

void fill_random(std::span<uint8_t> out, StDType dtype, uint64_t seed, double center, double half_width) {
  const int es = element_size(dtype);
  const int64_t n = static_cast<int64_t>(out.size()) / es;
  const unsigned threads = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  const int64_t per = (n + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      int64_t begin = static_cast<int64_t>(t) * per, end = std::min(n, begin + per);
      for (int64_t i = begin; i < end; ++i) {
        double u = static_cast<double>(mix(seed ^ mix(static_cast<uint64_t>(i))) >> 11) * 0x1.0p-53;  // [0, 1)
        float v = static_cast<float>(center + (2.0 * u - 1.0) * half_width);
        uint8_t* p = out.data() + i * es;
        if (dtype == StDType::F32) std::memcpy(p, &v, 4);
        else {
          uint16_t h = dtype == StDType::BF16 ? to_bf16(v) : to_f16(v);
          std::memcpy(p, &h, 2);
        }
      }
    });
  }
  for (auto& th : pool) th.join();
}

void write_json(const std::filesystem::path& p, const json& j) {
  std::ofstream out(p);
  out << j.dump(2) << "\n";
  if (!out) throw FormatError(fmt::format("cannot write {}", p.string()));
}

}  // namespace

const std::vector<SynthPreset>& synth_presets() { return preset_table(); }

void synthesize(const SynthOptions& opts) {
  const SynthPreset* preset = nullptr;
  std::string known;
  for (const SynthPreset& p : preset_table()) {
    known += fmt::format("{}{}/{}", known.empty() ? "" : ", ", p.family, p.name);
    if (p.family == opts.family && p.name == opts.preset) preset = &p;
  }
  if (!preset)
    throw FormatError(fmt::format("no synth preset '{}' for family '{}' (known: {})", opts.preset, opts.family, known));
  StDType dtype;
  if (opts.dtype == "bfloat16") dtype = StDType::BF16;
  else if (opts.dtype == "float16") dtype = StDType::F16;
  else if (opts.dtype == "float32") dtype = StDType::F32;
  else throw FormatError(fmt::format("synth: dtype '{}' is not one of bfloat16, float16, float32", opts.dtype));

  FamilyText ft = family_text(opts.family);
  // `config` holds the model's fields; multimodal families write them under text_config (`text`).
  const bool nested = opts.family == "qwen35";
  json config = preset->config;
  for (auto it = opts.overrides.begin(); it != opts.overrides.end(); ++it) config[it.key()] = it.value();
  const int64_t vocab = config.at("vocab_size").get<int64_t>();
  const int64_t nspecial = static_cast<int64_t>(ft.specials.size());
  if (vocab < 256 + nspecial + 1) throw FormatError(fmt::format("synth: vocab_size {} is too small", vocab));
  auto special_id = [&](const std::string& s) -> json {
    for (int64_t i = 0; i < nspecial; ++i)
      if (ft.specials[static_cast<size_t>(i)] == s) return vocab - nspecial + i;
    return nullptr;
  };
  const json bos_id = ft.bos.empty() ? special_id(ft.eos) : special_id(ft.bos);
  config["bos_token_id"] = bos_id;
  config["eos_token_id"] = special_id(ft.eos);
  config["hidden_act"] = config.value("hidden_activation", std::string("silu"));
  if (opts.family == "gemma2" || opts.family == "gemma3") config["pad_token_id"] = special_id("<pad>");
  if (nested) {
    // As the published Qwen3.5 checkpoints: rope_parameters with the M-RoPE layout HF expects (it
    // reduces to 1-D RoPE on text), model_type qwen3_5_text inside, tie_word_embeddings at both levels.
    config["model_type"] = std::string(ft.model_type) + "_text";
    config["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 10000000.0}, {"partial_rotary_factor", 0.25},
                                 {"mrope_section", {11, 11, 10}}, {"mrope_interleaved", true}};
    config = {{"text_config", config}, {"tie_word_embeddings", config.at("tie_word_embeddings")}};
  }
  config["architectures"] = {ft.architecture};
  config["model_type"] = ft.model_type;
  config["torch_dtype"] = opts.dtype;
  json generation = {{"bos_token_id", bos_id},
                     {"eos_token_id", json::array({special_id(ft.eos), special_id(ft.eot)})},
                     {"transformers_version", "4.56.0"}};
  if (special_id(ft.eos) == special_id(ft.eot)) generation["eos_token_id"] = special_id(ft.eos);

  ModelSpec spec = describe_model(config, generation);  // validates the preset as a real config would be
  std::filesystem::create_directories(opts.out_dir);
  write_json(opts.out_dir / "config.json", config);
  write_json(opts.out_dir / "generation_config.json", generation);
  if (opts.progress) opts.progress("tokenizer", 0, 1);
  write_json(opts.out_dir / "tokenizer.json", make_tokenizer(vocab - nspecial, ft, vocab));
  json tok_config = {{"bos_token", ft.bos.empty() ? json(nullptr) : json(ft.bos)},
                     {"eos_token", ft.eot},
                     {"pad_token", ft.specials[0]},
                     {"add_bos_token", !ft.bos.empty()},
                     {"add_eos_token", false},
                     {"model_max_length", spec.max_position},
                     {"chat_template", ft.chat_template},
                     {"tokenizer_class", "PreTrainedTokenizerFast"}};
  write_json(opts.out_dir / "tokenizer_config.json", tok_config);

  // Weights, sharded like HF (model-0000i-of-0000n.safetensors + index) when over the shard size.
  std::vector<TensorSpec> tensors = expected_tensors(spec);
  std::vector<std::vector<size_t>> shards(1);
  int64_t shard_size = 0, total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    int64_t bytes = element_size(dtype);
    for (int64_t d : tensors[i].shape) bytes *= d;
    if (shard_size > 0 && shard_size + bytes > opts.shard_bytes) {
      shards.emplace_back();
      shard_size = 0;
    }
    shards.back().push_back(i);
    shard_size += bytes;
    total += bytes;
  }
  const double h = static_cast<double>(spec.hidden_size);
  int64_t done = 0;
  json weight_map = json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    std::string file = shards.size() == 1 ? "model.safetensors"
                                          : fmt::format("model-{:05}-of-{:05}.safetensors", s + 1, shards.size());
    std::vector<TensorHeader> infos;
    for (size_t i : shards[s]) {
      infos.push_back({tensors[i].name, dtype, tensors[i].shape});
      weight_map[tensors[i].name] = file;
    }
    write_safetensors_streaming(
        opts.out_dir / file, infos,
        [&](size_t k, std::span<uint8_t> out) {
          size_t i = shards[s][k];
          const TensorSpec& t = tensors[i];
          uint64_t seed = mix(opts.seed * 0x100000001B3ull + i);
          // Uniform values with the standard deviation that keeps activations O(1) (sqrt(3) sigma).
          double center = 0, width = 0;
          switch (t.role) {
            case TensorSpec::Role::Embedding:
              width = std::sqrt(3.0) * (spec.embedding_scale != 1.0 ? 1.0 / std::sqrt(h) : 1.0);
              break;
            case TensorSpec::Role::Projection:
              width = std::sqrt(3.0) / std::sqrt(static_cast<double>(t.shape[1]));
              break;
            case TensorSpec::Role::Bias:
              width = 0.1;
              break;
            case TensorSpec::Role::Norm:
              center = spec.norm_offset != 0.0 ? 0.0 : 1.0;
              width = 0.2;
              break;
            case TensorSpec::Role::PlainNorm:
              center = 1.0;
              width = 0.2;
              break;
            case TensorSpec::Role::Conv:  // [C, 1, K]: each output sums K taps
              width = std::sqrt(3.0) / std::sqrt(static_cast<double>(t.shape.back()));
              break;
          }
          fill_random(out, dtype, seed, center, width);
          done += static_cast<int64_t>(out.size());
          if (opts.progress) opts.progress("weights", done, total);
        },
        {{"format", "pt"}});
  }
  if (shards.size() > 1)
    write_json(opts.out_dir / "model.safetensors.index.json",
               {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}});
}

}  // namespace vkllm::frontends
