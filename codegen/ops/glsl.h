// GLSL shared by every emitter: the shader prologue (buffer types, push constants, per-argument
// load/store helpers by dtype, conversions, math), workgroup reductions, the work-item layout over
// the grid, and small formatting helpers. Emitters write only what is specific to their op.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "codegen/ops/emitter.h"

namespace vkllm::codegen::ops {

// Replaces every `$name` (letters, digits, '_') in `tmpl` with vars.at(name). GLSL never uses '$',
// so templates stay readable without escaping braces.
std::string render(std::string_view tmpl, const std::map<std::string, std::string>& vars);

// GLSL literals: "1.500000000e+00" (inf and nan as bit patterns), "64u".
std::string glsl_float(double v);
std::string glsl_uint(int64_t v);

// The complete shader for `plan`: version and extensions, local size, buffer reference types,
// the push-constant block (`args.params` then one reference per plan.arg_names entry), for each
// argument NAME `ld_NAME(uint i)` (float, or int for i32) and, for results and an operand written in
// place (ir::in_place_writes), `st_NAME(uint i, v)` (rounding to its dtype), then plan.body.
// Also always defines: f32_to_f16_bits, f32_to_bf16_bits, tanh_stable, erf_approx, order_key,
// sigmoid_f, gelu_erf, gelu_tanh.
std::string assemble_shader(const EmitContext& ctx, const KernelPlan& plan);

// Workgroup-wide reductions over `local_size` invocations (a power of two), every invocation
// receiving the result: `float wg_sum(float)`, `float wg_max(float)` and
// `void wg_argmax(inout uint key, inout int i)` (larger order_key wins, ties to the lower index).
// Subgroup arithmetic plus shared memory when caps allow it, a shared-memory tree otherwise.
std::string workgroup_reductions(const TargetCaps& caps, uint32_t local_size);

// `float wg_sum_lanes(float v[count])`: sums each of `count` (<= local_size) values over the
// workgroup; invocation j receives the total of v[j] (other invocations get 0).
std::string workgroup_lane_sums(const TargetCaps& caps, uint32_t local_size, uint32_t count);

// Independent work items: the row-major product of dims [begin, end) of `shape`, `per_group` of them
// per workgroup. `glsl` declares `uint item_begin, item_end` (this workgroup's items, in row-major
// order) and returns early from workgroups past the end, so it must open main(). Grid axes stay
// within the 65535 workgroups Vulkan guarantees: constant counts are split over x and y, symbolic
// counts keep the trailing constant block on x and the rest on y.
struct ItemLayout {
  std::array<GridDim, 3> grid;
  std::string glsl;
};
ItemLayout item_layout(const EmitContext& ctx, const ir::Shape& shape, size_t begin, size_t end, int64_t per_group);

// Invocations per workgroup for a loop over `n` elements: a power of two, at least the subgroup
// size, at most `max` (and the device limit).
uint32_t local_size_for(const EmitContext& ctx, const ir::Dim& n, uint32_t max);

// "<op>_<input dtypes>_<dims of input 0>" plus `extra` when given, e.g. "rms_norm_f32_bf16_seqx64".
std::string kernel_name(const EmitContext& ctx, const std::string& extra = {});

// Constant value of a dim that the op needs constant; fails naming `what` otherwise.
int64_t const_dim(const EmitContext& ctx, const ir::Dim& d, const std::string& what);

}  // namespace vkllm::codegen::ops
