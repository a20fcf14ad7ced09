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
      {{{"tools", json::array({{{"type", "function"}}})}}, "tools[0]"},
      {{{"tools", json::array({{{"type", "function"}, {"function", {{"name", "f"}, {"strict", true}}}}})}}, "tools[0].function.strict"},
      {{{"tool_choice", "required"}}, "tool_choice"},
      {{{"functions", json::array()}}, "functions"},
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
      {{{"messages", {{{"role", "function"}, {"content", "x"}}}}}, "messages[0].role"},
      {{{"messages", {{{"role", "assistant"}, {"tool_calls", {{{"function", {{"name", "f"}, {"arguments", "[1]"}}}}}}}}}},
       "messages[0].tool_calls[0].function.arguments"},
      {{{"messages", {{{"role", "user"}}}}}, "messages[0].content"},
      {{{"messages", {{{"role", "user"}, {"content", 3}}}}}, "messages[0].content"},
      {{{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}}}, "messages[0].content[0].type"},
      {{{"messages", {{{"role", "user"}, {"content", "x"}, {"tool_calls", json::array()}}}}}, "messages[0].tool_calls"},  // not an assistant
      {{{"messages", {{{"role", "user"}, {"content", "x"}, {"name", 1}}}}}, "messages[0].name"},
  };
  for (const auto& [extra, param] : cases) EXPECT_EQ(chat_rejection(extra), std::make_pair(400, param)) << extra.dump();
  EXPECT_EQ(chat_rejection({{"model", "gpt-4o"}}), std::make_pair(404, std::string("model")));
  EXPECT_EQ(rejection([] { parse_chat_request("{\"model\": \"tiny\",", kDefaults); }).first, 400);
  EXPECT_EQ(rejection([] { parse_chat_request("[]", kDefaults); }).first, 400);
  EXPECT_EQ(rejection([] { parse_chat_request("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", kDefaults); }),
            std::make_pair(400, std::string("model")));
}

TEST(ChatRequest, ToolsToolChoiceAndToolMessages) {
  const json tool = {{"type", "function"},
                     {"function", {{"name", "get_weather"}, {"description", "d"}, {"parameters", {{"type", "object"}}}}}};
  json body = {{"model", "tiny"},
               {"messages", {{{"role", "user"}, {"content", "weather?"}},
                             {{"role", "assistant"}, {"content", nullptr},
                              {"tool_calls", {{{"id", "call_1"}, {"type", "function"},
                                               {"function", {{"name", "get_weather"}, {"arguments", "{\"city\": \"Paris\"}"}}}}}}},
                             {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "sunny"}}}},
               {"tools", {tool}}, {"tool_choice", "auto"}, {"parallel_tool_calls", false}};
  ChatRequest r = parse_chat_request(body.dump(), kDefaults);
  ASSERT_EQ(r.tools.size(), 1u);
  EXPECT_EQ(r.tools[0]["function"]["name"], "get_weather");
  EXPECT_FALSE(r.parallel_tool_calls);
  EXPECT_EQ(r.messages[1]["content"], "");
  EXPECT_EQ(r.messages[1]["tool_calls"][0]["function"]["arguments"], nlohmann::ordered_json({{"city", "Paris"}}));
  EXPECT_EQ(r.messages[2]["tool_call_id"], "call_1");
  body["tool_choice"] = "none";  // no tools offered: the template does not see them, nothing is parsed
  EXPECT_TRUE(parse_chat_request(body.dump(), kDefaults).tools.is_null());
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
  EXPECT_EQ(reject({{"thinking", {{"type", "enabled"}}}}), std::make_pair(400, std::string("thinking.budget_tokens")));
  EXPECT_EQ(reject({{"thinking", {{"type", "sometimes"}}}}), std::make_pair(400, std::string("thinking.type")));
  EXPECT_EQ(reject({{"thinking", {{"type", "disabled"}, {"budget_tokens", 5}}}}), std::make_pair(400, std::string("thinking.budget_tokens")));
  EXPECT_EQ(reject({{"tools", {{{"name", "x"}}}}}), std::make_pair(400, std::string("tools[0]")));  // no input_schema
  EXPECT_EQ(reject({{"tools", {{{"type", "web_search_20250305"}, {"name", "web_search"}}}}}), std::make_pair(400, std::string("tools[0]")));
  EXPECT_EQ(reject({{"tool_choice", {{"type", "any"}}}}), std::make_pair(400, std::string("tool_choice")));
  EXPECT_EQ(reject({{"messages", {{{"role", "user"}, {"content", {{{"type", "image"}}}}}}}}),
            std::make_pair(400, std::string("messages[0].content[0].type")));
  EXPECT_EQ(reject({{"stop", "x"}}), std::make_pair(400, std::string("stop")));  // OpenAI's name
  EXPECT_EQ(reject({{"model", "claude"}}), std::make_pair(404, std::string("model")));
}

TEST(ThinkingRequests, EnableThinkingBudgetsAndTemplateVariables) {
  ChatRequest c = parse_chat_request(chat_body({{"chat_template_kwargs", {{"enable_thinking", false}, {"date_string", "today"}}},
                                                {"max_thinking_tokens", 64}}),
                                     kDefaults);
  EXPECT_EQ(c.thinking.enable_thinking, false);
  EXPECT_EQ(c.thinking.max_thinking_tokens, 64);
  EXPECT_EQ(c.thinking.template_kwargs, nlohmann::ordered_json({{"date_string", "today"}}));
  EXPECT_EQ(chat_rejection({{"enable_thinking", true}, {"chat_template_kwargs", {{"enable_thinking", false}}}}).second, "enable_thinking");
  EXPECT_EQ(chat_rejection({{"chat_template_kwargs", {{"messages", json::array()}}}}).second, "chat_template_kwargs.messages");
  EXPECT_EQ(chat_rejection({{"max_thinking_tokens", 0}}).second, "max_thinking_tokens");
  EXPECT_EQ(chat_rejection({{"enable_thinking", "yes"}}).second, "enable_thinking");
  json history = {{"model", "tiny"},
                  {"messages", {{{"role", "user"}, {"content", "a"}}, {{"role", "assistant"}, {"content", "b"}, {"reasoning_content", "r"}},
                                {{"role", "user"}, {"content", "c"}}}}};
  EXPECT_EQ(parse_chat_request(history.dump(), kDefaults).messages[1]["reasoning_content"], "r");

  json m = {{"model", "tiny"}, {"max_tokens", 4}, {"messages", {{{"role", "user"}, {"content", "x"}}}},
            {"thinking", {{"type", "enabled"}, {"budget_tokens", 2048}}}};
  MessagesRequest r = parse_messages_request(m.dump(), kDefaults);
  EXPECT_EQ(r.thinking.enable_thinking, true);
  EXPECT_EQ(r.thinking.max_thinking_tokens, 2048);
  m["thinking"] = {{"type", "disabled"}};
  EXPECT_EQ(parse_messages_request(m.dump(), kDefaults).thinking.enable_thinking, false);
}

TEST(MessagesRequest, ToolsToolUseAndToolResultBlocks) {
  json body = {{"model", "tiny"}, {"max_tokens", 8},
               {"tools", {{{"name", "get_weather"}, {"description", "d"}, {"input_schema", {{"type", "object"}}}}}},
               {"tool_choice", {{"type", "auto"}}},
               {"messages", {{{"role", "user"}, {"content", "weather?"}},
                             {{"role", "assistant"}, {"content", {{{"type", "thinking"}, {"thinking", "hm"}, {"signature", ""}},
                                                                  {{"type", "tool_use"}, {"id", "toolu_1"}, {"name", "get_weather"},
                                                                   {"input", {{"city", "Paris"}}}}}}},
                             {{"role", "user"}, {"content", {{{"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", "sunny"}},
                                                             {{"type", "text"}, {"text", "thanks"}}}}}}}};
  MessagesRequest r = parse_messages_request(body.dump(), kDefaults);
  EXPECT_EQ(r.tools, nlohmann::ordered_json::parse(
                         R"([{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object"}}}])"));
  EXPECT_EQ(r.messages, nlohmann::ordered_json::parse(R"([{"role":"user","content":"weather?"},
      {"role":"assistant","content":"","reasoning_content":"hm",
       "tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":{"city":"Paris"}}}]},
      {"role":"tool","tool_call_id":"toolu_1","content":"sunny"},{"role":"user","content":"thanks"}])"));
  body["tool_choice"] = {{"type", "none"}};
  EXPECT_TRUE(parse_messages_request(body.dump(), kDefaults).tools.is_null());
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
  auto counted = parse_count_tokens_request(R"({"model": "tiny", "messages": [{"role": "user", "content": "x"}]})", kDefaults);
  EXPECT_EQ(counted.messages.size(), 1u);
  EXPECT_EQ(rejection([] { parse_count_tokens_request(R"({"model": "tiny", "messages": [], "max_tokens": 3})", kDefaults); }).second,
            "messages");
}
