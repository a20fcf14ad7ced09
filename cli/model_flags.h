// Flags and helpers shared by the commands that load a model (run, chat, logits).
#pragma once
#include <gflags/gflags_declare.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/sampling.h"
#include "frontends/chat_template/chat_template.h"
#include "frontends/tokenizer/tokenizer.h"

DECLARE_int64(ctx);
DECLARE_int64(max_tokens);
DECLARE_double(temperature);
DECLARE_int64(top_k);
DECLARE_double(top_p);
DECLARE_double(min_p);
DECLARE_double(repeat_penalty);
DECLARE_double(presence_penalty);
DECLARE_double(frequency_penalty);
DECLARE_int64(repeat_last_n);
DECLARE_uint64(seed);  // defined with synth's flags (one flag serves both)
DECLARE_string(stop);
DECLARE_string(quant);
DECLARE_string(batch_sizes);
DECLARE_string(spec_depths);

namespace vkllm::cli {

// Loads MODEL (an HF or MLX folder, a .gguf file, or a .vkm artifact) with the context, device,
// --quant and graph-variant flags.
std::unique_ptr<engine::Model> load_model(const std::string& path);
// --batch_sizes and --spec_depths into options.decode_row_bounds and options.spec_depths (checked
// against the options' decode rows when the graphs are listed: engine::forward_graphs).
void apply_graph_variant_flags(engine::ModelOptions& options);
// MODEL's tokenizer and chat template: the folder's files, a GGUF file's metadata, or an artifact's stored files.
frontends::Tokenizer load_tokenizer(const std::string& path);
frontends::ChatTemplate load_chat_template(const std::string& path);
// The sampling flags as engine parameters (checked: engine::check_sampling). The seed is --seed when
// given, else a random one.
engine::SamplingParams sampling_from_flags();
// Whether --seed was given (otherwise sampling_from_flags drew a random seed worth printing).
bool seed_given();
// --stop split at commas; `\,` is a literal comma, `\\` a backslash, `\n` a newline, `\t` a tab.
std::vector<std::string> parse_stop_strings(const std::string& flag);

}  // namespace vkllm::cli
