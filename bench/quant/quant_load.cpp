// quant_load: the load-time cost of `--quant` (frontends/source/repack.h quantize_matrix_for_kernel), no GPU.
//
// Matrix mode (default): one random bf16 matrix (default 14336 x 4096, Llama-3-8B's MLP shape) into
// each format, three ways: as the loader did before the quantizer was split across threads (the
// whole matrix widened through HostTensor::get into one f32 vector, then quantized on one thread),
// the split quantizer on one thread, and on --threads threads (default: default_quantize_threads()).
// Checks that all three give the same bytes.
//
// Model mode (--model DIR): reads every matrix `--quant` quantizes from a model folder through the
// quantizing view (as the loader does) and reports the seconds; with --before 1 also the way the
// loader did before (slow: minutes for an 8B model), checking the bytes are the same.
//
//   flock /tmp/vkllm-build.lock ninja -C build quant_load
//   build/bench/quant/quant_load [--rows 14336] [--cols 4096] [--formats q4_0,q4_K] [--threads N]
//   build/bench/quant/quant_load --model DIR [--quant q4_0] [--before 1]    (the loader's default threads)
#include <fmt/format.h>

#include <time.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/quant/bench_args.h"
#include "frontends/model/model_spec.h"
#include "frontends/quant/half.h"
#include "frontends/source/model_source.h"
#include "frontends/source/repack.h"

using namespace vkllm;

namespace {

using bench::flag;
using bench::split;

template <class F>
double seconds(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// CPU seconds of every thread of the process (what a machine with more idle cores divides).
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

int matrix_mode(int64_t rows, int64_t cols, const std::vector<std::string>& formats, unsigned threads) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  ir::HostTensor t{ir::DType::BF16, {rows, cols}, std::vector<uint8_t>(static_cast<size_t>(rows * cols) * 2)};
  for (int64_t i = 0; i < rows * cols; ++i) {
    const uint16_t h = frontends::quant::f32_to_bf16(normal(rng));
    std::memcpy(t.bytes.data() + 2 * i, &h, 2);
  }
  fmt::print("{} x {} bf16 matrix, {} threads (hardware: {})\n\n", rows, cols, threads,
             std::thread::hardware_concurrency());
  fmt::print("| format | before: widen (s) | before: quantize (s) | before: total (s) | split, 1 thread (s) | split, {} threads (s) | split, {} threads: CPU ns/weight |\n",
             threads, threads);
  fmt::print("| --- | --- | --- | --- | --- | --- | --- |\n");
  int failures = 0;
  for (const std::string& name : formats) {
    const std::optional<ir::DType> target = ir::parse_dtype(name);
    if (!target || !frontends::can_quantize_to(*target)) {
      fmt::print(stderr, "unknown format '{}'\n", name);
      return 2;
    }
    std::vector<float> widened;
    const double widen_s = seconds([&] {
      widened.resize(static_cast<size_t>(rows * cols));
      for (size_t i = 0; i < widened.size(); ++i) widened[i] = static_cast<float>(t.get(static_cast<int64_t>(i)));
    });
    std::vector<uint8_t> before, one, many;
    const double quantize_s =
        seconds([&] { before = frontends::quantize_for_kernel(*target, cols, widened, {.threads = 1}); });
    widened = {};
    const double one_s = seconds(
        [&] { one = frontends::quantize_matrix_for_kernel(*target, t.dtype, rows, cols, t.bytes, {.threads = 1}); });
    const double cpu_start = cpu_seconds();
    const double many_s = seconds(
        [&] { many = frontends::quantize_matrix_for_kernel(*target, t.dtype, rows, cols, t.bytes, {.threads = threads}); });
    const double many_cpu = cpu_seconds() - cpu_start;
    const bool same = before == one && one == many;
    failures += !same;
    fmt::print("| {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.2f} |{}\n", name, widen_s, quantize_s,
               widen_s + quantize_s, one_s, many_s, many_cpu * 1e9 / static_cast<double>(rows * cols),
               same ? "" : " BYTES DIFFER");
  }
  return failures ? 1 : 0;
}

// The loader before the quantizer was split across threads: the stored matrix copied, widened
// through HostTensor::get into one f32 vector, quantized on one thread.
std::vector<uint8_t> quantize_as_before(const ir::HostTensor& t, ir::DType target) {
  std::vector<float> widened(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < widened.size(); ++i) widened[i] = static_cast<float>(t.get(static_cast<int64_t>(i)));
  return frontends::quantize_for_kernel(target, t.shape[1], widened, {.threads = 1});
}

int model_mode(const std::string& dir, const std::string& quant_name, bool before) {
  const std::optional<frontends::WeightQuant> quant = frontends::parse_weight_quant(quant_name);
  if (!quant) {
    fmt::print(stderr, "--quant {} quantizes nothing\n", quant_name);
    return 2;
  }
  std::unique_ptr<frontends::ModelSource> stored = frontends::open_model_source(dir);
  const frontends::ModelSpec spec = frontends::describe_model(stored->config(), stored->generation_config());
  std::unique_ptr<frontends::ModelSource> view =
      frontends::quantize_weights(frontends::open_model_source(dir), spec, *quant);
  double copy_s = 0, before_s = 0, view_s = 0;
  int64_t matrices = 0, weights = 0;
  bool same = true;
  for (const std::string& name : view->tensor_names()) {
    const std::optional<frontends::SourceTensor> s = stored->find(name), q = view->find(name);
    if (!s || !q || s->dtype == q->dtype) continue;
    ir::HostTensor copy, now;
    copy_s += seconds([&] { copy = stored->tensor(name); });
    view_s += seconds([&] { now = view->tensor(name); });
    if (before) {
      std::vector<uint8_t> old;
      before_s += seconds([&] { old = quantize_as_before(stored->tensor(name), q->dtype); });
      same = same && old == now.bytes;
    }
    ++matrices;
    weights += s->shape[0] * s->shape[1];
  }
  const auto per_weight = [&](double s) { return s * 1e9 / static_cast<double>(std::max<int64_t>(weights, 1)); };
  fmt::print("{}: {} matrices ({:.3f} G weights), --quant {}, {} threads\n", dir, matrices,
             static_cast<double>(weights) / 1e9, quant_name, frontends::default_quantize_threads());
  fmt::print("quantizing view: {:.2f} s ({:.2f} ns/weight)\n", view_s, per_weight(view_s));
  if (before)
    fmt::print("as before (copy, widen, 1 thread): {:.2f} s ({:.2f} ns/weight){}\n", before_s, per_weight(before_s),
               same ? "" : "; BYTES DIFFER");
  fmt::print("for scale, copying the stored matrices out of the mapping: {:.2f} s\n", copy_s);
  return same ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto threads = static_cast<unsigned>(
        std::stoul(flag(argc, argv, "threads", std::to_string(frontends::default_quantize_threads()))));
    const std::string model = flag(argc, argv, "model", "");
    if (!model.empty()) return model_mode(model, flag(argc, argv, "quant", "q4_0"), flag(argc, argv, "before", "0") == "1");
    return matrix_mode(std::stoll(flag(argc, argv, "rows", "14336")), std::stoll(flag(argc, argv, "cols", "4096")),
                       split(flag(argc, argv, "formats", "q4_0,q4_K")), threads);
  } catch (const std::exception& e) {
    fmt::print(stderr, "quant_load: {}\n", e.what());
    return 1;
  }
}
