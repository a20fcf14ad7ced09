// Element types of IR values. Block-quantized types store `block_elems` values in `block_bytes`;
// they appear only as weights and are read by the kernels that consume them. Byte layouts:
// ir/README.md ("Quantized layouts"); which source format maps to which: docs/QUANTIZATION.md.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace vkllm::ir {

#define VKLLM_DTYPES(X)                                   \
  /* enum, text, block_elems, block_bytes, is_float */     \
  X(F32, "f32", 1, 4, true)                                \
  X(F16, "f16", 1, 2, true)                                \
  X(BF16, "bf16", 1, 2, true)                              \
  X(I32, "i32", 1, 4, false)                               \
  X(Q8_0, "q8_0", 32, 34, true) /* f16 scale + 32 x i8 */  \
  X(Q4_0, "q4_0", 32, 18, true) /* f16 scale + 32 x u4 */  \
  X(Q4_K, "q4_K", 256, 144, true) /* ggml q4_K */           \
  X(Q5_K, "q5_K", 256, 176, true) /* ggml q5_K */           \
  X(Q6_K, "q6_K", 256, 210, true) /* ggml q6_K */           \
  X(QA4, "qa4", 32, 24, true) /* f32 scale, f32 bias, u4 */ \
  X(QA8, "qa8", 32, 40, true) /* f32 scale, f32 bias, u8 */ \
  X(QA4H, "qa4h", 32, 20, true) /* f16 scale, f16 bias, u4 */ \
  X(QA8H, "qa8h", 32, 36, true) /* f16 scale, f16 bias, u8 */ \
  X(QA4H_G64, "qa4h_g64", 64, 36, true) /* qa4h, 64 values */ \
  X(QA8H_G64, "qa8h_g64", 64, 68, true) /* qa8h, 64 values */

enum class DType : uint8_t {
#define X(e, s, be, bb, f) e,
  VKLLM_DTYPES(X)
#undef X
};

inline constexpr int kNumDTypes = 0
#define X(e, s, be, bb, f) +1
    VKLLM_DTYPES(X)
#undef X
    ;

struct DTypeInfo {
  std::string_view name;
  int block_elems;
  int block_bytes;
  bool is_float;
};

inline constexpr DTypeInfo kDTypeInfo[] = {
#define X(e, s, be, bb, f) {s, be, bb, f},
    VKLLM_DTYPES(X)
#undef X
};
static_assert(sizeof(kDTypeInfo) / sizeof(kDTypeInfo[0]) == kNumDTypes);

inline const DTypeInfo& info(DType t) { return kDTypeInfo[static_cast<int>(t)]; }
inline std::string_view name(DType t) { return info(t).name; }
inline bool is_quantized(DType t) { return info(t).block_elems > 1; }

// Bytes needed for `elems` elements (elems must be a multiple of the block size for quantized types).
inline int64_t storage_bytes(DType t, int64_t elems) {
  const auto& i = info(t);
  return elems / i.block_elems * i.block_bytes;
}

inline std::optional<DType> parse_dtype(std::string_view s) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (kDTypeInfo[i].name == s) return static_cast<DType>(i);
  return std::nullopt;
}

}  // namespace vkllm::ir
