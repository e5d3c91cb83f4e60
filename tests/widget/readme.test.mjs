// The README's five-minute path, run as a newcomer would: its shell blocks are read from
// README.md (between `<!-- readme-path: … -->` and the end of the next ```sh block), so the
// README cannot drift from what works. They run verbatim in a fresh folder whose
// ./target/release/chatbot is the binary under test, with a newcomer's environment (none of
// chatbot's variables set), except for two things: the build line is skipped (run.sh built
// the binary), and the ports 8000 and 3000 become free ports (other services on this machine
// may hold them); the server learns its port from PORT. Then headless Chromium opens the page
// the README made, on its own origin, and chats with the widget. The README's API block runs
// against the same server afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  launch, newPage, assertNoProblems, role, OUT, freePort, listening, startProcess, stop,
} from './harness.mjs';

const ROOT = new URL('../../', import.meta.url);
const README = readFileSync(new URL('README.md', ROOT), 'utf8');
const BIN = process.env.WIDGET_BIN;

/** The shell block the README marks with `<!-- readme-path: NAME -->`. */
function block(name) {
  const m = README.match(new RegExp(`<!-- readme-path: ${name} -->\\s*\`\`\`sh\\n([\\s\\S]*?)\`\`\``));
  assert.ok(m, `README.md has no "readme-path: ${name}" block`);
  return m[1];
}

/** A newcomer's environment: this machine's, without any of chatbot's own variables. */
function newcomerEnv(extra = {}) {
  const names = [...readFileSync(new URL('.env.example', ROOT), 'utf8').matchAll(/^# ([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
  assert.ok(names.includes('DATABASE_URL') && names.includes('PORT'), '.env.example lists the variables');
  const env = { ...process.env };
  for (const n of [...names, 'NO_COLOR']) delete env[n];
  for (const k of Object.keys(env)) if (k.startsWith('WIDGET_')) delete env[k];
  return { ...env, ...extra };
}

/** A shell script run as the README's reader would, in its own process group. */
const shell = (script, cwd, env) => startProcess('bash', ['-euo', 'pipefail', '-c', script], { cwd, env });

let dir;
let server;
let site;
let browser;
let ports;

before(async () => {
  assert.ok(BIN, 'WIDGET_BIN is set by run.sh');
  dir = mkdtempSync(path.join(os.tmpdir(), 'chatbot-readme-'));
  mkdirSync(path.join(dir, 'target', 'release'), { recursive: true });
  symlinkSync(BIN, path.join(dir, 'target', 'release', 'chatbot'));
  ports = { svc: await freePort(), site: await freePort() };
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await stop(site);
  await stop(server);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The README's text with its two well-known ports replaced by this run's free ones. */
const onFreePorts = (text) => text.replace(/\b8000\b/g, String(ports.svc)).replace(/\b3000\b/g, String(ports.site));

test("the README's five-minute path ends with the widget answering on the reader's own page", async () => {
  const serverLines = block('server').split('\n').filter((l) => l.trim());
  assert.match(serverLines[0], /^cargo build --release/, 'the block starts by building');
  assert.deepEqual(serverLines.slice(1), ['./target/release/chatbot'], 'then runs the binary as built');
  server = shell(serverLines.slice(1).join('\n'), dir, newcomerEnv({ PORT: String(ports.svc) }));
  await listening(ports.svc, server);

  const siteBlock = block('site');
  assert.match(siteBlock, /--format env/);
  assert.match(siteBlock, /localhost:8000\/widget\/chatbot\.js/);
  site = shell(onFreePorts(siteBlock), dir, newcomerEnv());
  await listening(ports.site, site);

  const { context, page, problems } = await newPage(browser);
  // Failed loads, by the URL the console names (the browser's icon request is not a page request).
  const failed = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Failed to load resource/.test(m.text())) failed.push(new URL(m.location().url).pathname);
  });
  await page.goto(`http://localhost:${ports.site}/`);
  await page.locator(role('launcher')).click();
  const input = page.locator(role('input'));
  await input.waitFor({ state: 'visible' });
  await input.fill('When are you open?');
  await page.locator(role('send')).click();
  const reply = page.locator(`${role('message')}[data-chatbot-author="assistant"]`).last();
  await page.waitForFunction(() => {
    const root = document.getElementById('chatbot-widget')?.shadowRoot;
    const all = root ? root.querySelectorAll('[data-chatbot-role="message"][data-chatbot-author="assistant"]') : [];
    const last = all[all.length - 1];
    return last && last.dataset.chatbotState && last.dataset.chatbotState !== 'streaming';
  }, null, { timeout: 30_000 });
  const text = await reply.locator('.body').textContent();
  assert.match(text, /Monday to Friday/, `the answer uses the page: ${text}`);
  await page.screenshot({ path: new URL('readme-path.png', OUT).pathname });
  // The README's page has no icon, so the browser's own request for one finds nothing; that
  // is the only failure allowed.
  assert.ok(failed.every((f) => f === '/favicon.ico'), `failed loads: ${failed}`);
  assertNoProblems(problems, failed.length ? [/status of 404 \(File not found\)/] : []);
  await context.close();
});

test("the README's API block runs as written against the same server", () => {
  // The block needs the variables the site block's first line set; a shell of its own runs
  // that line again (a second client), then the block.
  const first = block('site').split('\n')[0];
  assert.match(first, /^eval "\$\(\.\/target\/release\/chatbot client create .*--format env\)"$/);
  const script = `${first}\n${onFreePorts(block('api'))}`;
  const run = spawnSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, env: newcomerEnv(), encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /"response":/, 'send answered');
  assert.match(run.stdout, /event: done/, 'the stream ended with done');
  assert.match(run.stdout, /"messages":\[/, 'the history');
  assert.match(run.stdout, /"messageCount":4/, 'two questions and two replies');
});
