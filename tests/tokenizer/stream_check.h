// Checks the StreamingDecoder contract on one id sequence: every chunk is valid UTF-8, shows no
// U+FFFD unless the full decode has one, and the chunks concatenate to the full decode.
#pragma once
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "frontends/tokenizer/tokenizer.h"
#include "frontends/tokenizer/unicode.h"

namespace vkllm::frontends::testing {

inline void check_stream(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip_special,
                         const std::string& context) {
  const std::string full = tokenizer.decode(ids, skip_special);
  const bool full_has_replacement = full.find(unicode::kReplacementUtf8) != std::string::npos;
  StreamingDecoder stream(tokenizer, skip_special);
  std::string joined;
  auto take = [&](const std::string& chunk, size_t index) {
    ASSERT_EQ(unicode::find_invalid_utf8(chunk), std::string::npos) << context << ": chunk " << index;
    if (!full_has_replacement) {
      ASSERT_EQ(chunk.find(unicode::kReplacementUtf8), std::string::npos)
          << context << ": chunk " << index << " shows U+FFFD the full decode does not have";
    }
    joined += chunk;
    ASSERT_EQ(full.compare(0, joined.size(), joined), 0) << context << ": after id " << index << " the stream is \""
                                                         << joined << "\", not a prefix of \"" << full << "\"";
  };
  for (size_t i = 0; i < ids.size(); ++i) {
    take(stream.push(ids[i]), i);
    if (::testing::Test::HasFatalFailure()) return;
  }
  take(stream.finish(), ids.size());
  EXPECT_EQ(joined, full) << context;
}

inline std::vector<std::string> read_corpus() {
  std::ifstream in(VKLLM_TOKENIZER_CORPUS);
  std::vector<std::string> texts;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) texts.push_back(nlohmann::json::parse(line).get<std::string>());
  return texts;
}

}  // namespace vkllm::frontends::testing
