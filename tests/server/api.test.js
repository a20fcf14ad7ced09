// vkllm serve through the official OpenAI and Anthropic SDKs (and raw fetch for malformed input).
// Greedy decoding makes every answer reproducible, so streaming, non-streaming, batched and alone
// runs of one request must give the same text, and the chat and messages APIs the same reply.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { OpenAI } = require('openai');
const { Anthropic } = require('@anthropic-ai/sdk');
const { startServer, metric } = require('./harness.js');

const KEY = 'test-key-123';
const MODEL = 'tiny';
const CTX = 256;
let server, openai, anthropic;

before(async () => {
  server = await startServer({ api_key: KEY, ctx: CTX, max_batch: 4, alias: MODEL });
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: server.url, apiKey: KEY, maxRetries: 0 });
});

after(async () => {
  if (server) assert.equal(await server.stop(), 0, 'the server exits cleanly on SIGTERM');
});

const chat = (content, extra = {}) =>
  ({ model: MODEL, messages: [{ role: 'user', content }], max_tokens: 12, ...extra });

async function collectChatStream(params) {
  const stream = await openai.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

async function rawPost(path, body, headers = {}) {
  const r = await fetch(server.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body,
  });
  return { status: r.status, headers: r.headers, json: await r.json() };
}

test('GET /v1/models lists the served model', async () => {
  const models = [];
  for await (const m of openai.models.list()) models.push(m.id);
  assert.deepEqual(models, [MODEL]);
});

test('chat completions: streaming gives the same text as non-streaming, with role, finish and usage chunks', async () => {
  const params = chat('Tell me about the sea.', { max_completion_tokens: 10, max_tokens: undefined });
  const full = await openai.chat.completions.create(params);
  assert.equal(full.object, 'chat.completion');
  const choice = full.choices[0];
  assert.equal(choice.message.role, 'assistant');
  assert.ok(['stop', 'length'].includes(choice.finish_reason));
  const u = full.usage;
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  if (choice.finish_reason === 'length') assert.equal(u.completion_tokens, 10);
  else assert.ok(u.completion_tokens < 10);

  const chunks = await collectChatStream(params);
  assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, choice.message.content);
  const last = chunks[chunks.length - 2];
  assert.equal(last.choices[0].finish_reason, choice.finish_reason);
  const usage = chunks[chunks.length - 1];
  assert.deepEqual(usage.choices, []);
  assert.deepEqual(usage.usage, u);
});

test('chat completions: system/developer roles and text-part arrays render like plain strings', async () => {
  const a = await openai.chat.completions.create({
    model: MODEL, max_tokens: 6,
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi there' }],
  });
  const b = await openai.chat.completions.create({
    model: MODEL, max_tokens: 6, seed: 5, temperature: 0, user: 'someone',
    messages: [{ role: 'developer', content: [{ type: 'text', text: 'Be ' }, { type: 'text', text: 'brief.' }] },
               { role: 'user', content: [{ type: 'text', text: 'Hi there' }] }],
  });
  assert.equal(b.choices[0].message.content, a.choices[0].message.content);
  assert.equal(b.usage.prompt_tokens, a.usage.prompt_tokens);
});

test('completions: string prompt, token prompt and streaming agree', async () => {
  const prompt = 'Once upon a time';
  const a = await openai.completions.create({ model: MODEL, prompt, max_tokens: 12 });
  assert.equal(a.object, 'text_completion');
  const tok = await rawPost('/tokenize', JSON.stringify({ prompt }));
  assert.equal(tok.status, 200);
  assert.equal(a.usage.prompt_tokens, tok.json.count);
  const b = await openai.completions.create({ model: MODEL, prompt: tok.json.tokens, max_tokens: 12 });
  assert.equal(b.choices[0].text, a.choices[0].text);
  const stream = await openai.completions.create({ model: MODEL, prompt, max_tokens: 12, stream: true });
  let text = '', finish = null;
  for await (const c of stream) {
    text += c.choices[0].text;
    finish = c.choices[0].finish_reason ?? finish;
  }
  assert.equal(text, a.choices[0].text);
  assert.equal(finish, a.choices[0].finish_reason);
});

test('stop strings cut the text at their first occurrence and never leak into the stream', async () => {
  const prompt = 'The quick brown fox';
  const base = await openai.completions.create({ model: MODEL, prompt, max_tokens: 24 });
  const full = base.choices[0].text;
  assert.ok(full.length >= 6, `need some text to pick a stop string from, got ${JSON.stringify(full)}`);
  const stop = Array.from(full).slice(3, 6).join('');  // code points: never half a surrogate pair
  const expected = full.slice(0, full.indexOf(stop));
  const cut = await openai.completions.create({ model: MODEL, prompt, max_tokens: 24, stop: [stop, 'zzzz-never-appears'] });
  assert.equal(cut.choices[0].text, expected);
  assert.equal(cut.choices[0].finish_reason, 'stop');
  const stream = await openai.completions.create({ model: MODEL, prompt, max_tokens: 24, stop, stream: true });
  let text = '';
  for await (const c of stream) text += c.choices[0].text;
  assert.equal(text, expected);
});

test('messages: the same reply as chat completions, streaming events in order, count_tokens', async () => {
  const system = 'You are terse.';
  const content = 'What is a river?';
  const ref = await openai.chat.completions.create({
    model: MODEL, max_tokens: 10, messages: [{ role: 'system', content: system }, { role: 'user', content }],
  });
  const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 10, system, messages: [{ role: 'user', content }] });
  assert.equal(msg.type, 'message');
  assert.equal(msg.content[0].text, ref.choices[0].message.content);
  assert.equal(msg.stop_reason, ref.choices[0].finish_reason === 'length' ? 'max_tokens' : 'end_turn');
  assert.equal(msg.usage.input_tokens, ref.usage.prompt_tokens);
  assert.equal(msg.usage.output_tokens, ref.usage.completion_tokens);

  const counted = await anthropic.messages.countTokens({ model: MODEL, system, messages: [{ role: 'user', content }] });
  assert.equal(counted.input_tokens, ref.usage.prompt_tokens);

  const stream = anthropic.messages.stream({
    model: MODEL, max_tokens: 10, system: [{ type: 'text', text: system }],
    messages: [{ role: 'user', content: [{ type: 'text', text: content }] }],
  });
  const kinds = [];
  let text = '';
  for await (const e of stream) {
    if (kinds[kinds.length - 1] !== e.type) kinds.push(e.type);
    if (e.type === 'content_block_delta') text += e.delta.text;
    if (e.type === 'message_delta') {
      assert.equal(e.delta.stop_reason, msg.stop_reason);
      assert.equal(e.usage.output_tokens, msg.usage.output_tokens);
    }
  }
  const expectedKinds = ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'];
  assert.deepEqual(kinds, text === '' ? expectedKinds.filter((k) => k !== 'content_block_delta') : expectedKinds);
  assert.equal(text, msg.content[0].text);
});

test('the SDKs see errors as their typed exceptions: unknown model, unsupported parameters, keys', async () => {
  await assert.rejects(openai.chat.completions.create({ ...chat('x'), model: 'gpt-4o' }),
                       (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  await assert.rejects(anthropic.messages.create({ model: 'claude-x', max_tokens: 4, messages: [{ role: 'user', content: 'x' }] }),
                       (e) => e instanceof Anthropic.NotFoundError);
  const unsupported = [['n', 2], ['logprobs', true], ['top_logprobs', 3],
                       // This model's template takes no tools: offering them is refused, not ignored.
                       ['tools', [{ type: 'function', function: { name: 'f', parameters: {} } }]], ['tool_choice', 'required'],
                       ['response_format', { type: 'json_object' }], ['logit_bias', { 5: 10 }], ['frobnicate', 1]];
  for (const [param, value] of unsupported) {
    await assert.rejects(openai.chat.completions.create(chat('x', { [param]: value })),
                         (e) => e instanceof OpenAI.BadRequestError && e.param === param, `parameter ${param}`);
  }
  await assert.rejects(openai.chat.completions.create(chat('x', { temperature: 2.5 })),
                       (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
  await assert.rejects(anthropic.messages.create({ model: MODEL, max_tokens: 4, temperature: 1.5, messages: [{ role: 'user', content: 'x' }] }),
                       (e) => e instanceof Anthropic.BadRequestError && /temperature/.test(e.message));
  // This model's template has no <think> block: asking it to think is refused, not ignored.
  await assert.rejects(anthropic.messages.create({ model: MODEL, max_tokens: 4, messages: [{ role: 'user', content: 'x' }],
                                                   thinking: { type: 'enabled', budget_tokens: 1024 } }),
                       (e) => e instanceof Anthropic.BadRequestError && /does not think/.test(e.message));
  for (const [param, value] of [['max_thinking_tokens', 10], ['enable_thinking', true]]) {
    await assert.rejects(openai.chat.completions.create(chat('x', { [param]: value })),
                         (e) => e instanceof OpenAI.BadRequestError && e.param === param, `parameter ${param}`);
  }
  const noThinking = await openai.chat.completions.create(chat('x', { enable_thinking: false, max_tokens: 2 }));
  assert.equal(noThinking.choices[0].message.reasoning_content, undefined);

  const wrongKey = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'nope', maxRetries: 0 });
  await assert.rejects(wrongKey.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
  const wrongAnthropicKey = new Anthropic({ baseURL: server.url, apiKey: 'nope', maxRetries: 0 });
  await assert.rejects(wrongAnthropicKey.messages.create({ model: MODEL, max_tokens: 2, messages: [{ role: 'user', content: 'x' }] }),
                       (e) => e instanceof Anthropic.AuthenticationError);
});

test('sampling: a seed reproduces a sampled answer, streamed or not, alone or batched; seeds differ; greedy is the default', async () => {
  const sampled = (seed, extra = {}) => chat('Write something', { max_tokens: 24, temperature: 1.5, top_k: 50, top_p: 0.95,
                                                                   min_p: 0.01, seed, ...extra });
  const a = await openai.chat.completions.create(sampled(1));
  const again = await openai.chat.completions.create(sampled(1));
  assert.equal(again.choices[0].message.content, a.choices[0].message.content);
  const streamed = (await collectChatStream(sampled(1))).map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.equal(streamed, a.choices[0].message.content);
  const seeds = await Promise.all([1, 2, 3, 4].map((s) => openai.chat.completions.create(sampled(s))));
  assert.equal(seeds[0].choices[0].message.content, a.choices[0].message.content, 'batched with others');
  assert.ok(new Set(seeds.map((r) => r.choices[0].message.content)).size > 1, 'different seeds, different answers');
  const greedy = await openai.chat.completions.create(chat('Write something', { max_tokens: 24 }));
  const zero = await openai.chat.completions.create(chat('Write something', { max_tokens: 24, temperature: 0, seed: 77 }));
  assert.equal(zero.choices[0].message.content, greedy.choices[0].message.content);
  // Penalties change the greedy choice; they are honoured, not ignored.
  const penalized = await openai.chat.completions.create(chat('Write something', { max_tokens: 24, frequency_penalty: 2,
                                                                                   presence_penalty: 2, repetition_penalty: 1.5 }));
  assert.notEqual(penalized.choices[0].message.content, greedy.choices[0].message.content);
  const m1 = await anthropic.messages.create({ model: MODEL, max_tokens: 16, temperature: 1, top_k: 40, messages: [{ role: 'user', content: 'Hi' }] });
  assert.equal(m1.type, 'message');
});

test('a prompt longer than the context is a 400 that says by how much', async () => {
  const long = 'word '.repeat(CTX * 2);
  const promptTokens = (await rawPost('/tokenize', JSON.stringify({ prompt: long }))).json.count;
  await assert.rejects(openai.completions.create({ model: MODEL, prompt: long }),
                       (e) => e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded' &&
                              e.message.includes(`${promptTokens - CTX + 1} tokens too long`));
  await assert.rejects(openai.completions.create({ model: MODEL, prompt: 'hi', max_tokens: CTX }),
                       (e) => e instanceof OpenAI.BadRequestError && e.param === 'max_tokens' && /exceed the context of 256 by \d+/.test(e.message));
  await assert.rejects(anthropic.messages.create({ model: MODEL, max_tokens: 4, messages: [{ role: 'user', content: long }] }),
                       (e) => e instanceof Anthropic.BadRequestError && /tokens too long/.test(e.message));
});

test('GET /health reports the model, device, queue and memory', async () => {
  const health = await (await fetch(`${server.url}/health`)).json();
  assert.equal(health.status, 'ok');
  assert.equal(health.model, MODEL);
  assert.equal(typeof health.device, 'string');
  assert.equal(health.queue_depth, 0);
  assert.equal(health.max_running, 4);
  assert.equal(health.context, CTX);
  assert.ok(health.kv_cache.blocks_total > 0);
  assert.ok(health.memory.device_bytes > 0);
  assert.ok(health.memory.host_rss_bytes > 0);
});

test('tokenize and detokenize round-trip; metrics count requests and tokens', async () => {
  const text = 'Hello, world! ünïcödé';
  const t = await rawPost('/tokenize', JSON.stringify({ prompt: text, add_special_tokens: false }));
  const d = await rawPost('/detokenize', JSON.stringify({ tokens: t.json.tokens }));
  assert.equal(d.json.prompt, text);
  const m = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text();
  assert.match(m, /vkllm_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} [1-9]/);
  assert.match(m, /vkllm_requests_total\{endpoint="\/v1\/chat\/completions",status="400"\} [1-9]/);
  assert.match(m, /vkllm_generated_tokens_total [1-9]/);
  assert.match(m, /vkllm_kv_blocks_used 0/);
  assert.match(m, /# TYPE vkllm_time_to_first_token_seconds histogram/);
  assert.ok(metric(m, 'vkllm_time_to_first_token_seconds_count') >= 1);
  assert.ok(metric(m, 'vkllm_inter_token_latency_seconds_count') >= 1);
  assert.equal(metric(m, 'vkllm_time_to_first_token_seconds_bucket{le="+Inf"}'), metric(m, 'vkllm_time_to_first_token_seconds_count'));
  assert.ok(metric(m, 'vkllm_generations_total{reason="length"}') >= 1);
  assert.equal(metric(m, 'vkllm_running_sequences'), 0);
});

test('8 concurrent streams (two leave early) each equal the same request run alone', async () => {
  const prompts = Array.from({ length: 8 }, (_, i) => `Story number ${i}: ${'once '.repeat(i * 3)}there was`);
  const params = (p) => ({ model: MODEL, messages: [{ role: 'user', content: p }], max_tokens: 10 });
  const run = async (p, leaveEarly) => {
    const stream = await openai.chat.completions.create({ ...params(p), stream: true });
    let text = '', n = 0;
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? '';
      if (leaveEarly && ++n === 2) { stream.controller.abort(); return null; }
    }
    return text;
  };
  const together = await Promise.all(prompts.map((p, i) => run(p, i === 2 || i === 5)));
  for (let i = 0; i < prompts.length; ++i) {
    if (together[i] === null) continue;
    const alone = await openai.chat.completions.create(params(prompts[i]));
    assert.equal(together[i], alone.choices[0].message.content, `request ${i}`);
  }
  // The abandoned sequences were cancelled and their KV blocks freed.
  const health = await (await fetch(`${server.url}/health`)).json();
  assert.equal(health.running, 0);
  const m = await (await fetch(`${server.url}/metrics`, { headers: { 'x-api-key': KEY } })).text();
  assert.match(m, /vkllm_kv_blocks_used 0\n/);
});
