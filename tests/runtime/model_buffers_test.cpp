// ModelBuffers' weight uploads: weights the mapped source holds go from its bytes to the device
// without a HostTensor (the WeightFn is never asked for them), the rest through the WeightFn; each
// weight is uploaded once; uploads are batched and complete at finish_uploads(); a mapped view of
// the wrong size is an error naming the weight.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <map>
#include <random>
#include <stdexcept>

#include "runtime/error.h"
#include "runtime/model_buffers.h"
#include "tests/runtime/device_fixture.h"

namespace vkllm::runtime_test {
namespace {

using runtime::ModelBuffers;

class ModelBuffersTest : public DeviceTest {};

ir::Type f16_matrix(int64_t rows, int64_t cols) {
  return ir::Type{ir::DType::F16, {ir::Dim::of(rows), ir::Dim::of(cols)}};
}

std::vector<uint8_t> device_bytes(runtime::Device& device, const runtime::Buffer& b, size_t bytes) {
  std::vector<uint8_t> out(bytes, 0xCD);
  device.download(b, 0, out.data(), bytes);
  return out;
}

TEST_F(ModelBuffersTest, MappedWeightsUploadWithoutTheWeightFn) {
  std::mt19937_64 rng(5);
  const ir::Type type = f16_matrix(6, 10);  // 120 bytes: not a multiple of the 4-byte buffer rounding
  const ir::HostTensor mapped = ir::HostTensor::random(ir::DType::F16, {6, 10}, rng);
  const ir::HostTensor copied = ir::HostTensor::random(ir::DType::F16, {6, 10}, rng);
  ModelBuffers buffers(device());
  int mapped_asks = 0;
  buffers.set_mapped_weights([&](const std::string& name, const ir::Type& t) -> std::optional<std::span<const uint8_t>> {
    ++mapped_asks;
    EXPECT_EQ(t, type);
    if (name != "in_mapping") return std::nullopt;
    return std::span<const uint8_t>(mapped.bytes);
  });
  std::vector<std::string> weight_fn_asks;
  const ir::WeightFn weight_fn = [&](const std::string& name, const ir::Type&) {
    weight_fn_asks.push_back(name);
    return copied;
  };

  const runtime::Buffer& a = buffers.weight("in_mapping", type, weight_fn);
  buffers.finish_uploads();
  EXPECT_EQ(device_bytes(device(), a, mapped.bytes.size()), mapped.bytes);
  EXPECT_TRUE(weight_fn_asks.empty()) << "a mapped weight was copied through the WeightFn";
  EXPECT_EQ(buffers.weight_uploads().mapped, 1);
  EXPECT_EQ(buffers.weight_uploads().copied, 0);

  const runtime::Buffer& b = buffers.weight("elsewhere", type, weight_fn);
  buffers.finish_uploads();
  EXPECT_EQ(device_bytes(device(), b, copied.bytes.size()), copied.bytes);
  EXPECT_EQ(weight_fn_asks, std::vector<std::string>{"elsewhere"});
  EXPECT_EQ(buffers.weight_uploads().mapped, 1);
  EXPECT_EQ(buffers.weight_uploads().copied, 1);

  // Asked again (another graph of the model): the same buffer, nothing uploaded again.
  const int asks = mapped_asks;
  EXPECT_EQ(&buffers.weight("in_mapping", type, weight_fn), &a);
  EXPECT_EQ(mapped_asks, asks);
  EXPECT_EQ(buffers.weight_uploads().mapped, 1);
}

TEST_F(ModelBuffersTest, AMappedViewOfTheWrongSizeIsAnError) {
  const std::vector<uint8_t> short_bytes(100, 1);
  ModelBuffers buffers(device());
  buffers.set_mapped_weights([&](const std::string&, const ir::Type&) -> std::optional<std::span<const uint8_t>> {
    return std::span<const uint8_t>(short_bytes);
  });
  try {
    buffers.weight("w.0", f16_matrix(6, 10), {});
    FAIL() << "expected an error";
  } catch (const runtime::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("weight 'w.0': expected f16[6, 10] (120 bytes), the mapped weights hold 100 bytes"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(buffers.weight_uploads().mapped, 0);
}

// Many weights of odd sizes, mapped and copied, batched into shared submissions: each arrives bit-exact
// once finish_uploads() returns, and the batching really happened (fewer submissions than weights).
TEST_F(ModelBuffersTest, BatchedWeightUploadsArriveBitExact) {
  std::mt19937_64 rng(11);
  ModelBuffers buffers(device());
  std::map<std::string, ir::HostTensor> data;
  for (int64_t i = 0; i < 24; ++i) {
    const int64_t cols = 1 + (i * 37) % 301;  // odd byte counts: 2 * cols
    data.emplace(fmt::format("w.{}", i), ir::HostTensor::random(ir::DType::F16, {1, cols}, rng));
  }
  buffers.set_mapped_weights([&](const std::string& name, const ir::Type&) -> std::optional<std::span<const uint8_t>> {
    if (std::stoi(name.substr(2)) % 2) return std::nullopt;  // odd ones go through the WeightFn
    return std::span<const uint8_t>(data.at(name).bytes);
  });
  const ir::WeightFn weight_fn = [&](const std::string& name, const ir::Type&) { return data.at(name); };
  std::map<std::string, const runtime::Buffer*> placed;
  for (const auto& [name, t] : data) placed[name] = &buffers.weight(name, f16_matrix(1, t.shape[1]), weight_fn);
  buffers.finish_uploads();
  for (const auto& [name, t] : data)
    EXPECT_EQ(device_bytes(device(), *placed[name], t.bytes.size()), t.bytes) << name;
  EXPECT_EQ(buffers.weight_uploads().mapped, 12);
  EXPECT_EQ(buffers.weight_uploads().copied, 12);
  uint64_t total = 0;
  for (const auto& [name, t] : data) total += t.bytes.size();
  EXPECT_EQ(buffers.weight_uploads().bytes, total);
  EXPECT_EQ(buffers.weight_uploads().submissions, 1u) << "small weights should share one staging buffer";
}

}  // namespace
}  // namespace vkllm::runtime_test
