// Decoders: ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence.
#include <fmt/format.h>

#include "frontends/tokenizer/components.h"
#include "frontends/tokenizer/json_access.h"
#include "frontends/tokenizer/pattern.h"
#include "frontends/tokenizer/unicode.h"

namespace vkllm::frontends::components {
namespace {
using namespace json_access;

// Tokens back to bytes through the byte-level map; a token with a character outside the map
// (an added token such as "<｜begin▁of▁sentence｜>") contributes its own UTF-8 bytes. The bytes of
// all tokens are joined, then made valid UTF-8.
class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens, DecodeState& state) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      const size_t mark = bytes.size();
      bool mapped = true;
      for (size_t i = 0; i < t.size();) {
        const int byte = byte_of_char(unicode::next_code_point(t, i));
        if (byte < 0) {
          mapped = false;
          break;
        }
        bytes += static_cast<char>(byte);
      }
      if (!mapped) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, unicode::from_utf8_lossy(bytes));
    state.fused = true;
  }
  bool streams_locally(bool& fused) const override {
    fused = true;
    return true;
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool prepends) : replacement_(replacement), prepends_(prepends) {}
  void decode_chain(std::vector<std::string>& tokens, DecodeState& state) const override {
    for (size_t k = 0; k < tokens.size(); ++k) {
      // The first token of the text loses its replacement characters when the pre-tokenizer
      // prepended one.
      const bool drop = k == 0 && prepends_ && state.at_start;
      std::string out;
      const std::string& t = tokens[k];
      out.reserve(t.size());
      for (size_t i = 0; i < t.size();) {
        const size_t at = i;
        if (unicode::next_code_point(t, i) == replacement_) {
          if (!drop) out += ' ';
        } else {
          out.append(t, at, i - at);
        }
      }
      tokens[k] = std::move(out);
    }
  }
  bool streams_locally(bool& fused) const override { return !fused; }

 private:
  char32_t replacement_;
  bool prepends_;
};

// Runs of "<0xHH>" tokens become the bytes they name: the run's text when it is valid UTF-8,
// otherwise one U+FFFD per byte.
class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens, DecodeState&) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string run;
    auto flush = [&] {
      if (run.empty()) return;
      if (unicode::find_invalid_utf8(run) == std::string::npos) {
        out.push_back(run);
      } else {
        for (size_t i = 0; i < run.size(); ++i) out.emplace_back(unicode::kReplacementUtf8);
      }
      run.clear();
    };
    for (std::string& t : tokens) {
      if (const int byte = byte_token_value(t); byte >= 0) {
        run += static_cast<char>(byte);
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens = std::move(out);
  }
  bool streams_locally(bool& fused) const override { return !fused; }
  bool has_byte_fallback() const override { return true; }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens, DecodeState& state) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
    state.fused = true;
  }
  bool streams_locally(bool& fused) const override {
    fused = true;
    return true;
  }
};

// Removes up to `start` leading and `stop` trailing `content` characters from each token. After
// Fuse the single token is the whole text, so only the window holding its start (end) is cut.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens, DecodeState& state) const override {
    const size_t start = state.fused && !state.at_start ? 0 : start_;
    const size_t stop = state.fused && !state.at_end ? 0 : stop_;
    for (std::string& t : tokens) {
      std::vector<std::pair<size_t, char32_t>> chars;  // (byte offset, character)
      for (size_t i = 0; i < t.size();) {
        const size_t at = i;
        chars.emplace_back(at, unicode::next_code_point(t, i));
      }
      size_t first = 0, last = chars.size();
      while (first < start && first < chars.size() && chars[first].second == content_) ++first;
      for (size_t k = 0; k < stop && last > first && chars[last - 1].second == content_; ++k) --last;
      const size_t begin = first < chars.size() ? chars[first].first : t.size();
      const size_t end = last < chars.size() ? chars[last].first : t.size();
      t = t.substr(begin, end - begin);
    }
  }
  bool streams_locally(bool&) const override { return true; }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens, DecodeState&) const override {
    for (std::string& t : tokens) t = pattern_.replace_all(t, content_);
  }
  bool streams_locally(bool& fused) const override { return !fused; }

 private:
  Pattern pattern_;
  std::string content_;
};

class DecoderSequence final : public Decoder {
 public:
  explicit DecoderSequence(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens, DecodeState& state) const override {
    for (const auto& s : steps_) s->decode_chain(tokens, state);
  }
  bool streams_locally(bool& fused) const override {
    bool local = true;
    for (const auto& s : steps_) local = s->streams_locally(fused) && local;
    return local;
  }
  bool has_byte_fallback() const override {
    for (const auto& s : steps_)
      if (s->has_byte_fallback()) return true;
    return false;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

size_t as_count(const json& obj, const char* key, const std::string& where) {
  const int64_t v = as_int(required(obj, key, where), field_path(where, key));
  if (v < 0) fail(field_path(where, key), "must not be negative");
  return static_cast<size_t>(v);
}

}  // namespace

int byte_token_value(std::string_view t) {
  if (t.size() != 6 || !t.starts_with("<0x") || t[5] != '>') return -1;
  // Rust's u8::from_str_radix, which Hugging Face uses here, also accepts a leading '+'.
  const std::string_view digits = t[3] == '+' ? t.substr(4, 1) : t.substr(3, 2);
  int v = 0;
  for (char c : digits) {
    v *= 16;
    if (c >= '0' && c <= '9')
      v += c - '0';
    else if (c >= 'a' && c <= 'f')
      v += c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v += c - 'A' + 10;
    else
      return -1;
  }
  return v;
}

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where) {
  const NestingGuard guard(where);
  const std::string type = as_string(required(j, "type", where), field_path(where, "type"));
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    std::string scheme = "always";
    if (const json* s = optional(j, "prepend_scheme"))
      scheme = as_string(*s, field_path(where, "prepend_scheme"));
    else if (!bool_or(j, "add_prefix_space", true, where))
      scheme = "never";
    if (scheme != "always" && scheme != "never" && scheme != "first")
      fail(field_path(where, "prepend_scheme"),
           fmt::format("unknown prepend_scheme \"{}\" (always, never, first)", scheme));
    return std::make_unique<MetaspaceDecoder>(
        as_char(required(j, "replacement", where), field_path(where, "replacement")), scheme != "never");
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip")
    return std::make_unique<StripDecoder>(as_char(required(j, "content", where), field_path(where, "content")),
                                          as_count(j, "start", where), as_count(j, "stop", where));
  if (type == "Replace")
    return std::make_unique<ReplaceDecoder>(Pattern(required(j, "pattern", where), field_path(where, "pattern")),
                                            as_string(required(j, "content", where), field_path(where, "content")));
  if (type == "Sequence") {
    const std::string list_where = field_path(where, "decoders");
    const json& list = expect_array(required(j, "decoders", where), list_where);
    std::vector<std::unique_ptr<Decoder>> steps;
    for (size_t i = 0; i < list.size(); ++i) steps.push_back(make_decoder(list[i], index_path(list_where, i)));
    return std::make_unique<DecoderSequence>(std::move(steps));
  }
  fail(field_path(where, "type"), fmt::format("unsupported decoder type \"{}\" (supported: ByteLevel, Metaspace, "
                                              "ByteFallback, Fuse, Strip, Replace, Sequence)",
                                              type));
}

}  // namespace vkllm::frontends::components
