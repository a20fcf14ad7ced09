// vkllm opt: parse textual IR, run passes, print the result (canonical text form).
#include <fmt/format.h>
#include <gflags/gflags.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>

#include "cli/commands.h"
#include "cli/flags.h"
#include "ir/text.h"
#include "passes/pass.h"

DEFINE_string(passes, "",
              "comma-separated passes to run in order, e.g. dedupe-weights,dce (an unknown name "
              "lists the known passes)");
DEFINE_string(dump_after, "",
              "print the module to stderr after this pass of --passes, or after every pass "
              "with 'all'");
DEFINE_string(max_symbols, "",
              "the largest value of symbols, comma-separated name=value (e.g. tokens=4): what the "
              "engine tells passes about a graph's rows (split-decode-attention acts on few rows)");

namespace vkllm::cli {
namespace {

std::string read_input(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  if (std::filesystem::is_directory(path))
    throw std::runtime_error(fmt::format("'{}' is a directory, not an IR file", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  if (in.bad()) throw std::runtime_error(fmt::format("cannot read '{}'", path));
  return text;
}

passes::SymbolBounds parse_bounds(const std::string& list) {
  passes::SymbolBounds bounds;
  for (const std::string& item : split_list(list)) {
    const size_t eq = item.find('=');
    size_t used = 0;
    int64_t value = -1;
    try {
      if (eq != std::string::npos) value = std::stoll(item.substr(eq + 1), &used);
    } catch (const std::exception&) {
    }
    if (eq == std::string::npos || eq == 0 || used == 0 || eq + 1 + used != item.size() || value < 0)
      throw std::invalid_argument(fmt::format("--max_symbols: '{}' is not name=value with a value >= 0", item));
    bounds[item.substr(0, eq)] = value;
  }
  return bounds;
}

}  // namespace

int run_opt(const Args& args) {
  if (args.size() != 1) {
    fmt::print(stderr, "usage: vkllm opt FILE.ir|- [--passes a,b,c] [--dump-after=PASS|all] [--max_symbols s=N,...]\n");
    return 2;
  }
  const std::vector<std::string> names = split_list(FLAGS_passes);
  for (const std::string& n : names) passes::get_pass(n);  // a typo fails before the file is read
  const passes::SymbolBounds bounds = parse_bounds(FLAGS_max_symbols);
  if (!FLAGS_dump_after.empty() && FLAGS_dump_after != "all" &&
      std::find(names.begin(), names.end(), FLAGS_dump_after) == names.end())
    throw std::invalid_argument(
        fmt::format("--dump-after={} names no pass of --passes='{}'", FLAGS_dump_after, FLAGS_passes));

  const std::string& path = args[0];
  ir::Module module;
  try {
    module = ir::parse_module(read_input(path), path == "-" ? "<stdin>" : path);
  } catch (const ir::ParseError& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 1;
  }
  passes::run_passes(
      module, names,
      [](std::string_view pass, const ir::Module& m) {
        if (FLAGS_dump_after == "all" || FLAGS_dump_after == pass)
          fmt::print(stderr, "// ----- after {} -----\n{}", pass, ir::print(m));
      },
      bounds);
  fmt::print("{}", ir::print(module));
  return 0;
}

}  // namespace vkllm::cli
