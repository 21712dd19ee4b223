import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleMessage, Page } from 'playwright-core';
import { browserTestsEnabled, launchChromium, type TestBrowser } from '../browser.js';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * The admin dashboard in a real headless Chromium against a running gateway with real
 * upstreams: token prompt, live routes/upstreams/rates, a target going down, Reload.
 */
const TOKEN = 'dashboard-token-0123456789abcdef';

const config = (a: string, b: string, extra = '') => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }
upstreams:
  shop:
    targets: [ "${a}", "${b}" ]
    healthCheck: { path: /health, interval: 100ms, timeout: 500ms, healthyAfter: 1, unhealthyAfter: 1 }
    circuitBreaker: { failureRatio: 0.5, minRequests: 100, window: 10s, openFor: 5s }
routes:
  - name: items
    match: { path: "/items/:id", methods: [GET] }
    upstream: shop
    policies:
      - request-id: {}
${extra}`;

describe.skipIf(!browserTestsEnabled())('admin dashboard in Chromium', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let bDown = false;
  let gw: TestGateway;
  let admin: string;
  let browser: TestBrowser;
  let page: Page;
  const consoleErrors: string[] = [];
  /**
   * Console errors other than the browser's own log of answers the steps cause on purpose
   * (401 to the wrong token, 422 to the broken config's reload): script errors, CSP
   * violations, failed asset loads.
   */
  const unexpectedErrors = () =>
    consoleErrors.filter((e) => !/status of 401 .* @ http:\/\/127\.0\.0\.1:\d+\/api\/(status|stats)$/.test(e) && !/status of 422 .* @ http:\/\/127\.0\.0\.1:\d+\/api\/reload$/.test(e));

  beforeAll(async () => {
    const handler = (down: () => boolean) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      const status = req.url === '/health' && down() ? 503 : 200;
      res.writeHead(status, { 'content-length': '2' });
      res.end('ok');
    };
    a = await startUpstream(handler(() => false));
    b = await startUpstream(handler(() => bDown));
    gw = await startGateway(config(a.url, b.url));
    admin = `http://127.0.0.1:${gw.gw.adminPort}`;
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('console', (m: ConsoleMessage) => {
      if (m.type() === 'error') consoleErrors.push(`${m.text()} @ ${m.location().url}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await a?.close();
    await b?.close();
  });

  it('serves the page shell without a token, with CSP and no inline script', async () => {
    const res = await page.goto(`${admin}/`);
    expect(res?.status()).toBe(200);
    const h = res!.headers();
    expect(h['content-security-policy']).toContain("default-src 'self'");
    expect(h['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(h['content-security-policy']).not.toContain('unsafe-inline');
    expect(h['x-frame-options']).toBe('DENY');
    expect(h['x-content-type-options']).toBe('nosniff');
    const html = await res!.text();
    // Every script has a src (no inline code), and no inline event handlers or styles.
    expect(html.match(/<script\b[^>]*>/g)).toEqual(['<script src="/dashboard.js" defer>']);
    expect(html).not.toMatch(/\son[a-z]+=|\sstyle=/i);
    // The shell holds no gateway data.
    expect(html).not.toContain(a.url);
  });

  it('asks for the token and shows no data before it', async () => {
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.locator('#content').isHidden()).toBe(true);
    expect(await page.locator('#login-error').isHidden()).toBe(true);
  });

  it('a wrong token brings the prompt back with an error', async () => {
    await page.fill('#token', 'not-the-token-0123456789');
    await page.click('#login-form button[type=submit]');
    await page.locator('#login-error').waitFor({ state: 'visible' });
    expect(await page.locator('#login-error').textContent()).toContain('not accepted');
    expect(await page.locator('#login').isVisible()).toBe(true);
    expect(await page.locator('#content').isHidden()).toBe(true);
    expect(await page.evaluate('sessionStorage.getItem("gantry.adminToken")')).toBeNull();
    expect(unexpectedErrors()).toEqual([]);
  });

  it('the right token shows listeners, routes and upstreams with live numbers', async () => {
    for (let i = 0; i < 6; i++) expect((await httpRequest(`${gw.url}/items/${i}`)).status).toBe(200);
    await page.fill('#token', TOKEN);
    await page.click('#login-form button[type=submit]');
    const route = page.locator('#routes tr[data-route="items"]');
    await route.waitFor();
    const cells = await route.locator('td').allTextContents();
    expect(cells.slice(0, 4)).toEqual(['items', 'GET /items/:id', 'upstream shop', 'request-id']);
    // total (last column) counts the six requests sent through the gateway.
    expect(cells[8]).toBe('6');
    expect(await page.locator('#config-version').textContent()).toBe('v1');
    expect(await page.locator('#listeners tr[data-listener="public"] td').nth(1).textContent()).toBe(`127.0.0.1:${gw.port}`);
    for (const t of [a.url, b.url]) await page.locator(`#upstreams tr[data-target="${t}"][data-health="healthy"]`).waitFor();
    const shop = await page.locator('#upstreams tr[data-upstream="shop"].upstream td').allTextContents();
    expect(shop.slice(0, 2)).toEqual(['shop', '2/2 healthy']);
    expect(shop[2]).toBe('closed');
    // Traffic while the page polls: a request rate and latencies appear for the route.
    const rateShown = (async () => {
      // Two polls at least a second apart make the first window (~2 s); allow for a slow machine.
      for (const end = Date.now() + 15_000; Date.now() < end; ) {
        await httpRequest(`${gw.url}/items/7`);
        const rps = await route.locator('td').nth(4).textContent();
        if (rps !== '–' && Number(rps) > 0) return true;
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    })();
    expect(await rateShown).toBe(true);
    expect(await route.locator('td').nth(5).textContent()).toBe('0.0%');
    expect(await route.locator('td').nth(6).textContent()).toMatch(/ ms$/);
    expect(await page.locator(`#upstreams tr[data-target="${a.url}"] td`).nth(8).textContent()).not.toBe('0');
    // The token is kept for the tab: a page reload goes straight to the data.
    await page.reload();
    await page.locator('#routes tr[data-route="items"]').waitFor();
    expect(await page.locator('#login').isHidden()).toBe(true);
  });

  it('a target failing its health checks shows unhealthy within a few polls', async () => {
    bDown = true;
    await page.locator(`#upstreams tr[data-target="${b.url}"][data-health="unhealthy"]`).waitFor({ timeout: 8_000 });
    expect(await page.locator(`#upstreams tr[data-target="${a.url}"]`).getAttribute('data-health')).toBe('healthy');
    expect(await page.locator('#upstreams tr[data-upstream="shop"].upstream td').nth(1).textContent()).toBe('1/2 healthy');
    bDown = false;
    await page.locator(`#upstreams tr[data-target="${b.url}"][data-health="healthy"]`).waitFor({ timeout: 8_000 });
  });

  it('Reload applies an edited config and shows the new version; a broken one shows its errors', async () => {
    writeFileSync(gw.file, config(a.url, b.url, '  - { name: extra, match: { path: /extra }, static: { status: 200, body: hi } }\n'));
    await page.click('#reload');
    const result = page.locator('#reload-result[data-result="ok"]');
    await result.waitFor();
    expect(await result.textContent()).toContain('config v2');
    await page.locator('#routes tr[data-route="extra"]').waitFor();
    expect(await page.locator('#config-version').textContent()).toBe('v2');
    expect(await page.locator('#reloads tbody tr').count()).toBe(1);
    expect(await page.locator('#reloads tbody tr td').nth(2).textContent()).toBe('v2');

    writeFileSync(gw.file, config(a.url, b.url, '  - { name: broken, match: { path: /b }, upstream: nowhere }\n'));
    await page.click('#reload');
    const failed = page.locator('#reload-result[data-result="failed"]');
    await failed.waitFor();
    expect(await failed.textContent()).toContain('config v2 keeps serving');
    expect(await failed.locator('li').first().textContent()).toMatch(/gateway\.yaml:\d+.*nowhere/);
    await page.locator('#reloads tbody tr[data-reload="failed"]').waitFor();
    expect(await page.locator('#reloads tbody tr').count()).toBe(2);
    expect(await page.locator('#config-version').textContent()).toBe('v2');
  });

  it('Forget token returns to the prompt', async () => {
    await page.click('#logout');
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.locator('#content').isHidden()).toBe(true);
    expect(await page.evaluate('sessionStorage.getItem("gantry.adminToken")')).toBeNull();
  });

  it('logged no console errors', () => {
    expect(consoleErrors.length).toBeGreaterThan(0); // the 422 at least: errors are being collected
    expect(unexpectedErrors()).toEqual([]);
  });
});
