#include "engine/scheduler.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/generate.h"

namespace vkllm::engine {

struct Scheduler::Sequence {
  Request request;
  int64_t reserved_blocks = 0;  // blocks for prompt + max_tokens, counted while running
  std::unique_ptr<SequenceCache> cache;
  size_t prefilled = 0;         // prompt tokens already in the cache
  bool decoding = false;        // prefill done; next_token is the next decode input
  int32_t next_token = 0;
  int64_t generated = 0;
  std::vector<int32_t> context;  // prompt + delivered tokens: what the penalties see (reserved once)
  bool ended = false;

  bool cancelled() const { return request.cancel && request.cancel->load(); }
};

Scheduler::Scheduler(Model& model, SchedulerOptions options)
    : model_(model),
      options_(options),
      max_running_(std::min(model.options().max_decode_rows, model.cache_layout().max_seqs)),
      worker_([this] { work(); }) {}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

void Scheduler::submit(Request request) {
  const int64_t prompt = static_cast<int64_t>(request.prompt.size());
  if (prompt == 0) throw std::invalid_argument("the prompt is empty");
  if (request.max_tokens < 1) throw std::invalid_argument(fmt::format("max_tokens is {}; it must be at least 1", request.max_tokens));
  check_sampling(request.sampling);
  const int64_t context = model_.cache_layout().max_context();
  if (prompt + request.max_tokens > context)
    throw ContextOverflow(fmt::format("the prompt has {} tokens plus {} to generate and the context holds {} (over by {})",
                                      prompt, request.max_tokens, context, prompt + request.max_tokens - context));
  const int64_t vocab = model_.spec().vocab_size;
  for (int32_t t : request.prompt)
    if (t < 0 || t >= vocab) throw std::invalid_argument(fmt::format("token id {} is outside the vocabulary (0..{})", t, vocab - 1));
  auto s = std::make_unique<Sequence>();
  const int64_t block = model_.cache_layout().block_size;
  s->reserved_blocks = (prompt + request.max_tokens + block - 1) / block;
  if (s->reserved_blocks > model_.blocks().num_blocks())
    throw ContextOverflow(fmt::format("the request needs {} KV cache blocks and the cache has {}", s->reserved_blocks,
                                      model_.blocks().num_blocks()));
  s->context.reserve(static_cast<size_t>(prompt + request.max_tokens));
  s->context.assign(request.prompt.begin(), request.prompt.end());
  s->request = std::move(request);
  {
    std::lock_guard lock(mutex_);
    if (static_cast<int64_t>(waiting_.size()) >= options_.max_waiting)
      throw QueueFull(fmt::format("{} requests are already waiting; try again later", waiting_.size()));
    waiting_.push_back(std::move(s));
  }
  wake_.notify_all();
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats st;
  {
    std::lock_guard lock(mutex_);
    st.waiting = static_cast<int64_t>(waiting_.size());
  }
  st.running = stat_running_.load();
  st.kv_blocks_used = stat_blocks_used_.load();
  st.kv_blocks_total = model_.cache_layout().num_blocks;
  return st;
}

// A request is admitted only when the blocks for its whole prompt + max_tokens are free of every
// running sequence's reservation, so a running sequence never meets a full cache (engine::CacheFull):
// requests that do not fit yet wait in the queue, in order.
bool Scheduler::fits(const Sequence& s) const {
  return static_cast<int64_t>(running_.size()) < max_running_ &&
         model_.blocks().num_blocks() - reserved_blocks_ >= s.reserved_blocks;
}

void Scheduler::work() {
  // The step buffers, sized once for the largest step (a prefill chunk or every running sequence),
  // so steps allocate nothing.
  const auto most_rows = static_cast<size_t>(std::max(model_.options().prefill_chunk, max_running_));
  active_.reserve(static_cast<size_t>(max_running_));
  step_sequences_.reserve(static_cast<size_t>(max_running_));
  row_sampling_.reserve(static_cast<size_t>(max_running_));
  step_rows_.reserve(most_rows);
  step_wanted_.reserve(most_rows);
  step_slots_.assign(most_rows, 0);
  while (true) {
    std::vector<std::unique_ptr<Sequence>> cancelled;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !running_.empty(); });
      if (stopping_) break;
      for (auto it = waiting_.begin(); it != waiting_.end();) {
        if ((*it)->cancelled()) {
          cancelled.push_back(std::move(*it));
          it = waiting_.erase(it);
        } else {
          ++it;
        }
      }
      while (!waiting_.empty() && fits(*waiting_.front())) {
        std::unique_ptr<Sequence> s = std::move(waiting_.front());
        waiting_.pop_front();
        s->cache = std::make_unique<SequenceCache>(model_.blocks(), model_.cache_layout().max_blocks_per_seq);
        reserved_blocks_ += s->reserved_blocks;
        running_.push_back(std::move(s));
      }
    }
    for (auto& s : cancelled) finish(*s, RequestEnd::Cancelled);
    for (auto& s : running_)
      if (s->cancelled()) finish(*s, RequestEnd::Cancelled);
    drop_ended();
    prefill_chunk();
    decode_step();
    drop_ended();
  }
  std::deque<std::unique_ptr<Sequence>> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(waiting_);
  }
  for (auto& s : running_) finish(*s, RequestEnd::Cancelled);
  for (auto& s : left) finish(*s, RequestEnd::Cancelled);
  running_.clear();
}

// One chunk of the earliest admitted sequence that is still prefilling, chunked exactly as
// engine::generate chunks a prompt (same rows per step, so the same graphs and the same numbers).
void Scheduler::prefill_chunk() {
  auto it = std::find_if(running_.begin(), running_.end(), [](const auto& s) { return !s->decoding && !s->ended; });
  if (it == running_.end()) return;
  Sequence& s = **it;
  const std::vector<int32_t>& prompt = s.request.prompt;
  const size_t n = std::min(prompt.size() - s.prefilled, static_cast<size_t>(model_.options().prefill_chunk));
  const int32_t first_pos = static_cast<int32_t>(s.cache->length());
  const StepResult* r = nullptr;
  try {
    const std::span<int32_t> slots = std::span(step_slots_).first(n);
    s.cache->append(slots);
    step_rows_.clear();
    for (size_t i = 0; i < n; ++i)
      step_rows_.push_back({prompt[s.prefilled + i], first_pos + static_cast<int32_t>(i), slots[i], 0});
    step_wanted_.clear();
    if (s.prefilled + n == prompt.size()) step_wanted_.push_back(static_cast<int32_t>(n - 1));
    const SequenceCache* seqs[] = {s.cache.get()};
    const RowSampling first{s.request.sampling, s.context, 0};
    r = &model_.step(step_rows_, seqs, step_wanted_, false, {&first, step_wanted_.size()});
  } catch (const std::exception& e) {
    finish(s, RequestEnd::Failed, fmt::format("prefill failed: {}", e.what()));
    return;
  }
  s.prefilled += n;
  if (s.prefilled == prompt.size()) {
    s.decoding = true;
    deliver(s, r->next_tokens[0]);
  }
}

// One row per decoding sequence, all in one forward pass; row i reads block-table row i.
void Scheduler::decode_step() {
  std::vector<Sequence*>& active = active_;
  active.clear();
  for (auto& s : running_)
    if (s->decoding && !s->ended) active.push_back(s.get());
  if (active.empty()) return;
  step_rows_.clear();
  step_sequences_.clear();
  step_wanted_.clear();
  row_sampling_.clear();
  const StepResult* r = nullptr;
  try {
    for (size_t i = 0; i < active.size(); ++i) {
      SequenceCache& cache = *active[i]->cache;
      const int32_t pos = static_cast<int32_t>(cache.length());
      int32_t slot = 0;
      cache.append({&slot, 1});
      step_rows_.push_back({active[i]->next_token, pos, slot, static_cast<int32_t>(i)});
      step_sequences_.push_back(&cache);
      step_wanted_.push_back(static_cast<int32_t>(i));
      row_sampling_.push_back({active[i]->request.sampling, active[i]->context, active[i]->generated});
    }
    r = &model_.step(step_rows_, step_sequences_, step_wanted_, false, row_sampling_);
  } catch (const std::exception& e) {
    for (Sequence* s : active) finish(*s, RequestEnd::Failed, fmt::format("decode step failed: {}", e.what()));
    return;
  }
  for (size_t i = 0; i < active.size(); ++i) deliver(*active[i], r->next_tokens[i]);
}

// The same stop order as engine::generate: end-of-sequence (not delivered), then the callback's
// verdict, then the length limit.
bool Scheduler::deliver(Sequence& s, int32_t token) {
  const std::vector<int64_t>& stops = s.request.stop_ids;
  if (std::find(stops.begin(), stops.end(), token) != stops.end()) {
    finish(s, RequestEnd::Eos);
    return false;
  }
  ++s.generated;
  s.context.push_back(token);
  bool go_on = true;
  try {
    if (s.request.on_token) go_on = s.request.on_token(token);
  } catch (const std::exception& e) {
    finish(s, RequestEnd::Failed, fmt::format("token callback failed: {}", e.what()));
    return false;
  }
  if (!go_on) {
    finish(s, RequestEnd::Stopped);
    return false;
  }
  if (s.generated >= s.request.max_tokens) {
    finish(s, RequestEnd::Length);
    return false;
  }
  s.next_token = token;
  return true;
}

void Scheduler::finish(Sequence& s, RequestEnd end, std::string error) {
  if (s.ended) return;
  s.ended = true;
  if (s.cache) {
    s.cache.reset();  // frees the KV blocks now, for the next admission
    reserved_blocks_ -= s.reserved_blocks;
  }
  stat_blocks_used_ = model_.blocks().num_blocks() - model_.blocks().free_blocks();
  RequestResult result{end, static_cast<int64_t>(s.request.prompt.size()), s.generated, std::move(error)};
  if (s.request.on_end) {
    try {
      s.request.on_end(result);
    } catch (const std::exception&) {
      // The request is over either way; a failing observer must not stop the other sequences.
    }
  }
}

void Scheduler::drop_ended() {
  std::erase_if(running_, [](const auto& s) { return s->ended; });
  stat_running_ = static_cast<int64_t>(running_.size());
  stat_blocks_used_ = model_.blocks().num_blocks() - model_.blocks().free_blocks();
}

}  // namespace vkllm::engine
