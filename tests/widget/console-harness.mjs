// Shared pieces of the console's browser tests (console.test.mjs, console-data.test.mjs):
// signing up through the UI, the API as the signed-in owner, axe-core, the no-sideways-
// scroll check, and screenshots into tests/widget/out/console/ (1280x800 and 390x844).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { SERVICE } from './harness.mjs';

export const PASSWORD = 'correct horse battery staple';
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const SHOTS = new URL('./out/console/', import.meta.url);
mkdirSync(SHOTS, { recursive: true });

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The console's address of a hash route, e.g. `#/sites`; on run.sh's service unless `service` says. */
export const consoleUrl = (hash = '', service = SERVICE) => `${service}/console${hash}`;

let seq = 0;
/** A fresh email for this run. */
export const freshEmail = (what = 'owner') => `${what}-${Date.now()}-${++seq}@example.com`;

/** Serious and critical axe-core violations on the page (shadow roots included) fail. */
export async function axe(page, label) {
  if (!(await page.evaluate(() => !!window.axe))) await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  assert.deepEqual(result, [], `axe-core, ${label}`);
}

/** Nothing scrolls sideways: the document is no wider than the viewport. */
export async function noSidewaysScroll(page, label) {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
  }));
  assert.ok(scroll <= client, `${label}: no horizontal scroll (${scroll} > ${client})`);
}

/** Waits for the page's loading states to end and its toasts to go (axe measures a fading one). */
export async function settled(page) {
  await page.waitForFunction(() => !document.querySelector('.state-loading, .toast'), null, { timeout: 10_000 });
  await page.waitForTimeout(150);
}

/** A full-page screenshot named `name-<width>.png`. */
export async function shoot(page, name) {
  const width = page.viewportSize().width;
  await page.screenshot({ path: new URL(`${name}-${width}.png`, SHOTS).pathname, fullPage: true });
}

/** axe, the 390 px check and screenshots at both widths, for the page at `hash` (`null`: this one). */
export async function checkPage(page, hash, name, ready, service = SERVICE) {
  for (const size of [DESKTOP, PHONE]) {
    await page.setViewportSize(size);
    if (hash !== null) await page.goto(consoleUrl(hash, service));
    if (ready) await ready(page);
    await settled(page);
    await axe(page, `${name} at ${size.width}`);
    await noSidewaysScroll(page, `${name} at ${size.width}`);
    await shoot(page, name);
  }
  await page.setViewportSize(DESKTOP);
}

/** Registers through the console's form; answers once the sites page shows. */
export async function signUp(page, email, password = PASSWORD, service = SERVICE) {
  await page.goto(consoleUrl('#/register', service));
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
}

/** Signs in through the console's form. */
export async function signIn(page, email, password = PASSWORD, service = SERVICE) {
  await page.goto(consoleUrl('#/signin', service));
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.shell').waitFor();
}

/**
 * An account made with the CLI beside the running server (`chatbot user create`), as staff
 * would: sign-ups through the API are limited to 10 an hour per address, and every browser
 * test here comes from 127.0.0.1. `staff` makes it a staff account; `env` is another
 * service's (`startService(…).env`), to make the account in its database instead.
 */
export function createUser(email, { password = PASSWORD, staff = false, env = process.env } = {}) {
  const bin = process.env.WIDGET_BIN;
  assert.ok(bin, 'WIDGET_BIN is set by tests/widget/run.sh');
  execFileSync(bin, ['user', 'create', '--email', email, '--password-stdin', ...(staff ? ['--staff'] : [])], {
    input: `${password}\n`, env, stdio: ['pipe', 'ignore', 'inherit'],
  });
  return email;
}

/** A new owner made with the CLI and signed in through the console's form, on the sites page. */
export async function newOwner(page) {
  const email = createUser(freshEmail());
  await signIn(page, email);
  await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
  return email;
}

/** An access token for `email` by the API (its own sign-in, beside the browser's). */
export async function bearer(email, password = PASSWORD, service = SERVICE) {
  const r = await fetch(`${service}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }),
  });
  const body = await r.json();
  assert.equal(r.status, 200, JSON.stringify(body));
  return body.accessToken;
}

/** The API as a signed-in user: `{status, body}`. */
export async function asUser(token, method, path, body, service = SERVICE) {
  const r = await fetch(service + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let parsed = null;
  try { parsed = JSON.parse(text); } catch { parsed = text; }
  return { status: r.status, body: parsed };
}

/** Creates a site through the console's form; answers its id (the page is then Install). */
export async function createSite(page, name, origins) {
  await page.goto(consoleUrl('#/sites/new'));
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Allowed origins').fill(origins.join('\n'));
  await page.getByRole('button', { name: 'Create site' }).click();
  await page.getByRole('heading', { name: 'Install', level: 1 }).waitFor();
  const m = /#\/sites\/([^/]+)\/install/.exec(page.url());
  assert.ok(m, `on the install page: ${page.url()}`);
  return decodeURIComponent(m[1]);
}
