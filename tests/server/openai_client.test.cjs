// The server driven by the official `openai` npm client. run_e2e.sh starts
// `gptoss serve` on synthetic:tiny (random weights, real tokenizer) and sets
// GPTOSS_BASE_URL / GPTOSS_API_KEY / GPTOSS_ORACLE_DIR. Random weights emit
// random tokens, so exact reasoning/tool-call outputs use the server's
// test-only hook `gptoss_debug.force_output` (--debug-allow-forced-output):
// the model still runs, only its sampled tokens are replaced.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const OpenAI = require(path.join(process.env.GPTOSS_ORACLE_DIR, 'node_modules', 'openai'));
const BASE = process.env.GPTOSS_BASE_URL;
const KEY = process.env.GPTOSS_API_KEY;
const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: KEY, maxRetries: 0, timeout: 300_000 });

const force = (text) => ({ gptoss_debug: { force_output: text } });
const FINAL = '<|channel|>analysis<|message|>The user greets me.<|end|><|start|>assistant<|channel|>final<|message|>Hello there!<|return|>';
const CALL = '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>';
const tools = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}];
const hi = [{ role: 'user', content: 'Hi!' }];

async function metrics() {
  const r = await fetch(`${BASE}/metrics`, { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(r.status, 200);
  const text = await r.text();
  const get = (name) => {
    const m = text.match(new RegExp(`^${name.replace(/[{}"=]/g, (c) => '\\' + c)} (\\S+)$`, 'm'));
    return m ? Number(m[1]) : NaN;
  };
  return { text, get };
}

test('models lists the served model', async () => {
  const list = await client.models.list();
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].id, 'synthetic:tiny');
});

test('models.retrieve: the served model, 404 for another', async () => {
  const m = await client.models.retrieve('synthetic:tiny');
  assert.equal(m.id, 'synthetic:tiny');
  assert.equal(m.object, 'model');
  await assert.rejects(client.models.retrieve('openai/gpt-oss-120b'),
                       (e) => e.status === 404 && e.error.code === 'model_not_found');
});

test('tokenize and detokenize, as vLLM and llama.cpp answer them', async () => {
  const post = async (path, body) => {
    const r = await fetch(`${BASE}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  };
  // The chat form counts what the chat endpoint feeds the model, tools and instructions included.
  const body = { messages: hi, tools, tool_choice: 'required', reasoning_effort: 'low' };
  const chat = await client.chat.completions.create({ model: 'm', ...body, max_tokens: 1 });
  const t = await post('/tokenize', body);
  assert.equal(t.status, 200);
  assert.equal(t.body.count, chat.usage.prompt_tokens);
  assert.equal(t.body.tokens.length, t.body.count);
  assert.equal(t.body.max_model_len, 2048);
  // The completions form, vLLM's 'prompt' and llama.cpp's 'content' (with pieces).
  const c = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 1 });
  const p = await post('/tokenize', { prompt: 'Once upon a time' });
  assert.equal(p.body.count, c.usage.prompt_tokens);
  const pieces = await post('/tokenize', { content: 'Once upon a time', with_pieces: true });
  assert.deepEqual(pieces.body.tokens.map((x) => x.id), p.body.tokens);
  assert.equal(pieces.body.tokens.map((x) => x.piece).join(''), 'Once upon a time');
  const d = await post('/detokenize', { tokens: p.body.tokens });
  assert.equal(d.body.prompt, 'Once upon a time');
  assert.equal(d.body.content, 'Once upon a time');
  assert.equal((await post('/detokenize', { tokens: [-1] })).status, 400);
  assert.equal((await post('/tokenize', { prompt: 5 })).status, 400);
});

test('request counters name routes, never the client\'s path', async () => {
  await fetch(`${BASE}/%22%0Ascan-${Date.now()}`, { headers: { Authorization: `Bearer ${KEY}` } });
  await client.models.retrieve('synthetic:tiny');
  const { text } = await metrics();
  assert.ok(!text.includes('scan-'), 'an unknown path became a label');
  assert.match(text, /gptoss_http_requests_total\{path="\(no route\)",status="404"\} \d+/);
  assert.match(text, /gptoss_http_requests_total\{path="\/v1\/models\/\{id\}",status="200"\} \d+/);
});

test('health needs no key', async () => {
  const r = await fetch(`${BASE}/health`);
  assert.equal(r.status, 200);
});

test('chat, not streamed', async () => {
  const r = await client.chat.completions.create({ model: 'synthetic:tiny', messages: hi, max_tokens: 8, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(['stop', 'length', 'tool_calls'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 20);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 8);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('greedy is reproducible, seeded sampling too', async () => {
  const a = await client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 6, temperature: 0, logprobs: true });
  const b = await client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 6, temperature: 0, logprobs: true });
  assert.deepEqual(a.choices[0].logprobs.content.map((t) => t.token), b.choices[0].logprobs.content.map((t) => t.token));
  const s1 = await client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 6, seed: 5, logprobs: true });
  const s2 = await client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 6, seed: 5, logprobs: true });
  assert.deepEqual(s1.choices[0].logprobs.content.map((t) => t.token), s2.choices[0].logprobs.content.map((t) => t.token));
  // The second identical prompt found its prefix in the cache.
  assert.ok(b.usage.prompt_tokens_details.cached_tokens > 0);
});

test('n choices, whole and streamed', async () => {
  const r = await client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 5, n: 3, seed: 11, logprobs: true });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
  for (const c of r.choices) assert.ok(c.logprobs.content.length >= 1 && c.logprobs.content.length <= 5);
  // Seeded: the same request gives the same three answers; the answers differ from each other.
  const again = await client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 5, n: 3, seed: 11, logprobs: true });
  const toks = (x) => x.choices.map((c) => c.logprobs.content.map((t) => t.token).join('|'));
  assert.deepEqual(toks(again), toks(r));
  assert.ok(new Set(toks(r)).size > 1);
  assert.equal(r.usage.completion_tokens, r.choices.reduce((a, c) => a + c.logprobs.content.length, 0));
  const stream = await client.chat.completions.create({
    model: 'm', messages: hi, n: 2, stream: true, stream_options: { include_usage: true }, ...force(FINAL),
  });
  const text = ['', ''], finish = [null, null];
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text[c.index] += c.delta.content ?? '';
      if (c.finish_reason) finish[c.index] = c.finish_reason;
    }
  }
  assert.deepEqual(text, ['Hello there!', 'Hello there!']);
  assert.deepEqual(finish, ['stop', 'stop']);
  assert.ok(usage.completion_tokens > 10);
});

test('chat with reasoning and an answer', async () => {
  const r = await client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 64, reasoning_effort: 'low', ...force(FINAL) });
  const m = r.choices[0].message;
  assert.equal(m.content, 'Hello there!');
  assert.equal(m.reasoning_content, 'The user greets me.');
  assert.equal(m.reasoning, 'The user greets me.');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.ok(r.usage.completion_tokens_details.reasoning_tokens > 0);
});

test('chat, streamed, with usage', async () => {
  const stream = await client.chat.completions.create({
    model: 'm', messages: hi, max_tokens: 64, stream: true, stream_options: { include_usage: true }, ...force(FINAL),
  });
  let content = '', reasoning = '', finish = null, usage = null, chunks = 0;
  for await (const c of stream) {
    chunks++;
    if (c.usage) usage = c.usage;
    if (!c.choices.length) continue;
    content += c.choices[0].delta.content ?? '';
    reasoning += c.choices[0].delta.reasoning_content ?? '';
    finish = c.choices[0].finish_reason ?? finish;
  }
  assert.ok(chunks > 3);
  assert.equal(content, 'Hello there!');
  assert.equal(reasoning, 'The user greets me.');
  assert.equal(finish, 'stop');
  assert.ok(usage.completion_tokens > 5);
});

test('stop strings cut the answer', async () => {
  const r = await client.chat.completions.create({
    model: 'm', messages: hi, max_tokens: 64, stop: ['STOP'],
    ...force('<|channel|>final<|message|>one two STOP three<|return|>'),
  });
  assert.equal(r.choices[0].message.content, 'one two ');
  assert.equal(r.choices[0].finish_reason, 'stop');
});

test('tool call round trip', async () => {
  const first = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, max_tokens: 64, ...force(CALL) });
  const choice = first.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
  assert.match(call.id, /^call_/);
  const second = await client.chat.completions.create({
    model: 'm', tools, max_tokens: 64,
    messages: [
      { role: 'user', content: 'Weather in Paris?' },
      choice.message,
      { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21, "sky": "clear"}' },
    ],
    ...force('<|channel|>final<|message|>It is 21 degrees and clear.<|return|>'),
  });
  assert.equal(second.choices[0].message.content, 'It is 21 degrees and clear.');
  assert.ok(second.usage.prompt_tokens > first.usage.prompt_tokens);
});

test('tool call, streamed', async () => {
  const stream = await client.chat.completions.create({ model: 'm', messages: hi, tools, max_tokens: 64, stream: true, ...force(CALL) });
  const calls = [];
  let finish = null;
  for await (const c of stream) {
    const d = c.choices[0]?.delta;
    for (const t of d?.tool_calls ?? []) {
      calls[t.index] ??= { id: '', name: '', arguments: '' };
      if (t.id) calls[t.index].id = t.id;
      if (t.function?.name) calls[t.index].name = t.function.name;
      calls[t.index].arguments += t.function?.arguments ?? '';
    }
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(calls.length, 1);
  assert.equal(calls[0].name, 'get_weather');
  assert.deepEqual(JSON.parse(calls[0].arguments), { city: 'Paris' });
  assert.equal(finish, 'tool_calls');
});

test('responses API: reasoning and message items', async () => {
  const r = await client.responses.create({ model: 'm', input: 'Hi!', reasoning: { effort: 'low' }, max_output_tokens: 64, ...force(FINAL) });
  assert.equal(r.object, 'response');
  assert.equal(r.status, 'completed');
  assert.deepEqual(r.output.map((o) => o.type), ['reasoning', 'message']);
  assert.equal(r.output[0].content[0].text, 'The user greets me.');
  assert.equal(r.output_text, 'Hello there!');
  assert.ok(r.usage.output_tokens_details.reasoning_tokens > 0);
});

test('responses API: function call round trip, streamed', async () => {
  const rtools = [{ type: 'function', name: 'get_weather', parameters: tools[0].function.parameters }];
  const stream = await client.responses.create({ model: 'm', input: 'Weather in Paris?', tools: rtools, max_output_tokens: 64, stream: true, ...force(CALL) });
  const types = new Set();
  let done = null;
  for await (const e of stream) {
    types.add(e.type);
    if (e.type === 'response.completed') done = e.response;
  }
  assert.ok(types.has('response.created'));
  assert.ok(types.has('response.function_call_arguments.delta'));
  const call = done.output.find((o) => o.type === 'function_call');
  assert.equal(call.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
  const back = await client.responses.create({
    model: 'm', tools: rtools, max_output_tokens: 64,
    input: [
      { role: 'user', content: 'Weather in Paris?' },
      { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
      { type: 'function_call_output', call_id: call.call_id, output: '{"temperature": 21}' },
    ],
    ...force('<|channel|>final<|message|>21 degrees.<|return|>'),
  });
  assert.equal(back.output_text, '21 degrees.');
});

test('completions, whole and streamed', async () => {
  const r = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.equal(r.usage.completion_tokens, 5);
  const s = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 5, temperature: 0, stream: true });
  let text = '', finish = null;
  for await (const c of s) {
    text += c.choices[0]?.text ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, r.choices[0].text);
  assert.equal(finish, 'length');
  // n choices, whole and streamed: greedy, so all equal to the single answer.
  const n = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 5, temperature: 0, n: 2 });
  assert.deepEqual(n.choices.map((c) => [c.index, c.text]), [[0, r.choices[0].text], [1, r.choices[0].text]]);
  assert.equal(n.usage.completion_tokens, 10);
  const ns = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 5, temperature: 0, n: 2, stream: true });
  const texts = ['', ''];
  for await (const c of ns) for (const ch of c.choices) texts[ch.index] += ch.text ?? '';
  assert.deepEqual(texts, [r.choices[0].text, r.choices[0].text]);
});

test('logit_bias forces and bans tokens; bad ones are 400', async () => {
  const r = await fetch(`${BASE}/tokenize`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: ' banana' }) });
  const ids = (await r.json()).tokens;
  assert.equal(ids.length, 1);
  const banana = ids[0];
  // +100: every token is ' banana', greedy or sampled, whole or streamed.
  for (const temperature of [0, 1]) {
    const c = await client.completions.create({ model: 'm', prompt: 'Fruit:', max_tokens: 3, temperature, logit_bias: { [banana]: 100 } });
    assert.equal(c.choices[0].text, ' banana banana banana');
  }
  const s = await client.completions.create({ model: 'm', prompt: 'Fruit:', max_tokens: 3, temperature: 0, stream: true, logit_bias: { [banana]: 100 } });
  let text = '';
  for await (const c of s) text += c.choices[0]?.text ?? '';
  assert.equal(text, ' banana banana banana');
  // -100 on the greedy answer's first token: another token comes first.
  const plain = await client.completions.create({ model: 'm', prompt: 'Fruit:', max_tokens: 1, temperature: 0, logprobs: 1 });
  const first = await fetch(`${BASE}/tokenize`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: plain.choices[0].text }) });
  const firstId = (await first.json()).tokens[0];
  const banned = await client.completions.create({ model: 'm', prompt: 'Fruit:', max_tokens: 1, temperature: 0, logit_bias: { [firstId]: -100 } });
  assert.notEqual(banned.choices[0].text, plain.choices[0].text);
  // The chat endpoint takes it too.
  const chat = await client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 3, temperature: 0, logit_bias: { [banana]: 100 } });
  assert.match(chat.choices[0].message.content ?? '', /banana/);
  await assert.rejects(client.completions.create({ model: 'm', prompt: 'x', max_tokens: 1, logit_bias: { [banana]: 150 } }),
                       (e) => e.status === 400 && e.error.param === 'logit_bias');
  await assert.rejects(client.completions.create({ model: 'm', prompt: 'x', max_tokens: 1, logit_bias: { 'abc': 1 } }),
                       (e) => e.status === 400 && e.error.param === 'logit_bias');
  await assert.rejects(client.completions.create({ model: 'm', prompt: 'x', max_tokens: 1, logit_bias: { 999999999: 1 } }),
                       (e) => e.status === 400 && /outside the vocabulary/.test(e.error.message));
});

test('completions: several prompts in one request, echo', async () => {
  const alone = async (prompt) =>
    (await client.completions.create({ model: 'm', prompt, max_tokens: 4, temperature: 0 })).choices[0].text;
  const a = await alone('Once upon a time'), b = await alone([200006, 17360, 200008]);
  // Strings and token-id arrays mix; choices are numbered prompt * n + j; each prompt's tokens count once.
  const r = await client.completions.create({ model: 'm', prompt: ['Once upon a time', [200006, 17360, 200008]],
                                             max_tokens: 4, temperature: 0, n: 2 });
  assert.deepEqual(r.choices.map((c) => [c.index, c.text]), [[0, a], [1, a], [2, b], [3, b]]);
  const one = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 4, temperature: 0 });
  assert.equal(r.usage.prompt_tokens, one.usage.prompt_tokens + 3);
  assert.equal(r.usage.completion_tokens, 16);
  // echo: the prompt's text, then the completion; streamed, the prompt comes first.
  const e = await client.completions.create({ model: 'm', prompt: ['Once upon a time', 'Hello'], max_tokens: 4,
                                             temperature: 0, echo: true });
  assert.equal(e.choices[0].text, 'Once upon a time' + a);
  assert.ok(e.choices[1].text.startsWith('Hello'));
  const s = await client.completions.create({ model: 'm', prompt: ['Once upon a time', 'Hello'], max_tokens: 4,
                                             temperature: 0, echo: true, stream: true });
  const texts = ['', ''];
  for await (const c of s) for (const ch of c.choices) texts[ch.index] += ch.text ?? '';
  assert.deepEqual(texts, e.choices.map((c) => c.text));
  // echo with logprobs scores the prompt's own tokens too (what evaluation harnesses read):
  // the first has none; then every token's log-probability, alternatives and offset in the text.
  const text = 'The quick brown fox jumps over the lazy dog';
  const plain = await client.completions.create({ model: 'm', prompt: text, max_tokens: 2, temperature: 0, logprobs: 2 });
  const scored = await client.completions.create({ model: 'm', prompt: text, max_tokens: 2, temperature: 0, logprobs: 2, echo: true });
  const lp = scored.choices[0].logprobs, P = plain.usage.prompt_tokens;
  assert.equal(scored.choices[0].text, text + plain.choices[0].text);
  assert.equal(lp.tokens.length, P + 2);
  assert.equal(lp.token_logprobs[0], null);
  assert.equal(lp.top_logprobs[0], null);
  assert.equal(lp.tokens.slice(0, P).join(''), text);
  for (let i = 1; i < P; ++i) {
    assert.ok(lp.token_logprobs[i] <= 0 && Number.isFinite(lp.token_logprobs[i]), `prompt token ${i}`);
    assert.equal(Object.keys(lp.top_logprobs[i]).length, 2);
    assert.ok(Math.max(...Object.values(lp.top_logprobs[i])) >= lp.token_logprobs[i] - 1e-4);
    assert.equal(lp.text_offset[i], lp.tokens.slice(0, i).join('').length);
  }
  // The generated tokens: as without echo.
  assert.deepEqual(lp.tokens.slice(P), plain.choices[0].logprobs.tokens);
  lp.token_logprobs.slice(P).forEach((v, j) => assert.ok(Math.abs(v - plain.choices[0].logprobs.token_logprobs[j]) < 1e-4));
  assert.equal(lp.text_offset[P], text.length);
  // max_tokens 0 only scores the prompt (and needs echo and logprobs).
  const only = await client.completions.create({ model: 'm', prompt: text, max_tokens: 0, logprobs: 1, echo: true });
  assert.equal(only.choices[0].text, text);
  assert.equal(only.choices[0].finish_reason, 'length');
  assert.equal(only.usage.completion_tokens, 0);
  assert.deepEqual(only.choices[0].logprobs.tokens, lp.tokens.slice(0, P));
  await assert.rejects(client.completions.create({ model: 'm', prompt: text, max_tokens: 0 }),
                       (err) => err.status === 400 && err.error.param === 'max_tokens');
  // Streamed: the same entries, the prompt's first.
  const st = await client.completions.create({ model: 'm', prompt: text, max_tokens: 2, temperature: 0, logprobs: 2, echo: true, stream: true });
  const got = { tokens: [], token_logprobs: [] };
  let streamed = '';
  for await (const c of st) for (const ch of c.choices) {
    streamed += ch.text ?? '';
    if (ch.logprobs) got.tokens.push(...ch.logprobs.tokens), got.token_logprobs.push(...ch.logprobs.token_logprobs);
  }
  assert.equal(streamed, scored.choices[0].text);
  assert.deepEqual(got.tokens, lp.tokens);
  got.token_logprobs.forEach((v, j) => assert.ok(v === lp.token_logprobs[j] || Math.abs(v - lp.token_logprobs[j]) < 1e-4));
  // best_of beyond n would rank candidates by log-probability: refused rather than ignored.
  await assert.rejects(client.completions.create({ model: 'm', prompt: 'x', max_tokens: 2, best_of: 3 }),
                       (err) => err.status === 400 && err.error.param === 'best_of');
  assert.equal((await client.completions.create({ model: 'm', prompt: 'x', max_tokens: 2, n: 2, best_of: 2 })).choices.length, 2);
  await assert.rejects(client.completions.create({ model: 'm', prompt: ['x', 7], max_tokens: 2 }),
                       (err) => err.status === 400 && /prompt\[1\]/.test(err.error.message));
});

test('bad requests get OpenAI error objects', async () => {
  const expect400 = async (body, param) => {
    await assert.rejects(client.chat.completions.create({ model: 'm', ...body }), (e) => {
      assert.equal(e.status, 400, JSON.stringify(e.error));
      assert.equal(typeof e.error.message, 'string');
      if (param) assert.equal(e.error.param, param);
      return true;
    });
  };
  await expect400({ messages: hi, temperature: 'hot' }, 'temperature');
  await expect400({ messages: hi, max_tokens: -3 }, 'max_tokens');
  await expect400({ messages: 'hello' }, 'messages');
  await expect400({ messages: [{ role: 'wizard', content: 'x' }] }, 'messages');
  await expect400({ messages: hi, max_tokens: 100000 }, 'max_tokens');
  await expect400({ messages: [{ role: 'user', content: 'word '.repeat(5000) }] }, 'messages');
  await expect400({ messages: hi, tools: [{ type: 'function', function: { name: 'f', parameters: 'not a schema' } }] }, 'tools');
  await expect400({ messages: hi, response_format: { type: 'json_schema', json_schema: { name: 'x y' } } }, 'response_format');
  // Malformed JSON, by hand.
  const r = await fetch(`${BASE}/v1/chat/completions`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: '{"messages": [' });
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error.code, 'invalid_json');
  const nf = await fetch(`${BASE}/v1/nothing`, { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(nf.status, 404);
  assert.ok((await nf.json()).error.message);
});

test('an internal error fails that request alone; the others finish', async () => {
  const fail = { gptoss_debug: { fail_after_tokens: 2 } };
  const before = (await metrics()).get('gptoss_requests_finished_total{reason="error"}');
  const normal = (i) => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: `n${i}` }], max_tokens: 6 });
  const whole = client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 20, ...fail }).then(() => null, (e) => e);
  const streamed = (async () => {
    const s = await client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 20, stream: true, ...fail });
    try { for await (const _ of s) { /* until the error event */ } return null; } catch (e) { return e; }
  })();
  const [e1, e2, ...ok] = await Promise.all([whole, streamed, normal(0), normal(1), normal(2)]);
  assert.equal(e1?.status, 500, String(e1));
  assert.match(e1.error.message, /injected fault/);
  assert.ok(e2, 'the streamed request did not report its error');
  assert.match(String(e2.message ?? e2), /injected fault/);
  for (const r of ok) assert.equal(r.choices[0].finish_reason === 'length' || r.choices[0].finish_reason === 'stop', true);
  const after = await metrics();
  assert.equal(after.get('gptoss_requests_finished_total{reason="error"}') - before, 2);
  // And the server still serves.
  const again = await client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 2 });
  assert.equal(again.choices.length, 1);
});

test('a bad fault-hook value is 400', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'm', messages: hi, gptoss_debug: { fail_after_tokens: -1 } }),
    (e) => e.status === 400);
});

test('prompt text stays out of the log without --log-prompts', async () => {
  const canary = 'CANARY-' + Math.random().toString(36).slice(2);
  const r = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: canary }], max_tokens: 2 });
  const log = require('node:fs').readFileSync(process.env.GPTOSS_SERVER_LOG, 'utf8');
  assert.ok(log.includes(r.id), 'the request is not in the log');
  assert.ok(!log.includes(canary), 'the prompt is in the log');
});

test('wrong API key is refused', async () => {
  const bad = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: 'nope', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e.status === 401);
});

test('CORS only for the configured origin', async () => {
  const ok = await fetch(`${BASE}/v1/models`, { method: 'OPTIONS', headers: { Origin: 'http://allowed.test' } });
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get('access-control-allow-origin'), 'http://allowed.test');
  const no = await fetch(`${BASE}/v1/models`, { method: 'OPTIONS', headers: { Origin: 'http://evil.test' } });
  assert.equal(no.headers.get('access-control-allow-origin'), null);
});

test('a client that goes away cancels its sequence and frees its blocks', async () => {
  const before = (await metrics()).get('gptoss_requests_finished_total{reason="cancelled"}');
  const stream = await client.chat.completions.create({ model: 'm', messages: hi, max_tokens: 1500, stream: true });
  let n = 0;
  for await (const _ of stream) { if (++n >= 3) break; }  // break aborts the request
  let m;
  for (let i = 0; i < 100; i++) {
    m = await metrics();
    if (m.get('gptoss_requests_finished_total{reason="cancelled"}') > before && m.get('gptoss_num_requests_running') === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(m.get('gptoss_requests_finished_total{reason="cancelled"}') > before, 'not cancelled');
  assert.equal(m.get('gptoss_kv_full_blocks_used'), 0);
  assert.equal(m.get('gptoss_kv_window_blocks_used'), 0);
});

test('32 concurrent streaming clients all complete', async () => {
  const one = async (i) => {
    const s = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: `Client ${i} says hi` }], max_tokens: 12, stream: true });
    let finish = null, chunks = 0;
    for await (const c of s) { chunks++; finish = c.choices[0]?.finish_reason ?? finish; }
    return { finish, chunks };
  };
  const results = await Promise.all(Array.from({ length: 32 }, (_, i) => one(i)));
  for (const r of results) assert.ok(['stop', 'length', 'tool_calls'].includes(r.finish), JSON.stringify(r));
  const m = await metrics();
  assert.match(m.text, /gptoss_time_to_first_token_seconds_count \d+/);
  assert.ok(m.get('gptoss_generation_tokens_total') > 32);
});
