// split-decode-sample: `sample` over few rows — a decode step, known from the bound of its row dim
// (SymbolBounds: the engine passes its decode row bound) — becomes
// `sample_finish(..., sample_partial(...))` (ir/README.md "split sample"). The `sample` kernel gives
// each row one workgroup, which walks the whole vocabulary several times (penalties, max, sums, 8-11
// search passes for top-k): at batch 1 one SM of the GPU does ~0.3 ms of work for a 151k vocabulary.
// The partial op spreads each row over `splits` workgroups that each summarize one chunk (max,
// argmax, exp sum, top-k candidates); the finish reads those summaries, and the logits only when
// they cannot answer (codegen/ops/sample.cpp says when). Exact: sample_finish's semantics are
// sample's, whatever the partials (the kernels give the same tokens; sums are regrouped by chunk).
//
// Splits: chunks of at most kChunk tokens (P = ceil(V / 2048): 8 KiB of logits staged in the partial
// kernel's shared memory, which fits even the 16 KiB of the generic profile), at most kMaxSplits of
// them (vocabularies up to 262144). Candidates per chunk: Q = min(64, kMaxUnion / P), so that the P·Q
// candidates fit the finish kernel's shared memory (16 KiB): every k <= Q is served whatever the
// logits, larger k (up to 512) when no chunk holds more than Q of the row's top k. llama3 (128256):
// 63 x 64; qwen (151936): 75 x 54; gemma3 (262144): 128 x 32. Vocabularies of one chunk or fewer,
// and rows without a bound (prefill), keep `sample`.
#include <algorithm>

#include "ir/verify.h"
#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace vkllm::passes {
namespace {

constexpr int64_t kChunk = 2048;
constexpr int64_t kMaxSplits = 128;
constexpr int64_t kMaxCandidates = 64;
constexpr int64_t kMaxUnion = 4096;  // codegen/ops/sample.cpp kMaxUnion

// The split count for `op` (sample), or 1 when it should stay whole.
int64_t splits_for(const ir::Graph& g, const ir::Op& op, const SymbolBounds& bounds) {
  const ir::Shape& logits = g.type(op.inputs[0]).shape;
  const int64_t rows = bound_of(logits[0], bounds);
  if (rows < 0 || rows > kMaxDecodeRows || !logits[1].is_const()) return 1;
  const int64_t vocab = logits[1].value;
  const int64_t splits = (vocab + kChunk - 1) / kChunk;
  return splits > kMaxSplits ? 1 : splits;
}

}  // namespace

void split_decode_sample(ir::Graph& g, const SymbolBounds& bounds) {
  // sample(logits, params, rng, history) -> partial(logits, params, history), finish(all, partials).
  split_ops(
      g,
      [&](const ir::Op& op) -> std::optional<ir::Op> {
        const int64_t splits = op.kind == ir::OpKind::Sample ? splits_for(g, op, bounds) : 1;
        if (splits < 2) return std::nullopt;
        ir::Op partial{ir::OpKind::SamplePartial, {op.inputs[0], op.inputs[1], op.inputs[3]}, {}, {}};
        partial.attrs["splits"] = splits;
        partial.attrs["candidates"] = std::min(kMaxCandidates, kMaxUnion / splits);
        return partial;
      },
      [](ir::Op& op, ir::ValueId partials) {
        std::vector<ir::ValueId> inputs = op.inputs;
        inputs.push_back(partials);
        return ir::Op{ir::OpKind::SampleFinish, std::move(inputs), op.results, {}};
      });
}

}  // namespace vkllm::passes
