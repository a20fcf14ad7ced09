#include "engine/kv_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace vkllm::engine {

BlockPool::BlockPool(int64_t num_blocks, int64_t block_size, int64_t state_slots)
    : num_blocks_(num_blocks), block_size_(block_size), state_slots_(state_slots) {
  if (num_blocks <= 0 || block_size <= 0) throw std::invalid_argument("KV cache needs at least one block of one row");
  if (state_slots < 0) throw std::invalid_argument("the number of state slots cannot be negative");
  for (int64_t b = num_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
  for (int64_t s = state_slots - 1; s >= 0; --s) free_state_.push_back(static_cast<int32_t>(s));
}

int32_t BlockPool::take() {
  if (free_.empty())
    throw CacheFull(fmt::format("the KV cache is full (all {} blocks of {} positions are in use)", num_blocks_,
                                block_size_));
  int32_t b = free_.back();
  free_.pop_back();
  return b;
}

void BlockPool::give_back(int32_t block) { free_.push_back(block); }

int32_t BlockPool::take_state_slot() {
  if (free_state_.empty())
    throw CacheFull(fmt::format("all {} recurrent-state slots are in use (one per sequence in flight)", state_slots_));
  int32_t s = free_state_.back();
  free_state_.pop_back();
  return s;
}

void BlockPool::give_back_state_slot(int32_t slot) {
  if (slot < 0 || slot >= state_slots_) throw std::invalid_argument(fmt::format("state slot {} is not a slot of this pool", slot));
  free_state_.push_back(slot);
}

SequenceCache::SequenceCache(BlockPool& pool, int64_t max_blocks) : pool_(pool), max_blocks_(max_blocks) {
  if (pool_.state_slots() > 0) state_slot_ = pool_.take_state_slot();
  blocks_.reserve(static_cast<size_t>(std::max<int64_t>(max_blocks, 0)));
}

SequenceCache::~SequenceCache() {
  truncate(0);
  if (state_slot_ >= 0) pool_.give_back_state_slot(state_slot_);
}

int32_t SequenceCache::exchange_state_slot(int32_t slot) {
  if (state_slot_ < 0) throw std::logic_error("this sequence has no recurrent state");
  if (slot < 0 || slot >= pool_.state_slots()) throw std::invalid_argument(fmt::format("state slot {} is not a slot of the pool", slot));
  return std::exchange(state_slot_, slot);
}

int64_t SequenceCache::capacity() const { return max_blocks_ * pool_.block_size(); }

std::vector<int32_t> SequenceCache::append(int64_t n) {
  if (n < 0) throw std::invalid_argument("append of a negative number of positions");
  std::vector<int32_t> slots(static_cast<size_t>(n));
  append(std::span<int32_t>(slots));
  return slots;
}

void SequenceCache::append(std::span<int32_t> slots) {
  const auto n = static_cast<int64_t>(slots.size());
  const int64_t bs = pool_.block_size();
  if (length_ + n > capacity())
    throw ContextOverflow(fmt::format("context overflow: {} tokens exceed the maximum context of {} tokens",
                                      length_ + n, capacity()));
  const size_t had = blocks_.size();
  try {
    while (static_cast<int64_t>(blocks_.size()) * bs < length_ + n) blocks_.push_back(pool_.take());
  } catch (const CacheFull&) {
    while (blocks_.size() > had) {
      pool_.give_back(blocks_.back());
      blocks_.pop_back();
    }
    throw;
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t p = length_ + i;
    slots[static_cast<size_t>(i)] = static_cast<int32_t>(blocks_[static_cast<size_t>(p / bs)] * bs + p % bs);
  }
  length_ += n;
}

void SequenceCache::truncate(int64_t new_length) {
  if (new_length < 0 || new_length > length_) throw std::invalid_argument("truncate beyond the sequence");
  length_ = new_length;
  const int64_t bs = pool_.block_size();
  while (static_cast<int64_t>(blocks_.size()) > (length_ + bs - 1) / bs) {
    pool_.give_back(blocks_.back());
    blocks_.pop_back();
  }
}

void SequenceCache::fill_block_row(int32_t* row) const {
  for (int64_t i = 0; i < max_blocks_; ++i)
    row[i] = i < static_cast<int64_t>(blocks_.size()) ? blocks_[static_cast<size_t>(i)] : -1;
}

}  // namespace vkllm::engine
