// What `vkllm compile` and `vkllm inspect MODEL` compile with (defined in cmd_compile.cpp).
#pragma once
#include "codegen/target.h"
#include "engine/model.h"

namespace vkllm::cli {

// --ctx, --max_batch (sequences in flight and decode rows), --batch_sizes, --spec_depths,
// --repeat_last_n, --quant.
engine::ModelOptions compile_options();
// --target PROFILE, else the device --device / $VKLLM_DEVICE selects (no logical device is
// created: compiling needs only the device's description).
codegen::TargetCaps compile_target();

}  // namespace vkllm::cli
