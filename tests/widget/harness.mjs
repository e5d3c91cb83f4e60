// Shared pieces of the widget's browser tests: headless Debian Chromium through
// playwright-core, a host-page server on another origin than the service, the secret-key
// API for reading back what the widget did, per-page error collection, and processes started
// beside run.sh's server (a second service with its own settings and SQLite file).
// run.sh provides the environment: WIDGET_SERVICE, WIDGET_HOST_PORT, WIDGET_PK, WIDGET_SK,
// WIDGET_FOREIGN_PK, WIDGET_BIN, and the server's own variables (HOST, JWT_SECRET, …).
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const SERVICE = need('WIDGET_SERVICE');
export const HOST_PORT = Number(need('WIDGET_HOST_PORT'));
export const HOST = `http://127.0.0.1:${HOST_PORT}`;
export const PK = need('WIDGET_PK');
export const SK = need('WIDGET_SK');
export const FOREIGN_PK = need('WIDGET_FOREIGN_PK');
export const OUT = new URL('./out/', import.meta.url);

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the widget tests through tests/widget/run.sh`);
  return v;
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export const PAGE_TEXT = 'Welcome to Harbour Bikes. We repair bicycles in Portland. Our workshop is open Tuesday to Saturday from 8 am to 6 pm. A basic tune-up costs 45 dollars and takes one day.';

/**
 * The host page server: `/page?key=…&opts=…&csp=1` is a page of some shop that embeds the
 * widget from the service's origin. With `csp=1` it sends a strict policy: scripts and
 * connections only from the service, no styles at all, no inline anything, Trusted Types on.
 */
export function startHost() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, HOST);
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (url.pathname !== '/page') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const key = url.searchParams.get('key') ?? PK;
    const opts = url.searchParams.get('opts') || '';
    const src = `${SERVICE}/widget/chatbot.js?apiKey=${encodeURIComponent(key)}${opts ? `&${opts}` : ''}`;
    const headers = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' };
    if (url.searchParams.get('csp') === '1') {
      headers['content-security-policy'] = [
        "default-src 'none'",
        `script-src ${SERVICE}`,
        `connect-src ${SERVICE}`,
        "style-src 'none'",
        "img-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "require-trusted-types-for 'script'",
        'trusted-types none',
      ].join('; ');
    }
    res.writeHead(200, headers);
    res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Harbour Bikes</title></head>
<body>
<h1>Harbour Bikes</h1>
<p>${escapeHtml(PAGE_TEXT)}</p>
<script src="${escapeHtml(src)}"></script>
</body></html>`);
  });
  return new Promise((resolve) => server.listen(HOST_PORT, '127.0.0.1', () => resolve(server)));
}

export function pageUrl({ key, opts, csp } = {}) {
  const q = new URLSearchParams();
  if (key !== undefined) q.set('key', key);
  if (opts) q.set('opts', opts);
  if (csp) q.set('csp', '1');
  return `${HOST}/page${q.toString() ? `?${q}` : ''}`;
}

export function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/**
 * A fresh context (empty localStorage) and page that records the widget's postMessage events
 * in `window.__events`, CSP violations in `window.__violations`, and page errors and console
 * errors on the returned `problems` list.
 */
export async function newPage(browser, opts = {}) {
  const context = await browser.newContext({ viewport: opts.viewport || { width: 1280, height: 800 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await context.addInitScript(() => {
    window.__events = [];
    window.__violations = [];
    window.addEventListener('message', (e) => {
      if (e.source === window && e.data && e.data.source === 'chatbot') window.__events.push(e.data);
    });
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return { context, page, problems };
}

/** Fails on page errors and console errors, except those matching `allowed`. */
export function assertNoProblems(problems, allowed = []) {
  const left = problems.filter((p) => !allowed.some((re) => re.test(p)));
  assert.deepEqual(left, [], 'no page errors and no console errors');
}

/** Waits until the widget posted an event of this type; answers it. */
export async function waitForEvent(page, type, timeout = 10_000) {
  const handle = await page.waitForFunction(
    (t) => window.__events.find((e) => e.type === t),
    type,
    { timeout },
  );
  return handle.jsonValue();
}

export const events = (page) => page.evaluate(() => window.__events);

/** The secret-key API, to read back what the widget did. */
export async function api(path, init = {}) {
  const resp = await fetch(SERVICE + path, {
    ...init,
    headers: { 'X-API-Key': SK, 'content-type': 'application/json', ...(init.headers || {}) },
  });
  const text = await resp.text();
  let body = null;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: resp.status, body };
}

export const role = (name) => `[data-chatbot-role="${name}"]`;

/** Opens the widget by its launcher and waits until the session is ready. */
export async function openWidget(page) {
  await page.locator(role('launcher')).click();
  await page.locator(role('panel')).waitFor({ state: 'visible' });
  await page.waitForFunction(() => window.Chatbot && window.Chatbot.sessionId);
}

/** Text of the messages, in order, as [author, text]. */
export function messages(page) {
  return page.locator(role('message')).evaluateAll((els) => els.map((el) => [
    el.getAttribute('data-chatbot-author'),
    el.querySelector('.body').textContent,
  ]));
}

/** What the shadow root has focused: its data-chatbot-role. */
export function focusedRole(page) {
  return page.evaluate(() => {
    const root = document.getElementById('chatbot-widget').shadowRoot;
    return root.activeElement && root.activeElement.getAttribute('data-chatbot-role');
  });
}

/** A `text/event-stream` body in the service's own format, for stubbed replies. */
export function sse(frames) {
  return frames.map(({ event, id, data }) => `${id != null ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join('');
}

/** A port nothing listens on now (as run.sh's free_port). */
export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port, within `ms`; fails if `child` exits. */
export async function listening(port, child, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${child.output}`);
    const ok = await new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => { sock.destroy(); resolve(true); });
      sock.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port} after ${ms} ms: ${child.output}`);
}

/** A process in its own process group, its stdout and stderr kept on `child.output`. */
export function startProcess(command, args, { cwd, env }) {
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.output = '';
  child.stdout.on('data', (d) => { child.output += d; });
  child.stderr.on('data', (d) => { child.output += d; });
  return child;
}

/** Ends the process group of a `startProcess` child; resolves once the child has exited. */
export function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
  return exited;
}

/**
 * A second service beside run.sh's: the same binary and environment (run.sh exports it), with
 * `env` over it, on a free port and a fresh SQLite file of its own. Answers `{url, env, stop}`;
 * `env` is what the CLI needs to reach its database (`createUser(email, {env})`).
 */
export async function startService(env = {}) {
  const bin = need('WIDGET_BIN');
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chatbot-service-'));
  const url = `http://127.0.0.1:${port}`;
  const full = {
    ...process.env, PORT: String(port), PUBLIC_URL: url, DATABASE_URL: `sqlite://${dir}/service.db`, ...env,
  };
  const child = startProcess(bin, ['serve'], { env: full });
  try {
    await listening(port, child);
  } catch (e) {
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url,
    env: full,
    child,
    async stop() {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
