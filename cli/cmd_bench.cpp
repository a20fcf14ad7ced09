// vkllm bench: prompt-processing and generation throughput of a model, llama-bench style (pp N /
// tg N), with the weight bytes each generated token reads and the bandwidth that implies, so a run
// can be set against the device's memory-bandwidth ceiling. `--matmul` instead times single matmul
// kernels (the decode matvecs) of given shapes under tuning variants (VKLLM_TUNE syntax), for sweeps.
#include <fmt/format.h>
#include <gflags/gflags.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/commands.h"
#include "cli/bench_peak.h"
#include "cli/flags.h"
#include "cli/model_flags.h"
#include "codegen/profiles.h"
#include "engine/generate.h"
#include "ir/reference.h"
#include "runtime/graph_executor.h"

DEFINE_int64(prompt_tokens, 512, "bench: prompt length (random token ids) processed before generating");
DEFINE_int64(gen_tokens, 128, "bench: tokens generated after the prompt (greedy, no end-of-sequence stop)");
DEFINE_int64(repeats, 3, "bench: timed repetitions after one untimed warm-up (the median is reported)");
DEFINE_string(depths, "", "bench: also decode --gen_tokens tokens after prompts of these lengths (comma-separated, "
              "e.g. 4096): decode speed at long context");
DEFINE_int64(peak_bytes, int64_t{1} << 30, "bench: buffer size of the read/copy kernels that measure the device's "
             "memory bandwidth (0: skip)");
DEFINE_string(matmul, "", "bench: instead of a model, time single matmul kernels: DTYPE:N:K[:ROWS],... (e.g. "
              "q4_0:14336:4096,bf16:4096:4096:1): µs per call, GB/s of weight bytes, kernel name and tuning");
DEFINE_string(matmul_tune, "", "bench --matmul: tuning variants to time, ';'-separated VKLLM_TUNE override lists "
              "applied on top of the device's tuning (an empty variant: the device's own), e.g. "
              "'qmatvec.rows=4;qmatvec.split=subgroup,qmatvec.stage=1'");
DEFINE_string(matmul_prologue, "none", "bench --matmul: none, or the fused prologue of every matmul: rms_norm "
              "(x normalized by a norm weight) or swiglu (silu(x)·up), as decode graphs fuse them");
DEFINE_int64(matmul_runs, 20, "bench --matmul: timed graph runs per variant; each run calls every weight copy once");
DEFINE_int64(matmul_warmup_ms, 500, "bench --matmul: untimed back-to-back runs of each variant for this long first, so "
             "the GPU's core and memory clocks have left their idle state");
DEFINE_int64(matmul_copies, 0, "bench --matmul: weight copies the runs cycle through (0: enough for 160 MiB, so the "
             "caches (H200: 50 MB of L2) hold none of them)");
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
  const size_t prefill_barriers = model.last_step_barriers();
  options.max_tokens = 2;  // one decode step after the prompt
  engine::generate(model, prompt, options);
  const std::vector<runtime::KernelTiming> decode = model.last_step_timings();
  const size_t decode_barriers = model.last_step_barriers();
  model.set_profiling(false);
  for (const auto& [label, timings, barriers] :
       {std::tuple{"prefill_chunk", &prefill, prefill_barriers}, std::tuple{"decode_step", &decode, decode_barriers}}) {
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
    // barriers: between dispatches as the step runs unprofiled (profiling separates every dispatch).
    out[label] = {{"dispatches", timings->size()}, {"barriers", barriers}, {"total_us", total}, {"kernels", kernels}};
  }
  return out;
}


// --matmul: one matmul kernel per shape, timed alone (the decode kernels' speed without a model).
struct MatmulShape {
  ir::DType dtype;
  int64_t n, k, rows;
  std::string text;
};

std::vector<MatmulShape> parse_matmul_shapes(const std::string& list) {
  std::vector<MatmulShape> shapes;
  for (const std::string& item : split_list(list)) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t colon; (colon = item.find(':', start)) != std::string::npos; start = colon + 1)
      parts.push_back(item.substr(start, colon - start));
    parts.push_back(item.substr(start));
    const auto bad = [&](const std::string& why) {
      return std::runtime_error(fmt::format("--matmul '{}': {} (expected DTYPE:N:K[:ROWS], e.g. q4_0:14336:4096)", item, why));
    };
    if (parts.size() < 3 || parts.size() > 4) throw bad("wrong number of fields");
    const std::optional<ir::DType> dtype = ir::parse_dtype(parts[0]);
    if (!dtype) throw bad(fmt::format("unknown dtype '{}'", parts[0]));
    MatmulShape s{*dtype, 0, 0, 1, item};
    try {
      s.n = std::stoll(parts[1]);
      s.k = std::stoll(parts[2]);
      if (parts.size() == 4) s.rows = std::stoll(parts[3]);
    } catch (const std::exception&) {
      throw bad("N, K and ROWS must be integers");
    }
    if (s.n < 1 || s.k < 1 || s.rows < 1) throw bad("N, K and ROWS must be positive");
    if (s.k % ir::info(*dtype).block_elems) throw bad(fmt::format("K is not a multiple of the {}-value block", ir::info(*dtype).block_elems));
    shapes.push_back(s);
  }
  if (shapes.empty()) throw std::runtime_error("--matmul: no shape given");
  return shapes;
}

// `copies` matmuls of x[rows, K] by their own weight w<c>[N, K] (one weight tensor's data in each):
// cycling through copies whose bytes exceed the last-level cache times weight reads from memory.
// With --matmul_prologue, each is the fused_matmul a decode graph runs (rms_norm: norm weight g[K];
// swiglu: input up[rows, K]).
ir::Graph matmul_graph(const MatmulShape& s, int64_t copies) {
  ir::Builder b("bench_matmul");
  const ir::Type activations{ir::DType::F32, {ir::Dim::of(s.rows), ir::Dim::of(s.k)}};
  const ir::ValueId x = b.input("x", activations);
  std::optional<ir::ValueId> operand;
  if (FLAGS_matmul_prologue == "rms_norm") operand = b.weight("g", {ir::DType::F32, {ir::Dim::of(s.k)}});
  else if (FLAGS_matmul_prologue == "swiglu") operand = b.input("up", activations);
  else if (FLAGS_matmul_prologue != "none")
    throw std::runtime_error(fmt::format("--matmul_prologue '{}': expected none, rms_norm or swiglu", FLAGS_matmul_prologue));
  for (int64_t c = 0; c < copies; ++c) {
    const ir::ValueId w = b.weight(fmt::format("w{}", c), {s.dtype, {ir::Dim::of(s.n), ir::Dim::of(s.k)}});
    const ir::ValueId y =
        operand ? b.emit(ir::OpKind::FusedMatMul, {x, w, *operand},
                         {{"prologue", FLAGS_matmul_prologue}, {"epilogue", std::string("none")}, {"eps", 1e-5},
                          {"offset", 0.0}})[0]
                : b.matmul(x, w);
    b.set_name(y, fmt::format("y{}", c));
    b.output(y);
  }
  return b.finish();
}

// Largest |got - want| relative to the largest |want|.
double relative_error(const ir::HostTensor& got, const ir::HostTensor& want) {
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    scale = std::max(scale, std::abs(want.get(i)));
    const double e = std::abs(got.get(i) - want.get(i));
    worst = std::isnan(e) ? INFINITY : std::max(worst, e);
  }
  return worst / std::max(scale, 1e-30);
}

int run_matmul_bench(const Args& args) {
  if (!args.empty()) throw std::runtime_error("--matmul takes no MODEL argument");
  if (FLAGS_matmul_runs < 1) throw std::runtime_error("--matmul_runs must be >= 1");
  const std::vector<MatmulShape> shapes = parse_matmul_shapes(FLAGS_matmul);
  runtime::Device device(runtime::Device::Options{FLAGS_device});
  const codegen::TargetCaps device_caps = device.target_caps();  // per-device tuning and $VKLLM_TUNE
  // Tuning variants (--matmul_tune, ';'-separated override lists; empty: the device's own), checked first.
  std::vector<std::string> variants;
  {
    size_t start = 0;
    for (size_t semi; (semi = FLAGS_matmul_tune.find(';', start)) != std::string::npos; start = semi + 1)
      variants.push_back(FLAGS_matmul_tune.substr(start, semi - start));
    variants.push_back(FLAGS_matmul_tune.substr(start));
    for (const std::string& v : variants) {
      codegen::TargetCaps caps = device_caps;
      codegen::apply_tuning_overrides(caps, v);
    }
  }
  const PeakBandwidth peak = FLAGS_peak_bytes > 0
                                 ? measure_peak_bandwidth(device, static_cast<uint64_t>(FLAGS_peak_bytes) / 16 * 16)
                                 : PeakBandwidth{};
  if (!FLAGS_json) {
    fmt::print("device: {} ({})", device.info().name, device.info().driver_info);
    if (peak.read_gb_s > 0) fmt::print("; measured read peak {:.1f} GB/s", peak.read_gb_s);
    fmt::print("\n{:>24} {:>9} {:>9} {:>6} {:>9}  {}\n", "shape", "us/call", "GB/s", "%peak", "rel.err", "kernel [tuning]");
  }
  nlohmann::ordered_json report{{"device", device.info().name},
                                {"driver", device.info().driver_info},
                                {"vkllm_tune", std::getenv("VKLLM_TUNE") ? std::getenv("VKLLM_TUNE") : ""},
                                {"prologue", FLAGS_matmul_prologue},
                                {"runs", FLAGS_matmul_runs},
                                {"peak_read_gb_s", peak.read_gb_s},
                                {"peak_copy_gb_s", peak.copy_gb_s},
                                {"results", nlohmann::ordered_json::array()}};
  nlohmann::ordered_json& results = report["results"];
  // -o FILE: the report so far, rewritten after every result (a run cut short keeps what it measured).
  const auto save = [&] {
    if (FLAGS_o.empty()) return;
    std::ofstream file(FLAGS_o);
    file << report.dump(2) << "\n";
    if (!file) throw std::runtime_error(fmt::format("cannot write {}", FLAGS_o));
  };
  std::mt19937_64 rng(1234);
  for (const MatmulShape& s : shapes) {
    const int64_t weight_bytes = ir::storage_bytes(s.dtype, s.n * s.k);
    const int64_t copies = FLAGS_matmul_copies > 0
                               ? FLAGS_matmul_copies
                               : std::clamp<int64_t>((int64_t{160} << 20) / std::max<int64_t>(weight_bytes, 1) + 1, 2, 64);
    const ir::HostTensor w = ir::HostTensor::random(s.dtype, {s.n, s.k}, rng);
    const ir::HostTensor x = ir::HostTensor::random(ir::DType::F32, {s.rows, s.k}, rng);
    const ir::HostTensor up = ir::HostTensor::random(ir::DType::F32, {s.rows, s.k}, rng);
    const ir::HostTensor g = ir::HostTensor::random(ir::DType::F32, {s.k}, rng);
    const ir::WeightFn weights = [&](const std::string& name, const ir::Type&) { return name == "g" ? g : w; };
    std::map<std::string, ir::HostTensor> inputs{{"x", x}};
    if (FLAGS_matmul_prologue == "swiglu") inputs.emplace("up", up);
    const ir::Graph graph = matmul_graph(s, copies);
    // The reference of one copy (all copies hold the same weights) checks every variant's outputs.
    const ir::Graph one = matmul_graph(s, 1);
    const ir::HostTensor want = ir::run_reference(one, {}, inputs, weights).outputs.at(0);
    for (const std::string& variant : variants) {
      codegen::TargetCaps caps = device_caps;
      codegen::apply_tuning_overrides(caps, variant);
      const codegen::MatvecTuning& tuning = ir::is_quantized(s.dtype) ? caps.qmatvec : caps.fmatvec;
      nlohmann::ordered_json r{{"shape", s.text},   {"dtype", ir::name(s.dtype)}, {"n", s.n},
                               {"k", s.k},          {"rows", s.rows},             {"prologue", FLAGS_matmul_prologue},
                               {"tune", variant},
                               {"tuning", codegen::tuning_text(tuning)},          {"weight_bytes", weight_bytes},
                               {"copies", copies}};
      try {
        const codegen::CompiledGraph compiled = codegen::compile_graph(graph, caps);
        runtime::GraphExecutor executor(device, compiled, {}, weights);
        executor.set_profiling(true);
        const auto set_inputs = [&] {
          for (const auto& [name, tensor] : inputs)
            executor.set_input(name, tensor.data(), static_cast<size_t>(tensor.size_bytes()));
        };
        set_inputs();
        // Warm-up: an idle GPU runs at low core and memory clocks and takes a fraction of a second to
        // raise them; timing short runs right away measured 2.5-5x the in-model kernel times (H200).
        const Clock::time_point warm_start = Clock::now();
        do executor.run({});
        while (Clock::now() - warm_start < std::chrono::milliseconds(FLAGS_matmul_warmup_ms));
        // The timed batch: --matmul_runs runs. With a warm-up, batches repeat until two consecutive
        // medians agree within 3% (at most 8): the first variant after a new shape follows seconds of
        // reference computation on the CPU, and on the H200 it still read 3-4x slow after 0.3 s.
        const auto timed_batch = [&] {
          std::vector<double> batch;
          for (int64_t run = 0; run < FLAGS_matmul_runs; ++run) {
            executor.run({});
            for (const runtime::KernelTiming& t : executor.last_timings()) batch.push_back(t.microseconds);
          }
          return batch;
        };
        std::vector<double> us = timed_batch();
        int batches = 1;
        for (; FLAGS_matmul_warmup_ms > 0 && batches < 8; ++batches) {
          std::vector<double> next = timed_batch();
          const double before = median(us), now = median(next);
          us = std::move(next);
          if (std::abs(now - before) <= 0.03 * now) {
            ++batches;
            break;
          }
        }
        r["batches"] = batches;  // timed batches run; the last one is reported
        // The checked run: every output poisoned with NaN first, so a result the kernel never wrote fails.
        executor.fill_activations(0x7FC00000u);
        set_inputs();
        executor.run({});
        const double call_us = median(us);
        const double gb_s = static_cast<double>(weight_bytes) / call_us / 1e3;
        const double error = relative_error(executor.read_output("y0"), want);
        r["kernel"] = compiled.dispatches.at(0).kernel.name;
        r["us"] = call_us;
        r["us_min"] = *std::min_element(us.begin(), us.end());
        r["weight_gb_s"] = gb_s;
        if (peak.read_gb_s > 0) r["percent_of_read_peak"] = 100 * gb_s / peak.read_gb_s;
        r["max_rel_error"] = error;
        r["ok"] = error <= 1e-4;
        if (!FLAGS_json)
          fmt::print("{:>24} {:9.2f} {:9.1f} {:>6} {:9.1e}  {}{} [{}]\n", s.text, call_us, gb_s,
                     peak.read_gb_s > 0 ? fmt::format("{:.0f}%", 100 * gb_s / peak.read_gb_s) : "-", error,
                     compiled.dispatches.at(0).kernel.name, error <= 1e-4 ? "" : " WRONG", codegen::tuning_text(tuning));
      } catch (const std::exception& e) {
        r["error"] = e.what();
        if (!FLAGS_json) fmt::print("{:>24} failed with tuning [{}]: {}\n", s.text, variant, e.what());
      }
      results.push_back(r);
      save();
    }
  }
  if (FLAGS_json) fmt::print("{}\n", report.dump(2));
  for (const auto& r : results)
    if (r.contains("error") || !r["ok"].get<bool>()) return 1;
  return 0;
}

}  // namespace

int run_bench(const Args& args) {
  if (!FLAGS_matmul.empty()) return run_matmul_bench(args);
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
      fmt::print("{}: {} dispatches ({} barriers between them unprofiled), {:.1f} us of GPU time (profiled: a "
                 "barrier after every dispatch)\n",
                 label, step["dispatches"].get<size_t>(), step["barriers"].get<size_t>(), step["total_us"].get<double>());
      for (const auto& k : step["kernels"])
        fmt::print("  {:10.1f} us {:4d}x  {}\n", k["us"].get<double>(), k["calls"].get<int>(), k["kernel"].get<std::string>());
    }
  }
  return 0;
}

}  // namespace vkllm::cli
