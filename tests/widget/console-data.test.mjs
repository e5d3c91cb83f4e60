// The console's data pages (issue 17) in a real browser: a visitor chats through the widget
// on a host page of the site's origin, then the owner finds that conversation, its feedback
// and the counts in the console; filters and pages; the transcript; deleting a conversation;
// a visitor's data exported and erased with the counts the API answered; analytics equal to
// what the test sent; webhooks; the staff pages for staff and refused to a plain user.
// Every page: axe-core with no serious or critical violation, no sideways scroll at 390 px,
// and screenshots at 1280 and 390 px wide (tests/widget/out/console/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import {
  SERVICE, HOST, startHost, launch, newPage, pageUrl, assertNoProblems, openWidget,
} from './harness.mjs';
import {
  PASSWORD, axe, checkPage as checkAt, consoleUrl as consoleAt, signIn,
} from './console-harness.mjs';

let browser;
let host;
let owner; // {email, token}
let site; // {id, pk, sk}

before(async () => {
  host = await startHost();
  browser = await launch();
  owner = await register(`data-owner-${Date.now()}@example.com`);
  site = await makeSite(owner.token, 'Harbour Bikes');
});
after(async () => {
  await browser?.close();
  host?.close();
});

async function call(path, { method = 'GET', token, key, body } = {}) {
  const h = { 'content-type': 'application/json' };
  if (token) h.authorization = `Bearer ${token}`;
  if (key) h['x-api-key'] = key;
  const resp = await fetch(SERVICE + path, { method, headers: h, body: body && JSON.stringify(body) });
  const text = await resp.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = text; }
  return { status: resp.status, body: parsed };
}

async function register(email) {
  const reg = await call('/api/auth/register', { method: 'POST', body: { email, password: PASSWORD } });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  return { email, token: reg.body.accessToken };
}

async function makeSite(token, name) {
  const made = await call('/api/clients', { method: 'POST', token, body: { name, allowedOrigins: [HOST] } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  return { id: made.body.client.id, name, pk: made.body.publishableKey.key, sk: made.body.secretKey.key };
}

/** A session of `visitor` made with the site's secret key, with these visitor messages sent. */
async function conversation(visitor, messages = []) {
  const made = await call('/api/chat/sessions/create', {
    method: 'POST', key: site.sk, body: { config: {}, ...(visitor ? { user_identifier: visitor } : {}) },
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  for (const message of messages) {
    const sent = await call('/api/chat/messages/send', { method: 'POST', key: site.sk, body: { sessionId: made.body.sessionId, message } });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
  }
  return made.body.sessionId;
}

/** A browser page signed in to the console as `who`, through its sign-in form. */
async function consolePage(who) {
  const { context, page, problems } = await newPage(browser);
  await signIn(page, who.email);
  return { context, page, problems };
}

// Opening the console before signing in: its refresh answers 401, which Chromium logs.
const NOT_SIGNED_IN = /status of 401/;
const consoleUrl = (hash) => consoleAt(`#${hash}`);
const sitePath = (page) => `/sites/${encodeURIComponent(site.id)}/${page}`;

async function open(page, hash) {
  await page.goto(consoleUrl(hash));
  await page.getByRole('heading', { level: 1 }).first().waitFor();
}

/** axe, no sideways scroll at 390 px and screenshots at 1280 and 390 px of the page at `hash`. */
async function checkPage(who, hash, name, ready) {
  const { context, page, problems } = await consolePage(who);
  await checkAt(page, `#${hash}`, name, ready);
  assertNoProblems(problems, [NOT_SIGNED_IN]);
  await context.close();
}

// ---- the widget's chat, then the console ---------------------------------------------------

let chat; // what the visitor did: {visitor, questions, sessionId}

test('a chat through the widget shows in the console: the conversation, its feedback and the counts', async () => {
  const visitor = `visitor-${Date.now()}`;
  const questions = ['Do you repair e-bikes?', 'How much is a tune-up?'];
  {
    const { context, page, problems } = await newPage(browser);
    await page.goto(pageUrl({ key: site.pk, opts: `userIdentifier=${visitor}` }));
    await openWidget(page);
    assert.equal(await page.evaluate((m) => window.Chatbot.send(m), questions[0]), true);
    const up = page.getByRole('button', { name: 'Helpful', exact: true });
    await up.first().waitFor();
    await up.first().click();
    await page.waitForFunction(() => window.__events.some((e) => e.type === 'feedback_sent'));
    assert.equal(await page.evaluate((m) => window.Chatbot.send(m), questions[1]), true);
    // Each finished reply gets its thumbs.
    await page.waitForFunction(() => {
      const root = document.getElementById('chatbot-widget').shadowRoot;
      return root.querySelectorAll('[data-chatbot-role="feedback-up"]').length >= 2;
    }, null, { timeout: 20_000 });
    chat = { visitor, questions, sessionId: await page.evaluate(() => window.Chatbot.sessionId) };
    assertNoProblems(problems);
    await context.close();
  }
  // The API's own view, to compare the console's words with.
  const t = await waitFor(async () => {
    const r = await call(`/api/clients/${site.id}/sessions/${chat.sessionId}`, { key: site.sk });
    return r.status === 200 && r.body.messages.filter((m) => m.role === 'assistant').length === 2 ? r.body : null;
  });
  const replies = t.messages.filter((m) => m.role === 'assistant');

  const { context, page, problems } = await consolePage(owner);
  await open(page, sitePath('conversations'));
  const row = page.getByRole('row').filter({ hasText: questions[0] });
  await row.waitFor();
  assert.match(await row.innerText(), new RegExp(visitor));
  assert.match(await row.innerText(), /👍\s*1/);
  assert.match(await row.innerText(), /\b4\b/, 'four messages');

  // The transcript: roles, the rating, the replies' end, timings.
  await row.getByRole('link', { name: questions[0] }).click();
  await page.getByRole('heading', { name: 'Conversation', level: 1 }).waitFor();
  const thread = page.getByRole('list', { name: 'Messages, oldest first' });
  await thread.waitFor();
  const items = thread.getByRole('listitem');
  assert.equal(await items.count(), 4);
  assert.match(await items.nth(0).innerText(), new RegExp(`Visitor[\\s\\S]*${questions[0].replace('?', '\\?')}`));
  assert.match(await items.nth(1).innerText(), /Assistant[\s\S]*Complete/);
  assert.match(await items.nth(1).innerText(), /Rated up/);
  assert.ok((await items.nth(1).innerText()).includes(replies[0].content.slice(0, 40)));
  assert.match(await items.nth(1).innerText(), /first token \d/);
  assert.doesNotMatch(await items.nth(3).innerText(), /Rated/);

  // The feedback list: the question and the answer it rated.
  await open(page, sitePath('feedback'));
  const card = page.getByRole('listitem').filter({ hasText: questions[0] });
  await card.waitFor();
  assert.match(await card.innerText(), /Rated up/);
  assert.ok((await card.innerText()).includes(replies[0].content.slice(0, 40)));

  // Analytics: the totals are what the visitor did.
  await open(page, sitePath('analytics'));
  const totals = page.getByLabel('Totals of the range');
  await totals.getByText('Visitor messages').waitFor();
  const stat = async (label) => (await totals.locator('.stat').filter({ hasText: label }).locator('.stat-value').innerText()).trim();
  assert.equal(await stat('Conversations'), '1');
  assert.equal(await stat('Visitor messages'), '2');
  assert.equal(await stat('Replies'), '2');
  assert.equal(await stat('Feedback'), '100 %');
  const a = await call(`/api/clients/${site.id}/analytics`, { key: site.sk });
  assert.equal(a.body.totals.userMessages, 2);
  assert.equal(a.body.totals.replies, 2);
  const tokens = a.body.totals.promptTokens + a.body.totals.completionTokens;
  assert.equal((await stat('Tokens')).replace(/\D/g, ''), String(tokens));
  assert.equal(await page.getByRole('img', { name: /messages and replies/i }).count(), 1);
  assertNoProblems(problems, [NOT_SIGNED_IN]);
  await context.close();
});

async function waitFor(fn, timeout = 10_000) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- filters, pages, deleting -----------------------------------------------------------------

test('filters (text, visitor, feedback) and pages through the cursor, kept in the address', async () => {
  // 26 quiet sessions push the list past one page (25); two talk about brakes.
  for (let i = 0; i < 26; i += 1) await conversation(`bulk-${i}`);
  await conversation('brakes-fan', ['My brakes squeak, can you fix them?']);
  await conversation('brakes-fan', ['Do you sell brake pads?']);

  const { context, page, problems } = await consolePage(owner);
  await open(page, sitePath('conversations'));
  const rows = page.locator('tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 25, 'a full first page');
  const next = page.getByRole('button', { name: /Next/ });
  const prev = page.getByRole('button', { name: /Previous/ });
  assert.equal(await prev.isDisabled(), true);
  const firstOnPage1 = await rows.first().innerText();
  await next.click();
  await page.waitForFunction(() => location.hash.includes('cursor='));
  await page.waitForFunction((first) => document.querySelector('tbody tr') && document.querySelector('tbody tr').innerText !== first, firstOnPage1);
  const total = 1 + 26 + 2; // the widget's chat, the quiet ones, the brakes ones
  assert.equal(await rows.count(), total - 25, 'the rest on the second page');
  assert.equal(await next.isDisabled(), true);
  // Previous works after a reload too (the pages before are in the address).
  await page.reload();
  await rows.first().waitFor();
  await prev.click();
  await page.waitForFunction((first) => document.querySelector('tbody tr') && document.querySelector('tbody tr').innerText === first, firstOnPage1);
  assert.equal(await rows.count(), 25);

  // Text search.
  await page.getByLabel('Text in the messages').fill('BRAKE');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForFunction(() => location.hash.includes('q=BRAKE'));
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 2);
  assert.match(await page.locator('tbody').innerText(), /brakes squeak/);
  // A visitor: by clicking their id; the visitor's card appears.
  await page.getByRole('button', { name: 'Clear', exact: true }).click();
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 25);
  await page.getByLabel('Visitor', { exact: true }).fill('brakes-fan');
  await page.getByLabel('Feedback').selectOption('up');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.getByText('No conversation matches these filters').waitFor();
  await page.getByLabel('Feedback').selectOption('');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 2);
  await page.getByRole('heading', { name: /Visitor brakes-fan/ }).waitFor();
  // Feedback up: only the widget's chat.
  await page.goto(consoleUrl(`${sitePath('conversations')}?feedback=up`));
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 1);
  assert.match(await page.locator('tbody').innerText(), /Do you repair e-bikes\?/);

  // Deleting one conversation (confirmed) takes it out of the list and out of the API.
  const doomed = await conversation('doomed-visitor', ['Delete me please']);
  await page.goto(consoleUrl(`${sitePath('conversations')}?visitor=doomed-visitor`));
  const row = page.getByRole('row').filter({ hasText: 'Delete me please' });
  await row.waitFor();
  await row.getByRole('button', { name: /Delete/ }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete this conversation?' });
  await dialog.waitFor();
  await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByText('No conversation matches these filters').waitFor();
  assert.equal((await call(`/api/clients/${site.id}/sessions/${doomed}`, { key: site.sk })).status, 404);
  assertNoProblems(problems, [NOT_SIGNED_IN]);
  await context.close();
});

test('a visitor is exported (JSON) and erased with a typed confirmation and the exact counts', async () => {
  await conversation('erase-me', ['First visit question']);
  await conversation('erase-me', ['Second visit question']);
  const keep = await conversation('keep-me', ['I stay']);
  const { context, page, problems } = await consolePage(owner);
  await open(page, `${sitePath('conversations')}?visitor=erase-me`);
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 2);

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export data (JSON)' }).click(),
  ]);
  const exported = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert.equal(exported.userIdentifier, 'erase-me');
  assert.equal(exported.sessions.length, 2);
  assert.match(download.suggestedFilename(), /erase-me.*\.json$/);

  await page.getByRole('button', { name: 'Erase visitor…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Erase this visitor?' });
  await dialog.waitFor();
  const erase = dialog.getByRole('button', { name: 'Erase everything' });
  assert.equal(await erase.isDisabled(), true, 'disabled until the id is typed');
  await dialog.getByRole('textbox').fill('erase-m');
  assert.equal(await erase.isDisabled(), true);
  await dialog.getByRole('textbox').fill('erase-me');
  await erase.click();
  const done = page.getByRole('status').filter({ hasText: 'Erased erase-me' });
  await done.waitFor();
  // Two sessions, each a question and its reply.
  assert.match(await done.innerText(), /2 conversations,\s*4 messages,\s*0 files and 0 ratings/);
  await page.getByText('No conversation matches these filters').waitFor();
  assert.equal((await call(`/api/clients/${site.id}/sessions?userIdentifier=erase-me`, { key: site.sk })).body.sessions.length, 0);
  assert.equal((await call(`/api/clients/${site.id}/sessions/${keep}`, { key: site.sk })).status, 200, 'others untouched');
  assertNoProblems(problems, [NOT_SIGNED_IN]);
  await context.close();
});

test('a conversation that does not exist says so, with the way back', async () => {
  const { context, page, problems } = await consolePage(owner);
  await open(page, sitePath('conversations/no-such-session'));
  await page.getByText('This conversation does not exist (any more)').waitFor();
  await page.getByRole('link', { name: 'See all conversations' }).click();
  await page.waitForFunction(() => location.hash.endsWith('/conversations'));
  assertNoProblems(problems, [NOT_SIGNED_IN, /404/]);
  await context.close();
});

test('errors in the API\'s words with a retry; the list by keyboard alone', async () => {
  const { context, page, problems } = await consolePage(owner);
  await open(page, `${sitePath('conversations')}?cursor=not-a-cursor`);
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /cursor must be a nextCursor value from a previous page/);
  await alert.getByRole('button', { name: 'Try again' }).waitFor();

  // Keyboard only: the text filter, Enter, then Tab to the first conversation and Enter.
  await open(page, sitePath('conversations'));
  await page.locator('tbody tr').first().waitFor();
  await page.getByLabel('Text in the messages').focus();
  await page.keyboard.type('e-bikes');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 1);
  let hops = 0;
  while (!(await page.evaluate(() => document.activeElement && document.activeElement.classList.contains('row-link'))) && hops < 30) {
    await page.keyboard.press('Tab');
    hops += 1;
  }
  assert.ok(hops < 30, 'Tab reaches the conversation');
  await page.keyboard.press('Enter');
  await page.getByRole('list', { name: 'Messages, oldest first' }).waitFor();
  // The delete dialog closes on Escape, deleting nothing.
  await page.getByRole('button', { name: 'Delete…' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('dialog', { name: 'Delete this conversation?' }).waitFor();
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  assert.equal((await call(`/api/clients/${site.id}/sessions/${chat.sessionId}`, { key: site.sk })).status, 200, 'still there');
  assertNoProblems(problems, [NOT_SIGNED_IN, /status of 400/]);
  await context.close();
});

test('analytics: ranges, by hour, the by-model table and the numbers as a table', async () => {
  const { context, page, problems } = await consolePage(owner);
  await open(page, sitePath('analytics'));
  await page.getByRole('button', { name: '7 days' }).click();
  await page.waitForFunction(() => location.hash.includes('range=7'));
  await page.getByRole('button', { name: 'By hour' }).click();
  await page.waitForFunction(() => location.hash.includes('interval=hour'));
  await page.getByRole('img', { name: /messages and replies an hour/i }).waitFor();
  const api = await call(`/api/clients/${site.id}/analytics`, { key: site.sk });
  const table = page.getByRole('table').filter({ has: page.getByRole('columnheader', { name: 'Model' }) });
  const model = api.body.byModel[0];
  assert.match(await table.innerText(), new RegExp(model.model));
  assert.match(await table.innerText(), new RegExp(`\\b${model.replies}\\b`));
  // Six whole days and today's hours so far.
  const summary = page.getByText(/The numbers as a table \(\d+ hours\)/);
  const hours = Number((await summary.innerText()).match(/\((\d+) hours\)/)[1]);
  assert.equal(hours, 6 * 24 + new Date().getUTCHours() + 1);
  await summary.click();
  assert.equal(await page.locator('details tbody tr').count(), hours);
  // A custom range with the first day after the last is refused before asking the API.
  await page.getByRole('button', { name: 'Custom' }).click();
  await page.getByLabel('First day (UTC)').fill('2026-03-10');
  await page.getByLabel('Last day (UTC)').fill('2026-03-01');
  await page.getByRole('button', { name: 'Show', exact: true }).click();
  await page.getByText('The first day must not be after the last day.').waitFor();
  assertNoProblems(problems, [NOT_SIGNED_IN]);
  await context.close();
});

// ---- webhooks (when the service has them) -----------------------------------------------------

test('webhooks: create (secret shown once), list, deliveries, delete', async (t) => {
  const probe = await call(`/api/clients/${site.id}/webhooks`, { token: owner.token });
  if (probe.status === 404) {
    t.skip('this build has no webhooks API yet');
    return;
  }
  const { context, page, problems } = await consolePage(owner);
  await open(page, sitePath('webhooks'));
  await page.getByText('No webhooks yet').waitFor();
  await page.getByRole('button', { name: 'Create a webhook' }).click();
  await page.getByLabel('Endpoint URL').fill('https://hooks.example.com/chatbot');
  await page.getByRole('checkbox', { name: /session\.created/ }).check();
  await page.getByRole('button', { name: 'Create webhook' }).click();
  const secret = page.getByRole('region', { name: /signing secret/ });
  await secret.waitFor();
  assert.match(await secret.innerText(), /whsec_/);
  const listed = await call(`/api/clients/${site.id}/webhooks`, { token: owner.token });
  const hooks = Array.isArray(listed.body) ? listed.body : listed.body.webhooks;
  assert.equal(hooks.length, 1);
  assert.deepEqual([...hooks[0].events].sort(), ['feedback.created', 'reply.completed', 'session.created']);
  await page.getByRole('button', { name: 'I have saved it' }).click();
  assert.equal(await page.getByText(/whsec_/).count(), 0, 'the secret is not shown again');
  const item = page.getByRole('listitem').filter({ hasText: 'https://hooks.example.com/chatbot' });
  await item.getByRole('button', { name: 'Deliveries' }).click();
  await item.getByText(/No deliveries yet|Event/).first().waitFor();
  await item.getByRole('button', { name: /Delete the webhook/ }).click();
  await page.getByRole('dialog', { name: 'Delete this webhook?' }).getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByText('No webhooks yet').waitFor();
  const after = await call(`/api/clients/${site.id}/webhooks`, { token: owner.token });
  assert.equal((Array.isArray(after.body) ? after.body : after.body.webhooks).length, 0);
  assertNoProblems(problems, [NOT_SIGNED_IN]);
  await context.close();
});

// ---- staff ------------------------------------------------------------------------------------

/** A staff user made with the CLI, or null when this build has no `user create --staff`. */
function makeStaff(email) {
  const r = spawnSync(process.env.WIDGET_BIN, ['user', 'create', '--email', email, '--password-stdin', '--staff'], {
    input: `${PASSWORD}\n`, encoding: 'utf8', env: process.env,
  });
  return r.status === 0 ? { email } : null;
}

test('the staff pages: refused to a plain user, working for staff', async (t) => {
  {
    const { context, page, problems } = await consolePage(owner);
    await page.goto(consoleUrl('/admin/users'));
    await page.getByText('Staff only').first().waitFor();
    assert.equal(await page.getByRole('link', { name: 'Admin' }).count(), 0, 'no Admin entry for a plain user');
    await axe(page, 'admin refused');
    assertNoProblems(problems, [NOT_SIGNED_IN, /403/]);
    await context.close();
  }
  const probe = await call('/api/admin/health', { token: owner.token });
  const staff = probe.status === 404 ? null : makeStaff(`staff-${Date.now()}@example.com`);
  if (!staff) {
    t.skip('this build has no admin API or no `chatbot user create --staff` yet');
    return;
  }
  assert.equal(probe.status, 403, 'the admin API refuses a plain user');
  const pending = await register(`pending-${Date.now()}@example.com`);
  const { context, page, problems } = await consolePage(staff);
  await open(page, '/admin');
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByRole('searchbox').fill(pending.email);
  await page.getByRole('button', { name: 'Search' }).click();
  const row = page.getByRole('row').filter({ hasText: pending.email });
  await row.waitFor();
  await row.getByRole('button', { name: `Disable ${pending.email}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Disable' }).click();
  await row.getByRole('button', { name: `Enable ${pending.email}` }).waitFor();
  const login = await call('/api/auth/login', { method: 'POST', body: { email: pending.email, password: PASSWORD } });
  assert.equal(login.status, 403, 'a disabled account cannot sign in');
  await row.getByRole('button', { name: `Enable ${pending.email}` }).click();
  await row.getByRole('button', { name: `Disable ${pending.email}` }).waitFor();
  await page.getByRole('link', { name: 'Clients' }).click();
  await page.getByRole('row').filter({ hasText: site.name }).first().waitFor();
  await page.getByRole('link', { name: 'Health' }).click();
  await page.getByRole('heading', { name: 'This instance' }).waitFor();
  assertNoProblems(problems, [NOT_SIGNED_IN]);
  await context.close();
  for (const [hash, name] of [['/admin', 'admin-dashboard'], ['/admin/users', 'admin-users'], ['/admin/clients', 'admin-clients'], ['/admin/health', 'admin-health']]) {
    await checkPage(staff, hash, name);
  }
});

// ---- every data page: axe, 390 px, screenshots ------------------------------------------------

test('every data page: no serious axe violation, no sideways scroll at 390 px, screenshots', async () => {
    await checkPage(owner, sitePath('conversations'), 'conversations');
  await checkPage(owner, `${sitePath('conversations')}?visitor=brakes-fan`, 'conversations-visitor');
  await checkPage(owner, sitePath(`conversations/${chat.sessionId}`), 'transcript');
  await checkPage(owner, sitePath('feedback'), 'feedback');
  await checkPage(owner, sitePath('analytics'), 'analytics');
  if ((await call(`/api/clients/${site.id}/webhooks`, { token: owner.token })).status !== 404) {
    await checkPage(owner, sitePath('webhooks'), 'webhooks');
  }
  // An empty site: the empty states and their next actions.
  const empty = await makeSite(owner.token, 'Quiet shop');
  const quiet = (p) => `/sites/${encodeURIComponent(empty.id)}/${p}`;
  await checkPage(owner, quiet('conversations'), 'conversations-empty', (p) => p.getByText('No conversations yet').waitFor());
  await checkPage(owner, quiet('feedback'), 'feedback-empty', (p) => p.getByText('No feedback yet').waitFor());
  await checkPage(owner, quiet('analytics'), 'analytics-empty', (p) => p.getByText('Nothing happened in this range.').waitFor());
});
