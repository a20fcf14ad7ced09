// Runs a libFuzzer target without libFuzzer: every file of a seed corpus, then N deterministic
// mutations of them (byte flips, truncations, splices, insertions). A crash or hang fails the test.
//   usage: <target>_replay CORPUS_DIR [MUTATIONS]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS]\n", argv[0]);
    return 2;
  }
  const long mutations = argc > 2 ? std::atol(argv[2]) : 1000;
  std::vector<std::vector<uint8_t>> seeds;
  if (fs::is_directory(argv[1]))
    for (const auto& e : fs::directory_iterator(argv[1])) {
      std::ifstream in(e.path(), std::ios::binary);
      seeds.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
  if (seeds.empty()) seeds.push_back({});
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());

  std::mt19937_64 rng(12345);
  auto pick = [&](size_t n) { return n ? static_cast<size_t>(rng() % n) : 0; };
  for (long i = 0; i < mutations; ++i) {
    std::vector<uint8_t> d = seeds[pick(seeds.size())];
    int edits = 1 + static_cast<int>(pick(4));
    for (int e = 0; e < edits; ++e) {
      switch (pick(5)) {
        case 0:
          if (!d.empty()) d[pick(d.size())] ^= static_cast<uint8_t>(1u << pick(8));
          break;
        case 1:
          d.resize(pick(d.size() + 1));
          break;
        case 2: {
          const auto& o = seeds[pick(seeds.size())];
          if (!o.empty()) {
            size_t a = pick(o.size()), n = pick(o.size() - a + 1);
            d.insert(d.begin() + static_cast<long>(pick(d.size() + 1)), o.begin() + static_cast<long>(a),
                     o.begin() + static_cast<long>(a + n));
          }
          break;
        }
        case 3:
          d.insert(d.begin() + static_cast<long>(pick(d.size() + 1)), static_cast<uint8_t>(rng()));
          break;
        default:
          if (!d.empty()) d[pick(d.size())] = static_cast<uint8_t>("{}[]()\"\\%@:,=0\n\xff"[pick(17)]);
      }
    }
    LLVMFuzzerTestOneInput(d.data(), d.size());
  }
  std::printf("replayed %zu seeds and %ld mutations\n", seeds.size(), mutations);
  return 0;
}
