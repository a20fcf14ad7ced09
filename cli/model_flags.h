// Flags and helpers shared by the commands that load a model (run, chat, logits).
#pragma once
#include <gflags/gflags_declare.h>

#include <memory>
#include <string>

#include "engine/model.h"

DECLARE_int64(ctx);
DECLARE_int64(max_tokens);
DECLARE_double(temperature);
DECLARE_int64(top_k);
DECLARE_double(top_p);
DECLARE_double(min_p);
DECLARE_uint64(sampling_seed);
DECLARE_double(repeat_penalty);

namespace vkllm::cli {

// Loads MODEL with the context and device flags.
std::unique_ptr<engine::Model> load_model(const std::string& path);
// Rejects sampling settings the engine does not implement yet (greedy decoding only for now).
void require_greedy();

}  // namespace vkllm::cli
