// Fuzz target: arbitrary bytes as the body of every endpoint's request (server/requests.h). Each
// parser must either return a request or throw ApiError with a 4xx status: any other exception (a
// JSON type error from an unchecked field, say) or a crash is a bug the server would answer with 500.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "server/requests.h"

namespace {

using namespace vkllm::server;

template <typename Parse>
void check(Parse&& parse, const std::string& body) {
  static const RequestDefaults defaults{"tiny", {}, 512};
  try {
    parse(body, defaults);
  } catch (const ApiError& e) {
    if (e.status < 400 || e.status >= 500) {
      std::fprintf(stderr, "status %d for a bad request: %s\n", e.status, e.what());
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  check(parse_chat_request, body);
  check(parse_completion_request, body);
  check(parse_messages_request, body);
  check(parse_count_tokens_request, body);
  check(parse_tokenize_request, body);
  check(parse_detokenize_request, body);
  return 0;
}
