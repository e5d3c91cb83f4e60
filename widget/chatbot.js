/*
 * chatbot widget: one tag gives a website an AI chat assistant.
 *
 *   <script src="https://HOST/widget/chatbot.js?apiKey=cb_pk_…"></script>
 *   optional query parameters: userIdentifier=…, noTracking=true
 *
 * Plain modern JavaScript, no build step, served by the chatbot binary itself. It reads its
 * own src for the key, the options and the API's address (the script's origin), draws a
 * launcher and a chat panel inside an open shadow root (styles through a constructable
 * stylesheet, so a strict Content-Security-Policy without 'unsafe-inline' is fine), themes
 * itself from /api/chat/sessions/bot-config, and streams replies token by token with fetch
 * and a stream reader over SSE, resuming with Last-Event-ID when the connection drops.
 * Nothing from the network becomes HTML: every text goes through textContent / text nodes.
 *
 * Host pages get window.postMessage events ({type: 'widget_ready' | 'session_created' |
 * 'message_sent' | 'message_received' | 'widget_opened' | 'widget_minimized' | 'error', …})
 * and a small API: Chatbot.open(), close(), toggle(), send(text), on(type, handler),
 * setPageContext({url, title, content}).
 */
(() => {
  'use strict';
  const script = document.currentScript;
  if (!script || (window.Chatbot && window.Chatbot.version)) return;

  const SRC = new URL(script.src, location.href);
  const Q = SRC.searchParams;
  const API = SRC.origin;
  const KEY = (Q.get('apiKey') || '').trim();
  const GIVEN_USER = (Q.get('userIdentifier') || '').trim().slice(0, 255) || null;
  const NO_TRACKING = /^(1|true|yes|on)$/i.test(Q.get('noTracking') || '');
  const USER_KEY = 'chatbot_user_id';
  const SESSION_KEY = 'chatbot_session_' + KEY.replace(/^cb_pk_/, '').slice(0, 12);
  const CONTEXT_CHARS = 4000;
  const MAX_MESSAGE = 10000;
  const MAX_RESUMES = 6;

  // --- storage and identity ------------------------------------------------------------

  const storage = (name) => {
    try {
      const s = window[name];
      s.setItem('__chatbot', '1');
      s.removeItem('__chatbot');
      return s;
    } catch {
      return null; // blocked (sandboxed frame, privacy settings): work without it
    }
  };
  const local = storage('localStorage');
  // With noTracking nothing lasting is kept: the conversation lives only in this tab.
  const sessionStore = NO_TRACKING ? storage('sessionStorage') : local;
  const read = (s, k) => {
    try { return s ? s.getItem(k) : null; } catch { return null; }
  };
  const write = (s, k, v) => {
    try { if (s) v == null ? s.removeItem(k) : s.setItem(k, v); } catch { /* full or blocked */ }
  };

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16)); // insecure contexts lack randomUUID
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const x = Array.from(b, (n) => n.toString(16).padStart(2, '0')).join('');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }

  function visitorId() {
    if (GIVEN_USER) return GIVEN_USER;
    if (NO_TRACKING) return null;
    let id = read(local, USER_KEY);
    if (!id || id.length > 255) {
      id = uuid();
      write(local, USER_KEY, id);
    }
    return id;
  }
  const userId = visitorId();

  // --- state, events ---------------------------------------------------------------------

  const S = {
    open: false, started: false, config: null, disabled: null, sessionId: null,
    creating: null, busy: false, reply: null, ctxSent: null, ctxOverride: null,
  };
  const handlers = new Map();

  function emit(type, data) {
    const evt = Object.assign({ type, source: 'chatbot' }, data);
    try {
      window.postMessage(evt, location.origin && location.origin !== 'null' ? location.origin : '*');
    } catch { /* a page without a usable origin */ }
    for (const key of [type, '*']) {
      for (const fn of handlers.get(key) || []) {
        try { fn(evt); } catch (e) { setTimeout(() => { throw e; }); }
      }
    }
  }

  // --- HTTP --------------------------------------------------------------------------------

  class HttpError extends Error {
    constructor(status, body, retryAfter) {
      super((body && body.error) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
      this.retryAfter = retryAfter;
    }
  }
  class StreamError extends Error {} // an `error` event from the stream, or a lost reply

  function call(method, path, body, headers, signal) {
    const h = Object.assign({ 'X-API-Key': KEY }, headers);
    if (body !== undefined) h['Content-Type'] = 'application/json';
    return fetch(API + path, {
      method, headers: h, signal, mode: 'cors', credentials: 'omit', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async function httpError(resp) {
    let body = null;
    try { body = await resp.json(); } catch { /* not JSON */ }
    return new HttpError(resp.status, body, resp.headers.get('Retry-After'));
  }

  async function json(resp) {
    if (!resp.ok) throw await httpError(resp);
    return resp.json();
  }

  const gone = (status) => status === 404 || status === 410;

  function describe(err) {
    if (err instanceof HttpError) {
      const s = err.status;
      const what = err.body && err.body.error ? `: ${err.body.error}` : '';
      if (s === 401) return 'This chat is not available: the website\'s API key was rejected (missing, invalid or revoked key).';
      if (s === 403) return `This chat is not available on this website: its API key is not allowed from ${location.origin}.`;
      if (s === 429) {
        const secs = parseInt(err.retryAfter, 10);
        return `Too many messages right now. Please wait ${secs > 0 ? `${secs} second${secs === 1 ? '' : 's'}` : 'a moment'} (Retry-After) and try again.`;
      }
      if (s === 502 || s === 504) return `The AI service ${s === 504 ? 'took too long to answer' : 'is not available right now'} (${s}). Please try again in a moment.`;
      if (s === 413) return 'That message is too long.';
      if (s === 400 || s === 422) return `The message could not be sent${what}.`;
      return `Something went wrong (${s}${what}). Please try again.`;
    }
    if (err instanceof StreamError) return err.message;
    return 'Cannot reach the chat service. Check your connection and try again.';
  }

  // --- DOM -------------------------------------------------------------------------------

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids) if (kid != null) el.append(kid); // strings become text nodes
    return el;
  }

  const CSS_TEXT = `
:host{all:initial}
*{box-sizing:border-box}
.root{--cb-color:#4f46e5;--cb-fg:#fff;--cb-bot-bg:#f3f4f6;--cb-user-bg:var(--cb-color);--cb-user-fg:var(--cb-fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#111827}
.launcher{position:fixed;right:20px;bottom:20px;z-index:2147483646;width:56px;height:56px;border-radius:50%;border:0;background:var(--cb-color);color:var(--cb-fg);font-size:26px;line-height:1;cursor:pointer;box-shadow:0 6px 20px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;overflow:hidden}
.launcher img,.icon img{width:100%;height:100%;object-fit:cover}
.glyph{display:flex}.launcher svg{width:28px;height:28px}.icon svg{width:18px;height:18px}
button:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #2563eb;outline-offset:2px}
.panel{position:fixed;right:20px;bottom:88px;z-index:2147483647;width:380px;max-width:calc(100vw - 40px);height:600px;max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.28);overflow:hidden}
.panel[hidden]{display:none}
.head{display:flex;align-items:center;gap:10px;padding:12px 12px 12px 14px;background:var(--cb-color);color:var(--cb-fg)}
.icon{width:32px;height:32px;flex:none;border-radius:50%;background:rgba(255,255,255,.22);display:flex;align-items:center;justify-content:center;font-size:18px;overflow:hidden}
.title{flex:1;min-width:0;font-weight:600;font-size:15px;margin:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.close{flex:none;width:34px;height:34px;border:0;border-radius:8px;background:transparent;color:inherit;font-size:24px;line-height:1;cursor:pointer}
.close:hover{background:rgba(255,255,255,.18)}
.log{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:10px;overscroll-behavior:contain}
.msg{max-width:86%;padding:8px 12px;border-radius:14px;overflow-wrap:anywhere}
.user{align-self:flex-end;background:var(--cb-user-bg);color:var(--cb-user-fg);white-space:pre-wrap;border-bottom-right-radius:4px}
.assistant{align-self:flex-start;background:var(--cb-bot-bg);color:#111827;border-bottom-left-radius:4px}
.msg p{margin:0 0 .55em}.msg p:last-child{margin-bottom:0}
.msg ul,.msg ol{margin:.2em 0 .55em;padding-left:1.4em}.msg li{margin:.1em 0}
.msg code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:rgba(0,0,0,.07);padding:.05em .3em;border-radius:4px}
.msg pre{margin:.4em 0;padding:8px 10px;background:#111827;color:#f9fafb;border-radius:8px;overflow-x:auto;white-space:pre}
.msg pre code{background:none;padding:0;color:inherit}
.msg a{color:#1d4ed8;text-decoration:underline}
.user a{color:inherit}
.note{display:block;margin-top:4px;font-size:12px;color:#6b7280}
.typing{display:inline-flex;gap:4px;padding:5px 0}
.typing i{width:7px;height:7px;border-radius:50%;background:#9ca3af;animation:cb-dot 1.2s infinite ease-in-out both}
.typing i:nth-child(2){animation-delay:.2s}.typing i:nth-child(3){animation-delay:.4s}
@keyframes cb-dot{0%,80%,100%{opacity:.25;transform:scale(.8)}40%{opacity:1;transform:none}}
.error{margin:0 12px 8px;padding:8px 10px;border-radius:8px;background:#fef2f2;color:#991b1b;border:1px solid #fecaca;font-size:13px}
.error[hidden]{display:none}
.composer{display:flex;gap:8px;align-items:flex-end;padding:10px 12px;border-top:1px solid #e5e7eb;margin:0}
textarea{flex:1;resize:none;min-height:40px;max-height:130px;border:1px solid #d1d5db;border-radius:10px;padding:9px 10px;font:inherit;color:inherit;background:#fff}
textarea:disabled{background:#f9fafb}
.send,.stop{flex:none;height:40px;padding:0 14px;border:0;border-radius:10px;font:inherit;font-weight:600;cursor:pointer;background:var(--cb-color);color:var(--cb-fg)}
.stop{background:#374151;color:#fff}
button:disabled{opacity:.5;cursor:default}
button[hidden]{display:none}
.foot{padding:0 12px 8px;text-align:center;font-size:11px;color:#9ca3af}
.foot:empty{display:none}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
@media (max-width:480px){.panel{inset:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0}.root.open .launcher{display:none}}
@media (prefers-reduced-motion:reduce){.typing i{animation:none}}
`;

  const host = h('div', { id: 'chatbot-widget', 'data-chatbot-role': 'root' });
  const shadow = host.attachShadow({ mode: 'open' });
  if ('adoptedStyleSheets' in shadow && typeof CSSStyleSheet === 'function') {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS_TEXT);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    shadow.append(h('style', { text: CSS_TEXT })); // old browsers; CSP may block this one
  }

  const launcherIcon = h('span', { class: 'glyph', 'aria-hidden': 'true' });
  const launcher = h('button', {
    type: 'button', class: 'launcher', 'data-chatbot-role': 'launcher',
    'aria-label': 'Open chat', 'aria-expanded': 'false', 'aria-controls': 'chatbot-panel',
    onclick: () => toggle(),
  }, launcherIcon);
  const icon = h('span', { class: 'icon', 'aria-hidden': 'true' });
  const title = h('h2', { class: 'title', id: 'chatbot-title', text: 'Assistant' });
  const closeBtn = h('button', {
    type: 'button', class: 'close', 'data-chatbot-role': 'close', 'aria-label': 'Close chat',
    onclick: () => close(),
  }, h('span', { 'aria-hidden': 'true', text: '×' }));
  const log = h('div', {
    class: 'log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions',
    'aria-label': 'Conversation', 'data-chatbot-role': 'log', tabindex: '0',
  });
  const errorBox = h('div', { class: 'error', role: 'alert', 'data-chatbot-role': 'error', hidden: true });
  const input = h('textarea', {
    rows: '1', maxlength: String(MAX_MESSAGE), 'aria-label': 'Message', id: 'chatbot-input',
    placeholder: 'Type your message…', 'data-chatbot-role': 'input', enterkeyhint: 'send',
  });
  const sendBtn = h('button', { type: 'submit', class: 'send', 'data-chatbot-role': 'send', text: 'Send' });
  const stopBtn = h('button', {
    type: 'button', class: 'stop', 'data-chatbot-role': 'stop', 'aria-label': 'Stop the reply',
    text: 'Stop', hidden: true, onclick: () => stop(),
  });
  const composer = h('form', { class: 'composer', 'aria-label': 'Send a message' }, input, stopBtn, sendBtn);
  const foot = h('div', { class: 'foot', 'data-chatbot-role': 'powered-by' });
  const panel = h('section', {
    class: 'panel', id: 'chatbot-panel', role: 'dialog', 'aria-labelledby': 'chatbot-title',
    'data-chatbot-role': 'panel', hidden: true,
  }, h('div', { class: 'head' }, icon, title, closeBtn), log, errorBox, composer, foot);
  const root = h('div', { class: 'root' }, panel, launcher);
  setIcon(icon, '');
  setIcon(launcherIcon, '');
  shadow.append(root);

  composer.addEventListener('submit', (e) => {
    e.preventDefault();
    sendMessage(input.value);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendMessage(input.value);
    }
  });
  input.addEventListener('input', autosize);
  root.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && S.open) {
      e.preventDefault();
      close();
    }
  });

  function autosize() {
    input.style.height = 'auto'; // CSSOM, not a style attribute string: fine under CSP
    input.style.height = `${Math.min(input.scrollHeight + 2, 130)}px`;
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }
  function clearError() {
    if (S.disabled) return;
    errorBox.textContent = '';
    errorBox.hidden = true;
  }

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 60;
  }
  function scrollDown(force) {
    if (force || nearBottom()) log.scrollTop = log.scrollHeight;
  }

  function addMessage(author, text, id) {
    const body = h('div', { class: 'body' });
    const el = h('div', {
      class: `msg ${author}`, 'data-chatbot-role': 'message', 'data-chatbot-author': author,
      'data-message-id': id,
    }, h('span', { class: 'sr', text: author === 'user' ? 'You: ' : `${title.textContent}: ` }), body);
    if (text != null) {
      if (author === 'user') body.textContent = text;
      else renderMarkdown(text, body);
    }
    log.append(el);
    scrollDown(true);
    return { el, body };
  }

  function setBusy(busy) {
    S.busy = busy;
    sendBtn.disabled = busy || !!S.disabled;
    stopBtn.hidden = !busy;
    stopBtn.disabled = false;
    root.toggleAttribute('data-busy', busy);
  }

  function disable(reason) {
    S.disabled = reason;
    input.disabled = true;
    sendBtn.disabled = true;
    showError(reason);
  }

  // --- a safe Markdown subset, built with DOM APIs ----------------------------------------

  const INLINE = new RegExp([
    /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/.source, // 1,2 code
    /\*\*(?=\S)([\s\S]*?\S)\*\*/.source, // 3 bold
    /(?<![\w\\])__(?=\S)([\s\S]*?\S)__(?!\w)/.source, // 4 bold
    /\*(?=[^\s*])([\s\S]*?[^\s*])\*/.source, // 5 italic
    /(?<![\w\\])_(?=[^\s_])([\s\S]*?[^\s_])_(?!\w)/.source, // 6 italic
    /\[([^\]\n]+)\]\(\s*<?([^\s<>()]+(?:\([^\s<>()]*\))?)>?\s*\)/.source, // 7,8 link
    /\b((?:https?:\/\/|mailto:)[^\s<>"'`]*[^\s<>"'`.,;:!?)\]}*_])/.source, // 9 bare link
  ].join('|'), 'g');

  function safeHref(href) {
    try {
      const u = new URL(href);
      return /^(https?|mailto):$/.test(u.protocol) ? u.href : null;
    } catch {
      return null; // relative or malformed: not a link
    }
  }

  function inline(text, parent) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      if (m.index > last) parent.append(text.slice(last, m.index));
      last = m.index + m[0].length;
      if (m[1]) parent.append(h('code', { text: m[2] }));
      else if (m[3] || m[4]) inline(m[3] || m[4], parent.appendChild(h('strong')));
      else if (m[5] || m[6]) inline(m[5] || m[6], parent.appendChild(h('em')));
      else {
        const href = safeHref(m[8] || m[9]);
        if (!href) { parent.append(m[0]); continue; }
        parent.append(h('a', { href, target: '_blank', rel: 'noopener noreferrer', text: m[7] || m[9] }));
      }
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  function renderMarkdown(src, into) {
    const out = document.createDocumentFragment();
    const lines = String(src).replace(/\r\n?/g, '\n').split('\n');
    let para = null;
    let list = null;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const fence = /^\s*(`{3,}|~{3,})\s*([\w+#.-]*)/.exec(line);
      if (fence) {
        const code = [];
        for (i++; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) code.push(lines[i]);
        out.append(h('pre', null, h('code', { 'data-lang': fence[2] || null, text: code.join('\n') })));
        para = list = null;
        continue;
      }
      if (!line.trim()) { para = list = null; continue; }
      const item = /^\s*([-*+•]|\d{1,9}[.)])\s+(.*)$/.exec(line);
      if (item) {
        para = null;
        const ordered = /\d/.test(item[1]);
        if (!list || list.ordered !== ordered) {
          const el = h(ordered ? 'ol' : 'ul');
          const start = parseInt(item[1], 10);
          if (ordered && start !== 1) el.start = start;
          list = { el, ordered };
          out.append(el);
        }
        list.last = list.el.appendChild(h('li'));
        inline(item[2], list.last);
        continue;
      }
      if (list && /^\s+\S/.test(line)) { // a wrapped list item
        list.last.append(' ');
        inline(line.trim(), list.last);
        continue;
      }
      list = null;
      const heading = /^\s*#{1,6}\s+(.*)$/.exec(line);
      if (heading) {
        para = null;
        inline(heading[1], out.appendChild(h('p', { class: 'heading' })).appendChild(h('strong')));
        continue;
      }
      if (para) para.append(h('br'));
      else para = out.appendChild(h('p'));
      inline(line, para);
    }
    into.replaceChildren(out);
  }

  // --- theme ---------------------------------------------------------------------------------

  const cssColor = (v) => (typeof v === 'string' && v.length < 80 && window.CSS && CSS.supports('color', v) ? v : null);

  function textOn(color) { // black or white text, whichever reads better on a #hex colour
    const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color || '');
    if (!m) return '#fff';
    const x = m[1].length === 3 ? m[1].replace(/./g, '$&$&') : m[1];
    const [r, g, b] = [0, 2, 4].map((i) => parseInt(x.slice(i, i + 2), 16) / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 ? '#111827' : '#fff';
  }

  /** The default icon as SVG: emoji fonts are not everywhere. */
  function chatIcon() {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    const path = document.createElementNS(ns, 'path');
    for (const [k, v] of [['viewBox', '0 0 24 24'], ['fill', 'currentColor'], ['aria-hidden', 'true']]) svg.setAttribute(k, v);
    const dot = (x) => `M${x - 1.4} 10.5a1.4 1.4 0 1 0 2.8 0a1.4 1.4 0 1 0-2.8 0z`;
    path.setAttribute('d', `M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9.5L5 21.5V18H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z${dot(8)}${dot(12)}${dot(16)}`);
    path.setAttribute('fill-rule', 'evenodd');
    svg.append(path);
    return svg;
  }

  function setIcon(el, value) {
    const v = typeof value === 'string' ? value.trim() : '';
    const url = /^https:\/\//i.test(v) ? safeHref(v) : null;
    if (url) el.replaceChildren(h('img', { src: url, alt: '' }));
    else if (!v || v === '💬') el.replaceChildren(chatIcon());
    else el.textContent = Array.from(v).slice(0, 4).join('');
  }

  function applyConfig(c) {
    const color = cssColor(c.botColor);
    if (color) {
      root.style.setProperty('--cb-color', color);
      root.style.setProperty('--cb-fg', textOn(color));
    }
    const botBg = cssColor(c.botMsgBgColor);
    if (botBg) root.style.setProperty('--cb-bot-bg', botBg);
    const userBg = cssColor(c.userMsgBgColor);
    if (userBg) {
      root.style.setProperty('--cb-user-bg', userBg);
      root.style.setProperty('--cb-user-fg', textOn(userBg));
    }
    const name = typeof c.botName === 'string' && c.botName.trim() ? c.botName.trim().slice(0, 80) : 'Assistant';
    title.textContent = name;
    launcher.setAttribute('aria-label', `Open chat with ${name}`);
    setIcon(icon, c.botIcon);
    setIcon(launcherIcon, c.botIcon);
    if (typeof c.placeholder === 'string' && c.placeholder) input.placeholder = c.placeholder.slice(0, 120);
    foot.textContent = typeof c.poweredBy === 'string' ? c.poweredBy.slice(0, 120) : '';
  }

  function showWelcome() {
    const text = S.config && S.config.welcomeMessage;
    if (typeof text !== 'string' || !text.trim() || log.querySelector('[data-chatbot-role="welcome"]')) return;
    const body = h('div', { class: 'body' });
    renderMarkdown(text, body);
    log.prepend(h('div', { class: 'msg assistant', 'data-chatbot-role': 'welcome' }, body));
  }

  async function loadConfig() {
    if (!KEY) {
      disable('This chat is not set up: the widget\'s script tag has no apiKey.');
      console.warn('chatbot widget: add ?apiKey=cb_pk_… to the script src');
      emit('error', { error: S.disabled, status: 0 });
      return;
    }
    try {
      S.config = await json(await call('GET', '/api/chat/sessions/bot-config'));
      applyConfig(S.config);
    } catch (err) {
      reportError(err, true);
    }
  }

  function reportError(err, fatalAuth) {
    const text = describe(err);
    const status = err instanceof HttpError ? err.status : 0;
    if (fatalAuth && (status === 401 || status === 403)) disable(text);
    else showError(text);
    const detail = err instanceof HttpError ? err.body && err.body.detail : err.detail;
    emit('error', { error: text, status, detail: detail || undefined });
  }

  // --- sessions, page context --------------------------------------------------------------

  function pageText() {
    const body = document.body;
    if (!body) return '';
    const parts = [];
    for (const node of body.childNodes) {
      if (node === host) continue;
      if (node.nodeType === 3) parts.push(node.textContent);
      else if (node.nodeType === 1 && !/^(SCRIPT|STYLE|NOSCRIPT|TEMPLATE|IFRAME|SVG)$/i.test(node.tagName)) {
        parts.push(node.innerText || '');
      }
      if (parts.join('').length > CONTEXT_CHARS * 2) break;
    }
    return parts.join('\n').replace(/[ \t\f\v\u00a0]+/g, ' ').replace(/ *\n[\s]*/g, '\n').trim();
  }

  function pageContext() {
    const o = S.ctxOverride || {};
    const str = (v) => (typeof v === 'string' ? v : null);
    return {
      url: (str(o.url) || location.origin + location.pathname).slice(0, 2000), // no query: it may hold tokens
      title: (str(o.title) ?? document.title ?? '').slice(0, 300),
      content: (str(o.content) ?? pageText()).slice(0, CONTEXT_CHARS),
    };
  }

  function remember(id) {
    write(sessionStore, SESSION_KEY, id ? JSON.stringify({ id, user: userId }) : null);
  }

  async function createSession() {
    const ctx = pageContext();
    const body = { config: { pageContext: ctx } };
    if (userId) body.user_identifier = userId;
    const d = await json(await call('POST', '/api/chat/sessions/create', body));
    S.sessionId = d.sessionId;
    S.ctxSent = JSON.stringify(ctx);
    remember(d.sessionId);
    emit('session_created', { sessionId: d.sessionId, userId });
    return d.sessionId;
  }

  function ensureSession() {
    if (S.sessionId) return Promise.resolve(S.sessionId);
    if (!S.creating) S.creating = createSession().finally(() => { S.creating = null; });
    return S.creating;
  }

  function forgetSession() {
    S.sessionId = null;
    S.ctxSent = null;
    remember(null);
  }

  /** Reopens the conversation kept from an earlier page view; false when there is none. */
  async function restore() {
    let saved = null;
    try { saved = JSON.parse(read(sessionStore, SESSION_KEY) || 'null'); } catch { /* corrupt */ }
    if (!saved || typeof saved.id !== 'string' || (saved.user ?? null) !== userId) return false;
    const resp = await call('GET', `/api/chat/messages/history/${encodeURIComponent(saved.id)}?limit=100`);
    if (gone(resp.status)) {
      remember(null);
      return false;
    }
    const d = await json(resp);
    S.sessionId = saved.id;
    for (const m of d.messages || []) {
      if ((m.role === 'user' || m.role === 'assistant') && typeof m.content === 'string') {
        const { el } = addMessage(m.role, m.content, m.id);
        el.dataset.chatbotState = m.status === 'cancelled' ? 'cancelled' : 'done';
      }
    }
    return true;
  }

  /** The session's page context follows the page (single-page apps, edited demo content). */
  async function syncContext(sid) {
    const ctx = pageContext();
    const text = JSON.stringify(ctx);
    if (text === S.ctxSent) return;
    const resp = await call('PUT', `/api/chat/sessions/${encodeURIComponent(sid)}/config`, { config: { pageContext: ctx } });
    if (resp.ok) S.ctxSent = text;
    else if (gone(resp.status)) forgetSession();
  }

  async function start() {
    await configReady;
    if (S.disabled) return;
    try {
      if (!(await restore())) await ensureSession();
    } catch (err) {
      reportError(err, true);
    }
  }

  // --- streaming replies -------------------------------------------------------------------

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function sseParser(onEvent) {
    let buf = '';
    let data = [];
    let event = '';
    let id = null;
    return (chunk) => {
      buf += chunk;
      const keep = buf.endsWith('\r') ? 1 : 0; // a CR whose LF may be in the next chunk
      const lines = buf.slice(0, buf.length - keep).split(/\r\n|\r|\n/);
      buf = lines.pop() + buf.slice(buf.length - keep);
      for (const line of lines) {
        if (line === '') {
          if (data.length || event) onEvent({ event: event || 'message', data: data.join('\n'), id });
          data = [];
          event = '';
          id = null;
        } else if (line[0] === ':') {
          onEvent({ comment: line.slice(1).trim() }); // `: ping` keeps idle connections open
        } else {
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          let value = c < 0 ? '' : line.slice(c + 1);
          if (value[0] === ' ') value = value.slice(1);
          if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
          else if (field === 'id') id = value;
        }
      }
    };
  }

  function onStreamEvent(r, ev) {
    if (ev.comment !== undefined) return;
    let d = {};
    try { d = JSON.parse(ev.data || '{}') || {}; } catch { /* keep {} */ }
    if (ev.event === 'start') {
      r.messageId = d.messageId || r.messageId;
      r.el.dataset.messageId = r.messageId || '';
      r.el.dataset.chatbotProvider = d.provider || '';
      if (r.stopRequested) cancel(r);
    } else if (ev.event === 'delta') {
      const n = Number(ev.id);
      if (ev.id != null && Number.isFinite(n)) {
        if (n <= r.lastId) return; // already shown before a resume
        r.lastId = n;
      }
      if (typeof d.content === 'string' && d.content) {
        r.text += d.content;
        paint(r);
      }
    } else if (ev.event === 'done') {
      r.done = d;
    } else if (ev.event === 'error') {
      r.error = d;
    }
  }

  function paint(r) {
    if (r.timer) return;
    r.timer = setTimeout(() => {
      r.timer = 0;
      const stick = nearBottom();
      renderMarkdown(r.text, r.body);
      scrollDown(stick);
    }, 30);
  }

  async function readStream(r, resp) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    const parse = sseParser((ev) => onStreamEvent(r, ev));
    try {
      while (!r.done && !r.error) {
        const { value, done } = await reader.read();
        if (done) break;
        parse(decoder.decode(value, { stream: true }));
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  /** One connection's worth of the reply; a dropped connection is not an error here. */
  async function readOnce(r, resp) {
    try {
      await readStream(r, resp);
    } catch (err) {
      if (r.userAbort) return;
      r.drops += 1;
    }
  }

  function connect(r, method, path, body, headers) {
    r.conn = new AbortController();
    return call(method, path, body, Object.assign({ Accept: 'text/event-stream' }, headers), r.conn.signal);
  }

  async function streamReply(r, text) {
    let sid = await ensureSession();
    await syncContext(sid);
    sid = S.sessionId || (await ensureSession());
    emit('message_sent', { message: text, sessionId: sid, userId });
    let resp = await connect(r, 'POST', '/api/chat/messages/stream', { sessionId: sid, message: text });
    if (gone(resp.status)) { // the session expired: carry on in a new one
      forgetSession();
      sid = await ensureSession();
      resp = await connect(r, 'POST', '/api/chat/messages/stream', { sessionId: sid, message: text });
    }
    if (!resp.ok) throw await httpError(resp);
    r.sessionId = sid;
    await readOnce(r, resp);
    for (let tries = 0; !r.done && !r.error && !r.userAbort;) {
      if (!r.messageId || tries >= MAX_RESUMES) {
        throw new StreamError('The connection was lost before the reply finished. Please try again.');
      }
      await sleep(Math.min(8000, 300 * 2 ** tries) * (0.8 + Math.random() * 0.4));
      tries += 1;
      r.el.dataset.chatbotResumes = String((+r.el.dataset.chatbotResumes || 0) + 1);
      let again;
      try {
        again = await connect(r, 'GET', `/api/chat/messages/stream/${encodeURIComponent(r.messageId)}`, undefined, { 'Last-Event-ID': String(r.lastId) });
      } catch {
        continue; // still offline: back off and try again
      }
      if (!again.ok) {
        if (again.status >= 500 || again.status === 429) continue;
        throw await httpError(again);
      }
      const before = r.lastId;
      await readOnce(r, again);
      if (r.lastId > before) tries = 0; // progress: the connection works again
    }
    if (r.error) throw new StreamError(`The assistant ran into a problem: ${r.error.error || 'unknown error'}. Please try again.`);
    finish(r);
  }

  function finish(r) {
    clearTimeout(r.timer);
    r.timer = 0;
    const d = r.done || { finishReason: 'cancelled' }; // only a local abort has no `done`
    if (typeof d.response === 'string' && d.response !== r.text && r.done) {
      r.text = d.response; // the stored reply is the truth
      r.el.dataset.chatbotRepaired = 'true';
    }
    const reason = d.finishReason || 'stop';
    renderMarkdown(r.text, r.body);
    if (reason === 'cancelled') r.el.append(h('span', { class: 'note', text: 'Stopped' }));
    else if (reason !== 'stop') r.el.append(h('span', { class: 'note', text: 'The reply was cut short.' }));
    settle(r, reason === 'cancelled' ? 'cancelled' : 'done', reason);
    scrollDown(false);
    emit('message_received', {
      message: r.text, sessionId: r.sessionId, userId, messageId: r.messageId, finishReason: reason,
    });
  }

  function settle(r, state, reason) {
    r.el.dataset.chatbotState = state;
    if (reason) r.el.dataset.chatbotFinishReason = reason;
    r.el.removeAttribute('aria-busy');
  }

  async function sendMessage(raw) {
    const text = String(raw ?? '').trim();
    if (!text || S.busy) return false;
    await configReady;
    await started; // a conversation being restored is the one to continue
    if (S.busy) return false;
    if (S.disabled) return false;
    if (Array.from(text).length > MAX_MESSAGE) {
      showError(`Messages can be at most ${MAX_MESSAGE.toLocaleString('en')} characters.`);
      return false;
    }
    clearError();
    setBusy(true);
    input.value = '';
    autosize();
    addMessage('user', text);
    const { el, body } = addMessage('assistant', null);
    el.setAttribute('aria-busy', 'true');
    el.dataset.chatbotState = 'streaming';
    body.append(h('span', { class: 'typing', 'data-chatbot-role': 'typing' },
      h('i'), h('i'), h('i'), h('span', { class: 'sr', text: 'Typing…' })));
    const r = { el, body, text: '', lastId: 0, messageId: null, sessionId: null, done: null, error: null, drops: 0 };
    S.reply = r;
    try {
      await streamReply(r, text);
      return true;
    } catch (err) {
      clearTimeout(r.timer);
      if (r.text) {
        renderMarkdown(r.text, r.body);
        r.el.append(h('span', { class: 'note', text: 'The reply was interrupted.' }));
        settle(r, 'error');
      } else {
        el.remove();
      }
      if (err instanceof StreamError && r.error) err.detail = r.error.detail;
      reportError(err, true);
      return false;
    } finally {
      S.reply = null;
      setBusy(false);
      if (S.open && !S.disabled) input.focus({ preventScroll: true });
    }
  }

  async function cancel(r) {
    try {
      const resp = await call('POST', `/api/chat/messages/${encodeURIComponent(r.messageId)}/cancel`);
      if (!resp.ok && !gone(resp.status) && resp.status !== 409) throw new Error('cancel failed');
    } catch {
      r.userAbort = true; // the server cannot be told: stop listening at least
      if (r.conn) r.conn.abort();
    }
  }

  function stop() {
    const r = S.reply;
    if (!r || r.stopRequested) return;
    r.stopRequested = true;
    stopBtn.disabled = true;
    if (r.messageId) cancel(r); // otherwise as soon as `start` names the reply
  }

  // --- open / close, public API --------------------------------------------------------------

  function open() {
    if (S.open) return;
    S.open = true;
    panel.hidden = false;
    root.classList.add('open');
    launcher.setAttribute('aria-expanded', 'true');
    (input.disabled ? closeBtn : input).focus();
    emit('widget_opened', {});
    if (!S.started) {
      S.started = true;
      started = start();
    }
  }

  function close() {
    if (!S.open) return;
    S.open = false;
    panel.hidden = true;
    root.classList.remove('open');
    launcher.setAttribute('aria-expanded', 'false');
    launcher.focus();
    emit('widget_minimized', {});
  }

  function toggle() {
    if (S.open) close();
    else open();
  }

  let started = Promise.resolve();
  const configReady = loadConfig().then(() => {
    if (S.config) showWelcome();
  });

  window.Chatbot = {
    version: '1',
    open,
    close,
    toggle,
    /** Opens the panel and sends `text`; resolves to true when the reply arrived. */
    async send(text) {
      open();
      await started;
      return sendMessage(text);
    },
    /** Subscribes to widget events by type (or '*'); answers a function that unsubscribes. */
    on(type, fn) {
      if (typeof fn !== 'function') return () => {};
      if (!handlers.has(type)) handlers.set(type, new Set());
      handlers.get(type).add(fn);
      return () => handlers.get(type).delete(fn);
    },
    /** Overrides what the assistant is told about the page (else: URL, title, visible text). */
    setPageContext(ctx) {
      S.ctxOverride = ctx && typeof ctx === 'object' ? Object.assign({}, ctx) : null;
    },
    get sessionId() { return S.sessionId; },
    get userId() { return userId; },
    get isOpen() { return S.open; },
    /** Test hook: cuts the current reply's connection, as a network failure would. */
    _dropConnection() {
      if (S.reply && S.reply.conn) S.reply.conn.abort();
    },
  };

  const mount = () => {
    document.body.append(host);
    configReady.then(() => emit('widget_ready', { botName: title.textContent, available: !S.disabled }));
  };
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount, { once: true });
})();
