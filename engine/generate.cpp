#include "engine/generate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace vkllm::engine {
namespace {

// Runs the prompt through the model in chunks and returns the last chunk's step, whose one wanted
// row is the prompt's last (its token chosen under `sampling`, default greedy). `logits` (optional)
// receives the logits of every prompt row (`all_rows`) or of the last, concatenated over chunks.
const StepResult& prefill(Model& model, SequenceCache& seq, std::span<const int32_t> prompt,
                          const RowSampling* sampling, ir::HostTensor* logits = nullptr, bool all_rows = false) {
  const auto chunk = static_cast<size_t>(model.options().prefill_chunk);
  const SequenceCache* seqs[] = {&seq};
  std::vector<StepRow> rows;
  std::vector<int32_t> slots(std::min(chunk, prompt.size())), wanted;
  rows.reserve(slots.size());
  wanted.reserve(slots.size());
  if (logits) *logits = ir::HostTensor{};
  const StepResult* last = nullptr;
  for (size_t begin = 0; begin < prompt.size(); begin += chunk) {
    const size_t end = std::min(prompt.size(), begin + chunk), n = end - begin;
    const bool final_chunk = end == prompt.size();
    const int32_t first_pos = static_cast<int32_t>(seq.length());
    seq.append(std::span(slots).first(n));
    rows.clear();
    for (size_t i = 0; i < n; ++i) rows.push_back({prompt[begin + i], first_pos + static_cast<int32_t>(i), slots[i], 0});
    wanted.clear();
    if (logits && all_rows) {
      wanted.resize(n);
      std::iota(wanted.begin(), wanted.end(), 0);
    } else if (final_chunk) {
      wanted.push_back(static_cast<int32_t>(n - 1));
    }
    // With every row wanted the last chunk's token is its last row's, chosen greedily.
    const std::span<const RowSampling> row_sampling =
        sampling && final_chunk && wanted.size() == 1 ? std::span<const RowSampling>(sampling, 1) : std::span<const RowSampling>();
    last = &model.step(rows, seqs, wanted, logits && !wanted.empty(), row_sampling);
    if (logits && !wanted.empty()) {
      if (logits->bytes.empty()) {
        *logits = last->logits;
      } else {
        logits->shape[0] += last->logits.shape[0];
        logits->bytes.insert(logits->bytes.end(), last->logits.bytes.begin(), last->logits.bytes.end());
      }
    }
  }
  return *last;
}

void check_prompt(const Model& model, std::span<const int32_t> prompt, int64_t extra) {
  if (prompt.empty()) throw std::invalid_argument("the prompt is empty");
  const int64_t capacity = model.cache_layout().max_context();
  if (static_cast<int64_t>(prompt.size()) + extra > capacity)
    throw ContextOverflow(fmt::format("context overflow: the prompt has {} tokens{} and the context holds {}",
                                      prompt.size(), extra ? fmt::format(" plus {} to generate", extra) : "", capacity));
}

}  // namespace

void check_sampling(const SamplingParams& p) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("sampling: " + what); };
  if (!std::isfinite(p.temperature) || p.temperature < 0)
    fail(fmt::format("temperature is {}; it must be >= 0 (0: greedy)", p.temperature));
  if (p.top_k < 0) fail(fmt::format("top_k is {}; it must be >= 0 (0: off)", p.top_k));
  if (!(p.top_p >= 0 && p.top_p <= 1)) fail(fmt::format("top_p is {}; it must be in [0, 1] (1: off)", p.top_p));
  if (!(p.min_p >= 0 && p.min_p <= 1)) fail(fmt::format("min_p is {}; it must be in [0, 1] (0: off)", p.min_p));
  if (!std::isfinite(p.repetition_penalty) || p.repetition_penalty <= 0)
    fail(fmt::format("repetition_penalty is {}; it must be > 0 (1: off)", p.repetition_penalty));
  if (!std::isfinite(p.presence_penalty)) fail("presence_penalty must be a finite number");
  if (!std::isfinite(p.frequency_penalty)) fail("frequency_penalty must be a finite number");
}

Generation generate(Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                    const std::function<bool(int32_t)>& on_token) {
  check_prompt(model, prompt, options.max_tokens);
  check_sampling(options.sampling);
  SequenceCache seq(model.blocks(), model.cache_layout().max_blocks_per_seq);
  Generation g;
  // The sequence so far (what the penalties look at) and the result, reserved once (check_prompt
  // bounds max_tokens by the context), so the decode loop allocates nothing.
  const auto most_tokens = static_cast<size_t>(std::max<int64_t>(options.max_tokens, 0));
  std::vector<int32_t> context;
  context.reserve(prompt.size() + most_tokens);
  context.assign(prompt.begin(), prompt.end());
  g.tokens.reserve(most_tokens);
  g.logprobs.reserve(most_tokens);
  RowSampling sampling{options.sampling, context, 0};
  const StepResult& first = prefill(model, seq, prompt, &sampling);
  int32_t token = first.next_tokens.back();
  float logprob = first.next_scores.back();
  const SequenceCache* seqs[] = {&seq};
  const int32_t wanted[] = {0};
  int32_t slot = 0;
  while (true) {
    if (std::find(options.eos_ids.begin(), options.eos_ids.end(), token) != options.eos_ids.end()) {
      g.finish = FinishReason::Eos;
      break;
    }
    g.tokens.push_back(token);
    g.logprobs.push_back(logprob);
    context.push_back(token);
    if (on_token && !on_token(token)) {
      g.finish = FinishReason::Stopped;
      break;
    }
    if (static_cast<int64_t>(g.tokens.size()) >= options.max_tokens) {
      g.finish = FinishReason::Length;
      break;
    }
    const int32_t pos = static_cast<int32_t>(seq.length());
    seq.append({&slot, 1});
    const StepRow row{token, pos, slot, 0};
    sampling.context = context;
    sampling.token_index = static_cast<int64_t>(g.tokens.size());
    const StepResult& r = model.step({&row, 1}, seqs, wanted, false, {&sampling, 1});
    token = r.next_tokens[0];
    logprob = r.next_scores[0];
  }
  return g;
}

ir::HostTensor prompt_logits(Model& model, std::span<const int32_t> prompt, bool all_positions) {
  check_prompt(model, prompt, 0);
  SequenceCache seq(model.blocks(), model.cache_layout().max_blocks_per_seq);
  ir::HostTensor logits;
  prefill(model, seq, prompt, nullptr, &logits, all_positions);
  return logits;
}

}  // namespace vkllm::engine
