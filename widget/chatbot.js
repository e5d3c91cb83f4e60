/*
 * chatbot widget: <script src="https://HOST/widget/chatbot.js?apiKey=cb_pk_…"></script>
 * Plain JavaScript, no build step; docs/widget.md describes the options, window.Chatbot and
 * the events. Each widget lives in an open shadow root styled by a constructable stylesheet
 * (strict CSP works), streams replies with fetch over SSE, and never turns network text into
 * HTML. The server sends this file without comment lines and indentation (src/widget.rs), so
 * comments go on lines of their own and no template literal spans lines.
 */
(() => {
'use strict';
const script = document.currentScript;
if (window.Chatbot && window.Chatbot.version) return;
const SRC = new URL(script ? script.src : '/widget/chatbot.js', location.href);
const Q = SRC.searchParams;
const API = SRC.origin;
const MAX_MESSAGE = 10000;
const CONTEXT_CHARS = 4000;
// Texts by id come from widget/lang-XX.json, then bot config `strings`. The bot config's
// stock English defaults (STOCK) are shown in the visitor's language instead.
const EN = { assistant: 'Assistant', welcome: 'Hi! How can I help you today?', placeholder: 'Type your message…' };
const STOCK = { botName: 'Assistant', welcomeMessage: EN.welcome, placeholder: EN.placeholder };
const LANGS = ['en', 'es', 'fr', 'de', 'pt', 'it', 'nl', 'ar', 'he', 'zh', 'ja'];
const packs = {};
const pack = (l) => packs[l] || (packs[l] = fetch(`${API}/widget/lang-${l}.json`, { mode: 'cors', credentials: 'omit' })
	.then((r) => (r.ok ? r.json() : {})).catch(() => ({})));

/** The first supported language of the candidates (BCP 47 tags). */
function pickLang(...tags) {
	for (const t of tags.flat()) {
		const base = typeof t === 'string' ? t.trim().toLowerCase().split(/[-_]/)[0] : '';
		if (LANGS.includes(base)) return { lang: base, tag: t.trim() };
	}
	return { lang: 'en', tag: 'en' };
}

const storage = (name) => {
	try {
		const s = window[name];
		s.setItem('__chatbot', '1');
		s.removeItem('__chatbot');
		return s;
	} catch { return null; } // blocked: work without it
};
const LOCAL = storage('localStorage');
const SESSION = storage('sessionStorage');
const read = (s, k) => { try { return s ? s.getItem(k) : null; } catch { return null; } };
const write = (s, k, v) => { try { if (s) v == null ? s.removeItem(k) : s.setItem(k, v); } catch { /* full */ } };
// A v4 UUID; pages on plain http have no crypto.randomUUID.
const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : '10000000-1000-4000-8000-100000000000'
	.replace(/[018]/g, (c) => (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16)));
const str = (v, n) => (typeof v === 'string' && v.trim() ? v.trim().slice(0, n) : null);
const yes = (v) => v === true || /^(1|true|yes|on)$/i.test(String(v || ''));

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
	} catch { return null; }
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
		if (list && /^\s+\S/.test(line)) {
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
const cssColor = (v) => (typeof v === 'string' && v.length < 80 && window.CSS && CSS.supports('color', v) ? v : null);
function textOn(color) { // black or white text, whichever reads better on a #hex colour
	const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color || '');
	if (!m) return '#fff';
	const x = m[1].length === 3 ? m[1].replace(/./g, '$&$&') : m[1];
	const [r, g, b] = [0, 2, 4].map((i) => parseInt(x.slice(i, i + 2), 16) / 255)
		.map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
	return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 ? '#111827' : '#fff';
}
function svg(d) {
	const ns = 'http://www.w3.org/2000/svg';
	const el = document.createElementNS(ns, 'svg');
	const p = document.createElementNS(ns, 'path');
	for (const [k, v] of [['viewBox', '0 0 24 24'], ['fill', 'currentColor'], ['aria-hidden', 'true'], ['focusable', 'false']]) el.setAttribute(k, v);
	p.setAttribute('d', d);
	p.setAttribute('fill-rule', 'evenodd');
	el.append(p);
	return el;
}
const dot = (x) => `M${x - 1.4} 10.5a1.4 1.4 0 1 0 2.8 0a1.4 1.4 0 1 0-2.8 0z`;
const CHAT = `M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9.5L5 21.5V18H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z${dot(8)}${dot(12)}${dot(16)}`;
const THUMB = 'M2 10h4v11H2zM8 21h9.2a2 2 0 0 0 2-1.6l1.6-8A2 2 0 0 0 18.8 9H14l.8-4.2A2 2 0 0 0 12.9 2.5L8 9z';
const CLOCK = 'M12 2a10 10 0 1 1 0 20a10 10 0 1 1 0-20zm0 2a8 8 0 1 0 0 16a8 8 0 1 0 0-16zM11 6h2v5.6l3.6 2.1-1 1.7L11 12.7z';
function setIcon(el, value) {
	const v = typeof value === 'string' ? value.trim() : '';
	const url = /^https:\/\//i.test(v) ? safeHref(v) : null;
	if (url) el.replaceChildren(h('img', { src: url, alt: '' }));
	else if (!v || v === '💬') el.replaceChildren(svg(CHAT));
	else el.textContent = Array.from(v).slice(0, 4).join('');
}

// Styles: /widget/chatbot.css as a constructable stylesheet (CSP-proof); a widget shows once
// they are in.
let sheet = null;
function style(shadow) {
	if (!('adoptedStyleSheets' in shadow)) return Promise.resolve(shadow.append(h('link', { rel: 'stylesheet', href: `${API}/widget/chatbot.css` })));
	if (!sheet) {
		sheet = fetch(`${API}/widget/chatbot.css`, { mode: 'cors', credentials: 'omit' }).then((r) => r.text())
			.then((css) => { const s = new CSSStyleSheet(); s.replaceSync(css); return s; });
	}
	return sheet.then((s) => { shadow.adoptedStyleSheets = [s]; }, () => {});
}

class HttpError extends Error {
	constructor(status, body, retryAfter) {
		super((body && body.error) || `HTTP ${status}`);
		Object.assign(this, { status, body, retryAfter });
	}
}
class StreamError extends Error {}
async function httpError(resp) {
	let body = null;
	try { body = await resp.json(); } catch { /* not JSON */ }
	return new HttpError(resp.status, body, resp.headers.get('Retry-After'));
}
const gone = (s) => s === 404 || s === 410;
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
			} else if (line[0] !== ':') {
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

let count = 0;
const phone = window.matchMedia ? window.matchMedia('(max-width:480px)') : { matches: false };

/** One widget: its own key, visitor, storage, DOM and events. */
function Widget(opts) {
	const n = count++;
	const KEY = str(opts.apiKey, 200) || '';
	const TAG = KEY.replace(/^cb_pk_/, '').slice(0, 12) + (opts.id ? `_${opts.id}` : '');
	const USER_KEY = opts.primary ? 'chatbot_user_id' : `chatbot_user_id_${TAG}`;
	const SESSION_KEY = `chatbot_session_${TAG}`;
	const NO_TRACKING = yes(opts.noTracking);
	const sessionStore = NO_TRACKING ? SESSION : LOCAL;
	const container = typeof opts.container === 'string' ? document.querySelector(opts.container) : opts.container;
	const INLINE_MODE = !!(container && container.nodeType === 1);
	const S = {
		open: INLINE_MODE, started: false, config: null, disabled: null, sessionId: null, creating: null, busy: false,
		reply: null, ctxSent: null, ctxOverride: null, err: '', t: EN, lang: 'en', tag: 'en', dead: false, ui: null,
	};
	const id = { user: null, hash: null, expires: null };
	const handlers = new Map();
	const t = (k, vars) => String(S.t[k] ?? EN[k] ?? k).replace(/\{(\w+)\}/g, (_, v) => (vars && vars[v] != null ? vars[v] : ''));

	function setIdentity(o) {
		id.user = str(o.userIdentifier, 255);
		id.hash = id.user ? str(o.userHash, 200) : null;
		const exp = Number(o.userExpires);
		id.expires = id.hash && Number.isFinite(exp) ? Math.trunc(exp) : null;
		if (!id.expires) id.hash = null;
	}
	setIdentity(opts);
	const verified = () => !!(id.user && id.hash);
	function visitorId() {
		if (id.user) return id.user;
		if (NO_TRACKING) return null;
		let v = read(LOCAL, USER_KEY);
		if (!v || v.length > 255) {
			v = uuid();
			write(LOCAL, USER_KEY, v);
		}
		return v;
	}
	let userId = visitorId();

	function emit(type, data) {
		const evt = Object.assign({ type, source: 'chatbot' }, opts.primary ? null : { widget: n }, data);
		try {
			window.postMessage(evt, location.origin && location.origin !== 'null' ? location.origin : '*');
		} catch { /* no usable origin */ }
		for (const k of [type, '*']) {
			for (const fn of handlers.get(k) || []) {
				try { fn(evt); } catch (e) { setTimeout(() => { throw e; }); }
			}
		}
	}
	function call(method, path, body, headers, signal) {
		const hd = Object.assign({ 'X-API-Key': KEY }, headers);
		if (body !== undefined) hd['Content-Type'] = 'application/json';
		return fetch(API + path, {
			method, headers: hd, signal, mode: 'cors', credentials: 'omit', cache: 'no-store',
			body: body === undefined ? undefined : JSON.stringify(body),
		});
	}
	async function json(resp) {
		if (!resp.ok) throw await httpError(resp);
		return resp.json();
	}
	const idHeaders = () => ({ 'X-Chatbot-User': id.user, 'X-Chatbot-User-Hash': id.hash, 'X-Chatbot-User-Expires': String(id.expires) });

	function describe(err) {
		if (err instanceof HttpError) {
			const s = err.status;
			const e = err.body && err.body.error;
			const what = e ? `: ${e}` : '';
			if (s === 401 && e === 'Invalid visitor identity') return t('eIdentity');
			if (s === 401 && e === 'Verified visitor required') return t('eSignIn');
			if (s === 401) return t('e401');
			if (s === 403) return t('e403', { origin: location.origin });
			if (s === 429) {
				const secs = parseInt(err.retryAfter, 10);
				return t('e429', { wait: secs > 0 ? t(secs === 1 ? 'sec1' : 'secN', { n: secs.toLocaleString(S.tag) }) : t('moment') });
			}
			if (s === 502 || s === 504) return t(`e${s}`, { status: s });
			if (s === 413) return t('e413');
			if (s === 400 || s === 422) return t('e400', { what });
			return t('eOther', { status: s, what });
		}
		if (err instanceof StreamError) return err.message;
		return t('eNet');
	}

	const host = h('div', { id: opts.primary ? 'chatbot-widget' : `chatbot-widget-${n}`, 'data-chatbot-role': 'root', 'data-inline': INLINE_MODE });
	const shadow = host.attachShadow({ mode: 'open' });
	host.style.display = 'none';
	const styled = style(shadow).then(() => { host.style.display = ''; });
	const pid = `chatbot-panel-${n}`;
	const launcherIcon = h('span', { class: 'glyph', 'aria-hidden': 'true' });
	const launcher = INLINE_MODE ? null : h('button', {
		type: 'button', class: 'launcher', 'data-chatbot-role': 'launcher', 'aria-label': t('launcher', { name: t('assistant') }),
		'aria-expanded': 'false', 'aria-controls': pid, 'aria-haspopup': 'dialog', onclick: () => toggle(),
	}, launcherIcon);
	const root = h('div', { class: INLINE_MODE ? 'root inline' : 'root' }, launcher);
	setIcon(launcherIcon, '');
	shadow.append(root);
	root.addEventListener('keydown', (e) => {
		if (e.key === 'Escape' && S.open && !INLINE_MODE) { e.preventDefault(); close(); }
	});

	function ui() {
		if (S.ui) return S.ui;
		const U = {};
		U.icon = h('span', { class: 'icon', 'aria-hidden': 'true' });
		U.title = h('h2', { class: 'title', id: `${pid}-title` });
		U.histBtn = h('button', { type: 'button', class: 'hbtn', 'data-chatbot-role': 'history', 'data-l': 'history', 'aria-expanded': 'false', hidden: true, onclick: () => showHistory(U.hist.hidden) }, svg(CLOCK));
		U.closeBtn = INLINE_MODE ? null : h('button', { type: 'button', class: 'hbtn', 'data-chatbot-role': 'close', 'data-l': 'close', onclick: () => close() }, h('span', { 'aria-hidden': 'true', text: '×' }));
		U.log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'data-chatbot-role': 'log', 'data-l': 'log', tabindex: '0' });
		U.hist = h('ul', { class: 'hist', 'data-chatbot-role': 'conversations', 'data-l': 'history', hidden: true });
		U.starters = h('div', { class: 'starters', role: 'group', 'data-chatbot-role': 'starters', 'data-l': 'starters', hidden: true });
		U.error = h('div', { class: 'error', role: 'alert', 'data-chatbot-role': 'error', hidden: true });
		U.input = h('textarea', { rows: '1', maxlength: String(MAX_MESSAGE), id: `${pid}-input`, 'data-chatbot-role': 'input', 'data-l': 'input', enterkeyhint: 'send' });
		U.send = h('button', { type: 'submit', class: 'send', 'data-chatbot-role': 'send', 'data-x': 'send' });
		U.stop = h('button', { type: 'button', class: 'stop', 'data-chatbot-role': 'stop', 'data-x': 'stop', 'data-l': 'stopLabel', hidden: true, onclick: () => stop() });
		U.composer = h('form', { class: 'composer', 'data-l': 'composer' }, U.input, U.stop, U.send);
		U.foot = h('div', { class: 'foot', 'data-chatbot-role': 'powered-by' });
		U.panel = h('section', {
			class: 'panel', id: pid, role: INLINE_MODE ? 'region' : 'dialog', 'aria-labelledby': `${pid}-title`, 'data-chatbot-role': 'panel', hidden: !INLINE_MODE,
		}, h('div', { class: 'head' }, U.icon, U.title, U.histBtn, U.closeBtn), U.log, U.hist, U.starters, U.error, U.composer, U.foot);
		root.prepend(U.panel);
		U.composer.addEventListener('submit', (e) => { e.preventDefault(); sendMessage(U.input.value); });
		U.input.addEventListener('keydown', (e) => {
			if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendMessage(U.input.value); }
		});
		U.input.addEventListener('input', autosize);
		S.ui = U;
		setIcon(U.icon, '');
		applyConfig();
		if (S.err) showError(S.err);
		if (S.disabled) disable(S.disabled);
		return U;
	}

	function applyWords() {
		root.lang = S.tag;
		root.dir = /^(ar|he)$/.test(S.lang) ? 'rtl' : 'ltr';
		const c = S.config || {};
		const name = own(c, 'botName', 80) || t('assistant');
		if (launcher) launcher.setAttribute('aria-label', t('launcher', { name }));
		const U = S.ui;
		if (!U) return;
		U.title.textContent = name;
		U.input.placeholder = own(c, 'placeholder', 120) || t('placeholder');
		for (const el of U.panel.querySelectorAll('[data-l]')) el.setAttribute('aria-label', t(el.dataset.l));
		for (const el of U.panel.querySelectorAll('[data-x]')) el.textContent = t(el.dataset.x);
		U.foot.textContent = typeof c.poweredBy === 'string' ? c.poweredBy.slice(0, 120) : '';
	}
	/** An owner's own text for a bot config key; the stock English default is not theirs. */
	function own(c, k, max) {
		const v = str(c[k], max);
		return v && v !== STOCK[k] ? v : null;
	}

	function applyConfig() {
		const c = S.config || {};
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
		root.classList.toggle('left', c.position === 'left'); // logical CSS: mirrored in RTL
		setIcon(launcherIcon, c.botIcon);
		if (S.ui) setIcon(S.ui.icon, c.botIcon);
		applyWords();
		if (S.ui) showWelcome();
	}

	function autosize() {
		const i = S.ui.input;
		i.style.height = 'auto';
		i.style.height = `${Math.min(i.scrollHeight + 2, 130)}px`;
	}
	function showError(text) {
		S.err = text;
		if (!S.ui) return;
		S.ui.error.textContent = text;
		S.ui.error.hidden = false;
	}
	function clearError() {
		if (S.disabled) return;
		S.err = '';
		if (S.ui) { S.ui.error.textContent = ''; S.ui.error.hidden = true; }
	}
	function disable(reason) {
		S.disabled = reason;
		showError(reason);
		if (!S.ui) return;
		S.ui.input.disabled = true;
		S.ui.send.disabled = true;
	}
	const nearBottom = () => { const l = S.ui.log; return l.scrollHeight - l.scrollTop - l.clientHeight < 60; };
	function scrollDown(force) { if (force || nearBottom()) S.ui.log.scrollTop = S.ui.log.scrollHeight; }

	function addMessage(author, text, mid) {
		const U = ui();
		const body = h('div', { class: 'body', dir: 'auto' }); // each text in its own direction
		const el = h('div', {
			class: `msg ${author}`, 'data-chatbot-role': 'message', 'data-chatbot-author': author, 'data-message-id': mid,
		}, h('span', { class: 'sr', text: `${author === 'user' ? t('you') : U.title.textContent}: ` }), body);
		if (text != null) {
			if (author === 'user') body.textContent = text;
			else renderMarkdown(text, body);
		}
		U.log.append(el);
		U.starters.hidden = true;
		scrollDown(true);
		return { el, body };
	}

	function setBusy(busy) {
		const U = S.ui;
		S.busy = busy;
		U.send.disabled = busy || !!S.disabled;
		U.stop.hidden = !busy;
		U.stop.disabled = false;
		root.toggleAttribute('data-busy', busy);
	}

	/** Thumbs up / down under a finished reply; pressing the pressed one takes it back. */
	function feedbackButtons(el, mid) {
		if (!mid || el.querySelector('.fb')) return;
		const bar = h('div', { class: 'fb', role: 'group', 'aria-label': t('good') + ' / ' + t('bad'), 'data-chatbot-role': 'feedback' });
		const mk = (rating, name) => h('button', {
			type: 'button', class: rating, 'aria-label': t(name), 'aria-pressed': 'false', 'data-chatbot-role': `feedback-${rating}`, onclick: () => rate(rating),
		}, svg(THUMB));
		const up = mk('up', 'good');
		const down = mk('down', 'bad');
		bar.append(up, down);
		el.append(bar);
		async function rate(rating) {
			const undo = (rating === 'up' ? up : down).getAttribute('aria-pressed') === 'true';
			try {
				const resp = await call(undo ? 'DELETE' : 'POST', `/api/chat/messages/${encodeURIComponent(mid)}/feedback`, undo ? undefined : { rating });
				if (!resp.ok) throw await httpError(resp);
				up.setAttribute('aria-pressed', String(!undo && rating === 'up'));
				down.setAttribute('aria-pressed', String(!undo && rating === 'down'));
				bar.title = undo ? '' : t('thanks');
				emit('feedback_sent', { messageId: mid, rating: undo ? null : rating, sessionId: S.sessionId });
			} catch (err) {
				reportError(err);
			}
		}
	}

	function showWelcome() {
		const U = S.ui;
		const c = S.config;
		if (!U || !c) return;
		const text = own(c, 'welcomeMessage', 500) || (c.welcomeMessage === '' ? '' : t('welcome'));
		let w = U.log.querySelector('[data-chatbot-role="welcome"]');
		if (text.trim()) {
			if (!w) U.log.prepend(w = h('div', { class: 'msg assistant', 'data-chatbot-role': 'welcome' }, h('div', { class: 'body', dir: 'auto' })));
			renderMarkdown(text, w.firstChild);
		} else if (w) w.remove();
		const prompts = Array.isArray(c.starterPrompts) ? c.starterPrompts.filter((p) => typeof p === 'string' && p.trim()).slice(0, 6) : [];
		U.starters.replaceChildren(...prompts.map((p) => h('button', { type: 'button', text: p.slice(0, 120), onclick: () => sendMessage(p) })));
		U.starters.hidden = !prompts.length || !!U.log.querySelector('[data-chatbot-role="message"]');
	}

	async function loadConfig() {
		let c = null;
		let failed = null;
		// The console's preview (`preview`: the note shown on send) has no key and no network.
		if (opts.preview) c = S.config = Object.assign({}, opts.config);
		else if (KEY) {
			try {
				c = S.config = Object.assign(await json(await call('GET', '/api/chat/sessions/bot-config')), opts.config);
			} catch (err) {
				failed = err;
			}
		}
		const p = pickLang(str(opts.locale || opts.lang, 35) || [], (c && str(c.locale, 35)) || [], navigator.languages || [navigator.language]);
		S.lang = p.lang;
		S.tag = p.tag;
		const words = await Promise.all([pack('en'), p.lang === 'en' ? null : pack(p.lang)]);
		S.t = Object.assign({}, EN, ...words, c && c.strings && typeof c.strings === 'object' ? c.strings : null);
		applyConfig();
		if (failed) reportError(failed, true);
		if (!KEY && !opts.preview) {
			disable(t('eNoKey'));
			emit('error', { error: S.disabled, status: 0 });
		}
	}

	function reportError(err, fatalAuth) {
		const text = describe(err);
		const status = err instanceof HttpError ? err.status : 0;
		if (fatalAuth && (status === 401 || status === 403) && !(err.body && /visitor/i.test(err.body.error || ''))) disable(text);
		else showError(text);
		const detail = err instanceof HttpError ? err.body && err.body.detail : err.detail;
		emit('error', { error: text, status, detail: detail || undefined });
	}

	function pageText() {
		const b = document.body;
		if (!b) return '';
		const parts = [];
		for (const node of b.childNodes) {
			if (node === host || (node.id || '').startsWith('chatbot-widget')) continue;
			if (node.nodeType === 3) parts.push(node.textContent);
			else if (node.nodeType === 1 && !/^(SCRIPT|STYLE|NOSCRIPT|TEMPLATE|IFRAME|SVG)$/i.test(node.tagName) && !node.contains(host)) {
				parts.push(node.innerText || '');
			}
			if (parts.join('').length > CONTEXT_CHARS * 2) break;
		}
		return parts.join('\n').replace(/[ \t\f\v\u00a0]+/g, ' ').replace(/ *\n[\s]*/g, '\n').trim();
	}
	function pageContext() {
		const o = S.ctxOverride || {};
		const s = (v) => (typeof v === 'string' ? v : null);
		return {
			url: (s(o.url) || location.origin + location.pathname).slice(0, 2000), // no query: it may hold tokens
			title: (s(o.title) ?? document.title ?? '').slice(0, 300),
			content: (s(o.content) ?? pageText()).slice(0, CONTEXT_CHARS),
		};
	}
	function remember(sid) {
		write(sessionStore, SESSION_KEY, sid ? JSON.stringify({ id: sid, user: userId }) : null);
	}
	async function createSession() {
		const ctx = pageContext();
		const body = { config: { pageContext: ctx } };
		if (userId) body.user_identifier = userId;
		if (verified()) Object.assign(body, { userHash: id.hash, userExpires: id.expires });
		const d = await json(await call('POST', '/api/chat/sessions/create', body));
		S.sessionId = d.sessionId;
		S.ctxSent = JSON.stringify(ctx);
		remember(d.sessionId);
		emit('session_created', Object.assign({ sessionId: d.sessionId, userId }, d.verified ? { verified: true } : null));
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
	/** Shows a stored conversation; false when it is gone. */
	async function load(sid) {
		const resp = await call('GET', `/api/chat/messages/history/${encodeURIComponent(sid)}?limit=100`);
		if (gone(resp.status)) return false;
		const d = await json(resp);
		S.sessionId = sid;
		remember(sid);
		for (const m of d.messages || []) {
			if ((m.role === 'user' || m.role === 'assistant') && typeof m.content === 'string') {
				const { el } = addMessage(m.role, m.content, m.id);
				el.dataset.chatbotState = m.status === 'cancelled' ? 'cancelled' : 'done';
				if (m.role === 'assistant') feedbackButtons(el, m.id);
			}
		}
		return true;
	}
	async function restore() {
		let saved = null;
		try { saved = JSON.parse(read(sessionStore, SESSION_KEY) || 'null'); } catch { /* corrupt */ }
		if (!saved || typeof saved.id !== 'string' || (saved.user ?? null) !== userId) return false;
		if (await load(saved.id)) return true;
		remember(null);
		return false;
	}
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
		if (S.disabled || S.dead || opts.preview) return;
		ui().histBtn.hidden = !verified();
		try {
			if (!(await restore()) && !INLINE_MODE) await ensureSession();
		} catch (err) {
			reportError(err, true);
		}
	}

	/** The verified visitor's earlier conversations, in place of the log; `show` false goes back. */
	async function showHistory(show) {
		const U = ui();
		U.hist.hidden = !show;
		U.log.hidden = show;
		U.histBtn.setAttribute('aria-expanded', String(show));
		U.histBtn.setAttribute('aria-label', t(show ? 'back' : 'history'));
		if (!show) return;
		U.starters.hidden = true;
		U.hist.replaceChildren();
		const newBtn = h('button', { type: 'button', class: 'new', text: t('newChat'), onclick: () => pickConversation(null) });
		U.hist.append(h('li', null, newBtn));
		newBtn.focus();
		try {
			const d = await json(await call('GET', '/api/chat/visitor/sessions', undefined, idHeaders()));
			const fmt = new Intl.DateTimeFormat(S.tag, { dateStyle: 'medium', timeStyle: 'short' });
			const list = (d.sessions || []).filter((s) => s.messageCount > 0);
			for (const s of list) {
				const when = new Date(s.lastActivity);
				U.hist.append(h('li', null, h('button', { type: 'button', 'data-session-id': s.sessionId, onclick: () => pickConversation(s.sessionId) },
					s.preview || t('untitled'),
					h('small', null, h('time', { datetime: s.lastActivity, text: fmt.format(when) }), ` · ${t('messages', { n: s.messageCount.toLocaleString(S.tag) })}`))));
			}
			if (!list.length) U.hist.append(h('li', { class: 'note', text: t('noHistory') }));
		} catch (err) {
			reportError(err);
		}
	}
	async function pickConversation(sid) {
		const U = ui();
		if (S.busy) return;
		clearConversation();
		showHistory(false);
		try {
			if (sid) {
				await json(await call('POST', `/api/chat/visitor/sessions/${encodeURIComponent(sid)}/continue`, undefined, idHeaders()));
				await load(sid);
			}
		} catch (err) {
			reportError(err);
		}
		U.input.focus();
	}
	function clearConversation() {
		if (S.reply) stop();
		forgetSession();
		if (S.ui) {
			S.ui.log.querySelectorAll('[data-chatbot-role="message"]').forEach((m) => m.remove());
			showWelcome();
		}
	}

	function onStreamEvent(r, ev) {
		let d = {};
		try { d = JSON.parse(ev.data || '{}') || {}; } catch { /* keep {} */ }
		if (ev.event === 'start') {
			r.messageId = d.messageId || r.messageId;
			r.el.dataset.messageId = r.messageId || '';
			r.el.dataset.chatbotProvider = d.provider || '';
			if (r.stopRequested) cancel(r);
		} else if (ev.event === 'delta') {
			const k = Number(ev.id);
			if (ev.id != null && Number.isFinite(k)) {
				if (k <= r.lastId) return; // already shown before a resume
				r.lastId = k;
			}
			if (typeof d.content === 'string' && d.content) {
				r.text += d.content;
				paint(r);
			}
		} else if (ev.event === 'done') r.done = d;
		else if (ev.event === 'error') r.error = d;
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
	async function readOnce(r, resp) {
		const reader = resp.body.getReader();
		const decoder = new TextDecoder();
		const parse = sseParser((ev) => onStreamEvent(r, ev));
		try {
			while (!r.done && !r.error) {
				const { value, done } = await reader.read();
				if (done) break;
				parse(decoder.decode(value, { stream: true }));
			}
		} catch {
			if (!r.userAbort) r.drops += 1; // a dropped connection: resumed below
		} finally {
			reader.cancel().catch(() => {});
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
			if (!r.messageId || tries >= 6) throw new StreamError(t('eLost'));
			await sleep(Math.min(8000, 300 * 2 ** tries) * (0.8 + Math.random() * 0.4));
			tries += 1;
			r.el.dataset.chatbotResumes = String((+r.el.dataset.chatbotResumes || 0) + 1);
			let again;
			try {
				again = await connect(r, 'GET', `/api/chat/messages/stream/${encodeURIComponent(r.messageId)}`, undefined, { 'Last-Event-ID': String(r.lastId) });
			} catch {
				continue; // still offline
			}
			if (!again.ok) {
				if (again.status >= 500 || again.status === 429) continue;
				throw await httpError(again);
			}
			const before = r.lastId;
			await readOnce(r, again);
			if (r.lastId > before) tries = 0;
		}
		if (r.error) throw new StreamError(t('eStream', { error: r.error.error || '?' }));
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
		if (reason === 'cancelled') r.el.append(h('span', { class: 'note', text: t('stopped') }));
		else if (reason !== 'stop') r.el.append(h('span', { class: 'note', text: t('cut') }));
		settle(r, reason === 'cancelled' ? 'cancelled' : 'done', reason);
		if (r.text && r.messageId) feedbackButtons(r.el, r.messageId);
		scrollDown(false);
		emit('message_received', { message: r.text, sessionId: r.sessionId, userId, messageId: r.messageId, finishReason: reason });
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
		if (S.busy || S.disabled || S.dead) return false;
		if (opts.preview) { showError(String(opts.preview)); return false; }
		const U = ui();
		if (Array.from(text).length > MAX_MESSAGE) {
			showError(t('eLong', { n: MAX_MESSAGE.toLocaleString(S.tag) }));
			return false;
		}
		if (!U.hist.hidden) showHistory(false);
		clearError();
		setBusy(true);
		U.input.value = '';
		autosize();
		addMessage('user', text);
		const { el, body } = addMessage('assistant', null);
		el.setAttribute('aria-busy', 'true');
		el.dataset.chatbotState = 'streaming';
		body.append(h('span', { class: 'typing', 'data-chatbot-role': 'typing' }, h('i'), h('i'), h('i'), h('span', { class: 'sr', text: t('typing') })));
		const r = { el, body, text: '', lastId: 0, messageId: null, sessionId: null, done: null, error: null, drops: 0 };
		S.reply = r;
		try {
			await streamReply(r, text);
			return true;
		} catch (err) {
			clearTimeout(r.timer);
			if (r.text) {
				renderMarkdown(r.text, r.body);
				r.el.append(h('span', { class: 'note', text: t('interrupted') }));
				settle(r, 'error');
			} else el.remove();
			if (err instanceof StreamError && r.error) err.detail = r.error.detail;
			reportError(err, true);
			return false;
		} finally {
			if (S.reply === r) S.reply = null;
			setBusy(false);
			if (S.open && !S.disabled && !INLINE_MODE) U.input.focus({ preventScroll: true });
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
		S.ui.stop.disabled = true;
		if (r.messageId) cancel(r);
	}

	const vv = window.visualViewport;
	let locked = null;
	function fit() {
		if (!S.ui || INLINE_MODE) return;
		const small = phone.matches && S.open;
		root.style.setProperty('--cb-vh', small && vv ? `${Math.round(vv.height)}px` : '100%');
		root.style.setProperty('--cb-top', small && vv ? `${Math.round(vv.offsetTop)}px` : '0px');
		const de = document.documentElement;
		if (small && locked == null) {
			locked = [de.style.overflow, document.body.style.overflow];
			de.style.overflow = 'hidden';
			document.body.style.overflow = 'hidden';
		} else if (!small && locked != null) {
			[de.style.overflow, document.body.style.overflow] = locked;
			locked = null;
		}
		if (small && document.activeElement === host) scrollDown(true);
	}
	if (vv) { vv.addEventListener('resize', fit); vv.addEventListener('scroll', fit); }
	if (phone.addEventListener) phone.addEventListener('change', fit);

	function open() {
		if (S.dead) return;
		const U = ui();
		if (S.open && !INLINE_MODE) return;
		if (!INLINE_MODE) {
			S.open = true;
			U.panel.hidden = false;
			root.classList.add('open');
			launcher.setAttribute('aria-expanded', 'true');
			(U.input.disabled ? U.closeBtn : U.input).focus();
			fit();
			emit('widget_opened', {});
		}
		if (!S.started) {
			S.started = true;
			started = start();
		}
	}
	function close() {
		if (!S.open || INLINE_MODE) return;
		S.open = false;
		S.ui.panel.hidden = true;
		root.classList.remove('open');
		launcher.setAttribute('aria-expanded', 'false');
		fit();
		launcher.focus();
		emit('widget_minimized', {});
	}
	const toggle = () => (S.open ? close() : open());

	/** A new visitor (sign-in, sign-out): the old conversation is put away, not shown to them. */
	function switchVisitor(o, forget) {
		if (forget) write(LOCAL, USER_KEY, null);
		setIdentity(o);
		const before = userId;
		userId = visitorId();
		if (before !== userId || forget) clearConversation();
		if (S.ui) {
			S.ui.histBtn.hidden = !verified();
			showHistory(false);
		}
		S.started = false;
		if (S.open || INLINE_MODE) { S.started = true; started = start(); }
		emit('identity_changed', { userId, previousUserId: before, verified: verified() });
	}

	let started = Promise.resolve();
	const configReady = Promise.all([loadConfig(), styled]);

	function mount() {
		if (S.dead) return;
		(INLINE_MODE ? container : document.body).append(host);
		if (INLINE_MODE) open();
		configReady.then(() => emit('widget_ready', { botName: S.ui ? S.ui.title.textContent : own(S.config || {}, 'botName', 80) || t('assistant'), available: !S.disabled }));
	}
	if (INLINE_MODE || document.body) mount();
	else document.addEventListener('DOMContentLoaded', mount, { once: true });

	return {
		open,
		close,
		toggle,
		async send(text) {
			open();
			await started;
			return sendMessage(text);
		},
		on(type, fn) {
			if (typeof fn !== 'function') return () => {};
			if (!handlers.has(type)) handlers.set(type, new Set());
			handlers.get(type).add(fn);
			return () => handlers.get(type).delete(fn);
		},
		// The console's live preview: bot config keys over the saved ones, shown at once.
		setConfig(o) {
			S.config = Object.assign(S.config || {}, o);
			if (o && o.strings) Object.assign(S.t, o.strings);
			applyConfig();
		},
		setPageContext(ctx) {
			S.ctxOverride = ctx && typeof ctx === 'object' ? Object.assign({}, ctx) : null;
		},
		identify(o) { switchVisitor(o && typeof o === 'object' ? o : {}, false); },
		reset() { switchVisitor({}, true); },
		destroy() {
			if (S.dead) return;
			if (S.reply) { S.reply.userAbort = true; if (S.reply.conn) S.reply.conn.abort(); }
			S.open = false;
			fit();
			S.dead = true;
			if (vv) { vv.removeEventListener('resize', fit); vv.removeEventListener('scroll', fit); }
			if (phone.removeEventListener) phone.removeEventListener('change', fit);
			host.remove();
			handlers.clear();
		},
		get sessionId() { return S.sessionId; },
		get userId() { return userId; },
		get isOpen() { return S.open; },
		get verified() { return verified(); },
		get language() { return S.lang; },
		_dropConnection() { if (S.reply && S.reply.conn) S.reply.conn.abort(); },
	};
}

let main = null;
const fromScript = Object.fromEntries(Q); // apiKey, userIdentifier, userHash, userExpires, lang, noTracking
const api = {
	version: '2',
	init(o) {
		if (main) main.destroy();
		main = Widget(Object.assign({}, o, { primary: true }));
		return api;
	},
	create: (o) => Widget(Object.assign({}, o, { primary: false })),
};
for (const k of ['open', 'close', 'toggle', 'send', 'on', 'setPageContext', 'identify', 'reset']) {
	api[k] = (...a) => (main ? main[k](...a) : undefined);
}
api.destroy = () => { if (main) main.destroy(); main = null; };
for (const k of ['sessionId', 'userId', 'isOpen', 'verified', 'language']) {
	Object.defineProperty(api, k, { get: () => (main ? main[k] : null), enumerable: true });
}
api._dropConnection = () => main && main._dropConnection();
window.Chatbot = api;
if (str(fromScript.apiKey, 200)) main = Widget(Object.assign(fromScript, { primary: true }));
})();
