// Pipelines from codegen::Kernel: buffer device addresses beyond maxStorageBufferRange, device
// limits reported as errors, required subgroup sizes, pipeline statistics.
#include "runtime/pipeline.h"

#include <gtest/gtest.h>

#include <cstring>

#include "codegen/glsl_compiler.h"
#include "runtime/error.h"
#include "tests/runtime/device_fixture.h"

namespace vkllm::runtime_test {
namespace {

using runtime::Buffer;
using runtime::MemoryKind;

constexpr const char* kPrologue = R"(#version 460
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
layout(buffer_reference, std430) readonly buffer Params { uint sym[]; };
layout(buffer_reference, std430) buffer U32Buf { uint v[]; };
)";

// Writes (pass 0) or checks and inverts (pass 1) word i = i * 2654435761 + 12345 for i < sym[0];
// every invocation strides over the whole buffer.
constexpr const char* kPatternKernel = R"(
layout(local_size_x = 256) in;
layout(push_constant) uniform Args { Params params; U32Buf data; U32Buf errors; } args;
void main() {
  uint n = args.params.sym[0], pass_index = args.params.sym[1];
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  uint mismatches = 0u;
  for (uint i = gl_GlobalInvocationID.x; i < n; i += stride) {
    uint want = i * 2654435761u + 12345u;
    if (pass_index == 0u) {
      args.data.v[i] = want;
    } else {
      if (args.data.v[i] != want) mismatches += 1u;
      args.data.v[i] = ~want;
    }
  }
  if (mismatches != 0u) atomicAdd(args.errors.v[0], mismatches);
}
)";

codegen::Kernel kernel(const std::string& name, const std::string& body, uint32_t local_size, size_t args) {
  codegen::Kernel k;
  k.name = name;
  k.glsl = kPrologue + body;
  k.spirv = codegen::compile_glsl(k.glsl);
  k.local_size = {local_size, 1, 1};
  k.args.push_back({"params", false});
  for (size_t i = 1; i < args; ++i) k.args.push_back({"a" + std::to_string(i), true});
  return k;
}

void dispatch(runtime::Device& device, const runtime::Pipeline& pipeline, const std::vector<VkDeviceAddress>& args,
              uint32_t groups) {
  device.submit_and_wait([&](VkCommandBuffer cmd) {
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.handle());
    vkCmdPushConstants(cmd, pipeline.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, pipeline.push_constant_bytes(),
                       args.data());
    vkCmdDispatch(cmd, groups, 1, 1);
  });
}

class PipelineTest : public DeviceTest {};

TEST_F(PipelineTest, KernelReachesEveryWordOfABufferLargerThanMaxStorageBufferRange) {
  const runtime::DeviceInfo& info = device().info();
  const uint64_t bytes = info.max_storage_buffer_range + (16ull << 20);
  if (bytes > info.max_memory_allocation_size || (info.max_buffer_size && bytes > info.max_buffer_size) ||
      bytes / 4 > 0xffffffffull)
    GTEST_SKIP() << "maxStorageBufferRange is not the binding limit on this device";
  const uint32_t words = static_cast<uint32_t>(bytes / 4);

  Buffer data = device().allocator().create(bytes, MemoryKind::DeviceLocal, "large");
  Buffer errors = device().allocator().create(4, MemoryKind::DeviceLocal, "errors");
  Buffer params = device().allocator().create(8, MemoryKind::HostUpload, "params");
  const uint32_t zero = 0;
  device().upload(errors, 0, &zero, 4);
  const runtime::Pipeline pipeline(device(), kernel("pattern", kPatternKernel, 256, 3));

  auto* sym = static_cast<uint32_t*>(params.mapped());
  for (uint32_t pass = 0; pass < 2; ++pass) {
    sym[0] = words;
    sym[1] = pass;
    dispatch(device(), pipeline, {params.address(), data.address(), errors.address()}, 1024);
  }
  uint32_t mismatches = 1;
  device().download(errors, 0, &mismatches, 4);
  EXPECT_EQ(mismatches, 0u) << "the kernel read back words it did not write";

  std::vector<uint32_t> back(words);
  device().download(data, 0, back.data(), bytes);
  uint64_t wrong = 0, first_wrong = words;
  for (uint32_t i = 0; i < words; ++i)
    if (back[i] != ~(i * 2654435761u + 12345u)) {
      if (!wrong) first_wrong = i;
      ++wrong;
    }
  EXPECT_EQ(wrong, 0u) << "first wrong word " << first_wrong << " of " << words;
}

TEST_F(PipelineTest, DeviceLimitsAreErrorsNamingTheKernel) {
  const runtime::DeviceInfo& info = device().info();
  auto message = [&](const codegen::Kernel& k) -> std::string {
    try {
      runtime::Pipeline p(device(), k);
    } catch (const runtime::RuntimeError& e) {
      return e.what();
    }
    return "no error";
  };
  codegen::Kernel wide = kernel("wide_kernel", kPatternKernel, 256, 3);
  wide.local_size = {info.max_workgroup_invocations * 2, 1, 1};
  EXPECT_NE(message(wide).find("kernel 'wide_kernel'"), std::string::npos) << message(wide);

  codegen::Kernel many = kernel("many_args", kPatternKernel, 256, 3);
  while (many.args.size() * 8 <= info.max_push_constants_size) many.args.push_back({"extra", false});
  EXPECT_NE(message(many).find("bytes of push constants"), std::string::npos) << message(many);

  codegen::Kernel garbage = kernel("garbage", kPatternKernel, 256, 3);
  garbage.spirv = {1, 2, 3};
  EXPECT_NE(message(garbage).find("SPIR-V"), std::string::npos) << message(garbage);

  codegen::Kernel odd_subgroup = kernel("odd_subgroup", kPatternKernel, 256, 3);
  odd_subgroup.required_subgroup_size = 3;
  EXPECT_NE(message(odd_subgroup).find("subgroup size 3"), std::string::npos) << message(odd_subgroup);
}

TEST_F(PipelineTest, RequiredSubgroupSizeIsHonoured) {
  const runtime::DeviceInfo& info = device().info();
  if (!info.subgroup_size_control) GTEST_SKIP() << "no subgroup size control on this device";
  const std::string source = R"(#version 460
#extension GL_EXT_buffer_reference : require
#extension GL_KHR_shader_subgroup_basic : require
layout(local_size_x = 64) in;
layout(buffer_reference, std430) buffer U32Buf { uint v[]; };
layout(push_constant) uniform Args { U32Buf params; U32Buf out_; } args;
void main() { if (gl_GlobalInvocationID.x == 0u) args.out_.v[0] = gl_SubgroupSize; }
)";
  Buffer out = device().allocator().create(4, MemoryKind::DeviceLocal, "out");
  for (uint32_t size = info.min_subgroup_size; size <= info.max_subgroup_size; size *= 2) {
    codegen::Kernel k;
    k.name = "subgroup_size";
    k.glsl = source;
    k.spirv = codegen::compile_glsl(source);
    k.local_size = {64, 1, 1};
    k.args = {{"params", false}, {"out", true}};
    k.required_subgroup_size = size;
    const runtime::Pipeline pipeline(device(), k);
    dispatch(device(), pipeline, {out.address(), out.address()}, 1);
    uint32_t reported = 0;
    device().download(out, 0, &reported, 4);
    EXPECT_EQ(reported, size);
  }
}

TEST_F(PipelineTest, StatisticsOrAClearError) {
  const codegen::Kernel k = kernel("pattern", kPatternKernel, 256, 3);
  if (!device().info().pipeline_executable_properties) {
    EXPECT_THROW(runtime::Pipeline(device(), k, true), runtime::RuntimeError);
    const runtime::Pipeline plain(device(), k);
    try {
      runtime::pipeline_statistics(device(), plain);
      FAIL() << "statistics without VK_KHR_pipeline_executable_properties";
    } catch (const runtime::RuntimeError& e) {
      EXPECT_NE(std::string(e.what()).find("VK_KHR_pipeline_executable_properties"), std::string::npos) << e.what();
    }
    return;
  }
  const runtime::Pipeline pipeline(device(), k, true);
  const auto executables = runtime::pipeline_statistics(device(), pipeline);
  ASSERT_FALSE(executables.empty());
  EXPECT_FALSE(executables[0].name.empty());
  EXPECT_FALSE(executables[0].statistics.empty());
}

}  // namespace
}  // namespace vkllm::runtime_test
