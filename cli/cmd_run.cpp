// vkllm run: complete a prompt, streaming the text as it is generated.
#include <fmt/format.h>
#include <gflags/gflags.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/model_flags.h"
#include "engine/generate.h"
#include "frontends/tokenizer/tokenizer.h"

DEFINE_string(prompt, "", "the text to complete");

namespace vkllm::cli {

int run_run(const Args& args) {
  if (args.size() != 1) throw std::runtime_error("expected one MODEL argument (see --help)");
  require_greedy();
  auto model = load_model(args[0]);
  frontends::Tokenizer tok = frontends::Tokenizer::load(args[0]);
  std::vector<int32_t> prompt = tok.encode(FLAGS_prompt, true);
  engine::GenerateOptions opts;
  opts.max_tokens = FLAGS_max_tokens;
  opts.eos_ids = model->spec().eos_token_ids;
  frontends::StreamingDecoder stream(tok, true);
  engine::Generation g = engine::generate(*model, prompt, opts, [&](int32_t id) {
    std::string piece = stream.push(id);
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::string rest = stream.finish();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  fmt::print("\n");
  fmt::print(stderr, "[{} prompt tokens, {} generated, stopped by {}]\n", prompt.size(), g.tokens.size(),
             g.finish == engine::FinishReason::Eos ? "end of sequence" : "max tokens");
  return 0;
}

}  // namespace vkllm::cli
