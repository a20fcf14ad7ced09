// The request parsers of every endpoint (server/requests.h): what they accept, how they map it, and
// that everything else is a 4xx naming the field.
#include <gtest/gtest.h>

#include "server/requests.h"

using namespace vkllm::server;
using nlohmann::json;

namespace {

const RequestDefaults kDefaults{"tiny", {}, 512};

// {status, param} of the ApiError `f` throws; {0, ""} when it does not throw.
template <typename F>
std::pair<int, std::string> rejection(F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return {e.status, e.param};
  }
  return {0, ""};
}

std::string chat_body(json extra) {
  json body = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  body.update(extra);
  return body.dump();
}

std::pair<int, std::string> chat_rejection(json extra) {
  return rejection([&] { parse_chat_request(chat_body(std::move(extra)), kDefaults); });
}

}  // namespace

TEST(ChatRequest, MessagesBecomeTemplateMessages) {
  json body = {{"model", "tiny"},
               {"messages", {{{"role", "developer"}, {"content", {{{"type", "text"}, {"text", "Be "}}, {{"type", "text"}, {"text", "brief."}}}}},
                             {{"role", "user"}, {"content", "Hi"}, {"name", "ann"}},
                             {{"role", "assistant"}, {"content", "Hello"}},
                             {{"role", "user"}, {"content", "Bye"}}}},
               {"max_completion_tokens", 7}, {"stream", true}, {"stream_options", {{"include_usage", true}}},
               {"stop", {"x", "y"}}, {"user", "u1"}, {"metadata", json::object()}, {"response_format", {{"type", "text"}}},
               {"logprobs", false}, {"n", 1}, {"store", false}};
  ChatRequest r = parse_chat_request(body.dump(), kDefaults);
  const nlohmann::ordered_json expected = nlohmann::ordered_json::parse(
      R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi","name":"ann"},)"
      R"({"role":"assistant","content":"Hello"},{"role":"user","content":"Bye"}])");
  EXPECT_EQ(r.messages, expected);
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_EQ(r.max_tokens_param, "max_completion_tokens");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"x", "y"}));
}

TEST(ChatRequest, EveryUnsupportedOrMalformedFieldIsA400NamingIt) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"n", 2}}, "n"},
      {{{"logprobs", true}}, "logprobs"},
      {{{"top_logprobs", 2}}, "top_logprobs"},
      {{{"tools", json::array({{{"type", "function"}}})}}, "tools"},
      {{{"tool_choice", "auto"}}, "tool_choice"},
      {{{"response_format", {{"type", "json_object"}}}}, "response_format"},
      {{{"response_format", "json"}}, "response_format"},
      {{{"stream_options", {{"include_usage", true}}}}, "stream_options"},  // without stream
      {{{"max_tokens", 5}, {"max_completion_tokens", 6}}, "max_tokens"},
      {{{"max_tokens", 0}}, "max_tokens"},
      {{{"stream", "yes"}}, "stream"},
      {{{"store", true}}, "store"},
      {{{"user", 5}}, "user"},
      {{{"frobnicate", 1}}, "frobnicate"},
      {{{"messages", json::array()}}, "messages"},
      {{{"messages", {{{"role", "tool"}, {"content", "x"}}}}}, "messages[0].role"},
      {{{"messages", {{{"role", "user"}}}}}, "messages[0].content"},
      {{{"messages", {{{"role", "user"}, {"content", 3}}}}}, "messages[0].content"},
      {{{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}}}, "messages[0].content[0].type"},
      {{{"messages", {{{"role", "user"}, {"content", "x"}, {"tool_calls", json::array()}}}}}, "messages[0].tool_calls"},
      {{{"messages", {{{"role", "user"}, {"content", "x"}, {"name", 1}}}}}, "messages[0].name"},
  };
  for (const auto& [extra, param] : cases) EXPECT_EQ(chat_rejection(extra), std::make_pair(400, param)) << extra.dump();
  EXPECT_EQ(chat_rejection({{"model", "gpt-4o"}}), std::make_pair(404, std::string("model")));
  EXPECT_EQ(rejection([] { parse_chat_request("{\"model\": \"tiny\",", kDefaults); }).first, 400);
  EXPECT_EQ(rejection([] { parse_chat_request("[]", kDefaults); }).first, 400);
  EXPECT_EQ(rejection([] { parse_chat_request("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", kDefaults); }),
            std::make_pair(400, std::string("model")));
}

TEST(CompletionRequest, PromptIsTextOrTokenIdsOnePromptOnly) {
  auto parse = [](json prompt) {
    return parse_completion_request(json{{"model", "tiny"}, {"prompt", prompt}}.dump(), kDefaults);
  };
  EXPECT_EQ(parse("Once").text, "Once");
  EXPECT_EQ(parse(json::array({"Once"})).text, "Once");
  EXPECT_EQ(parse({1, 2, 3}).tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(parse(json::array({{4, 5}})).tokens, (std::vector<int32_t>{4, 5}));
  EXPECT_FALSE(parse({1}).text);
  for (const json& bad : {json::array(), json::array({"a", "b"}), json({1, 512}), json({1, -1}), json({1, "a"}), json(3),
                          json::array({json::array()})})
    EXPECT_EQ(rejection([&] { parse(bad); }), std::make_pair(400, std::string("prompt"))) << bad.dump();
  auto reject = [](json extra) {
    json body = {{"model", "tiny"}, {"prompt", "x"}};
    body.update(extra);
    return rejection([&] { parse_completion_request(body.dump(), kDefaults); }).second;
  };
  EXPECT_EQ(reject({{"echo", true}}), "echo");
  EXPECT_EQ(reject({{"suffix", "z"}}), "suffix");
  EXPECT_EQ(reject({{"logprobs", 2}}), "logprobs");
  EXPECT_EQ(reject({{"best_of", 3}}), "best_of");
  EXPECT_EQ(reject({{"max_completion_tokens", 3}}), "max_completion_tokens");  // a chat field
  EXPECT_EQ(reject({{"echo", false}, {"best_of", 1}}), "");
}

TEST(MessagesRequest, SystemAndBlocksBecomeTemplateMessages) {
  json body = {{"model", "tiny"}, {"max_tokens", 9}, {"system", {{{"type", "text"}, {"text", "Terse."}, {"cache_control", {{"type", "ephemeral"}}}}}},
               {"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Hi"}}}}}}},
               {"stop_sequences", {"END"}}, {"stream", true}, {"temperature", 0}, {"top_k", 5}, {"metadata", {{"user_id", "u"}}}};
  MessagesRequest r = parse_messages_request(body.dump(), kDefaults);
  EXPECT_EQ(r.messages, nlohmann::ordered_json::parse(R"([{"role":"system","content":"Terse."},{"role":"user","content":"Hi"}])"));
  EXPECT_EQ(r.max_tokens, 9);
  EXPECT_EQ(r.stop, std::vector<std::string>{"END"});
  EXPECT_TRUE(r.stream);
  EXPECT_EQ(r.sampling.top_k, 5);

  auto reject = [](json extra) {
    json body = {{"model", "tiny"}, {"max_tokens", 4}, {"messages", {{{"role", "user"}, {"content", "x"}}}}};
    body.update(extra);
    return rejection([&] { parse_messages_request(body.dump(), kDefaults); });
  };
  EXPECT_EQ(reject({{"max_tokens", nullptr}}), std::make_pair(400, std::string("max_tokens")));
  EXPECT_EQ(reject({{"messages", {{{"role", "assistant"}, {"content", "x"}}}}}), std::make_pair(400, std::string("messages")));
  EXPECT_EQ(reject({{"messages", {{{"role", "system"}, {"content", "x"}}}}}), std::make_pair(400, std::string("messages[0].role")));
  EXPECT_EQ(reject({{"temperature", 1.5}}), std::make_pair(400, std::string("temperature")));
  EXPECT_EQ(reject({{"thinking", {{"type", "enabled"}}}}), std::make_pair(400, std::string("thinking")));
  EXPECT_EQ(reject({{"tools", json::array()}}), std::make_pair(400, std::string("tools")));
  EXPECT_EQ(reject({{"stop", "x"}}), std::make_pair(400, std::string("stop")));  // OpenAI's name
  EXPECT_EQ(reject({{"model", "claude"}}), std::make_pair(404, std::string("model")));
}

TEST(UtilityRequests, TokenizeDetokenizeAndCountTokens) {
  TokenizeRequest t = parse_tokenize_request(R"({"prompt": "hi", "add_special_tokens": false})", kDefaults);
  EXPECT_EQ(t.prompt, "hi");
  EXPECT_FALSE(t.add_special_tokens);
  EXPECT_EQ(rejection([] { parse_tokenize_request(R"({"text": "hi"})", kDefaults); }).second, "prompt");
  DetokenizeRequest d = parse_detokenize_request(R"({"tokens": [1, 2], "model": "tiny"})", kDefaults);
  EXPECT_EQ(d.tokens, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(rejection([] { parse_detokenize_request(R"({"tokens": [1, 9999]})", kDefaults); }).second, "tokens");
  EXPECT_EQ(rejection([] { parse_detokenize_request(R"({"tokens": "1 2"})", kDefaults); }).second, "tokens");
  auto messages = parse_count_tokens_request(R"({"model": "tiny", "messages": [{"role": "user", "content": "x"}]})", kDefaults);
  EXPECT_EQ(messages.size(), 1u);
  EXPECT_EQ(rejection([] { parse_count_tokens_request(R"({"model": "tiny", "messages": [], "max_tokens": 3})", kDefaults); }).second,
            "messages");
}
