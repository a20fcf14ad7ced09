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

// Sets caps.qmatvec / caps.fmatvec to the defaults for the device caps.name names (a profile name or
// a driver's device name), then applies the overrides of $VKLLM_TUNE (parsed once per process; an
// invalid value throws std::invalid_argument). runtime::target_caps and target_profile call it.
void apply_tuning(TargetCaps& caps);
// Applies one override list "key=value,key=value" to caps. Keys: matvec.FIELD (both kinds),
// qmatvec.FIELD (quantized weights), fmatvec.FIELD (float weights); FIELD: rows (1..32, a power of
// two; 0 = automatic), local (4..1024, a power of two; 0 = automatic), units (1..8), split
// (workgroup | subgroup), stage (0 | 1), xstage (0 | 1), xchunk (KiB, 1..64; 0 = automatic), dot (i8 | 0).
// Throws std::invalid_argument naming the bad entry.
void apply_tuning_overrides(TargetCaps& caps, std::string_view overrides);
// "rows=8,local=128,units=2,split=subgroup,stage=0,xstage=0,xchunk=0" (0: automatic), then ",dot=i8" when on.
std::string tuning_text(const MatvecTuning& t);

// What kernels compiled for `compiled_for` assume and `device` lacks, one readable line per missing
// feature ("16-bit storage buffer access (storageBuffer16BitAccess)", "subgroup size 32 (the device
// runs 8 and cannot require another)", ...). Empty: the device runs them.
std::vector<std::string> missing_features(const TargetCaps& compiled_for, const TargetCaps& device);

}  // namespace vkllm::codegen
