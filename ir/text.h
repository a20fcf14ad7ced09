// The text form of the IR (grammar and examples: ir/README.md, "Text form"). Printing is
// canonical: print(parse_module(print(m))) == print(m), byte for byte.
#pragma once
#include <string>
#include <string_view>

#include "ir/ir.h"

namespace vkllm::ir {

// Malformed text. what() is "source:line:col: error: message" (line and column 1-based, columns
// count bytes); the parts are kept for callers that format errors themselves.
struct ParseError : IrError {
  ParseError(std::string source, int line, int column, std::string message);
  std::string source;
  int line, column;
  std::string message;
};

// Throws IrError if a name (value, graph, symbol, attribute key) cannot be written in the text
// form, or an op refers to a value that does not exist.
std::string print(const Graph& g);
std::string print(const Module& m);  // graphs separated by a blank line

// Parses a module and verifies it (ir/verify.h). Every error, including type-rule failures,
// is a ParseError located at the offending token or op.
Module parse_module(std::string_view text, std::string_view source_name = "<input>");

}  // namespace vkllm::ir
