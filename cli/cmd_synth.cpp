// vkllm synth: random-weight checkpoints in exact Hugging Face layout.
#include <fmt/format.h>
#include <gflags/gflags.h>
#include <unistd.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/flags.h"
#include "frontends/checkpoint/safetensors.h"
#include "frontends/model/synth.h"

DEFINE_string(family, "", "model family: llama, mistral, qwen2, qwen3, gemma2, gemma3, qwen35, qwen3_next");
DEFINE_string(preset, "tiny", "shape preset (see 'vkllm synth --list')");
DEFINE_uint64(seed, 0, "random seed: synth writes the same weights, run and chat sample the same tokens for the same seed (run/chat default: random)");
DEFINE_string(dtype, "bfloat16", "weight dtype: bfloat16, float16 or float32");
DEFINE_string(set, "", "config.json overrides, comma-separated key=value (values parsed as JSON), e.g. vocab_size=152064");
DEFINE_bool(list, false, "list the presets and exit");

namespace vkllm::cli {

int run_synth(const Args& args) {
  using frontends::synth_presets;
  if (FLAGS_list) {
    for (const auto& p : synth_presets())
      fmt::print("{:<8} {:<14} hidden {:>5}, layers {:>3}, vocab {:>6}\n", p.family, p.name,
                 p.config.at("hidden_size").get<int64_t>(), p.config.at("num_hidden_layers").get<int64_t>(),
                 p.config.at("vocab_size").get<int64_t>());
    return 0;
  }
  if (!args.empty()) throw std::runtime_error(fmt::format("unexpected argument '{}'", args[0]));
  if (FLAGS_family.empty() || FLAGS_o.empty()) throw std::runtime_error("--family and -o are required (see --help)");
  frontends::SynthOptions opts;
  opts.family = FLAGS_family;
  opts.preset = FLAGS_preset;
  opts.out_dir = FLAGS_o;
  opts.seed = FLAGS_seed;
  opts.dtype = FLAGS_dtype;
  std::string_view rest = FLAGS_set;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) throw std::runtime_error(fmt::format("--set: '{}' is not key=value", item));
    std::string value(item.substr(eq + 1));
    nlohmann::json parsed = nlohmann::json::parse(value, nullptr, false);
    opts.overrides[std::string(item.substr(0, eq))] = parsed.is_discarded() ? nlohmann::json(value) : parsed;
  }
  int last_percent = -1;
  opts.progress = [&](const std::string& stage, int64_t done, int64_t total) {
    int percent = total > 0 ? static_cast<int>(100 * done / total) : 100;
    if (percent == last_percent || !isatty(fileno(stderr))) return;
    last_percent = percent;
    fmt::print(stderr, "\r{:<10} [{:<40}] {:3}%", stage, std::string(static_cast<size_t>(percent * 40 / 100), '#'), percent);
    if (percent == 100) fmt::print(stderr, "\n");
  };
  frontends::synthesize(opts);
  fmt::print("wrote {} ({} / {}, seed {}) to {}\n", opts.preset, opts.family, opts.dtype, opts.seed, opts.out_dir.string());
  return 0;
}

}  // namespace vkllm::cli
