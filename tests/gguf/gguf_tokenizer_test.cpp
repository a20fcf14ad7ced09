// The tokenizer.json built from GGUF metadata, loaded by vkllm's tokenizer, tokenizes like the
// tokenizer the GGUF came from: a synthesized byte-level BPE tokenizer.json, and a SentencePiece
// BPE model trained here and run by libsentencepiece (the reference for the "llama" type).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "frontends/checkpoint/checkpoint.h"
#include "frontends/gguf/gguf_file.h"
#include "frontends/gguf/gguf_tokenizer.h"
#include "frontends/gguf/gguf_writer.h"
#include "frontends/model/synth.h"
#include "frontends/tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace vkllm::frontends;
using json = nlohmann::json;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("vkllm_gguftok_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// The tokenizer arrays convert_hf_to_gguf.py writes for a byte-level BPE tokenizer.json.
GgufWriter gpt2_metadata(const fs::path& hf_dir) {
  const json tok = read_json_file(hf_dir / "tokenizer.json");
  const json cfg = read_json_file(hf_dir / "tokenizer_config.json");
  const int64_t vocab_size = read_json_file(hf_dir / "config.json")["vocab_size"];
  std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
  std::vector<int64_t> types(tokens.size(), 5);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = fmt::format("[PAD{}]", i);
  for (auto it = tok["model"]["vocab"].begin(); it != tok["model"]["vocab"].end(); ++it) {
    tokens[it.value().get<size_t>()] = it.key();
    types[it.value().get<size_t>()] = 1;
  }
  for (const json& a : tok["added_tokens"]) {
    tokens[a["id"].get<size_t>()] = a["content"];
    types[a["id"].get<size_t>()] = 3;
  }
  std::vector<std::string> merges;
  for (const json& m : tok["model"]["merges"]) merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::string("gpt2"));
  w.set("tokenizer.ggml.pre", GgufValue::string("gpt-2"));
  w.set("tokenizer.ggml.tokens", GgufValue::array_of_strings(tokens));
  w.set("tokenizer.ggml.token_type", GgufValue::array_of_ints(GgufType::I32, types));
  w.set("tokenizer.ggml.merges", GgufValue::array_of_strings(merges));
  for (size_t i = 0; i < tokens.size(); ++i)
    if (cfg["bos_token"].is_string() && tokens[i] == cfg["bos_token"]) w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(static_cast<uint32_t>(i)));
  w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(cfg["add_bos_token"]));
  return w;
}

TEST(GgufTokenizerRuns, ByteLevelBpeTokenizesLikeTheOriginal) {
  for (const char* family : {"llama", "qwen3"}) {
    SCOPED_TRACE(family);
    const fs::path dir = temp_dir(family);
    SynthOptions so;
    so.family = family;
    so.out_dir = dir;
    so.seed = std::random_device{}();
    synthesize(so);
    const std::vector<uint8_t> image = gpt2_metadata(dir).bytes();
    const GgufFile f = GgufFile::parse(image, "tok.gguf");
    const Tokenizer original = Tokenizer::load(dir);
    const Tokenizer mapped = Tokenizer::from_json(gguf_tokenizer_json(f).dump(), gguf_tokenizer_config(f, 0).dump());
    const json cfg = read_json_file(dir / "tokenizer_config.json");
    const std::vector<std::string> texts = {"the quick brown fox jumps over the lazy dog", "  two  spaces\nand a newline\n",
                                            "digits 12345 and punctuation!?", "caf\xc3\xa9 \xe2\x98\x83 snow",
                                            "eot " + cfg["eos_token"].get<std::string>() + " inside"};
    for (const std::string& text : texts) {
      SCOPED_TRACE(text);
      const std::vector<int32_t> ids = original.encode(text, false);
      EXPECT_EQ(mapped.encode(text, false), ids);
      EXPECT_EQ(mapped.decode(ids, false), original.decode(ids, false));
      // The GGUF says to add BOS (the synthesized tokenizer_config does); the post-processor does it.
      std::vector<int32_t> with_bos = mapped.encode(text, true);
      if (cfg["add_bos_token"].get<bool>() && cfg["bos_token"].is_string()) {
        ASSERT_FALSE(with_bos.empty());
        EXPECT_EQ(with_bos.front(), *original.token_to_id(cfg["bos_token"].get<std::string>()));
        with_bos.erase(with_bos.begin());
      }
      EXPECT_EQ(with_bos, ids);
    }
    fs::remove_all(dir);
  }
}

// A SentencePiece BPE model trained like Llama's (identity normalization, spaces kept, byte
// fallback), written to GGUF metadata as llama.cpp's _set_vocab_sentencepiece does.
TEST(GgufTokenizerRuns, SentencePieceBpeTokenizesLikeSentencePiece) {
  const fs::path dir = temp_dir("spm");
  std::mt19937 rng(std::random_device{}());
  const std::vector<std::string> words = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "token",
                                          "izer", "merge", "rank", "score", "piece", "space", "weight", "model",
                                          "layer", "head", "value", "caf\xc3\xa9", "na\xc3\xafve"};
  {
    std::ofstream corpus(dir / "corpus.txt");
    for (int line = 0; line < 2000; ++line) {
      for (int k = 0; k < 8; ++k) corpus << (k ? " " : "") << words[rng() % words.size()];
      corpus << "\n";
    }
  }
  const auto status = sentencepiece::SentencePieceTrainer::Train(fmt::format(
      "--input={} --model_prefix={} --model_type=bpe --vocab_size=400 --character_coverage=1.0 --byte_fallback=true "
      "--normalization_rule_name=identity --remove_extra_whitespaces=false --add_dummy_prefix=true "
      "--minloglevel=2",
      (dir / "corpus.txt").string(), (dir / "m").string()));
  ASSERT_TRUE(status.ok()) << status.ToString();
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load((dir / "m.model").string()).ok());

  std::vector<std::string> tokens;
  std::vector<double> scores;
  std::vector<int64_t> types;
  for (int i = 0; i < sp.GetPieceSize(); ++i) {
    tokens.push_back(sp.IdToPiece(i));
    scores.push_back(sp.GetScore(i));
    types.push_back(sp.IsUnknown(i) ? 2 : sp.IsControl(i) ? 3 : sp.IsUnused(i) ? 5 : sp.IsByte(i) ? 6 : 1);
  }
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::string("llama"));
  w.set("tokenizer.ggml.tokens", GgufValue::array_of_strings(tokens));
  w.set("tokenizer.ggml.scores", GgufValue::array_of_floats(GgufType::F32, scores));
  w.set("tokenizer.ggml.token_type", GgufValue::array_of_ints(GgufType::I32, types));
  w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(static_cast<uint32_t>(sp.bos_id())));
  w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(sp.eos_id())));
  w.set("tokenizer.ggml.unknown_token_id", GgufValue::u32(static_cast<uint32_t>(sp.unk_id())));
  const std::vector<uint8_t> image = w.bytes();
  const GgufFile f = GgufFile::parse(image, "spm.gguf");
  const Tokenizer mapped = Tokenizer::from_json(gguf_tokenizer_json(f).dump(), gguf_tokenizer_config(f, 0).dump());
  for (const std::string& text : std::vector<std::string>{"the quick brown fox", "lazy  dog  with   spaces", "tokenizer merge rank",
                                 "unseen words: xylophone QUIZ", "caf\xc3\xa9 na\xc3\xafve \xe2\x98\x83 \xf0\x9f\x99\x82",
                                 " leading space", "line\nbreak"}) {
    SCOPED_TRACE(text);
    std::vector<int> want;
    ASSERT_TRUE(sp.Encode(text, &want).ok());
    const std::vector<int32_t> got = mapped.encode(text, false);
    EXPECT_EQ(got, std::vector<int32_t>(want.begin(), want.end()));
    std::string decoded;
    ASSERT_TRUE(sp.Decode(want, &decoded).ok());
    EXPECT_EQ(mapped.decode(got, false), decoded);
    std::vector<int32_t> with_bos = mapped.encode(text, true);
    ASSERT_FALSE(with_bos.empty());
    EXPECT_EQ(with_bos.front(), sp.bos_id());
  }
  fs::remove_all(dir);
}

}  // namespace
