// Fuzz target: bytes -> the tokenizer.json loader, then encode/decode/stream with whatever loaded.
// Malformed files must fail with TokenizerError; anything else escaping (or a crash, a hang, a
// broken decode invariant) is a bug.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "frontends/tokenizer/tokenizer.h"
#include "frontends/tokenizer/unicode.h"

using vkllm::frontends::StreamingDecoder;
using vkllm::frontends::Tokenizer;
using vkllm::frontends::TokenizerError;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    const Tokenizer t = Tokenizer::from_json(input);
    for (std::string_view text : {"Hello, wörld! I'm 12345 <s> 中文 \t\n  ok", "", "<|endoftext|>a b"}) {
      const std::vector<int32_t> ids = t.encode(text, true);
      for (bool skip : {false, true}) {
        const std::string full = t.decode(ids, skip);
        if (vkllm::frontends::unicode::find_invalid_utf8(full) != std::string::npos) std::abort();
        StreamingDecoder stream(t, skip);
        std::string joined;
        for (int32_t id : ids) joined += stream.push(id);
        joined += stream.finish();
        if (joined != full) std::abort();
      }
    }
  } catch (const TokenizerError&) {
  }
  return 0;
}
