// Request field reading: types, ranges, unknown fields, sampling fields, stop lists.
#include <gtest/gtest.h>

#include "server/params.h"

using namespace vkllm::server;
using nlohmann::json;

namespace {

// The parameter an ApiError names, or "" when `f` does not throw.
template <typename F>
std::string rejected_param(F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    return e.param.empty() ? "<body>" : e.param;
  }
  return "";
}

}  // namespace

TEST(Params, BodyMustBeAJsonObject) {
  EXPECT_EQ(rejected_param([] { parse_body("{\"a\": "); }), "<body>");
  EXPECT_EQ(rejected_param([] { parse_body("[1]"); }), "<body>");
  EXPECT_EQ(parse_body("{\"a\": 1}")["a"], 1);
}

TEST(Params, TypesRangesAndUnknownFieldsAreNamed) {
  json body = {{"max_tokens", "ten"}, {"n", 0}, {"user", "u"}, {"color", "red"}, {"stream", nullptr}};
  Fields f(body);
  EXPECT_EQ(rejected_param([&] { f.integer("max_tokens", 1, 100); }), "max_tokens");
  EXPECT_EQ(rejected_param([&] { f.integer("n", 1, 100); }), "n");
  EXPECT_FALSE(f.boolean("stream"));  // null reads as absent
  f.accept("user");
  EXPECT_EQ(rejected_param([&] { f.reject_unknown(); }), "color");
}

TEST(Params, SamplingFieldsMapOntoSamplingParams) {
  json body = {{"temperature", 0.7}, {"top_p", 0.9}, {"top_k", 40}, {"min_p", 0.05}, {"seed", -3},
               {"presence_penalty", 0.5}, {"frequency_penalty", -0.25}, {"repetition_penalty", 1.1}, {"logit_bias", json::object()}};
  Fields f(body);
  vkllm::engine::SamplingParams s = read_sampling(f, Dialect::OpenAI, {});
  EXPECT_NO_THROW(f.reject_unknown());
  EXPECT_EQ(s.temperature, 0.7);
  EXPECT_EQ(s.top_p, 0.9);
  EXPECT_EQ(s.top_k, 40);
  EXPECT_EQ(s.min_p, 0.05);
  EXPECT_EQ(s.seed, static_cast<uint64_t>(-3));
  EXPECT_EQ(s.presence_penalty, 0.5);
  EXPECT_EQ(s.frequency_penalty, -0.25);
  EXPECT_EQ(s.repetition_penalty, 1.1);

  json off = {{"top_k", -1}};  // vLLM's spelling of "no top-k"
  Fields g(off);
  EXPECT_EQ(read_sampling(g, Dialect::OpenAI, {}).top_k, 0);
}

TEST(Params, SamplingDefaultsComeFromTheServerAndAreOverriddenFieldByField) {
  vkllm::engine::SamplingParams defaults;
  defaults.temperature = 0.6;
  defaults.top_p = 0.95;
  json body = {{"temperature", 0}};
  Fields f(body);
  vkllm::engine::SamplingParams s = read_sampling(f, Dialect::OpenAI, defaults);
  EXPECT_EQ(s.temperature, 0.0);
  EXPECT_EQ(s.top_p, 0.95);
  // Sampled requests without a seed draw one, so two identical requests do not repeat each other.
  json none = json::object();
  Fields a(none), b(none);
  EXPECT_NE(read_sampling(a, Dialect::OpenAI, defaults).seed, read_sampling(b, Dialect::OpenAI, defaults).seed);
}

TEST(Params, SamplingRangesAndDialectsAreChecked) {
  for (const auto& [name, value] : std::vector<std::pair<std::string, json>>{
           {"temperature", 2.5}, {"temperature", -1}, {"top_p", 1.5}, {"top_k", -2}, {"top_k", 1.5}, {"min_p", 2},
           {"presence_penalty", 3}, {"frequency_penalty", "x"}, {"repetition_penalty", 0}, {"seed", 0.5},
           {"logit_bias", {{"5", 10}}}, {"logit_bias", 1}}) {
    json body = {{name, value}};
    Fields f(body);
    EXPECT_EQ(rejected_param([&] { read_sampling(f, Dialect::OpenAI, {}); }), name) << name << " = " << value;
  }
  json anthropic = {{"temperature", 1.5}};
  Fields a(anthropic);
  EXPECT_EQ(rejected_param([&] { read_sampling(a, Dialect::Anthropic, {}); }), "temperature");
  json openai_only = {{"min_p", 0.1}, {"seed", 1}};  // not Anthropic fields: left unread, so reject_unknown names them
  Fields b(openai_only);
  read_sampling(b, Dialect::Anthropic, {});
  EXPECT_EQ(rejected_param([&] { b.reject_unknown(); }), "min_p");
}

TEST(Params, StopIsAStringOrAShortListOfNonEmptyStrings) {
  json one = {{"stop", "x"}}, list = {{"stop", {"a", "b"}}}, empty = {{"stop", {""}}}, many = {{"stop", {"a", "b", "c"}}},
       number = {{"stop", 3}};
  Fields f1(one), f2(list), f3(empty), f4(many), f5(number);
  EXPECT_EQ(read_stop_strings(f1, "stop", 2), std::vector<std::string>{"x"});
  EXPECT_EQ(read_stop_strings(f2, "stop", 2), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(rejected_param([&] { read_stop_strings(f3, "stop", 2); }), "stop");
  EXPECT_EQ(rejected_param([&] { read_stop_strings(f4, "stop", 2); }), "stop");
  EXPECT_EQ(rejected_param([&] { read_stop_strings(f5, "stop", 2); }), "stop");
}
