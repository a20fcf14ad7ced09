#include "tests/engine/reference_runner.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <stdexcept>

#include "engine/generate.h"
#include "frontends/model/lower.h"
#include "frontends/model/synth.h"

namespace vkllm::engine_test {
namespace {

ir::HostTensor ints(std::vector<int64_t> shape) { return ir::HostTensor::zeros(ir::DType::I32, std::move(shape)); }

// Sampling inputs of n greedy rows without penalties (ir/README.md "sample").
ir::HostTensor greedy_params(int64_t n) {
  ir::HostTensor t = ir::HostTensor::zeros(ir::DType::F32, {n, 8});
  for (int64_t r = 0; r < n; ++r) t.set(r * 8 + 2, 1.0), t.set(r * 8 + 4, 1.0);  // top_p 1, repetition 1
  return t;
}

ir::HostTensor no_history(int64_t n, int64_t h) {
  ir::HostTensor t = ints({n, h});
  for (int64_t i = 0; i < n * h; ++i) t.set(i, -1);
  return t;
}

ir::DType checkpoint_dtype(const engine::Model& m, const std::string& name) {
  switch (m.checkpoint().tensor(name).dtype) {
    case frontends::StDType::F16: return ir::DType::F16;
    case frontends::StDType::F32: return ir::DType::F32;
    default: return ir::DType::BF16;
  }
}

}  // namespace

const std::filesystem::path& scratch_dir() {
  // Never destroyed: the exit handler below still needs it after static destructors ran.
  static const auto* dir = [] {
    auto* d = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                        ("vkllm_engine_test_" + std::to_string(::getpid())));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_dir(), ignored);
    });
    return d;
  }();
  return *dir;
}

std::filesystem::path synth_tiny_model(const std::string& family, uint64_t seed) {
  const std::filesystem::path d = scratch_dir() / (family + "_seed" + std::to_string(seed));
  if (!std::filesystem::exists(d / "config.json")) {
    frontends::SynthOptions o;
    o.family = family;
    o.out_dir = d;
    o.seed = seed;
    frontends::synthesize(o);
  }
  return d;
}

engine::ModelOptions tiny_model_options(const TinyOptions& t) {
  engine::ModelOptions o;
  o.max_context = t.max_context;
  o.block_size = 4;
  o.max_sequences = t.sequences;
  o.max_decode_rows = t.sequences;
  o.prefill_chunk = t.prefill_chunk;
  o.sampling_history = t.sampling_history;
  return o;
}

std::vector<int32_t> prompt_of(int n, int vocab, int salt) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) p[static_cast<size_t>(i)] = static_cast<int32_t>((i * 37 + 11 + salt * 101) % (vocab - 8) + 1);
  return p;
}

engine::SamplingParams every_filter(uint64_t seed) {
  engine::SamplingParams p;
  p.temperature = 0.8;
  p.top_k = 40;
  p.top_p = 0.95;
  p.min_p = 0.01;
  p.repetition_penalty = 1.2;
  p.presence_penalty = 0.3;
  p.frequency_penalty = 0.2;
  p.seed = seed;
  return p;
}

void add_rows(std::vector<engine::StepRow>& rows, engine::SequenceCache& seq, int32_t seq_row,
              const std::vector<int32_t>& tokens) {
  const auto first = static_cast<int32_t>(seq.length());
  const std::vector<int32_t> slots = seq.append(static_cast<int64_t>(tokens.size()));
  for (size_t i = 0; i < tokens.size(); ++i) rows.push_back({tokens[i], first + static_cast<int32_t>(i), slots[i], seq_row});
}

ir::HostTensor run_alone(engine::Model& m, engine::SequenceCache& seq, const std::vector<int32_t>& tokens) {
  std::vector<engine::StepRow> rows;
  add_rows(rows, seq, 0, tokens);
  std::vector<int32_t> wanted(rows.size());
  std::iota(wanted.begin(), wanted.end(), 0);
  const engine::SequenceCache* seqs[] = {&seq};
  return m.step(rows, seqs, wanted, true).logits;
}

ReferenceModel::ReferenceModel(engine::Model& m, ReferenceWeights weights)
    : m_(m), weights_(weights), pool_(m.cache_layout().num_blocks, m.cache_layout().block_size),
      seq_(pool_, m.cache_layout().max_blocks_per_seq) {
  auto dtype_of = [&](const std::string& name) {
    return weights_ == ReferenceWeights::Checkpoint ? checkpoint_dtype(m, name) : m.source().info(name).dtype;
  };
  graph_ = frontends::build_forward_graph(m.spec(), m.cache_layout(), dtype_of, true, "reference");
  for (const ir::Op& op : graph_.ops)
    if (op.kind == ir::OpKind::State) {
      const ir::Type& t = graph_.type(op.results[0]);
      states_[op.attr_str("name")] = ir::HostTensor::zeros(t.dtype, ir::concrete_shape(t.shape, {}));
    }
}

ir::HostTensor ReferenceModel::feed(const std::vector<int32_t>& tokens) {
  const int n = static_cast<int>(tokens.size());
  const frontends::CacheLayout& l = m_.cache_layout();
  ir::HostTensor tok = ints({n}), pos = ints({n}), slots = ints({n}), row_seq = ints({n}),
                 table = ints({l.max_seqs, l.max_blocks_per_seq}), out_rows = ints({n});
  const int64_t first = seq_.length();
  const std::vector<int32_t> s = seq_.append(n);
  for (int i = 0; i < n; ++i) {
    tok.set(i, tokens[static_cast<size_t>(i)]);
    pos.set(i, static_cast<double>(first + i));
    slots.set(i, s[static_cast<size_t>(i)]);
    out_rows.set(i, i);
  }
  std::vector<int32_t> row(static_cast<size_t>(l.max_seqs * l.max_blocks_per_seq), -1);
  seq_.fill_block_row(row.data());
  for (size_t i = 0; i < row.size(); ++i) table.set(static_cast<int64_t>(i), row[i]);
  const ir::WeightFn weights = [&](const std::string& name, const ir::Type& type) {
    if (weights_ == ReferenceWeights::ModelSource) {
      auto it = source_tensors_.find(name);
      if (it == source_tensors_.end()) it = source_tensors_.emplace(name, m_.source().tensor(name)).first;
      return it->second;
    }
    const frontends::TensorView& v = m_.checkpoint().tensor(name);
    ir::HostTensor t;
    t.dtype = type.dtype;
    t.shape = v.shape;
    t.bytes.assign(v.bytes.begin(), v.bytes.end());
    return t;
  };
  std::map<std::string, ir::HostTensor> inputs = {
      {"tokens", tok},         {"pos", pos},
      {"slots", slots},        {"row_seq", row_seq},
      {"block_table", table},  {"out_rows", out_rows},
      {"sample_params", greedy_params(n)}, {"sample_rng", ints({n, 2})},
      {"sample_history", no_history(n, l.sample_history)}};
  if (m_.spec().has_linear_attention()) {
    ir::HostTensor src = ints({n}), dst = ints({n});
    for (int i = 0; i < n; ++i) {
      src.set(i, i > 0 ? -1 : first == 0 ? -2 : 0);
      dst.set(i, i == n - 1 ? 0 : -1);
    }
    inputs["state_src"] = src;
    inputs["state_dst"] = dst;
  }
  ir::ReferenceRun r = ir::run_reference(graph_, {{frontends::kRowsSymbol, n}, {frontends::kOutRowsSymbol, n}}, inputs,
                                         weights, &states_);
  for (size_t o = 0; o < graph_.outputs.size(); ++o)
    if (graph_.value(graph_.outputs[o]).name == "logits") return r.outputs[o];
  throw std::logic_error("the forward graph has no logits output");
}

double relative_error(const ir::HostTensor& a, int64_t row_a, const ir::HostTensor& b, int64_t row_b, int64_t rows) {
  const int64_t v = b.shape[1];
  double err = 0, scale = 1e-30;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < v; ++j) {
      const double x = a.get((row_a + r) * v + j), y = b.get((row_b + r) * v + j);
      err = std::max(err, std::isnan(x) ? INFINITY : std::abs(x - y));
      scale = std::max(scale, std::abs(y));
    }
  return err / scale;
}

double relative_error(const ir::HostTensor& a, const ir::HostTensor& b) {
  if (a.shape != b.shape) return INFINITY;
  double err = 0, scale = 1e-30;
  for (int64_t i = 0; i < b.numel(); ++i) {
    const double x = a.get(i), y = b.get(i);
    err = std::max(err, std::isnan(x) ? INFINITY : std::abs(x - y));
    scale = std::max(scale, std::abs(y));
  }
  return err / scale;
}

int32_t argmax_row(const ir::HostTensor& t, int64_t row, double* gap) {
  const int64_t v = t.shape[1];
  int32_t best = 0;
  double top = -INFINITY, second = -INFINITY;
  for (int64_t j = 0; j < v; ++j) {
    const double x = t.get(row * v + j);
    if (x > top) {
      second = top;
      top = x;
      best = static_cast<int32_t>(j);
    } else if (x > second) {
      second = x;
    }
  }
  *gap = top - second;
  return best;
}

void expect_prefill_and_decode_match(engine::Model& model, ReferenceModel& ref, const std::vector<int32_t>& prompt,
                                     int decode_steps, double tolerance) {
  const auto n = static_cast<int64_t>(prompt.size());
  engine::SequenceCache seq(model.blocks(), model.cache_layout().max_blocks_per_seq);
  const engine::SequenceCache* seqs[] = {&seq};
  const ir::HostTensor got = run_alone(model, seq, prompt);
  const ir::HostTensor want = ref.feed(prompt);
  EXPECT_LT(relative_error(got, want), tolerance) << "prefill logits";

  double gap = 0;
  int32_t token = argmax_row(want, n - 1, &gap);
  for (int step = 0; step < decode_steps; ++step) {
    const engine::StepRow row{token, static_cast<int32_t>(seq.length()), seq.append(1)[0], 0};
    const int32_t first[] = {0};
    const engine::StepResult& g = model.step({&row, 1}, seqs, first, true);
    const ir::HostTensor w = ref.feed({token});
    ASSERT_LT(relative_error(g.logits, w), tolerance) << "decode step " << step;
    const int32_t device_token = g.next_tokens[0];
    token = argmax_row(w, 0, &gap);
    if (gap > 1e-2) {
      EXPECT_EQ(device_token, token) << "decode step " << step;
    }
  }
}

void expect_greedy_generation_matches(engine::Model& model, ReferenceModel& ref, const std::vector<int32_t>& prompt,
                                      int64_t tokens) {
  engine::GenerateOptions opts;
  opts.max_tokens = tokens;
  const engine::Generation g = engine::generate(model, prompt, opts);
  ASSERT_EQ(g.tokens.size(), static_cast<size_t>(tokens));
  ir::HostTensor logits = ref.feed(prompt);
  int64_t row = static_cast<int64_t>(prompt.size()) - 1;
  size_t matched = 0;
  for (size_t i = 0; i < g.tokens.size(); ++i, ++matched) {
    double gap = 0;
    const int32_t want = argmax_row(logits, row, &gap);
    if (g.tokens[i] != want) {
      // Only a near-tie may resolve differently between f32 and f64 arithmetic; after it the
      // sequences legitimately differ.
      EXPECT_LT(gap, 1e-3) << "token " << i << ": device chose " << g.tokens[i] << ", reference " << want;
      break;
    }
    logits = ref.feed({want});
    row = 0;
  }
  ::testing::Test::RecordProperty("matched_tokens", static_cast<int>(matched));
  EXPECT_GE(matched, 8u) << "near-ties this early would make the comparison meaningless";
}

}  // namespace vkllm::engine_test
