// Compares ChatTemplate with reference renderings (reference.mjs: @huggingface/jinja; reference.py:
// Python's Jinja2 as transformers sets it up):
// every (template x conversation) must render byte for byte the same, and where the reference
// raises, vkllm must raise too (with the template's own message when it is raise_exception's).
//   chat_template_reference_test REFERENCE.json
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "frontends/chat_template/chat_template.h"

namespace {

using vkllm::frontends::ChatTemplate;
using vkllm::frontends::jinja::ErrorKind;
using vkllm::frontends::jinja::TemplateError;
using json = nlohmann::ordered_json;

const char* g_reference_path = nullptr;

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\x{:02x}", c);
    else out += c;
  }
  return out;
}

std::string line_at(const std::string& s, size_t line) {
  size_t start = 0;
  for (size_t i = 1; i < line && start != std::string::npos; ++i) {
    start = s.find('\n', start);
    if (start != std::string::npos) ++start;
  }
  if (start == std::string::npos || start > s.size()) return "<no such line>";
  const size_t end = s.find('\n', start);
  return s.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// Where two renderings first differ, with the lines around it (control characters escaped).
std::string describe_difference(const std::string& expected, const std::string& actual) {
  size_t at = 0;
  while (at < expected.size() && at < actual.size() && expected[at] == actual[at]) ++at;
  const size_t line = 1 + static_cast<size_t>(std::count(expected.begin(), expected.begin() + static_cast<long>(at), '\n'));
  std::string out = fmt::format("first difference at byte {} (line {}); lengths {} expected, {} actual\n", at, line,
                                expected.size(), actual.size());
  for (size_t l = line > 1 ? line - 1 : 1; l <= line + 1; ++l) {
    out += fmt::format("  expected line {}: \"{}\"\n", l, escape(line_at(expected, l)));
    out += fmt::format("  actual   line {}: \"{}\"\n", l, escape(line_at(actual, l)));
  }
  return out;
}

TEST(ChatTemplateReference, MatchesHuggingFaceJinja) {
  ASSERT_NE(g_reference_path, nullptr) << "usage: chat_template_reference_test REFERENCE.json (written by reference.mjs)";
  std::ifstream in(g_reference_path);
  ASSERT_TRUE(in) << "cannot open " << g_reference_path;
  const json reference = json::parse(in);
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(reference["fixed_time_seconds"].get<int64_t>()));
  vkllm::frontends::jinja::RenderOptions options;
  options.now = [now] { return now; };

  std::map<std::string, ChatTemplate> templates;
  size_t compared = 0;
  for (const json& r : reference["records"]) {
    const std::string model = r["model"].get<std::string>();
    const std::string where = fmt::format("[{} | {}]", model, r["case"].get<std::string>());
    if (!templates.count(model)) templates.emplace(model, ChatTemplate::from_model_dir(r["dir"].get<std::string>()));
    ++compared;
    std::string output;
    try {
      output = templates.at(model).render(r["request"], options);
    } catch (const TemplateError& e) {
      if (!r.contains("error")) {
        ADD_FAILURE() << where << " vkllm raised but the reference rendered it:\n  " << e.what();
      } else if (r["raised"].get<bool>()) {
        EXPECT_EQ(e.kind(), ErrorKind::Raised) << where << " the template's raise_exception expected, got: " << e.what();
        EXPECT_EQ(e.message(), r["error"].get<std::string>()) << where;
      } else {
        EXPECT_NE(e.kind(), ErrorKind::Raised) << where << " the reference failed with '" << r["error"].get<std::string>()
                                               << "', vkllm ran into the template's raise_exception: " << e.what();
      }
      continue;
    }
    if (r.contains("error")) {
      ADD_FAILURE() << where << " the reference raised '" << r["error"].get<std::string>() << "' but vkllm rendered:\n"
                    << escape(output);
      continue;
    }
    const std::string expected = r["output"].get<std::string>();
    if (output != expected) ADD_FAILURE() << where << " rendering differs from the reference\n" << describe_difference(expected, output);
  }
  EXPECT_GT(compared, 100u) << "the reference file holds too few renderings";
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (argc > 1) g_reference_path = argv[1];
  return RUN_ALL_TESTS();
}
