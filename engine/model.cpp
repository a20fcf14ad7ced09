#include "engine/model.h"

#include <fmt/format.h>

#include <cstring>
#include <set>

#include "codegen/compile_graph.h"
#include "passes/pass.h"
#include "runtime/device.h"
#include "runtime/graph_executor.h"
#include "runtime/model_buffers.h"

namespace vkllm::engine {
namespace {

using frontends::FormatError;
using frontends::StDType;

ir::DType ir_dtype(StDType t, const std::string& tensor) {
  switch (t) {
    case StDType::F32: return ir::DType::F32;
    case StDType::F16: return ir::DType::F16;
    case StDType::BF16: return ir::DType::BF16;
    default:
      throw FormatError(fmt::format("tensor '{}' has dtype {}; model weights must be F32, F16 or BF16", tensor,
                                    frontends::to_string(t)));
  }
}

// Every tensor the family needs is present with its shape; nothing unknown is left over
// (an unexpected tensor usually means a wrong architecture or a config that does not match).
void check_tensors(const frontends::Checkpoint& ck, const frontends::ModelSpec& spec) {
  std::set<std::string> expected;
  for (const frontends::TensorSpec& t : frontends::expected_tensors(spec)) {
    expected.insert(t.name);
    const frontends::TensorView* v = ck.find(t.name);
    if (!v) throw FormatError(fmt::format("{}: missing tensor '{}' ({} checkpoint)", ck.dir().string(), t.name, spec.architecture));
    if (v->shape != t.shape)
      throw FormatError(fmt::format("{}: tensor '{}' has shape [{}], the config implies [{}]", ck.dir().string(), t.name,
                                    fmt::join(v->shape, ", "), fmt::join(t.shape, ", ")));
    ir_dtype(v->dtype, t.name);
  }
  for (const std::string& name : ck.tensor_names()) {
    if (expected.count(name)) continue;
    // Buffers some exporters save that the model recomputes, and a head duplicated when tied.
    if (name.ends_with("rotary_emb.inv_freq") || (spec.tie_word_embeddings && name == "lm_head.weight")) continue;
    throw FormatError(fmt::format("{}: unexpected tensor '{}' for a {} checkpoint (does config.json match the weights?)",
                                  ck.dir().string(), name, spec.architecture));
  }
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::filesystem::path& dir, const ModelOptions& options) {
  std::unique_ptr<Model> m(new Model());
  m->options_ = options;
  m->checkpoint_ = frontends::Checkpoint::open(dir);
  m->spec_ = frontends::describe_model(m->checkpoint_.config(), m->checkpoint_.generation_config());
  check_tensors(m->checkpoint_, m->spec_);

  if (options.max_context <= 0 || options.block_size <= 0 || options.max_sequences <= 0 ||
      options.prefill_chunk <= 0 || options.max_decode_rows <= 0)
    throw std::invalid_argument("model options: context, block size, sequences and row counts must be positive");
  frontends::CacheLayout& l = m->layout_;
  l.block_size = options.block_size;
  l.max_seqs = options.max_sequences;
  l.max_blocks_per_seq = (options.max_context + l.block_size - 1) / l.block_size;
  const int64_t cache_tokens = options.cache_tokens > 0 ? options.cache_tokens : options.max_context * options.max_sequences;
  l.num_blocks = (cache_tokens + l.block_size - 1) / l.block_size;
  l.kv_dtype = options.kv_dtype;
  m->blocks_ = std::make_unique<BlockPool>(l.num_blocks, l.block_size);
  m->block_table_.assign(static_cast<size_t>(l.max_seqs * l.max_blocks_per_seq), -1);

  m->device_ = std::make_unique<runtime::Device>(runtime::Device::Options{options.device});
  m->buffers_ = std::make_unique<runtime::ModelBuffers>(*m->device_);
  return m;
}

Model::~Model() = default;

runtime::GraphExecutor& Model::executor_for(size_t rows, bool with_logits) {
  const bool decode = static_cast<int64_t>(rows) <= options_.max_decode_rows;
  if (!decode && static_cast<int64_t>(rows) > options_.prefill_chunk)
    throw std::invalid_argument(fmt::format("a step of {} rows exceeds the prefill chunk of {}", rows, options_.prefill_chunk));
  std::unique_ptr<runtime::GraphExecutor>& slot = executors_[decode ? 1 : 0][with_logits ? 1 : 0];
  if (slot) return *slot;

  const frontends::Checkpoint& ck = checkpoint_;
  auto dtype_of = [&](const std::string& name) { return ir_dtype(ck.tensor(name).dtype, name); };
  ir::Module module;
  module.graphs.push_back(frontends::build_forward_graph(spec_, layout_, dtype_of, with_logits,
                                                         decode ? "decode" : "prefill"));
  passes::run_passes(module, {"dedupe-weights", "dce"});
  codegen::CompiledGraph compiled = codegen::compile_graph(module.graphs[0], device_->target_caps());
  const int64_t max_rows = decode ? options_.max_decode_rows : options_.prefill_chunk;
  ir::SymbolBindings max_symbols{{frontends::kRowsSymbol, max_rows}, {frontends::kOutRowsSymbol, max_rows}};
  ir::WeightFn weights = [&](const std::string& name, const ir::Type& type) {
    const frontends::TensorView& v = ck.tensor(name);
    ir::HostTensor t;
    t.dtype = type.dtype;
    t.shape = v.shape;
    t.bytes.assign(v.bytes.begin(), v.bytes.end());
    return t;
  };
  slot = std::make_unique<runtime::GraphExecutor>(*device_, std::move(compiled), max_symbols, weights,
                                                  runtime::ExecutorOptions{}, buffers_.get());
  return *slot;
}

StepResult Model::step(std::span<const StepRow> rows, std::span<const SequenceCache* const> sequences,
                       std::span<const int32_t> wanted, bool with_logits) {
  if (rows.empty()) throw std::invalid_argument("a step needs at least one row");
  if (static_cast<int64_t>(sequences.size()) > layout_.max_seqs)
    throw std::invalid_argument(fmt::format("{} sequences in one step; the model was compiled for {}", sequences.size(),
                                            layout_.max_seqs));
  runtime::GraphExecutor& exec = executor_for(rows.size(), with_logits);
  const size_t n = rows.size();
  std::vector<int32_t> tokens(n), pos(n), slots(n), row_seq(n);
  for (size_t i = 0; i < n; ++i) {
    tokens[i] = rows[i].token;
    pos[i] = rows[i].pos;
    slots[i] = rows[i].slot;
    row_seq[i] = rows[i].seq_row;
    if (rows[i].token < 0 || rows[i].token >= spec_.vocab_size)
      throw std::invalid_argument(fmt::format("token id {} is outside the vocabulary (0..{})", rows[i].token, spec_.vocab_size - 1));
    if (rows[i].seq_row < 0 || static_cast<size_t>(rows[i].seq_row) >= sequences.size())
      throw std::invalid_argument("a row refers to a sequence outside the step");
  }
  std::fill(block_table_.begin(), block_table_.end(), -1);
  for (size_t s = 0; s < sequences.size(); ++s)
    sequences[s]->fill_block_row(block_table_.data() + s * static_cast<size_t>(layout_.max_blocks_per_seq));
  auto bytes = [](const auto& v) { return v.size() * sizeof(v[0]); };
  exec.set_input("tokens", tokens.data(), bytes(tokens));
  exec.set_input("pos", pos.data(), bytes(pos));
  exec.set_input("slots", slots.data(), bytes(slots));
  exec.set_input("row_seq", row_seq.data(), bytes(row_seq));
  exec.set_input("block_table", block_table_.data(), bytes(block_table_));
  exec.set_input("out_rows", wanted.data(), wanted.size() * sizeof(int32_t));
  exec.run({{frontends::kRowsSymbol, static_cast<int64_t>(n)}, {frontends::kOutRowsSymbol, static_cast<int64_t>(wanted.size())}});

  StepResult r;
  ir::HostTensor next = exec.read_output("next_token");
  r.next_tokens.resize(wanted.size());
  std::memcpy(r.next_tokens.data(), next.data(), wanted.size() * sizeof(int32_t));
  if (with_logits) r.logits = exec.read_output("logits");
  return r;
}

}  // namespace vkllm::engine
