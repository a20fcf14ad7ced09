// Compares `vkllm tokenize` / `vkllm detokenize` with the reference implementation
// (@lenml/tokenizers, a port of Hugging Face tokenizers) on one real tokenizer:
//   node compare.mjs --vkllm PATH --tokenizer NAME [--corpus corpus.jsonl]
// NAME is the suffix of an @lenml/tokenizer-NAME package. Checked:
//   - encode(text, add_special_tokens=false) for every corpus line, and =true for a subset;
//   - decode(ids, skip_special_tokens=false) of every reference encoding;
//   - decode of random id sequences, with and without skip_special_tokens.
// Cases listed in known_deviations.mjs (where @lenml/tokenizers itself differs from Hugging Face)
// are reported and left out. Exits 1 on any other mismatch, printing the first few.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { TokenizerLoader } from "@lenml/tokenizers";
import { knownDeviations } from "./known_deviations.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
if (!args.vkllm || !args.tokenizer) {
  console.error("usage: node compare.mjs --vkllm PATH --tokenizer NAME [--corpus corpus.jsonl]");
  process.exit(2);
}
const name = args.tokenizer;
const modelDir = join(here, "node_modules", "@lenml", `tokenizer-${name}`, "models");
const tokenizerJSON = JSON.parse(readFileSync(join(modelDir, "tokenizer.json"), "utf8"));
const tokenizerConfig = JSON.parse(readFileSync(join(modelDir, "tokenizer_config.json"), "utf8"));
const reference = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
const texts = readFileSync(args.corpus ?? join(here, "corpus.jsonl"), "utf8")
  .split("\n")
  .filter((l) => l.length > 0)
  .map((l) => JSON.parse(l));

const deviations = knownDeviations.filter((d) => d.tokenizers === "*" || d.tokenizers.includes(name));
const deviationFor = (text) => deviations.find((d) => d.matches(text));

function vkllm(command, lines, extra = []) {
  const r = spawnSync(args.vkllm, [command, "--model", modelDir, ...extra], {
    input: lines.map((l) => l + "\n").join(""),
    maxBuffer: 1 << 30,
    encoding: "utf8",
  });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    console.error(`vkllm ${command} exited with ${r.status}:\n${r.stderr}`);
    process.exit(1);
  }
  return r.stdout.split("\n").slice(0, lines.length).map((l) => JSON.parse(l));
}

const decodeRef = (ids, skip) => (ids.length === 0 ? "" : reference.decode(ids, { skip_special_tokens: skip }));
const show = (v) => JSON.stringify(v);
let failures = 0;
const diffs = [];
function check(kind, input, expected, actual) {
  if (show(expected) === show(actual)) return;
  ++failures;
  if (diffs.length < 8) diffs.push(`${kind}\n    input:    ${show(input)}\n    expected: ${show(expected)}\n    vkllm:    ${show(actual)}`);
}

// Encode.
const skipped = [];
const compared = [];
for (const t of texts) {
  const d = deviationFor(t);
  if (d) skipped.push(`${show(t).slice(0, 60)}: ${d.reason}`);
  else compared.push(t);
}
const refIds = compared.map((t) => reference.encode(t, { add_special_tokens: false }));
const ourIds = vkllm("tokenize", compared.map(show));
compared.forEach((t, i) => check("encode(add_special_tokens=false)", t, refIds[i], ourIds[i]));
// transformers' Llama/Gemma/CodeLlama fast tokenizers rebuild the post-processor as
// "[bos] $A [eos]" from add_bos_token (default true) / add_eos_token (default false); the
// reference uses tokenizer.json's post-processor, which differs for DeepSeek V3.
const tokenizerClass = (tokenizerConfig.tokenizer_class ?? "").replace(/Fast$/, "");
const rebuildsPostProcessor = ["LlamaTokenizer", "GemmaTokenizer", "CodeLlamaTokenizer"].includes(tokenizerClass);
const configTokenId = (key) => {
  const token = tokenizerConfig[key];
  return reference.model.tokens_to_ids.get(typeof token === "object" ? token.content : token);
};
const withSpecialsRef = (t, ids) =>
  rebuildsPostProcessor
    ? [
        ...((tokenizerConfig.add_bos_token ?? true) ? [configTokenId("bos_token")] : []),
        ...ids,
        ...((tokenizerConfig.add_eos_token ?? false) ? [configTokenId("eos_token")] : []),
      ]
    : reference.encode(t, { add_special_tokens: true });
const withSpecials = compared.slice(0, 60);
const ourWithSpecials = vkllm("tokenize", withSpecials.map(show), ["--add_special_tokens"]);
withSpecials.forEach((t, i) => check("encode(add_special_tokens=true)", t, withSpecialsRef(t, refIds[i]), ourWithSpecials[i]));

// Decode: the reference encodings, and random id sequences over every token (added ones too),
// with and without skip_special_tokens.
const validIds = [...new Set([...Object.values(tokenizerJSON.model.vocab), ...tokenizerJSON.added_tokens.map((t) => t.id)])];
let seed = 0x9e3779b9;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
};
const byteToken = /^<0x[0-9A-Fa-f]{2}>$/;
const usesByteFallback = JSON.stringify(tokenizerJSON.decoder ?? null).includes('"ByteFallback"');
const specialIds = new Set(tokenizerJSON.added_tokens.filter((t) => t.special).map((t) => t.id));
const vocabById = new Map(Object.entries(tokenizerJSON.model.vocab).map(([k, v]) => [v, k]));
// @lenml decodes an invalid run of <0xHH> tokens with TextDecoder (one U+FFFD per maximal invalid
// subsequence); Hugging Face's ByteFallback writes one U+FFFD per byte of the run.
function hasInvalidByteRun(ids, skip) {
  if (!usesByteFallback) return false;
  const strict = new TextDecoder("utf-8", { fatal: true });
  let run = [];
  const runIsInvalid = () => {
    try {
      strict.decode(Uint8Array.from(run));
      return false;
    } catch {
      return true;
    }
  };
  for (const id of ids) {
    if (skip && specialIds.has(id)) continue;
    const token = vocabById.get(id);
    if (token !== undefined && byteToken.test(token)) run.push(parseInt(token.slice(3, 5), 16));
    else if (run.length > 0) {
      if (runIsInvalid()) return true;
      run = [];
    }
  }
  return run.length > 0 && runIsInvalid();
}
function randomSequences(skip) {
  const sequences = [];
  let invalidRuns = 0;
  while (sequences.length < 200) {
    const ids = Array.from({ length: 1 + Math.floor(random() * 40) }, () => validIds[Math.floor(random() * validIds.length)]);
    if (hasInvalidByteRun(ids, skip)) ++invalidRuns;
    else sequences.push(ids);
  }
  if (invalidRuns > 0)
    skipped.push(`${invalidRuns} random sequences with an invalid <0xHH> run (ByteFallback, see frontends/tokenizer/README.md)`);
  return sequences;
}
const randomKept = randomSequences(false);
const randomSkipped = randomSequences(true);
const kept = [...refIds, ...randomKept];
const ourKept = vkllm("detokenize", kept.map(show));
kept.forEach((ids, i) =>
  check(i < refIds.length ? "decode(ids of a corpus line)" : "decode(random ids)", ids, decodeRef(ids, false), ourKept[i]),
);
const ourSkipped = vkllm("detokenize", randomSkipped.map(show), ["--skip_special_tokens"]);
randomSkipped.forEach((ids, i) => check("decode(random ids, skip_special_tokens)", ids, decodeRef(ids, true), ourSkipped[i]));

console.log(`${name}: ${compared.length} texts encoded and decoded, 400 random decodes, ${failures} mismatches`);
for (const s of skipped) console.log(`  skipped (known @lenml/tokenizers deviation): ${s}`);
if (failures > 0) {
  console.log(`first mismatches:\n  ${diffs.join("\n  ")}`);
  process.exit(1);
}
