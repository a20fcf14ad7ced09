// vkllm bench: prompt-processing and generation throughput of a model, llama-bench style (pp N /
// tg N), with the weight bytes each generated token reads and the bandwidth that implies, so a run
// can be set against the device's memory-bandwidth ceiling.
#include <fmt/format.h>
#include <gflags/gflags.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/commands.h"
#include "cli/bench_peak.h"
#include "cli/flags.h"
#include "cli/model_flags.h"
#include "engine/generate.h"
#include "runtime/graph_executor.h"

DEFINE_int64(prompt_tokens, 512, "bench: prompt length (random token ids) processed before generating");
DEFINE_int64(gen_tokens, 128, "bench: tokens generated after the prompt (greedy, no end-of-sequence stop)");
DEFINE_int64(repeats, 3, "bench: timed repetitions after one untimed warm-up (the median is reported)");
DEFINE_string(depths, "", "bench: also decode --gen_tokens tokens after prompts of these lengths (comma-separated, "
              "e.g. 4096): decode speed at long context");
DEFINE_int64(peak_bytes, int64_t{1} << 30, "bench: buffer size of the read/copy kernels that measure the device's "
             "memory bandwidth (0: skip)");
DECLARE_bool(profile);  // defined by exec; for bench: time every kernel of one prefill chunk and one decode step

namespace vkllm::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Timing {
  double prefill_s = 0;  // prompt in, first token out
  double decode_s = 0;   // first token to last token
};

Timing time_one(engine::Model& model, const std::vector<int32_t>& prompt, int64_t gen_tokens) {
  engine::GenerateOptions options;
  options.max_tokens = gen_tokens;  // no eos_ids: always the full count
  Clock::time_point first, last;
  int64_t seen = 0;
  const Clock::time_point start = Clock::now();
  engine::generate(model, prompt, options, [&](int32_t) {
    last = Clock::now();
    if (seen++ == 0) first = last;
    return true;
  });
  return {std::chrono::duration<double>(first - start).count(), std::chrono::duration<double>(last - first).count()};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Bytes of weights one decode step reads: every tensor but the embedding table, of which a step
// gathers one row — unless the table is also the output head (tied embeddings).
int64_t weight_bytes_per_token(const engine::Model& model) {
  int64_t bytes = 0;
  const std::string embed = model.spec().weight_prefix + "embed_tokens.weight";
  for (const std::string& name : model.source().tensor_names()) {
    if (name == embed && !model.spec().tie_word_embeddings) continue;
    // In the format the kernels read (quantized at load, or repacked from MLX / GGUF).
    const frontends::SourceTensor t = model.source().info(name);
    int64_t elems = 1;
    for (int64_t d : t.shape) elems *= d;
    bytes += ir::storage_bytes(t.dtype, elems);
  }
  return bytes;
}

// Per-kernel GPU times of the last step of one prefill chunk and of one decode step, summed by
// kernel name (a layer's kernels share names), largest first.
nlohmann::ordered_json profile_steps(engine::Model& model, const std::vector<int32_t>& prompt) {
  model.set_profiling(true);
  nlohmann::ordered_json out;
  engine::GenerateOptions options;
  options.max_tokens = 1;  // the prompt only: its last step is a prefill chunk
  engine::generate(model, prompt, options);
  const std::vector<runtime::KernelTiming> prefill = model.last_step_timings();
  options.max_tokens = 2;  // one decode step after the prompt
  engine::generate(model, prompt, options);
  const std::vector<runtime::KernelTiming> decode = model.last_step_timings();
  model.set_profiling(false);
  for (const auto& [label, timings] : {std::pair{"prefill_chunk", &prefill}, std::pair{"decode_step", &decode}}) {
    std::map<std::string, std::pair<double, int>> by_kernel;
    double total = 0;
    for (const runtime::KernelTiming& t : *timings) {
      by_kernel[t.kernel].first += t.microseconds;
      by_kernel[t.kernel].second += 1;
      total += t.microseconds;
    }
    std::vector<std::pair<std::string, std::pair<double, int>>> rows(by_kernel.begin(), by_kernel.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
    nlohmann::ordered_json kernels = nlohmann::ordered_json::array();
    for (const auto& [name, v] : rows) kernels.push_back({{"kernel", name}, {"calls", v.second}, {"us", v.first}});
    out[label] = {{"dispatches", timings->size()}, {"total_us", total}, {"kernels", kernels}};
  }
  return out;
}

}  // namespace

int run_bench(const Args& args) {
  if (args.size() != 1) throw std::runtime_error("expected one MODEL argument (see --help)");
  if (FLAGS_prompt_tokens < 1 || FLAGS_gen_tokens < 2 || FLAGS_repeats < 1)
    throw std::runtime_error("--prompt_tokens must be >= 1, --gen_tokens >= 2, --repeats >= 1");
  if (FLAGS_prompt_tokens + FLAGS_gen_tokens > FLAGS_ctx)
    throw std::runtime_error(fmt::format("--prompt_tokens + --gen_tokens = {} exceeds --ctx {}",
                                         FLAGS_prompt_tokens + FLAGS_gen_tokens, FLAGS_ctx));
  auto model = load_model(args[0]);
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(model->spec().vocab_size - 1));
  std::vector<int32_t> prompt(static_cast<size_t>(FLAGS_prompt_tokens));
  for (int32_t& t : prompt) t = token(rng);

  const Clock::time_point warm_start = Clock::now();
  time_one(*model, prompt, 2);  // compiles and records both graphs
  const double warmup_s = std::chrono::duration<double>(Clock::now() - warm_start).count();
  std::vector<double> pp, tg;
  for (int64_t r = 0; r < FLAGS_repeats; ++r) {
    const Timing t = time_one(*model, prompt, FLAGS_gen_tokens);
    pp.push_back(static_cast<double>(FLAGS_prompt_tokens) / t.prefill_s);
    tg.push_back(static_cast<double>(FLAGS_gen_tokens - 1) / t.decode_s);
  }
  const double pp_rate = median(pp), tg_rate = median(tg);
  std::vector<double> ttft;  // prompt in, first token out (the prefill rate's inverse, in ms)
  for (double rate : pp) ttft.push_back(1e3 * static_cast<double>(FLAGS_prompt_tokens) / rate);
  const int64_t bytes = weight_bytes_per_token(*model);
  const double bandwidth = static_cast<double>(bytes) * tg_rate;
  // Decode after longer prompts: what attention over a long context costs per token.
  std::vector<std::pair<int64_t, double>> at_depth;
  for (const std::string& item : split_list(FLAGS_depths)) {
    const int64_t depth = std::stoll(item);
    if (depth < 1 || depth + FLAGS_gen_tokens > FLAGS_ctx)
      throw std::runtime_error(fmt::format("--depths {}: needs 1 <= depth and depth + --gen_tokens <= --ctx {}", depth,
                                           FLAGS_ctx));
    std::vector<int32_t> long_prompt(static_cast<size_t>(depth));
    for (int32_t& t : long_prompt) t = token(rng);
    std::vector<double> rates;
    for (int64_t r = 0; r < FLAGS_repeats; ++r)
      rates.push_back(static_cast<double>(FLAGS_gen_tokens - 1) / time_one(*model, long_prompt, FLAGS_gen_tokens).decode_s);
    at_depth.emplace_back(depth, median(rates));
  }
  const PeakBandwidth peak = FLAGS_peak_bytes > 0
                                 ? measure_peak_bandwidth(model->device(), static_cast<uint64_t>(FLAGS_peak_bytes) / 16 * 16)
                                 : PeakBandwidth{};
  nlohmann::ordered_json profile;
  if (FLAGS_profile) profile = profile_steps(*model, prompt);

  if (FLAGS_json) {
    nlohmann::ordered_json j{{"model", args[0]},
                             {"family", model->spec().family},
                             {"prompt_tokens", FLAGS_prompt_tokens},
                             {"gen_tokens", FLAGS_gen_tokens},
                             {"repeats", FLAGS_repeats},
                             {"warmup_s", warmup_s},
                             {"prefill_tok_s", pp_rate},
                             {"decode_tok_s", tg_rate},
                             {"prefill_tok_s_runs", pp},
                             {"decode_tok_s_runs", tg},
                             {"time_to_first_token_ms", median(ttft)},
                             {"weight_bytes_per_token", bytes},
                             {"decode_weight_gb_s", bandwidth / 1e9},
                             {"peak_read_gb_s", peak.read_gb_s},
                             {"peak_copy_gb_s", peak.copy_gb_s}};
    nlohmann::ordered_json depths = nlohmann::ordered_json::array();
    for (const auto& [depth, rate] : at_depth) depths.push_back({{"prompt_tokens", depth}, {"decode_tok_s", rate}});
    j["decode_at_depth"] = depths;
    if (FLAGS_profile) j["profile"] = profile;
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("model {} ({}), {} repeats after a {:.1f} s warm-up\n", args[0], model->spec().family, FLAGS_repeats,
             warmup_s);
  fmt::print("  pp{:<6} {:10.1f} tok/s\n", FLAGS_prompt_tokens, pp_rate);
  fmt::print("  pp{:<6} {:10.1f} ms to the first token\n", FLAGS_prompt_tokens, median(ttft));
  fmt::print("  tg{:<6} {:10.2f} tok/s  ({:.2f} ms/token; {:.2f} GB of weights per token -> {:.1f} GB/s)\n",
             FLAGS_gen_tokens, tg_rate, 1e3 / tg_rate, static_cast<double>(bytes) / 1e9, bandwidth / 1e9);
  for (const auto& [depth, rate] : at_depth)
    fmt::print("  tg{:<6} {:10.2f} tok/s after a {}-token prompt\n", FLAGS_gen_tokens, rate, depth);
  if (peak.read_gb_s > 0)
    fmt::print("  device: {:.1f} GB/s read, {:.1f} GB/s copy (measured); decode reads weights at {:.0f}% of the read peak\n",
               peak.read_gb_s, peak.copy_gb_s, 100 * bandwidth / 1e9 / peak.read_gb_s);
  if (FLAGS_profile) {
    for (const auto& [label, step] : profile.items()) {
      fmt::print("{}: {} dispatches, {:.1f} us of GPU time\n", label, step["dispatches"].get<size_t>(),
                 step["total_us"].get<double>());
      for (const auto& k : step["kernels"])
        fmt::print("  {:10.1f} us {:4d}x  {}\n", k["us"].get<double>(), k["calls"].get<int>(), k["kernel"].get<std::string>());
    }
  }
  return 0;
}

}  // namespace vkllm::cli
