// /docs (Swagger UI) and /redoc under their Content-Security-Policy: both render the API and
// the browser reports no CSP violation, so the policy (inline scripts allowed by hash only)
// does not break them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SERVICE, launch, newPage } from './harness.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

for (const [path, ready] of [
  ['/docs', '.swagger-ui .info .title'],
  ['/redoc', '.api-info h1, .api-content h1'],
]) {
  test(`${path} renders under its CSP`, async () => {
    const { context, page, problems } = await newPage(browser);
    const resp = await page.goto(`${SERVICE}${path}`);
    const csp = resp.headers()['content-security-policy'];
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /script-src[^;]*'unsafe-inline'/);
    await page.locator(ready).first().waitFor({ timeout: 15_000 });
    assert.match(await page.textContent('body'), /chatbot/);
    const violations = await page.evaluate(() => window.__violations);
    assert.deepEqual(violations, [], 'no CSP violations');
    // Fonts from Google are allowed by the policy but unreachable offline.
    const left = problems.filter((p) => !/fonts\.g|ERR_|Failed to load resource/.test(p));
    assert.deepEqual(left, [], 'no page errors');
    await context.close();
  });
}
