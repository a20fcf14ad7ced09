#include "frontends/tokenizer/bpe.h"

#include <fmt/format.h>

#include <bit>
#include <mutex>
#include <queue>

#include "frontends/tokenizer/json_access.h"
#include "frontends/tokenizer/tokenizer.h"
#include "frontends/tokenizer/unicode.h"

namespace vkllm::frontends {
namespace {
using namespace json_access;

constexpr size_t kCacheCapacity = 200'000;  // words; past it new words are not cached
constexpr size_t kMaxCachedWordBytes = 256;

std::optional<std::string> optional_string(const json& obj, const char* key, const std::string& where) {
  const json* v = optional(obj, key);
  if (!v) return std::nullopt;
  return as_string(*v, field_path(where, key));
}

// "a b" (the legacy form: exactly one space) or ["a", "b"]; the views point into `m`. `where`
// makes the error location only when there is an error.
template <class Where>
std::pair<std::string_view, std::string_view> parse_merge(const json& m, const Where& where) {
  if (m.is_string()) {
    const std::string_view s = m.get_ref<const std::string&>();
    const size_t space = s.find(' ');
    if (space == std::string_view::npos || s.find(' ', space + 1) != std::string_view::npos)
      fail(where(), fmt::format("merge \"{}\" is not two tokens separated by one space", s));
    return {s.substr(0, space), s.substr(space + 1)};
  }
  if (m.is_array()) {
    if (m.size() != 2) fail(where(), fmt::format("a merge pair has 2 elements, this one has {}", m.size()));
    for (size_t k = 0; k < 2; ++k)
      if (!m[k].is_string()) as_string(m[k], index_path(where(), k));
    return {m[0].get_ref<const std::string&>(), m[1].get_ref<const std::string&>()};
  }
  fail(where(), "expected a merge as \"a b\" or [\"a\", \"b\"]");
}

}  // namespace

void MergeTable::grow() {
  std::vector<uint64_t> old_keys = std::move(keys_);
  std::vector<Merge> old_values = std::move(values_);
  const size_t capacity = old_keys.empty() ? 1024 : old_keys.size() * 2;
  keys_.assign(capacity, kEmpty);
  values_.assign(capacity, Merge{0, 0});
  mask_ = capacity - 1;
  shift_ = 64 - std::countr_zero(capacity);
  size_ = 0;
  for (size_t i = 0; i < old_keys.size(); ++i)
    if (old_keys[i] != kEmpty) insert_or_assign(old_keys[i], old_values[i]);
}

void MergeTable::insert_or_assign(uint64_t key, Merge merge) {
  if (2 * (size_ + 1) > keys_.size()) grow();
  for (size_t i = slot(key);; i = (i + 1) & mask_) {
    if (keys_[i] == kEmpty) {
      keys_[i] = key;
      values_[i] = merge;
      ++size_;
      return;
    }
    if (keys_[i] == key) {
      values_[i] = merge;
      return;
    }
  }
}

BpeModel::BpeModel(const json& model, const std::string& where) {
  if (const json* dropout = optional(model, "dropout")) {
    if (!dropout->is_number()) fail(field_path(where, "dropout"), "expected a number or null");
    if (dropout->get<double>() != 0.0)
      fail(field_path(where, "dropout"), "BPE dropout (random merges) is not supported for inference; set it to null");
  }
  unk_token_ = optional_string(model, "unk_token", where);
  continuing_subword_prefix_ = optional_string(model, "continuing_subword_prefix", where);
  end_of_word_suffix_ = optional_string(model, "end_of_word_suffix", where);
  fuse_unk_ = bool_or(model, "fuse_unk", false, where);
  byte_fallback_ = bool_or(model, "byte_fallback", false, where);
  ignore_merges_ = bool_or(model, "ignore_merges", false, where);

  const std::string vocab_where = field_path(where, "vocab");
  const json& vocab = required(model, "vocab", where);
  expect_object(vocab, vocab_where);
  vocab_.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it)
    vocab_[it.key()] = as_token_id(it.value(), field_path(vocab_where, it.key().c_str()));

  const std::string merges_where = field_path(where, "merges");
  const json& merges = expect_array(required(model, "merges", where), merges_where);
  const size_t prefix_len = continuing_subword_prefix_ ? continuing_subword_prefix_->size() : 0;
  int32_t rank = 0;
  std::string merged;
  for (size_t i = 0; i < merges.size(); ++i) {
    auto where = [&] { return index_path(merges_where, i); };
    if (merges[i].is_string() && merges[i].get_ref<const std::string&>().starts_with("#version")) continue;
    const auto [a, b] = parse_merge(merges[i], where);
    auto id_of = [&](std::string_view token) {
      auto it = vocab_.find(token);
      if (it == vocab_.end()) fail(where(), fmt::format("merge token \"{}\" is not in the vocabulary", token));
      return it->second;
    };
    if (prefix_len > 0 && !b.starts_with(*continuing_subword_prefix_))
      fail(where(), fmt::format("merge part \"{}\" does not start with continuing_subword_prefix \"{}\"", b,
                                *continuing_subword_prefix_));
    const int32_t a_id = id_of(a), b_id = id_of(b);
    merged.assign(a);
    merged.append(b.substr(prefix_len));
    const int32_t new_id = id_of(merged);
    merges_.insert_or_assign(MergeTable::key(a_id, b_id), {rank++, new_id});
  }

  // An empty prefix or suffix decorates nothing.
  if (continuing_subword_prefix_ && continuing_subword_prefix_->empty()) continuing_subword_prefix_.reset();
  if (end_of_word_suffix_ && end_of_word_suffix_->empty()) end_of_word_suffix_.reset();
  bmp_char_ids_.assign(0x10000, -1);
  for (const auto& [token, id] : vocab_) {
    if (token.empty() || unicode::sequence_length(static_cast<unsigned char>(token[0])) != token.size()) continue;
    size_t i = 0;
    const char32_t c = unicode::next_code_point(token, i);
    if (c < 0x10000) bmp_char_ids_[c] = id;
  }

  if (byte_fallback_) {
    byte_token_ids_.assign(256, -1);
    for (int b = 0; b < 256; ++b)
      if (auto it = vocab_.find(fmt::format("<0x{:02X}>", b)); it != vocab_.end())
        byte_token_ids_[static_cast<size_t>(b)] = it->second;
  }
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_)
    if (auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::shared_lock lock(cache_mutex_);
    if (auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  merge_word(word, out);
  if (cacheable) {
    std::unique_lock lock(cache_mutex_);
    if (cache_.size() < kCacheCapacity)
      cache_.emplace(std::string(word), std::vector<int32_t>(out.begin() + static_cast<long>(first), out.end()));
  }
}

std::optional<int32_t> BpeModel::symbol_id(std::string_view symbol) const {
  if (symbol.size() <= 3 && unicode::sequence_length(static_cast<unsigned char>(symbol[0])) == symbol.size()) {
    size_t i = 0;
    const char32_t c = unicode::next_code_point(symbol, i);
    const int32_t id = bmp_char_ids_[c];
    return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
  }
  auto it = vocab_.find(symbol);
  return it == vocab_.end() ? std::nullopt : std::optional<int32_t>(it->second);
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    bool removed;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](int32_t id) {
    const auto n = static_cast<int32_t>(symbols.size());
    if (n > 0) symbols.back().next = n;
    symbols.push_back({id, n - 1, -1, false});
  };

  // Initial symbols: one per character, with the word's prefix/suffix conventions; characters
  // outside the vocabulary become byte tokens, or unk (fused when fuse_unk), or are dropped.
  std::optional<int32_t> pending_unk;
  std::string scratch;
  for (size_t i = 0; i < word.size();) {
    const size_t begin = i;
    i += unicode::sequence_length(static_cast<unsigned char>(word[i]));
    std::string_view ch = word.substr(begin, i - begin);
    if ((begin > 0 && continuing_subword_prefix_) || (i == word.size() && end_of_word_suffix_)) {
      scratch.clear();
      if (begin > 0 && continuing_subword_prefix_) scratch += *continuing_subword_prefix_;
      scratch += ch;
      if (i == word.size() && end_of_word_suffix_) scratch += *end_of_word_suffix_;
      ch = scratch;
    }
    if (const std::optional<int32_t> id = symbol_id(ch)) {
      if (pending_unk) add(*std::exchange(pending_unk, std::nullopt));
      add(*id);
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes = true;
      for (unsigned char b : ch) all_bytes = all_bytes && byte_token_ids_[b] >= 0;
      if (all_bytes) {
        if (pending_unk) add(*std::exchange(pending_unk, std::nullopt));
        for (unsigned char b : ch) add(byte_token_ids_[b]);
        continue;
      }
    }
    if (unk_token_) {
      auto unk = vocab_.find(*unk_token_);
      if (unk == vocab_.end())
        throw TokenizerError(
            fmt::format("tokenizer.json: model.unk_token \"{}\" is not in the vocabulary", *unk_token_));
      if (!(pending_unk && fuse_unk_)) {
        if (pending_unk) add(*pending_unk);
        pending_unk = unk->second;
      }
    }
  }
  if (pending_unk) add(*pending_unk);

  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int32_t pos) {
    const Symbol& s = symbols[static_cast<size_t>(pos)];
    if (s.next < 0) return;
    if (const MergeTable::Merge* m = merges_.find(MergeTable::key(s.id, symbols[static_cast<size_t>(s.next)].id)))
      queue.push({m->rank, pos, m->new_id});
  };
  for (int32_t p = 0; p + 1 < static_cast<int32_t>(symbols.size()); ++p) consider(p);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(top.pos)];
    if (left.removed || left.next < 0) continue;
    Symbol& right = symbols[static_cast<size_t>(left.next)];
    // A stale entry: one of its symbols was merged with a neighbour since it was queued.
    const MergeTable::Merge* m = merges_.find(MergeTable::key(left.id, right.id));
    if (!m || m->new_id != top.new_id) continue;
    left.id = top.new_id;
    right.removed = true;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }
  for (const Symbol& s : symbols)
    if (!s.removed) out.push_back(s.id);
}

}  // namespace vkllm::frontends
