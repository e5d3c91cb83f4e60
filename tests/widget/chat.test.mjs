// Real replies from the service (the offline provider, slowed by OFFLINE_WORD_DELAY_MS so a
// reply visibly grows): streaming token by token, every postMessage event, the conversation
// surviving a reload, stop, and resuming after the connection is cut, both by a reader error
// and by a stream that ends without `done`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  SERVICE, HOST, PK, OUT, PAGE_TEXT, startHost, launch, newPage, pageUrl, assertNoProblems,
  waitForEvent, events, api, role, openWidget, messages,
} from './harness.mjs';

let browser;
let host;
before(async () => {
  host = await startHost();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  host?.close();
});

const QUESTION = 'When is the workshop open?';
/** Text as the rendered Markdown shows it: markers gone, whitespace collapsed. */
const plain = (s) => s.replace(/[*_`#]/g, '').replace(/\s+/g, ' ').trim();
const assistant = (page) => page.locator(`${role('message')}[data-chatbot-author="assistant"]`).last();

/**
 * Watches the newest assistant message from inside the page until it stops streaming:
 * whether the typing indicator and the stop button were seen, and each partial text length.
 */
function watchReply(page) {
  return page.evaluate(() => new Promise((resolve, reject) => {
    const root = document.getElementById('chatbot-widget').shadowRoot;
    const before = root.querySelectorAll('[data-chatbot-author="assistant"]').length;
    const seen = { typing: false, stopVisible: false, lengths: [] };
    const started = Date.now();
    const tick = setInterval(() => {
      const all = root.querySelectorAll('[data-chatbot-role="message"][data-chatbot-author="assistant"]');
      if (all.length <= before) return;
      const m = all[all.length - 1];
      if (m.querySelector('[data-chatbot-role="typing"]')) seen.typing = true;
      if (!root.querySelector('[data-chatbot-role="stop"]').hidden) seen.stopVisible = true;
      const text = m.querySelector('.body').textContent;
      if (m.dataset.chatbotState === 'streaming') {
        if (!m.querySelector('[data-chatbot-role="typing"]') && seen.lengths.at(-1) !== text.length) seen.lengths.push(text.length);
      } else {
        clearInterval(tick);
        seen.state = m.dataset.chatbotState;
        seen.final = text;
        resolve(seen);
      }
      if (Date.now() - started > 60_000) { clearInterval(tick); reject(new Error('no end of reply')); }
    }, 10);
  }));
}

async function send(page, text) {
  const input = page.locator(role('input'));
  await input.fill(text);
  await input.press('Enter');
}

/** The last assistant message the service stored for the session. */
async function storedReply(sessionId) {
  const { status, body } = await api(`/api/chat/messages/history/${sessionId}`);
  assert.equal(status, 200);
  return body.messages.filter((m) => m.role === 'assistant').at(-1);
}

/** The offline provider's whole answer to `question` about the host page, asked by API. */
async function fullAnswer(question) {
  const created = await api('/api/chat/sessions/create', {
    method: 'POST',
    body: JSON.stringify({ config: { pageContext: { url: `${HOST}/page`, title: 'Harbour Bikes', content: `Harbour Bikes\n${PAGE_TEXT}` } } }),
  });
  const sent = await api('/api/chat/messages/send', {
    method: 'POST', body: JSON.stringify({ sessionId: created.body.sessionId, message: question }),
  });
  assert.equal(sent.status, 200);
  return sent.body.response;
}

test('a reply streams token by token, and the host page gets every event', async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(pageUrl());
  await waitForEvent(page, 'widget_ready');
  await openWidget(page);
  const watching = watchReply(page);
  await send(page, QUESTION);
  const seen = await watching;

  assert.equal(seen.typing, true, 'a typing indicator until the first token');
  assert.equal(seen.stopVisible, true, 'a stop button while it streams');
  assert.equal(seen.state, 'done');
  const partial = seen.lengths.filter((n) => n > 0 && n < seen.final.length);
  assert.ok(new Set(partial).size >= 2, `the reply grew while streaming: ${seen.lengths.join(',')} of ${seen.final.length}`);
  assert.match(seen.final, /Tuesday to Saturday/, 'the offline provider answered from the page');

  const sessionId = await page.evaluate(() => window.Chatbot.sessionId);
  const stored = await storedReply(sessionId);
  assert.equal(plain(seen.final), plain(stored.content), 'the shown reply is the stored one');
  const reply = assistant(page);
  assert.equal(await reply.getAttribute('data-chatbot-finish-reason'), 'stop');
  assert.equal(await reply.getAttribute('data-chatbot-repaired'), null);
  assert.equal(await reply.getAttribute('aria-busy'), null);
  assert.equal(await page.locator(role('stop')).isVisible(), false);
  assert.deepEqual((await messages(page)).map(([a, t]) => [a, plain(t)]), [['user', QUESTION], ['assistant', plain(stored.content)]]);

  mkdirSync(OUT, { recursive: true });
  const shot = fileURLToPath(new URL('widget-open.png', OUT));
  await page.screenshot({ path: shot });
  console.log(`screenshot: ${shot} (${statSync(shot).size} bytes)`);

  await page.locator(role('close')).click();
  await waitForEvent(page, 'widget_minimized');
  // An `error` event too: the next reply is refused with 429.
  await page.route(`${SERVICE}/api/chat/messages/stream`, (route) => route.fulfill({
    status: 429,
    headers: { 'access-control-allow-origin': HOST, 'access-control-expose-headers': 'Retry-After', 'retry-after': '3', 'content-type': 'application/json' },
    body: '{"error":"Too many requests"}',
  }));
  assert.equal(await page.evaluate(() => window.Chatbot.send('again')), false);

  const all = await events(page);
  const userId = await page.evaluate(() => localStorage.getItem('chatbot_user_id'));
  assert.deepEqual(all.map((e) => e.type), [
    'widget_ready', 'widget_opened', 'session_created', 'message_sent', 'message_received',
    'widget_minimized', 'widget_opened', 'message_sent', 'error',
  ]);
  const byType = (t) => all.find((e) => e.type === t);
  assert.deepEqual(byType('session_created'), { type: 'session_created', source: 'chatbot', sessionId, userId });
  assert.deepEqual(byType('message_sent'), { type: 'message_sent', source: 'chatbot', message: QUESTION, sessionId, userId });
  assert.deepEqual(byType('message_received'), {
    type: 'message_received', source: 'chatbot', message: stored.content, sessionId, userId,
    messageId: stored.id, finishReason: 'stop',
  });
  assert.equal(byType('error').status, 429);
  assertNoProblems(problems, [/status of 429/]);
  await context.close();
});

test('the conversation survives a reload: same visitor, same session, history shown', async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(pageUrl());
  await openWidget(page);
  await send(page, QUESTION);
  await page.waitForFunction(() => window.__events.some((e) => e.type === 'message_received'));
  const before = {
    userId: await page.evaluate(() => localStorage.getItem('chatbot_user_id')),
    sessionId: await page.evaluate(() => window.Chatbot.sessionId),
    messages: await messages(page),
  };
  assert.equal(before.messages.length, 2);

  await page.reload();
  await waitForEvent(page, 'widget_ready');
  await openWidget(page);
  assert.equal(await page.evaluate(() => window.Chatbot.sessionId), before.sessionId);
  assert.equal(await page.evaluate(() => localStorage.getItem('chatbot_user_id')), before.userId);
  assert.deepEqual(await messages(page), before.messages, 'the history is back');
  assert.equal((await events(page)).filter((e) => e.type === 'session_created').length, 0);

  // Going on in the same session.
  await send(page, 'How much is a tune-up?');
  await page.waitForFunction(() => window.__events.some((e) => e.type === 'message_received'));
  const { body } = await api(`/api/chat/messages/history/${before.sessionId}`);
  assert.equal(body.messages.length, 4);
  const session = await api(`/api/chat/sessions/${before.sessionId}`);
  assert.equal(session.body.user_identifier, before.userId);
  assertNoProblems(problems);
  await context.close();
});

test('a stored session that is gone is replaced by a new one without an error', async () => {
  const { context, page, problems } = await newPage(browser);
  const key = `chatbot_session_${PK.replace(/^cb_pk_/, '').slice(0, 12)}`;
  await page.goto(pageUrl());
  await waitForEvent(page, 'widget_ready');
  const userId = await page.evaluate(() => localStorage.getItem('chatbot_user_id'));
  await page.evaluate(([k, u]) => localStorage.setItem(k, JSON.stringify({ id: 'no-such-session', user: u })), [key, userId]);
  await page.reload();
  await openWidget(page);
  const created = await waitForEvent(page, 'session_created');
  assert.notEqual(created.sessionId, 'no-such-session');
  assert.equal(await page.locator(role('error')).isVisible(), false);
  assertNoProblems(problems, [/status of 404/]);
  await context.close();
});

test('stop ends the reply early with finishReason cancelled', async () => {
  const full = await fullAnswer(QUESTION);
  const { context, page, problems } = await newPage(browser);
  const cancels = [];
  page.on('request', (r) => { if (/\/cancel$/.test(r.url())) cancels.push(r.url()); });
  await page.goto(pageUrl());
  await openWidget(page);
  await send(page, QUESTION);
  await page.waitForFunction(() => {
    const root = document.getElementById('chatbot-widget').shadowRoot;
    const m = [...root.querySelectorAll('[data-chatbot-author="assistant"]')].at(-1);
    return m && m.dataset.messageId && m.querySelector('.body').textContent.length > 20;
  });
  await page.locator(role('stop')).click();
  const received = await waitForEvent(page, 'message_received');
  assert.equal(received.finishReason, 'cancelled');
  const reply = assistant(page);
  assert.equal(await reply.getAttribute('data-chatbot-state'), 'cancelled');
  assert.match(await reply.textContent(), /Stopped$/);
  const shown = await reply.locator('.body').textContent();
  assert.ok(received.message.length < full.length, `ended early: ${received.message.length} of ${full.length}`);
  assert.equal(plain(shown), plain(received.message));
  assert.equal(cancels.length, 1);
  assert.ok(cancels[0].endsWith(`/api/chat/messages/${received.messageId}/cancel`));
  const stored = await storedReply(received.sessionId);
  assert.equal(stored.id, received.messageId);
  assert.equal(stored.content, received.message, 'what was generated is kept');
  assert.equal(await page.locator(role('stop')).isVisible(), false);
  assert.equal(await page.locator(role('input')).isDisabled(), false);
  assertNoProblems(problems);
  await context.close();
});

test('after the connection is cut mid-stream, the widget resumes with Last-Event-ID', async () => {
  const full = await fullAnswer(QUESTION);
  const { context, page, problems } = await newPage(browser);
  const resumes = [];
  page.on('request', (r) => {
    if (r.method() === 'GET' && r.url().includes('/api/chat/messages/stream/')) resumes.push(r.headers()['last-event-id']);
  });
  await page.goto(pageUrl());
  await openWidget(page);
  const watching = watchReply(page);
  await send(page, QUESTION);
  await page.waitForFunction(() => {
    const root = document.getElementById('chatbot-widget').shadowRoot;
    const m = [...root.querySelectorAll('[data-chatbot-author="assistant"]')].at(-1);
    return m && m.dataset.messageId && m.querySelector('.body').textContent.length > 20;
  });
  const shownWhenCut = await assistant(page).locator('.body').textContent();
  await page.evaluate(() => window.Chatbot._dropConnection()); // the fetch dies as on a network failure
  const seen = await watching;

  assert.equal(seen.state, 'done');
  assert.ok(shownWhenCut.length < full.length, 'the cut came before the end');
  assert.ok(resumes.length >= 1, 'resumed');
  assert.match(resumes[0], /^[1-9]\d*$/, `Last-Event-ID: ${resumes[0]}`);
  assert.equal(plain(seen.final), plain(full), 'the complete reply, nothing lost and nothing twice');
  const reply = assistant(page);
  assert.equal(await reply.getAttribute('data-chatbot-repaired'), null, 'the deltas themselves made the whole text');
  const received = await waitForEvent(page, 'message_received');
  assert.equal(received.message, full);
  assert.equal((await storedReply(received.sessionId)).content, full);
  assertNoProblems(problems);
  await context.close();
});

test('a stream that ends without done (a proxy cut it) is resumed too', async () => {
  const full = await fullAnswer(QUESTION);
  const { context, page, problems } = await newPage(browser);
  let cutAfter = null;
  await page.route(`${SERVICE}/api/chat/messages/stream`, async (route) => {
    if (route.request().method() !== 'POST') return route.fallback();
    const resp = await route.fetch();
    const frames = (await resp.text()).split('\n\n').filter((f) => f.trim());
    const kept = frames.slice(0, 4); // start and three deltas
    cutAfter = kept.at(-1).match(/^id: (\d+)/m)[1];
    return route.fulfill({ response: resp, body: `${kept.join('\n\n')}\n\n` });
  });
  const resumes = [];
  page.on('request', (r) => {
    if (r.method() === 'GET' && r.url().includes('/api/chat/messages/stream/')) resumes.push(r.headers()['last-event-id']);
  });
  await page.goto(pageUrl());
  await openWidget(page);
  await send(page, QUESTION);
  const received = await waitForEvent(page, 'message_received', 30_000);
  assert.equal(received.finishReason, 'stop');
  assert.equal(received.message, full);
  assert.deepEqual(resumes, [cutAfter], 'one resume, after the last delta that arrived');
  assert.equal(await assistant(page).getAttribute('data-chatbot-repaired'), null);
  assert.equal(plain(await assistant(page).locator('.body').textContent()), plain(full));
  assertNoProblems(problems);
  await context.close();
});

test('a real reply streams on a host page with a strict Content-Security-Policy', async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(pageUrl({ csp: true }));
  await openWidget(page);
  const watching = watchReply(page);
  await send(page, QUESTION);
  const seen = await watching;
  assert.equal(seen.state, 'done');
  assert.ok(seen.lengths.length >= 2, 'streamed in pieces');
  assert.deepEqual(await page.evaluate(() => window.__violations), [], 'no CSP violations');
  assertNoProblems(problems);
  await context.close();
});
