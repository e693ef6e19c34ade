// The web UI in headless Chromium (playwright-core) against the real server.
// run_ui_e2e.sh starts `gptoss serve` on synthetic:tiny with an API key and
// --debug-allow-forced-output, and sets GPTOSS_BASE_URL / GPTOSS_API_KEY /
// GPTOSS_ORACLE_DIR / GPTOSS_CHROMIUM / GPTOSS_SCREENSHOT_DIR.
// Random weights emit random tokens, so replies that must be exact are
// forced: page.route adds `gptoss_debug.force_output` to the page's own
// request on its way out (the page itself has no test hook), and records
// every request body so the test can check what the settings sent.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { chromium } = require(path.join(process.env.GPTOSS_ORACLE_DIR, 'node_modules', 'playwright-core'));
const BASE = process.env.GPTOSS_BASE_URL;
const KEY = process.env.GPTOSS_API_KEY;
const SHOTS = process.env.GPTOSS_SCREENSHOT_DIR;

const REASONING = 'The user says hi. I should greet them and show a code sample.';
const ANSWER = 'Hello **there**! Here is some code:\n\n```python\nprint("hi <b>")\n```\n\n- one\n- two';
// Long enough to span many animation frames, so the page shows it growing.
const LONG_ANSWER = Array.from({ length: 24 }, (_, i) => `word${i}`).join(' ');
const harmony = (analysis, final) =>
  (analysis ? `<|channel|>analysis<|message|>${analysis}<|end|><|start|>assistant` : '') +
  `<|channel|>final<|message|>${final}<|return|>`;

let browser, context, page;
const pageErrors = [];
const requests = [];  // bodies the page sent to /v1/chat/completions
const forced = [];    // force_output for the next requests, in order (undefined: sample)

async function status() {
  const r = await fetch(`${BASE}/v1/status`, { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(r.status, 200);
  return r.json();
}
const shot = (name) => page.screenshot({ path: path.join(SHOTS, name), fullPage: false });
const assistant = () => page.locator('.msg.assistant').last();
async function sendMessage(text, force) {
  forced.push(force);
  await page.locator('#composer-input').fill(text);
  await page.locator('#composer-input').press('Enter');
}
const idle = () => page.locator('#send-btn').waitFor({ state: 'visible' });

test.before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.GPTOSS_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', acceptDownloads: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.route('**/v1/chat/completions', async (route) => {
    const body = JSON.parse(route.request().postData());
    requests.push(body);
    const f = forced.shift();
    if (f !== undefined) body.gptoss_debug = { force_output: f };
    await route.continue({ postData: JSON.stringify(body) });
  });
});

test.after(async () => {
  if (browser) await browser.close();
});

test('the page is public, the API and its status are not, and only embedded files are served', async () => {
  const root = await fetch(`${BASE}/`);
  assert.equal(root.status, 200);
  assert.match(root.headers.get('content-type'), /^text\/html/);
  assert.match(root.headers.get('content-security-policy'), /default-src 'self'/);
  assert.match((await fetch(`${BASE}/app.js`)).headers.get('content-type'), /^text\/javascript/);
  assert.match((await fetch(`${BASE}/style.css`)).headers.get('content-type'), /^text\/css/);
  assert.equal((await fetch(`${BASE}/v1/status`)).status, 401);
  assert.equal((await fetch(`${BASE}/v1/chat/completions`, { method: 'POST', body: '{}' })).status, 401);
  for (const p of ['/nope.js', '/%2e%2e/CMakeLists.txt', '/..%2fREADME.md', '/web/app.js'])
    assert.notEqual((await fetch(`${BASE}${p}`)).status, 200, p);
  const s = await status();
  assert.equal(s.model, 'synthetic:tiny');
  assert.deepEqual(s.devices, [{ name: 'cpu', memory_used_bytes: null, memory_total_bytes: null }]);
  assert.ok(s.kv_cache.full_blocks_total > 0);
});

test('asks for the API key, then shows the server status', async () => {
  await page.goto(`${BASE}/`);
  // The server wants a key: the settings dialog opens by itself.
  await page.locator('#settings[open]').waitFor();
  await page.getByLabel('API key').fill(KEY);
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('#st-model', { hasText: 'synthetic:tiny' }).waitFor();
  assert.equal(await page.locator('#st-devices').textContent(), 'cpu');
  assert.equal(await page.locator('#st-memory').textContent(), 'n/a');
  assert.match(await page.locator('#st-kv').textContent(), /^0% \(0\/\d+ blocks\)$/);
  assert.match(await page.locator('#st-queue').textContent(), /0 running, 0 waiting/);
});

test('streams a reply, with the reasoning in a collapsible block and markdown rendered safely', async () => {
  // Count how many different lengths the reply had while it streamed, and
  // whether the reasoning block was open, saying "Thinking…", meanwhile.
  await page.evaluate(() => {
    window.__seen = new Set();
    window.__thinking = false;
    new MutationObserver(() => {
      const c = document.querySelector('.msg.assistant.streaming .content');
      if (c) window.__seen.add(c.textContent.length);
      const d = document.querySelector('.msg.assistant.streaming details.reasoning[open] summary');
      if (d && d.textContent === 'Thinking…') window.__thinking = true;
    }).observe(document.getElementById('messages'), { childList: true, subtree: true, characterData: true });
  });
  await sendMessage('Hi! Show me some code.', harmony(REASONING, `${ANSWER}\n\n${LONG_ANSWER}`));
  await idle();
  assert.equal(await page.locator('.msg-error').count(), 0, await page.locator('.msg-error').allTextContents().then(String));
  const seen = await page.evaluate(() => window.__seen.size);
  assert.ok(seen >= 3, `the reply appeared in ${seen} steps, not streamed`);
  assert.ok(await page.evaluate(() => window.__thinking), 'the reasoning was not shown while it streamed');

  const reasoning = assistant().locator('details.reasoning');
  assert.equal(await reasoning.locator('.reasoning-body').textContent(), REASONING);
  assert.equal(await reasoning.evaluate((d) => d.open), false, 'collapsed once the answer is done');
  await reasoning.locator('summary').click();
  assert.equal(await reasoning.evaluate((d) => d.open), true);

  const content = assistant().locator('.content');
  assert.equal(await content.locator('strong').first().textContent(), 'there');
  assert.equal(await content.locator('pre code').textContent(), 'print("hi <b>")');
  assert.equal(await content.locator('b').count(), 0, 'model text must not become markup');
  assert.equal(await content.locator('li').count(), 2);
  await content.locator('.copy-btn').click();
  await content.locator('.copy-btn', { hasText: 'Copied' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'print("hi <b>")');

  const body = requests.at(-1);
  assert.equal(body.stream, true);
  assert.equal(body.reasoning_effort, 'medium');
  assert.equal('max_tokens' in body, false, 'unset: the server decides');
  assert.deepEqual(body.messages, [{ role: 'user', content: 'Hi! Show me some code.' }]);
  await page.locator('#st-tps', { hasText: 'tok/s' }).waitFor();
  await shot('desktop-light.png');
});

test('stop aborts the request and the server frees the sequence', async () => {
  const before = (await status()).requests.cancelled;
  // A forced start, then the model samples freely for up to 1500 tokens.
  await page.evaluate(() => { window.gptossUi.state.settings.maxTokens = 1500; });
  await sendMessage('Count forever.', '<|channel|>final<|message|>Counting:');
  await assistant().locator('.content', { hasText: 'Counting:' }).waitFor();
  let s = await status();
  assert.equal(s.requests.running, 1);
  assert.ok(s.kv_cache.full_blocks_used > 0);
  await page.getByRole('button', { name: 'Stop' }).click();
  await idle();
  for (let i = 0; i < 100; i++) {
    s = await status();
    if (s.requests.running === 0 && s.requests.cancelled > before) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(s.requests.running, 0);
  assert.equal(s.requests.cancelled, before + 1, 'the server did not cancel the sequence');
  assert.equal(s.kv_cache.full_blocks_used, 0, 'KV blocks still held');
  await assistant().locator('.msg-meta', { hasText: 'stopped' }).waitFor();
  await page.evaluate(() => { window.gptossUi.state.settings.maxTokens = ''; });
});

test('settings change what is sent', async () => {
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.getByLabel('Reasoning effort').selectOption('high');
  await page.getByLabel('Temperature').fill('0.5');
  await page.getByLabel('Top p').fill('0.9');
  await page.getByLabel('Max tokens').fill('300');
  await page.getByLabel('Instructions (developer message)').fill('Answer briefly.');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await sendMessage('And now?', harmony('', 'Briefly: yes.'));
  await idle();
  const body = requests.at(-1);
  assert.equal(body.reasoning_effort, 'high');
  assert.equal(body.temperature, 0.5);
  assert.equal(body.top_p, 0.9);
  assert.equal(body.max_tokens, 300);
  assert.deepEqual(body.messages[0], { role: 'developer', content: 'Answer briefly.' });
  // Whole history: the stopped reply's partial text goes back as context.
  assert.deepEqual(body.messages.filter((m) => m.role === 'user').map((m) => m.content),
    ['Hi! Show me some code.', 'Count forever.', 'And now?']);
  assert.equal(await assistant().locator('.content').textContent(), 'Briefly: yes.');
});

test('regenerate replaces the last reply; editing a message resends from there', async () => {
  const n = await page.locator('.msg').count();
  forced.push(harmony('', 'Second answer.'));
  await assistant().getByRole('button', { name: 'Regenerate this reply' }).click();
  await assistant().locator('.content', { hasText: 'Second answer.' }).waitFor();
  await idle();
  assert.equal(await page.locator('.msg').count(), n);
  assert.equal(requests.at(-1).messages.at(-1).content, 'And now?');

  // Edit the first message: everything after it is dropped and regenerated.
  forced.push(harmony('', 'Edited answer.'));
  await page.locator('.msg.user').first().getByRole('button', { name: 'Edit and resend this message' }).click();
  const box = page.getByLabel('Edit message');
  await box.fill('Hello again');
  await box.press('Enter');
  await assistant().locator('.content', { hasText: 'Edited answer.' }).waitFor();
  await idle();
  assert.equal(await page.locator('.msg').count(), 2);
  assert.deepEqual(requests.at(-1).messages.filter((m) => m.role !== 'developer'), [{ role: 'user', content: 'Hello again' }]);
});

test('Shift+Enter is a newline; conversations survive a reload, can be renamed, exported and deleted', async () => {
  const input = page.locator('#composer-input');
  await input.fill('line one');
  await input.press('Shift+Enter');
  await input.pressSequentially('line two');
  assert.equal(await input.inputValue(), 'line one\nline two');
  const sent = requests.length;
  await input.fill('');
  assert.equal(requests.length, sent);

  const item = page.locator('.conv-item.active');
  await item.getByRole('button', { name: /^Rename/ }).click();
  const name = page.getByLabel('Conversation name');
  await name.fill('My UI test chat');
  await name.press('Enter');
  await page.reload();
  await page.locator('.conv-open', { hasText: 'My UI test chat' }).click();
  assert.equal(await page.locator('.msg.user').first().textContent().then((t) => t.includes('Hello again')), true);
  assert.equal(await assistant().locator('.content').textContent(), 'Edited answer.');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export all as JSON' }).click()]);
  const exported = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
  assert.equal(exported[0].title, 'My UI test chat');
  assert.equal(exported[0].messages.at(-1).content, 'Edited answer.');

  // A second conversation, then delete it: the first one remains.
  await page.getByRole('button', { name: 'New chat', exact: true }).first().click();
  await sendMessage('Throwaway', harmony('', 'ok'));
  await idle();
  assert.equal(await page.locator('.conv-item').count(), 2);
  await page.locator('.conv-item.active').getByRole('button', { name: /^Delete/ }).click();
  assert.equal(await page.locator('.conv-item').count(), 1);
  await page.locator('.conv-open', { hasText: 'My UI test chat' }).waitFor();
});

test('dark theme toggle and system preference', async () => {
  await page.getByRole('button', { name: 'Switch to dark theme' }).click();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, 'rgb(23, 24, 28)');
  await shot('desktop-dark.png');
  // Back to following the system, which now prefers dark.
  await page.evaluate(() => localStorage.removeItem('gptoss.theme'));
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.reload();
  assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(23, 24, 28)');
  await page.emulateMedia({ colorScheme: 'light' });
});

test('phone width: one column, the sidebar is a drawer, nothing overflows', async () => {
  await page.setViewportSize({ width: 375, height: 740 });
  await page.reload();
  await page.locator('.msg.assistant').first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(overflow <= 375, `page is ${overflow}px wide`);
  const menu = page.getByRole('button', { name: 'Show conversations' });
  assert.ok(await menu.isVisible());
  const box = await page.locator('#sidebar').boundingBox();
  assert.ok(box.x + box.width <= 0, 'the sidebar is off screen');
  const composer = await page.locator('#composer').boundingBox();
  assert.ok(composer.y + composer.height <= 740 && composer.width <= 375);
  await shot('phone.png');
  await menu.click();
  await page.locator('.conv-open', { hasText: 'My UI test chat' }).waitFor({ state: 'visible' });
  await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().x >= 0);
  await shot('phone-drawer.png');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().right <= 0);
});

test('markdown renderer escapes HTML and refuses non-http links', async () => {
  const html = await page.evaluate(() => window.gptossUi.renderMarkdown(
    '<img src=x onerror=alert(1)> [a](javascript:alert(1)) [b](https://example.com/"onmouseover=x) `<i>`'));
  assert.ok(!html.includes('<img'), html);
  assert.ok(!html.includes('href="javascript'), html);
  assert.ok(!/href="[^"]*"[^>]*onmouseover/.test(html), html);
  assert.ok(html.includes('<code>&lt;i&gt;</code>'), html);
});

test('no script errors on the page', () => {
  assert.deepEqual(pageErrors, []);
});
