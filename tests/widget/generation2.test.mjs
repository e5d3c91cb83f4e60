// The widget's second generation (issue 16): languages and right-to-left, strings from bot
// config, feedback, welcome and starter prompts, verified visitors and their earlier
// conversations on another device, sign-in and sign-out without a reload, several widgets
// and an inline one on a page, phones (a shrinking visualViewport), weight, and axe-core on
// every state. Host pages are on another origin than the service, as on a real site.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  SERVICE, HOST, PK, OUT, startHost, launch, newPage, pageUrl, assertNoProblems,
  waitForEvent, events, role, openWidget,
} from './harness.mjs';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const CORS = { 'access-control-allow-origin': HOST, 'access-control-expose-headers': 'Retry-After, ETag' };
const SHOTS = process.env.WIDGET_SCREENSHOTS !== '0';

let browser;
let host;
let site; // a client made through the API, with an identity secret
before(async () => {
  host = await startHost();
  browser = await launch();
  site = await makeSite();
});
after(async () => {
  await browser?.close();
  host?.close();
});

async function call(path, { method = 'GET', token, key, body, headers } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (key) h['x-api-key'] = key;
  const resp = await fetch(SERVICE + path, { method, headers: h, body: body && JSON.stringify(body) });
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : null };
}

/** An owner, their client (allowed from the host pages' origin) and its identity secret. */
async function makeSite() {
  const email = `owner-${Date.now()}@example.com`;
  const reg = await call('/api/auth/register', { method: 'POST', body: { email, password: 'correct horse battery staple 1' } });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const token = reg.body.accessToken;
  const made = await call('/api/clients', { method: 'POST', token, body: { name: 'Signed shop', allowedOrigins: [HOST] } });
  assert.equal(made.status, 201);
  const id = made.body.client.id;
  const secret = await call(`/api/clients/${id}/identity-secret`, { method: 'POST', token, body: {} });
  assert.equal(secret.status, 201);
  return { token, id, pk: made.body.publishableKey.key, sk: made.body.secretKey.key, secret: secret.body.identitySecret };
}

/** What the site's server hands the widget for a signed-in visitor. */
function signed(user, secret = site.secret, expires = Math.floor(Date.now() / 1000) + 3600) {
  const userHash = createHmac('sha256', secret).update(`${user}:${expires}`).digest('hex');
  return { userIdentifier: user, userHash, userExpires: expires };
}
const q = (o) => new URLSearchParams(Object.entries(o).map(([k, v]) => [k, String(v)])).toString();

/** Serious and critical axe-core violations on the page (shadow roots included). */
async function axe(page, label) {
  if (!(await page.evaluate(() => !!window.axe))) await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  assert.deepEqual(result, [], `axe-core, ${label}`);
}

async function shot(page, name) {
  if (!SHOTS) return;
  mkdirSync(OUT, { recursive: true });
  const path = fileURLToPath(new URL(`${name}.png`, OUT));
  await page.screenshot({ path });
  console.log(`screenshot: ${path}`);
}

const stubConfig = (page, extra) => page.route(`${SERVICE}/api/chat/sessions/bot-config`, (route) => route.fulfill({
  headers: { ...CORS, 'content-type': 'application/json' },
  body: JSON.stringify({ botName: 'Assistant', poweredBy: 'Powered by chatbot', botColor: '#4f46e5', botIcon: '💬', botMsgBgColor: '#f3f4f6', welcomeMessage: 'Hi! How can I help you today?', placeholder: 'Type your message…', ...extra }),
}));

test('weight: under 20 KB gzipped, and no panel in the DOM until it is first opened', async () => {
  const resp = await fetch(`${SERVICE}/widget/chatbot.js`);
  const body = Buffer.from(await resp.arrayBuffer());
  const gz = gzipSync(body, { level: 9 }).length;
  console.log(`chatbot.js: ${body.length} bytes, ${gz} gzipped`);
  assert.ok(gz <= 20 * 1024, `${gz} bytes gzipped`);
  const { context, page, problems } = await newPage(browser);
  await page.goto(pageUrl());
  await waitForEvent(page, 'widget_ready');
  const parts = () => page.evaluate(() => document.getElementById('chatbot-widget').shadowRoot.querySelectorAll('*').length);
  assert.equal(await page.locator(role('panel')).count(), 0, 'no panel before the first open');
  const before = await parts();
  await axe(page, 'closed');
  await openWidget(page);
  assert.ok(await parts() > before + 10);
  await axe(page, 'open');
  assertNoProblems(problems);
  await context.close();
});

test('the visitor\'s language: German from lang, strings overridden by bot config, Arabic right to left', async () => {
  const { context, page, problems } = await newPage(browser);
  await stubConfig(page, { strings: { send: 'Ab damit' } });
  await page.goto(pageUrl({ opts: 'lang=de' }));
  await waitForEvent(page, 'widget_ready');
  const launcher = page.getByRole('button', { name: 'Chat mit Assistent öffnen' });
  await launcher.click();
  await page.locator(role('panel')).waitFor();
  assert.equal(await page.getByRole('textbox', { name: 'Nachricht' }).getAttribute('placeholder'), 'Ihre Nachricht …');
  assert.equal(await page.locator(role('welcome')).textContent(), 'Hallo! Wie kann ich Ihnen helfen?');
  assert.equal(await page.locator(role('send')).textContent(), 'Ab damit', 'bot config strings win');
  assert.equal(await page.getByRole('button', { name: 'Chat schließen' }).count(), 1);
  assert.equal(await page.evaluate(() => window.Chatbot.language), 'de');
  await context.close();
  assertNoProblems(problems);

  // Arabic from the browser's languages: right to left, the launcher on the left.
  const ar = await browser.newContext({ locale: 'ar-EG', viewport: { width: 1280, height: 800 } });
  const p2 = await ar.newPage();
  await p2.goto(pageUrl());
  await p2.getByRole('button', { name: 'افتح المحادثة مع المساعد' }).waitFor();
  const box = await p2.locator(role('launcher')).boundingBox();
  assert.ok(box.x < 100, `launcher on the left: x=${box.x}`);
  await p2.locator(role('launcher')).click();
  const panel = p2.locator(role('panel'));
  await panel.waitFor();
  assert.equal(await panel.evaluate((el) => getComputedStyle(el).direction), 'rtl');
  const pbox = await panel.boundingBox();
  assert.ok(pbox.x < 100, `panel on the left: x=${pbox.x}`);
  assert.equal(await p2.getByRole('button', { name: 'إرسال' }).count(), 1);
  await p2.waitForFunction(() => window.Chatbot.sessionId);
  await p2.evaluate(() => window.Chatbot.send('ما هي ساعات العمل؟'));
  await p2.getByRole('button', { name: 'مفيد', exact: true }).waitFor();
  await axe(p2, 'Arabic, right to left');
  await shot(p2, 'rtl-desktop-open');
  // Hebrew too, and a bot config `position: left` mirrors to the right there.
  const he = await ar.newPage();
  await stubConfig(he, { position: 'left' });
  await he.goto(pageUrl({ opts: 'lang=he' }));
  await he.getByRole('button', { name: 'פתיחת צ׳אט עם עוזר' }).waitFor();
  assert.ok((await he.locator(role('launcher')).boundingBox()).x > 1000, 'left in a right-to-left page is the right');
  await ar.close();
});

test('every built-in language has every string', async () => {
  const en = await (await fetch(`${SERVICE}/widget/lang-de.json`)).json();
  for (const lang of ['en', 'es', 'fr', 'de', 'pt', 'it', 'nl', 'ar', 'he', 'zh', 'ja']) {
    const resp = await fetch(`${SERVICE}/widget/lang-${lang}.json`, { headers: { origin: HOST } });
    assert.equal(resp.status, 200, lang);
    assert.match(resp.headers.get('content-type'), /application\/json/);
    const words = await resp.json();
    assert.deepEqual(Object.keys(words).sort(), Object.keys(en).sort(), lang);
    for (const [k, v] of Object.entries(words)) assert.ok(typeof v === 'string' && v.trim(), `${lang}.${k}`);
  }
});

test('feedback: thumbs up and down on a finished reply, by keyboard, stored on the server', async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(pageUrl());
  await openWidget(page);
  assert.equal(await page.evaluate(() => window.Chatbot.send('When are you open?')), true);
  const up = page.getByRole('button', { name: 'Helpful', exact: true });
  const down = page.getByRole('button', { name: 'Not helpful' });
  await up.waitFor();
  assert.equal(await up.getAttribute('aria-pressed'), 'false');
  await up.focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => window.__events.some((e) => e.type === 'feedback_sent'));
  assert.equal(await up.getAttribute('aria-pressed'), 'true');
  const sent = (await events(page)).find((e) => e.type === 'feedback_sent');
  assert.equal(sent.rating, 'up');
  assert.match(sent.messageId, /\S/);
  await shot(page, 'feedback-desktop');
  await axe(page, 'feedback given');

  // Down replaces it (checked against the server's own answer).
  await page.keyboard.press('Tab');
  assert.equal(await down.evaluate((el) => el.getRootNode().activeElement === el), true, 'Tab reaches thumbs down');
  await page.keyboard.press('Space');
  await page.waitForFunction(() => window.__events.filter((e) => e.type === 'feedback_sent').length === 2);
  assert.equal(await down.getAttribute('aria-pressed'), 'true');
  assert.equal(await up.getAttribute('aria-pressed'), 'false');
  const again = await call(`/api/chat/messages/${sent.messageId}/feedback`, { method: 'POST', key: process.env.WIDGET_SK, body: { rating: 'down' } });
  assert.equal(again.status, 200);
  // Pressing the pressed one takes the rating back.
  await down.click();
  await page.waitForFunction(() => window.__events.filter((e) => e.type === 'feedback_sent').length === 3);
  assert.equal(await down.getAttribute('aria-pressed'), 'false');
  assertNoProblems(problems);
  await context.close();
});

test('welcome message and starter prompts before the first message', async () => {
  const { context, page, problems } = await newPage(browser);
  await stubConfig(page, { welcomeMessage: 'Welcome to **Harbour Bikes**!', starterPrompts: ['When are you open?', 'How much is a tune-up?'] });
  await page.goto(pageUrl());
  await openWidget(page);
  assert.equal(await page.locator(role('welcome')).locator('strong').textContent(), 'Harbour Bikes');
  const starters = page.getByRole('group', { name: 'Suggested questions' });
  await starters.waitFor();
  assert.equal(await starters.getByRole('button').count(), 2);
  await axe(page, 'starter prompts');
  await starters.getByRole('button', { name: 'How much is a tune-up?' }).click();
  await page.waitForFunction(() => window.__events.some((e) => e.type === 'message_received'));
  const sent = (await events(page)).find((e) => e.type === 'message_sent');
  assert.equal(sent.message, 'How much is a tune-up?');
  assert.equal(await starters.isVisible(), false, 'gone once the conversation started');
  assertNoProblems(problems);
  await context.close();
});

test('verified visitor: signed session, earlier conversations on another device, wrong and expired hashes refused', async () => {
  const who = `customer-${Date.now()}`;
  const { context, page, problems } = await newPage(browser);
  await page.goto(pageUrl({ key: site.pk, opts: q(signed(who)) }));
  await openWidget(page);
  const created = await waitForEvent(page, 'session_created');
  assert.equal(created.verified, true);
  assert.equal(created.userId, who);
  const read = await call(`/api/chat/sessions/${created.sessionId}`, { key: site.sk });
  assert.equal(read.body.verified, true);
  assert.equal(await page.evaluate(() => window.Chatbot.send('Where is my order 1234?')), true);
  await context.close();
  assertNoProblems(problems);

  // Another device: the same signed visitor sees the conversation and continues it.
  const other = await newPage(browser, { viewport: { width: 390, height: 844 } });
  await other.page.goto(pageUrl({ key: site.pk, opts: q(signed(who)) }));
  await openWidget(other.page);
  const historyBtn = other.page.getByRole('button', { name: 'Earlier conversations' });
  await historyBtn.click();
  const list = other.page.getByRole('list', { name: 'Earlier conversations' });
  const item = list.getByRole('button', { name: /Where is my order 1234\?/ });
  await item.waitFor();
  assert.match(await item.textContent(), /2 messages/);
  await axe(other.page, 'earlier conversations');
  await shot(other.page, 'history-phone');
  await item.click();
  await other.page.locator(role('message')).nth(1).waitFor();
  assert.equal(await other.page.evaluate(() => window.Chatbot.sessionId), created.sessionId);
  assert.equal(await other.page.evaluate(() => window.Chatbot.send('And when does it arrive?')), true);
  assert.equal(await other.page.locator(role('message')).count(), 4);
  assertNoProblems(other.problems);
  await other.context.close();

  // A wrong hash (another visitor's), and an expired one: refused, said in the panel.
  for (const bad of [{ ...signed('someone-else'), userIdentifier: who }, signed(who, site.secret, Math.floor(Date.now() / 1000) - 60)]) {
    const p = await newPage(browser);
    await p.page.goto(pageUrl({ key: site.pk, opts: q(bad) }));
    await p.page.locator(role('launcher')).click();
    const err = await waitForEvent(p.page, 'error');
    assert.equal(err.status, 401);
    assert.match(await p.page.locator(role('error')).textContent(), /could not be verified/);
    assert.equal(await p.page.evaluate(() => window.Chatbot.sessionId), null);
    assertNoProblems(p.problems, [/status of 401/]);
    await p.context.close();
  }
});

test('sign-in and sign-out without a reload: identify and reset', async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(pageUrl({ key: site.pk }));
  await openWidget(page);
  const anon = await page.evaluate(() => window.Chatbot.userId);
  assert.equal(await page.evaluate(() => window.Chatbot.send('Hello as a guest')), true);
  assert.equal(await page.getByRole('button', { name: 'Earlier conversations' }).isVisible(), false);

  const who = `signed-in-${Date.now()}`;
  await page.evaluate((id) => window.Chatbot.identify(id), signed(who));
  const changed = await waitForEvent(page, 'identity_changed');
  assert.deepEqual([changed.userId, changed.previousUserId, changed.verified], [who, anon, true]);
  await page.waitForFunction(() => window.__events.filter((e) => e.type === 'session_created').length === 2);
  assert.equal(await page.locator(role('message')).count(), 0, 'the guest conversation is not shown to the signed-in visitor');
  const created = (await events(page)).filter((e) => e.type === 'session_created')[1];
  assert.equal(created.verified, true);
  assert.equal(await page.getByRole('button', { name: 'Earlier conversations' }).isVisible(), true);

  await page.evaluate(() => window.Chatbot.reset());
  await page.waitForFunction(() => window.__events.filter((e) => e.type === 'identity_changed').length === 2);
  const after = await page.evaluate(() => window.Chatbot.userId);
  assert.notEqual(after, anon, 'reset forgets the visitor id');
  assert.notEqual(after, who);
  assert.equal(await page.evaluate(() => localStorage.getItem('chatbot_user_id')), after);
  assert.equal(await page.evaluate(() => window.Chatbot.verified), false);
  assertNoProblems(problems);
  await context.close();
});

test('two widgets and an inline one on a page: independent keys, storage and events; init and destroy', async () => {
  const { context, page, problems } = await newPage(browser);
  // A single-page app: the script without apiKey; the app adds a container for an inline chat.
  await page.goto(pageUrl({ key: '' }));
  await page.waitForFunction(() => window.Chatbot && window.Chatbot.version);
  await page.evaluate(() => {
    const help = document.createElement('div');
    help.id = 'help';
    Object.assign(help.style, { height: '520px', maxWidth: '520px' });
    document.body.prepend(help);
  });
  assert.equal(await page.locator(role('launcher')).count(), 0, 'nothing before init');
  await page.evaluate(([a, b]) => {
    window.Chatbot.init({ apiKey: a });
    window.second = window.Chatbot.create({ apiKey: b, container: '#help', locale: 'fr' });
    window.seen = [];
    window.second.on('*', (e) => window.seen.push(e.type));
  }, [PK, site.pk]);
  await page.waitForFunction(() => window.__events.filter((e) => e.type === 'widget_ready').length === 2);
  const inline = page.locator('#help').locator(role('panel'));
  await inline.waitFor();
  assert.equal(await page.locator('#help').locator(role('launcher')).count(), 0, 'inline: no launcher');
  const box = await inline.boundingBox();
  assert.ok(box.height >= 500 && box.width <= 520, JSON.stringify(box));
  assert.equal(await inline.getByRole('button', { name: 'Envoyer' }).count(), 1);

  // The inline one chats on its own key; the floating one is untouched.
  assert.equal(await page.evaluate(() => window.second.send('Bonjour')), true);
  const secondSession = await page.evaluate(() => window.second.sessionId);
  const onSite = await call(`/api/chat/sessions/${secondSession}`, { key: site.sk });
  assert.equal(onSite.status, 200, 'the session is the inline widget\'s client\'s');
  assert.equal(await page.evaluate(() => window.Chatbot.sessionId), null);
  await inline.getByRole('button', { name: 'Utile', exact: true }).waitFor();
  await shot(page, 'inline-desktop');
  await axe(page, 'inline and floating');
  await page.locator('#chatbot-widget').locator(role('launcher')).click();
  await page.getByRole('dialog', { name: 'Assistant' }).waitFor();
  await page.waitForFunction(() => window.Chatbot.sessionId);
  assert.notEqual(await page.evaluate(() => window.Chatbot.sessionId), secondSession);
  const keys = await page.evaluate(() => Object.keys(localStorage).sort());
  assert.equal(keys.filter((k) => k.startsWith('chatbot_session_')).length, 2, keys.join());
  assert.equal(keys.filter((k) => k.startsWith('chatbot_user_id')).length, 2, keys.join());
  const ids = await page.evaluate(() => [window.Chatbot.userId, window.second.userId]);
  assert.notEqual(ids[0], ids[1]);
  // Events of the second widget carry its number and reach only its handlers.
  const secondEvents = (await events(page)).filter((e) => e.widget !== undefined).map((e) => e.type);
  assert.ok(secondEvents.includes('message_received'));
  assert.deepEqual(await page.evaluate(() => window.seen.includes('widget_opened')), false);

  // The console's live preview changes the look without saving it.
  await page.evaluate(() => window.second.setConfig({ botName: 'Preview bot', botColor: '#0f766e', strings: { send: 'Go' } }));
  assert.equal(await inline.getByRole('heading').textContent(), 'Preview bot');
  assert.equal(await inline.getByRole('button', { name: 'Go' }).evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(15, 118, 110)');
  await page.evaluate(() => window.second.destroy());
  assert.equal(await page.locator('#help').locator(role('panel')).count(), 0);
  await page.evaluate(() => window.Chatbot.destroy());
  assert.equal(await page.locator(role('launcher')).count(), 0);
  assertNoProblems(problems);
  await context.close();
});

test('phones: full screen, 16 px input, page scroll locked, input above the on-screen keyboard', async () => {
  const { context, page, problems } = await newPage(browser, { viewport: { width: 390, height: 844 } });
  await page.goto(pageUrl());
  await openWidget(page);
  const input = page.getByRole('textbox', { name: 'Message' });
  assert.equal(await input.evaluate((el) => getComputedStyle(el).fontSize), '16px');
  assert.equal(await page.evaluate(() => getComputedStyle(document.documentElement).overflow), 'hidden');
  const panel = page.locator(role('panel'));
  assert.deepEqual(Object.values(await panel.boundingBox()), [0, 0, 390, 844]);
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390, 'nothing scrolls sideways');
  await shot(page, 'ltr-phone-open');
  await axe(page, 'phone, open');

  // The keyboard opens: the visual viewport shrinks to 500 px and scrolls by 40.
  await page.evaluate(() => {
    const vv = window.visualViewport;
    Object.defineProperty(vv, 'height', { configurable: true, get: () => 500 });
    Object.defineProperty(vv, 'offsetTop', { configurable: true, get: () => 40 });
    vv.dispatchEvent(new Event('resize'));
  });
  await page.waitForFunction(() => document.getElementById('chatbot-widget').shadowRoot.querySelector('.panel').getBoundingClientRect().height === 500);
  const ib = await input.boundingBox();
  assert.ok(ib.y >= 40 && ib.y + ib.height <= 540, `the input is in the visible part: ${JSON.stringify(ib)}`);
  assert.deepEqual(Object.values(await panel.boundingBox()).map(Math.round), [0, 40, 390, 500]);

  await page.keyboard.press('Escape');
  await panel.waitFor({ state: 'hidden' });
  assert.notEqual(await page.evaluate(() => getComputedStyle(document.documentElement).overflow), 'hidden', 'scrolling is back');
  assertNoProblems(problems);
  await context.close();

  // The same on a right-to-left phone, for the screenshot.
  const rtl = await newPage(browser, { viewport: { width: 390, height: 844 } });
  await rtl.page.goto(pageUrl({ opts: 'lang=ar' }));
  await openWidget(rtl.page);
  assert.equal(await rtl.page.evaluate(() => window.Chatbot.send('متى تفتحون؟')), true);
  await rtl.page.getByRole('button', { name: 'مفيد', exact: true }).waitFor();
  await shot(rtl.page, 'rtl-phone-open');
  await rtl.context.close();
});
