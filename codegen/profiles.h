// Named TargetCaps profiles, so a model can be compiled for a device that is not present
// (`vkllm compile --target PROFILE`), and the check that a device can run what was compiled for a
// profile or another device. One table: codegen/profiles.cpp.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "codegen/target.h"

namespace vkllm::codegen {

struct TargetProfile {
  std::string_view name;
  std::string_view description;
  TargetCaps caps;  // caps.name == name
};

// Every profile, in table order.
const std::vector<TargetProfile>& target_profiles();
// The caps of profile `name`; throws std::invalid_argument listing the profiles when there is none.
TargetCaps target_profile(std::string_view name);

// What kernels compiled for `compiled_for` assume and `device` lacks, one readable line per missing
// feature ("16-bit storage buffer access (storageBuffer16BitAccess)", "subgroup size 32 (the device
// runs 8 and cannot require another)", ...). Empty: the device runs them.
std::vector<std::string> missing_features(const TargetCaps& compiled_for, const TargetCaps& device);

}  // namespace vkllm::codegen
