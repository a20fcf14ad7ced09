// Shared by the runtime tests: one Device per test binary, and a fixture that fails a test when the
// validation layer (enabled by ctest through VKLLM_VALIDATION) reported errors during it.
// Fixtures that need a differently configured device override device().
#pragma once
#include <gtest/gtest.h>

#include "runtime/device.h"

namespace vkllm::runtime_test {

inline runtime::Device& shared_device() {
  static runtime::Device device;
  return device;
}

class DeviceTest : public ::testing::Test {
 protected:
  void SetUp() override { errors_before_ = device().instance().validation_errors(); }
  void TearDown() override {
    EXPECT_EQ(device().instance().validation_errors(), errors_before_) << "the Vulkan validation layer reported errors";
  }
  virtual runtime::Device& device() { return shared_device(); }

 private:
  size_t errors_before_ = 0;
};

}  // namespace vkllm::runtime_test
