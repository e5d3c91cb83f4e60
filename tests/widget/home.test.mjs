// The pages a newcomer opens first, in a real browser at desktop and phone widths: the home
// page at `/` and the demo page. Links found by their accessible names, nothing scrolls
// sideways at 390 px, no CSP violations or console errors; screenshots go to
// tests/widget/out/ for a person to look at.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SERVICE, OUT, launch, newPage, assertNoProblems, waitForEvent } from './harness.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const WIDTHS = [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]];

for (const [name, viewport] of WIDTHS) {
  test(`the home page at ${name} width links the demo, the docs and the console`, async () => {
    const { context, page, problems } = await newPage(browser, { viewport });
    const resp = await page.goto(`${SERVICE}/`);
    assert.equal(resp.status(), 200);
    assert.match(resp.headers()['content-type'], /^text\/html/);
    assert.match(resp.headers()['content-security-policy'], /default-src 'none'/);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'An AI assistant for any website');
    for (const [label, href] of [['Try the widget', '/widget/demo'], ['API docs', '/docs'], ['ReDoc', '/redoc'], ['Console', '/console'], ['Health', '/healthz']]) {
      assert.equal(await page.getByRole('link', { name: label, exact: true }).getAttribute('href'), href, label);
    }
    assert.match(await page.locator('pre').textContent(), /--format env[\s\S]*\/widget\/chatbot\.js\?apiKey=\$CHATBOT_PUBLISHABLE_KEY/);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `nothing scrolls sideways (${overflow} px)`);
    await page.screenshot({ path: new URL(`home-${name}.png`, OUT).pathname, fullPage: true });
    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    assertNoProblems(problems);

    // The demo link leads to a working demo; the docs answer.
    await page.getByRole('link', { name: 'Try the widget' }).click();
    await page.waitForURL(`${SERVICE}/widget/demo`);
    await waitForEvent(page, 'widget_ready');
    const snippet = await page.locator('pre').first().textContent();
    assert.match(snippet, /apiKey=cb_pk_YOUR_PUBLISHABLE_KEY/, 'a placeholder, not the demo key');
    const demoOverflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(demoOverflow <= 0, `the demo does not scroll sideways (${demoOverflow} px)`);
    await page.screenshot({ path: new URL(`demo-${name}.png`, OUT).pathname, fullPage: true });
    assertNoProblems(problems);
    await context.close();
  });
}
