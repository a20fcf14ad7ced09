// Device selection (pure, over made-up device lists, and on the real loader), feature probing and
// the TargetCaps derived from it.
#include "runtime/device.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "runtime/error.h"
#include "tests/runtime/device_fixture.h"

namespace vkllm::runtime_test {
namespace {

using runtime::DeviceInfo;
using runtime::DeviceType;

DeviceInfo fake(uint32_t index, std::string name, DeviceType type, bool usable = true) {
  DeviceInfo d;
  d.index = index;
  d.name = std::move(name);
  d.type = type;
  d.api_version = VK_API_VERSION_1_3;
  d.has_compute_queue = true;
  d.buffer_device_address = usable;
  d.storage_buffer_16bit = true;
  d.shader_int64 = true;
  return d;
}

std::string error_of(const std::vector<DeviceInfo>& devices, std::string_view selector) {
  try {
    runtime::choose_device(devices, selector);
  } catch (const runtime::RuntimeError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ChooseDevice, PrefersDiscreteThenIntegratedThenVirtualThenCpu) {
  std::vector<DeviceInfo> devices = {fake(0, "llvmpipe", DeviceType::Cpu), fake(1, "Intel UHD", DeviceType::Integrated),
                                     fake(2, "NVIDIA RTX", DeviceType::Discrete),
                                     fake(3, "virtio", DeviceType::Virtual)};
  auto choice = runtime::choose_device(devices, "");
  EXPECT_EQ(choice.index, 2u);
  EXPECT_NE(choice.reason.find("discrete GPU"), std::string::npos) << choice.reason;
  devices.erase(devices.begin() + 2);
  EXPECT_EQ(devices[runtime::choose_device(devices, "").index].name, "Intel UHD");
  devices.erase(devices.begin() + 1);
  EXPECT_EQ(devices[runtime::choose_device(devices, "").index].name, "virtio");
  devices.pop_back();
  choice = runtime::choose_device(devices, "");
  EXPECT_EQ(choice.index, 0u);
  EXPECT_NE(choice.reason.find("only usable device"), std::string::npos) << choice.reason;
  EXPECT_NE(choice.reason.find("CPU driver"), std::string::npos) << choice.reason;
}

TEST(ChooseDevice, SkipsUnusableDevices) {
  const std::vector<DeviceInfo> devices = {fake(0, "Old GPU", DeviceType::Discrete, false),
                                           fake(1, "llvmpipe", DeviceType::Cpu)};
  EXPECT_EQ(runtime::choose_device(devices, "").index, 1u);
}

TEST(ChooseDevice, ByIndexOverridesPreference) {
  const std::vector<DeviceInfo> devices = {fake(0, "llvmpipe", DeviceType::Cpu),
                                           fake(1, "Radeon", DeviceType::Discrete)};
  const auto choice = runtime::choose_device(devices, "0");
  EXPECT_EQ(choice.index, 0u);
  EXPECT_NE(choice.reason.find("index"), std::string::npos) << choice.reason;
}

TEST(ChooseDevice, ByCaseInsensitiveNameSubstring) {
  const std::vector<DeviceInfo> devices = {
      fake(0, "llvmpipe (LLVM 15)", DeviceType::Cpu), fake(1, "NVIDIA GeForce RTX 3060 Laptop", DeviceType::Integrated),
      fake(2, "NVIDIA GeForce RTX 4090", DeviceType::Discrete), fake(3, "AMD Radeon RX 7900", DeviceType::Discrete)};
  EXPECT_EQ(runtime::choose_device(devices, "LLVMPIPE").index, 0u);
  EXPECT_EQ(runtime::choose_device(devices, "radeon").index, 3u);
  EXPECT_EQ(runtime::choose_device(devices, "rtx 3060").index, 1u);
  // Several matches: the most capable one.
  EXPECT_EQ(runtime::choose_device(devices, "nvidia").index, 2u);
}

TEST(ChooseDevice, BadSelectorsListTheDevices) {
  const std::vector<DeviceInfo> devices = {fake(0, "llvmpipe", DeviceType::Cpu),
                                           fake(1, "Radeon", DeviceType::Discrete)};
  const std::string bad_index = error_of(devices, "7");
  EXPECT_NE(bad_index.find("no device 7"), std::string::npos) << bad_index;
  const std::string bad_name = error_of(devices, "geforce");
  EXPECT_NE(bad_name.find("'geforce' matches no device"), std::string::npos) << bad_name;
  for (const std::string& message : {bad_index, bad_name}) {
    EXPECT_NE(message.find("[0] llvmpipe"), std::string::npos) << message;
    EXPECT_NE(message.find("[1] Radeon"), std::string::npos) << message;
  }
}

TEST(ChooseDevice, SelectingAnUnusableDeviceSaysWhatIsMissing) {
  DeviceInfo old = fake(0, "Old GPU", DeviceType::Discrete);
  old.shader_int64 = false;
  old.storage_buffer_16bit = false;
  const std::vector<DeviceInfo> devices = {old, fake(1, "llvmpipe", DeviceType::Cpu)};
  for (const char* selector : {"0", "old"}) {
    const std::string message = error_of(devices, selector);
    EXPECT_NE(message.find("cannot run vkllm"), std::string::npos) << message;
    EXPECT_NE(message.find("storageBuffer16BitAccess, shaderInt64"), std::string::npos) << message;
  }
}

TEST(ChooseDevice, NoDeviceIsAnActionableError) {
  const std::string none = error_of({}, "");
  EXPECT_NE(none.find("mesa-vulkan-drivers"), std::string::npos) << none;
  EXPECT_NE(none.find("VK_DRIVER_FILES"), std::string::npos) << none;
  const std::string unusable = error_of({fake(0, "Old GPU", DeviceType::Discrete, false)}, "");
  EXPECT_NE(unusable.find("no Vulkan device can run vkllm"), std::string::npos) << unusable;
  EXPECT_NE(unusable.find("missing bufferDeviceAddress"), std::string::npos) << unusable;
}

TEST(DeviceInfo, MissingRequirements) {
  DeviceInfo d = fake(0, "x", DeviceType::Discrete);
  EXPECT_TRUE(d.usable());
  d.api_version = VK_MAKE_API_VERSION(0, 1, 1, 130);
  ASSERT_EQ(d.missing_requirements().size(), 1u);
  EXPECT_EQ(d.missing_requirements()[0], "Vulkan 1.2 (the driver offers 1.1.130)");
  d = fake(0, "x", DeviceType::Discrete, false);
  d.has_compute_queue = false;
  EXPECT_EQ(d.missing_requirements(), (std::vector<std::string>{"a compute queue", "bufferDeviceAddress"}));
}

TEST(DeviceSelector, FlagWinsOverEnvironment) {
  ASSERT_EQ(setenv("VKLLM_DEVICE", "1", 1), 0);
  EXPECT_EQ(runtime::effective_device_selector("radeon"), "radeon");
  EXPECT_EQ(runtime::effective_device_selector(""), "1");
  ASSERT_EQ(unsetenv("VKLLM_DEVICE"), 0);
  EXPECT_EQ(runtime::effective_device_selector(""), "");
}

TEST(TargetCaps, CooperativeMatrixNeedsTheF16ShapeWithF32AccumulationAndTheVulkanMemoryModel) {
  DeviceInfo d = fake(0, "x", DeviceType::Discrete);
  d.cooperative_matrix_nv = true;
  d.cooperative_matrix_shapes = {{16, 8, 16, "f16", "f16", "f16", "f16"}, {16, 16, 16, "f16", "f16", "f16", "f16"}};
  EXPECT_FALSE(runtime::target_caps(d).cooperative_matrix_nv);
  d.cooperative_matrix_shapes.push_back({16, 16, 16, "f16", "f16", "f32", "f32"});
  EXPECT_FALSE(runtime::target_caps(d).cooperative_matrix_nv) << "its shaders need the Vulkan memory model";
  d.vulkan_memory_model = true;
  ::unsetenv("VKLLM_F16_MATMUL");
  ::unsetenv("VKLLM_COOPMAT");
  EXPECT_TRUE(runtime::target_caps(d).cooperative_matrix_nv) << "tensor-core prefill is on by default";
  EXPECT_EQ(runtime::target_caps(d).cooperative_matrix_kernel, "split") << "with the f32-faithful kernel";
  ::setenv("VKLLM_COOPMAT", "f16", 1);
  EXPECT_TRUE(runtime::target_caps(d).cooperative_matrix_nv);
  EXPECT_EQ(runtime::target_caps(d).cooperative_matrix_kernel, "f16");
  ::unsetenv("VKLLM_COOPMAT");
  ::setenv("VKLLM_F16_MATMUL", "1", 1);
  EXPECT_TRUE(runtime::target_caps(d).cooperative_matrix_nv);
  EXPECT_EQ(runtime::target_caps(d).cooperative_matrix_kernel, "f16") << "f16-rounding matmuls are opt-in";
  ::setenv("VKLLM_COOPMAT", "split:64x32", 1);
  EXPECT_EQ(runtime::target_caps(d).cooperative_matrix_kernel, "split:64x32") << "VKLLM_COOPMAT wins";
  ::setenv("VKLLM_COOPMAT", "0", 1);
  EXPECT_FALSE(runtime::target_caps(d).cooperative_matrix_nv) << "VKLLM_COOPMAT=0 turns the tensor cores off";
  ::unsetenv("VKLLM_COOPMAT");
  ::unsetenv("VKLLM_F16_MATMUL");
}

TEST(TargetCaps, SubgroupOperationsNeedComputeSupport) {
  DeviceInfo d = fake(0, "x", DeviceType::Discrete);
  d.subgroup_operations = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
  d.subgroups_in_compute = false;
  EXPECT_FALSE(runtime::target_caps(d).subgroup_arithmetic);
  d.subgroups_in_compute = true;
  EXPECT_TRUE(runtime::target_caps(d).subgroup_arithmetic);
  EXPECT_FALSE(runtime::target_caps(d).subgroup_shuffle);
}

// ---- On the real loader ----

const DeviceInfo* find_lavapipe(const runtime::Instance& instance) {
  for (const DeviceInfo& d : instance.devices())
    if (d.driver_name == "llvmpipe") return &d;
  return nullptr;
}

TEST(Probe, LavapipeReportsWhatVkllmNeeds) {
  runtime::Instance instance;
  ASSERT_FALSE(instance.devices().empty());
  const DeviceInfo* lvp = find_lavapipe(instance);
  if (!lvp) GTEST_SKIP() << "lavapipe is not installed";
  EXPECT_EQ(lvp->type, DeviceType::Cpu);
  EXPECT_EQ(lvp->vendor, "Mesa");
  EXPECT_TRUE(lvp->usable()) << lvp->missing_requirements().size();
  EXPECT_TRUE(lvp->buffer_device_address);
  EXPECT_TRUE(lvp->storage_buffer_16bit);
  EXPECT_TRUE(lvp->shader_int64);
  EXPECT_GE(lvp->api_version, VK_API_VERSION_1_2);
  EXPECT_GT(lvp->subgroup_size, 0u);
  EXPECT_LE(lvp->min_subgroup_size, lvp->subgroup_size);
  EXPECT_GE(lvp->max_subgroup_size, lvp->subgroup_size);
  EXPECT_TRUE(lvp->subgroups_in_compute);
  EXPECT_TRUE(lvp->subgroup_operations & VK_SUBGROUP_FEATURE_BASIC_BIT);
  EXPECT_TRUE(lvp->has_compute_queue);
  EXPECT_GT(lvp->timestamp_valid_bits, 0u);
  EXPECT_GT(lvp->timestamp_period_ns, 0.0f);
  EXPECT_EQ(lvp->max_storage_buffer_range, 128ull << 20);
  EXPECT_GT(lvp->max_memory_allocation_size, lvp->max_storage_buffer_range);
  EXPECT_GE(lvp->max_push_constants_size, 128u);
  EXPECT_GE(lvp->max_compute_shared_memory_size, 16384u);
  EXPECT_GE(lvp->max_workgroup_invocations, 128u);
  EXPECT_GE(lvp->max_workgroup_count[0], 65535u);
  ASSERT_FALSE(lvp->memory_heaps.empty());
  EXPECT_TRUE(std::any_of(lvp->memory_heaps.begin(), lvp->memory_heaps.end(),
                          [](const runtime::MemoryHeap& h) { return h.device_local && h.size > 0; }));
  EXPECT_TRUE(lvp->has_extension("VK_KHR_shader_integer_dot_product") || lvp->api_version >= VK_API_VERSION_1_3);
  EXPECT_FALSE(lvp->driver_info.empty());
}

TEST(Probe, NoDriverIsAnActionableError) {
  // The loader reads VK_DRIVER_FILES on every instance creation: point it at nothing.
  ASSERT_EQ(setenv("VK_DRIVER_FILES", "/nonexistent/vkllm_test_icd.json", 1), 0);
  std::string message = "no error";
  try {
    runtime::Instance instance;
    runtime::choose_device(instance.devices(), "");
  } catch (const runtime::RuntimeError& e) {
    message = e.what();
  }
  ASSERT_EQ(unsetenv("VK_DRIVER_FILES"), 0);
  EXPECT_NE(message.find("mesa-vulkan-drivers"), std::string::npos) << message;
  EXPECT_NE(message.find("VK_DRIVER_FILES"), std::string::npos) << message;
}

TEST(OpenDevice, ByIndexAndByNameAndBadSelector) {
  runtime::Instance instance;
  const DeviceInfo* lvp = find_lavapipe(instance);
  if (!lvp) GTEST_SKIP() << "lavapipe is not installed";
  {
    runtime::Device by_index(runtime::Device::Options{std::to_string(lvp->index)});
    EXPECT_EQ(by_index.info().name, lvp->name);
    EXPECT_EQ(by_index.info().index, lvp->index);
  }
  {
    std::string upper = "LLVMPIPE";
    runtime::Device by_name(runtime::Device::Options{upper});
    EXPECT_EQ(by_name.info().name, lvp->name);
    EXPECT_NE(by_name.selection_reason().find("name"), std::string::npos);
  }
  try {
    runtime::Device bad(runtime::Device::Options{"no-such-gpu-anywhere"});
    FAIL() << "a selector matching nothing must fail";
  } catch (const runtime::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find(lvp->name), std::string::npos) << e.what();
  }
}

class DeviceCaps : public DeviceTest {};

TEST_F(DeviceCaps, TargetCapsFollowTheProbedDevice) {
  const DeviceInfo& info = device().info();
  const codegen::TargetCaps caps = device().target_caps();
  EXPECT_EQ(caps.name, info.name);
  EXPECT_EQ(caps.subgroup_size, info.subgroup_size);
  EXPECT_EQ(caps.storage_16bit, info.storage_buffer_16bit);
  EXPECT_EQ(caps.float16_arithmetic, info.shader_float16);
  EXPECT_EQ(caps.max_push_constant_bytes, info.max_push_constants_size);
  EXPECT_EQ(caps.max_shared_memory_bytes, info.max_compute_shared_memory_size);
  EXPECT_EQ(caps.max_workgroup_invocations, info.max_workgroup_invocations);
  EXPECT_EQ(caps.subgroup_size_control, info.subgroup_size_control);
}

}  // namespace
}  // namespace vkllm::runtime_test
