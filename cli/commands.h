// Subcommands of the `vkllm` binary. Each lives in its own cmd_<name>.cpp and receives the
// arguments after the subcommand name (flags already parsed by gflags into FLAGS_*).
#pragma once
#include <string>
#include <vector>

namespace vkllm::cli {

using Args = std::vector<std::string>;  // positional arguments after the subcommand

struct Command {
  const char* name;
  const char* summary;
  const char* usage;  // e.g. "vkllm doctor [--device N]"
  int (*run)(const Args& args);
};

// The table of subcommands (cli/main.cpp). Add a command: write cmd_<name>.cpp with its run
// function, declare it below, add a row to the table and the file to cli/CMakeLists.txt.
const std::vector<Command>& commands();

int run_doctor(const Args& args);
int run_opt(const Args& args);
int run_exec(const Args& args);
int run_tokenize(const Args& args);
int run_detokenize(const Args& args);
int run_template(const Args& args);
int run_synth(const Args& args);
int run_run(const Args& args);
int run_chat(const Args& args);
int run_logits(const Args& args);
int run_bench(const Args& args);
int run_serve(const Args& args);
int run_compile(const Args& args);
int run_inspect(const Args& args);

}  // namespace vkllm::cli
