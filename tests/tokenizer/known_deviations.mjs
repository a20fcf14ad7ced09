// Inputs on which @lenml/tokenizers (the reference the tests run) differs from Hugging Face's Rust
// `tokenizers`, which vkllm follows. compare.mjs reports these and leaves them out; each is
// explained in frontends/tokenizer/README.md ("Known deviations of the reference").
//   tokenizers: "*" or a list of @lenml/tokenizer-NAME suffixes; matches(text): whether it applies.
export const knownDeviations = [
  {
    // JavaScript's \s includes U+FEFF and excludes U+0085; Oniguruma's \s is Unicode White_Space,
    // which is the other way round. Here it changes where the Split regex cuts.
    tokenizers: ["qwen3", "llama3", "llama3_1", "deepseek_v3"],
    matches: (text) => text === "x \ufeffy" || text === "x \u0085y",
    reason: "JavaScript \\s differs from Oniguruma \\s on U+FEFF / U+0085",
  },
];
