#include "engine/generate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace vkllm::engine {
namespace {

// Runs the prompt through the model in chunks. Returns the last step's result (the rows asked for
// in `want_all ? every row : the last row`), concatenating logits over chunks when `with_logits`.
// `sampling` (optional) chooses the last row's token when only that row is wanted.
StepResult prefill(Model& model, SequenceCache& seq, std::span<const int32_t> prompt, bool want_all, bool with_logits,
                   const RowSampling* sampling = nullptr) {
  const int64_t chunk = model.options().prefill_chunk;
  const SequenceCache* seqs[] = {&seq};
  StepResult total;
  std::vector<StepRow> rows;
  for (size_t begin = 0; begin < prompt.size(); begin += static_cast<size_t>(chunk)) {
    const size_t end = std::min(prompt.size(), begin + static_cast<size_t>(chunk));
    const int32_t first_pos = static_cast<int32_t>(seq.length());
    std::vector<int32_t> slots = seq.append(static_cast<int64_t>(end - begin));
    rows.clear();
    for (size_t i = begin; i < end; ++i)
      rows.push_back({prompt[i], first_pos + static_cast<int32_t>(i - begin), slots[i - begin], 0});
    std::vector<int32_t> wanted;
    std::span<const RowSampling> row_sampling;
    if (want_all) {
      wanted.resize(rows.size());
      std::iota(wanted.begin(), wanted.end(), 0);
    } else if (end == prompt.size()) {
      wanted.push_back(static_cast<int32_t>(rows.size() - 1));
      if (sampling) row_sampling = {sampling, 1};
    }
    StepResult r = model.step(rows, seqs, wanted, with_logits && !wanted.empty(), row_sampling);
    total.next_tokens.insert(total.next_tokens.end(), r.next_tokens.begin(), r.next_tokens.end());
    total.next_scores.insert(total.next_scores.end(), r.next_scores.begin(), r.next_scores.end());
    if (with_logits && !wanted.empty()) {
      if (total.logits.bytes.empty()) {
        total.logits = std::move(r.logits);
      } else {
        total.logits.shape[0] += r.logits.shape[0];
        total.logits.bytes.insert(total.logits.bytes.end(), r.logits.bytes.begin(), r.logits.bytes.end());
      }
    }
  }
  return total;
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
  // The sequence so far: what the penalties look at. Reserved once, so the decode loop allocates nothing.
  std::vector<int32_t> context(prompt.begin(), prompt.end());
  context.reserve(prompt.size() + static_cast<size_t>(std::max<int64_t>(options.max_tokens, 0)));
  RowSampling sampling{options.sampling, context, 0};
  StepResult first = prefill(model, seq, prompt, false, false, &sampling);
  int32_t token = first.next_tokens.back();
  float logprob = first.next_scores.back();
  const SequenceCache* seqs[] = {&seq};
  const int32_t wanted[] = {0};
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
    const int32_t slot = seq.append(1)[0];
    const StepRow row{token, pos, slot, 0};
    sampling.context = context;
    sampling.token_index = static_cast<int64_t>(g.tokens.size());
    StepResult r = model.step({&row, 1}, seqs, wanted, false, {&sampling, 1});
    token = r.next_tokens[0];
    logprob = r.next_scores[0];
  }
  return g;
}

ir::HostTensor prompt_logits(Model& model, std::span<const int32_t> prompt, bool all_positions) {
  check_prompt(model, prompt, 0);
  SequenceCache seq(model.blocks(), model.cache_layout().max_blocks_per_seq);
  return prefill(model, seq, prompt, all_positions, true).logits;
}

}  // namespace vkllm::engine
