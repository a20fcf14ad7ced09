// The BPE model of tokenizer.json: vocabulary, ranked merges, and the Hugging Face options
// (unk_token, fuse_unk, byte_fallback, ignore_merges, continuing_subword_prefix,
// end_of_word_suffix). Merging uses a rank-ordered priority queue over a linked list of symbols,
// and pre-tokenized words are cached.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vkllm::frontends {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// Merge lookup by (left id, right id): open addressing with linear probing, the hottest table of
// encoding.
class MergeTable {
 public:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  // A repeated pair keeps the last value (as a hash map built from the merge list does).
  void insert_or_assign(uint64_t key, Merge merge);
  const Merge* find(uint64_t key) const {
    if (keys_.empty()) return nullptr;
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are < 2^31, so no key has all bits set
  size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
  void grow();
  std::vector<uint64_t> keys_;
  std::vector<Merge> values_;
  size_t mask_ = 0, size_ = 0;
  int shift_ = 64;
};

class BpeModel {
 public:
  // `model` is tokenizer.json's "model" object; `where` names it in errors.
  BpeModel(const nlohmann::json& model, const std::string& where);
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one pre-tokenized word. Thread-safe.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  const StringMap<int32_t>& vocab() const { return vocab_; }

 private:
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  std::optional<int32_t> symbol_id(std::string_view symbol) const;

  StringMap<int32_t> vocab_;
  MergeTable merges_;
  // Ids of the single-character tokens below U+10000 (-1: not a token), to skip hashing the
  // characters of a word when no prefix or suffix decorates them.
  std::vector<int32_t> bmp_char_ids_;
  std::optional<std::string> unk_token_;
  std::optional<std::string> continuing_subword_prefix_;
  std::optional<std::string> end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::vector<int32_t> byte_token_ids_;  // id of "<0xHH>" per byte, -1 when absent

  mutable std::shared_mutex cache_mutex_;
  mutable StringMap<std::vector<int32_t>> cache_;
};

}  // namespace vkllm::frontends
