// The device's memory bandwidth as `vkllm bench` measures it, the ceiling its per-kernel table is
// read against: a read kernel (every invocation loads 16 bytes per step of a grid-stride loop and
// folds them into one word, stored only when impossible so nothing is optimized away) and a copy
// kernel (16-byte loads and stores), each over a buffer far larger than any cache, timed with the
// runtime's own timestamps. The best of a few runs is the peak.
#include "cli/bench_peak.h"

#include <algorithm>

#include "codegen/glsl_compiler.h"
#include "runtime/graph_executor.h"

namespace vkllm::cli {
namespace {

constexpr const char* kShaderHead = R"(#version 460
#extension GL_EXT_buffer_reference : require
layout(local_size_x = 256) in;
layout(buffer_reference, std430) readonly buffer Params { uint sym[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer Wide { uvec4 v[]; };
)";

// Workgroups of 256 invocations (a grid of about one per 1024 units, so each invocation makes about
// four steps) stride over `units` 16-byte units.
constexpr const char* kRead = R"(
layout(push_constant) uniform Args { Params params; Wide src; Wide dst; } args;
void main() {
  uint units = $UNITS, stride = gl_NumWorkGroups.x * gl_NumWorkGroups.y * 256u;
  uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * 256u + gl_LocalInvocationID.x;
  uvec4 acc = uvec4(0u);
  for (; i < units; i += stride) acc ^= args.src.v[i];
  if (acc.x == 0x9e3779b9u && acc.y == 0x7f4a7c15u) args.dst.v[0] = acc;
}
)";
constexpr const char* kCopy = R"(
layout(push_constant) uniform Args { Params params; Wide src; Wide dst; } args;
void main() {
  uint units = $UNITS, stride = gl_NumWorkGroups.x * gl_NumWorkGroups.y * 256u;
  uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * 256u + gl_LocalInvocationID.x;
  for (; i < units; i += stride) args.dst.v[i] = args.src.v[i];
}
)";

codegen::Kernel kernel(const std::string& name, const char* body, uint64_t units) {
  codegen::Kernel k;
  k.name = name;
  std::string source = std::string(kShaderHead) + body;
  source.replace(source.find("$UNITS"), 6, std::to_string(units) + "u");
  k.glsl = source;
  k.spirv = codegen::compile_glsl(k.glsl);
  k.local_size = {256, 1, 1};
  k.args = {{"params", false}, {"src", false}, {"dst", true}};
  const int64_t groups = std::max<int64_t>(1, static_cast<int64_t>(units / 1024));
  k.grid[0] = codegen::GridDim{std::min<int64_t>(groups, 65535), {}, 1};
  k.grid[1] = codegen::GridDim{(groups + 65534) / 65535, {}, 1};
  return k;
}

}  // namespace

PeakBandwidth measure_peak_bandwidth(runtime::Device& device, uint64_t bytes) {
  const uint64_t units = bytes / 16;
  ir::Builder b("peak_bandwidth");
  const ir::Type type{ir::DType::F32, {ir::Dim::of(static_cast<int64_t>(units * 4))}};
  // The source is left as fill_activations wrote it: its constant op gets no dispatch here.
  const ir::ValueId src = b.constant(1.0, type);
  const ir::ValueId read_out = b.scale(src, 1.0);
  const ir::ValueId copy_out = b.scale(src, 1.0);
  b.output(read_out);
  b.output(copy_out);
  codegen::CompiledGraph g;
  g.graph = b.finish();
  g.storage_of.resize(g.graph.values.size());
  for (size_t v = 0; v < g.storage_of.size(); ++v) g.storage_of[v] = static_cast<ir::ValueId>(v);
  codegen::Dispatch read{1, kernel("peak_read", kRead, units), {src, read_out}};
  codegen::Dispatch copy{2, kernel("peak_copy", kCopy, units), {src, copy_out}};
  g.dispatches = {read, copy};

  runtime::GraphExecutor executor(device, std::move(g), {}, [](const std::string&, const ir::Type&) {
    return ir::HostTensor{};
  });
  executor.fill_activations(0x3f800000u);
  executor.set_profiling(true);
  PeakBandwidth peak;
  for (int run = 0; run < 5; ++run) {
    executor.run({});
    const std::vector<runtime::KernelTiming> t = executor.last_timings();
    if (t.size() != 2 || t[0].microseconds <= 0 || t[1].microseconds <= 0) continue;
    peak.read_gb_s = std::max(peak.read_gb_s, static_cast<double>(bytes) / t[0].microseconds / 1e3);
    peak.copy_gb_s = std::max(peak.copy_gb_s, 2.0 * static_cast<double>(bytes) / t[1].microseconds / 1e3);
  }
  return peak;
}

}  // namespace vkllm::cli
