#include "frontends/gguf/gguf_tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace vkllm::frontends {
namespace {

using json = nlohmann::json;

// tokenizer.ggml.token_type values (llama.cpp's LLAMA_TOKEN_TYPE_*).
enum TokenType : int64_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// Pre-tokenizer regexes. LLAMA3 and QWEN2 are the originals from the models' tokenizer.json (llama.cpp
// uses equivalent forms without (?i:)); the others are llama.cpp's, which has no tokenizer.json to
// come from for "default".
constexpr const char* kLlama3Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kQwen2Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kDeepseekV3Regexes[] = {
    R"re(\p{N}{1,3})re",
    R"re([一-龥぀-ゟ゠-ヿ]+)re",
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re",
};
constexpr const char* kLlamaCppDefaultRegexes[] = {
    R"re([\p{P}\$\+<=>\^~\|]+)re",
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))re",
    R"re(\p{N}+)re",
    R"re([0-9][0-9][0-9])re",
};

struct PreTokenizer {
  std::vector<std::string_view> names;  // tokenizer.ggml.pre values
  std::vector<const char*> regexes;     // empty: GPT-2's ByteLevel regex
  bool ignore_merges = false;           // a whole pre-token found in the vocabulary is not split
  bool add_bos = false;                 // llama.cpp's default when tokenizer.ggml.add_bos_token is absent
};

const std::vector<PreTokenizer>& pre_tokenizers() {
  static const std::vector<PreTokenizer> table = {
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"}, {kLlama3Regex}, true, true},
      {{"dbrx", "smaug-bpe"}, {kLlama3Regex}, false, false},
      {{"qwen2", "deepseek-r1-qwen", "megrez"}, {kQwen2Regex}, false, false},
      {{"deepseek-v3"}, {std::begin(kDeepseekV3Regexes), std::end(kDeepseekV3Regexes)}, false, false},
      {{"gpt-2", "phi-2", "mpt", "olmo"}, {}, false, false},
      {{"default"}, {std::begin(kLlamaCppDefaultRegexes), std::end(kLlamaCppDefaultRegexes)}, false, false},
  };
  return table;
}

const PreTokenizer& find_pre_tokenizer(const GgufFile& f, const std::string& pre) {
  std::string known;
  for (const PreTokenizer& p : pre_tokenizers())
    for (std::string_view n : p.names) {
      if (n == pre) return p;
      known += known.empty() ? std::string(n) : ", " + std::string(n);
    }
  throw f.error(fmt::format("tokenizer.ggml.pre '{}' is not supported (supported: {})", pre, known));
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// Byte length of the UTF-8 character starting at s[i] (the string is valid UTF-8).
size_t char_len(const std::string& s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  return c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
}

// The tokenizer arrays of a file, checked for consistency.
struct Vocab {
  std::string model;
  const std::vector<std::string>* tokens = nullptr;
  std::vector<int64_t> types;  // kNormal for all when the file has no token_type
  std::vector<double> scores;  // empty when the file has none
};

Vocab read_vocab(const GgufFile& f) {
  Vocab v;
  v.model = f.require_string("tokenizer.ggml.model");
  const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
  if (!tokens) throw f.error("missing metadata 'tokenizer.ggml.tokens' (the file has no tokenizer)");
  if (!tokens->is_array() || tokens->element_type() != GgufType::String)
    throw f.error(fmt::format("metadata 'tokenizer.ggml.tokens' is {}, not an array of strings", tokens->describe()));
  v.tokens = &tokens->strings();
  const size_t n = v.tokens->size();
  for (size_t i = 0; i < n; ++i)
    if (!valid_utf8((*v.tokens)[i])) throw f.error(fmt::format("token {} is not valid UTF-8", i));
  v.types.assign(n, kNormal);
  if (const GgufValue* t = f.find("tokenizer.ggml.token_type")) {
    if (!t->is_array() || t->size() != n)
      throw f.error(fmt::format("metadata 'tokenizer.ggml.token_type' is {}; it must list one type per token ({})",
                                t->describe(), n));
    try {
      for (size_t i = 0; i < n; ++i) v.types[i] = t->int_at(i);
    } catch (const FormatError& e) {
      throw f.error(fmt::format("metadata 'tokenizer.ggml.token_type': {}", e.what()));
    }
  }
  if (const GgufValue* s = f.find("tokenizer.ggml.scores")) {
    if (!s->is_array() || s->size() != n)
      throw f.error(fmt::format("metadata 'tokenizer.ggml.scores' is {}; it must list one score per token ({})",
                                s->describe(), n));
    v.scores.resize(n);
    try {
      for (size_t i = 0; i < n; ++i) v.scores[i] = s->double_at(i);
    } catch (const FormatError& e) {
      throw f.error(fmt::format("metadata 'tokenizer.ggml.scores': {}", e.what()));
    }
  }
  return v;
}

// A special token id from the metadata, checked against the vocabulary size; -1 when absent.
int64_t special_id(const GgufFile& f, const Vocab& v, const char* which) {
  const std::string key = fmt::format("tokenizer.ggml.{}_token_id", which);
  const std::optional<int64_t> id = f.get_int(key);
  if (!id) return -1;
  if (*id < 0 || static_cast<size_t>(*id) >= v.tokens->size())
    throw f.error(fmt::format("metadata '{}' = {} is not a token id (the vocabulary has {} tokens)", key, *id,
                              v.tokens->size()));
  return *id;
}

json added_token(int64_t id, const std::string& content, bool special) {
  return {{"id", id},         {"content", content}, {"single_word", false}, {"lstrip", false},
          {"rstrip", false},  {"normalized", false}, {"special", special}};
}

json split(const char* regex) {
  return {{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
}

json byte_level(bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
}

bool add_bos_default(const GgufFile& f, const std::string& model) {
  if (model == "llama") return true;
  const std::string pre = f.get_string("tokenizer.ggml.pre").value_or("default");
  for (const PreTokenizer& p : pre_tokenizers())
    if (std::find(p.names.begin(), p.names.end(), pre) != p.names.end()) return p.add_bos;
  return false;
}

// TemplateProcessing that adds BOS/EOS around each sequence, as HF fast tokenizers do.
json post_processor(const GgufFile& f, const Vocab& v) {
  const bool add_bos = f.get_bool("tokenizer.ggml.add_bos_token").value_or(add_bos_default(f, v.model));
  const bool add_eos = f.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
  const int64_t bos = special_id(f, v, "bos"), eos = special_id(f, v, "eos");
  if ((add_bos && bos < 0) || (add_eos && eos < 0))
    throw f.error(fmt::format("tokenizer.ggml.add_{}_token is set but the file has no {} token id",
                              add_bos && bos < 0 ? "bos" : "eos", add_bos && bos < 0 ? "bos" : "eos"));
  if (!add_bos && !add_eos) return nullptr;
  json special = json::object();
  auto piece = [&](int64_t id, int type_id) {
    const std::string& t = (*v.tokens)[static_cast<size_t>(id)];
    special[t] = {{"id", t}, {"ids", {id}}, {"tokens", {t}}};
    return json{{"SpecialToken", {{"id", t}, {"type_id", type_id}}}};
  };
  auto sequence = [&](int type_id) {
    json out = json::array();
    if (add_bos) out.push_back(piece(bos, type_id));
    out.push_back({{"Sequence", {{"id", type_id == 0 ? "A" : "B"}, {"type_id", type_id}}}});
    if (add_eos) out.push_back(piece(eos, type_id));
    return out;
  };
  json single = sequence(0);
  json pair = sequence(0);
  for (const json& p : sequence(1)) pair.push_back(p);
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", special}};
}

json byte_level_bpe(const GgufFile& f, const Vocab& v) {
  const std::string pre_name = f.get_string("tokenizer.ggml.pre").value_or("default");
  const PreTokenizer& pre = find_pre_tokenizer(f, pre_name);
  json vocab = json::object();
  json added = json::array();
  for (size_t i = 0; i < v.tokens->size(); ++i) {
    const std::string& t = (*v.tokens)[i];
    const int64_t type = v.types[i];
    if (type == kUnused) continue;  // padding the converter added ([PAD<id>]); not part of the tokenizer
    if (type == kControl || type == kUserDefined || type == kUnknown) {
      added.push_back(added_token(static_cast<int64_t>(i), t, type != kUserDefined));
      continue;
    }
    if (vocab.contains(t))
      throw f.error(fmt::format("token {} ('{}') repeats token {}", i, t, vocab[t].get<int64_t>()));
    vocab[t] = static_cast<int64_t>(i);
  }
  const GgufValue* merges_value = f.find("tokenizer.ggml.merges");
  if (!merges_value) throw f.error("missing metadata 'tokenizer.ggml.merges' (a gpt2 tokenizer needs its merges)");
  if (!merges_value->is_array() || merges_value->element_type() != GgufType::String)
    throw f.error(fmt::format("metadata 'tokenizer.ggml.merges' is {}, not an array of strings", merges_value->describe()));
  json merges = json::array();
  const std::vector<std::string>& merge_strings = merges_value->strings();
  for (size_t i = 0; i < merge_strings.size(); ++i) {
    const std::string& m = merge_strings[i];
    // As llama.cpp splits them: at the first space after the first byte.
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos || !valid_utf8(m))
      throw f.error(fmt::format("merge {} ('{}') is not two UTF-8 tokens separated by a space", i, m));
    merges.push_back({m.substr(0, space), m.substr(space + 1)});
  }
  json pre_tokenizer;
  if (pre.regexes.empty()) {
    pre_tokenizer = byte_level(true);
  } else {
    json seq = json::array();
    for (const char* r : pre.regexes) seq.push_back(split(r));
    seq.push_back(byte_level(false));
    pre_tokenizer = {{"type", "Sequence"}, {"pretokenizers", seq}};
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre_tokenizer},
          {"post_processor", post_processor(f, v)},
          {"decoder", byte_level(true)},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", pre.ignore_merges},
            {"vocab", vocab},
            {"merges", merges}}}};
}

// Longer pieces are refused: deriving merges costs the square of a piece's length, and real
// SentencePiece vocabularies stay far below this.
constexpr size_t kMaxPieceBytes = 1024;

// transformers' SentencePieceExtractor with piece scores: every split of every piece into two
// pieces of the vocabulary is a merge; merges of one piece are ordered by the ids of their halves,
// and all merges by the score of the merged piece, highest first (stable).
json merges_from_scores(const GgufFile& f, const Vocab& v, const std::unordered_map<std::string, int64_t>& ids) {
  struct Merge {
    std::string left, right;
    double score;
    int64_t left_id, right_id;
  };
  std::vector<Merge> merges;
  for (size_t p = 0; p < v.tokens->size(); ++p) {
    const std::string& piece = (*v.tokens)[p];
    if (piece.empty()) continue;
    if (piece.size() > kMaxPieceBytes)
      throw f.error(fmt::format("token {} is {} bytes long; SentencePiece pieces over {} bytes are not supported", p,
                                piece.size(), kMaxPieceBytes));
    const size_t first = merges.size();
    for (size_t i = char_len(piece, 0); i < piece.size(); i += char_len(piece, i)) {
      auto l = ids.find(piece.substr(0, i));
      auto r = ids.find(piece.substr(i));
      if (l != ids.end() && r != ids.end()) merges.push_back({l->first, r->first, v.scores[p], l->second, r->second});
    }
    std::sort(merges.begin() + static_cast<std::ptrdiff_t>(first), merges.end(), [](const Merge& a, const Merge& b) {
      return a.left_id != b.left_id ? a.left_id < b.left_id : a.right_id < b.right_id;
    });
  }
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) { return a.score > b.score; });
  json out = json::array();
  for (const Merge& m : merges) out.push_back({m.left, m.right});
  return out;
}

json sentencepiece_bpe(const GgufFile& f, const Vocab& v) {
  if (v.scores.empty()) throw f.error("missing metadata 'tokenizer.ggml.scores' (a llama tokenizer needs its scores)");
  const bool add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
  std::unordered_map<std::string, int64_t> ids;
  json vocab = json::object();
  json added = json::array();
  for (size_t i = 0; i < v.tokens->size(); ++i) {
    const std::string& t = (*v.tokens)[i];
    if (!ids.emplace(t, static_cast<int64_t>(i)).second)
      throw f.error(fmt::format("token {} ('{}') repeats token {}", i, t, ids[t]));
    vocab[t] = static_cast<int64_t>(i);
    const int64_t type = v.types[i];
    if (type == kControl || type == kUserDefined || type == kUnknown)
      added.push_back(added_token(static_cast<int64_t>(i), t, type != kUserDefined));
  }
  int64_t unk = special_id(f, v, "unknown");
  if (unk < 0)
    for (size_t i = 0; i < v.types.size() && unk < 0; ++i)
      if (v.types[i] == kUnknown) unk = static_cast<int64_t>(i);
  const std::string space = "\xe2\x96\x81";  // ▁
  json normalizers = json::array();
  if (add_space_prefix) normalizers.push_back({{"type", "Prepend"}, {"prepend", space}});
  normalizers.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", space}});
  json decoders = json::array({{{"type", "Replace"}, {"pattern", {{"String", space}}}, {"content", " "}},
                               {{"type", "ByteFallback"}},
                               {{"type", "Fuse"}}});
  if (add_space_prefix) decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", {{"type", "Sequence"}, {"normalizers", normalizers}}},
          {"pre_tokenizer", nullptr},
          {"post_processor", post_processor(f, v)},
          {"decoder", {{"type", "Sequence"}, {"decoders", decoders}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", unk >= 0 ? json((*v.tokens)[static_cast<size_t>(unk)]) : json(nullptr)},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", true},
            {"byte_fallback", true},
            {"ignore_merges", false},
            {"vocab", vocab},
            {"merges", merges_from_scores(f, v, ids)}}}};
}

}  // namespace

json gguf_tokenizer_json(const GgufFile& f) {
  const Vocab v = read_vocab(f);
  if (v.model == "gpt2") return byte_level_bpe(f, v);
  if (v.model == "llama") return sentencepiece_bpe(f, v);
  throw f.error(fmt::format("tokenizer.ggml.model '{}' is not supported (supported: gpt2, llama)", v.model));
}

json gguf_tokenizer_config(const GgufFile& f, int64_t context_length) {
  const Vocab v = read_vocab(f);
  auto token = [&](const char* which) -> json {
    const int64_t id = special_id(f, v, which);
    return id >= 0 ? json((*v.tokens)[static_cast<size_t>(id)]) : json(nullptr);
  };
  json c = {{"tokenizer_class", "PreTrainedTokenizerFast"},
            {"bos_token", token("bos")},
            {"eos_token", token("eos")},
            {"unk_token", token("unknown")},
            {"pad_token", token("padding")},
            {"add_bos_token", f.get_bool("tokenizer.ggml.add_bos_token").value_or(add_bos_default(f, v.model))},
            {"add_eos_token", f.get_bool("tokenizer.ggml.add_eos_token").value_or(false)},
            {"clean_up_tokenization_spaces", false}};
  if (context_length > 0) c["model_max_length"] = context_length;
  auto chat_template = [&](const std::string& key) {
    std::optional<std::string> t = f.get_string(key);
    if (t && !valid_utf8(*t)) throw f.error(fmt::format("metadata '{}' is not valid UTF-8", key));
    return t;
  };
  const std::optional<std::string> main_template = chat_template("tokenizer.chat_template");
  json named = json::array();
  const std::string prefix = "tokenizer.chat_template.";
  for (const auto& [key, value] : f.metadata())
    if (key.starts_with(prefix)) {
      if (!valid_utf8(key)) throw f.error("a tokenizer.chat_template.* key is not valid UTF-8");
      named.push_back({{"name", key.substr(prefix.size())}, {"template", *chat_template(key)}});
    }
  if (!named.empty()) {
    json all = json::array();
    if (main_template) all.push_back({{"name", "default"}, {"template", *main_template}});
    for (const json& n : named) all.push_back(n);
    c["chat_template"] = all;
  } else if (main_template) {
    c["chat_template"] = *main_template;
  }
  return c;
}

}  // namespace vkllm::frontends
