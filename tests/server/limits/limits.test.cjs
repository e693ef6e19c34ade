// Limits and shutdown, against a server started from limits/serve.toml (so
// this also checks that --config works): 1 running sequence, at most 2
// waiting, 64 KiB bodies, prompts logged, 4 handler threads with 1 waiting place, 8 connections. Runs in this order; the last test
// sends SIGTERM.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const OpenAI = require(path.join(process.env.GPTOSS_ORACLE_DIR, 'node_modules', 'openai'));
const BASE = process.env.GPTOSS_BASE_URL;
const KEY = process.env.GPTOSS_API_KEY;
const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: KEY, maxRetries: 0, timeout: 300_000 });
const hi = [{ role: 'user', content: 'Hi!' }];

const post = (body, extra = {}) => fetch(`${BASE}/v1/chat/completions`, {
  method: 'POST',
  headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', ...extra },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

async function status() {
  const r = await fetch(`${BASE}/v1/status`, { headers: { Authorization: `Bearer ${KEY}` } });
  return r.json();
}

async function idle() {
  for (let i = 0; i < 300; i++) {
    const s = await status();
    if (s.requests.running === 0 && s.requests.waiting === 0) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not become idle');
}

test('a body over --max-request-bytes gets 413 with an error object', async () => {
  const big = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(100_000) }] });
  const r = await post(big);
  assert.equal(r.status, 413);
  const e = (await r.json()).error;
  assert.equal(e.code, 'payload_too_large');
  assert.match(e.message, /65536 bytes/);
  // A small body on the same server is served.
  const ok = await post({ model: 'm', messages: hi, max_tokens: 2 });
  assert.equal(ok.status, 200);
});

test('more than 4 stop strings, n over 16: 400', async () => {
  const r = await post({ model: 'm', messages: hi, stop: ['a', 'b', 'c', 'd', 'e'] });
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error.param, 'stop');
  const n = await post({ model: 'm', messages: hi, n: 17 });
  assert.equal(n.status, 400);
  assert.equal((await n.json()).error.param, 'n');
});

test('a full waiting queue answers 429 with Retry-After, then recovers', async () => {
  await idle();
  // One long stream holds the only running slot.
  const ctl = new AbortController();
  const a = await client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 3900, stream: true }, { signal: ctl.signal });
  const waiting = [];
  try {
    // The first chunk (the role) comes before any token: wait for the batch.
    for (let i = 0; i < 600 && (await status()).requests.running !== 1; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await status()).requests.running, 1);
    // Two more fill the queue (streams: accepted as soon as headers come back).
    for (let i = 0; i < 2; i++) {
      const r = await post({ model: 'm', messages: hi, max_tokens: 2, stream: true });
      assert.equal(r.status, 200);
      waiting.push(r);
    }
    const busy = await post({ model: 'm', messages: hi, max_tokens: 2 });
    assert.equal(busy.status, 429);
    assert.equal(busy.headers.get('retry-after'), '1');
    assert.equal((await busy.json()).error.code, 'queue_full');
    // n = 2 needs two places; the queue is full: refused whole, nothing left behind.
    const busyN = await post({ model: 'm', messages: hi, max_tokens: 2, n: 2 });
    assert.equal(busyN.status, 429);
  } finally {
    ctl.abort();  // a failure above must not leave the long stream running
  }
  for (const r of waiting) {
    const text = await r.text();
    assert.match(text, /data: \[DONE\]/);
  }
  const s = await idle();
  assert.equal(s.kv_cache.full_blocks_used, 0);
  const again = await post({ model: 'm', messages: hi, max_tokens: 2 });
  assert.equal(again.status, 200);
});

test('connections past --max-connections get 503 with Retry-After at once (not a reset), then it recovers', async () => {
  const net = require('node:net');
  const { port, hostname } = new URL(BASE);
  // Idle connections cost the server only a socket, but --max-connections 8
  // bounds them: open idle ones until the server refuses one. fetch's own
  // kept-alive connections count too, so fewer than 8 may be needed.
  const idlers = [];
  let refusal = null;
  for (let i = 0; i < 12 && refusal === null; i++) {
    const sock = net.connect(Number(port), hostname);
    await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    refusal = await new Promise((resolve, reject) => {
      let data = '';
      const quiet = setTimeout(() => resolve(null), 300);  // no answer: it is open, idle
      sock.on('data', (d) => { data += d; });
      sock.on('end', () => { clearTimeout(quiet); resolve(data); });
      sock.on('error', (e) => { clearTimeout(quiet); reject(e); });
    });
    if (refusal === null) idlers.push(sock);
  }
  assert.ok(refusal !== null, 'no connection was refused past --max-connections');
  assert.ok(idlers.length <= 8, `${idlers.length} idle connections open past --max-connections 8`);
  assert.match(refusal, /^HTTP\/1\.1 503/);
  assert.match(refusal, /Retry-After: 1/i);
  assert.match(refusal, /Connection: close/i);
  assert.match(refusal, /"code":"overloaded"/);
  // The official client retries that refusal: a fresh process (no pooled
  // connection) asks while every place is taken; it says when it was
  // refused, the places are freed, and its retry (after Retry-After) is served.
  const { spawn } = require('node:child_process');
  const child = spawn(process.execPath, ['-e', `
    const OpenAI = require(${JSON.stringify(path.join(process.env.GPTOSS_ORACLE_DIR, 'node_modules', 'openai'))});
    let calls = 0;
    const client = new OpenAI({ baseURL: process.env.BASE + '/v1', apiKey: process.env.KEY, maxRetries: 2,
      fetch: async (url, init) => { calls++; const r = await fetch(url, init); console.log('status ' + r.status); return r; } });
    client.models.list().then(() => console.log('done after ' + calls + ' calls'), (e) => console.log('failed: ' + e.message));
  `], { env: { ...process.env, BASE, KEY } });
  let out = '';
  const finished = new Promise((resolve) => child.on('exit', resolve));
  child.stdout.on('data', (d) => {
    out += d;
    if (out.includes('status 503')) for (const s of idlers) s.destroy();
  });
  await finished;
  assert.match(out, /status 503/, out);
  assert.match(out, /done after 2 calls/, out);
  await new Promise((r) => setTimeout(r, 500));
  const ok = await fetch(`${BASE}/v1/models`, { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(ok.status, 200);
});

test('a second server on this port exits at once, non-zero, saying the address is in use', async () => {
  const { spawnSync } = require('node:child_process');
  const { port } = new URL(BASE);
  const t0 = Date.now();
  const r = spawnSync(process.env.GPTOSS_BIN, ['serve', '--model', 'synthetic:tiny', '--host', '127.0.0.1', '--port', port],
    { encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(r.status, 0, 'the second server started');
  assert.notEqual(r.status, null, 'the second server did not exit');
  assert.match(r.stderr, /address already in use/);
  assert.ok(r.stderr.includes(port), r.stderr);
  assert.ok(Date.now() - t0 < 30_000, 'it should fail before loading a model');
});

test('--log-prompts writes the prompt text to the log', async () => {
  const canary = 'CANARY-' + Math.random().toString(36).slice(2);
  const r = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: canary }], max_tokens: 2 });
  const log = fs.readFileSync(process.env.GPTOSS_SERVER_LOG, 'utf8');
  assert.ok(log.includes(canary), 'prompt not logged');
  assert.ok(log.includes(r.id), 'request id not logged');
});

test('SIGTERM: an in-flight stream finishes, new requests get 503, the server exits', async () => {
  await idle();
  const s = await client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 60, stream: true });
  const it = s[Symbol.asyncIterator]();
  await it.next();
  process.kill(Number(process.env.GPTOSS_SERVER_PID), 'SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  const refused = await post({ model: 'm', messages: hi, max_tokens: 2 }).catch((e) => e);
  // Refused with 503 while draining, or no longer listening once drained.
  if (!(refused instanceof Error)) {
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
  }
  let finish = null, chunks = 1;
  for (let c = await it.next(); !c.done; c = await it.next()) {
    chunks++;
    finish = c.value.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'length', `stream ended without finishing (${chunks} chunks)`);
});
