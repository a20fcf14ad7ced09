// StopMatcher: text arriving in pieces, stop strings across piece boundaries, held-back prefixes.
#include <gtest/gtest.h>

#include "server/generation.h"

using vkllm::server::StopMatcher;

TEST(StopMatcher, WithoutStopStringsEverythingPassesAtOnce) {
  StopMatcher m({});
  EXPECT_EQ(m.push("hello "), "hello ");
  EXPECT_EQ(m.push("world"), "world");
  EXPECT_EQ(m.flush(), "");
  EXPECT_FALSE(m.matched());
}

TEST(StopMatcher, HoldsBackAPossibleStartAndCutsAMatchSpanningPieces) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.push("abc E"), "abc ");  // "E" may start "END"
  EXPECT_EQ(m.push("N"), "");          // "EN" still may
  EXPECT_EQ(m.push("Dxyz"), "");       // "END" matched: nothing after it is shown
  ASSERT_TRUE(m.matched());
  EXPECT_EQ(*m.matched(), "END");
  EXPECT_EQ(m.push("more"), "");
}

TEST(StopMatcher, ReleasesHeldTextThatTurnsOutNotToBeAStop) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.push("xE"), "x");
  EXPECT_EQ(m.push("Ny"), "ENy");
  EXPECT_EQ(m.push("EN"), "");
  EXPECT_EQ(m.flush(), "EN");
  EXPECT_FALSE(m.matched());
}

TEST(StopMatcher, TheEarliestOfSeveralStopsWinsAndTextBeforeItIsKept) {
  StopMatcher m({"world", "lo w"});
  EXPECT_EQ(m.push("hello world"), "hel");
  EXPECT_EQ(*m.matched(), "lo w");
}

TEST(StopMatcher, MultiByteStopStringsHoldBackWholeCharacters) {
  StopMatcher m({"\xC3\xA9t\xC3\xA9"});  // "été"
  EXPECT_EQ(m.push("un \xC3\xA9"), "un ");
  EXPECT_EQ(m.push("t"), "");
  EXPECT_EQ(m.push("\xC3\xA9!"), "");
  EXPECT_TRUE(m.matched());
}
