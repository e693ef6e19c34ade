// Structured outputs through the official `openai` client against
// synthetic:tiny: random weights are the hardest sampler there is, so every
// answer below is only valid because the server enforces it. Answers are
// checked with ajv (an independent JSON Schema validator). run_e2e.sh starts
// the server (see CMakeLists.txt for its flags).
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const oracle = (m) => require(path.join(process.env.GPTOSS_ORACLE_DIR, 'node_modules', m));
const OpenAI = oracle('openai');
const Ajv = oracle('ajv');
const addFormats = oracle('ajv-formats');
const BASE = process.env.GPTOSS_BASE_URL;
const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: process.env.GPTOSS_API_KEY, maxRetries: 0, timeout: 300_000 });
const ajv = new Ajv({ strict: false });
addFormats(ajv);

const MODEL = 'synthetic:tiny';
const ask = [{ role: 'user', content: 'Describe a product as JSON.' }];

// Every value bounded: enums, maxLength, maxItems, integer ranges (shared
// with scripts/device/structured_check.sh, which asks synthetic:20b the same).
const schemas = require('./schemas.json');
const product = schemas.product;
const validProduct = ajv.compile(product);
const productFormat = { type: 'json_schema', json_schema: { name: 'product', schema: product, strict: true } };

function checkValid(validate, text, what) {
  let value;
  assert.doesNotThrow(() => { value = JSON.parse(text); }, `${what}: not JSON: ${text}`);
  assert.ok(validate(value), `${what}: ${JSON.stringify(validate.errors)} in ${text}`);
}

async function streamed(body) {
  const s = await client.chat.completions.create({ ...body, stream: true });
  let content = '', finish = null;
  const calls = {};
  for await (const chunk of s) {
    const c = chunk.choices[0];
    if (!c) continue;
    content += c.delta?.content ?? '';
    for (const t of c.delta?.tool_calls ?? []) {
      calls[t.index] ??= { name: '', arguments: '' };
      calls[t.index].name += t.function?.name ?? '';
      calls[t.index].arguments += t.function?.arguments ?? '';
    }
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { content, finish, calls: Object.values(calls) };
}

test('json_schema: every answer stops and validates, streamed or not, batched with free requests', async () => {
  const jobs = [];
  for (let i = 0; i < 12; i++) {
    const body = { model: MODEL, messages: ask, response_format: productFormat, temperature: 1, seed: 100 + i,
                   max_tokens: 600, thinking_token_budget: 6 };
    jobs.push(i % 2
      ? streamed(body).then((r) => ({ ...r, i, streamed: true }))
      : client.chat.completions.create(body).then((r) => ({ content: r.choices[0].message.content,
                                                             finish: r.choices[0].finish_reason, i })));
    // Unconstrained neighbours in the same batches.
    jobs.push(client.chat.completions.create({ model: MODEL, messages: ask, max_tokens: 24, seed: i })
      .then((r) => ({ free: true, finish: r.choices[0].finish_reason })));
  }
  for (const r of await Promise.all(jobs)) {
    if (r.free) continue;
    assert.equal(r.finish, 'stop', `answer ${r.i}: ${r.content}`);
    checkValid(validProduct, r.content, `answer ${r.i}${r.streamed ? ' (streamed)' : ''}`);
  }
});

test('json_schema with n = 3 and greedy decoding', async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages: ask, response_format: productFormat, n: 3,
                                                  seed: 7, max_tokens: 600, thinking_token_budget: 4 });
  assert.equal(r.choices.length, 3);
  for (const c of r.choices) {
    assert.equal(c.finish_reason, 'stop');
    checkValid(validProduct, c.message.content, `choice ${c.index}`);
  }
  const g = await client.chat.completions.create({ model: MODEL, messages: ask, response_format: productFormat,
                                                  temperature: 0, max_tokens: 600, thinking_token_budget: 4 });
  assert.equal(g.choices[0].finish_reason, 'stop');
  checkValid(validProduct, g.choices[0].message.content, 'greedy');
});

test('an answer cut by max_tokens is a prefix of a valid one', async () => {
  // Compact, in the schema's order: the valid answers are few enough to list.
  const small = { type: 'object', properties: { a: { enum: ['yes', 'no'] }, b: { enum: [1, 22, 333] } },
                  required: ['a', 'b'], additionalProperties: false };
  const all = [];
  for (const a of ['yes', 'no']) for (const b of [1, 22, 333]) all.push(JSON.stringify({ a, b }));
  const fmt = { type: 'json_schema', json_schema: { name: 'small', schema: small, strict: true } };
  let cut = 0;
  for (let i = 0; i < 10; i++) {
    const r = await client.chat.completions.create({ model: MODEL, messages: ask, response_format: fmt, seed: i,
                                                    max_tokens: 14 + (i % 5), thinking_token_budget: 3 });
    const c = r.choices[0];
    const text = c.message.content ?? '';
    if (c.finish_reason === 'length') {
      cut++;
      assert.ok(all.some((v) => v.startsWith(text)), `not a valid prefix: ${text}`);
    } else {
      assert.equal(c.finish_reason, 'stop');
      assert.ok(all.includes(text), text);
    }
  }
  assert.ok(cut > 0, 'some answers should have been cut');
});

const weather = schemas.get_weather;
const clock = schemas.get_time;
const tools = [
  { type: 'function', function: { name: 'get_weather', description: 'Forecast', parameters: weather, strict: true } },
  { type: 'function', function: { name: 'get_time', description: 'Clock', parameters: clock, strict: true } },
];
const validArgs = { get_weather: ajv.compile(weather), get_time: ajv.compile(clock) };

test('tool_choice required: a call to one of the tools with valid arguments', async () => {
  for (let i = 0; i < 6; i++) {
    const body = { model: MODEL, messages: ask, tools, tool_choice: 'required', seed: 40 + i, max_tokens: 300,
                   thinking_token_budget: 5 };
    let finish, calls;
    if (i % 2) {
      ({ finish, calls } = await streamed(body));
    } else {
      const r = await client.chat.completions.create(body);
      finish = r.choices[0].finish_reason;
      calls = (r.choices[0].message.tool_calls ?? []).map((t) => t.function);
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(calls.length, 1);
    assert.ok(validArgs[calls[0].name], `unknown function ${calls[0].name}`);
    checkValid(validArgs[calls[0].name], calls[0].arguments, `call ${i}`);
  }
});

test('tool_choice naming a function: a call to that one', async () => {
  for (let i = 0; i < 4; i++) {
    const r = await client.chat.completions.create({
      model: MODEL, messages: ask, tools, seed: 60 + i, max_tokens: 300, thinking_token_budget: 5,
      tool_choice: { type: 'function', function: { name: 'get_time' } } });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.tool_calls[0].function.name, 'get_time');
    checkValid(validArgs.get_time, c.message.tool_calls[0].function.arguments, `named ${i}`);
  }
});

test('tool_choice auto with strict tools and a response_format: a valid answer or a valid call', async () => {
  const seen = new Set();
  for (let i = 0; i < 8; i++) {
    const r = await client.chat.completions.create({ model: MODEL, messages: ask, tools, response_format: productFormat,
                                                    seed: 80 + i, max_tokens: 600, thinking_token_budget: 3 });
    const c = r.choices[0];
    seen.add(c.finish_reason);
    if (c.finish_reason === 'tool_calls') {
      const f = c.message.tool_calls[0].function;
      checkValid(validArgs[f.name], f.arguments, `auto call ${i}`);
    } else {
      assert.equal(c.finish_reason, 'stop');
      checkValid(validProduct, c.message.content, `auto answer ${i}`);
    }
  }
});

test('Responses API: text.format json_schema', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await client.responses.create({
      model: MODEL, input: 'Describe a product as JSON.', max_output_tokens: 600, thinking_token_budget: 5,
      text: { format: { type: 'json_schema', name: 'product', schema: product, strict: true } } });
    assert.equal(r.status, 'completed');
    checkValid(validProduct, r.output_text, `response ${i}`);
  }
});

test('the budget per reasoning_effort comes from the server flags', async () => {
  // The server runs with --thinking-budget-low 3: no thinking_token_budget needed.
  const r = await client.chat.completions.create({ model: MODEL, messages: ask, response_format: productFormat,
                                                  reasoning_effort: 'low', max_tokens: 600, seed: 5 });
  assert.equal(r.choices[0].finish_reason, 'stop');
  checkValid(validProduct, r.choices[0].message.content, 'low effort');
});

test('schemas that cannot be enforced are 400s naming the keyword, strict or not', async () => {
  const bad = [
    [{ type: 'object', properties: { a: { type: 'string' } }, oneOf: [] }, 'oneOf'],
    [{ type: 'string', format: 'ipv6' }, 'format'],
    [{ type: 'object', properties: { n: { type: 'integer', multipleOf: 3 } } }, 'multipleOf'],
    [{ $ref: '#/$defs/nowhere' }, '$ref'],
    [{ type: 'string', pattern: '(?<=a)b' }, 'pattern'],
  ];
  for (const [schema, keyword] of bad) {
    await assert.rejects(
      client.chat.completions.create({ model: MODEL, messages: ask, max_tokens: 4,
                                      response_format: { type: 'json_schema', json_schema: { name: 'x', schema, strict: true } } }),
      (e) => e.status === 400 && e.message.includes(`'${keyword}'`), keyword);
  }
  const badTool = [{ type: 'function', function: { name: 'f', strict: true,
                                                     parameters: { type: 'object', properties: { a: { not: {} } } } } }];
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages: ask, tools: badTool, max_tokens: 4 }),
                       (e) => e.status === 400 && e.message.includes("'not'"));
  // Without strict the schema is still enforced, so what cannot be is a 400 too.
  const loose = { type: 'json_schema', json_schema: { name: 'x', schema: { enum: ['a', 'b'], not: { const: 'c' } } } };
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages: ask, response_format: loose, max_tokens: 4 }),
                       (e) => e.status === 400 && e.message.includes("'not'"));
  // A non-strict tool is free text unless a call is forced; forced, its schema must compile.
  const looseTool = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { not: {} } } } } }];
  const free = await client.chat.completions.create({ model: MODEL, messages: ask, tools: looseTool, max_tokens: 4 });
  assert.ok(free.choices[0].finish_reason);
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages: ask, tools: looseTool, tool_choice: 'required',
                                                      max_tokens: 4 }),
                       (e) => e.status === 400 && e.message.includes("'not'"));
  // Annotations are not constraints: accepted without strict and with it.
  const annotated = { type: 'object', title: 'T', description: 'd', $comment: 'c',
                      properties: { a: { type: 'string', enum: ['x'], default: 'x', examples: ['x'] } },
                      required: ['a'], additionalProperties: false };
  for (const strict of [true, false]) {
    const r = await client.chat.completions.create({ model: MODEL, messages: ask, seed: 3, max_tokens: 200, thinking_token_budget: 2,
                                                    response_format: { type: 'json_schema', json_schema: { name: 'a', schema: annotated, strict } } });
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual(JSON.parse(r.choices[0].message.content), { a: 'x' });
  }
});
