// The console's core in a real browser: sign-up → a site → its snippet → the snippet on a
// host page of the allowed origin → a chat → the conversation through the API; a reload
// keeps the sign-in while no token sits in localStorage or sessionStorage; keys made and
// revoked; the appearance preview follows the form as one types and is saved; sign-up
// approval on a second service started with SIGNUP_MODE=approval (the person waits, staff
// approve on the Users page, the person then makes a site); every page passes axe-core, does
// not scroll sideways at 390 px and is photographed at both widths.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, newPage, startHost, startService, pageUrl, HOST, role, openWidget, assertNoProblems,
} from './harness.mjs';
import {
  consoleUrl, freshEmail, signUp, signIn, newOwner, bearer, asUser, createSite, createUser, checkPage, settled, axe, shoot,
  PASSWORD, DESKTOP, SHOTS,
} from './console-harness.mjs';

// Opening the console without a sign-in cookie: its refresh answers 401, which Chromium logs.
const NOT_SIGNED_IN = [/status of 401/];

let browser;
let host;
before(async () => {
  browser = await launch();
  host = await startHost();
});
after(async () => {
  await browser?.close();
  await new Promise((r) => (host ? host.close(r) : r()));
});

/** Every value in both storages, as one string. */
const storages = (page) => page.evaluate(() => {
  const all = [];
  for (const s of [localStorage, sessionStorage]) for (let i = 0; i < s.length; i++) all.push(`${s.key(i)}=${s.getItem(s.key(i))}`);
  return all.join('\n');
});

test('sign-up to a chat on the owner\'s own site, and the sign-in survives a reload without stored tokens', async () => {
  const { context, page, problems } = await newPage(browser);
  const email = freshEmail();
  let accessToken = null;
  page.on('response', async (r) => {
    if (/\/api\/auth\/(register|login|refresh)$/.test(r.url()) && r.status() < 300) {
      const b = await r.json().catch(() => null);
      if (b && b.accessToken) accessToken = b.accessToken;
      assert.equal(b && b.refreshToken, undefined, 'the refresh token never reaches the page');
    }
  });
  await signUp(page, email);
  await page.getByText('No sites yet').waitFor();
  const siteId = await createSite(page, 'Harbour Bikes', [HOST]);

  // The snippet carries the new publishable key, with the service's address.
  const snippet = await page.getByLabel('Install snippet').textContent();
  const m = /src="([^"]+\/widget\/chatbot\.js)\?apiKey=(cb_pk_[\w-]+)"/.exec(snippet);
  assert.ok(m, `a snippet with a key: ${snippet}`);
  assert.ok(m[1].startsWith('http://127.0.0.1:'), m[1]);

  // The snippet's key on a page of the allowed origin: a chat.
  const visitor = await newPage(browser);
  await visitor.page.goto(pageUrl({ key: m[2] }));
  await openWidget(visitor.page);
  await visitor.page.locator(role('input')).fill('When are you open?');
  await visitor.page.locator(role('send')).click();
  await visitor.page.waitForFunction(() => window.__events.some((e) => e.type === 'message_received'), null, { timeout: 20_000 });
  assertNoProblems(visitor.problems);
  await visitor.context.close();

  // The conversation is the owner's to read.
  const token = await bearer(email);
  const { status, body } = await asUser(token, 'GET', `/api/clients/${siteId}/sessions`);
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.sessions.length, 1);
  assert.ok(body.sessions[0].messageCount >= 2, JSON.stringify(body.sessions[0]));

  // A reload signs in again through the HttpOnly cookie; no token is stored anywhere a
  // script could read it.
  assert.ok(accessToken, 'an access token was answered');
  await page.reload();
  await page.getByRole('heading', { name: 'Install', level: 1 }).waitFor();
  const stored = await storages(page);
  assert.ok(!stored.includes(accessToken), 'no access token in web storage');
  assert.ok(!/token|eyJ/i.test(stored), `nothing token-like in web storage: ${stored}`);
  assert.ok(!(await page.evaluate(() => document.cookie)).includes('chatbot_refresh'), 'the refresh cookie is HttpOnly');
  const cookies = await context.cookies();
  const refresh = cookies.find((c) => c.name === 'chatbot_refresh');
  assert.ok(refresh && refresh.httpOnly && refresh.sameSite === 'Strict' && refresh.path === '/api/auth', JSON.stringify(cookies));

  // Signing out ends it: a reload lands on the sign-in page.
  await page.getByRole('button', { name: /Account menu/ }).click();
  await axe(page, 'account menu open');
  await page.locator('#user-menu').getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
  assert.equal((await context.cookies()).filter((c) => c.name === 'chatbot_refresh').length, 0, 'the cookie is cleared');
  assertNoProblems(problems, NOT_SIGNED_IN);
  await context.close();
});

test('keys: a new one is shown once with a copy button, and revoking asks first', async () => {
  const { context, page, problems } = await newPage(browser);
  const email = await newOwner(page);
  const siteId = await createSite(page, 'Keys shop', ['https://keys.example']);
  await page.goto(consoleUrl(`#/sites/${siteId}/install`));
  await page.reload(); // the keys made with the site are forgotten: only prefixes now
  await page.getByRole('heading', { name: 'API keys' }).waitFor();
  assert.match(await page.getByLabel('Install snippet').textContent(), /cb_pk_YOUR_PUBLISHABLE_KEY/);

  await page.getByRole('button', { name: 'New publishable key' }).click();
  const shown = page.locator('.shown-once code');
  await shown.waitFor();
  const key = await shown.textContent();
  assert.match(key, /^cb_pk_[\w-]{20,}$/);
  assert.ok(await page.locator('.shown-once').getByRole('button', { name: 'Copy' }).isVisible());
  // The snippet now carries it.
  assert.ok((await page.getByLabel('Install snippet').textContent()).includes(key));
  const rows = page.locator('tbody tr');
  assert.equal(await rows.count(), 3);

  // Revoke it: a dialog first; Escape cancels, the button revokes.
  const prefix = key.slice(0, 12);
  await page.getByRole('button', { name: new RegExp(`Revoke ${prefix}`) }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await axe(page, 'revoke dialog');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('button', { name: new RegExp(`Revoke ${prefix}`) }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  await page.getByText('Key revoked').waitFor();

  const token = await bearer(email);
  const { body } = await asUser(token, 'GET', `/api/clients/${siteId}`);
  const revoked = body.keys.filter((k) => !k.active);
  assert.equal(revoked.length, 1);
  assert.ok(key.startsWith(revoked[0].prefix));
  // The revoked key answers 401.
  const r = await fetch(`${consoleUrl('').replace('/console', '')}/api/chat/sessions/bot-config`, { headers: { 'X-API-Key': key, Origin: 'https://keys.example' } });
  assert.equal(r.status, 401);
  assertNoProblems(problems, NOT_SIGNED_IN);
  await context.close();
});

test('appearance: the preview follows the form as one types, and saving keeps it', async () => {
  const { context, page, problems } = await newPage(browser);
  const email = await newOwner(page);
  const siteId = await createSite(page, 'Look shop', ['https://look.example']);
  await page.goto(consoleUrl(`#/sites/${siteId}/appearance`));
  const preview = page.getByTestId('widget-preview');
  await preview.locator(role('panel')).waitFor();

  await page.getByLabel('Bot name').fill('Spoke');
  await page.waitForFunction(() => {
    const host = document.querySelector('[data-testid="widget-preview"]').firstElementChild;
    return host && host.shadowRoot && host.shadowRoot.textContent.includes('Spoke');
  });
  await page.getByLabel('Welcome message').fill('Hello from the **workshop**');
  await page.waitForFunction(() => document.querySelector('[data-testid="widget-preview"]').firstElementChild.shadowRoot.textContent.includes('Hello from the workshop'));
  await page.getByRole('button', { name: 'Add a starter prompt' }).click();
  await page.getByLabel('Starter prompt 1', { exact: true }).fill('Book a tune-up');
  await page.waitForFunction(() => [...document.querySelector('[data-testid="widget-preview"]').firstElementChild.shadowRoot.querySelectorAll('button')].some((b) => b.textContent === 'Book a tune-up'));
  await page.getByLabel('Accent colour', { exact: true }).fill('#0f766e');
  await page.getByLabel('Icon').fill('HB');

  // The preview sends nothing: a message there shows the preview note.
  const before = await asUser(await bearer(email), 'GET', `/api/clients/${siteId}/sessions`);
  assert.equal(before.body.sessions.length, 0);

  await page.getByRole('button', { name: 'Save appearance' }).click();
  await page.getByText('Appearance saved').waitFor();
  const token = await bearer(email);
  const { body } = await asUser(token, 'GET', `/api/clients/${siteId}`);
  assert.equal(body.botConfig.botName, 'Spoke');
  assert.equal(body.botConfig.welcomeMessage, 'Hello from the **workshop**');
  assert.deepEqual(body.botConfig.starterPrompts, ['Book a tune-up']);
  assert.equal(body.botConfig.botColor, '#0f766e');
  assert.equal(body.botConfig.botIcon, 'HB');
  // A reload shows the saved look in the form and the preview.
  await page.reload();
  await page.getByTestId('widget-preview').locator(role('panel')).waitFor();
  assert.equal(await page.getByLabel('Bot name').inputValue(), 'Spoke');
  await settled(page);
  await page.screenshot({ path: new URL('readme-appearance.png', SHOTS).pathname }); // docs/console.png
  const after = await asUser(token, 'GET', `/api/clients/${siteId}/sessions`);
  assert.equal(after.body.sessions.length, 0, 'the preview made no session');
  assertNoProblems(problems, NOT_SIGNED_IN);
  await context.close();
});

test('every page: axe-core, no sideways scroll at 390 px, screenshots at 1280 and 390', async () => {
  const { context, page, problems } = await newPage(browser, { viewport: DESKTOP });
  await checkPage(page, '#/signin', 'signin', (p) => p.getByRole('heading', { name: 'Sign in to the console' }).waitFor());
  await checkPage(page, '#/register', 'register', (p) => p.getByRole('heading', { name: 'Create your account' }).waitFor());
  const email = freshEmail();
  await signUp(page, email);
  await checkPage(page, '#/sites', 'sites-empty', (p) => p.getByText('No sites yet').waitFor());
  await checkPage(page, '#/sites/new', 'sites-new', (p) => p.getByRole('heading', { name: 'New site' }).waitFor());
  const siteId = await createSite(page, 'Harbour Bikes', ['https://harbour.example', 'https://www.harbour.example']);
  await checkPage(page, null, 'install-new', (p) => p.getByText('Your site is ready').waitFor());
  await checkPage(page, '#/sites', 'sites', (p) => p.locator('.site-card').first().waitFor());
  await checkPage(page, `#/sites/${siteId}/settings`, 'settings', (p) => p.getByRole('heading', { name: 'Assistant' }).waitFor());
  await checkPage(page, `#/sites/${siteId}/install`, 'install', (p) => p.getByRole('heading', { name: 'API keys' }).waitFor());
  // On a phone the keys table keeps its Revoke buttons in view (no scrolling inside the table).
  await page.setViewportSize({ width: 390, height: 844 });
  const revoke = await page.getByRole('button', { name: /^Revoke / }).first().boundingBox();
  assert.ok(revoke && revoke.x + revoke.width <= 390, `Revoke in view at 390 px: ${JSON.stringify(revoke)}`);
  await page.setViewportSize(DESKTOP);
  await checkPage(page, `#/sites/${siteId}/appearance`, 'appearance', (p) => p.getByTestId('widget-preview').locator(role('panel')).waitFor());
  await checkPage(page, '#/account', 'account', (p) => p.getByRole('heading', { name: 'Password' }).waitFor());
  await checkPage(page, '#/pending', 'pending', (p) => p.getByRole('heading', { level: 1 }).waitFor());
  await checkPage(page, '#/admin', 'admin-refused', (p) => p.getByText('Staff only').waitFor());

  // The phone's menu: the navigation opens from the menu button and links work.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(consoleUrl(`#/sites/${siteId}/settings`));
  await settled(page);
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).isVisible(), false, 'the nav is folded away');
  await page.getByRole('button', { name: 'Navigation' }).click();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Appearance' }).click();
  await page.getByRole('heading', { name: 'Appearance', level: 1 }).waitFor();
  await page.waitForFunction(() => document.activeElement && document.activeElement.tagName === 'H1');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Appearance', 'the new page takes the focus');
  await shoot(page, 'nav-after');
  await page.getByRole('button', { name: 'Navigation' }).click();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).waitFor({ state: 'visible' });
  await page.waitForTimeout(300); // the drawer's slide
  await shoot(page, 'nav-open');
  await page.keyboard.press('Escape');
  await page.getByRole('navigation', { name: 'Main' }).waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.className), 'nav-toggle', 'focus back on the menu button');

  // Delete the site, with its name typed.
  await page.setViewportSize(DESKTOP);
  await page.goto(consoleUrl(`#/sites/${siteId}/settings`));
  await page.getByRole('button', { name: 'Delete site…' }).click();
  const confirm = page.getByRole('dialog').getByRole('button', { name: 'Delete site forever' });
  assert.equal(await confirm.isDisabled(), true, 'disabled until the name is typed');
  await page.getByRole('dialog').getByRole('textbox').fill('Harbour Bikes');
  await confirm.click();
  await page.getByText('No sites yet').waitFor();
  const token = await bearer(email);
  assert.equal((await asUser(token, 'GET', `/api/clients/${siteId}`)).status, 404);
  assertNoProblems(problems, NOT_SIGNED_IN);
  await context.close();
});

test('changing the password keeps this console signed in and the new password works', async () => {
  const { context, page, problems } = await newPage(browser);
  const email = await newOwner(page);
  await page.goto(consoleUrl('#/account'));
  await page.getByLabel('Current password').fill(PASSWORD);
  await page.getByLabel('New password').fill('a brand new passphrase');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('Password changed').waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'Account', level: 1 }).waitFor();
  await bearer(email, 'a brand new passphrase');
  // A wrong current password is said next to its field.
  await page.getByLabel('Current password').fill('not the password');
  await page.getByLabel('New password').fill('another passphrase here');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('The current password is wrong').waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
  // The old password no longer works, in the API's words.
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').getByText('Invalid email or password').waitFor();
  await signIn(page, email, 'a brand new passphrase');
  assertNoProblems(problems, [...NOT_SIGNED_IN, /status of 400/]);
  await context.close();
});

test('sign-in variants: Google when configured, closed sign-up, and an account awaiting approval', async () => {
  const { context, page, problems } = await newPage(browser);
  // What /api/auth/methods would say on a service with Google on and sign-up closed.
  await page.route('**/api/auth/methods', (route) => route.fulfill({
    status: 200, contentType: 'application/json',
    body: JSON.stringify({ password: true, google: true, googleLoginPath: '/auth/google/login', signup: 'closed' }),
  }));
  await page.goto(consoleUrl('#/signin'));
  const google = page.getByRole('link', { name: 'Continue with Google' });
  await google.waitFor();
  const href = new URL(await google.getAttribute('href'), consoleUrl());
  assert.equal(href.pathname, '/auth/google/login');
  assert.equal(href.searchParams.get('redirect'), consoleUrl(), 'back to the console, which takes the cookie');
  await axe(page, 'sign-in with Google');
  await page.goto(consoleUrl('#/register'));
  await page.getByText('Sign-up is closed on this service').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Create account' }).count(), 0);
  // SIGNUP_MODE=approval: the register page says new accounts wait.
  const approval = await context.newPage();
  await approval.route('**/api/auth/methods', (route) => route.fulfill({
    status: 200, contentType: 'application/json', body: JSON.stringify({ password: true, google: false, signup: 'approval' }),
  }));
  await approval.goto(consoleUrl('#/register'));
  await approval.getByText("wait for a staff member's approval").waitFor();
  assert.equal(await approval.getByRole('link', { name: 'Continue with Google' }).count(), 0, 'no Google button when it is off');
  assertNoProblems(problems, NOT_SIGNED_IN);
  await context.close();
});

test('an account awaiting approval (SIGNUP_MODE=approval) is shown why it cannot make a site', async () => {
  const { context, page, problems } = await newPage(browser);
  // What the service answers a pending account: its profile says so, and making a site is 403.
  await page.route('**/api/auth/profile', async (route) => {
    const resp = await route.fetch();
    const user = await resp.json();
    await route.fulfill({ response: resp, json: { ...user, status: 'pending' } });
  });
  await newOwner(page);
  await page.getByRole('link', { name: 'Awaiting approval' }).first().waitFor();
  await page.route('**/api/clients', (route) => (route.request().method() === 'POST'
    ? route.fulfill({ status: 403, contentType: 'application/json', body: JSON.stringify({ error: 'Account pending approval', detail: 'A staff member approves new accounts' }) })
    : route.continue()));
  await page.goto(consoleUrl('#/sites/new'));
  await page.getByLabel('Name').fill('Too early');
  await page.getByRole('button', { name: 'Create site' }).click();
  await page.getByRole('heading', { name: 'Your account is awaiting approval' }).waitFor();
  await axe(page, 'pending');
  // Approved meanwhile: "Check again" reads the profile and goes on to make the site.
  await page.unroute('**/api/auth/profile');
  await page.getByRole('button', { name: 'Check again' }).click();
  await page.getByRole('heading', { name: 'New site' }).waitFor();
  assertNoProblems(problems, [...NOT_SIGNED_IN, /status of 403/]);
  await context.close();
});

test('sign-up approval on a service with SIGNUP_MODE=approval: the person waits, staff approve them on the Users page, then they sign in and make a site', async () => {
  // run.sh's service has open sign-up; this one, beside it, has its own SQLite file.
  const service = await startService({ SIGNUP_MODE: 'approval' });
  const on = service.url;
  try {
    // The person signs up through the console: the form says new accounts wait.
    const person = await newPage(browser);
    const p = person.page;
    const email = freshEmail('waiting');
    await checkPage(p, '#/register', 'approval-register', (pg) => pg.getByText("wait for a staff member's approval").waitFor(), on);
    await signUp(p, email, PASSWORD, on);
    const token = await bearer(email, PASSWORD, on);
    assert.equal((await asUser(token, 'GET', '/api/auth/profile', undefined, on)).body.status, 'pending');

    // What a pending account sees: the badge in the header, and no way to make a site but
    // the way to the page that explains why.
    await p.getByText('No sites yet').waitFor();
    assert.ok(await p.getByRole('banner').getByRole('link', { name: 'Awaiting approval' }).isVisible(), 'the header says it');
    assert.equal(await p.getByRole('link', { name: 'New site' }).count(), 0, 'no New site button while pending');
    await p.getByText("Your account is awaiting a staff member's approval").waitFor();
    assert.equal(await p.getByRole('main').getByRole('link', { name: 'Approval status' }).getAttribute('href'), '#/pending');
    await checkPage(p, '#/sites', 'approval-sites-pending', (pg) => pg.getByText('No sites yet').waitFor(), on);
    // Making a site anyway: the service answers 403 and the console shows why.
    await p.goto(consoleUrl('#/sites/new', on));
    await p.getByLabel('Name').fill('Too early');
    await p.getByRole('button', { name: 'Create site' }).click();
    await p.getByRole('heading', { name: 'Your account is awaiting approval', level: 1 }).waitFor();
    assert.match(await p.getByRole('main').innerText(), new RegExp(`signed in as ${email.replace(/[.]/g, '\\.')}`));
    await checkPage(p, '#/pending', 'approval-pending', (pg) => pg.getByRole('button', { name: 'Check again' }).waitFor(), on);
    // Checking before anyone approved says so, rather than nothing.
    await p.getByRole('button', { name: 'Check again' }).click();
    await p.getByRole('status').filter({ hasText: 'Still awaiting approval' }).waitFor();
    await axe(p, 'pending, checked');
    await shoot(p, 'approval-pending-checked');
    assert.equal((await asUser(token, 'GET', '/api/clients', undefined, on)).body.clients.length, 0, 'no site was made');

    // Staff (made with the CLI against this service's database) find them on the Users page.
    const staffEmail = createUser(freshEmail('staff'), { staff: true, env: service.env });
    const staff = await newPage(browser);
    const s = staff.page;
    await signIn(s, staffEmail, PASSWORD, on);
    await s.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
    const usersCard = s.getByRole('region', { name: 'Users' });
    await usersCard.waitFor();
    assert.match(await usersCard.innerText(), /Pending\s+1\b/, 'the dashboard counts one pending account');
    await s.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'Users' }).click();
    await s.getByRole('row').filter({ hasText: staffEmail }).waitFor();
    await s.getByRole('group', { name: 'Status' }).getByRole('button', { name: 'Pending' }).click();
    // The filter reloads the list: the staff member's own (active) row leaves it.
    await s.getByRole('row').filter({ hasText: staffEmail }).waitFor({ state: 'detached' });
    const row = s.getByRole('row').filter({ hasText: email });
    await row.getByRole('button', { name: `Approve ${email}` }).waitFor();
    assert.equal(await s.locator('tbody tr').count(), 1, 'only the person waits');
    assert.equal(await row.locator('.badge').innerText(), 'pending');
    await checkPage(s, null, 'approval-users-pending', (pg) => pg.getByRole('button', { name: `Approve ${email}` }).waitFor(), on);

    // Approve: the toast, the pending list empties, and under All the row says active.
    await row.getByRole('button', { name: `Approve ${email}` }).click();
    await s.getByText(`${email}: approved`).waitFor();
    await s.getByText('Nobody is awaiting approval').waitFor();
    await settled(s);
    await shoot(s, 'approval-users-none-pending');
    await s.getByRole('group', { name: 'Status' }).getByRole('button', { name: 'All' }).click();
    const approved = s.getByRole('row').filter({ hasText: email });
    await approved.getByRole('button', { name: `Disable ${email}` }).waitFor();
    assert.equal(await approved.locator('.badge').innerText(), 'active');
    assert.equal(await approved.getByRole('button', { name: `Approve ${email}` }).count(), 0, 'nothing left to approve');
    await checkPage(s, null, 'approval-users-approved', (pg) => pg.getByRole('button', { name: `Disable ${email}` }).waitFor(), on);
    assertNoProblems(staff.problems, NOT_SIGNED_IN);
    await staff.context.close();

    // The person's open console: "Check again" now goes on to a new site.
    await p.getByRole('button', { name: 'Check again' }).click();
    await p.getByRole('heading', { name: 'New site', level: 1 }).waitFor();
    assertNoProblems(person.problems, [...NOT_SIGNED_IN, /status of 403/]);
    await person.context.close();

    // Signing in afresh: the sites page without the badge, and a site made through the form.
    const again = await newPage(browser);
    const a = again.page;
    await signIn(a, email, PASSWORD, on);
    await a.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
    await a.getByText('No sites yet').waitFor();
    assert.equal(await a.getByRole('link', { name: 'Awaiting approval' }).count(), 0, 'no longer awaiting approval');
    await checkPage(a, null, 'approval-sites-approved', (pg) => pg.getByRole('link', { name: 'New site' }).waitFor(), on);
    await a.getByRole('link', { name: 'New site' }).click();
    await a.getByLabel('Name').fill('Approved shop');
    await a.getByLabel('Allowed origins').fill('https://approved.example');
    await a.getByRole('button', { name: 'Create site' }).click();
    await a.getByRole('heading', { name: 'Install', level: 1 }).waitFor();
    const sites = (await asUser(await bearer(email, PASSWORD, on), 'GET', '/api/clients', undefined, on)).body.clients;
    assert.deepEqual(sites.map((c) => c.name), ['Approved shop']);
    assertNoProblems(again.problems, NOT_SIGNED_IN);
    await again.context.close();
  } finally {
    await service.stop();
  }
});

test('settings: saved as typed, and a bad value is said next to its field', async () => {
  const { context, page, problems } = await newPage(browser);
  const email = await newOwner(page);
  const siteId = await createSite(page, 'Settings shop', ['https://one.example']);
  await page.goto(consoleUrl(`#/sites/${siteId}/settings`));
  await page.getByLabel('Allowed origins').fill('https://one.example\nhttps://two.example');
  await page.getByLabel('AI provider').selectOption('offline');
  await page.getByLabel('System prompt').fill('You speak for a bicycle shop.');
  await page.getByLabel('Temperature').fill('5');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByText('temperature must be between 0 and 2').waitFor();
  assert.equal(await page.getByLabel('Temperature').getAttribute('aria-invalid'), 'true');
  await page.getByLabel('Temperature').fill('0.3');
  await page.getByLabel('Keep conversations for (days)').fill('30');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByText('Settings saved').waitFor();
  const { body } = await asUser(await bearer(email), 'GET', `/api/clients/${siteId}`);
  assert.deepEqual(body.allowedOrigins, ['https://one.example', 'https://two.example']);
  assert.equal(body.aiProvider, 'offline');
  assert.equal(body.systemPrompt, 'You speak for a bicycle shop.');
  assert.equal(body.temperature, 0.3);
  assert.equal(body.retentionDays, 30);
  assert.ok(await page.getByText('All changes saved').isVisible());
  assertNoProblems(problems, [...NOT_SIGNED_IN, /status of 400/]);
  await context.close();
});

test('two tabs reloading at once both stay signed in (refreshes take turns)', async () => {
  const { context, page, problems } = await newPage(browser);
  await newOwner(page);
  const other = await context.newPage();
  await other.goto(consoleUrl('#/account'));
  await other.getByRole('heading', { name: 'Account', level: 1 }).waitFor();
  for (let i = 0; i < 3; i++) {
    await Promise.all([page.reload(), other.reload()]);
    await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
    await other.getByRole('heading', { name: 'Account', level: 1 }).waitFor();
  }
  assertNoProblems(problems, NOT_SIGNED_IN);
  await context.close();
});

test('install: "Try it" allows this server\'s origin on request and opens the demo page with the new key', async () => {
  const { context, page, problems } = await newPage(browser);
  await newOwner(page);
  await createSite(page, 'Demo shop', ['https://demo-shop.example']);
  const service = new URL(consoleUrl()).origin;
  await page.getByRole('button', { name: `Allow ${service}` }).click();
  const link = page.getByRole('link', { name: /Open the demo page with this key/ });
  await link.waitFor();
  const href = new URL(await link.getAttribute('href'), service);
  assert.equal(href.pathname, '/widget/demo');
  const demo = await context.newPage();
  await demo.goto(href.toString());
  await demo.locator(role('launcher')).click();
  await demo.locator(role('panel')).waitFor({ state: 'visible' });
  await demo.waitForFunction(() => window.Chatbot && window.Chatbot.sessionId);
  assertNoProblems(problems, NOT_SIGNED_IN);
  await context.close();
});
