// Validates replies saved by scripts/device/structured_check.sh (a GPU run)
// with ajv: every json_schema answer ends with "stop" and validates
// (streamed ones are put together from their chunks); every tool_choice
// required / named reply is one call with valid arguments (to get_time when
// named). Exits 1 on any failure.
// usage: node tests/server/structured/validate_saved.cjs DIR
const fs = require('node:fs');
const path = require('node:path');
const oracle = (m) => require(path.join(__dirname, '..', '..', 'oracle', 'node_modules', m));
const Ajv = oracle('ajv');
const addFormats = oracle('ajv-formats');
const ajv = new Ajv({ strict: false });
addFormats(ajv);
const schemas = require('./schemas.json');
const validate = Object.fromEntries(Object.entries(schemas).map(([k, s]) => [k, ajv.compile(s)]));

function reply(file) {
  const text = fs.readFileSync(file, 'utf8');
  if (!file.endsWith('.sse')) {
    const c = JSON.parse(text).choices[0];
    return { content: c.message.content, finish: c.finish_reason, calls: (c.message.tool_calls ?? []).map((t) => t.function) };
  }
  let content = '', finish = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    const c = JSON.parse(line.slice(6)).choices?.[0];
    if (!c) continue;
    content += c.delta?.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { content, finish, calls: [] };
}

const dir = process.argv[2];
let failed = 0, checked = 0;
for (const name of fs.readdirSync(dir).sort()) {
  if (name.startsWith('free_')) continue;
  const r = reply(path.join(dir, name));
  const problems = [];
  if (name.startsWith('product_')) {
    if (r.finish !== 'stop') problems.push(`finish_reason ${r.finish}`);
    let v;
    try { v = JSON.parse(r.content); } catch { problems.push('not JSON'); }
    if (v !== undefined && !validate.product(v)) problems.push(JSON.stringify(validate.product.errors));
  } else {
    if (r.finish !== 'tool_calls' || r.calls.length !== 1) problems.push(`finish ${r.finish}, ${r.calls.length} calls`);
    const f = r.calls[0];
    if (f) {
      if (name.startsWith('named_') && f.name !== 'get_time') problems.push(`called ${f.name}`);
      let v;
      try { v = JSON.parse(f.arguments); } catch { problems.push('arguments not JSON'); }
      if (!validate[f.name]) problems.push(`unknown function ${f.name}`);
      else if (v !== undefined && !validate[f.name](v)) problems.push(JSON.stringify(validate[f.name].errors));
    }
  }
  checked++;
  if (problems.length) {
    failed++;
    console.log(`FAIL ${name}: ${problems.join('; ')}\n  ${r.content ?? ''}`);
  }
}
console.log(`${checked - failed}/${checked} replies valid`);
process.exit(failed || !checked ? 1 : 0);
