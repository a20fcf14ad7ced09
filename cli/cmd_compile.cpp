// vkllm compile: a model (HF or MLX folder, GGUF file) to a .vkm artifact (artifact/README.md) for
// a target (the device `doctor` picks, or a named profile: --target).
#include <fmt/format.h>
#include <gflags/gflags.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "cli/commands.h"
#include "cli/compile_flags.h"
#include "cli/flags.h"
#include "cli/model_flags.h"
#include "codegen/profiles.h"
#include "engine/compile.h"
#include "runtime/device.h"

DEFINE_string(target, "",
              "compile for this device profile instead of the device doctor picks (vkllm compile --target list)");
DECLARE_int64(max_batch);

namespace vkllm::cli {

codegen::TargetCaps compile_target() {
  if (!FLAGS_target.empty()) return codegen::target_profile(FLAGS_target);
  runtime::Instance instance;
  const runtime::DeviceChoice choice =
      runtime::choose_device(instance.devices(), runtime::effective_device_selector(FLAGS_device));
  return runtime::target_caps(instance.devices()[choice.index]);
}

engine::ModelOptions compile_options() {
  engine::ModelOptions o;
  o.max_context = FLAGS_ctx;
  o.max_sequences = FLAGS_max_batch;
  o.max_decode_rows = FLAGS_max_batch;
  o.sampling_history = FLAGS_repeat_last_n;
  o.weight_quant = FLAGS_quant;
  apply_graph_variant_flags(o);
  return o;
}

int run_compile(const Args& args) {
  if (FLAGS_target == "list") {
    for (const codegen::TargetProfile& p : codegen::target_profiles()) fmt::print("{:<14} {}\n", p.name, p.description);
    return 0;
  }
  if (args.size() != 1 || FLAGS_o.empty()) {
    fmt::print(stderr,
               "usage: vkllm compile MODEL -o OUT.vkm [--quant Q] [--ctx N] [--max_batch N] [--batch_sizes N,...] "
               "[--spec_depths N,...] [--target PROFILE]\n");
    return 2;
  }
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(clock::now() - start).count(); };
  auto stage = [&](const std::string& what) { fmt::print(stderr, "[{:6.1f}s] {}\n", elapsed(), what); };

  const engine::ModelOptions options = compile_options();
  const codegen::TargetCaps caps = compile_target();
  stage(fmt::format("reading {}", args[0]));
  engine::OpenedModel model = engine::open_model(args[0], options);
  stage(fmt::format("{} ({}), target {}", model.spec.architecture, model.source->format(), caps.name));
  const engine::CompiledModel compiled = engine::compile_model(*model.source, model.spec, options, caps, stage);

  stage(fmt::format("writing {} (weights{})", FLAGS_o, options.weight_quant.empty() ? "" : ", quantized to " + options.weight_quant));
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  size_t last_percent = 101;
  engine::write_model_artifact(FLAGS_o, args[0], *model.source, compiled,
                               [&](size_t done, size_t total, const std::string& weight) {
                                 const size_t percent = total ? done * 100 / total : 100;
                                 if (tty) {
                                   const size_t bar = percent * 30 / 100;
                                   fmt::print(stderr, "\r  [{:<30}] {:>4}/{} {:<48.48}", std::string(bar, '#'), done,
                                              total, weight);
                                   if (done == total) fmt::print(stderr, "\n");
                                 } else if (percent / 10 != last_percent / 10) {
                                   fmt::print(stderr, "  weights {:>3}% ({}/{})\n", percent, done, total);
                                 }
                                 last_percent = percent;
                               });
  stage(fmt::format("wrote {} ({:.1f} MiB)", FLAGS_o, static_cast<double>(std::filesystem::file_size(FLAGS_o)) / (1 << 20)));
  return 0;
}

}  // namespace vkllm::cli
