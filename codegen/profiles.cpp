#include "codegen/profiles.h"

#include <fmt/format.h>

#include <bit>
#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace vkllm::codegen {
namespace {

TargetCaps caps(std::string name, uint32_t subgroup, bool size_control, bool fp16, bool int8, bool storage8,
                bool dot, bool coopmat, uint32_t shared_bytes, uint32_t push_bytes, bool subgroup_ops = true,
                bool dot_accelerated = false) {
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
  c.integer_dot_product_accelerated = dot && dot_accelerated;
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
       caps("nvidia-h100", 32, true, true, true, true, true, true, 49152, 256, true, true)},
      {"nvidia-ada", "NVIDIA Ada (RTX 40xx, L4, L40), proprietary driver: subgroup 32, VK_NV_cooperative_matrix",
       caps("nvidia-ada", 32, true, true, true, true, true, true, 49152, 256, true, true)},
      {"amd-rdna3", "AMD RDNA3 (RADV): wave64 compute, no cooperative matrix through the NV extension",
       caps("amd-rdna3", 64, true, true, true, true, true, false, 65536, 128)},
  };
  return table;
}

TargetCaps target_profile(std::string_view name) {
  std::string known;
  for (const TargetProfile& p : target_profiles()) {
    if (p.name == name) {
      TargetCaps caps = p.caps;
      apply_tuning(caps);
      return caps;
    }
    known += fmt::format("{}{}", known.empty() ? "" : ", ", p.name);
  }
  throw std::invalid_argument(fmt::format("unknown target profile '{}' (known: {})", name, known));
}

namespace {

// The VKLLM_TUNE value, read once; empty when unset.
const std::string& tune_environment() {
  static const std::string value = [] {
    const char* v = std::getenv("VKLLM_TUNE");
    return std::string(v ? v : "");
  }();
  return value;
}

int parse_int(std::string_view entry, std::string_view value, int lo, int hi, bool power_of_two, bool zero_ok) {
  int v = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  const bool ok = ec == std::errc() && end == value.data() + value.size() &&
                  ((zero_ok && v == 0) || (v >= lo && v <= hi && (!power_of_two || std::has_single_bit(unsigned(v)))));
  if (!ok)
    throw std::invalid_argument(fmt::format("VKLLM_TUNE entry '{}': the value must be {}{} in {}..{}", entry,
                                            zero_ok ? "0 (automatic) or " : "", power_of_two ? "a power of two" : "an integer",
                                            lo, hi));
  return v;
}

}  // namespace

void apply_tuning_overrides(TargetCaps& caps, std::string_view overrides) {
  size_t start = 0;
  while (start < overrides.size()) {
    size_t comma = overrides.find(',', start);
    if (comma == std::string_view::npos) comma = overrides.size();
    const std::string_view entry = overrides.substr(start, comma - start);
    start = comma + 1;
    if (entry.empty()) continue;
    const size_t eq = entry.find('='), dot = entry.find('.');
    if (eq == std::string_view::npos || dot == std::string_view::npos || dot > eq)
      throw std::invalid_argument(fmt::format("VKLLM_TUNE entry '{}': expected KIND.FIELD=VALUE, e.g. qmatvec.rows=8",
                                              entry));
    const std::string_view kind = entry.substr(0, dot), field = entry.substr(dot + 1, eq - dot - 1),
                           value = entry.substr(eq + 1);
    if (kind == "attn") {
      AttentionTuning& a = caps.attention;
      if (field == "subgroups") a.subgroups = parse_int(entry, value, 1, 8, true, false);
      else if (field == "heads") a.heads = parse_int(entry, value, 1, 16, false, true);
      else if (field == "rolled") a.rolled = parse_int(entry, value, 0, 1, false, false) == 1;
      else
        throw std::invalid_argument(fmt::format("VKLLM_TUNE entry '{}': unknown field '{}' (known: subgroups, heads, "
                                                "rolled)", entry, field));
      continue;
    }
    std::vector<MatvecTuning*> targets;
    if (kind == "matvec" || kind == "qmatvec") targets.push_back(&caps.qmatvec);
    if (kind == "matvec" || kind == "fmatvec") targets.push_back(&caps.fmatvec);
    if (targets.empty())
      throw std::invalid_argument(fmt::format("VKLLM_TUNE entry '{}': unknown kind '{}' (known: matvec, qmatvec, fmatvec, attn)",
                                              entry, kind));
    for (MatvecTuning* t : targets) {
      if (field == "rows") t->rows = parse_int(entry, value, 1, 32, true, true);
      else if (field == "local") t->local = parse_int(entry, value, 4, 1024, true, true);
      else if (field == "units") t->units = parse_int(entry, value, 1, 8, false, false);
      else if (field == "stage") t->stage = parse_int(entry, value, 0, 1, false, false) == 1;
      else if (field == "xstage") t->stage_x = parse_int(entry, value, 0, 1, false, false) == 1;
      else if (field == "xchunk") t->x_chunk_kib = parse_int(entry, value, 1, 64, false, true);
      else if (field == "dot") {
        if (value != "i8" && value != "0")
          throw std::invalid_argument(fmt::format("VKLLM_TUNE entry '{}': dot is i8 or 0 (off)", entry));
        t->dot = value == "i8" ? MatvecTuning::Dot::i8 : MatvecTuning::Dot::off;
      }
      else if (field == "split") {
        if (value != "workgroup" && value != "subgroup")
          throw std::invalid_argument(fmt::format("VKLLM_TUNE entry '{}': split is workgroup or subgroup", entry));
        t->subgroup_rows = value == "subgroup";
      } else {
        throw std::invalid_argument(fmt::format("VKLLM_TUNE entry '{}': unknown field '{}' (known: rows, local, units, "
                                                "split, stage, xstage, xchunk, dot)", entry, field));
      }
    }
  }
}

void apply_tuning(TargetCaps& caps) {
  caps.qmatvec = MatvecTuning{};
  caps.fmatvec = MatvecTuning{};
  caps.attention = AttentionTuning{};
  // 32-wide subgroups with size control (NVIDIA): measured on the H200 (bench/results/
  // 2026-12-03-h200-session4/matvec-sweep): quantized rows owned by subgroups with x staged per
  // workgroup ran q4_0 14336x4096 in 17.7 µs (27.8 µs by default), 4096x14336 in 20.1 (69.4); float
  // weights with two units in flight per lane ran bf16 4096x14336 in 33.3 µs (75.4), others within 3%.
  // With dot=i8 (below), 8 subgroups per workgroup (local 256) beat 4 on the large shapes: 14336x4096
  // 13.9 µs, 4096x14336 17.6 (the dot kernel's layout shrinks it again for small N).
  if (caps.subgroup_size == 32 && caps.subgroup_size_control && caps.subgroup_arithmetic) {
    caps.qmatvec.subgroup_rows = true;
    caps.qmatvec.stage_x = true;
    caps.qmatvec.local = 256;
    caps.fmatvec.units = 2;
    // Decode attention (examples/decode_attention.ir alone, H200, Llama-3-8B heads; bench/results/
    // 2026-12-03-h200-session5/attention-sweep.txt): 2 query heads per workgroup with the rolled output
    // phase 14.7 µs at 512 keys and 19.2 at 4096, against 17.1 / 20.3 with all 4 heads of a kv head
    // (1 head: 10.9 / 27.3 — shorter chains per subgroup, but K and V read 4 times).
    caps.attention.heads = 2;
    caps.attention.rolled = true;
  }
  // Integer dot products where the driver says they are one instruction: a q4_0 weight then costs
  // ~1.3 issue slots instead of ~3.5 (codegen/ops/matmul_quantized.cpp). Without acceleration the
  // driver emulates them with shifts and multiplies: slower than the f32 path.
  if (caps.integer_dot_product && caps.integer_dot_product_accelerated) caps.qmatvec.dot = MatvecTuning::Dot::i8;
  apply_tuning_overrides(caps, tune_environment());
}

std::string tuning_text(const MatvecTuning& t) {
  return fmt::format("rows={},local={},units={},split={},stage={},xstage={},xchunk={}{}", t.rows, t.local, t.units,
                     t.subgroup_rows ? "subgroup" : "workgroup", t.stage ? 1 : 0, t.stage_x ? 1 : 0, t.x_chunk_kib,
                     t.dot == MatvecTuning::Dot::i8 ? ",dot=i8" : "");
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
