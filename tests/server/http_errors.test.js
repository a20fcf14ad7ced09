// Raw HTTP against vkllm serve: malformed JSON, wrong types, unknown fields, bodies over the size
// limit, authentication, unknown routes and broken HTTP. Every answer is a 4xx with the dialect's
// error shape, and the server keeps serving after each one.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { startServer } = require('./harness.js');

const KEY = 'secret-key';
const MODEL = 'tiny';
let server;

before(async () => {
  server = await startServer({ api_key: KEY, ctx: 128, max_batch: 2, alias: MODEL, max_body_mb: 1 });
});

after(async () => {
  if (server) assert.equal(await server.stop(), 0, 'the server exits cleanly on SIGTERM');
});

async function post(path, body, headers = {}) {
  const r = await fetch(server.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* checked by the caller */ }
  return { status: r.status, headers: r.headers, json, text };
}

// The server still answers a real request, with the same text as before.
let reference = null;
async function stillServing() {
  const r = await post('/v1/completions', { model: MODEL, prompt: 'abc', max_tokens: 3 });
  assert.equal(r.status, 200, r.text);
  if (reference === null) reference = r.json.choices[0].text;
  assert.equal(r.json.choices[0].text, reference);
}

function openaiError(r, status, param) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.json && r.json.error, `an OpenAI error body: ${r.text}`);
  for (const k of ['message', 'type', 'param', 'code']) assert.ok(k in r.json.error, `error.${k} in ${r.text}`);
  assert.equal(typeof r.json.error.message, 'string');
  if (param !== undefined) assert.equal(r.json.error.param, param, r.text);
}

function anthropicError(r, status, type) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.type, 'error', r.text);
  assert.equal(r.json.error.type, type, r.text);
  assert.equal(typeof r.json.error.message, 'string');
}

test('malformed JSON and non-object bodies on every JSON endpoint', async () => {
  await stillServing();
  for (const path of ['/v1/chat/completions', '/v1/completions', '/tokenize', '/detokenize']) {
    for (const body of ['{"model": "tiny", "messages": [', '', 'null', '[1, 2]', '"text"', '{"a": 1}}', '{"a": NaN}']) {
      openaiError(await post(path, body), 400);
    }
  }
  for (const path of ['/v1/messages', '/v1/messages/count_tokens']) {
    for (const body of ['{"model": ', '[]', '']) anthropicError(await post(path, body), 400, 'invalid_request_error');
  }
  // Invalid UTF-8 inside a JSON string.
  const bytes = new Uint8Array([...Buffer.from('{"model": "tiny", "prompt": "'), 0xff, 0xfe, ...Buffer.from('"}')]);
  openaiError(await post('/v1/completions', bytes), 400);
  await stillServing();
});

test('wrong types and unknown fields are 400s naming the field', async () => {
  const chat = { model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 2 };
  const cases = [
    [{ max_tokens: 'many' }, 'max_tokens'], [{ max_tokens: 1.5 }, 'max_tokens'], [{ max_tokens: -1 }, 'max_tokens'],
    [{ messages: { role: 'user' } }, 'messages'], [{ messages: [{ role: 'user', content: { text: 'x' } }] }, 'messages[0].content'],
    [{ messages: ['hi'] }, 'messages[0]'], [{ stream: 'yes' }, 'stream'], [{ stop: 3 }, 'stop'], [{ stop: [1] }, 'stop[]'],
    [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'], [{ temperature: 'hot' }, 'temperature'], [{ temperature: 9 }, 'temperature'],
    [{ seed: 'x' }, 'seed'], [{ model: 5 }, 'model'], [{ frobnicate: true }, 'frobnicate'],
    [{ max_tokens: 1e30 }, 'max_tokens'],
  ];
  for (const [extra, param] of cases) openaiError(await post('/v1/chat/completions', { ...chat, ...extra }), 400, param);
  openaiError(await post('/v1/completions', { model: MODEL, prompt: [1, 99999] }), 400, 'prompt');
  openaiError(await post('/v1/completions', { model: MODEL }), 400, 'prompt');
  openaiError(await post('/detokenize', { tokens: [1, 'a'] }), 400, 'tokens');
  openaiError(await post('/tokenize', { prompt: 3 }), 400, 'prompt');
  const r = await post('/v1/messages', { model: MODEL, messages: [{ role: 'user', content: 'x' }] });  // no max_tokens
  anthropicError(r, 400, 'invalid_request_error');
  assert.match(r.json.error.message, /max_tokens/);
  anthropicError(await post('/v1/messages', { model: MODEL, max_tokens: 2, messages: [{ role: 'user', content: 'x' }], top_k: 'a' }),
                 400, 'invalid_request_error');
  anthropicError(await post('/v1/messages', { model: 'other', max_tokens: 2, messages: [{ role: 'user', content: 'x' }] }),
                 404, 'not_found_error');
  await stillServing();
});

test('bodies over --max_body_mb are 413', async () => {
  const huge = JSON.stringify({ model: MODEL, prompt: 'x'.repeat(2 << 20) });
  const r = await post('/v1/completions', huge).catch((e) => ({ status: 'connection closed', error: e }));
  // The server answers 413 before reading the body; a client may see the connection close first.
  assert.ok(r.status === 413 || r.status === 'connection closed', `status ${r.status}`);
  if (r.status === 413) openaiError(r, 413);
  const anthropic = await post('/v1/messages', JSON.stringify({ model: MODEL, max_tokens: 2, system: 'y'.repeat(2 << 20),
                                                                  messages: [{ role: 'user', content: 'x' }] }))
    .catch(() => null);
  if (anthropic) anthropicError(anthropic, 413, 'request_too_large');
  await stillServing();
});

test('API key: missing or wrong is 401 in the dialect shape; /health and the chat page need none', async () => {
  const body = { model: MODEL, prompt: 'x', max_tokens: 1 };
  openaiError(await post('/v1/completions', body, { authorization: '' }), 401);
  openaiError(await post('/v1/completions', body, { authorization: 'Bearer wrong' }), 401);
  openaiError(await post('/v1/completions', body, { authorization: KEY }), 401);  // not "Bearer KEY"
  const m = { model: MODEL, max_tokens: 1, messages: [{ role: 'user', content: 'x' }] };
  anthropicError(await post('/v1/messages', m, { authorization: '', 'x-api-key': 'wrong' }), 401, 'authentication_error');
  assert.equal((await post('/v1/messages', m, { authorization: '', 'x-api-key': KEY })).status, 200);
  assert.equal((await fetch(`${server.url}/v1/models`)).status, 401);
  assert.equal((await fetch(`${server.url}/metrics`)).status, 401);
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
  const page = await fetch(`${server.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  await stillServing();
});

test('unknown routes and methods are JSON 404s', async () => {
  const r = await fetch(`${server.url}/v1/nothing`, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(r.status, 404);
  assert.ok((await r.json()).error.message.includes('/v1/nothing'));
  const g = await fetch(`${server.url}/v1/chat/completions`, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(g.status, 404);
  const m = await fetch(`${server.url}/v1/models/other`, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(m.status, 404);
  await stillServing();
});

// Sends raw bytes on a fresh connection; resolves with what came back before the server closed it.
function rawExchange(bytes) {
  return new Promise((resolve) => {
    const { port } = new URL(server.url);
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.end(bytes));
    let reply = '';
    socket.on('data', (d) => { reply += d; });
    socket.on('close', () => resolve(reply));
    socket.on('error', () => resolve(reply));
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

test('broken HTTP gets a 400 or a closed connection, never a crash', async () => {
  const replies = [
    await rawExchange('GARBAGE\r\n\r\n'),
    await rawExchange('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"model"'),  // truncated body
    await rawExchange('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'),
    await rawExchange('POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'),
    await rawExchange(`GET /health HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(100000)}\r\n\r\n`),
    await rawExchange('\x00\x01\x02\xff\r\n\r\n'),
  ];
  for (const reply of replies) assert.ok(reply === '' || /^HTTP\/1\.1 4\d\d /.test(reply), JSON.stringify(reply.slice(0, 80)));
  await stillServing();
  const health = await (await fetch(`${server.url}/health`)).json();
  assert.equal(health.status, 'ok');
  assert.equal(health.running, 0);
});
