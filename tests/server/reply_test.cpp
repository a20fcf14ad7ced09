// ReplyAssembler: token ids of a reply → reasoning and answer text, with the two budgets and stop
// strings, on a synthesized qwen3 tokenizer (whose <think> and </think> are special tokens: the
// split must work on ids, since decoding drops them).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "frontends/model/synth.h"
#include "server/generation.h"

namespace fs = std::filesystem;
using namespace vkllm;
using server::ReplyAssembler;
using server::ReplyOptions;

namespace {

class Reply : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("vkllm_reply_test_" + std::to_string(::getpid()));
    frontends::SynthOptions o;
    o.family = "qwen3";
    o.out_dir = dir_;
    frontends::synthesize(o);
    tokenizer_ = new frontends::Tokenizer(frontends::Tokenizer::load(dir_));
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    fs::remove_all(dir_);
  }

  static std::vector<int32_t> ids(const std::string& text) { return tokenizer_->encode(text, false); }
  static int32_t id(const std::string& token) { return *tokenizer_->token_to_id(token); }
  static ReplyOptions reasoning(ReplyOptions o = {}) {
    o.think_start = id("<think>");
    o.think_end = id("</think>");
    return o;
  }

  struct Result {
    std::string reasoning, content;
    size_t consumed = 0;  // tokens pushed before push() said the reply is over (all when it never did)
  };
  static Result run(const ReplyOptions& options, const std::vector<int32_t>& tokens) {
    ReplyAssembler a(*tokenizer_, options);
    ReplyAssembler::Piece piece;
    Result r;
    for (int32_t t : tokens) {
      ++r.consumed;
      if (!a.push(t, piece)) break;
    }
    a.finish(piece);
    r.reasoning = piece.reasoning;
    r.content = piece.content;
    return r;
  }
  static std::vector<int32_t> concat(std::initializer_list<std::vector<int32_t>> parts) {
    std::vector<int32_t> all;
    for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
    return all;
  }

  static inline fs::path dir_;
  static inline frontends::Tokenizer* tokenizer_ = nullptr;
};

TEST_F(Reply, WithoutReasoningEverythingIsTheAnswer) {
  const auto tokens = concat({{id("<think>")}, ids("plain text")});
  Result r = run({}, tokens);
  EXPECT_EQ(r.reasoning, "");
  EXPECT_EQ(r.content, "plain text");  // the special <think> decodes to nothing
  EXPECT_EQ(r.consumed, tokens.size());
}

TEST_F(Reply, ThinkingOpenedByTheModelGoesToReasoningAndTheAnswerFollows) {
  const auto tokens = concat({{id("<think>")}, ids("let me see"), {id("</think>")}, ids("\n\nThe answer.")});
  Result r = run(reasoning(), tokens);
  EXPECT_EQ(r.reasoning, "let me see");
  EXPECT_EQ(r.content, "The answer.");
}

TEST_F(Reply, ThinkingOpenedByThePromptAndNoThinkingAtAll) {
  ReplyOptions opened = reasoning();
  opened.starts_thinking = true;
  Result r = run(opened, concat({ids("hmm"), {id("</think>")}, ids("ok")}));
  EXPECT_EQ(r.reasoning, "hmm");
  EXPECT_EQ(r.content, "ok");
  // A reasoning model that answers at once: no reasoning, and no leading text is lost.
  Result direct = run(reasoning(), ids("Direct answer"));
  EXPECT_EQ(direct.reasoning, "");
  EXPECT_EQ(direct.content, "Direct answer");
}

TEST_F(Reply, TheThinkingBudgetEndsTheReplyAndSaysSo) {
  ReplyOptions o = reasoning();
  o.max_thinking_tokens = 4;  // <think> and three more
  const auto tokens = concat({{id("<think>")}, ids("one two three four five six"), {id("</think>")}, ids("answer")});
  ReplyAssembler a(*tokenizer_, o);
  ReplyAssembler::Piece piece;
  size_t pushed = 0;
  while (pushed < tokens.size() && a.push(tokens[pushed], piece)) ++pushed;
  EXPECT_EQ(pushed, 3u);  // the fourth push (index 3) said stop
  EXPECT_TRUE(a.thinking_budget_exhausted());
  EXPECT_EQ(a.reasoning_tokens(), 4);
  a.finish(piece);
  EXPECT_EQ(piece.content, "");
  EXPECT_EQ(piece.reasoning, tokenizer_->decode(std::vector<int32_t>(tokens.begin() + 1, tokens.begin() + 4), true));
}

TEST_F(Reply, TheAnswerBudgetCountsOnlyAnswerTokens) {
  ReplyOptions o = reasoning();
  o.max_answer_tokens = 2;
  const auto thinking = ids("a long train of thought");
  const auto answer = ids("x y z w");
  ASSERT_GE(answer.size(), 3u);
  ReplyAssembler a(*tokenizer_, o);
  ReplyAssembler::Piece piece;
  const auto tokens = concat({{id("<think>")}, thinking, {id("</think>")}, answer});
  size_t pushed = 0;
  while (pushed < tokens.size() && a.push(tokens[pushed], piece)) ++pushed;
  EXPECT_EQ(pushed, thinking.size() + 3);  // <think>, thinking, </think>, one answer token; the second ends it
  EXPECT_TRUE(a.answer_budget_exhausted());
  EXPECT_FALSE(a.thinking_budget_exhausted());
}

TEST_F(Reply, StopStringsApplyToTheAnswerOnly) {
  ReplyOptions o = reasoning();
  o.stops = {"STOP"};
  Result r = run(o, concat({{id("<think>")}, ids("no STOP here"), {id("</think>")}, ids("yes STOP there")}));
  EXPECT_EQ(r.reasoning, "no STOP here");
  EXPECT_EQ(r.content, "yes ");
}

}  // namespace

namespace {

using server::ToolCall;
using server::ToolCallParser;

// Feeds `text` to a parser in pieces of `step` bytes; returns the shown text and the calls.
std::pair<std::string, std::vector<ToolCall>> parse_in_pieces(const std::string& text, size_t step) {
  ToolCallParser p;
  std::vector<ToolCall> calls;
  std::string shown;
  for (size_t i = 0; i < text.size(); i += step) shown += p.push(std::string_view(text).substr(i, step), calls);
  shown += p.flush();
  return {shown, calls};
}

TEST(ToolCallParser, CallsAreCutOutWhereverThePiecesBreak) {
  const std::string text =
      "Let me check.<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"
      "<tool_call>{\"arguments\": \"{\\\"n\\\": 2}\", \"name\": \"count\"}</tool_call> done";
  for (size_t step : {1, 2, 3, 7, 1000}) {
    auto [shown, calls] = parse_in_pieces(text, step);
    EXPECT_EQ(shown, "Let me check. done") << step;
    ASSERT_EQ(calls.size(), 2u) << step;
    EXPECT_EQ(calls[0].name, "get_weather");
    EXPECT_EQ(nlohmann::json::parse(calls[0].arguments), nlohmann::json({{"city", "Paris"}}));
    EXPECT_EQ(calls[1].name, "count");  // "arguments" before "name", and given as a JSON string
    EXPECT_EQ(nlohmann::json::parse(calls[1].arguments), nlohmann::json({{"n", 2}}));
  }
}

TEST(ToolCallParser, MalformedOrUnfinishedCallsStayText) {
  EXPECT_EQ(parse_in_pieces("a<tool_call>not json</tool_call>b", 4).first, "a<tool_call>not json</tool_call>b");
  EXPECT_EQ(parse_in_pieces("a<tool_call>{\"name\": 3}</tool_call>", 4).second.size(), 0u);
  EXPECT_EQ(parse_in_pieces("x <tool_call>{\"name\": \"f\"", 3).first, "x <tool_call>{\"name\": \"f\"");
  EXPECT_EQ(parse_in_pieces("x <tool_ca", 3).first, "x <tool_ca");  // held back, then released at the end
  auto [shown, calls] = parse_in_pieces("<tool_call>{\"name\": \"f\"}</tool_call>", 5);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].arguments, "{}");
}

TEST_F(Reply, ToolCallsAreParsedFromTheAnswerAndFromUnclosedThinking) {
  ReplyOptions o = reasoning();
  o.parse_tool_calls = true;
  const std::string call = "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n</tool_call>";
  ReplyAssembler a(*tokenizer_, o);
  ReplyAssembler::Piece piece;
  for (int32_t t : concat({{id("<think>")}, ids("I should call f."), ids(call)})) ASSERT_TRUE(a.push(t, piece));
  a.finish(piece);
  EXPECT_EQ(piece.reasoning, "I should call f.");
  EXPECT_EQ(piece.content, "");
  ASSERT_EQ(piece.tool_calls.size(), 1u);
  EXPECT_EQ(piece.tool_calls[0].name, "f");
  EXPECT_EQ(a.tool_calls(), 1);

  // parallel_tool_calls: false ends the reply after the first call.
  o.single_tool_call = true;
  ReplyAssembler single(*tokenizer_, o);
  ReplyAssembler::Piece p2;
  const auto tokens = concat({{id("<think>")}, ids("x"), {id("</think>")}, ids(call + call)});
  size_t pushed = 0;
  while (pushed < tokens.size() && single.push(tokens[pushed], p2)) ++pushed;
  EXPECT_LT(pushed, tokens.size());
  EXPECT_EQ(p2.tool_calls.size(), 1u);
  EXPECT_FALSE(single.answer_budget_exhausted());
}

}  // namespace
