// Scheduling through HTTP on a server whose KV cache holds only one long request at a time
// (--kv_cache_tokens 256, requests reserving 9 blocks of 16 of its 16) and whose queue holds two:
// requests that do not fit wait (and then give the same text as alone), a full queue is 503 with
// Retry-After, and a client that goes away cancels its sequence (streaming or not) at once.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { OpenAI } = require('openai');
const { startServer, metric, sleep, waitFor } = require('./harness.js');

const MODEL = 'tiny';
let server, openai;

before(async () => {
  server = await startServer({ ctx: 256, max_batch: 2, max_queue: 2, kv_cache_tokens: 256, alias: MODEL });
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
});

after(async () => {
  if (server) assert.equal(await server.stop(), 0, 'the server exits cleanly on SIGTERM');
});

const health = async () => (await fetch(`${server.url}/health`)).json();
const metrics = async () => (await fetch(`${server.url}/metrics`)).text();
// 8 prompt tokens + 130 to generate = 138 positions = 9 blocks: two never fit the 16 blocks together.
// ignore_eos: every request runs its whole budget, so the timing of each step below is known.
const longRequest = (i, extra = {}) =>
  ({ model: MODEL, prompt: [1 + i, 2, 3, 4, 5, 6, 7, 8 + i], max_tokens: 130, ignore_eos: true, ...extra });

// Records the largest running count and queue depth /health shows until `done` resolves.
async function watch(done) {
  let running = 0, waiting = 0, finished = false;
  done.finally(() => { finished = true; });
  while (!finished) {
    const h = await health();
    running = Math.max(running, h.running);
    waiting = Math.max(waiting, h.queue_depth);
    await sleep(10);
  }
  return { running, waiting };
}

test('requests that do not fit the KV cache wait, then give the same text as alone', async () => {
  // The first is admitted before the others arrive: a burst of three could find the queue (2) full.
  const first = openai.completions.create(longRequest(0));
  await waitFor(async () => (await health()).running === 1, 5000, 'the first request to run');
  const together = Promise.all([first, ...[1, 2].map((i) => openai.completions.create(longRequest(i)))]);
  const seen = await watch(together);
  const results = await together;
  assert.equal(seen.running, 1, 'never two long requests in the cache at once');
  assert.ok(seen.waiting >= 1, 'the others waited in the queue');
  for (let i = 0; i < 3; ++i) {
    const alone = await openai.completions.create(longRequest(i));
    assert.equal(results[i].choices[0].text, alone.choices[0].text, `request ${i}`);
    assert.equal(results[i].usage.completion_tokens, alone.usage.completion_tokens);
  }
});

test('past the queue limit: 503 with Retry-After; the queued requests still complete', async () => {
  const holder = new AbortController();
  const stream = await openai.completions.create(longRequest(0, { max_tokens: 240, stream: true }), { signal: holder.signal });
  const iterator = stream[Symbol.asyncIterator]();
  await iterator.next();  // the holder runs and keeps the cache
  const queued = [1, 2].map((i) => openai.completions.create(longRequest(i)));
  await waitFor(async () => (await health()).queue_depth === 2, 5000, 'two queued requests');
  const r = await fetch(`${server.url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(longRequest(3)),
  });
  assert.equal(r.status, 503);
  assert.equal(r.headers.get('retry-after'), '1');
  const body = await r.json();
  assert.match(body.error.message, /busy/);
  holder.abort();
  const done = await Promise.all(queued);
  for (const d of done) assert.equal(d.usage.completion_tokens + d.usage.prompt_tokens > 0, true);
  await waitFor(async () => (await health()).running === 0, 5000, 'an idle server');
});

test('a streaming client that disconnects cancels its sequence and frees its KV blocks at once', async () => {
  const before = await metrics();
  const controller = new AbortController();
  const stream = await openai.completions.create(longRequest(4, { max_tokens: 240, stream: true }), { signal: controller.signal });
  let chunks = 0;
  for await (const c of stream) {
    if (c.choices[0].text && ++chunks === 3) break;  // leaves the loop: the SDK aborts the request
  }
  const left = Date.now();
  await waitFor(async () => (await health()).running === 0, 3000, 'the sequence to be cancelled');
  const after = await metrics();
  assert.ok(Date.now() - left < 3000);
  assert.equal(metric(after, 'vkllm_generations_total{reason="cancelled"}') - metric(before, 'vkllm_generations_total{reason="cancelled"}'), 1);
  assert.equal(metric(after, 'vkllm_generations_total{reason="length"}'), metric(before, 'vkllm_generations_total{reason="length"}'));
  assert.ok(metric(after, 'vkllm_generated_tokens_total') - metric(before, 'vkllm_generated_tokens_total') < 240);
  assert.equal(metric(after, 'vkllm_kv_blocks_used'), 0);
});

test('a non-streaming client that disconnects cancels its sequence too', async () => {
  // Its own server with room for 2000 tokens: the request must outlive the first second (when the
  // answer switches to the probing chunked body) however fast decode is; 240 tokens on the shared
  // server took less than that.
  const own = await startServer({ ctx: 2048, max_batch: 1, alias: MODEL });
  try {
    const ownHealth = async () => (await fetch(`${own.url}/health`)).json();
    const ownMetrics = async () => (await fetch(`${own.url}/metrics`)).text();
    const client = new OpenAI({ baseURL: `${own.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const controller = new AbortController();
    const pending = client.completions.create(longRequest(5, { max_tokens: 2000 }), { signal: controller.signal });
    await waitFor(async () => (await ownHealth()).running === 1, 3000, 'the request to run');
    await sleep(1200);
    controller.abort();
    await assert.rejects(pending);
    await waitFor(async () => (await ownHealth()).running === 0, 3000, 'the sequence to be cancelled');
    const after = await ownMetrics();
    assert.equal(metric(after, 'vkllm_generations_total{reason="cancelled"}'), 1);
    assert.ok(metric(after, 'vkllm_generated_tokens_total') < 2000);
  } finally {
    assert.equal(await own.stop(), 0);
  }
});

test('a non-streaming request that takes longer than a second still gets its JSON (after probing spaces)', async () => {
  const started = Date.now();
  const r = await fetch(`${server.url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(longRequest(6, { max_tokens: 200 })),
  });
  assert.equal(r.status, 200);
  const text = await r.text();
  const elapsed = Date.now() - started;
  const parsed = JSON.parse(text);
  assert.equal(parsed.usage.completion_tokens, 200);
  if (elapsed > 1200) assert.match(text, /^ +\{/, 'spaces before the JSON');
  const alone = await openai.completions.create(longRequest(6, { max_tokens: 200 }));
  assert.equal(parsed.choices[0].text, alone.choices[0].text);
});
