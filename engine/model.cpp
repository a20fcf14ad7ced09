#include "engine/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "codegen/compile_graph.h"
#include "codegen/profiles.h"
#include "engine/artifact_source.h"
#include "engine/compile.h"
#include "ir/sampling.h"
#include "passes/pass.h"
#include "runtime/device.h"
#include "runtime/graph_executor.h"
#include "runtime/model_buffers.h"

namespace vkllm::engine {
namespace {

using frontends::FormatError;

// Every tensor the family needs is present with its shape; nothing unknown is left over
// (an unexpected tensor usually means a wrong architecture or a config that does not match).
void check_tensors(const frontends::ModelSource& src, const frontends::ModelSpec& spec) {
  std::set<std::string> expected;
  const std::string where = src.path().string();
  for (const frontends::TensorSpec& t : frontends::expected_tensors(spec)) {
    expected.insert(t.name);
    const std::optional<frontends::SourceTensor> v = src.find(t.name);
    if (!v && t.optional) continue;
    if (!v) throw FormatError(fmt::format("{}: missing tensor '{}' ({} checkpoint)", where, t.name, spec.architecture));
    if (v->shape != t.shape)
      throw FormatError(fmt::format("{}: tensor '{}' has shape [{}], the config implies [{}]", where, t.name,
                                    fmt::join(v->shape, ", "), fmt::join(t.shape, ", ")));
    const bool matrix = t.role == frontends::TensorSpec::Role::Projection || t.role == frontends::TensorSpec::Role::Embedding;
    if (ir::is_quantized(v->dtype) && !matrix)
      throw FormatError(fmt::format("{}: tensor '{}' is quantized ({}); only projection and embedding matrices may be",
                                    where, t.name, ir::name(v->dtype)));
  }
  for (const std::string& name : src.tensor_names()) {
    if (expected.count(name)) continue;
    if (std::any_of(spec.ignored_tensor_prefixes.begin(), spec.ignored_tensor_prefixes.end(),
                    [&](const std::string& prefix) { return name.starts_with(prefix); }))
      continue;
    // Buffers some exporters save that the model recomputes, and a head duplicated when tied.
    if (name.ends_with("rotary_emb.inv_freq") || (spec.tie_word_embeddings && name == "lm_head.weight")) continue;
    throw FormatError(fmt::format("{}: unexpected tensor '{}' for a {} checkpoint (does config.json match the weights?)",
                                  where, name, spec.architecture));
  }
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::filesystem::path& dir, const ModelOptions& options) {
  std::unique_ptr<Model> m(new Model());
  const artifact::Artifact* compiled = nullptr;
  if (artifact::is_artifact(dir)) {
    // A compiled artifact: its graphs, options and (already quantized) weights, no lowering or codegen.
    auto source = std::make_unique<ArtifactSource>(dir);
    compiled = &source->artifact();
    m->options_ = options_from_json(compiled->contents().options);
    m->options_.device = options.device;
    m->source_ = std::move(source);
    m->spec_ = frontends::describe_model(m->source_->config(), m->source_->generation_config());
  } else {
    m->options_ = options;
    OpenedModel opened = open_model(dir, options);
    m->source_ = std::move(opened.source);
    m->spec_ = std::move(opened.spec);
    check_tensors(*m->source_, m->spec_);
  }
  const ModelOptions& o = m->options_;
  m->layout_ = cache_layout_for(o);
  const frontends::CacheLayout& l = m->layout_;
  for (const ForwardGraph& g : forward_graphs(o))
    m->variants_.push_back({forward_graph_name(g), g.max_rows, g.with_logits});
  std::stable_sort(m->variants_.begin(), m->variants_.end(), [](const Variant& a, const Variant& b) {
    return a.max_rows != b.max_rows ? a.max_rows < b.max_rows : !a.with_logits && b.with_logits;
  });
  m->executors_.resize(m->variants_.size());
  const auto max_rows = static_cast<size_t>(m->variants_.back().max_rows);
  m->sample_params_.assign(max_rows * ir::kSampleParamColumns, 0.0f);
  m->sample_rng_.assign(max_rows * 2, 0);
  m->sample_history_.assign(max_rows * static_cast<size_t>(l.sample_history), -1);
  for (std::vector<int32_t>* v : {&m->row_tokens_, &m->row_pos_, &m->row_slots_, &m->row_seq_, &m->next_tokens_})
    v->assign(max_rows, 0);
  m->next_scores_.assign(max_rows, 0.0f);
  m->state_src_.reserve(max_rows);
  m->state_dst_.reserve(max_rows);
  m->sequence_seen_.assign(static_cast<size_t>(l.max_seqs), 0);
  m->rows_symbol_ = &m->step_symbols_.emplace(frontends::kRowsSymbol, 0).first->second;
  m->out_rows_symbol_ = &m->step_symbols_.emplace(frontends::kOutRowsSymbol, 0).first->second;
  const bool recurrent = m->spec_.has_linear_attention();
  m->blocks_ = std::make_unique<BlockPool>(l.num_blocks, l.block_size, recurrent ? l.state_slots : 0);
  m->block_table_.assign(static_cast<size_t>(l.max_seqs * l.max_blocks_per_seq), -1);

  m->device_ = std::make_unique<runtime::Device>(runtime::Device::Options{options.device});
  if (compiled) {
    const codegen::TargetCaps& target = compiled->contents().target;
    const std::vector<std::string> missing = codegen::missing_features(target, m->device_->target_caps());
    if (!missing.empty())
      throw std::runtime_error(fmt::format(
          "{} was compiled for {}; device '{}' lacks: {}. Recompile it for this device with `vkllm compile`",
          dir.string(), target.name, m->device_->info().name, fmt::join(missing, "; ")));
  }
  m->buffers_ = std::make_unique<runtime::ModelBuffers>(*m->device_);
  if (compiled) {
    // The artifact's weights are in their kernel formats already: uploaded from the mapping, no copy.
    const auto* artifact_source = static_cast<const ArtifactSource*>(m->source_.get());
    m->buffers_->set_mapped_weights([artifact_source](const std::string& name, const ir::Type& type) {
      return artifact_source->mapped_weight(name, type);
    });
  }
  return m;
}

Model::~Model() = default;

const frontends::Checkpoint& Model::checkpoint() const {
  const frontends::Checkpoint* ck = source_->checkpoint();
  if (!ck) throw std::logic_error(fmt::format("{} is a {} model, not a Hugging Face folder", source_->path().string(), source_->format()));
  return *ck;
}

runtime::GraphExecutor& Model::executor_for(size_t rows, bool with_logits) {
  size_t chosen = variants_.size();
  for (size_t i = 0; i < variants_.size() && chosen == variants_.size(); ++i)
    if (static_cast<int64_t>(rows) <= variants_[i].max_rows && (variants_[i].with_logits || !with_logits)) chosen = i;
  if (chosen == variants_.size())
    throw std::invalid_argument(fmt::format("a step of {} rows exceeds the {} rows of the largest graph ({})", rows,
                                            variants_.back().max_rows, variants_.back().name));
  std::unique_ptr<runtime::GraphExecutor>& slot = executors_[chosen];
  if (slot) {
    last_graph_name_ = &variants_[chosen].name;
    return *slot;
  }

  const std::string& name = variants_[chosen].name;
  const frontends::ModelSource& src = *source_;
  codegen::CompiledGraph compiled;
  if (const auto* a = dynamic_cast<const ArtifactSource*>(source_.get())) {
    const codegen::CompiledGraph* g = a->artifact().contents().find_graph(name);
    if (!g) throw artifact::ArtifactError(fmt::format("{}: holds no graph '{}'", a->path().string(), name));
    compiled = *g;
  } else {
    for (const ForwardGraph& g : forward_graphs(options_))
      if (forward_graph_name(g) == name) compiled = compile_forward_graph(src, spec_, layout_, device_->target_caps(), g);
  }
  const ir::SymbolBindings max_symbols = compiled.max_symbols;
  ir::WeightFn weights = [&](const std::string& tensor, const ir::Type&) { return src.tensor(tensor); };
  slot = std::make_unique<runtime::GraphExecutor>(*device_, std::move(compiled), max_symbols, weights,
                                                  runtime::ExecutorOptions{}, buffers_.get());
  if (profiling_) slot->set_profiling(true);
  last_graph_name_ = &variants_[chosen].name;
  return *slot;
}

void Model::set_profiling(bool on) {
  profiling_ = on;
  for (auto& exec : executors_)
    if (exec) exec->set_profiling(on);
}

std::vector<runtime::KernelTiming> Model::last_step_timings() const {
  return last_executor_ ? last_executor_->last_timings() : std::vector<runtime::KernelTiming>{};
}

size_t Model::last_step_barriers() const { return last_executor_ ? last_executor_->barriers_per_run() : 0; }

void Model::prepare_graphs(bool with_logits) {
  const std::string* last = last_graph_name_;
  // A step's choice only changes at a bound: asking for each bound's rows reaches every graph.
  for (const Variant& v : variants_) executor_for(static_cast<size_t>(v.max_rows), with_logits);
  last_graph_name_ = last;
}

const std::string& Model::last_step_graph() const {
  static const std::string none;
  return last_graph_name_ ? *last_graph_name_ : none;
}

std::vector<std::string> Model::graph_names() const {
  std::vector<std::string> names;
  for (const Variant& v : variants_) names.push_back(v.name);
  return names;
}

void Model::fill_sampling_inputs(std::span<const RowSampling> sampling, size_t rows) {
  const auto h = static_cast<size_t>(layout_.sample_history);
  const SamplingParams greedy;
  for (size_t r = 0; r < rows; ++r) {
    const RowSampling* s = sampling.empty() ? nullptr : &sampling[r];
    const SamplingParams& p = s ? s->params : greedy;
    float* params = sample_params_.data() + r * ir::kSampleParamColumns;
    params[ir::kSampleTemperature] = static_cast<float>(p.temperature);
    // At or past the vocabulary top-k is off; clamping keeps the value exact in f32.
    params[ir::kSampleTopK] = static_cast<float>(std::clamp<int64_t>(p.top_k, 0, spec_.vocab_size));
    params[ir::kSampleTopP] = static_cast<float>(p.top_p);
    params[ir::kSampleMinP] = static_cast<float>(p.min_p);
    params[ir::kSampleRepetitionPenalty] = static_cast<float>(p.repetition_penalty);
    params[ir::kSamplePresencePenalty] = static_cast<float>(p.presence_penalty);
    params[ir::kSampleFrequencyPenalty] = static_cast<float>(p.frequency_penalty);
    params[7] = 0.0f;
    const uint64_t key = s ? draw_key(p.seed, static_cast<uint64_t>(s->token_index)) : 0;
    sample_rng_[2 * r] = static_cast<int32_t>(static_cast<uint32_t>(key));
    sample_rng_[2 * r + 1] = static_cast<int32_t>(static_cast<uint32_t>(key >> 32));
    int32_t* history = sample_history_.data() + r * h;
    std::fill(history, history + h, -1);
    if (s) {
      const size_t n = std::min(h, s->context.size());
      std::copy(s->context.end() - static_cast<std::ptrdiff_t>(n), s->context.end(), history);
    }
  }
}

const StepResult& Model::step(std::span<const StepRow> rows, std::span<const SequenceCache* const> sequences,
                              std::span<const int32_t> wanted, bool with_logits, std::span<const RowSampling> sampling) {
  if (!spec_.has_linear_attention()) return step(rows, sequences, wanted, with_logits, {}, {}, sampling);
  if (sequences.size() > sequence_seen_.size())
    throw std::invalid_argument(fmt::format("{} sequences in one step; the model was compiled for {}", sequences.size(),
                                            sequence_seen_.size()));
  // Recurrent state: each sequence's rows form one chain, from its slot (zeros at position 0) to its slot.
  const size_t n = rows.size();
  state_src_.assign(n, -1);
  state_dst_.assign(n, -1);
  std::fill(sequence_seen_.begin(), sequence_seen_.end(), 0);
  for (size_t i = 0; i < n; ++i) {
    const int32_t s = rows[i].seq_row;
    if (s < 0 || static_cast<size_t>(s) >= sequences.size())
      throw std::invalid_argument("a row refers to a sequence outside the step");
    const bool first = i == 0 || rows[i - 1].seq_row != s, last = i + 1 == n || rows[i + 1].seq_row != s;
    if (first && sequence_seen_[static_cast<size_t>(s)])
      throw std::invalid_argument("the rows of one sequence must be contiguous in a step (recurrent state chains)");
    sequence_seen_[static_cast<size_t>(s)] = 1;
    const int32_t slot = sequences[static_cast<size_t>(s)]->state_slot();
    if (slot < 0) throw std::logic_error("a sequence of a model with recurrent layers has no state slot");
    if (first) state_src_[i] = rows[i].pos == 0 ? -2 : slot;
    if (last) state_dst_[i] = slot;
  }
  return step(rows, sequences, wanted, with_logits, state_src_, state_dst_, sampling);
}

const StepResult& Model::step(std::span<const StepRow> rows, std::span<const SequenceCache* const> sequences,
                              std::span<const int32_t> wanted, bool with_logits, std::span<const int32_t> state_src,
                              std::span<const int32_t> state_dst, std::span<const RowSampling> sampling) {
  if (rows.empty()) throw std::invalid_argument("a step needs at least one row");
  if (!sampling.empty() && sampling.size() != wanted.size())
    throw std::invalid_argument(fmt::format("{} sampling entries for {} wanted rows", sampling.size(), wanted.size()));
  if (wanted.size() > rows.size()) throw std::invalid_argument("a step wants more rows than it runs");
  const bool recurrent = spec_.has_linear_attention();
  if (recurrent) {
    if (state_src.size() != rows.size() || state_dst.size() != rows.size())
      throw std::invalid_argument(fmt::format("{} rows need {} state_src and state_dst entries (got {} and {})",
                                              rows.size(), rows.size(), state_src.size(), state_dst.size()));
    const int32_t slots = static_cast<int32_t>(layout_.state_slots);
    for (size_t i = 0; i < rows.size(); ++i) {
      if (state_src[i] < -2 || state_src[i] >= slots || (i == 0 && state_src[i] == -1) || state_dst[i] < -1 ||
          state_dst[i] >= slots)
        throw std::invalid_argument(fmt::format("row {}: state slots (src {}, dst {}) are not valid for {} slots", i,
                                                state_src[i], state_dst[i], slots));
    }
  } else if (!state_src.empty() || !state_dst.empty()) {
    throw std::invalid_argument("state slots were given to a model without recurrent layers");
  }
  if (static_cast<int64_t>(sequences.size()) > layout_.max_seqs)
    throw std::invalid_argument(fmt::format("{} sequences in one step; the model was compiled for {}", sequences.size(),
                                            layout_.max_seqs));
  runtime::GraphExecutor& exec = executor_for(rows.size(), with_logits);
  last_executor_ = &exec;
  const size_t n = rows.size();
  for (size_t i = 0; i < n; ++i) {
    row_tokens_[i] = rows[i].token;
    row_pos_[i] = rows[i].pos;
    row_slots_[i] = rows[i].slot;
    row_seq_[i] = rows[i].seq_row;
    if (rows[i].token < 0 || rows[i].token >= spec_.vocab_size)
      throw std::invalid_argument(fmt::format("token id {} is outside the vocabulary (0..{})", rows[i].token, spec_.vocab_size - 1));
    if (rows[i].seq_row < 0 || static_cast<size_t>(rows[i].seq_row) >= sequences.size())
      throw std::invalid_argument("a row refers to a sequence outside the step");
  }
  std::fill(block_table_.begin(), block_table_.end(), -1);
  for (size_t s = 0; s < sequences.size(); ++s)
    sequences[s]->fill_block_row(block_table_.data() + s * static_cast<size_t>(layout_.max_blocks_per_seq));
  const size_t row_bytes = n * sizeof(int32_t);
  exec.set_input("tokens", row_tokens_.data(), row_bytes);
  exec.set_input("pos", row_pos_.data(), row_bytes);
  exec.set_input("slots", row_slots_.data(), row_bytes);
  exec.set_input("row_seq", row_seq_.data(), row_bytes);
  exec.set_input("block_table", block_table_.data(), block_table_.size() * sizeof(int32_t));
  exec.set_input("out_rows", wanted.data(), wanted.size() * sizeof(int32_t));
  fill_sampling_inputs(sampling, wanted.size());
  exec.set_input("sample_params", sample_params_.data(), wanted.size() * ir::kSampleParamColumns * sizeof(float));
  exec.set_input("sample_rng", sample_rng_.data(), wanted.size() * 2 * sizeof(int32_t));
  exec.set_input("sample_history", sample_history_.data(),
                 wanted.size() * static_cast<size_t>(layout_.sample_history) * sizeof(int32_t));
  if (recurrent) {
    exec.set_input("state_src", state_src.data(), state_src.size() * sizeof(int32_t));
    exec.set_input("state_dst", state_dst.data(), state_dst.size() * sizeof(int32_t));
  }
  *rows_symbol_ = static_cast<int64_t>(n);
  *out_rows_symbol_ = static_cast<int64_t>(wanted.size());
  exec.run(step_symbols_);

  StepResult& r = result_;
  const size_t chosen = exec.read_output("next_token", std::as_writable_bytes(std::span(next_tokens_))) / sizeof(int32_t);
  exec.read_output("next_score", std::as_writable_bytes(std::span(next_scores_)));
  r.next_tokens = std::span<const int32_t>(next_tokens_).first(chosen);
  r.next_scores = std::span<const float>(next_scores_).first(chosen);
  // Logits are a test and `vkllm logits` path: their buffer grows to the largest step that asked.
  r.logits.bytes.clear();
  r.logits.shape.clear();
  if (with_logits) {
    r.logits.dtype = exec.output_dtype("logits");
    r.logits.bytes.resize(exec.output_bytes("logits"));
    exec.read_output("logits", std::as_writable_bytes(std::span(r.logits.bytes)));
    r.logits.shape.assign({static_cast<int64_t>(wanted.size()), spec_.vocab_size});
  }
  return r;
}

ir::HostTensor Model::read_state(const std::string& name) { return buffers_->read_state(name); }

}  // namespace vkllm::engine
