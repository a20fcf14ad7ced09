#include "cli/model_flags.h"

#include <fmt/format.h>
#include <gflags/gflags.h>

#include "cli/flags.h"

DEFINE_int64(ctx, 4096, "maximum context (prompt + generated tokens) of a sequence");
DEFINE_int64(max_tokens, 256, "generate at most this many tokens");
DEFINE_double(temperature, 0.0, "sampling temperature; 0 is greedy");
DEFINE_int64(top_k, 0, "keep only the k most likely tokens (0: off)");
DEFINE_double(top_p, 1.0, "nucleus sampling: keep the most likely tokens up to this probability mass");
DEFINE_double(min_p, 0.0, "drop tokens below this fraction of the most likely token's probability");
DEFINE_uint64(sampling_seed, 0, "random seed of sampling (same seed, same tokens)");
DEFINE_double(repeat_penalty, 1.0, "penalty on tokens already in the context (1: off)");

namespace vkllm::cli {

std::unique_ptr<engine::Model> load_model(const std::string& path) {
  engine::ModelOptions o;
  o.device = FLAGS_device;
  o.max_context = FLAGS_ctx;
  o.max_sequences = 1;
  o.max_decode_rows = 1;
  return engine::Model::load(path, o);
}

void require_greedy() {
  if (FLAGS_temperature != 0.0 || FLAGS_top_k != 0 || FLAGS_top_p != 1.0 || FLAGS_min_p != 0.0 ||
      FLAGS_repeat_penalty != 1.0)
    throw std::runtime_error(
        "only greedy decoding is implemented so far: leave --temperature at 0 and the other sampling flags at "
        "their defaults");
}

}  // namespace vkllm::cli
