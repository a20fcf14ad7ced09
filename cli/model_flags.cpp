#include "cli/model_flags.h"

#include <fmt/format.h>
#include <gflags/gflags.h>

#include <random>
#include <stdexcept>

#include "cli/flags.h"
#include "engine/artifact_source.h"
#include "engine/generate.h"
#include "frontends/source/model_source.h"

DEFINE_int64(ctx, 4096, "maximum context (prompt + generated tokens) of a sequence");
DEFINE_int64(max_tokens, 256, "generate at most this many tokens");
DEFINE_double(temperature, 0.0, "sampling temperature; 0 is greedy (the other sampling flags then only keep the penalties)");
DEFINE_int64(top_k, 0, "keep only the k most likely tokens (0: off)");
DEFINE_double(top_p, 1.0, "nucleus sampling: keep the most likely tokens up to this probability mass (1: off)");
DEFINE_double(min_p, 0.0, "drop tokens below this fraction of the most likely token's probability (0: off)");
DEFINE_double(repeat_penalty, 1.0, "divide positive / multiply negative logits of recent tokens by this (1: off)");
DEFINE_double(presence_penalty, 0.0, "subtract this from the logits of recent tokens (0: off)");
DEFINE_double(frequency_penalty, 0.0, "subtract this times their count from the logits of recent tokens (0: off)");
DEFINE_int64(repeat_last_n, 64, "the penalties see this many recent tokens (prompt and generated)");
DEFINE_string(stop, "", "stop strings, comma-separated (\\, for a comma): the text ends before the first one found");
DEFINE_string(quant, "",
              "quantize the weights at load time: q4 (q4_K, output head q6_K), q8 (q8_0), a kernel format "
              "(q8_0 q4_0 q4_K q5_K q6_K qa4 qa8 qa4h qa8h qa4h_g64 qa8h_g64), or f16/bf16 to keep them (docs/QUANTIZATION.md)");
DEFINE_string(batch_sizes, "",
              "decode graphs to compile, by the rows (sequences) a step holds, comma-separated, e.g. 1,2,4: a step "
              "runs the smallest that fits, with kernels specialized for that few rows (default: 1, 2, 4, ... up to "
              "--max_batch; --max_batch is always compiled)");
DEFINE_string(spec_depths, "",
              "speculative depths to compile a verify graph for, comma-separated, e.g. 3,5: logits for every row, up "
              "to sequences x (depth + 1) rows (default: none)");

namespace vkllm::cli {
namespace {

std::vector<int64_t> parse_integers(const std::string& flag, const char* name) {
  std::vector<int64_t> values;
  for (const std::string& item : split_list(flag)) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size())
      throw std::invalid_argument(fmt::format("--{}: '{}' is not an integer", name, item));
    values.push_back(v);
  }
  return values;
}

}  // namespace

void apply_graph_variant_flags(engine::ModelOptions& options) {
  options.decode_row_bounds = parse_integers(FLAGS_batch_sizes, "batch_sizes");
  options.spec_depths = parse_integers(FLAGS_spec_depths, "spec_depths");
}

std::unique_ptr<engine::Model> load_model(const std::string& path) {
  engine::ModelOptions o;
  o.device = FLAGS_device;
  o.max_context = FLAGS_ctx;
  o.max_sequences = 1;
  o.max_decode_rows = 1;
  o.sampling_history = FLAGS_repeat_last_n;
  o.weight_quant = FLAGS_quant;
  apply_graph_variant_flags(o);
  return engine::Model::load(path, o);
}

frontends::Tokenizer load_tokenizer(const std::string& path) { return engine::load_model_tokenizer(path); }

frontends::ChatTemplate load_chat_template(const std::string& path) { return engine::load_model_chat_template(path); }

bool seed_given() { return !gflags::GetCommandLineFlagInfoOrDie("seed").is_default; }

engine::SamplingParams sampling_from_flags() {
  engine::SamplingParams p;
  p.temperature = FLAGS_temperature;
  p.top_k = FLAGS_top_k;
  p.top_p = FLAGS_top_p;
  p.min_p = FLAGS_min_p;
  p.repetition_penalty = FLAGS_repeat_penalty;
  p.presence_penalty = FLAGS_presence_penalty;
  p.frequency_penalty = FLAGS_frequency_penalty;
  if (seed_given()) {
    p.seed = FLAGS_seed;
  } else {
    std::random_device entropy;
    p.seed = static_cast<uint64_t>(entropy()) << 32 | entropy();
  }
  engine::check_sampling(p);
  return p;
}

std::vector<std::string> parse_stop_strings(const std::string& flag) {
  std::vector<std::string> stops;
  std::string current;
  for (size_t i = 0; i < flag.size(); ++i) {
    const char c = flag[i];
    if (c == ',') {
      if (!current.empty()) stops.push_back(current);
      current.clear();
    } else if (c == '\\') {
      if (++i == flag.size()) throw std::invalid_argument("--stop ends with a lone backslash (write \\\\ for one)");
      const char e = flag[i];
      if (e == 'n') current += '\n';
      else if (e == 't') current += '\t';
      else if (e == ',' || e == '\\') current += e;
      else throw std::invalid_argument(fmt::format("--stop: unknown escape \\{} (use \\, \\\\ \\n or \\t)", e));
    } else {
      current += c;
    }
  }
  if (!current.empty()) stops.push_back(current);
  return stops;
}

}  // namespace vkllm::cli
