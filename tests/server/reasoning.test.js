// A reasoning model (the tiny model with a Qwen3-style template that opens <think> in the generation
// prompt): thinking goes to reasoning_content / thinking blocks, never into the answer; the thinking
// budget ends a reply that never answered with finish_reason "length" and a flag; enable_thinking
// reaches the template. (How tokens after </think> become the answer is tested in reply_test.cpp:
// a random model does not close its thinking on cue.)
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { OpenAI } = require('openai');
const { Anthropic } = require('@anthropic-ai/sdk');
const { startServer } = require('./harness.js');

const MODEL = 'thinker';
let server, openai, anthropic;

before(async () => {
  server = await startServer({ ctx: 256, max_batch: 2, alias: MODEL, max_thinking_tokens: 40 }, { thinking: true });
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: server.url, apiKey: 'none', maxRetries: 0 });
});

after(async () => {
  if (server) assert.equal(await server.stop(), 0, 'the server exits cleanly on SIGTERM');
});

const ask = (extra = {}) => ({ model: MODEL, messages: [{ role: 'user', content: 'Why is the sky blue?' }], max_tokens: 8, ...extra });

test('thinking goes to reasoning_content; a spent thinking budget is finish_reason length with a flag', async () => {
  const r = await openai.chat.completions.create(ask({ max_thinking_tokens: 6 }));
  const choice = r.choices[0];
  assert.equal(choice.finish_reason, 'length');
  assert.equal(choice.thinking_budget_exhausted, true);
  assert.equal(choice.message.content, '');
  assert.ok(choice.message.reasoning_content.length > 0);
  assert.equal(r.usage.completion_tokens, 6);
  assert.equal(r.usage.completion_tokens_details.reasoning_tokens, 6);

  // Streamed: the same thinking as delta.reasoning_content, no content, the flag on the last choice.
  const stream = await openai.chat.completions.create({ ...ask({ max_thinking_tokens: 6 }), stream: true });
  let reasoning = '', content = '', last = null;
  for await (const c of stream) {
    reasoning += c.choices[0]?.delta?.reasoning_content ?? '';
    content += c.choices[0]?.delta?.content ?? '';
    if (c.choices[0]?.finish_reason) last = c.choices[0];
  }
  assert.equal(reasoning, choice.message.reasoning_content);
  assert.equal(content, '');
  assert.equal(last.finish_reason, 'length');
  assert.equal(last.thinking_budget_exhausted, true);

  // The server's --max_thinking_tokens (40) bounds a request that does not say; max_tokens (8) is
  // for the answer only, so the reply may be longer than it.
  const byDefault = await openai.chat.completions.create(ask());
  assert.ok(byDefault.usage.completion_tokens > 8, `${byDefault.usage.completion_tokens} tokens`);
  assert.ok(byDefault.usage.completion_tokens_details.reasoning_tokens <= 40);
});

test('enable_thinking: false reaches the template: no thinking, a plain answer', async () => {
  const on = await openai.chat.completions.create(ask({ max_thinking_tokens: 4 }));
  const off = await openai.chat.completions.create(ask({ enable_thinking: false }));
  assert.equal(off.choices[0].message.reasoning_content, undefined);
  assert.ok(off.choices[0].message.content.length > 0);
  assert.equal(off.usage.completion_tokens, 8);
  assert.equal(off.choices[0].finish_reason, 'length');
  assert.equal(off.choices[0].thinking_budget_exhausted, undefined);
  // "<think>\n\n</think>\n\n" instead of "<think>\n": the closed block is in the prompt.
  assert.ok(off.usage.prompt_tokens > on.usage.prompt_tokens);
  const kwargs = await openai.chat.completions.create(ask({ chat_template_kwargs: { enable_thinking: false } }));
  assert.equal(kwargs.choices[0].message.content, off.choices[0].message.content);
});

test('Anthropic thinking: a thinking block, budget_tokens as the thinking budget, streamed as thinking_delta', async () => {
  const params = { model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'Why is the sky blue?' }],
                   thinking: { type: 'enabled', budget_tokens: 6 } };
  const m = await anthropic.messages.create(params);
  assert.equal(m.content[0].type, 'thinking');
  assert.ok(m.content[0].thinking.length > 0);
  assert.equal(m.content.length, 1, 'no answer came');
  assert.equal(m.stop_reason, 'max_tokens');
  assert.equal(m.thinking_budget_exhausted, true);
  assert.equal(m.usage.output_tokens, 6);

  const events = [];
  let thinking = '';
  for await (const e of anthropic.messages.stream(params)) {
    events.push(e.type === 'content_block_start' ? `start:${e.content_block.type}` : e.type);
    if (e.type === 'content_block_delta') {
      assert.equal(e.delta.type, 'thinking_delta');
      thinking += e.delta.thinking;
    }
  }
  assert.equal(thinking, m.content[0].thinking);
  assert.deepEqual(events.filter((t) => t !== 'content_block_delta'),
                   ['message_start', 'start:thinking', 'content_block_stop', 'message_delta', 'message_stop']);

  const off = await anthropic.messages.create({ ...params, thinking: { type: 'disabled' } });
  assert.deepEqual(off.content.map((b) => b.type), ['text']);
  assert.ok(off.content[0].text.length > 0);
  const counted = await anthropic.messages.countTokens({ model: MODEL, messages: params.messages, thinking: { type: 'disabled' } });
  assert.equal(counted.input_tokens, off.usage.input_tokens);
});

test('tools reach the template (tool_choice "none" withholds them); forcing a call is refused', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city',
                                                 parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const plain = await openai.chat.completions.create(ask({ enable_thinking: false }));
  const offered = await openai.chat.completions.create(ask({ enable_thinking: false, tools }));
  assert.ok(offered.usage.prompt_tokens > plain.usage.prompt_tokens + 10);
  const none = await openai.chat.completions.create(ask({ enable_thinking: false, tools, tool_choice: 'none' }));
  assert.equal(none.usage.prompt_tokens, plain.usage.prompt_tokens);
  assert.equal(none.choices[0].message.content, plain.choices[0].message.content);
  // A conversation that already called a tool and has its result.
  const followUp = await openai.chat.completions.create({
    model: MODEL, max_tokens: 4, enable_thinking: false, tools,
    messages: [{ role: 'user', content: 'Weather in Paris?' },
               { role: 'assistant', content: null,
                 tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
               { role: 'tool', tool_call_id: 'call_1', content: 'sunny' }],
  });
  assert.equal(followUp.choices[0].finish_reason, 'length');
  for (const tool_choice of ['required', { type: 'function', function: { name: 'get_weather' } }]) {
    await assert.rejects(openai.chat.completions.create(ask({ tools, tool_choice })),
                         (e) => e instanceof OpenAI.BadRequestError && e.param === 'tool_choice');
  }
});

test('Anthropic tools reach the template; tool_use and tool_result blocks are accepted', async () => {
  const tools = [{ name: 'get_weather', description: 'Weather in a city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
  const base = { model: MODEL, max_tokens: 4, thinking: { type: 'disabled' }, messages: [{ role: 'user', content: 'Weather in Paris?' }] };
  const plain = await anthropic.messages.countTokens({ model: MODEL, messages: base.messages, thinking: base.thinking });
  const offered = await anthropic.messages.countTokens({ model: MODEL, messages: base.messages, thinking: base.thinking, tools });
  assert.ok(offered.input_tokens > plain.input_tokens + 10);
  const m = await anthropic.messages.create({
    ...base, tools,
    messages: [...base.messages,
               { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
               { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' }] }],
  });
  assert.equal(m.stop_reason, 'max_tokens');
  assert.ok(m.usage.input_tokens > offered.input_tokens);
  await assert.rejects(anthropic.messages.create({ ...base, tools, tool_choice: { type: 'any' } }),
                       (e) => e instanceof Anthropic.BadRequestError && /tool_choice/.test(e.message));
});
