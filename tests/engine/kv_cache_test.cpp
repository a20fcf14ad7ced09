// Host-side paged KV cache bookkeeping.
#include <gtest/gtest.h>

#include <set>

#include "engine/kv_cache.h"

using namespace vkllm::engine;

TEST(KvCache, SlotsFollowTheSequencesBlocks) {
  BlockPool pool(6, 4);
  SequenceCache a(pool, 3), b(pool, 3);
  std::vector<int32_t> sa = a.append(5), sb = b.append(2);
  std::vector<int32_t> more = a.append(2);
  sa.insert(sa.end(), more.begin(), more.end());
  ASSERT_EQ(a.length(), 7);
  std::vector<int32_t> row(3);
  a.fill_block_row(row.data());
  for (int p = 0; p < 7; ++p) EXPECT_EQ(sa[p], row[p / 4] * 4 + p % 4) << p;  // slot = block * size + offset
  EXPECT_EQ(row[2], -1);
  std::set<int32_t> all(sa.begin(), sa.end());
  for (int32_t s : sb) EXPECT_FALSE(all.count(s)) << "sequences never share a slot";
  EXPECT_EQ(pool.free_blocks(), 6 - 2 - 1);
}

TEST(KvCache, OverflowAndFullAreErrorsThatChangeNothing) {
  BlockPool pool(3, 4);
  SequenceCache a(pool, 2);
  a.append(6);
  EXPECT_THROW(a.append(3), ContextOverflow);  // 9 > 2 blocks * 4
  EXPECT_EQ(a.length(), 6);
  SequenceCache b(pool, 2);
  b.append(4);
  EXPECT_THROW(b.append(1), CacheFull);  // needs a 4th block
  EXPECT_EQ(b.length(), 4);
  EXPECT_EQ(pool.free_blocks(), 0);
  try {
    a.append(100);
    FAIL();
  } catch (const ContextOverflow& e) {
    EXPECT_NE(std::string(e.what()).find("maximum context of 8"), std::string::npos) << e.what();
  }
}

TEST(KvCache, TruncateAndDestructionReturnBlocks) {
  BlockPool pool(4, 2);
  {
    SequenceCache a(pool, 4);
    a.append(7);
    EXPECT_EQ(pool.free_blocks(), 0);
    a.truncate(3);
    EXPECT_EQ(pool.free_blocks(), 2);
    EXPECT_EQ(a.append(1)[0] % 2, 1);  // position 3 continues in the second block
  }
  EXPECT_EQ(pool.free_blocks(), 4);
}
