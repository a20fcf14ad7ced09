// Bounded load: 32 concurrent streaming clients (every fourth leaves after a few chunks) on a server
// that decodes 8 sequences at once. Every completed response must equal the same request run alone,
// the abandoned ones must be cancelled, and the server's memory must come back to where it was.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { OpenAI } = require('openai');
const { startServer, metric, waitFor } = require('./harness.js');

const MODEL = 'tiny';
const CLIENTS = 32;
let server, openai;

before(async () => {
  server = await startServer({ ctx: 256, max_batch: 8, max_queue: CLIENTS, alias: MODEL });
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
});

after(async () => {
  if (server) assert.equal(await server.stop(), 0, 'the server exits cleanly on SIGTERM');
});

// Different prompt lengths and budgets, so sequences join and leave the batch at different steps.
const request = (i) => ({
  model: MODEL,
  messages: [{ role: 'user', content: `Client ${i}: ${'tell me more '.repeat(i % 5)}about load.` }],
  max_tokens: 8 + (i * 7) % 17,
});
const leavesEarly = (i) => i % 4 === 3;

async function streamOnce(i) {
  const controller = new AbortController();
  const stream = await openai.chat.completions.create({ ...request(i), stream: true }, { signal: controller.signal });
  let text = '', chunks = 0, finish = null;
  for await (const c of stream) {
    const delta = c.choices[0]?.delta?.content ?? '';
    text += delta;
    finish = c.choices[0]?.finish_reason ?? finish;
    if (delta && leavesEarly(i) && ++chunks === 2) {
      controller.abort();
      return null;
    }
  }
  return { text, finish };
}

async function round() {
  const results = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => streamOnce(i)));
  await waitFor(async () => (await (await fetch(`${server.url}/health`)).json()).running === 0, 5000, 'an idle server');
  return results;
}

test(`${CLIENTS} concurrent streaming clients, some leaving early: every completed answer equals the request alone; memory returns`, async (t) => {
  const cancelledBefore = metric(await (await fetch(`${server.url}/metrics`)).text(), 'vkllm_generations_total{reason="cancelled"}');
  const idle = server.rss();
  const first = await round();  // also warms up the HTTP threads and allocator arenas
  const baseline = server.rss();
  const second = await round();
  const afterLoad = server.rss();

  const m = await (await fetch(`${server.url}/metrics`)).text();
  const leavers = Array.from({ length: CLIENTS }, (_, i) => i).filter(leavesEarly).length;
  // A leaver whose sequence ended before its disconnect was noticed is not counted as cancelled.
  const cancelled = metric(m, 'vkllm_generations_total{reason="cancelled"}') - cancelledBefore;
  assert.ok(cancelled >= leavers, `${cancelled} cancelled of ${2 * leavers} that left`);
  assert.equal(metric(m, 'vkllm_kv_blocks_used'), 0);
  assert.equal(metric(m, 'vkllm_waiting_sequences'), 0);

  for (let i = 0; i < CLIENTS; ++i) {
    if (leavesEarly(i)) {
      assert.equal(first[i], null);
      continue;
    }
    const alone = await openai.chat.completions.create(request(i));
    assert.equal(first[i].text, alone.choices[0].message.content, `client ${i}, first round`);
    assert.equal(second[i].text, alone.choices[0].message.content, `client ${i}, second round`);
    assert.equal(first[i].finish, alone.choices[0].finish_reason);
  }
  // Nothing a request holds outlives it: a second identical round leaves memory where the first did.
  const grown = afterLoad - baseline;
  t.diagnostic(`RSS ${(idle / 1048576).toFixed(1)} MiB idle, ${(baseline / 1048576).toFixed(1)} MiB after the first round, ${(afterLoad / 1048576).toFixed(1)} MiB after the ` +
               `second; ${cancelled} of ${2 * leavers} leavers cancelled`);
  assert.ok(grown < 8 << 20, `RSS grew by ${(grown / 1048576).toFixed(1)} MiB in a round (${(baseline / 1048576).toFixed(1)} MiB before)`);
  // The first round may keep what warming up allocated (thread stacks, malloc arenas), but no more.
  assert.ok(afterLoad - idle < 64 << 20, `RSS grew by ${((afterLoad - idle) / 1048576).toFixed(1)} MiB over the idle server`);
});
