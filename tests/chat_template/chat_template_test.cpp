// ChatTemplate: reading a model folder's template and special tokens, choosing between named
// templates, and the variables apply_chat_template passes. Expected prompts are written out by
// hand from each family's documented format.
#include "frontends/chat_template/chat_template.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

namespace {

namespace fs = std::filesystem;
using vkllm::frontends::ChatTemplate;
using vkllm::frontends::jinja::ErrorKind;
using vkllm::frontends::jinja::RenderOptions;
using vkllm::frontends::jinja::TemplateError;
using json = nlohmann::ordered_json;

class ChatTemplateModelDir : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vkllm_chat_template_" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  fs::path dir_;
};

const json kHello = {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}};

TemplateError error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const TemplateError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a TemplateError";
  return TemplateError(ErrorKind::Runtime, "none", 0, "no error");
}

TEST_F(ChatTemplateModelDir, ChatTemplateJinjaTakesPrecedenceOverTokenizerConfig) {
  write("tokenizer_config.json", R"({"chat_template": "from config", "bos_token": "<s>", "eos_token": "</s>"})");
  write("chat_template.jinja", "from file {{ bos_token }}{{ messages[0].content }}{{ eos_token }}\n");
  EXPECT_EQ(ChatTemplate::from_model_dir(dir_).render(kHello), "from file <s>Hi</s>");
}

TEST_F(ChatTemplateModelDir, SpecialTokensMayBeAddedTokenObjectsOrNull) {
  write("tokenizer_config.json",
        R"({"chat_template": "[{{ bos_token }}|{{ eos_token }}|{{ pad_token is defined }}|{{ unk_token }}]",
            "bos_token": {"__type": "AddedToken", "content": "<|begin|>", "lstrip": false},
            "eos_token": "<|end|>", "pad_token": null, "unk_token": {"content": "<unk>"}})");
  EXPECT_EQ(ChatTemplate::from_model_dir(dir_).render(kHello), "[<|begin|>|<|end|>|False|<unk>]");
}

TEST_F(ChatTemplateModelDir, NamedTemplatesPickToolUseOnlyWhenToolsAreGiven) {
  write("tokenizer_config.json",
        R"({"chat_template": [{"name": "default", "template": "plain"}, {"name": "tool_use", "template": "tools={{ tools | length }}"}]})");
  const ChatTemplate t = ChatTemplate::from_model_dir(dir_);
  EXPECT_EQ(t.render(kHello), "plain");
  json with_tools = kHello;
  with_tools["tools"] = json::array({{{"type", "function"}}});
  EXPECT_EQ(t.render(with_tools), "tools=1");
  with_tools["tools"] = json::array();  // an empty list is still "tools given", as in transformers
  EXPECT_EQ(t.render(with_tools), "tools=0");
  with_tools["tools"] = nullptr;
  EXPECT_EQ(t.render(with_tools), "plain");
}

TEST_F(ChatTemplateModelDir, AdditionalChatTemplatesFolder) {
  write("chat_template.jinja", "main");
  write("additional_chat_templates/tool_use.jinja", "with tools");
  const ChatTemplate t = ChatTemplate::from_model_dir(dir_);
  json with_tools = kHello;
  with_tools["tools"] = json::array();
  EXPECT_EQ(t.render(kHello), "main");
  EXPECT_EQ(t.render(with_tools), "with tools");
}

TEST_F(ChatTemplateModelDir, MissingOrMalformedFilesAreErrors) {
  EXPECT_EQ(error_of([&] { ChatTemplate::from_model_dir(dir_); }).kind(), ErrorKind::Config);  // no template at all
  write("tokenizer_config.json", "{ not json");
  EXPECT_EQ(error_of([&] { ChatTemplate::from_model_dir(dir_); }).kind(), ErrorKind::Config);
  write("tokenizer_config.json", R"({"chat_template": 42})");
  EXPECT_EQ(error_of([&] { ChatTemplate::from_model_dir(dir_); }).kind(), ErrorKind::Config);
  write("tokenizer_config.json", R"({"chat_template": "{% if %}"})");
  EXPECT_EQ(error_of([&] { ChatTemplate::from_model_dir(dir_); }).kind(), ErrorKind::Syntax);
  EXPECT_EQ(error_of([&] { ChatTemplate::from_model_dir(dir_ / "nope"); }).kind(), ErrorKind::Config);
}

TEST(ChatTemplate, VariablesDefaultAsApplyChatTemplatePassesThem) {
  const ChatTemplate t("{{ tools is none }}{{ documents is none }}{{ add_generation_prompt }}{{ enable_thinking }}{{ bos_token }}",
                       "<s>", std::nullopt);
  EXPECT_EQ(t.render(kHello), "TrueTrueFalse<s>");
  json request = kHello;
  request["add_generation_prompt"] = true;
  request["enable_thinking"] = false;
  request["bos_token"] = "<override>";  // keyword variables win over the special tokens
  EXPECT_EQ(t.render(request), "TrueTrueTrueFalse<override>");
}

TEST(ChatTemplate, RequestErrors) {
  const ChatTemplate t("x", std::nullopt, std::nullopt);
  EXPECT_EQ(error_of([&] { t.render(json::array()); }).kind(), ErrorKind::Request);
  EXPECT_EQ(error_of([&] { t.render({{"tools", json::array()}}); }).kind(), ErrorKind::Request);
  EXPECT_EQ(error_of([&] { t.render({{"messages", json::array()}, {"continue_final_message", true}}); }).kind(),
            ErrorKind::Unsupported);
}

TEST(ChatTemplate, ToolSchemasKeepTheirKeyOrder) {
  const ChatTemplate t("{{ tools[0] | tojson }}", std::nullopt, std::nullopt);
  const json request = json::parse(R"({"messages": [], "tools": [{"z": 1, "a": {"y": [], "b": "\u00e9"}}]})");
  EXPECT_EQ(t.render(request), "{\"z\": 1, \"a\": {\"y\": [], \"b\": \"\xc3\xa9\"}}");
}

TEST(ChatTemplate, FromTokenizerConfig) {
  const json config = {{"chat_template", "{{ eos_token }}"}, {"eos_token", "<eos>"}};
  EXPECT_EQ(ChatTemplate::from_tokenizer_config(config, "gguf").render(kHello), "<eos>");
  EXPECT_EQ(error_of([&] { ChatTemplate::from_tokenizer_config(json::object(), "gguf"); }).kind(), ErrorKind::Config);
}

// The committed official templates render the formats their model cards document.
TEST(ChatTemplateFixtures, Qwen25AddsItsDefaultSystemPrompt) {
  const ChatTemplate t = ChatTemplate::from_model_dir(fs::path(VKLLM_TEMPLATE_FIXTURES) / "qwen2.5");
  json request = kHello;
  request["add_generation_prompt"] = true;
  EXPECT_EQ(t.render(request),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateFixtures, Llama32PrintsTodaysDateFromStrftimeNow) {
  const ChatTemplate t = ChatTemplate::from_model_dir(fs::path(VKLLM_TEMPLATE_FIXTURES) / "llama-3.2");
  RenderOptions options;
  const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1725546600));  // 2024-09-05 14:30 UTC
  options.now = [when] { return when; };
  EXPECT_EQ(t.render(kHello, options),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
            "Today Date: 05 Sep 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
}

TEST(ChatTemplateFixtures, Gemma2RejectsASystemMessage) {
  const ChatTemplate t = ChatTemplate::from_model_dir(fs::path(VKLLM_TEMPLATE_FIXTURES) / "gemma-2");
  const json request = {{"messages", {{{"role", "system"}, {"content", "x"}}, {{"role", "user"}, {"content", "Hi"}}}}};
  const TemplateError e = error_of([&] { t.render(request); });
  EXPECT_EQ(e.kind(), ErrorKind::Raised);
  EXPECT_EQ(e.message(), "System role not supported");
  EXPECT_EQ(t.render(kHello), "<bos><start_of_turn>user\nHi<end_of_turn>\n");
}

}  // namespace
