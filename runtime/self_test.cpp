#include "runtime/self_test.h"

#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "codegen/glsl_compiler.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/pipeline.h"

namespace vkllm::runtime {

namespace {

constexpr uint32_t kElements = 1000;
constexpr uint32_t kOffset = 7;

// out[i] = in[i] * 3 + sym[0] for i < sym[1].
constexpr const char* kSource = R"(#version 460
#extension GL_EXT_buffer_reference : require
layout(local_size_x = 64) in;
layout(buffer_reference, std430) readonly buffer Params { uint sym[]; };
layout(buffer_reference, std430) readonly buffer InBuf { uint v[]; };
layout(buffer_reference, std430) writeonly buffer OutBuf { uint v[]; };
layout(push_constant) uniform Args { Params params; InBuf in_; OutBuf out_; } args;
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < args.params.sym[1]) args.out_.v[i] = args.in_.v[i] * 3u + args.params.sym[0];
}
)";

}  // namespace

void self_test(Device& device) {
  codegen::Kernel kernel;
  kernel.name = "vkllm_self_test";
  kernel.glsl = kSource;
  kernel.spirv = codegen::compile_glsl(kernel.glsl);
  kernel.local_size = {64, 1, 1};
  kernel.args = {{"params", false}, {"in", false}, {"out", true}};
  const Pipeline pipeline(device, kernel);

  Allocator& allocator = device.allocator();
  Buffer params = allocator.create(8, MemoryKind::HostUpload, "self-test parameters");
  Buffer in = allocator.create(4 * kElements, MemoryKind::DeviceLocal, "self-test input");
  Buffer out = allocator.create(4 * kElements, MemoryKind::DeviceLocal, "self-test output");
  std::vector<uint32_t> data(kElements);
  for (uint32_t i = 0; i < kElements; ++i) data[i] = i * 2654435761u;
  device.upload(in, 0, data.data(), 4 * kElements);
  const uint32_t sym[2] = {kOffset, kElements};
  std::memcpy(params.mapped(), sym, sizeof sym);

  device.submit_and_wait([&](VkCommandBuffer cmd) {
    vkCmdFillBuffer(cmd, out.handle(), 0, VK_WHOLE_SIZE, 0xdeadbeefu);
    VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    barrier.dstAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier, 0,
                         nullptr, 0, nullptr);
    const VkDeviceAddress addresses[3] = {params.address(), in.address(), out.address()};
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.handle());
    vkCmdPushConstants(cmd, pipeline.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, pipeline.push_constant_bytes(),
                       addresses);
    vkCmdDispatch(cmd, (kElements + 63) / 64, 1, 1);
  });
  std::vector<uint32_t> result(kElements);
  device.download(out, 0, result.data(), 4 * kElements);
  for (uint32_t i = 0; i < kElements; ++i) {
    const uint32_t want = data[i] * 3u + kOffset;
    if (result[i] != want)
      throw RuntimeError(
          fmt::format("self-test on '{}': element {} is 0x{:08x}, expected 0x{:08x}; the driver ({} {}) "
                      "computes wrong results: update it or choose another device",
                      device.info().name, i, result[i], want, device.info().driver_name, device.info().driver_info));
  }
}

}  // namespace vkllm::runtime
