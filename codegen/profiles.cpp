#include "codegen/profiles.h"

#include <fmt/format.h>

#include <stdexcept>

namespace vkllm::codegen {
namespace {

TargetCaps caps(std::string name, uint32_t subgroup, bool size_control, bool fp16, bool int8, bool storage8,
                bool dot, bool coopmat, uint32_t shared_bytes, uint32_t push_bytes, bool subgroup_ops = true) {
  TargetCaps c;
  c.name = std::move(name);
  c.subgroup_size = subgroup;
  c.subgroup_size_control = size_control;
  c.subgroup_arithmetic = subgroup_ops;
  c.subgroup_shuffle = subgroup_ops;
  c.float16_arithmetic = fp16;
  c.int8_arithmetic = int8;
  c.storage_16bit = true;  // a requirement of vkllm (runtime/device.h)
  c.storage_8bit = storage8;
  c.integer_dot_product = dot;
  c.cooperative_matrix_nv = coopmat;
  c.max_workgroup_invocations = 1024;
  c.max_shared_memory_bytes = shared_bytes;
  c.max_push_constant_bytes = push_bytes;
  return c;
}

}  // namespace

const std::vector<TargetProfile>& target_profiles() {
  // Values as the drivers report them (vulkaninfo / `vkllm doctor`).
  static const std::vector<TargetProfile> table = {
      {"generic", "any Vulkan 1.2 device vkllm accepts: no subgroup operations, no fp16/int8 arithmetic",
       caps("generic", 32, false, false, false, false, false, false, 16384, 128, false)},
      {"lavapipe", "Mesa llvmpipe (CPU), 256-bit: subgroup 8",
       caps("lavapipe", 8, true, true, true, true, true, false, 32768, 128)},
      {"nvidia-h100", "NVIDIA Hopper (H100/H200), proprietary driver: subgroup 32, VK_NV_cooperative_matrix",
       caps("nvidia-h100", 32, true, true, true, true, true, true, 49152, 256)},
      {"nvidia-ada", "NVIDIA Ada (RTX 40xx, L4, L40), proprietary driver: subgroup 32, VK_NV_cooperative_matrix",
       caps("nvidia-ada", 32, true, true, true, true, true, true, 49152, 256)},
      {"amd-rdna3", "AMD RDNA3 (RADV): wave64 compute, no cooperative matrix through the NV extension",
       caps("amd-rdna3", 64, true, true, true, true, true, false, 65536, 128)},
  };
  return table;
}

TargetCaps target_profile(std::string_view name) {
  std::string known;
  for (const TargetProfile& p : target_profiles()) {
    if (p.name == name) return p.caps;
    known += fmt::format("{}{}", known.empty() ? "" : ", ", p.name);
  }
  throw std::invalid_argument(fmt::format("unknown target profile '{}' (known: {})", name, known));
}

std::vector<std::string> missing_features(const TargetCaps& want, const TargetCaps& have) {
  std::vector<std::string> missing;
  auto feature = [&](bool wanted, bool present, const char* what) {
    if (wanted && !present) missing.emplace_back(what);
  };
  feature(want.storage_16bit, have.storage_16bit, "16-bit storage buffer access (storageBuffer16BitAccess)");
  feature(want.storage_8bit, have.storage_8bit, "8-bit storage buffer access (storageBuffer8BitAccess)");
  feature(want.float16_arithmetic, have.float16_arithmetic, "fp16 arithmetic (shaderFloat16)");
  feature(want.int8_arithmetic, have.int8_arithmetic, "int8 arithmetic (shaderInt8)");
  feature(want.integer_dot_product, have.integer_dot_product, "integer dot product (VK_KHR_shader_integer_dot_product)");
  feature(want.cooperative_matrix_nv, have.cooperative_matrix_nv,
          "cooperative matrix fp16 16x16x16 (VK_NV_cooperative_matrix)");
  feature(want.subgroup_arithmetic, have.subgroup_arithmetic, "subgroup arithmetic in compute shaders");
  feature(want.subgroup_shuffle, have.subgroup_shuffle, "subgroup shuffle in compute shaders");
  // Kernels are specialized for one subgroup size: the device must run it natively or be able to
  // require it per pipeline (the runtime then checks the supported range when creating pipelines).
  if (want.subgroup_arithmetic && want.subgroup_size != have.subgroup_size && !have.subgroup_size_control)
    missing.push_back(fmt::format("subgroup size {} (the device runs {} and cannot require another: "
                                  "VK_EXT_subgroup_size_control)", want.subgroup_size, have.subgroup_size));
  auto limit = [&](uint32_t wanted, uint32_t present, const char* what) {
    if (wanted > present) missing.push_back(fmt::format("{} of {} (the device has {})", what, wanted, present));
  };
  limit(want.max_workgroup_invocations, have.max_workgroup_invocations, "workgroups");
  limit(want.max_shared_memory_bytes, have.max_shared_memory_bytes, "shared memory bytes");
  limit(want.max_push_constant_bytes, have.max_push_constant_bytes, "push constant bytes");
  return missing;
}

}  // namespace vkllm::codegen
