#include "cli/flags.h"

#include <gflags/gflags.h>

DEFINE_string(model, "", "model folder (tokenizer.json, tokenizer_config.json, ...), artifact or GGUF file");
DEFINE_string(device, "", "Vulkan device to use: an index from 'vkllm doctor' or a name substring "
                          "(default: $VKLLM_DEVICE, else the first discrete GPU, else integrated, else CPU)");
DEFINE_bool(json, false, "print machine-readable JSON");
DEFINE_string(o, "", "output path (a folder for synth, a file for compile)");
