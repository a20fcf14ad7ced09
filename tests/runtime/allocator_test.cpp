// The allocator (suballocation, reuse, dedicated allocations, error messages) and staging
// uploads/downloads, on a device whose blocks are 1 MiB so that small tests exercise block sharing.
#include "runtime/allocator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "runtime/error.h"
#include "tests/runtime/device_fixture.h"

namespace vkllm::runtime_test {
namespace {

using runtime::Buffer;
using runtime::MemoryKind;

constexpr uint64_t kBlockBytes = 1ull << 20;

class AllocatorTest : public DeviceTest {
 protected:
  runtime::Device& device() override {
    static runtime::Device small_blocks(runtime::Device::Options{"", kBlockBytes});
    return small_blocks;
  }
  runtime::Allocator& allocator() { return device().allocator(); }
  std::mt19937_64 rng{20240611};

  std::vector<uint8_t> random_bytes(size_t n) {
    std::vector<uint8_t> out(n);
    std::uniform_int_distribution<int> byte(0, 255);
    for (uint8_t& b : out) b = static_cast<uint8_t>(byte(rng));
    return out;
  }
  std::string error_of(uint64_t bytes) {
    try {
      allocator().create(bytes, MemoryKind::DeviceLocal, "test tensor 'huge'");
    } catch (const runtime::OutOfDeviceMemory& e) {
      return e.what();
    }
    return "no error";
  }
};

TEST_F(AllocatorTest, SuballocationsDoNotOverlapAndKeepTheirData) {
  std::uniform_int_distribution<uint64_t> size(1, 96 << 10);
  std::vector<Buffer> buffers;
  for (int i = 0; i < 24; ++i) buffers.push_back(allocator().create(size(rng), MemoryKind::DeviceLocal, "test"));

  size_t sharing = 0;
  for (size_t i = 0; i < buffers.size(); ++i) {
    EXPECT_FALSE(buffers[i].dedicated());
    EXPECT_NE(buffers[i].address(), 0u);
    for (size_t j = i + 1; j < buffers.size(); ++j) {
      const Buffer &a = buffers[i], &b = buffers[j];
      EXPECT_TRUE(a.address() + a.size() <= b.address() || b.address() + b.size() <= a.address())
          << "device address ranges of buffers " << i << " and " << j << " overlap";
      if (a.memory() != b.memory()) continue;
      ++sharing;
      EXPECT_TRUE(a.memory_offset() + a.size() <= b.memory_offset() ||
                  b.memory_offset() + b.size() <= a.memory_offset())
          << "buffers " << i << " and " << j << " overlap in their block";
    }
  }
  EXPECT_GT(sharing, 0u) << "small buffers should share blocks";
  EXPECT_GT(allocator().block_count(), 1u) << "24 buffers of up to 96 KiB do not fit one 1 MiB block";

  std::vector<std::vector<uint8_t>> data;
  for (const Buffer& b : buffers) {
    data.push_back(random_bytes(b.size()));
    device().upload(b, 0, data.back().data(), b.size());
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    std::vector<uint8_t> back(buffers[i].size());
    device().download(buffers[i], 0, back.data(), back.size());
    EXPECT_EQ(back, data[i]) << "buffer " << i;
  }
}

TEST_F(AllocatorTest, FreedSpaceIsReused) {
  const uint64_t in_use_before = allocator().bytes_in_use(MemoryKind::DeviceLocal);
  Buffer keep = allocator().create(64 << 10, MemoryKind::DeviceLocal, "keep");
  Buffer first = allocator().create(64 << 10, MemoryKind::DeviceLocal, "first");
  const VkDeviceMemory memory = first.memory();
  const uint64_t offset = first.memory_offset();
  first = Buffer();
  Buffer again = allocator().create(64 << 10, MemoryKind::DeviceLocal, "again");
  EXPECT_EQ(again.memory(), memory);
  EXPECT_EQ(again.memory_offset(), offset);
  again = Buffer();
  keep = Buffer();
  EXPECT_EQ(allocator().bytes_in_use(MemoryKind::DeviceLocal), in_use_before);
}

TEST_F(AllocatorTest, AdjacentFreeRangesMerge) {
  std::vector<Buffer> row;
  for (int i = 0; i < 4; ++i) row.push_back(allocator().create(100 << 10, MemoryKind::DeviceLocal, "row"));
  for (int i = 1; i < 4; ++i) ASSERT_EQ(row[i].memory(), row[0].memory()) << "expected one block for 400 KiB";
  const uint64_t second = row[1].memory_offset();
  row[1] = Buffer();
  row[2] = Buffer();
  // Only the two freed neighbours together hold 200 KiB before the end of what is in use.
  Buffer both = allocator().create(200 << 10, MemoryKind::DeviceLocal, "merged");
  EXPECT_EQ(both.memory(), row[0].memory());
  EXPECT_EQ(both.memory_offset(), second);
}

TEST_F(AllocatorTest, LargeBuffersGetTheirOwnAllocation) {
  const uint64_t reserved_before = allocator().bytes_reserved(MemoryKind::DeviceLocal);
  {
    Buffer big = allocator().create(3 * kBlockBytes, MemoryKind::DeviceLocal, "big");
    EXPECT_TRUE(big.dedicated());
    EXPECT_GE(allocator().bytes_reserved(MemoryKind::DeviceLocal), reserved_before + 3 * kBlockBytes);
    const std::vector<uint8_t> data = random_bytes(big.size());
    device().upload(big, 0, data.data(), data.size());
    std::vector<uint8_t> back(data.size());
    device().download(big, 0, back.data(), back.size());
    EXPECT_EQ(back, data);
  }
  EXPECT_EQ(allocator().bytes_reserved(MemoryKind::DeviceLocal), reserved_before);
}

TEST_F(AllocatorTest, HostKindsAreMappedAndUsableByTheDevice) {
  Buffer device_local = allocator().create(4096, MemoryKind::DeviceLocal, "d");
  EXPECT_EQ(device_local.mapped(), nullptr);
  for (MemoryKind kind : {MemoryKind::HostUpload, MemoryKind::HostReadback}) {
    Buffer host = allocator().create(4096, kind, "h");
    ASSERT_NE(host.mapped(), nullptr);
    const std::vector<uint8_t> data = random_bytes(4096);
    std::memcpy(host.mapped(), data.data(), data.size());
    std::vector<uint8_t> back(4096);
    device().download(host, 0, back.data(), back.size());
    EXPECT_EQ(back, data);
  }
}

TEST_F(AllocatorTest, OversizedRequestsSayHowMuchAndWhatTheLimitIs) {
  const runtime::DeviceInfo& info = device().info();
  const uint64_t max_buffer = info.max_buffer_size ? info.max_buffer_size : info.max_memory_allocation_size;
  const std::string too_big = error_of(64ull << 30);
  EXPECT_NE(too_big.find("test tensor 'huge'"), std::string::npos) << too_big;
  EXPECT_NE(too_big.find("68719476736 bytes (64.00 GiB)"), std::string::npos) << too_big;
  if (max_buffer < (64ull << 30)) {
    EXPECT_NE(too_big.find(std::to_string(max_buffer)), std::string::npos) << too_big;
  }

  if (info.max_memory_allocation_size < max_buffer) {
    const uint64_t over = info.max_memory_allocation_size + 4096;
    const std::string over_allocation = error_of(over);
    EXPECT_NE(over_allocation.find(std::to_string(over) + " bytes"), std::string::npos) << over_allocation;
    EXPECT_NE(over_allocation.find("maxMemoryAllocationSize " + std::to_string(info.max_memory_allocation_size)),
              std::string::npos)
        << over_allocation;
  }
  EXPECT_THROW(allocator().create(0, MemoryKind::DeviceLocal, "empty"), runtime::RuntimeError);
}

TEST_F(AllocatorTest, UploadAndDownloadAtOddOffsets) {
  Buffer buffer = allocator().create(300001, MemoryKind::DeviceLocal, "odd");
  const std::vector<uint8_t> base = random_bytes(buffer.size());
  device().upload(buffer, 0, base.data(), base.size());
  const std::vector<uint8_t> patch = random_bytes(123457);
  device().upload(buffer, 1001, patch.data(), patch.size());

  std::vector<uint8_t> expected = base;
  std::copy(patch.begin(), patch.end(), expected.begin() + 1001);
  std::vector<uint8_t> whole(buffer.size());
  device().download(buffer, 0, whole.data(), whole.size());
  EXPECT_EQ(whole, expected);
  std::vector<uint8_t> part(777);
  device().download(buffer, 99999, part.data(), part.size());
  EXPECT_TRUE(std::equal(part.begin(), part.end(), expected.begin() + 99999));

  EXPECT_THROW(device().upload(buffer, buffer.size() - 10, patch.data(), 11), runtime::RuntimeError);
  EXPECT_THROW(device().download(buffer, buffer.size() + 1, part.data(), 0), runtime::RuntimeError);
}

}  // namespace
}  // namespace vkllm::runtime_test
