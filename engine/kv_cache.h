// Host-side bookkeeping of the paged KV cache: which cache blocks each sequence owns. The cache
// tensors live on the device (the model's `k_cache.N` / `v_cache.N` states); this decides which
// slots a step writes (`slots`) and which blocks a sequence reads (its `block_table` row).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace vkllm::engine {

// Thrown when a sequence would outgrow the context it was compiled for.
struct ContextOverflow : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Thrown when the cache has no free block left (callers queue the request or report "busy").
struct CacheFull : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class BlockPool {
 public:
  BlockPool(int64_t num_blocks, int64_t block_size);
  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  int32_t take();                 // throws CacheFull
  void give_back(int32_t block);  // a block taken earlier

 private:
  int64_t num_blocks_, block_size_;
  std::vector<int32_t> free_;     // a stack: recently freed blocks are reused first (warm in caches)
};

// One sequence's cache: its blocks in position order and how many positions hold K/V.
class SequenceCache {
 public:
  SequenceCache(BlockPool& pool, int64_t max_blocks);
  ~SequenceCache();
  SequenceCache(const SequenceCache&) = delete;
  SequenceCache& operator=(const SequenceCache&) = delete;

  int64_t length() const { return length_; }
  int64_t capacity() const;  // positions the sequence may ever hold (max_blocks * block_size)
  // Makes room for `n` more positions (taking blocks as needed) and returns their cache slots
  // (block * block_size + offset). Throws ContextOverflow or CacheFull, leaving the sequence as it was.
  std::vector<int32_t> append(int64_t n);
  // Forgets positions from `new_length` on (e.g. rejected draft tokens); frees whole unused blocks.
  void truncate(int64_t new_length);
  // The block-table row: the sequence's blocks, padded with -1 to max_blocks.
  void fill_block_row(int32_t* row) const;

 private:
  BlockPool& pool_;
  int64_t max_blocks_;
  int64_t length_ = 0;
  std::vector<int32_t> blocks_;
};

}  // namespace vkllm::engine
