#define PCRE2_CODE_UNIT_WIDTH 8
#include "frontends/tokenizer/regex.h"

#include <fmt/format.h>
#include <pcre2.h>

#include "frontends/tokenizer/tokenizer.h"
#include "frontends/tokenizer/unicode.h"

namespace vkllm::frontends {
namespace {

// Oniguruma's \s is Unicode White_Space; PCRE2's (with UCP) also matches U+180E. Oniguruma's \w is
// Letter | Mark | Number | Connector_Punctuation; PCRE2's lacks Mark. Oniguruma's \h is a hex digit.
constexpr std::string_view kWordItems = "\\p{L}\\p{M}\\p{N}\\p{Pc}";
constexpr std::string_view kHexItems = "0-9a-fA-F";

// Bounds on backtracking so a pathological pattern fails with an error instead of hanging.
constexpr uint32_t kMatchLimit = 20'000'000;
constexpr uint32_t kDepthLimit = 100'000;

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

std::string onig_to_pcre2(std::string_view p, const std::string& where) {
  auto unsupported = [&](const std::string& what) {
    throw TokenizerError(fmt::format("{}: regex \"{}\": {} is not supported", where, p, what));
  };
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < p.size();) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 1 >= p.size())
        throw TokenizerError(fmt::format("{}: regex \"{}\": ends with a lone backslash", where, p));
      const char e = p[i + 1];
      switch (e) {
        case 's':
          out += "\\p{White_Space}";
          break;
        case 'S':
          out += "\\P{White_Space}";
          break;
        case 'w':
          out += in_class ? std::string(kWordItems) : fmt::format("[{}]", kWordItems);
          break;
        case 'h':
          out += in_class ? std::string(kHexItems) : fmt::format("[{}]", kHexItems);
          break;
        case 'W':
          if (in_class) unsupported("\\W inside a character class");
          out += fmt::format("[^{}]", kWordItems);
          break;
        case 'H':
          if (in_class) unsupported("\\H inside a character class");
          out += fmt::format("[^{}]", kHexItems);
          break;
        case 'p':
        case 'P':
        case 'x': {
          // Copy \p{...} and \x{...} whole so their contents are not rewritten.
          size_t end = i + 2;
          if (end < p.size() && p[end] == '{') {
            const size_t close = p.find('}', end);
            if (close == std::string_view::npos)
              throw TokenizerError(fmt::format("{}: regex \"{}\": unterminated \\{}{{", where, p, e));
            end = close + 1;
          }
          out.append(p.substr(i, end - i));
          i = end;
          continue;
        }
        default: {
          // Any other escape means the same in both; keep a multi-byte escaped character whole.
          const size_t n = unicode::sequence_length(static_cast<unsigned char>(e));
          out.append(p.substr(i, 1 + std::min(n, p.size() - i - 1)));
          i += 1 + n;
          continue;
        }
      }
      i += 2;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      ++i;
      if (i < p.size() && p[i] == '^') out += p[i++];
      if (i < p.size() && p[i] == ']') out += p[i++];  // a leading ']' is a literal
      continue;
    }
    if (in_class) {
      if (c == ']') {
        in_class = false;
      } else if (c == '[') {
        if (i + 1 < p.size() && p[i + 1] == ':') {  // POSIX class [:name:]
          const size_t close = p.find(":]", i + 2);
          if (close == std::string_view::npos) unsupported("an unterminated POSIX class");
          out.append(p.substr(i, close + 2 - i));
          i = close + 2;
          continue;
        }
        unsupported("a nested character class");
      } else if (c == '&' && i + 1 < p.size() && p[i + 1] == '&') {
        unsupported("character class intersection (&&)");
      }
    }
    out += c;
    ++i;
  }
  if (in_class) throw TokenizerError(fmt::format("{}: regex \"{}\": unterminated character class", where, p));
  return out;
}

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  pcre2_match_context* context = nullptr;
  ~Compiled() {
    pcre2_match_context_free(context);
    pcre2_code_free(code);
  }
};

Regex::Regex(std::string_view pattern, std::string where) : pattern_(pattern), where_(std::move(where)) {
  if (unicode::find_invalid_utf8(pattern) != std::string_view::npos)
    throw TokenizerError(fmt::format("{}: regex is not valid UTF-8", where_));
  const std::string translated = onig_to_pcre2(pattern, where_);
  auto compiled = std::make_shared<Compiled>();
  int error = 0;
  PCRE2_SIZE offset = 0;
  compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                 PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (!compiled->code)
    throw TokenizerError(fmt::format("{}: regex \"{}\" does not compile: {} (at offset {} of the PCRE2 form \"{}\")",
                                     where_, pattern, pcre2_message(error), offset, translated));
  // JIT is an optimization: when unavailable the interpreter runs the same pattern.
  pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);
  compiled->context = pcre2_match_context_create(nullptr);
  if (!compiled->context) throw std::bad_alloc();
  pcre2_set_match_limit(compiled->context, kMatchLimit);
  pcre2_set_depth_limit(compiled->context, kDepthLimit);
  compiled_ = std::move(compiled);
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> matches;
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> data(
      pcre2_match_data_create_from_pattern(compiled_->code, nullptr), pcre2_match_data_free);
  if (!data) throw std::bad_alloc();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  bool have_previous = false;
  size_t previous_end = 0;
  uint32_t options = 0;  // the UTF check runs once, on the first call
  while (pos <= text.size()) {
    const int rc = pcre2_match(compiled_->code, subject, text.size(), pos, options, data.get(), compiled_->context);
    options = PCRE2_NO_UTF_CHECK;
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0)
      throw TokenizerError(
          fmt::format("{}: regex \"{}\" failed on the input: {}", where_, pattern_, pcre2_message(rc)));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.get());
    const size_t start = ov[0], end = ov[1];
    if (start > end)  // only \K inside a lookaround produces this
      throw TokenizerError(
          fmt::format("{}: regex \"{}\" reported a match that ends before it starts", where_, pattern_));
    if (start == end && have_previous && previous_end == end) {
      pos += pos < text.size() ? unicode::sequence_length(static_cast<unsigned char>(text[pos])) : 1;
      continue;
    }
    matches.emplace_back(start, end);
    have_previous = true;
    previous_end = end;
    pos = end;
  }
  return matches;
}

}  // namespace vkllm::frontends
