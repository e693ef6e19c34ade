// Checks what run_bench_e2e.sh's bench commands wrote: JSON with the expected
// keys and sane values, non-empty markdown, and charts (SVG; PNG when
// BENCH_EXPECT_PNG=1). usage: node check_bench_output.cjs WORK_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const assert = require('assert/strict');

const dir = process.argv[2];
const expectPng = process.env.BENCH_EXPECT_PNG === '1';
let failures = 0;
function check(name, fn) {
  try {
    fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8');
const json = (f) => JSON.parse(read(f));
const nonEmpty = (f) => assert.ok(fs.statSync(path.join(dir, f)).size > 0, `${f} is empty`);
const hasKeys = (o, keys, what) => { for (const k of keys) assert.ok(k in o, `${what} lacks "${k}"`); };
const latency = ['count', 'mean', 'stddev', 'min', 'max', 'p50', 'p90', 'p99'];

function checkServe(f, requests) {
  const j = json(f);
  hasKeys(j, ['kind', 'url', 'model', 'options', 'metrics'], f);
  assert.equal(j.kind, 'serve');
  const m = j.metrics;
  hasKeys(m, ['completed', 'failed', 'duration_s', 'request_throughput', 'output_throughput', 'total_token_throughput',
              'total_input_tokens', 'total_output_tokens', 'token_counts', 'ttft_ms', 'tpot_ms', 'itl_ms',
              'e2e_latency_ms', 'errors'], f);
  for (const k of ['ttft_ms', 'tpot_ms', 'itl_ms', 'e2e_latency_ms']) hasKeys(m[k], latency, `${f} ${k}`);
  assert.equal(m.completed, requests, `${f}: errors ${JSON.stringify(m.errors)}`);
  assert.equal(m.failed, 0);
  assert.equal(m.token_counts, 'usage', 'our server reports usage when asked (include_usage)');
  assert.ok(m.total_output_tokens > 0 && m.output_throughput > 0 && m.total_input_tokens > 0);
  assert.ok(m.ttft_ms.count > 0 && m.ttft_ms.p99 >= m.ttft_ms.p50 && m.ttft_ms.p50 > 0);
  assert.ok(m.e2e_latency_ms.mean >= m.ttft_ms.mean);
}

function checkChart(base) {
  const svg = read(base + '.svg');
  assert.ok(svg.startsWith('<svg') && svg.includes('</svg>'), `${base}.svg is not an SVG document`);
  if (expectPng) {
    const png = fs.readFileSync(path.join(dir, base + '.png'));
    assert.ok(png.length > 1000, `${base}.png too small`);
    assert.equal(png.subarray(1, 4).toString(), 'PNG', `${base}.png is not a PNG`);
  }
}

function checkScenarios(f, labels) {
  const j = json(f);
  hasKeys(j, ['kind', 'configs', 'comparison'], f);
  assert.equal(j.kind, 'scenarios');
  assert.deepEqual(j.configs.map((c) => c.label), labels);
  for (const c of j.configs) {
    hasKeys(c, ['label', 'url', 'model', 'scenarios', 'overall'], `${f} config`);
    assert.deepEqual(c.scenarios.map((s) => s.name), ['coding', 'reading', 'reasoning', 'math', 'creative']);
    for (const s of c.scenarios) {
      hasKeys(s, ['title', 'requests', 'failed', 'completion_tokens', 'wall_s', 'tokens_per_s', 'languages'], s.name);
      assert.deepEqual(Object.keys(s.languages).sort(), ['en', 'zh']);
      assert.equal(s.requests, 2);
      assert.equal(s.failed, 0);
    }
    assert.equal(c.overall.requests, 10);
    assert.ok(c.overall.tokens_per_s > 0 && c.overall.wall_s > 0);
  }
  const rows = j.comparison.rows;
  assert.equal(rows.length, 6);
  assert.equal(rows[5].scenario, 'overall');
  for (const r of rows) {
    assert.equal(r.tokens_per_s.length, labels.length);
    assert.equal(r.speedup[0], 1);
    assert.ok(r.speedup.every((x) => x > 0));
  }
}

check('bench serve (chat, concurrency 4)', () => { checkServe('serve.json', 8); nonEmpty('serve.md'); });
check('bench serve (completions, Poisson rate)', () => {
  checkServe('serve_rate.json', 6);
  assert.equal(json('serve_rate.json').options.endpoint, 'completions');
});
check('bench scenarios (one server)', () => checkScenarios('scenarios1.json', ['first']));
check('bench scenarios (two configs)', () => {
  checkScenarios('scenarios2.json', ['second', 'third']);
  nonEmpty('scenarios2.md');
  checkChart('scenarios2_chart');
  assert.ok(read('scenarios2.md').includes('speed-up third'));
});
check('bench scenarios --compare', () => {
  checkScenarios('compare.json', ['first', 'second', 'third']);
  nonEmpty('compare.md');
  checkChart('compare_chart');
});
check('bench lengths', () => {
  const j = json('lengths.json');
  assert.equal(j.kind, 'lengths');
  const pts = j.configs[0].points;
  assert.deepEqual(pts.map((p) => [p.input_len, p.output_len]), [[32, 8], [64, 16]]);
  for (const p of pts) {
    assert.equal(p.metrics.completed, 2);
    hasKeys(p.metrics.ttft_ms, latency, 'lengths ttft');
    assert.ok(p.metrics.output_throughput > 0);
  }
  nonEmpty('lengths.md');
  checkChart('lengths_chart');
});
check('in-process bench --json-out', () => {
  const j = json('inprocess.json');
  hasKeys(j, ['model', 'device', 'results'], 'inprocess.json');
  assert.deepEqual(j.results.map((r) => r.test), ['pp16', 'tg8', 'decode b2 (16+8)']);
  for (const r of j.results) assert.ok(r.tokens_per_s > 0, r.test);
});
process.exit(failures ? 1 : 0);
