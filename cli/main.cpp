// vkllm: the command-line entry. Dispatches to a subcommand; flags are parsed by gflags.
#include <fmt/format.h>
#include <gflags/gflags.h>

#include <cstring>
#include <exception>

#include "cli/commands.h"

namespace vkllm::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"doctor", "list Vulkan devices and their features; say which one vkllm will use",
       "vkllm doctor [--device N|NAME] [--json]", run_doctor},
      {"opt", "parse textual IR, run passes, print the result",
       "vkllm opt FILE.ir|- [--passes a,b,c] [--dump-after=PASS|all] [--max_symbols s=N,...]", run_opt},
      {"exec", "compile textual IR to kernels, run it on the device, compare with the reference",
       "vkllm exec FILE.ir [--graph NAME] [--bind sym=N,...] [--check] [--profile]", run_exec},
      {"tokenize", "text (one JSON string per line on stdin) to token ids", "vkllm tokenize --model DIR",
       run_tokenize},
      {"detokenize", "token ids (one JSON array per line on stdin) to text", "vkllm detokenize --model DIR",
       run_detokenize},
      {"template", "render the model's chat template for a JSON request on stdin", "vkllm template --model DIR",
       run_template},
      {"run", "complete a prompt with a model, streaming the text",
       "vkllm run MODEL --prompt TEXT [--max_tokens N] [--ctx N] [--temperature 0]", run_run},
      {"chat", "interactive chat in the terminal with the model's chat template", "vkllm chat MODEL [--ctx N]",
       run_chat},
      {"logits", "write float32 logits of a token sequence (parity checks)",
       "vkllm logits MODEL --tokens ID,ID,... --out FILE [--all_positions]", run_logits},
      {"synth", "write a random-weight checkpoint in Hugging Face layout (for tests and benchmarks)",
       "vkllm synth --family F --preset P -o DIR [--seed S] [--dtype bfloat16|float16|float32] [--set key=value,...]",
       run_synth},
      {"bench", "prompt and generation throughput (pp/tg tok/s) and the weight bandwidth decode reaches",
       "vkllm bench MODEL [--prompt_tokens 512] [--gen_tokens 128] [--repeats 3] [--ctx N] [--json]\n"
       "       vkllm bench --matmul DTYPE:N:K[:ROWS],... [--matmul_tune 'A;B'] [--json] [-o FILE]", run_bench},
      {"serve", "OpenAI/Anthropic-compatible HTTP server with continuous batching",
       "vkllm serve MODEL [--host 127.0.0.1] [--port 8080] [--api_key KEY] [--max_batch N] [--ctx N] [--alias NAME]",
       run_serve},
      {"compile", "compile a model for a device into a .vkm artifact that run/chat/serve load without compiling",
       "vkllm compile MODEL -o OUT.vkm [--quant Q] [--ctx N] [--max_batch N] [--target PROFILE|list]", run_compile},
      {"inspect", "show a compiled model: summary, graphs, IR after each pass, kernels (GLSL, SPIR-V, costs)",
       "vkllm inspect OUT.vkm|MODEL [--graph NAME] [--dump_after PASS|all] [--kernels] [--kernel N "
       "[--glsl|--spirv|--stats]] [--dump DIR] [--json]",
       run_inspect},
  };
  return table;
}

namespace {
void print_help() {
  fmt::print("vkllm: compile and serve LLMs on any Vulkan GPU\n\nUsage: vkllm <command> [options]\n\nCommands:\n");
  for (const Command& c : commands()) fmt::print("  {:<12} {}\n", c.name, c.summary);
  fmt::print("\nRun 'vkllm <command> --help' for a command's options.\n");
}
}  // namespace

}  // namespace vkllm::cli

int main(int argc, char** argv) {
  using namespace vkllm::cli;
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_help();
    return argc < 2 ? 1 : 0;
  }
  const Command* cmd = nullptr;
  for (const Command& c : commands())
    if (argv[1] == std::string(c.name)) cmd = &c;
  if (!cmd) {
    fmt::print(stderr, "vkllm: unknown command '{}'\n\n", argv[1]);
    print_help();
    return 2;
  }
  // gflags sees "vkllm <command> ..." as its argv; positional arguments stay after parsing.
  int sub_argc = argc - 1;
  char** sub_argv = argv + 1;
  gflags::SetUsageMessage(cmd->usage);
  for (int i = 1; i < sub_argc; ++i)
    if (!std::strcmp(sub_argv[i], "--help") || !std::strcmp(sub_argv[i], "-h")) {
      fmt::print("{}\n\n{}\n", cmd->usage, cmd->summary);
      gflags::ShowUsageWithFlagsRestrict(argv[0], (std::string("cmd_") + cmd->name).c_str());
      return 0;
    }
  // Flags may be spelled with dashes (--max-tokens) or underscores (--max_tokens), as gflags wants.
  std::vector<std::string> spelled(sub_argv, sub_argv + sub_argc);
  std::vector<char*> normalized;
  for (std::string& a : spelled) {
    if (a.size() > 2 && a[0] == '-' && a[1] == '-')
      for (size_t i = 2; i < a.size() && a[i] != '='; ++i)
        if (a[i] == '-') a[i] = '_';
    normalized.push_back(a.data());
  }
  sub_argv = normalized.data();
  gflags::ParseCommandLineFlags(&sub_argc, &sub_argv, true);
  Args args(sub_argv + 1, sub_argv + sub_argc);
  try {
    return cmd->run(args);
  } catch (const std::exception& e) {
    fmt::print(stderr, "vkllm {}: error: {}\n", cmd->name, e.what());
    return 1;
  }
}
