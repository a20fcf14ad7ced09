// Starts `vkllm serve` on a tiny synthesized qwen3 model (written once into the build dir) on a free
// loopback port (--port 0; the port is read from the server's "listening on" line), waits until it
// answers /health, and always kills it when the test process ends.
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const VKLLM = process.env.VKLLM;
const WORK_DIR = process.env.VKLLM_TEST_DIR;

// An untied output head: with tied embeddings a random model mostly repeats its last input token, and
// answers that all read "\n\n\n..." could not tell one request's tokens from another's.
function synthModel() {
  const dir = path.join(WORK_DIR, 'qwen3-tiny-untied');
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    // Written to a temporary folder and renamed, so test files started in parallel never see half a model.
    const tmp = `${dir}.${process.pid}`;
    execFileSync(VKLLM, ['synth', '--family', 'qwen3', '-o', tmp, '--seed', '2', '--set', 'tie_word_embeddings=false'],
                 { stdio: 'inherit' });
    try {
      fs.renameSync(tmp, dir);
    } catch {
      fs.rmSync(tmp, { recursive: true, force: true });  // another process won the race
    }
  }
  return dir;
}

// The same model with a Qwen3-style reasoning template: tools listed in the system turn, the
// generation prompt opens <think> (closed at once when enable_thinking is false), so a reply starts
// inside its thinking.
const THINKING_TEMPLATE =
  "{% if tools %}{{ '<|im_start|>system\\nTools:' }}{% for tool in tools %}{{ '\\n' + (tool | tojson) }}{% endfor %}" +
  "{{ '<|im_end|>\\n' }}{% endif %}" +
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% if enable_thinking is defined and enable_thinking is false %}" +
  "{{ '<think>\\n\\n</think>\\n\\n' }}{% else %}{{ '<think>\\n' }}{% endif %}{% endif %}";

function thinkingModel() {
  const base = synthModel();
  const dir = path.join(WORK_DIR, 'qwen3-tiny-thinking');
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    const tmp = `${dir}.${process.pid}`;
    fs.cpSync(base, tmp, { recursive: true });
    const config = JSON.parse(fs.readFileSync(path.join(tmp, 'tokenizer_config.json'), 'utf8'));
    config.chat_template = THINKING_TEMPLATE;
    fs.writeFileSync(path.join(tmp, 'tokenizer_config.json'), JSON.stringify(config, null, 2));
    try {
      fs.renameSync(tmp, dir);
    } catch {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  return dir;
}

const children = new Set();
const killAll = () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
};
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(1); });

// flags: extra `vkllm serve` flags, e.g. { api_key: 'k', ctx: 256, max_batch: 4 }; thinking: serve the
// reasoning variant of the model.
async function startServer(flags = {}, { thinking = false } = {}) {
  if (!VKLLM || !WORK_DIR) throw new Error('set VKLLM (the binary) and VKLLM_TEST_DIR (a scratch folder)');
  const args = ['serve', thinking ? thinkingModel() : synthModel(), '--port', '0'];
  for (const [k, v] of Object.entries(flags)) args.push(`--${k}=${v}`);
  const child = spawn(VKLLM, args, { stdio: ['ignore', 'inherit', 'pipe'] });
  children.add(child);
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('vkllm serve printed no "listening on" line in 120 s')), 120_000);
    const lines = readline.createInterface({ input: child.stderr });
    lines.on('line', (line) => {
      process.stderr.write(line + '\n');
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`vkllm serve exited (${code ?? signal})`)); });
  });
  const url = `http://127.0.0.1:${port}`;
  const health = await fetch(`${url}/health`);
  if (!health.ok) throw new Error(`/health answered ${health.status}`);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  // Resident memory of the server process in bytes (Linux).
  const rss = () => {
    const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
  };
  return { url, child, stop, rss };
}

// The value of one Prometheus sample, e.g. metric(text, 'vkllm_generations_total{reason="cancelled"}').
function metric(text, sample) {
  for (const line of text.split('\n')) if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1));
  throw new Error(`no sample ${sample} in /metrics`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `fn` until it returns a truthy value (returned), or throws after `ms`.
async function waitFor(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

module.exports = { startServer, metric, sleep, waitFor };
