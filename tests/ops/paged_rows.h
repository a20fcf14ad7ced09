// Rows of paged-attention test cases (a sequence and a position each) and the block tables they
// need, shared by the split (decode) and tiled (prefill) attention cases.
#pragma once

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/ops/op_harness.h"

namespace vkllm::ops_test {

struct PagedRow {
  int seq, pos;  // pos < 0: a padding row
};

// Block table [sequences, width] and cache block count: every block some row sees (from
// first_visible(pos) to pos) gets a cache block, taken in a shuffled order (`seed`) of all ids so a
// sequence's blocks are scattered, plus `spare` blocks no row reads; blocks no row sees (those wholly
// before a sliding window included) are -1. Rows of a sequence past the table are skipped
// (`skip_unknown`) or an error.
struct PagedTable {
  int64_t width = 1, blocks = 0;
  std::vector<int> ids;
};
template <typename FirstVisible>
PagedTable scattered_block_table(const std::string& name, const std::vector<std::vector<PagedRow>>& runs,
                                 int64_t sequences, int64_t block_size, FirstVisible first_visible,
                                 bool skip_unknown, int64_t spare, uint64_t seed) {
  std::map<int, std::pair<int64_t, int64_t>> span;  // sequence -> first and last block any row sees
  PagedTable t;
  for (const std::vector<PagedRow>& run : runs)
    for (const PagedRow& r : run) {
      if (r.pos < 0) continue;
      if (r.seq < 0 || r.seq >= sequences) {
        if (skip_unknown) continue;
        throw std::logic_error(name + ": row of no sequence");
      }
      const int64_t first = first_visible(r.pos) / block_size, last = r.pos / block_size;
      auto [it, added] = span.emplace(r.seq, std::pair{first, last});
      if (!added) it->second = {std::min(it->second.first, first), std::max(it->second.second, last)};
      t.width = std::max(t.width, last + 1);
    }
  for (const auto& [seq, blocks] : span) t.blocks += blocks.second - blocks.first + 1;
  t.blocks += spare;
  std::vector<int> order(static_cast<size_t>(t.blocks));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  t.ids.assign(static_cast<size_t>(sequences * t.width), -1);
  size_t next = 0;
  for (const auto& [seq, blocks] : span)
    for (int64_t b = blocks.first; b <= blocks.second; ++b) t.ids[static_cast<size_t>(seq * t.width + b)] = order[next++];
  return t;
}

// The block table input: `ids` row-major.
inline TensorFn block_table_input(std::vector<int> ids) {
  return [ids](ir::DType, const std::vector<int64_t>& shape, const ir::SymbolBindings&, std::mt19937_64&) {
    ir::HostTensor tensor = ir::HostTensor::zeros(ir::DType::I32, shape);
    for (size_t i = 0; i < ids.size(); ++i) tensor.set(static_cast<int64_t>(i), ids[i]);
    return tensor;
  };
}

// An i32[rows] input: `field` of each row of the run with that many rows.
inline TensorFn per_row_field(const std::string& name, const std::vector<std::vector<PagedRow>>& runs,
                              int (*field)(const PagedRow&)) {
  return [name, runs, field](ir::DType, const std::vector<int64_t>& shape, const ir::SymbolBindings&,
                             std::mt19937_64&) {
    for (const std::vector<PagedRow>& run : runs) {
      if (static_cast<int64_t>(run.size()) != shape[0]) continue;
      ir::HostTensor t = ir::HostTensor::zeros(ir::DType::I32, shape);
      for (size_t i = 0; i < run.size(); ++i) t.set(static_cast<int64_t>(i), field(run[i]));
      return t;
    }
    throw std::logic_error(name + ": no run has this many rows");
  };
}

}  // namespace vkllm::ops_test
