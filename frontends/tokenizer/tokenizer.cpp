#include "frontends/tokenizer/tokenizer.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "frontends/tokenizer/added_vocabulary.h"
#include "frontends/tokenizer/bpe.h"
#include "frontends/tokenizer/components.h"
#include "frontends/tokenizer/json_access.h"
#include "frontends/tokenizer/sentencepiece_model.h"
#include "frontends/tokenizer/tokenizer_impl.h"
#include "frontends/tokenizer/unicode.h"

namespace vkllm::frontends {
namespace {
using namespace json_access;
namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TokenizerError(fmt::format("{}: cannot open", path.string()));
  std::ostringstream s;
  s << in.rdbuf();
  if (!in.good() && !in.eof()) throw TokenizerError(fmt::format("{}: read error", path.string()));
  return s.str();
}

json parse_json(std::string_view text, const std::string& name) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw TokenizerError(fmt::format("{}: invalid JSON: {}", name, e.what()));
  }
}

// "bos_token": "<s>" or {"content": "<s>", ...} (transformers' serialized AddedToken).
std::optional<std::string> config_token(const json& config, const char* key) {
  const json* v = optional(config, key);
  if (!v) return std::nullopt;
  const std::string where = field_path("tokenizer_config.json: ", key);
  if (v->is_object()) return as_string(required(*v, "content", where), field_path(where, "content"));
  return as_string(*v, where);
}

std::string config_chat_template(const json& config) {
  const json* v = optional(config, "chat_template");
  if (!v) return {};
  const std::string where = "tokenizer_config.json: chat_template";
  if (v->is_string()) return v->get<std::string>();
  // A list of {"name": ..., "template": ...}; the one named "default" is the chat template.
  expect_array(*v, where);
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string w = index_path(where, i);
    if (as_string(required((*v)[i], "name", w), field_path(w, "name")) == "default")
      return as_string(required((*v)[i], "template", w), field_path(w, "template"));
  }
  return {};
}

AddedToken parse_added_token(const json& j, const std::string& where) {
  AddedToken t;
  t.content = as_string(required(j, "content", where), field_path(where, "content"));
  t.id = as_token_id(required(j, "id", where), field_path(where, "id"));
  t.special = bool_or(j, "special", false, where);
  t.single_word = bool_or(j, "single_word", false, where);
  t.lstrip = bool_or(j, "lstrip", false, where);
  t.rstrip = bool_or(j, "rstrip", false, where);
  t.normalized = bool_or(j, "normalized", !t.special, where);
  return t;
}

// transformers' Llama/Gemma/CodeLlama fast tokenizers replace the tokenizer.json post-processor
// with "[bos] $A [eos]" from add_bos_token (default true) and add_eos_token (default false); their
// BOS/EOS default to the class's own when the config names none. nullopt for other classes.
struct RebuiltPostProcessor {
  const char* default_bos;
  const char* default_eos;
};
std::optional<RebuiltPostProcessor> rebuilt_post_processor(const json& config) {
  std::string cls = string_or(config, "tokenizer_class", "", "tokenizer_config.json: ");
  if (cls.ends_with("Fast")) cls.resize(cls.size() - 4);
  if (cls == "LlamaTokenizer" || cls == "CodeLlamaTokenizer") return RebuiltPostProcessor{"<s>", "</s>"};
  if (cls == "GemmaTokenizer") return RebuiltPostProcessor{"<bos>", "<eos>"};
  return std::nullopt;
}

}  // namespace

std::string clean_up_tokenization(std::string text) {
  static constexpr std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    if (text.find(from) == std::string::npos) continue;
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, pos)) {
      out.append(text, pos, at - pos);
      out += to;
      pos = at + from.size();
    }
    out.append(text, pos);
    text = std::move(out);
  }
  return text;
}

void Tokenizer::Impl::finish_setup(std::vector<AddedToken> added_tokens, size_t model_token_count,
                                   const std::string& where) {
  int64_t max_id = static_cast<int64_t>(id_to_token.size()) - 1;
  for (const AddedToken& t : added_tokens) max_id = std::max<int64_t>(max_id, t.id);
  const size_t count = model_token_count + added_tokens.size();
  // Ids index dense tables; refuse files whose ids are mostly holes rather than allocate for them.
  if (max_id >= static_cast<int64_t>(2 * count + 65536))
    throw TokenizerError(
        fmt::format("{}: token ids are too sparse (largest id {} for {} tokens)", where, max_id, count));
  const size_t size = static_cast<size_t>(max_id + 1);
  id_to_token.resize(size);
  has_token.resize(size, false);
  special.assign(size, false);
  for (const AddedToken& t : added_tokens) {
    id_to_token[static_cast<size_t>(t.id)] = t.content;
    has_token[static_cast<size_t>(t.id)] = true;
    special[static_cast<size_t>(t.id)] = t.special;
    added_ids.emplace(t.content, t.id);
  }
  added = AddedVocabulary(std::move(added_tokens), normalizer.get());
  if (decoder) {
    bool fused = false;
    streams_locally = decoder->streams_locally(fused);
    byte_fallback_decoder = decoder->has_byte_fallback();
  }
}

void Tokenizer::Impl::apply_config(json tokenizer_config) {
  config = std::move(tokenizer_config);
  if (!config.is_object()) throw TokenizerError("tokenizer_config.json: expected a JSON object");
  bos_token = config_token(config, "bos_token");
  eos_token = config_token(config, "eos_token");
  const std::optional<RebuiltPostProcessor> rebuilt = rebuilt_post_processor(config);
  if (rebuilt && !config.contains("bos_token")) bos_token = rebuilt->default_bos;
  if (rebuilt && !config.contains("eos_token")) eos_token = rebuilt->default_eos;
  if (bos_token) bos_id = token_to_id(*bos_token);
  if (eos_token) eos_id = token_to_id(*eos_token);
  chat_template = config_chat_template(config);
  clean_up = bool_or(config, "clean_up_tokenization_spaces", false, "tokenizer_config.json: ");
  if (rebuilt) {
    const bool add_bos = bool_or(config, "add_bos_token", true, "tokenizer_config.json: ");
    const bool add_eos = bool_or(config, "add_eos_token", false, "tokenizer_config.json: ");
    auto id_for = [&](bool wanted, const std::optional<int32_t>& id, const std::optional<std::string>& token,
                      const char* name) -> std::optional<int32_t> {
      if (!wanted) return std::nullopt;
      if (!token)
        throw TokenizerError(
            fmt::format("tokenizer_config.json: add_{0}_token is true but {0}_token is not set", name));
      if (!id)
        throw TokenizerError(
            fmt::format("tokenizer_config.json: {}_token \"{}\" is not in the vocabulary", name, *token));
      return id;
    };
    post_processor = components::make_bos_eos_processor(id_for(add_bos, bos_id, bos_token, "bos"),
                                                        id_for(add_eos, eos_id, eos_token, "eos"));
  }
}

std::optional<int32_t> Tokenizer::Impl::token_to_id(std::string_view token) const {
  if (auto it = added_ids.find(token); it != added_ids.end()) return it->second;
  if (bpe) {
    if (auto it = bpe->vocab().find(token); it != bpe->vocab().end()) return it->second;
    return std::nullopt;
  }
  if (auto it = piece_ids.find(token); it != piece_ids.end()) return it->second;
  return std::nullopt;
}

std::vector<std::string> Tokenizer::Impl::tokens_for(std::span<const int32_t> ids, bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= id_to_token.size() || !has_token[static_cast<size_t>(id)]) continue;
    if (skip_special && special[static_cast<size_t>(id)]) continue;
    tokens.push_back(id_to_token[static_cast<size_t>(id)]);
  }
  return tokens;
}

std::string Tokenizer::Impl::decode_tokens(std::vector<std::string> tokens, bool at_start, bool at_end) const {
  if (!decoder) {
    // Without a decoder Hugging Face joins the tokens with spaces.
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 || !at_start) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  components::DecodeState state{at_start, at_end, false};
  decoder->decode_chain(tokens, state);
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

void Tokenizer::Impl::tokenize_segment(const Segment& segment, std::vector<int32_t>& out) const {
  if (sentencepiece) {
    sentencepiece->tokenize(segment.text, out);
    return;
  }
  if (!pre_tokenizer) {
    bpe->tokenize(segment.text, out);
    return;
  }
  std::vector<components::Piece> pieces{{segment.text, segment.at_original_start}};
  pre_tokenizer->pre_tokenize(pieces);
  for (const components::Piece& p : pieces) bpe->tokenize(p.text, out);
}

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, std::string_view tokenizer_config_json) {
  const json tj = parse_json(tokenizer_json, "tokenizer.json");
  const std::string where = "tokenizer.json: ";
  expect_object(tj, "tokenizer.json");
  auto impl = std::make_shared<Impl>();

  const json& model = required(tj, "model", where);
  const std::string model_where = field_path(where, "model");
  expect_object(model, model_where);
  const std::string type = string_or(model, "type", model.contains("merges") ? "BPE" : "", model_where);
  if (type != "BPE")
    fail(field_path(model_where, "type"), type.empty()
                                              ? std::string("missing (the model type is required)")
                                              : fmt::format("unsupported model type \"{}\" (supported: BPE)", type));
  impl->bpe = std::make_unique<BpeModel>(model, model_where);

  if (const json* n = optional(tj, "normalizer"))
    impl->normalizer = components::make_normalizer(*n, field_path(where, "normalizer"));
  if (const json* p = optional(tj, "pre_tokenizer"))
    impl->pre_tokenizer = components::make_pre_tokenizer(*p, field_path(where, "pre_tokenizer"));
  if (const json* p = optional(tj, "post_processor"))
    impl->post_processor = components::make_post_processor(*p, field_path(where, "post_processor"));
  if (const json* d = optional(tj, "decoder"))
    impl->decoder = components::make_decoder(*d, field_path(where, "decoder"));

  std::vector<AddedToken> added_tokens;
  if (const json* list = optional(tj, "added_tokens")) {
    const std::string list_where = field_path(where, "added_tokens");
    expect_array(*list, list_where);
    for (size_t i = 0; i < list->size(); ++i)
      added_tokens.push_back(parse_added_token((*list)[i], index_path(list_where, i)));
  }

  int32_t vocab_end = 0;
  for (const auto& [token, id] : impl->bpe->vocab()) vocab_end = std::max(vocab_end, id + 1);
  // Checked before allocating the id table: the vocabulary alone can be too sparse.
  if (vocab_end > static_cast<int64_t>(2 * impl->bpe->vocab().size() + 65536))
    fail(field_path(model_where, "vocab"), fmt::format("token ids are too sparse (largest id {} for {} tokens)",
                                                       vocab_end - 1, impl->bpe->vocab().size()));
  impl->id_to_token.resize(static_cast<size_t>(vocab_end));
  impl->has_token.resize(static_cast<size_t>(vocab_end), false);
  for (const auto& [token, id] : impl->bpe->vocab()) {
    impl->id_to_token[static_cast<size_t>(id)] = token;
    impl->has_token[static_cast<size_t>(id)] = true;
  }
  impl->finish_setup(std::move(added_tokens), impl->bpe->vocab().size(), "tokenizer.json");
  impl->apply_config(tokenizer_config_json.empty() ? json::object()
                                                   : parse_json(tokenizer_config_json, "tokenizer_config.json"));
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::load(const fs::path& dir_or_file) {
  fs::path dir = dir_or_file, tokenizer_json, tokenizer_model;
  if (fs::is_directory(dir_or_file)) {
    if (fs::exists(dir / "tokenizer.json"))
      tokenizer_json = dir / "tokenizer.json";
    else if (fs::exists(dir / "tokenizer.model"))
      tokenizer_model = dir / "tokenizer.model";
    else
      throw TokenizerError(
          fmt::format("{}: no tokenizer.json or tokenizer.model in this folder", dir_or_file.string()));
  } else if (fs::exists(dir_or_file)) {
    dir = dir_or_file.parent_path();
    if (dir_or_file.extension() == ".model")
      tokenizer_model = dir_or_file;
    else
      tokenizer_json = dir_or_file;
  } else {
    throw TokenizerError(fmt::format("{}: no such file or folder", dir_or_file.string()));
  }
  const fs::path config_path = dir / "tokenizer_config.json";
  const std::string config_text = fs::exists(config_path) ? read_file(config_path) : std::string();

  std::shared_ptr<Impl> impl;
  if (!tokenizer_json.empty()) {
    try {
      impl = std::const_pointer_cast<Impl>(from_json(read_file(tokenizer_json), config_text).impl_);
    } catch (const TokenizerError& e) {
      throw TokenizerError(fmt::format("{}: {}", dir.string(), e.what()));
    }
  } else {
    impl = std::make_shared<Impl>();
    impl->sentencepiece = std::make_unique<SentencePieceModel>(tokenizer_model);
    // SentencePiece's own decoding drops control tokens; Hugging Face's conversion of these models
    // decodes with this chain, which writes them out.
    impl->decoder = components::make_decoder(json::parse(R"({"type": "Sequence", "decoders": [
          {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
          {"type": "ByteFallback"}, {"type": "Fuse"},
          {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})"),
                                             "decoder");
    const int32_t pieces = impl->sentencepiece->piece_count();
    impl->id_to_token.resize(static_cast<size_t>(pieces));
    impl->has_token.assign(static_cast<size_t>(pieces), true);
    std::vector<AddedToken> added_tokens;
    for (int32_t id = 0; id < pieces; ++id) {
      impl->id_to_token[static_cast<size_t>(id)] = impl->sentencepiece->piece(id);
      impl->piece_ids.emplace(impl->id_to_token[static_cast<size_t>(id)], id);
      if (impl->sentencepiece->is_special(id))
        added_tokens.push_back({impl->id_to_token[static_cast<size_t>(id)], id, false, false, false, false, true});
    }
    // transformers adds the tokens listed in added_tokens_decoder on top of the model.
    if (!config_text.empty()) {
      const json config = parse_json(config_text, "tokenizer_config.json");
      if (const json* decoder = optional(config, "added_tokens_decoder")) {
        const std::string where = "tokenizer_config.json: added_tokens_decoder";
        expect_object(*decoder, where);
        for (auto it = decoder->begin(); it != decoder->end(); ++it) {
          json entry = it.value();
          const std::string w = field_path(where, it.key().c_str());
          expect_object(entry, w);
          try {
            entry["id"] = std::stoll(it.key());
          } catch (const std::exception&) {
            fail(w, "the key is not a token id");
          }
          AddedToken t = parse_added_token(entry, w);
          std::erase_if(added_tokens, [&](const AddedToken& a) { return a.id == t.id; });
          added_tokens.push_back(std::move(t));
        }
      }
    }
    impl->finish_setup(std::move(added_tokens), static_cast<size_t>(pieces), tokenizer_model.string());
    impl->apply_config(config_text.empty() ? json::object() : parse_json(config_text, "tokenizer_config.json"));
  }
  if (const fs::path jinja = dir / "chat_template.jinja"; fs::exists(jinja)) impl->chat_template = read_file(jinja);
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (const size_t bad = unicode::find_invalid_utf8(text); bad != std::string_view::npos)
    throw TokenizerError(fmt::format("encode: the text is not valid UTF-8 (byte {})", bad));
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const Segment& s : impl_->added.extract_and_normalize(text, impl_->normalizer.get())) {
    if (s.token >= 0)
      ids.push_back(s.token);
    else
      impl_->tokenize_segment(s, ids);
  }
  if (add_special_tokens && impl_->post_processor) impl_->post_processor->add_special_tokens(ids);
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string text = impl_->decode_tokens(impl_->tokens_for(ids, skip_special_tokens), true, true);
  return impl_->clean_up ? clean_up_tokenization(std::move(text)) : text;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const { return impl_->token_to_id(token); }

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->id_to_token.size() || !impl_->has_token[static_cast<size_t>(id)])
    return std::nullopt;
  return impl_->id_to_token[static_cast<size_t>(id)];
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->id_to_token.size()); }

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->special.size() && impl_->special[static_cast<size_t>(id)];
}

std::optional<int32_t> Tokenizer::bos_token_id() const { return impl_->bos_id; }
std::optional<int32_t> Tokenizer::eos_token_id() const { return impl_->eos_id; }
const std::optional<std::string>& Tokenizer::bos_token() const { return impl_->bos_token; }
const std::optional<std::string>& Tokenizer::eos_token() const { return impl_->eos_token; }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }
bool Tokenizer::clean_up_tokenization_spaces() const { return impl_->clean_up; }
const nlohmann::json& Tokenizer::config() const { return impl_->config; }

}  // namespace vkllm::frontends
