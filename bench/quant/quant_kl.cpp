// quant_kl: how far each weight format moves a model's next-token distributions. Synthesizes a
// checkpoint (bf16, fixed seed), runs a fixed English text through it once with the weights as
// stored and once per format (quantized at load, as `--quant` does), and reports per format the
// KL divergence KL(p_bf16 || p_format) of the next-token distributions (mean and max over
// positions), top-1 agreement, and the bits per weight of the quantized matrices.
//
//   ninja -C build quant_kl
//   build/bench/quant/quant_kl [--family llama] [--overrides '{"hidden_size": 512}'] [--tokens 128]
//                              [--formats q8_0,q6_K,q5_K,qa8,qa8h,qa8h_g64,q4_K,qa4,qa4h,qa4h_g64,q4_0,q4] [--model DIR]
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "bench/quant/bench_args.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "frontends/model/synth.h"
#include "frontends/source/repack.h"
#include "frontends/tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace vkllm;

namespace {

// The fixed text (public-domain prose: the opening of Jane Austen's "Pride and Prejudice").
constexpr const char* kText =
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
    "of a wife. However little known the feelings or views of such a man may be on his first entering a "
    "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered "
    "the rightful property of some one or other of their daughters. \"My dear Mr. Bennet,\" said his lady to him "
    "one day, \"have you heard that Netherfield Park is let at last?\" Mr. Bennet replied that he had not. \"But "
    "it is,\" returned she; \"for Mrs. Long has just been here, and she told me all about it.\" Mr. Bennet made no "
    "answer. \"Do you not want to know who has taken it?\" cried his wife impatiently. \"You want to tell me, and "
    "I have no objection to hearing it.\" This was invitation enough.";

// Default: a small-but-not-tiny llama (rows of 512 and 1536 values, so the K-quants apply).
const char* kDefaultOverrides =
    R"({"hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 4, "num_attention_heads": 8,
        "num_key_value_heads": 4, "head_dim": 64, "vocab_size": 2048})";

using bench::flag;
using bench::split;

// log-softmax of row r of logits [n, V], in double.
std::vector<double> log_softmax(const ir::HostTensor& logits, int64_t r) {
  const int64_t v = logits.shape[1];
  std::vector<double> out(static_cast<size_t>(v));
  double top = -INFINITY;
  for (int64_t j = 0; j < v; ++j) top = std::max(top, out[static_cast<size_t>(j)] = logits.get(r * v + j));
  double sum = 0;
  for (double x : out) sum += std::exp(x - top);
  const double log_z = top + std::log(sum);
  for (double& x : out) x -= log_z;
  return out;
}

engine::ModelOptions options_for(int64_t tokens, const std::string& quant) {
  engine::ModelOptions o;
  o.max_context = tokens + 8;
  o.max_sequences = 1;
  o.max_decode_rows = 1;
  o.prefill_chunk = std::min<int64_t>(tokens, 64);
  o.weight_quant = quant;
  return o;
}

// Bits per weight over the model's quantized matrices (what the format costs where it applies).
double matrix_bits_per_weight(const engine::Model& m) {
  double bits = 0, elems = 0;
  for (const std::string& name : m.source().tensor_names()) {
    const frontends::SourceTensor t = m.source().info(name);
    if (!ir::is_quantized(t.dtype)) continue;
    const double n = static_cast<double>(t.shape[0] * t.shape[1]);
    bits += n * frontends::bits_per_weight(t.dtype);
    elems += n;
  }
  return elems > 0 ? bits / elems : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const int64_t tokens = std::stoll(flag(argc, argv, "tokens", "128"));
    const std::vector<std::string> formats = split(flag(argc, argv, "formats", "q8_0,q6_K,q5_K,qa8,qa8h,qa8h_g64,q4_K,qa4,qa4h,qa4h_g64,q4_0,q4"));
    fs::path model_dir = flag(argc, argv, "model", "");
    if (model_dir.empty()) {
      model_dir = fs::temp_directory_path() / ("vkllm_quant_kl_" + std::to_string(::getpid()));
      frontends::SynthOptions so;
      so.family = flag(argc, argv, "family", "llama");
      so.out_dir = model_dir;
      so.seed = 1234;
      so.dtype = "bfloat16";
      so.overrides = nlohmann::json::parse(flag(argc, argv, "overrides", kDefaultOverrides));
      frontends::synthesize(so);
    }
    const frontends::Tokenizer tok = frontends::Tokenizer::load(model_dir);
    std::vector<int32_t> ids;
    for (int64_t id : tok.encode(kText, false)) ids.push_back(static_cast<int32_t>(id));
    while (static_cast<int64_t>(ids.size()) < tokens) ids.insert(ids.end(), ids.begin(), ids.end());
    ids.resize(static_cast<size_t>(tokens));

    auto reference = engine::Model::load(model_dir, options_for(tokens, ""));
    const ir::HostTensor want = engine::prompt_logits(*reference, ids, true);
    const frontends::ModelSpec spec = reference->spec();
    reference.reset();
    fmt::print("model: {} ({}), hidden {}, intermediate {}, {} layers, vocab {}; {} tokens of fixed text\n\n",
               model_dir.string(), spec.architecture, spec.hidden_size, spec.intermediate_size, spec.num_layers,
               spec.vocab_size, tokens);
    fmt::print("| --quant | formats used | bits/weight (matrices) | mean KL (nats) | max KL | top-1 agreement |\n");
    fmt::print("| --- | --- | --- | --- | --- | --- |\n");
    std::vector<std::vector<double>> want_logp;
    for (int64_t r = 0; r < tokens; ++r) want_logp.push_back(log_softmax(want, r));
    for (const std::string& format : formats) {
      auto model = engine::Model::load(model_dir, options_for(tokens, format));
      std::map<std::string, int> used;
      for (const std::string& name : model->source().tensor_names())
        if (ir::DType d = model->source().info(name).dtype; ir::is_quantized(d)) ++used[std::string(ir::name(d))];
      std::string used_text;
      for (const auto& [name, count] : used) used_text += fmt::format("{}{} ×{}", used_text.empty() ? "" : ", ", name, count);
      const ir::HostTensor got = engine::prompt_logits(*model, ids, true);
      double sum_kl = 0, max_kl = 0;
      int64_t agree = 0;
      for (int64_t r = 0; r < tokens; ++r) {
        const std::vector<double>& p = want_logp[static_cast<size_t>(r)];
        const std::vector<double> q = log_softmax(got, r);
        double kl = 0;
        size_t best_p = 0, best_q = 0;
        for (size_t j = 0; j < p.size(); ++j) {
          kl += std::exp(p[j]) * (p[j] - q[j]);
          if (p[j] > p[best_p]) best_p = j;
          if (q[j] > q[best_q]) best_q = j;
        }
        sum_kl += kl;
        max_kl = std::max(max_kl, kl);
        agree += best_p == best_q;
      }
      fmt::print("| {} | {} | {:.4g} | {:.3e} | {:.3e} | {:.3f} |\n", format, used_text, matrix_bits_per_weight(*model),
                 sum_kl / static_cast<double>(tokens), max_kl, static_cast<double>(agree) / static_cast<double>(tokens));
      std::fflush(stdout);
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "quant_kl: {}\n", e.what());
    return 1;
  }
}
