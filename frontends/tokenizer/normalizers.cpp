// Normalizers: NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace, Sequence.
#include <fmt/format.h>

#include "frontends/tokenizer/components.h"
#include "frontends/tokenizer/json_access.h"
#include "frontends/tokenizer/pattern.h"
#include "frontends/tokenizer/unicode.h"

namespace vkllm::frontends::components {
namespace {
using namespace json_access;

class UnicodeNormalization final : public Normalizer {
 public:
  explicit UnicodeNormalization(unicode::NormalForm form) : form_(form) {}
  void normalize(std::string& text) const override { text = unicode::normalize(text, form_); }

 private:
  unicode::NormalForm form_;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = unicode::to_lower(text); }
};

// Removes leading and/or trailing Unicode whitespace.
class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t begin = 0, end = text.size();
    if (left_)
      while (begin < text.size()) {
        size_t next = begin;
        if (!unicode::is_white_space(unicode::next_code_point(text, next))) break;
        begin = next;
      }
    if (right_) {
      // Walk back one character at a time (continuation bytes are 10xxxxxx).
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        size_t i = start;
        if (!unicode::is_white_space(unicode::next_code_point(text, i))) break;
        end = start;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Replace final : public Normalizer {
 public:
  Replace(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override { text = pattern_.replace_all(text, content_); }

 private:
  Pattern pattern_;
  std::string content_;
};

class NormalizerSequence final : public Normalizer {
 public:
  explicit NormalizerSequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& s : steps_) s->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where) {
  const NestingGuard guard(where);
  const std::string type = as_string(required(j, "type", where), field_path(where, "type"));
  if (type == "NFC") return std::make_unique<UnicodeNormalization>(unicode::NormalForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalization>(unicode::NormalForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalization>(unicode::NormalForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalization>(unicode::NormalForm::NFKD);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Strip")
    return std::make_unique<Strip>(bool_or(j, "strip_left", true, where), bool_or(j, "strip_right", true, where));
  if (type == "Prepend")
    return std::make_unique<Prepend>(as_string(required(j, "prepend", where), field_path(where, "prepend")));
  if (type == "Replace")
    return std::make_unique<Replace>(Pattern(required(j, "pattern", where), field_path(where, "pattern")),
                                     as_string(required(j, "content", where), field_path(where, "content")));
  if (type == "Sequence") {
    const std::string list_where = field_path(where, "normalizers");
    const json& list = expect_array(required(j, "normalizers", where), list_where);
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t i = 0; i < list.size(); ++i) steps.push_back(make_normalizer(list[i], index_path(list_where, i)));
    return std::make_unique<NormalizerSequence>(std::move(steps));
  }
  fail(field_path(where, "type"), fmt::format("unsupported normalizer type \"{}\" (supported: NFC, NFD, NFKC, NFKD, "
                                              "Lowercase, Strip, Prepend, Replace, Sequence)",
                                              type));
}

}  // namespace vkllm::frontends::components
