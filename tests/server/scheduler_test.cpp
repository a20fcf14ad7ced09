// The continuous-batching scheduler against engine::generate (an independent loop that runs one
// sequence alone): several concurrent requests with different prompt lengths, more requests than
// decode rows, cancellation, queue limits and context checks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <random>

#include "engine/generate.h"
#include "engine/scheduler.h"
#include "frontends/model/synth.h"

namespace fs = std::filesystem;
using namespace vkllm;
using namespace std::chrono_literals;

namespace {

// An untied output head: with tied embeddings a random model mostly repeats its last input token,
// which would hide a batch that mixed up its rows. Removed when the test program exits.
struct SynthModel {
  fs::path dir = fs::temp_directory_path() / ("vkllm_scheduler_qwen3_" + std::to_string(::getpid()));
  SynthModel() {
    frontends::SynthOptions o;
    o.family = "qwen3";
    o.out_dir = dir;
    o.seed = 7;
    o.overrides = {{"tie_word_embeddings", false}};
    frontends::synthesize(o);
  }
  ~SynthModel() { fs::remove_all(dir); }
};

fs::path synth_model() {
  static const SynthModel model;
  return model.dir;
}

std::unique_ptr<engine::Model> load(int64_t rows) {
  engine::ModelOptions o;
  o.max_context = 64;
  o.block_size = 4;
  o.max_sequences = rows;
  o.max_decode_rows = rows;
  o.prefill_chunk = 8;  // several chunks per prompt, the last one sometimes in the decode graph
  return engine::Model::load(synth_model(), o);
}

struct Outcome {
  std::vector<int32_t> tokens;
  engine::RequestResult result;
};

// Submits a request whose tokens and result land in the returned future.
std::future<Outcome> submit(engine::Scheduler& sched, std::vector<int32_t> prompt, int64_t max_tokens,
                            std::vector<int64_t> stop_ids, std::shared_ptr<std::atomic<bool>> cancel = {},
                            std::function<void(int64_t)> on_count = {}) {
  auto outcome = std::make_shared<Outcome>();
  auto done = std::make_shared<std::promise<Outcome>>();
  engine::Request r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.stop_ids = std::move(stop_ids);
  r.cancel = std::move(cancel);
  r.on_token = [outcome, on_count](int32_t t) {
    outcome->tokens.push_back(t);
    if (on_count) on_count(static_cast<int64_t>(outcome->tokens.size()));
    return true;
  };
  r.on_end = [outcome, done](const engine::RequestResult& res) {
    outcome->result = res;
    done->set_value(*outcome);
  };
  std::future<Outcome> f = done->get_future();
  sched.submit(std::move(r));
  return f;
}

TEST(Scheduler, BatchedGreedyTokensEqualEachRequestRunAlone) {
  auto model = load(4);
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(1, static_cast<int32_t>(model->spec().vocab_size) - 1);
  // Six requests for four decode rows: two wait for a slot. Prompts of 1 to 3 prefill chunks.
  const std::vector<size_t> lengths = {3, 11, 20, 6, 17, 9};
  const std::vector<int64_t> max_tokens = {12, 7, 15, 10, 5, 14};
  std::vector<std::vector<int32_t>> prompts;
  for (size_t n : lengths) {
    std::vector<int32_t> p(n);
    for (int32_t& t : p) t = id(rng);
    prompts.push_back(p);
  }
  std::vector<int64_t> eos = model->spec().eos_token_ids;

  std::vector<engine::Generation> alone;
  for (size_t i = 0; i < prompts.size(); ++i) {
    engine::GenerateOptions o;
    o.max_tokens = max_tokens[i];
    o.eos_ids = eos;
    alone.push_back(engine::generate(*model, prompts[i], o));
  }

  engine::Scheduler sched(*model);
  std::vector<std::future<Outcome>> futures;
  for (size_t i = 0; i < prompts.size(); ++i) futures.push_back(submit(sched, prompts[i], max_tokens[i], eos));
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_EQ(futures[i].wait_for(60s), std::future_status::ready) << "request " << i;
    Outcome o = futures[i].get();
    EXPECT_EQ(o.tokens, alone[i].tokens) << "request " << i;
    EXPECT_EQ(o.result.end, alone[i].finish == engine::FinishReason::Eos ? engine::RequestEnd::Eos : engine::RequestEnd::Length)
        << "request " << i;
    EXPECT_EQ(o.result.prompt_tokens, static_cast<int64_t>(lengths[i]));
    EXPECT_EQ(o.result.generated_tokens, static_cast<int64_t>(alone[i].tokens.size()));
  }
  EXPECT_EQ(sched.stats().kv_blocks_used, 0);
}

TEST(Scheduler, CancelEndsTheSequenceAndFreesItsBlocks) {
  auto model = load(2);
  engine::Scheduler sched(*model);
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  std::vector<int32_t> prompt = {5, 9, 13, 17, 21, 25, 29};
  // No stop ids: only the cancel flag (set after 3 tokens) can end it before 50 tokens.
  auto f = submit(sched, prompt, 50, {}, cancel, [cancel](int64_t n) {
    if (n == 3) cancel->store(true);
  });
  ASSERT_EQ(f.wait_for(60s), std::future_status::ready);
  Outcome o = f.get();
  EXPECT_EQ(o.result.end, engine::RequestEnd::Cancelled);
  EXPECT_LT(o.tokens.size(), 10u);
  EXPECT_EQ(sched.stats().kv_blocks_used, 0);
  EXPECT_EQ(model->blocks().free_blocks(), model->blocks().num_blocks());
}

TEST(Scheduler, RejectsBeyondTheQueueLimitAndTheContext) {
  auto model = load(1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  engine::Scheduler sched(*model, {.max_waiting = 1});
  // The first request holds the worker inside its first token callback until released.
  engine::Request blocker;
  blocker.prompt = {3, 4, 5};
  blocker.max_tokens = 2;
  std::promise<void> started;
  blocker.on_token = [&started, released, first = true](int32_t) mutable {
    if (first) started.set_value(), released.wait();
    first = false;
    return true;
  };
  sched.submit(std::move(blocker));
  started.get_future().wait();
  auto queued = submit(sched, {6, 7}, 2, {});
  EXPECT_THROW(submit(sched, {8, 9}, 2, {}), engine::QueueFull);
  EXPECT_EQ(sched.stats().waiting, 1);
  release.set_value();
  ASSERT_EQ(queued.wait_for(60s), std::future_status::ready);
  EXPECT_EQ(queued.get().result.end, engine::RequestEnd::Length);

  EXPECT_THROW(submit(sched, std::vector<int32_t>(60, 3), 5, {}), engine::ContextOverflow);
  EXPECT_THROW(submit(sched, {}, 5, {}), std::invalid_argument);
  EXPECT_THROW(submit(sched, {1, 2}, 0, {}), std::invalid_argument);
  EXPECT_THROW(submit(sched, {1, static_cast<int32_t>(model->spec().vocab_size)}, 2, {}), std::invalid_argument);
}

}  // namespace
