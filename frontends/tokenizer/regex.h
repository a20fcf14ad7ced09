// The regular expressions of tokenizer.json (Split patterns, Replace patterns), written for
// Oniguruma as Hugging Face's `tokenizers` runs them, executed with PCRE2 (UTF + UCP + JIT).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vkllm::frontends {

class Regex {
 public:
  // Translates the Oniguruma constructs whose meaning differs in PCRE2 (\s, \S, \w, \W, \h, \H)
  // and compiles. Throws TokenizerError naming `where` for invalid or unsupported patterns.
  Regex(std::string_view pattern, std::string where);

  // All matches as byte ranges, iterated like the onig crate's find_iter: non-overlapping, left
  // to right, an empty match right after the previous match skipped. `text` must be valid UTF-8.
  // A match that exceeds the backtracking limits throws TokenizerError.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;
  std::string pattern_;
  std::string where_;
};

// The PCRE2 form of an Oniguruma pattern (exposed for tests).
std::string onig_to_pcre2(std::string_view pattern, const std::string& where);

}  // namespace vkllm::frontends
