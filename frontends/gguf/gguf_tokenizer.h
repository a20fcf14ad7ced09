// The tokenizer stored in GGUF metadata (tokenizer.ggml.*) as Hugging Face tokenizer.json and
// tokenizer_config.json objects, so a tokenizer that reads those can load a .gguf alone.
//  - tokenizer.ggml.model "gpt2": byte-level BPE with the vocabulary and merges of the file and the
//    pre-tokenizer regexes that llama.cpp uses for tokenizer.ggml.pre (README.md lists them).
//  - "llama": SentencePiece BPE with byte fallback, written as transformers' LlamaConverter does:
//    merges derived from the piece scores, "▁" for spaces, an optional prepended "▁".
// Errors (missing or inconsistent arrays, ids out of range, tokens that are not UTF-8, unknown
// tokenizer models or pre-tokenizers) are FormatErrors naming the file.
#pragma once
#include <nlohmann/json.hpp>

#include "frontends/gguf/gguf_file.h"

namespace vkllm::frontends {

nlohmann::json gguf_tokenizer_json(const GgufFile& file);

// bos/eos/unk/pad token strings, add_bos_token/add_eos_token (llama.cpp's defaults when the file
// does not say), chat_template (a list of named templates when the file has several) and
// model_max_length (`context_length`, when positive).
nlohmann::json gguf_tokenizer_config(const GgufFile& file, int64_t context_length);

}  // namespace vkllm::frontends
