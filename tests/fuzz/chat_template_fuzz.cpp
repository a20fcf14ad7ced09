// Fuzz target: arbitrary bytes as a chat template, parsed and rendered for a small fixed
// conversation (system, user, a tool call, a tool result, tools). Must only ever throw
// TemplateError: no crash, no hang (tight render limits), no leak.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "frontends/chat_template/chat_template.h"

namespace {

const nlohmann::ordered_json& request() {
  static const nlohmann::ordered_json r = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather in Paris? \u00e9\u00e8 \ud83e\udd99"},
      {"role": "assistant", "content": "", "reasoning_content": "Call the tool.",
       "tool_calls": [{"id": "call12345", "type": "function",
                       "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
      {"role": "tool", "tool_call_id": "call12345", "content": "{\"temp\": 21.5}"},
      {"role": "assistant", "content": "<think>\nok\n</think>\n\nSunny."}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather \"now\"",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    "add_generation_prompt": true,
    "enable_thinking": false
  })");
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vkllm::frontends;
  jinja::RenderOptions options;
  options.limits.max_steps = 200'000;
  options.limits.max_output_bytes = 1u << 20;
  options.limits.max_heap_bytes = 64u << 20;
  options.now = [] { return std::chrono::system_clock::time_point(std::chrono::seconds(1725546600)); };
  try {
    const ChatTemplate t(std::string_view(reinterpret_cast<const char*>(data), size), "<s>", "</s>");
    (void)t.render(request(), options);
  } catch (const jinja::TemplateError&) {
  }
  return 0;
}
