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

TEST(KvCache, StateSlotsGoOnePerSequenceAndComeBack) {
  BlockPool plain(4, 2);
  EXPECT_EQ(SequenceCache(plain, 2).state_slot(), -1);  // no recurrent layers: no slot

  BlockPool pool(4, 2, 3);
  {
    SequenceCache a(pool, 2), b(pool, 2);
    EXPECT_GE(a.state_slot(), 0);
    EXPECT_GE(b.state_slot(), 0);
    EXPECT_NE(a.state_slot(), b.state_slot());
    EXPECT_EQ(pool.free_state_slots(), 1);
    // A verify scratch slot becomes a's state; a's old slot goes back to the pool.
    const int32_t scratch = pool.take_state_slot();
    EXPECT_THROW(pool.take_state_slot(), CacheFull);
    EXPECT_THROW({ SequenceCache c(pool, 2); }, CacheFull);
    const int32_t old = a.exchange_state_slot(scratch);
    EXPECT_EQ(a.state_slot(), scratch);
    pool.give_back_state_slot(old);
    EXPECT_EQ(pool.free_state_slots(), 1);
    EXPECT_THROW(a.exchange_state_slot(3), std::invalid_argument);
    EXPECT_THROW(pool.give_back_state_slot(-1), std::invalid_argument);
  }
  EXPECT_EQ(pool.free_state_slots(), 3);
}

TEST(KvCache, AppendIntoACallersBufferGivesTheSameSlots) {
  BlockPool pool_a(8, 4), pool_b(8, 4);
  SequenceCache a(pool_a, 4), b(pool_b, 4);
  std::vector<int32_t> want = a.append(3), more = a.append(6);
  want.insert(want.end(), more.begin(), more.end());
  std::vector<int32_t> got(9, -7);
  b.append(std::span(got).first(3));
  b.append(std::span(got).subspan(3));
  EXPECT_EQ(got, want);
  EXPECT_EQ(b.length(), 9);
  std::vector<int32_t> too_many(8, -7);
  EXPECT_THROW(b.append(std::span(too_many)), ContextOverflow);  // 17 > 4 blocks * 4
  EXPECT_EQ(b.length(), 9);
  EXPECT_EQ(too_many, std::vector<int32_t>(8, -7)) << "a failed append writes no slot";
}
