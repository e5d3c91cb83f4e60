// The widget on a host page of another origin: loading, theming, opening and closing,
// visitor identity, noTracking, errors for bad keys and failing requests, the safe Markdown
// subset, a strict Content-Security-Policy, narrow screens and the demo page. Replies here
// are stubbed with playwright's routing where a test needs a particular stream; the real
// streaming is in chat.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  SERVICE, HOST, FOREIGN_PK, PAGE_TEXT, startHost, launch, newPage, pageUrl, assertNoProblems,
  waitForEvent, events, api, role, openWidget, messages, focusedRole, sse,
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const CORS = { 'access-control-allow-origin': HOST, 'access-control-expose-headers': 'Retry-After, ETag' };

/** Answers the next POST /api/chat/messages/stream requests with these stubs, in order. */
async function stubStream(page, ...replies) {
  const seen = [];
  await page.route(`${SERVICE}/api/chat/messages/stream`, async (route) => {
    if (route.request().method() !== 'POST') return route.fallback();
    seen.push(JSON.parse(route.request().postData()));
    const r = replies.shift();
    if (!r) return route.abort();
    return route.fulfill({
      status: r.status || 200,
      headers: { ...CORS, 'content-type': r.status ? 'application/json' : 'text/event-stream', ...(r.headers || {}) },
      body: r.body,
    });
  });
  return seen;
}

const startFrame = (messageId = 'stub-1') => ({
  event: 'start', data: { sessionId: 's', messageId, userMessageId: 'u', provider: 'offline', model: 'stub' },
});

test('loads from another origin, themes itself from bot-config, opens and closes with the keyboard', async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(pageUrl());
  const ready = await waitForEvent(page, 'widget_ready');
  assert.equal(ready.available, true);

  const launcher = page.locator(role('launcher'));
  await launcher.waitFor();
  assert.equal(await launcher.getAttribute('aria-expanded'), 'false');
  assert.equal(await launcher.evaluate((el) => getComputedStyle(el).position), 'fixed');
  assert.equal(await launcher.evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(79, 70, 229)');
  assert.equal(await page.locator(role('panel')).isVisible(), false);

  await launcher.click();
  const panel = page.locator(role('panel'));
  await panel.waitFor({ state: 'visible' });
  assert.equal(await launcher.getAttribute('aria-expanded'), 'true');
  assert.equal(await focusedRole(page), 'input', 'focus moves to the input on open');
  await waitForEvent(page, 'widget_opened');
  const created = await waitForEvent(page, 'session_created');
  assert.match(created.sessionId, /\S/);

  // Themed and labelled from bot-config's defaults.
  assert.equal(await page.locator('.title').textContent(), 'Assistant');
  assert.equal(await page.locator(role('welcome')).textContent(), 'Hi! How can I help you today?');
  assert.equal(await page.locator(role('input')).getAttribute('placeholder'), 'Type your message…');
  assert.equal(await page.locator(role('input')).getAttribute('aria-label'), 'Message');
  assert.equal(await page.locator(role('powered-by')).textContent(), 'Powered by chatbot');
  assert.equal(await page.locator(role('log')).getAttribute('aria-live'), 'polite');
  assert.equal(await page.locator(role('send')).textContent(), 'Send');
  assert.equal(await page.locator(role('stop')).isVisible(), false);

  await page.keyboard.press('Escape');
  await panel.waitFor({ state: 'hidden' });
  assert.equal(await focusedRole(page), 'launcher', 'focus goes back to the launcher on close');
  await waitForEvent(page, 'widget_minimized');

  await page.evaluate(() => window.Chatbot.toggle());
  await panel.waitFor({ state: 'visible' });
  await page.evaluate(() => window.Chatbot.close());
  await panel.waitFor({ state: 'hidden' });
  const types = (await events(page)).map((e) => e.type);
  assert.deepEqual(types, ['widget_ready', 'widget_opened', 'session_created', 'widget_minimized', 'widget_opened', 'widget_minimized']);
  assertNoProblems(problems);
  await context.close();
});

test('a custom bot-config themes the widget and is never taken as HTML', async () => {
  const { context, page, problems } = await newPage(browser);
  await page.route(`${SERVICE}/api/chat/sessions/bot-config`, (route) => route.fulfill({
    headers: { ...CORS, 'content-type': 'application/json' },
    body: JSON.stringify({
      botName: '<img src=x onerror="window.__pwned=1">Trail Guide',
      botColor: '#0f766e', botIcon: '🏕️', botMsgBgColor: '#ecfdf5', userMsgBgColor: '#fde68a',
      poweredBy: 'Powered by <b>Trail</b>', welcomeMessage: 'Hi **there**! <b>not bold</b>',
      placeholder: 'Ask the guide…',
    }),
  }));
  await page.goto(pageUrl());
  await waitForEvent(page, 'widget_ready');
  const launcher = page.locator(role('launcher'));
  assert.equal(await launcher.evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(15, 118, 110)');
  assert.equal(await launcher.textContent(), '🏕️');
  await launcher.click();
  assert.equal(await page.locator('.title').textContent(), '<img src=x onerror="window.__pwned=1">Trail Guide');
  assert.equal(await page.locator(role('panel')).locator('img').count(), 0);
  const welcome = page.locator(role('welcome'));
  assert.equal(await welcome.locator('strong').textContent(), 'there');
  assert.equal(await welcome.locator('b').count(), 0);
  assert.match(await welcome.textContent(), /<b>not bold<\/b>/);
  assert.equal(await welcome.evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(236, 253, 245)');
  assert.equal(await page.locator(role('powered-by')).textContent(), 'Powered by <b>Trail</b>');
  assert.equal(await page.locator(role('input')).getAttribute('placeholder'), 'Ask the guide…');
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assertNoProblems(problems);
  await context.close();
});

test('visitor identity: a UUID kept in localStorage is the session\'s user_identifier', async () => {
  const { context, page, problems } = await newPage(browser);
  const creates = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/api/chat/sessions/create')) creates.push(JSON.parse(r.postData()));
  });
  await page.goto(pageUrl());
  await openWidget(page);
  const created = await waitForEvent(page, 'session_created');
  assert.match(created.userId, UUID);
  const stored = await page.evaluate(() => localStorage.getItem('chatbot_user_id'));
  assert.equal(stored, created.userId);
  assert.equal(creates.length, 1);
  assert.equal(creates[0].user_identifier, stored);

  const { status, body } = await api(`/api/chat/sessions/${created.sessionId}`);
  assert.equal(status, 200);
  assert.equal(body.user_identifier, stored, 'the session carries the stored visitor id');
  const ctx = body.config.pageContext;
  assert.equal(ctx.url, `${HOST}/page`);
  assert.equal(ctx.title, 'Harbour Bikes');
  assert.ok(ctx.content.includes(PAGE_TEXT), ctx.content);
  assert.ok(!ctx.content.includes('Powered by chatbot'), 'the widget\'s own text is not page content');
  assert.ok(ctx.content.length <= 4000);

  // The same visitor after a reload; another browser is another visitor.
  await page.reload();
  await waitForEvent(page, 'widget_ready');
  assert.equal(await page.evaluate(() => window.Chatbot.userId), stored);
  assert.equal(await page.evaluate(() => localStorage.getItem('chatbot_user_id')), stored);
  const other = await newPage(browser);
  await other.page.goto(pageUrl());
  await waitForEvent(other.page, 'widget_ready');
  const otherId = await other.page.evaluate(() => window.Chatbot.userId);
  assert.match(otherId, UUID);
  assert.notEqual(otherId, stored);
  assertNoProblems(problems);
  assertNoProblems(other.problems);
  await other.context.close();
  await context.close();
});

test('userIdentifier from the script tag is the session\'s identifier and nothing is generated', async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(pageUrl({ opts: 'userIdentifier=customer-42' }));
  await openWidget(page);
  const created = await waitForEvent(page, 'session_created');
  assert.equal(created.userId, 'customer-42');
  assert.equal(await page.evaluate(() => localStorage.getItem('chatbot_user_id')), null);
  const { body } = await api(`/api/chat/sessions/${created.sessionId}`);
  assert.equal(body.user_identifier, 'customer-42');
  assertNoProblems(problems);
  await context.close();
});

test('noTracking: no chatbot_user_id in localStorage and no identifier sent', async () => {
  const { context, page, problems } = await newPage(browser);
  const creates = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/api/chat/sessions/create')) creates.push(JSON.parse(r.postData()));
  });
  await page.goto(pageUrl({ opts: 'noTracking=true' }));
  await openWidget(page);
  const created = await waitForEvent(page, 'session_created');
  assert.equal(created.userId, null);
  assert.equal(await page.evaluate(() => localStorage.getItem('chatbot_user_id')), null);
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), [], 'nothing lasting is stored');
  assert.equal(creates.length, 1);
  assert.ok(!('user_identifier' in creates[0]), JSON.stringify(creates[0]));
  const { body } = await api(`/api/chat/sessions/${created.sessionId}`);
  assert.equal(body.user_identifier, undefined);
  assertNoProblems(problems);
  await context.close();
});

test('a key from a foreign origin is shown as an error in the panel', async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(pageUrl({ key: FOREIGN_PK }));
  const ready = await waitForEvent(page, 'widget_ready');
  assert.equal(ready.available, false);
  const err = await waitForEvent(page, 'error');
  assert.equal(err.status, 403);
  await page.locator(role('launcher')).click();
  const box = page.locator(role('error'));
  await box.waitFor({ state: 'visible' });
  assert.match(await box.textContent(), /not allowed from http:\/\/127\.0\.0\.1:\d+/);
  assert.equal(await box.getAttribute('role'), 'alert');
  assert.equal(await page.locator(role('input')).isDisabled(), true);
  assert.equal(await page.evaluate(() => window.Chatbot.sessionId), null, 'no session without a usable key');
  assertNoProblems(problems, [/status of 403/]);
  await context.close();
});

test('a rejected key (401) is shown as an error in the panel', async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(pageUrl({ key: 'cb_pk_thisisnotarealkeyatall000000' }));
  const err = await waitForEvent(page, 'error');
  assert.equal(err.status, 401);
  await page.locator(role('launcher')).click();
  assert.match(await page.locator(role('error')).textContent(), /API key was rejected/);
  assertNoProblems(problems, [/status of 401/]);
  await context.close();
});

test('rate limiting, provider failures and error events are explained in the panel', async () => {
  const { context, page, problems } = await newPage(browser);
  await stubStream(
    page,
    { status: 429, headers: { 'retry-after': '7' }, body: JSON.stringify({ error: 'Too many requests' }) },
    { status: 502, body: JSON.stringify({ error: 'AI provider failed' }) },
    { status: 504, body: JSON.stringify({ error: 'AI provider timed out' }) },
    {
      body: sse([
        startFrame(), { event: 'delta', id: 1, data: { content: 'Partial ' } },
        { event: 'error', data: { error: 'Upstream exploded', detail: 'connection reset' } },
      ]),
    },
  );
  await page.goto(pageUrl());
  await openWidget(page);
  const box = page.locator(role('error'));
  const send = (text) => page.evaluate((t) => window.Chatbot.send(t), text);

  assert.equal(await send('one'), false);
  assert.match(await box.textContent(), /wait 7 seconds \(Retry-After\)/);
  assert.equal(await send('two'), false);
  assert.match(await box.textContent(), /AI service is not available right now \(502\)/);
  assert.equal(await send('three'), false);
  assert.match(await box.textContent(), /took too long to answer \(504\)/);
  assert.equal(await send('four'), false);
  assert.match(await box.textContent(), /ran into a problem: Upstream exploded/);
  const last = page.locator(role('message')).last();
  assert.equal(await last.getAttribute('data-chatbot-state'), 'error');
  assert.equal((await last.locator('.body').textContent()).trim(), 'Partial', 'what came is kept');

  const errs = (await events(page)).filter((e) => e.type === 'error');
  assert.deepEqual(errs.map((e) => e.status), [429, 502, 504, 0]);
  assert.equal(errs[3].detail, 'connection reset');
  // The input works again after each failure.
  assert.equal(await page.locator(role('input')).isDisabled(), false);
  assertNoProblems(problems, [/status of (429|502|504)/]);
  await context.close();
});

test('replies render as a safe Markdown subset, streamed in pieces', async () => {
  const { context, page, problems } = await newPage(browser);
  const text = [
    '# Plan',
    'Hello **bold** and *italic* and `code <b>` too.',
    '',
    '- one',
    '- two [docs](https://example.com/a?b=1)',
    '',
    '1. first',
    '2. second',
    '',
    '```js',
    'const x = "<script>alert(1)</script>";',
    '```',
    '[bad](javascript:alert(1)) <img src=x onerror="window.__pwned=1"> see https://example.org/path.',
    'Write to [us](mailto:help@example.com).',
  ].join('\n');
  // Split at awkward places: inside ** and across lines; SSE with CRLF and ping comments.
  const pieces = [];
  for (let i = 0; i < text.length; i += 7) pieces.push(text.slice(i, i + 7));
  const frames = [startFrame('md-1'), ...pieces.map((content, i) => ({ event: 'delta', id: i + 1, data: { content } })),
    { event: 'done', data: { messageId: 'md-1', response: text, messageCount: 2, provider: 'offline', model: 'stub', finishReason: 'stop' } }];
  const body = `: ping\n\n${sse(frames).replace(/\n/g, '\r\n')}`;
  await stubStream(page, { body });
  await page.goto(pageUrl());
  await openWidget(page);

  // Enter sends, Shift+Enter is a new line.
  const input = page.locator(role('input'));
  await input.click();
  await page.keyboard.type('first line');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('second line');
  assert.equal(await input.inputValue(), 'first line\nsecond line');
  await page.keyboard.press('Enter');
  const reply = page.locator(`${role('message')}[data-chatbot-author="assistant"]`).last();
  await page.waitForFunction(() => window.__events.some((e) => e.type === 'message_received'));
  assert.equal(await input.inputValue(), '');
  assert.deepEqual((await messages(page))[0], ['user', 'first line\nsecond line']);

  assert.equal(await reply.getAttribute('data-chatbot-state'), 'done');
  assert.equal(await reply.getAttribute('data-chatbot-repaired'), null, 'the deltas made the whole reply');
  assert.equal(await reply.locator('strong').first().textContent(), 'Plan');
  assert.equal(await reply.locator('p strong').nth(1).textContent(), 'bold');
  assert.equal(await reply.locator('em').textContent(), 'italic');
  assert.equal(await reply.locator('p > code').textContent(), 'code <b>');
  assert.equal(await reply.locator('ul > li').count(), 2);
  assert.equal(await reply.locator('ol > li').count(), 2);
  assert.equal(await reply.locator('pre code').textContent(), 'const x = "<script>alert(1)</script>";');
  const links = await reply.locator('a').evaluateAll((as) => as.map((a) => [a.textContent, a.getAttribute('href'), a.target, a.rel]));
  assert.deepEqual(links, [
    ['docs', 'https://example.com/a?b=1', '_blank', 'noopener noreferrer'],
    ['https://example.org/path', 'https://example.org/path', '_blank', 'noopener noreferrer'],
    ['us', 'mailto:help@example.com', '_blank', 'noopener noreferrer'],
  ]);
  assert.equal(await reply.locator('img, script, b').count(), 0, 'nothing from the network became HTML');
  assert.match(await reply.textContent(), /\[bad\]\(javascript:alert\(1\)\) <img src=x/);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);

  const received = (await events(page)).find((e) => e.type === 'message_received');
  assert.equal(received.message, text);
  assert.equal(received.finishReason, 'stop');
  assertNoProblems(problems);
  await context.close();
});

test('works on a host page with a strict Content-Security-Policy', async () => {
  const { context, page, problems } = await newPage(browser);
  const resp = await page.goto(pageUrl({ csp: true }));
  assert.match(resp.headers()['content-security-policy'], /style-src 'none'/);
  await waitForEvent(page, 'widget_ready');
  const launcher = page.locator(role('launcher'));
  // Styled although the page allows no styles at all: the widget uses a constructed sheet.
  assert.equal(await launcher.evaluate((el) => getComputedStyle(el).position), 'fixed');
  assert.equal(await launcher.evaluate((el) => getComputedStyle(el).borderRadius), '50%');
  await openWidget(page);
  await waitForEvent(page, 'session_created');
  await stubStream(page, {
    body: sse([startFrame(), { event: 'delta', id: 1, data: { content: 'Fine **here**.' } },
      { event: 'done', data: { messageId: 'stub-1', response: 'Fine **here**.', finishReason: 'stop' } }]),
  });
  assert.equal(await page.evaluate(() => window.Chatbot.send('hello')), true);
  assert.equal(await page.locator(role('message')).last().locator('strong').textContent(), 'here');
  assert.deepEqual(await page.evaluate(() => window.__violations), [], 'no CSP violations');
  assertNoProblems(problems);
  await context.close();
});

test('full screen on a narrow screen', async () => {
  const { context, page, problems } = await newPage(browser, { viewport: { width: 375, height: 700 } });
  await page.goto(pageUrl());
  await openWidget(page);
  const box = await page.locator(role('panel')).boundingBox();
  assert.deepEqual([box.x, box.y, box.width, box.height], [0, 0, 375, 700]);
  assert.equal(await page.locator(role('launcher')).isVisible(), false);
  await page.locator(role('close')).click();
  assert.equal(await page.locator(role('launcher')).isVisible(), true);
  assertNoProblems(problems);
  await context.close();
});

test('the demo page works against the same server, under its own strict CSP', async () => {
  const { context, page, problems } = await newPage(browser);
  const creates = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/api/chat/sessions/create')) creates.push(JSON.parse(r.postData()));
  });
  const resp = await page.goto(`${SERVICE}/widget/demo`);
  assert.equal(resp.status(), 200);
  assert.match(resp.headers()['content-security-policy'], /script-src 'self'/);
  await waitForEvent(page, 'widget_ready');
  await openWidget(page);
  await waitForEvent(page, 'session_created');
  assert.match(creates[0].config.pageContext.content, /Opening hours: Monday to Friday/);
  // The demo lists the widget's events.
  await page.locator('#events li').first().waitFor();
  assert.match(await page.locator('#events').textContent(), /session_created/);
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  assertNoProblems(problems);
  await context.close();
});
