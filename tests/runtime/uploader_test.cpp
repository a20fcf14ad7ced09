// runtime::Uploader: many uploads of odd sizes (1 byte up to several staging buffers) into fresh and
// shared buffers read back bit-exact, whichever staging buffer and thread split they went through;
// overflowing ranges are errors that queue nothing; parallel_copy splits exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/error.h"
#include "runtime/uploader.h"
#include "tests/runtime/device_fixture.h"

namespace vkllm::runtime_test {
namespace {

using runtime::Buffer;
using runtime::MemoryKind;
using runtime::Uploader;

class UploaderTest : public DeviceTest {
 protected:
  // A device buffer whose every byte is 0xCD, so an upload that did not arrive cannot pass.
  Buffer poisoned(uint64_t bytes) {
    Buffer b = device().allocator().create(bytes, MemoryKind::DeviceLocal, "test buffer");
    device().submit_and_wait([&](VkCommandBuffer cmd) { vkCmdFillBuffer(cmd, b.handle(), 0, VK_WHOLE_SIZE, 0xCDCDCDCDu); });
    return b;
  }
  std::vector<uint8_t> read(const Buffer& b, uint64_t offset, uint64_t bytes) {
    std::vector<uint8_t> out(bytes);
    device().download(b, offset, out.data(), bytes);
    return out;
  }
};

std::vector<uint8_t> random_bytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

TEST_F(UploaderTest, OddSizesStraddlingStagingBuffersArriveBitExact) {
  std::mt19937_64 rng(7);
  constexpr uint64_t kStaging = 4096;
  Uploader up(device(), {.staging_bytes = kStaging, .staging_buffers = 2, .copy_threads = 4});
  // 1 byte .. several staging buffers; sizes around the staging size and its multiples.
  const std::vector<uint64_t> sizes = {1, 3, 4095, 4096, 4097, 64, 7, 3 * kStaging + 5, 2, 8191, 100, 1, 12000, 4033};
  std::vector<Buffer> targets;
  std::vector<std::vector<uint8_t>> sent;
  uint64_t total = 0;
  for (uint64_t n : sizes) {
    targets.push_back(poisoned((n + 3) / 4 * 4));
    sent.push_back(random_bytes(rng, n));
    up.enqueue(targets.back(), 0, sent.back().data(), n);
    total += n;
  }
  // Pieces at offsets into one shared buffer, the source freed right after each enqueue.
  Buffer shared = poisoned(20000);
  std::vector<uint8_t> expected_shared(20000, 0xCD);
  for (uint64_t offset : {0ull, 1ull, 4999ull, 13001ull}) {
    std::vector<uint8_t> piece = random_bytes(rng, 3001 + offset % 7);
    std::memcpy(expected_shared.data() + offset, piece.data(), piece.size());
    up.enqueue(shared, offset, piece.data(), piece.size());
    total += piece.size();
  }
  up.flush();

  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(read(targets[i], 0, sizes[i]), sent[i]) << "upload " << i << " of " << sizes[i] << " bytes";
    // Bytes past the upload keep the poison: nothing was written beyond the range.
    const uint64_t padded = targets[i].size();
    if (padded > sizes[i]) {
      EXPECT_EQ(read(targets[i], sizes[i], padded - sizes[i]), std::vector<uint8_t>(padded - sizes[i], 0xCD));
    }
  }
  EXPECT_EQ(read(shared, 0, shared.size()), expected_shared);
  EXPECT_EQ(up.stats().bytes, total);
  EXPECT_GE(up.stats().submissions, total / kStaging);  // staging buffers were reused, waited for
}

TEST_F(UploaderTest, LargeTensorsSplitAcrossThreadsAndStagingBuffers) {
  std::mt19937_64 rng(8);
  // Staging buffers above the parallel-copy threshold, so pieces are split across threads.
  Uploader up(device(), {.staging_bytes = 3ull << 20, .staging_buffers = 3, .copy_threads = 4});
  const std::vector<uint64_t> sizes = {(8ull << 20) + 5, 17, (2ull << 20) + 4093};
  std::vector<Buffer> targets;
  std::vector<std::vector<uint8_t>> sent;
  for (uint64_t n : sizes) {
    targets.push_back(poisoned((n + 3) / 4 * 4));
    sent.push_back(random_bytes(rng, n));
    up.enqueue(targets.back(), 0, sent.back().data(), n);
  }
  up.flush();
  for (size_t i = 0; i < sizes.size(); ++i) EXPECT_TRUE(read(targets[i], 0, sizes[i]) == sent[i]) << "upload " << i;
  EXPECT_GE(up.stats().submissions, 4u);
}

TEST_F(UploaderTest, OverflowIsAnErrorAndQueuesNothing) {
  Uploader up(device(), {.staging_bytes = 4096, .staging_buffers = 2, .copy_threads = 1});
  Buffer b = poisoned(100);
  const std::vector<uint8_t> bytes(101, 7);
  try {
    up.enqueue(b, 0, bytes.data(), 101);
    FAIL() << "expected an error";
  } catch (const runtime::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "upload of 101 bytes at offset 0 overflows a buffer of 100 bytes");
  }
  EXPECT_THROW(up.enqueue(b, 90, bytes.data(), 11), runtime::RuntimeError);
  EXPECT_THROW(up.enqueue(b, 101, bytes.data(), 0), runtime::RuntimeError);
  up.enqueue(b, 90, bytes.data(), 10);  // the last ten bytes exactly
  up.flush();
  EXPECT_EQ(up.stats().bytes, 10u);
  std::vector<uint8_t> expected(100, 0xCD);
  std::fill(expected.begin() + 90, expected.end(), 7);
  EXPECT_EQ(read(b, 0, 100), expected);
}

TEST_F(UploaderTest, DestroyedWithCopiesInFlightWaitsForThem) {
  std::mt19937_64 rng(9);
  Buffer b = poisoned(64 * 1024);
  const std::vector<uint8_t> bytes = random_bytes(rng, b.size());
  {
    Uploader up(device(), {.staging_bytes = 4096, .staging_buffers = 3, .copy_threads = 2});
    up.enqueue(b, 0, bytes.data(), bytes.size());  // the earlier staging buffers are submitted, the last staged
  }  // the validation layer flags staging memory freed while the GPU reads it
  Uploader again(device(), {});
  again.enqueue(b, 0, bytes.data(), bytes.size());
  again.flush();
  EXPECT_EQ(read(b, 0, b.size()), bytes);
}

TEST(ParallelCopy, SplitsExactlyAtAnyAlignment) {
  std::mt19937_64 rng(10);
  const std::vector<uint8_t> src = random_bytes(rng, (5ull << 20) + 13);
  for (unsigned threads : {1u, 2u, 3u, 4u}) {
    for (size_t shift : {0u, 1u, 7u}) {
      const size_t n = src.size() - shift;
      std::vector<uint8_t> dst(src.size() + 2, 0xCD);
      runtime::parallel_copy(dst.data() + 1, src.data() + shift, n, threads);
      EXPECT_EQ(dst.front(), 0xCD);
      EXPECT_TRUE(std::equal(src.begin() + static_cast<std::ptrdiff_t>(shift), src.end(), dst.begin() + 1))
          << threads << " threads, shift " << shift;
      EXPECT_TRUE(std::all_of(dst.begin() + 1 + static_cast<std::ptrdiff_t>(n), dst.end(), [](uint8_t b) { return b == 0xCD; }));
    }
  }
}

}  // namespace
}  // namespace vkllm::runtime_test
