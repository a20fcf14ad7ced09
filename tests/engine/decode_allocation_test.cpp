// Decode steps allocate no host memory once warmed up (issue 9, "Execution"). This binary replaces
// the global operator new with one that counts while a window is open, then runs decode steps of
// tiny synthesized models through every path that serves tokens: Model::step (greedy and sampled
// with penalties, one and two sequences per step, a dense and a recurrent family), engine::generate
// and the Scheduler's worker. Any allocation in a window fails the test with the count.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <thread>

#include "engine/generate.h"
#include "engine/model.h"
#include "engine/scheduler.h"
#include "tests/engine/reference_runner.h"

namespace {

// Counted from every thread (the Scheduler steps on its worker), only while a window is open.
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};

void* counted_alloc(std::size_t bytes, std::size_t alignment) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  const std::size_t size = bytes == 0 ? 1 : bytes;
  void* p = alignment <= alignof(std::max_align_t) ? std::malloc(size)
                                                   : std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

// The array and nothrow forms of libstdc++ call these.
void* operator new(std::size_t bytes) { return counted_alloc(bytes, alignof(std::max_align_t)); }
void* operator new(std::size_t bytes, std::align_val_t a) { return counted_alloc(bytes, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

namespace fs = std::filesystem;
using namespace vkllm;
using engine_test::every_filter;
using engine_test::prompt_of;

// Allocations made while it lives (from any thread).
class CountingWindow {
 public:
  CountingWindow() { open(); }
  ~CountingWindow() { close(); }
  void open() {
    g_allocations = 0;
    g_counting = true;
  }
  int64_t close() {
    g_counting = false;
    return g_allocations.load();
  }
};

fs::path synth_model(const std::string& family) { return engine_test::synth_tiny_model(family, 5); }

// Two sequences per decode step; blocks of 4 positions, so the measured steps take new KV blocks.
engine::ModelOptions small_options() {
  return engine_test::tiny_model_options(
      {.max_context = 64, .prefill_chunk = 8, .sequences = 2, .sampling_history = 16});
}

constexpr int kWarmupSteps = 2;
constexpr int kMeasuredSteps = 9;  // crosses at least two 4-position block boundaries

TEST(CountingOperatorNew, SeesAllocations) {
  // The counter itself must work, or every zero below would prove nothing.
  CountingWindow w;
  auto p = std::make_unique<std::vector<int>>(100);
  EXPECT_GE(w.close(), 2);
}

class DecodeAllocations : public ::testing::TestWithParam<std::string> {};

// `sequences` sequences of the model, each prefilled with its own prompt, then decode steps over all
// of them at once through Model::step; only the steps after the warm-up are counted.
void expect_allocation_free_steps(engine::Model& model, int sequences, bool sampled) {
  const int vocab = static_cast<int>(model.spec().vocab_size);
  std::vector<std::unique_ptr<engine::SequenceCache>> caches;
  std::vector<std::vector<int32_t>> contexts;
  std::vector<const engine::SequenceCache*> step_caches;
  std::vector<int32_t> next;
  for (int s = 0; s < sequences; ++s) {
    caches.push_back(std::make_unique<engine::SequenceCache>(model.blocks(), model.cache_layout().max_blocks_per_seq));
    contexts.push_back(prompt_of(5 + 3 * s, vocab, s));
    contexts.back().reserve(64);
    std::vector<engine::StepRow> rows;
    engine_test::add_rows(rows, *caches.back(), 0, contexts.back());
    const int32_t last = static_cast<int32_t>(rows.size() - 1);
    const engine::SequenceCache* one[] = {caches.back().get()};
    next.push_back(model.step(rows, one, {&last, 1}, false).next_tokens[0]);
    step_caches.push_back(caches.back().get());
  }
  std::vector<engine::StepRow> rows(static_cast<size_t>(sequences));
  std::vector<engine::RowSampling> sampling(static_cast<size_t>(sequences));
  std::vector<int32_t> wanted(static_cast<size_t>(sequences));
  for (int s = 0; s < sequences; ++s) wanted[static_cast<size_t>(s)] = s;

  int64_t allocations = 0;
  for (int step = 0; step < kWarmupSteps + kMeasuredSteps; ++step) {
    CountingWindow window;
    if (step < kWarmupSteps) window.close();
    for (size_t s = 0; s < rows.size(); ++s) {
      contexts[s].push_back(next[s]);
      int32_t slot = 0;
      caches[s]->append({&slot, 1});
      rows[s] = {next[s], static_cast<int32_t>(caches[s]->length() - 1), slot, static_cast<int32_t>(s)};
      sampling[s] = {sampled ? every_filter(100 + s) : engine::SamplingParams{}, contexts[s], step + 1};
    }
    const engine::StepResult& r = model.step(rows, step_caches, wanted, false, sampling);
    for (size_t s = 0; s < rows.size(); ++s) next[s] = r.next_tokens[s];
    if (step >= kWarmupSteps) allocations += window.close();
  }
  EXPECT_EQ(allocations, 0) << "allocations in " << kMeasuredSteps << " decode steps of " << sequences
                            << " sequence(s), " << (sampled ? "sampled" : "greedy");
  for (size_t s = 0; s < next.size(); ++s) EXPECT_TRUE(next[s] >= 0 && next[s] < vocab) << "sequence " << s;
}

TEST_P(DecodeAllocations, ModelStepsAllocateNothing) {
  auto model = engine::Model::load(synth_model(GetParam()), small_options());
  for (const bool sampled : {false, true}) {
    SCOPED_TRACE(sampled ? "sampled" : "greedy");
    expect_allocation_free_steps(*model, 1, sampled);
    expect_allocation_free_steps(*model, 2, sampled);
  }
}

TEST_P(DecodeAllocations, GenerateDecodesWithoutAllocating) {
  auto model = engine::Model::load(synth_model(GetParam()), small_options());
  const std::vector<int32_t> prompt = prompt_of(6, static_cast<int>(model->spec().vocab_size), 0);
  for (const bool sampled : {false, true}) {
    engine::GenerateOptions o;
    o.max_tokens = kWarmupSteps + kMeasuredSteps + 2;
    if (sampled) o.sampling = every_filter(3);
    // The window spans the decode steps between token kWarmupSteps and the last but one.
    int64_t seen = 0, allocations = -1;
    CountingWindow window;
    window.close();
    engine::Generation g = engine::generate(*model, prompt, o, [&](int32_t) {
      ++seen;
      if (seen == kWarmupSteps) window.open();
      if (seen == kWarmupSteps + kMeasuredSteps) allocations = window.close();
      return true;
    });
    EXPECT_EQ(g.tokens.size(), static_cast<size_t>(o.max_tokens));
    EXPECT_EQ(allocations, 0) << (sampled ? "sampled" : "greedy") << " generation";
  }
}

TEST_P(DecodeAllocations, SchedulerDecodeStepsAllocateNothing) {
  auto model = engine::Model::load(synth_model(GetParam()), small_options());
  const int vocab = static_cast<int>(model->spec().vocab_size);
  engine::Scheduler scheduler(*model);
  // Request 0 opens the window once request 1 is decoding too, and closes it kMeasuredSteps tokens
  // later; between the two every worker iteration is one decode step of both sequences.
  std::atomic<int64_t> tokens[2] = {0, 0};
  std::atomic<int> ended{0};
  std::atomic<int64_t> allocations{-1};
  std::atomic<int64_t> opened_at{-1};
  CountingWindow window;
  window.close();
  for (int i = 0; i < 2; ++i) {
    engine::Request r;
    r.prompt = prompt_of(6 + 5 * i, vocab, i);
    r.max_tokens = 24;
    if (i == 1) r.sampling = every_filter(9);
    r.on_token = [&, i](int32_t) {
      const int64_t n = ++tokens[i];
      if (i == 0 && opened_at < 0 && tokens[1] >= kWarmupSteps) {
        opened_at = n;
        window.open();
      } else if (i == 0 && opened_at >= 0 && n == opened_at + kMeasuredSteps) {
        allocations = window.close();
      }
      return true;
    };
    r.on_end = [&](const engine::RequestResult&) { ++ended; };
    scheduler.submit(std::move(r));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (ended < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(ended.load(), 2);
  ASSERT_GE(opened_at.load(), 0) << "request 1 never decoded beside request 0";
  EXPECT_EQ(allocations.load(), 0) << "allocations in " << kMeasuredSteps << " scheduler decode steps";
}

// A decode graph per batch size (small_options: decode_b1 and decode_b2): steps whose batch changes
// switch graphs; once each has run, switching allocates nothing either.
TEST_P(DecodeAllocations, SwitchingBatchSizesAllocatesNothing) {
  auto model = engine::Model::load(synth_model(GetParam()), small_options());
  const int vocab = static_cast<int>(model->spec().vocab_size);
  std::vector<std::unique_ptr<engine::SequenceCache>> caches;
  std::vector<const engine::SequenceCache*> step_caches;
  std::vector<int32_t> next;
  for (int s = 0; s < 2; ++s) {
    caches.push_back(std::make_unique<engine::SequenceCache>(model->blocks(), model->cache_layout().max_blocks_per_seq));
    std::vector<engine::StepRow> rows;
    engine_test::add_rows(rows, *caches.back(), 0, prompt_of(5 + s, vocab, s));
    const int32_t last = static_cast<int32_t>(rows.size() - 1);
    const engine::SequenceCache* one[] = {caches.back().get()};
    next.push_back(model->step(rows, one, {&last, 1}, false).next_tokens[0]);
    step_caches.push_back(caches.back().get());
  }
  std::vector<engine::StepRow> rows(2);
  const int32_t wanted[] = {0, 1};
  int64_t allocations = 0;
  for (int step = 0; step < kWarmupSteps + kMeasuredSteps; ++step) {
    const size_t batch = step % 2 == 0 ? 2 : 1;  // the warm-up steps run each graph once
    CountingWindow window;
    if (step < kWarmupSteps) window.close();
    for (size_t s = 0; s < batch; ++s) {
      int32_t slot = 0;
      caches[s]->append({&slot, 1});
      rows[s] = {next[s], static_cast<int32_t>(caches[s]->length() - 1), slot, static_cast<int32_t>(s)};
    }
    const engine::StepResult& r = model->step(std::span(rows).first(batch), std::span(step_caches).first(batch),
                                              std::span(wanted).first(batch), false);
    for (size_t s = 0; s < batch; ++s) next[s] = r.next_tokens[s];
    if (step >= kWarmupSteps) allocations += window.close();
    EXPECT_EQ(model->last_step_graph(), batch == 2 ? "decode_b2" : "decode_b1") << "step " << step;
  }
  EXPECT_EQ(allocations, 0) << "allocations in " << kMeasuredSteps << " decode steps alternating 2 and 1 sequences";
}

INSTANTIATE_TEST_SUITE_P(Families, DecodeAllocations, ::testing::Values("llama", "qwen35"),
                         [](const auto& info) { return info.param; });

}  // namespace
