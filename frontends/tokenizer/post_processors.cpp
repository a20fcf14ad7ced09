// Post-processors (what encode(..., add_special_tokens=true) adds): TemplateProcessing,
// RobertaProcessing, BertProcessing, ByteLevel (adds nothing), Sequence.
#include <fmt/format.h>

#include "frontends/tokenizer/components.h"
#include "frontends/tokenizer/json_access.h"

namespace vkllm::frontends::components {
namespace {
using namespace json_access;

// The single-sequence template, flattened: the ids before and after the sequence.
class Template final : public PostProcessor {
 public:
  Template(std::vector<int32_t> before, std::vector<int32_t> after)
      : before_(std::move(before)), after_(std::move(after)) {}
  void add_special_tokens(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), before_.begin(), before_.end());
    ids.insert(ids.end(), after_.begin(), after_.end());
  }

 private:
  std::vector<int32_t> before_, after_;
};

class NoSpecialTokens final : public PostProcessor {
 public:
  void add_special_tokens(std::vector<int32_t>&) const override {}
};

class PostProcessorSequence final : public PostProcessor {
 public:
  explicit PostProcessorSequence(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  void add_special_tokens(std::vector<int32_t>& ids) const override {
    for (const auto& s : steps_) s->add_special_tokens(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

std::unique_ptr<PostProcessor> make_template(const json& j, const std::string& where) {
  const std::string specials_where = field_path(where, "special_tokens");
  const json* specials = optional(j, "special_tokens");
  if (specials) expect_object(*specials, specials_where);
  const std::string single_where = field_path(where, "single");
  const json& single = expect_array(required(j, "single", where), single_where);
  std::vector<int32_t> before, after;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string item_where = index_path(single_where, i);
    if (const json* seq = optional(single[i], "Sequence")) {
      const std::string id = as_string(required(*seq, "id", field_path(item_where, "Sequence")),
                                       field_path(field_path(item_where, "Sequence"), "id"));
      if (id != "A") fail(item_where, fmt::format("the single-sequence template can only hold sequence A, not {}", id));
      if (seen_sequence) fail(item_where, "sequence A appears twice");
      seen_sequence = true;
    } else if (const json* special = optional(single[i], "SpecialToken")) {
      const std::string name = as_string(required(*special, "id", field_path(item_where, "SpecialToken")),
                                         field_path(field_path(item_where, "SpecialToken"), "id"));
      if (!specials || !specials->contains(name))
        fail(item_where, fmt::format("special token \"{}\" is not listed in special_tokens", name));
      const std::string entry_where = field_path(specials_where, name.c_str());
      const json& ids = expect_array(required(specials->at(name), "ids", entry_where), field_path(entry_where, "ids"));
      for (size_t k = 0; k < ids.size(); ++k)
        (seen_sequence ? after : before).push_back(as_token_id(ids[k], index_path(field_path(entry_where, "ids"), k)));
    } else {
      fail(item_where, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  if (!seen_sequence) fail(single_where, "the template has no sequence A");
  return std::make_unique<Template>(std::move(before), std::move(after));
}

// RobertaProcessing / BertProcessing: cls + ids + sep, each given as [token, id].
std::unique_ptr<PostProcessor> make_cls_sep(const json& j, const std::string& where) {
  auto id_of = [&](const char* key) {
    const std::string w = field_path(where, key);
    const json& pair = expect_array(required(j, key, where), w);
    if (pair.size() != 2) fail(w, "expected [token, id]");
    as_string(pair[0], index_path(w, 0));
    return as_token_id(pair[1], index_path(w, 1));
  };
  return std::make_unique<Template>(std::vector<int32_t>{id_of("cls")}, std::vector<int32_t>{id_of("sep")});
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& where) {
  const NestingGuard guard(where);
  const std::string type = as_string(required(j, "type", where), field_path(where, "type"));
  if (type == "TemplateProcessing") return make_template(j, where);
  if (type == "RobertaProcessing" || type == "BertProcessing") return make_cls_sep(j, where);
  if (type == "ByteLevel") return std::make_unique<NoSpecialTokens>();
  if (type == "Sequence") {
    const std::string list_where = field_path(where, "processors");
    const json& list = expect_array(required(j, "processors", where), list_where);
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (size_t i = 0; i < list.size(); ++i) steps.push_back(make_post_processor(list[i], index_path(list_where, i)));
    return std::make_unique<PostProcessorSequence>(std::move(steps));
  }
  fail(field_path(where, "type"), fmt::format("unsupported post-processor type \"{}\" (supported: TemplateProcessing, "
                                              "RobertaProcessing, BertProcessing, ByteLevel, Sequence)",
                                              type));
}

std::unique_ptr<PostProcessor> make_bos_eos_processor(std::optional<int32_t> bos, std::optional<int32_t> eos) {
  std::vector<int32_t> before, after;
  if (bos) before.push_back(*bos);
  if (eos) after.push_back(*eos);
  return std::make_unique<Template>(std::move(before), std::move(after));
}

}  // namespace vkllm::frontends::components
