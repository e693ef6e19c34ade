// Bounded soak: mixed load for GPTOSS_SOAK_SECONDS (default 60) against the
// real server on synthetic:tiny: streamed and whole chat, completions,
// streams cancelled mid-way, bad requests (400s, 413, 404). Afterwards every
// KV block must be free again and the resident memory (VmRSS) must not have
// grown past a small bound after warm-up. Prints the numbers.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const OpenAI = require(path.join(process.env.GPTOSS_ORACLE_DIR, 'node_modules', 'openai'));
const BASE = process.env.GPTOSS_BASE_URL;
const KEY = process.env.GPTOSS_API_KEY;
const PID = Number(process.env.GPTOSS_SERVER_PID);
const SECONDS = Number(process.env.GPTOSS_SOAK_SECONDS || 60);
const WORKERS = 12;
// After warm-up the pools (KV blocks, activations, thread stacks) are in
// place; what a long run may still add is allocator slack, not a leak.
const RSS_GROWTH_LIMIT_MB = Number(process.env.GPTOSS_SOAK_RSS_MB || 64);
const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: KEY, maxRetries: 0, timeout: 120_000 });

const rssMb = () => Number(fs.readFileSync(`/proc/${PID}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m)[1]) / 1024;
const auth = { Authorization: `Bearer ${KEY}` };
async function status() {
  return (await fetch(`${BASE}/v1/status`, { headers: auth })).json();
}
const pick = (rng, xs) => xs[Math.floor(rng() * xs.length)];
function mulberry32(a) {
  return () => { a |= 0; a = (a + 0x6d2b79f5) | 0; let t = Math.imul(a ^ (a >>> 15), 1 | a); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}

const counts = {};
const bump = (k) => { counts[k] = (counts[k] || 0) + 1; };

async function one(rng, i) {
  const words = 'alpha beta gamma delta epsilon zeta eta theta'.split(' ');
  const content = Array.from({ length: 1 + Math.floor(rng() * 60) }, () => pick(rng, words)).join(' ') + ` #${i}`;
  const messages = [{ role: 'user', content }];
  const kind = pick(rng, ['whole', 'stream', 'stream', 'cancel', 'cancel', 'completion', 'bad', 'big', 'nf']);
  switch (kind) {
    case 'whole': {
      const r = await client.chat.completions.create({ model: 'm', messages, max_tokens: 1 + Math.floor(rng() * 40), temperature: rng() });
      assert.ok(r.choices[0].finish_reason); break;
    }
    case 'stream': {
      const s = await client.chat.completions.create({ model: 'm', messages, max_tokens: 1 + Math.floor(rng() * 60), stream: true, stream_options: { include_usage: true } });
      let usage = null;
      for await (const c of s) usage = c.usage ?? usage;
      assert.ok(usage && usage.completion_tokens >= 1); break;
    }
    case 'cancel': {
      const s = await client.chat.completions.create({ model: 'm', messages, max_tokens: 500, stream: true });
      const stop = 1 + Math.floor(rng() * 8);
      let n = 0;
      for await (const _ of s) if (++n >= stop) break;  // aborts the request
      break;
    }
    case 'completion': {
      const r = await client.completions.create({ model: 'm', prompt: content, max_tokens: 1 + Math.floor(rng() * 20) });
      assert.ok(r.choices[0].text !== undefined); break;
    }
    case 'bad': {
      const body = pick(rng, ['{"messages": [', '{"messages": "x"}', '[]', '{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}', '{"messages":[{"role":"user","content":"x"}],"n":99}']);
      const r = await fetch(`${BASE}/v1/chat/completions`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body });
      assert.equal(r.status, 400); await r.text(); break;
    }
    case 'big': {
      const r = await fetch(`${BASE}/v1/chat/completions`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: 'x'.repeat(300_000) });
      assert.equal(r.status, 413); await r.text(); break;
    }
    case 'nf': {
      const r = await fetch(`${BASE}/v1/nothing`, { headers: auth });
      assert.equal(r.status, 404); await r.text(); break;
    }
  }
  bump(kind);
}

async function load(seconds, seed) {
  const end = Date.now() + seconds * 1000;
  let i = 0;
  const errors = [];
  await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
    const rng = mulberry32(seed * 100 + w);
    while (Date.now() < end) {
      try { await one(rng, i++); } catch (e) { errors.push(String(e?.stack ?? e)); if (errors.length > 5) throw new Error(errors.join('\n')); }
    }
  }));
  return errors;
}

async function idle() {
  for (let k = 0; k < 300; k++) {
    const s = await status();
    if (s.requests.running === 0 && s.requests.waiting === 0 && s.kv_cache.full_blocks_used === 0 && s.kv_cache.window_blocks_used === 0) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  return status();
}

test(`soak: ${SECONDS}s of mixed load, then KV blocks free and RSS flat`, { timeout: (SECONDS * 3 + 120) * 1000 }, async () => {
  const rss0 = rssMb();
  const warm = Math.max(5, Math.round(SECONDS * 0.2));
  assert.deepEqual(await load(warm, 1), []);
  await idle();
  const rssWarm = rssMb();
  const t0 = Date.now();
  const errors = await load(SECONDS - warm, 2);
  const s = await idle();
  const rssEnd = rssMb();
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(`soak: ${total} requests in ${SECONDS}s (${JSON.stringify(counts)}), ` +
    `RSS start ${rss0.toFixed(1)} MB, after warm-up ${rssWarm.toFixed(1)} MB, end ${rssEnd.toFixed(1)} MB ` +
    `(growth ${(rssEnd - rssWarm).toFixed(1)} MB, limit ${RSS_GROWTH_LIMIT_MB}); KV blocks used at end: full ` +
    `${s.kv_cache.full_blocks_used}, window ${s.kv_cache.window_blocks_used}; ${((Date.now() - t0) / 1000).toFixed(1)}s measured`);
  assert.deepEqual(errors, []);
  assert.equal(s.requests.running, 0);
  assert.equal(s.requests.waiting, 0);
  assert.equal(s.kv_cache.full_blocks_used, 0);
  assert.equal(s.kv_cache.window_blocks_used, 0);
  assert.ok(rssEnd - rssWarm < RSS_GROWTH_LIMIT_MB, `RSS grew ${(rssEnd - rssWarm).toFixed(1)} MB after warm-up`);
  assert.ok(total > SECONDS, 'too few requests to mean anything');
  // The server still answers after all that.
  const r = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'still there?' }], max_tokens: 2 });
  assert.equal(r.choices.length, 1);
});
