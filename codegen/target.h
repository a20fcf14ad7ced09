// What a kernel generator may assume about the device it compiles for. Filled by the runtime from
// probed features, or read from a named device profile so one can compile for a GPU not present.
#pragma once
#include <cstdint>
#include <string>

namespace vkllm::codegen {

// How the matrix-vector (decode) kernels are generated (codegen/ops/matmul_quantized.cpp). Zero means
// "chosen by the generator" (registers and grid size). Defaults per device: codegen/profiles.cpp
// (apply_tuning); VKLLM_TUNE overrides them (docs/CLI.md). Kernel names carry the values used.
struct MatvecTuning {
  int rows = 0;    // weight rows per row group (a workgroup, or a subgroup when subgroup_rows)
  int local = 0;   // invocations per workgroup
  int units = 1;   // lane units a lane loads before computing any (loads in flight per lane)
  bool subgroup_rows = false;  // each subgroup owns its own rows (no shared memory, no barrier)
  bool stage = false;  // contiguous unit formats: coalesced 16-byte loads staged through shared memory
                       // (subgroup_rows only)
  bool stage_x = false;  // x (after the prologue) staged once per workgroup in shared memory
  int x_chunk_kib = 0;   // stage_x: shared memory for one chunk of staged x, KiB (0: automatic, 16; 24 with dot)
  // q4_0 / q8_0 weights: x staged once per workgroup as int8 hi/lo pairs and multiplied with integer
  // dot products (4 int8 products per instruction). The kernel then always has subgroup-owned rows
  // and staged x. Ignored for other dtypes and on devices without the instructions.
  enum class Dot { off, i8 };
  Dot dot = Dot::off;
  bool operator==(const MatvecTuning&) const = default;
};

// The decode split-attention kernel (codegen/ops/attention.cpp, paged_attention_partial / _split).
struct AttentionTuning {
  int subgroups = 4;  // subgroups per workgroup: each walks its own keys of the split
  int heads = 0;      // most query heads of one kv head a workgroup serves (0: as many as fit)
  // The output phase (out += p_j v_j over a step's keys) as a loop over batches of keys rather than
  // unrolled over all of them: a quarter of the code for the same instructions executed.
  bool rolled = false;
  bool operator==(const AttentionTuning&) const = default;
};

struct TargetCaps {
  std::string name = "generic";          // device name or profile name
  uint32_t subgroup_size = 32;           // the size kernels are compiled for
  bool subgroup_size_control = false;    // can require subgroup_size per pipeline
  bool subgroup_arithmetic = true;       // subgroupAdd / subgroupMax
  bool subgroup_shuffle = true;
  bool float16_arithmetic = false;       // shaderFloat16
  bool int8_arithmetic = false;          // shaderInt8
  bool storage_16bit = true;             // 16-bit loads/stores from storage buffers
  bool storage_8bit = false;
  bool integer_dot_product = false;      // VK_KHR_shader_integer_dot_product
  // The driver reports mixed-signedness 4x8-bit packed dot products as accelerated (one instruction,
  // IDP4A on NVIDIA): a tuning hint (the quantized matvec's dot=i8 default), not a requirement.
  bool integer_dot_product_accelerated = false;
  bool cooperative_matrix_nv = false;    // VK_NV_cooperative_matrix, fp16 16x16x16 -> fp32
  // The tensor-core prefill kernel (codegen/ops/matmul_tiled.cpp) when cooperative_matrix_nv:
  // "split" (f32-faithful: hi/lo f16 pairs) or "f16" (operands rounded to f16: faster, less accurate),
  // each optionally ":WMxWN" (a subgroup's block, e.g. "split:32x32").
  std::string cooperative_matrix_kernel = "split";
  MatvecTuning qmatvec;  // quantized weights
  MatvecTuning fmatvec;  // f32 / f16 / bf16 weights
  AttentionTuning attention;
  uint32_t max_workgroup_invocations = 1024;
  uint32_t max_shared_memory_bytes = 32768;
  uint32_t max_push_constant_bytes = 128;
};

}  // namespace vkllm::codegen
