// The chat page at "/" in headless Chromium, driven over the DevTools protocol (through
// --remote-debugging-pipe: no extra npm package). It sends a message and must show the streamed
// answer, equal to the same request made through the API; the stop button must cancel a long
// answer on the server; thinking must be folded. A screenshot goes to the test's work folder.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer, waitFor } = require('./harness.js');

const KEY = 'page-key';
const MODEL = 'tiny';
const CHROMIUM = process.env.CHROMIUM || 'chromium';
let server, browser, page;

// A DevTools protocol client over Chromium's pipe (fd 3: commands in, fd 4: replies and events out,
// each message JSON terminated by a NUL byte).
function launchChromium() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vkllm-chromium-'));
  // Chromium's own messages go to a log next to the screenshot, for when it misbehaves.
  const log = fs.openSync(path.join(process.env.VKLLM_TEST_DIR, 'chromium.log'), 'w');
  const child = spawn(CHROMIUM, ['--headless=new', '--remote-debugging-pipe', '--no-sandbox', '--disable-gpu',
                                 '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
                                 `--user-data-dir=${profile}`, 'about:blank'],
                      { stdio: ['ignore', log, log, 'pipe', 'pipe'] });
  const [input, output] = [child.stdio[3], child.stdio[4]];
  let nextId = 1, buffer = '';
  const pending = new Map(), listeners = [];
  output.on('data', (d) => {
    buffer += d.toString('utf8');
    let end;
    while ((end = buffer.indexOf('\0')) >= 0) {
      const msg = JSON.parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
      if (msg.id && pending.has(msg.id)) {
        const { resolve, reject } = pending.get(msg.id);
        pending.delete(msg.id);
        msg.error ? reject(new Error(`${msg.error.message} (${msg.error.code})`)) : resolve(msg.result);
      } else if (msg.method) {
        for (const l of listeners) l(msg);
      }
    }
  });
  // Every command answers within 20 s or fails the test (instead of hanging it).
  const send = (method, params = {}, sessionId) => new Promise((resolve, reject) => {
    const id = nextId++;
    const timer = setTimeout(() => { pending.delete(id); reject(new Error(`Chromium did not answer ${method} in 20 s`)); }, 20_000);
    pending.set(id, { resolve: (v) => { clearTimeout(timer); resolve(v); }, reject: (e) => { clearTimeout(timer); reject(e); } });
    input.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
  });
  const once = (method, sessionId) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${method} from Chromium in 20 s`)), 20_000);
    const l = (msg) => {
      if (msg.method === method && msg.sessionId === sessionId) {
        listeners.splice(listeners.indexOf(l), 1);
        clearTimeout(timer);
        resolve(msg.params);
      }
    };
    listeners.push(l);
  });
  // The profile is removed once Chromium is gone (it may still be writing right after the kill).
  const removeProfile = () => { try { fs.rmSync(profile, { recursive: true, force: true }); } catch { /* best effort */ } };
  child.once('exit', removeProfile);
  const close = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', () => { close(); removeProfile(); });
  return { send, once, close };
}

async function openPage(url) {
  const { targetId } = await browser.send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await browser.send('Target.attachToTarget', { targetId, flatten: true });
  const send = (method, params) => browser.send(method, params, sessionId);
  await send('Page.enable');
  await send('Runtime.enable');
  const loaded = browser.once('Page.loadEventFired', sessionId);
  await send('Page.navigate', { url });
  await loaded;
  // Evaluates an expression in the page; returns its value (awaiting promises).
  const evaluate = async (expression) => {
    const r = await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value;
  };
  return { send, evaluate };
}

const LIMIT = { timeout: 90_000 };  // a test that hangs fails instead of holding ctest until its timeout

before(async () => {
  server = await startServer({ api_key: KEY, ctx: 512, max_batch: 2, alias: MODEL });
  browser = launchChromium();
  await browser.send('Browser.getVersion');
  page = await openPage(`${server.url}/`);
  // The page asks /v1/models for the model name once it has the key.
  await page.evaluate(`(() => { const k = document.getElementById('api-key'); k.value = ${JSON.stringify(KEY)};
                                k.dispatchEvent(new Event('change')); })()`);
  await waitFor(() => page.evaluate(`document.getElementById('model').textContent === ${JSON.stringify(MODEL)}`), 10_000,
                'the model name on the page');
}, LIMIT);

after(async () => {
  browser?.close();
  if (server) assert.equal(await server.stop(), 0, 'the server exits cleanly on SIGTERM');
});

const setField = (id, value) => page.evaluate(`document.getElementById(${JSON.stringify(id)}).value = ${JSON.stringify(String(value))}`);
const sendMessage = (text) => page.evaluate(`(() => { document.getElementById('prompt').value = ${JSON.stringify(text)};
                                                      document.getElementById('composer').requestSubmit(); })()`);
const lastStats = () => page.evaluate(`(() => { const s = [...document.querySelectorAll('.stats')].pop();
                                                  return s ? { done: s.dataset.done ?? null, text: s.textContent } : null; })()`);
const lastAnswer = () => page.evaluate(`[...document.querySelectorAll('.msg.assistant span')].pop()?.textContent ?? null`);

test('the page streams an answer equal to the API answer and shows tokens/s', LIMIT, async () => {
  await setField('temperature', 0);
  await setField('max-tokens', 24);
  const prompt = 'Hello from the browser';
  // While it streams, the stop button replaces send; the text grows in several steps.
  const lengths = new Set();
  await sendMessage(prompt);
  await waitFor(async () => {
    lengths.add((await lastAnswer())?.length ?? 0);
    return (await lastStats())?.done;
  }, 30_000, 'the answer to finish');
  const stats = await lastStats();
  assert.equal(stats.done, 'true', stats.text);
  assert.match(stats.text, /^24 tokens in [\d.]+ s, [\d.]+ tokens\/s, finish: length$/);
  const shown = await lastAnswer();
  const r = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 24, temperature: 0 }),
  });
  const expected = (await r.json()).choices[0].message.content;
  assert.equal(shown, expected.replace(/^\s+/, ''));
  assert.ok(shown.length > 0);
  assert.equal(await page.evaluate(`document.getElementById('send').hidden`), false);
  const shot = await page.send('Page.captureScreenshot', { format: 'png' });
  const file = path.join(process.env.VKLLM_TEST_DIR, 'chat_page.png');
  fs.writeFileSync(file, Buffer.from(shot.data, 'base64'));
  assert.ok(fs.statSync(file).size > 1000);
});

test('the stop button ends a long answer and the server cancels it', LIMIT, async () => {
  await setField('max-tokens', 400);
  await sendMessage('Tell me a long story');
  await waitFor(async () => ((await lastAnswer()) ?? '').length > 0, 30_000, 'streamed text');
  assert.equal(await page.evaluate(`document.getElementById('stop').hidden`), false);
  await page.evaluate(`document.getElementById('stop').click()`);
  await waitFor(async () => (await lastStats())?.done === 'stopped', 5000, 'the page to show it stopped');
  await waitFor(async () => (await (await fetch(`${server.url}/health`)).json()).running === 0, 5000, 'the server to cancel');
  const m = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text();
  assert.match(m, /vkllm_generations_total\{reason="cancelled"\} 1\n/);
});

test('thinking is shown folded, apart from the answer', LIMIT, async () => {
  const view = await page.evaluate(`(() => {
    const v = answerView();
    v.addContent('<think>Let me ');
    const during = v.element.querySelector('details').hidden;
    v.addContent('see.</think>\\n\\nThe answer.');
    v.addReasoning('More thoughts.');
    const d = v.element.querySelector('details');
    return { during, hidden: d.hidden, open: d.open, thinking: d.lastChild.textContent, answer: v.answerText() };
  })()`);
  assert.deepEqual(view, { during: false, hidden: false, open: false, thinking: 'More thoughts.Let me see.', answer: 'The answer.' });
});
