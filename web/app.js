// gptoss chat UI: talks to the same server's OpenAI API (streamed chat
// completions), keeps conversations in localStorage, polls /v1/status.
// No framework and no network beyond this origin, so it works offline.
'use strict';

const $ = (id) => document.getElementById(id);
const STORE = { convs: 'gptoss.conversations', current: 'gptoss.current', settings: 'gptoss.settings', theme: 'gptoss.theme' };
const DEFAULTS = { apiKey: '', effort: 'medium', temperature: 1, topP: 1, maxTokens: '', instructions: '' };

const state = {
  convs: [],            // [{id, title, created, updated, messages: [{role, content, reasoning?, meta?}]}]
  currentId: null,
  settings: { ...DEFAULTS },
  model: 'gpt-oss',
  busy: null,           // {controller, convId} while a reply streams
};

// Inline SVG icons: no icon font to fetch, and no reliance on the system
// having emoji or symbol glyphs.
const ICONS = {
  menu: '<path d="M4 6h16M4 12h16M4 18h16"/>',
  plus: '<path d="M12 5v14M5 12h14"/>',
  theme: '<circle cx="12" cy="12" r="8"/><path d="M12 4a8 8 0 0 1 0 16z" fill="currentColor"/>',
  settings: '<path d="M4 7h9M17 7h3M4 17h3M11 17h9"/><circle cx="15" cy="7" r="2"/><circle cx="9" cy="17" r="2"/>',
  rename: '<path d="M4 20h4L19 9l-4-4L4 16z"/>',
  export: '<path d="M12 4v11M7 10l5 5 5-5M5 20h14"/>',
  delete: '<path d="M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13M10 11v6M14 11v6"/>',
};
const icon = (name) => `<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false" fill="none" ` +
  `stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${ICONS[name]}</svg>`;

// ---------- storage ----------
function load(key, fallback) {
  try {
    const v = localStorage.getItem(key);
    return v == null ? fallback : JSON.parse(v);
  } catch {
    return fallback;
  }
}
function save(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch (e) {
    showStatusError('Could not save to local storage: ' + e.message);
  }
}
const saveConvs = () => save(STORE.convs, state.convs);
const current = () => state.convs.find((c) => c.id === state.currentId) || null;
const newId = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 8);

// ---------- markdown ----------
// Safe by construction: the source is HTML-escaped first, and the only
// markup added afterwards is ours; links must be http(s).
const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function renderInline(escaped) {
  const codes = [];
  // Code spans first, so their contents are not read as emphasis or links.
  let s = escaped.replace(/`([^`\n]+)`/g, (_, c) => {
    codes.push(c);
    return `\u0000${codes.length - 1}\u0000`;
  });
  s = s.replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
  s = s.replace(/\*\*([^*\n]+)\*\*/g, '<strong>$1</strong>');
  s = s.replace(/__([^_\n]+)__/g, '<strong>$1</strong>');
  s = s.replace(/(^|[^*\w])\*([^*\n]+)\*(?!\w)/g, '$1<em>$2</em>');
  s = s.replace(/(^|[^_\w])_([^_\n]+)_(?!\w)/g, '$1<em>$2</em>');
  s = s.replace(/~~([^~\n]+)~~/g, '<del>$1</del>');
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => `<code>${codes[Number(i)]}</code>`);
}

function renderMarkdown(src) {
  const lines = escapeHtml(src.replace(/\u0000/g, '')).split('\n');
  const out = [];
  let para = [];
  let list = null; // {tag, items}
  const flushPara = () => {
    if (para.length) out.push(`<p>${renderInline(para.join('\n')).replace(/\n/g, '<br>')}</p>`);
    para = [];
  };
  const flushList = () => {
    if (list) out.push(`<${list.tag}>${list.items.map((i) => `<li>${renderInline(i)}</li>`).join('')}</${list.tag}>`);
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*(```|~~~)\s*([\w+#.-]*)\s*$/);
    if (fence) {
      flushPara();
      flushList();
      const body = [];
      // An unclosed fence (still streaming) runs to the end.
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) body.push(lines[i]);
      const lang = fence[2] || 'text';
      out.push(`<div class="codeblock"><div class="codeblock-head"><span>${lang}</span>` +
        `<button type="button" class="copy-btn" aria-label="Copy ${lang} code">Copy</button></div>` +
        `<pre><code>${body.join('\n')}</code></pre></div>`);
      continue;
    }
    const heading = line.match(/^(#{1,4})\s+(.*)$/);
    const bullet = line.match(/^\s*[-*+]\s+(.*)$/);
    const ordered = line.match(/^\s*\d+[.)]\s+(.*)$/);
    const quote = line.match(/^&gt;\s?(.*)$/);
    if (heading) {
      flushPara(); flushList();
      const n = heading[1].length;
      out.push(`<h${n}>${renderInline(heading[2])}</h${n}>`);
    } else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flushPara(); flushList();
      out.push('<hr>');
    } else if (bullet || ordered) {
      flushPara();
      const tag = bullet ? 'ul' : 'ol';
      if (list && list.tag !== tag) flushList();
      if (!list) list = { tag, items: [] };
      list.items.push((bullet || ordered)[1]);
    } else if (quote) {
      flushPara(); flushList();
      out.push(`<blockquote>${renderInline(quote[1])}</blockquote>`);
    } else if (!line.trim()) {
      flushPara(); flushList();
    } else if (list && /^\s{2,}\S/.test(line)) {
      list.items[list.items.length - 1] += ' ' + line.trim();
    } else {
      flushList();
      para.push(line);
    }
  }
  flushPara();
  flushList();
  return out.join('');
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (permissions, non-secure origin): the old way.
    const t = document.createElement('textarea');
    t.value = text;
    t.setAttribute('readonly', '');
    t.style.position = 'fixed';
    t.style.opacity = '0';
    document.body.appendChild(t);
    t.select();
    const ok = document.execCommand('copy');
    t.remove();
    return ok;
  }
}

// ---------- API ----------
function authHeaders() {
  const h = { 'Content-Type': 'application/json' };
  if (state.settings.apiKey) h.Authorization = `Bearer ${state.settings.apiKey}`;
  return h;
}

function requestBody(messages) {
  const s = state.settings;
  const msgs = [];
  if (s.instructions.trim()) msgs.push({ role: 'developer', content: s.instructions.trim() });
  for (const m of messages) msgs.push({ role: m.role, content: m.content });
  const body = {
    model: state.model,
    messages: msgs,
    stream: true,
    stream_options: { include_usage: true },
    reasoning_effort: s.effort,
    temperature: Number(s.temperature),
    top_p: Number(s.topP),
  };
  // Unset: the server allows whatever the context has left.
  if (s.maxTokens) body.max_tokens = Number(s.maxTokens);
  return body;
}

// Calls onDelta(delta) per chunk; resolves with {finish, usage}.
async function streamChat(body, signal, onDelta) {
  const res = await fetch('/v1/chat/completions', { method: 'POST', headers: authHeaders(), body: JSON.stringify(body), signal });
  if (!res.ok) {
    let msg = `HTTP ${res.status}`;
    try {
      msg = (await res.json()).error.message || msg;
    } catch { /* not JSON */ }
    if (res.status === 401) msg += ' — set the API key in Settings.';
    throw new Error(msg);
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  let finish = null;
  let usage = null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return { finish, usage };
        const j = JSON.parse(data);
        if (j.error) throw new Error(j.error.message || 'generation failed');
        if (j.usage) usage = j.usage;
        const c = j.choices && j.choices[0];
        if (!c) continue;
        if (c.delta) onDelta(c.delta);
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
  }
  return { finish, usage };
}

// ---------- conversations ----------
function createConversation() {
  const c = { id: newId(), title: 'New chat', created: Date.now(), updated: Date.now(), messages: [] };
  state.convs.unshift(c);
  state.currentId = c.id;
  save(STORE.current, c.id);
  saveConvs();
  return c;
}

function selectConversation(id) {
  if (state.busy) stopReply();
  state.currentId = id;
  save(STORE.current, id);
  renderSidebar();
  renderMessages();
  closeDrawer();
}

function deleteConversation(id) {
  if (state.busy && state.busy.convId === id) stopReply();
  state.convs = state.convs.filter((c) => c.id !== id);
  if (state.currentId === id) state.currentId = state.convs[0] ? state.convs[0].id : null;
  save(STORE.current, state.currentId);
  saveConvs();
  renderSidebar();
  renderMessages();
}

function download(filename, data) {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'chat';

function renderSidebar() {
  const list = $('conv-list');
  list.replaceChildren();
  $('conv-empty').hidden = state.convs.length > 0;
  for (const c of state.convs) {
    const li = document.createElement('li');
    li.className = 'conv-item' + (c.id === state.currentId ? ' active' : '');
    li.dataset.id = c.id;
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'conv-open';
    open.textContent = c.title;
    open.title = c.title;
    if (c.id === state.currentId) open.setAttribute('aria-current', 'page');
    open.addEventListener('click', () => selectConversation(c.id));
    const actions = document.createElement('span');
    actions.className = 'conv-actions';
    const mk = (label, name, fn) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.innerHTML = icon(name);
      b.title = label;
      b.setAttribute('aria-label', `${label} “${c.title}”`);
      b.addEventListener('click', fn);
      actions.appendChild(b);
    };
    mk('Rename', 'rename', () => startRename(li, c));
    mk('Export', 'export', () => download(`${slug(c.title)}.json`, c));
    mk('Delete', 'delete', () => deleteConversation(c.id));
    li.append(open, actions);
    list.appendChild(li);
  }
}

function startRename(li, c) {
  const input = document.createElement('input');
  input.className = 'conv-rename';
  input.value = c.title;
  input.setAttribute('aria-label', 'Conversation name');
  li.replaceChildren(input);
  input.focus();
  input.select();
  let done = false;
  const finish = (keep) => {
    if (done) return;
    done = true;
    if (keep && input.value.trim()) {
      c.title = input.value.trim().slice(0, 120);
      c.updated = Date.now();
      saveConvs();
    }
    renderSidebar();
  };
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); finish(true); }
    if (e.key === 'Escape') { e.preventDefault(); finish(false); }
  });
  input.addEventListener('blur', () => finish(true));
}

// ---------- messages ----------
function messageView(conv, index) {
  const m = conv.messages[index];
  const wrap = document.createElement('article');
  wrap.className = `msg ${m.role}`;
  wrap.dataset.index = index;
  const role = document.createElement('div');
  role.className = 'msg-role';
  role.textContent = m.role === 'user' ? 'You' : 'Assistant';
  const bubble = document.createElement('div');
  bubble.className = 'bubble';
  wrap.append(role, bubble);
  const meta = document.createElement('div');
  meta.className = 'msg-meta';
  wrap.appendChild(meta);
  fillMessage(wrap, conv, index);
  return wrap;
}

// (Re)draws one message's bubble and its action row.
function fillMessage(wrap, conv, index) {
  const m = conv.messages[index];
  const bubble = wrap.querySelector('.bubble');
  const meta = wrap.querySelector('.msg-meta');
  const streaming = state.busy && state.busy.convId === conv.id && index === conv.messages.length - 1 && m.role === 'assistant';
  wrap.classList.toggle('streaming', !!streaming);
  if (m.role === 'user') {
    bubble.textContent = m.content;
  } else {
    const wasOpen = bubble.querySelector('details.reasoning')?.open;
    const userToggled = bubble.querySelector('details.reasoning')?.dataset.toggled === '1';
    bubble.replaceChildren();
    if (m.reasoning) {
      const d = document.createElement('details');
      d.className = 'reasoning';
      // Open while the model thinks; closed once the answer starts, unless the reader chose.
      d.open = userToggled ? wasOpen : !!streaming && !m.content;
      if (userToggled) d.dataset.toggled = '1';
      const s = document.createElement('summary');
      s.textContent = streaming && !m.content ? 'Thinking…' : 'Reasoning';
      s.addEventListener('click', () => { d.dataset.toggled = '1'; });
      const body = document.createElement('div');
      body.className = 'reasoning-body';
      body.textContent = m.reasoning;
      d.append(s, body);
      bubble.appendChild(d);
    }
    const content = document.createElement('div');
    content.className = 'content';
    content.innerHTML = renderMarkdown(m.content || '');
    if (streaming) {
      const cursor = document.createElement('span');
      cursor.className = 'cursor';
      (content.lastElementChild && content.lastElementChild.tagName === 'P' ? content.lastElementChild : content).appendChild(cursor);
    }
    bubble.appendChild(content);
    if (m.error) {
      const err = document.createElement('p');
      err.className = 'msg-error';
      err.setAttribute('role', 'alert');
      err.textContent = m.error;
      bubble.appendChild(err);
    }
  }
  meta.replaceChildren();
  if (streaming) return;
  const button = (text, label, fn) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = text;
    b.setAttribute('aria-label', label);
    b.addEventListener('click', fn);
    meta.appendChild(b);
  };
  if (m.role === 'user') {
    button('Edit', 'Edit and resend this message', () => startEdit(wrap, conv, index));
  } else {
    if (m.meta) {
      const info = document.createElement('span');
      const parts = [];
      if (m.meta.stopped) parts.push('stopped');
      if (m.meta.finish === 'length') parts.push('hit max tokens');
      if (m.meta.tokens) parts.push(`${m.meta.tokens} tokens`);
      if (m.meta.tps) parts.push(`${m.meta.tps.toFixed(1)} tok/s`);
      info.textContent = parts.join(' · ');
      meta.appendChild(info);
    }
    button('Copy', 'Copy this reply', async (e) => {
      const ok = await copyText(m.content || '');
      e.target.textContent = ok ? 'Copied' : 'Copy failed';
      setTimeout(() => { e.target.textContent = 'Copy'; }, 1500);
    });
    if (index === conv.messages.length - 1) button('Regenerate', 'Regenerate this reply', () => regenerate());
  }
}

function startEdit(wrap, conv, index) {
  if (state.busy) return;
  const m = conv.messages[index];
  const box = document.createElement('div');
  box.className = 'edit-box';
  const ta = document.createElement('textarea');
  ta.value = m.content;
  ta.rows = Math.min(10, m.content.split('\n').length + 1);
  ta.setAttribute('aria-label', 'Edit message');
  const actions = document.createElement('div');
  actions.className = 'edit-actions';
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.className = 'btn';
  cancel.textContent = 'Cancel';
  const send = document.createElement('button');
  send.type = 'button';
  send.className = 'btn primary';
  send.textContent = 'Save & send';
  actions.append(cancel, send);
  box.append(ta, actions);
  wrap.querySelector('.bubble').replaceWith(box);
  wrap.querySelector('.msg-meta').replaceChildren();
  ta.focus();
  const submit = () => {
    const text = ta.value.trim();
    if (!text) return;
    // Everything after the edited message answered the old text: drop it.
    conv.messages.splice(index);
    conv.messages.push({ role: 'user', content: text });
    conv.updated = Date.now();
    saveConvs();
    renderMessages();
    generate(conv);
  };
  cancel.addEventListener('click', () => renderMessages());
  send.addEventListener('click', submit);
  ta.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    if (e.key === 'Escape') { e.preventDefault(); renderMessages(); }
  });
}

function renderMessages() {
  const box = $('messages');
  box.replaceChildren();
  const conv = current();
  $('welcome').hidden = !!(conv && conv.messages.length);
  if (!conv) return;
  conv.messages.forEach((_, i) => box.appendChild(messageView(conv, i)));
  box.scrollTop = box.scrollHeight;
}

// Follow the stream only when the reader is already at the bottom.
function nearBottom(el) {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
}

// ---------- generation ----------
function setBusy(busy) {
  $('send-btn').hidden = !!busy;
  $('stop-btn').hidden = !busy;
  $('messages').setAttribute('aria-busy', busy ? 'true' : 'false');
}

async function generate(conv) {
  const history = conv.messages.filter((m) => m.content || m.role === 'user');
  const reply = { role: 'assistant', content: '', reasoning: '' };
  conv.messages.push(reply);
  const index = conv.messages.length - 1;
  const controller = new AbortController();
  state.busy = { controller, convId: conv.id };
  setBusy(true);
  const box = $('messages');
  let view = null;
  if (conv.id === state.currentId) {
    $('welcome').hidden = true;
    view = messageView(conv, index);
    box.appendChild(view);
    box.scrollTop = box.scrollHeight;
  }
  let frame = 0;
  const redraw = () => {
    frame = 0;
    if (!view || !view.isConnected) return;
    const follow = nearBottom(box);
    fillMessage(view, conv, index);
    if (follow) box.scrollTop = box.scrollHeight;
  };
  let firstAt = 0;
  let pieces = 0;
  try {
    const { finish, usage } = await streamChat(requestBody(history), controller.signal, (d) => {
      const r = d.reasoning_content ?? d.reasoning;
      if (r) reply.reasoning += r;
      if (d.content) reply.content += d.content;
      if (r || d.content) {
        pieces++;
        if (!firstAt) firstAt = performance.now();
      }
      if (!frame) frame = requestAnimationFrame(redraw);
    });
    const tokens = usage ? usage.completion_tokens : pieces;
    const decodeS = (performance.now() - firstAt) / 1000;
    reply.meta = { finish, tokens, tps: tokens > 1 && decodeS > 0 ? (tokens - 1) / decodeS : 0 };
  } catch (e) {
    if (e.name === 'AbortError') {
      reply.meta = { stopped: true, tokens: pieces, tps: 0 };
    } else {
      reply.error = e.message;
      reply.meta = { tokens: pieces };
    }
  } finally {
    if (frame) cancelAnimationFrame(frame);
    if (!reply.reasoning) delete reply.reasoning;
    state.busy = null;
    setBusy(false);
    conv.updated = Date.now();
    saveConvs();
    if (view && view.isConnected) fillMessage(view, conv, index);
    else if (conv.id === state.currentId) renderMessages();
    lastClientTps = reply.meta && reply.meta.tps;
    // The engine's counters catch up a moment after the stream ends.
    setTimeout(refreshStatus, 300);
  }
}

function stopReply() {
  // Aborting the fetch closes the connection; the server notices and
  // cancels the sequence, freeing its KV blocks.
  if (state.busy) state.busy.controller.abort();
}

function send(text) {
  text = text.trim();
  if (!text || state.busy) return;
  let conv = current();
  if (!conv) conv = createConversation();
  if (!conv.messages.length) conv.title = text.replace(/\s+/g, ' ').slice(0, 48);
  conv.messages.push({ role: 'user', content: text });
  conv.updated = Date.now();
  // Most recently used first.
  state.convs = [conv, ...state.convs.filter((c) => c !== conv)];
  saveConvs();
  renderSidebar();
  const box = $('messages');
  $('welcome').hidden = true;
  box.appendChild(messageView(conv, conv.messages.length - 1));
  // The previous reply loses its Regenerate button.
  const prev = box.querySelector(`.msg[data-index="${conv.messages.length - 2}"]`);
  if (prev) fillMessage(prev, conv, conv.messages.length - 2);
  generate(conv);
}

function regenerate() {
  const conv = current();
  if (!conv || state.busy) return;
  while (conv.messages.length && conv.messages[conv.messages.length - 1].role === 'assistant') conv.messages.pop();
  if (!conv.messages.length) return;
  renderMessages();
  generate(conv);
}

// ---------- status panel ----------
let lastClientTps = 0;
let statusTimer = 0;
const fmtBytes = (b) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : `${(b / 2 ** 20).toFixed(0)} MiB`);

function showStatusError(text) {
  $('st-error').textContent = text;
}

async function refreshStatus() {
  clearTimeout(statusTimer);
  // Poll only while someone looks at the page; faster while a reply streams.
  statusTimer = setTimeout(refreshStatus, state.busy ? 1500 : 5000);
  if (document.hidden) return;
  try {
    const r = await fetch('/v1/status', { headers: authHeaders(), cache: 'no-store' });
    if (r.status === 401) {
      $('status-dot').className = 'status-dot bad';
      showStatusError('The server needs an API key: open Settings.');
      return;
    }
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const s = await r.json();
    $('status-dot').className = 'status-dot ok';
    showStatusError('');
    state.model = s.model;
    $('brand-model').textContent = s.model;
    $('st-model').textContent = s.model;
    $('st-devices').textContent = s.devices.map((d) => d.name).join(', ');
    const mem = s.devices.filter((d) => d.memory_total_bytes != null);
    $('st-memory').textContent = mem.length
      ? mem.map((d) => `${fmtBytes(d.memory_used_bytes)} / ${fmtBytes(d.memory_total_bytes)}`).join(', ')
      : 'n/a';
    const kv = s.kv_cache;
    $('st-kv').textContent = `${(kv.usage * 100).toFixed(0)}% (${kv.full_blocks_used}/${kv.full_blocks_total} blocks)`;
    $('st-kv-meter').value = kv.usage;
    const last = s.last_reply;
    $('st-tps').textContent = last ? `${last.tokens_per_second.toFixed(1)} tok/s (${last.completion_tokens} tokens)`
      : lastClientTps ? `${lastClientTps.toFixed(1)} tok/s` : '–';
    $('st-queue').textContent = `${s.requests.running} running, ${s.requests.waiting} waiting`;
  } catch (e) {
    $('status-dot').className = 'status-dot bad';
    showStatusError(`Server unreachable (${e.message}).`);
  }
}

// ---------- settings, theme, layout ----------
function openSettings() {
  const s = state.settings;
  $('set-api-key').value = s.apiKey;
  $('set-effort').value = s.effort;
  $('set-temperature').value = s.temperature;
  $('set-top-p').value = s.topP;
  $('set-max-tokens').value = s.maxTokens;
  $('set-instructions').value = s.instructions;
  $('settings').showModal();
}

function saveSettings() {
  const num = (id, lo, hi, dflt) => {
    const v = Number($(id).value);
    return Number.isFinite(v) && $(id).value !== '' ? Math.min(hi, Math.max(lo, v)) : dflt;
  };
  state.settings = {
    apiKey: $('set-api-key').value.trim(),
    effort: $('set-effort').value,
    temperature: num('set-temperature', 0, 2, DEFAULTS.temperature),
    topP: num('set-top-p', 0, 1, DEFAULTS.topP),
    maxTokens: $('set-max-tokens').value === '' ? '' : Math.round(num('set-max-tokens', 1, 1e7, 1)),
    instructions: $('set-instructions').value,
  };
  save(STORE.settings, state.settings);
  refreshStatus();
}

function effectiveTheme() {
  const t = document.documentElement.dataset.theme;
  if (t) return t;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}
function applyTheme(t) {
  if (t) document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
  const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
  $('theme-btn').setAttribute('aria-label', `Switch to ${next} theme`);
}

function openDrawer() {
  $('sidebar').classList.add('open');
  $('scrim').hidden = false;
  $('menu-btn').setAttribute('aria-expanded', 'true');
  const first = $('sidebar').querySelector('button');
  if (first) first.focus();
}
function closeDrawer() {
  if (!$('sidebar').classList.contains('open')) return;
  $('sidebar').classList.remove('open');
  $('scrim').hidden = true;
  $('menu-btn').setAttribute('aria-expanded', 'false');
}

function autosize(ta) {
  ta.style.height = 'auto';
  ta.style.height = `${ta.scrollHeight + 2}px`;
}

function init() {
  for (const b of document.querySelectorAll('[data-icon]')) b.innerHTML = icon(b.dataset.icon);
  state.convs = load(STORE.convs, []);
  if (!Array.isArray(state.convs)) state.convs = [];
  state.currentId = load(STORE.current, null);
  if (!current()) state.currentId = state.convs[0] ? state.convs[0].id : null;
  state.settings = { ...DEFAULTS, ...load(STORE.settings, {}) };
  applyTheme(load(STORE.theme, null));

  const input = $('composer-input');
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim() || state.busy) return;
    input.value = '';
    autosize(input);
    send(text);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('composer').requestSubmit();
    } else if (e.key === 'Escape' && state.busy) {
      stopReply();
    }
  });
  input.addEventListener('input', () => autosize(input));
  $('stop-btn').addEventListener('click', stopReply);
  const fresh = () => {
    const c = current();
    if (c && !c.messages.length) { closeDrawer(); input.focus(); return; }
    if (state.busy) stopReply();
    createConversation();
    renderSidebar();
    renderMessages();
    closeDrawer();
    input.focus();
  };
  $('new-chat').addEventListener('click', fresh);
  $('new-chat-top').addEventListener('click', fresh);
  $('export-all').addEventListener('click', () =>
    download(`gptoss-conversations-${new Date().toISOString().slice(0, 10)}.json`, state.convs));
  $('settings-btn').addEventListener('click', openSettings);
  $('settings-cancel').addEventListener('click', () => $('settings').close());
  $('settings-form').addEventListener('submit', () => saveSettings());
  $('theme-btn').addEventListener('click', () => {
    const t = effectiveTheme() === 'dark' ? 'light' : 'dark';
    save(STORE.theme, t);
    applyTheme(t);
  });
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => applyTheme(document.documentElement.dataset.theme));
  $('menu-btn').addEventListener('click', openDrawer);
  $('scrim').addEventListener('click', closeDrawer);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeDrawer();
  });
  // Copy buttons of code blocks: one listener for all, as bubbles are redrawn while streaming.
  $('messages').addEventListener('click', async (e) => {
    const b = e.target.closest('.copy-btn');
    if (!b) return;
    const code = b.closest('.codeblock').querySelector('code').textContent;
    const ok = await copyText(code);
    b.textContent = ok ? 'Copied' : 'Copy failed';
    setTimeout(() => { b.textContent = 'Copy'; }, 1500);
  });
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshStatus(); });
  window.addEventListener('storage', (e) => {
    // Another tab changed the conversations: show them unless we are mid-reply.
    if (e.key === STORE.convs && !state.busy) {
      state.convs = load(STORE.convs, []);
      if (!current()) state.currentId = state.convs[0] ? state.convs[0].id : null;
      renderSidebar();
      renderMessages();
    }
  });

  renderSidebar();
  renderMessages();
  refreshStatus();
  if (!state.settings.apiKey) {
    // Ask for a key only if the server actually wants one.
    fetch('/v1/models', { headers: authHeaders() }).then((r) => { if (r.status === 401) openSettings(); }).catch(() => {});
  }
  input.focus();
}

// Exposed for tests and the console; nothing in the page relies on it.
window.gptossUi = { renderMarkdown, state };

init();
