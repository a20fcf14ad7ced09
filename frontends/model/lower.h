// Lowers a model (ModelSpec) to IR: one forward graph that runs any mix of prefill chunks and decode
// steps of several sequences over a paged KV cache. Compiled with different bounds for its row
// symbol, the same graph is the chunked prefill graph and the decode graph.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "frontends/model/model_spec.h"
#include "ir/ir.h"

namespace vkllm::frontends {

struct CacheLayout {
  int64_t block_size = 16;        // KV rows per cache block
  int64_t num_blocks = 64;        // blocks in the cache, shared by all sequences
  int64_t max_seqs = 1;           // rows of the block table: sequences in one step
  int64_t max_blocks_per_seq = 8; // block-table width: a sequence's context is at most this * block_size
  ir::DType kv_dtype = ir::DType::F16;
  // Recurrent-state slots of Gated DeltaNet layers: one per sequence in flight, plus scratch slots
  // a speculative verify step stores intermediate states into.
  int64_t state_slots = 1;
  // Recent tokens the sample op's penalties see per row (H of sample_history; llama.cpp's repeat_last_n).
  int64_t sample_history = 64;
  int64_t max_context() const { return block_size * max_blocks_per_seq; }
};

// Graph interface (names are stable: the runtime and the tests bind by name).
//   inputs   tokens:i32[tokens]   token id of each row
//            pos:i32[tokens]      its position in its sequence
//            slots:i32[tokens]    KV cache slot (block * block_size + offset) its K/V go to
//            row_seq:i32[tokens]  its sequence's row in block_table
//            block_table:i32[max_seqs, max_blocks_per_seq]
//            out_rows:i32[rows]   rows whose logits are wanted (prefill: each sequence's last row)
//            sample_params:f32[rows, 8], sample_rng:i32[rows, 2], sample_history:i32[rows, sample_history]
//                                 how each wanted row's next token is chosen: the `sample` op's params,
//                                 draw key and recent token ids (-1 padded); ir/README.md "sample"
//            state_src:i32[tokens], state_dst:i32[tokens]  (only with Gated DeltaNet layers) the
//                                 recurrent-state slot row t starts from (>= 0; -2: zeros, a new
//                                 sequence; -1: the state after row t-1) and the slot its state is
//                                 stored into (>= 0) or not (-1); rules in ir/README.md
//   state    k_cache.N, v_cache.N : kv_dtype[num_blocks, block_size, kv_heads, head_dim] (attention layers)
//            gdn_state.N f32[state_slots, v_heads, k_head_dim, v_head_dim],
//            conv_state.N f32[state_slots, conv_kernel - 1, conv_channels]      (Gated DeltaNet layers)
//   outputs  next_token:i32[rows] (the sampled token), next_score:f32[rows] (its log-probability under
//            the row's sampling), and logits:f32[rows, vocab] when `with_logits`
inline constexpr const char* kRowsSymbol = "tokens";
inline constexpr const char* kOutRowsSymbol = "rows";

// `weight_dtype(name)` gives each checkpoint tensor's storage dtype.
ir::Graph build_forward_graph(const ModelSpec& spec, const CacheLayout& cache,
                              const std::function<ir::DType(const std::string&)>& weight_dtype,
                              bool with_logits, const std::string& graph_name = "forward");

}  // namespace vkllm::frontends
