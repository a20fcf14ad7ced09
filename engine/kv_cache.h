// Host-side bookkeeping of the paged KV cache: which cache blocks each sequence owns. The cache
// tensors live on the device (the model's `k_cache.N` / `v_cache.N` states); this decides which
// slots a step writes (`slots`) and which blocks a sequence reads (its `block_table` row).
// Models with recurrent layers (Gated DeltaNet) also keep a fixed-size state per sequence in the
// slots of `gdn_state.N` / `conv_state.N`; the pool hands those state slots out too.
#pragma once
#include <cstdint>
#include <span>
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
  // `state_slots`: recurrent-state slots (0 for models without recurrent layers).
  BlockPool(int64_t num_blocks, int64_t block_size, int64_t state_slots = 0);
  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  int32_t take();                 // throws CacheFull
  void give_back(int32_t block);  // a block taken earlier

  // Recurrent-state slots: one per live sequence (SequenceCache takes it), plus scratch slots a
  // speculative verify step writes intermediate states into.
  int64_t state_slots() const { return state_slots_; }
  int64_t free_state_slots() const { return static_cast<int64_t>(free_state_.size()); }
  int32_t take_state_slot();                // throws CacheFull
  void give_back_state_slot(int32_t slot);  // a slot taken earlier

 private:
  int64_t num_blocks_, block_size_, state_slots_;
  std::vector<int32_t> free_;       // a stack: recently freed blocks are reused first (warm in caches)
  std::vector<int32_t> free_state_;
};

// One sequence's cache: its blocks in position order and how many positions hold K/V, and its
// recurrent-state slot when the pool has them (taken at construction, given back at destruction).
class SequenceCache {
 public:
  // Throws CacheFull when the pool has state slots and none is free.
  SequenceCache(BlockPool& pool, int64_t max_blocks);
  ~SequenceCache();
  SequenceCache(const SequenceCache&) = delete;
  SequenceCache& operator=(const SequenceCache&) = delete;

  int64_t length() const { return length_; }
  int64_t capacity() const;  // positions the sequence may ever hold (max_blocks * block_size)
  // Makes room for `n` more positions (taking blocks as needed) and returns their cache slots
  // (block * block_size + offset). Throws ContextOverflow or CacheFull, leaving the sequence as it was.
  std::vector<int32_t> append(int64_t n);
  // The same for slots.size() positions, writing their slots into `slots`: allocates nothing (the
  // block list is reserved at construction), for the per-step path.
  void append(std::span<int32_t> slots);
  // Forgets positions from `new_length` on (e.g. rejected draft tokens); frees whole unused blocks.
  void truncate(int64_t new_length);
  // The block-table row: the sequence's blocks, padded with -1 to max_blocks.
  void fill_block_row(int32_t* row) const;

  // The slot holding the recurrent state after position length() - 1; -1 without recurrent state.
  int32_t state_slot() const { return state_slot_; }
  // Makes `slot` (taken from the pool, e.g. the scratch slot a verify step wrote the state after an
  // accepted token into) the sequence's state slot and returns the previous one to the caller, who
  // gives it back to the pool. Accepting drafted tokens is this swap: no state is copied or re-run.
  int32_t exchange_state_slot(int32_t slot);

 private:
  BlockPool& pool_;
  int64_t max_blocks_;
  int64_t length_ = 0;
  std::vector<int32_t> blocks_;
  int32_t state_slot_ = -1;
};

}  // namespace vkllm::engine
