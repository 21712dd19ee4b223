import { afterAll, beforeAll, expect, it } from 'vitest';
import { httpRequest, sleep, startGateway, type TestGateway } from '../helpers.js';
import { describeRedis } from '../redis.js';
import { metrics } from '../../src/observability/metrics.js';

/**
 * Redis killed mid-test: each limit policy follows its `onStoreError` (allow → served
 * without limit headers, deny → 503 problem), the outage is logged once per interval and
 * counted in metrics, and everything recovers by itself when Redis is back.
 */
describeRedis('rate limits when Redis goes away and comes back', (redis) => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { readyRequiresStore: false }
store: { kind: redis, url: "${redis().url}", keyPrefix: "outage:", timeout: 300ms, maxBackoff: 100ms }
routes:
  - name: allow
    match: { path: /allow }
    static: { body: ok }
    policies: [ { rate-limit: { name: lenient, algorithm: fixed-window, limit: 1000, window: 1m, onStoreError: allow } } ]
  - name: deny
    match: { path: /deny }
    static: { body: ok }
    policies: [ { rate-limit: { name: strict, algorithm: gcra, rate: 1000/m, onStoreError: deny } } ]
  - name: lease
    match: { path: /lease }
    static: { body: ok }
    policies: [ { rate-limit: { name: leased, algorithm: fixed-window, limit: 1000, window: 1m, mode: lease, lease: 5, onStoreError: deny } } ]
  - name: quota
    match: { path: /quota }
    static: { body: ok }
    policies: [ { quota: { name: daily, limit: 1000, period: day, onStoreError: deny } } ]
`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  const get = (path: string) => httpRequest(`${gw.url}${path}`);
  const storeErrors = async (operation: string) => {
    const m = new RegExp(`gantry_store_errors_total\\{store="redis",operation="${operation}"\\} (\\d+)`).exec(await metrics.text());
    return m ? Number(m[1]) : 0;
  };

  it('limits normally while Redis is up', async () => {
    expect((await get('/readyz')).json()).toMatchObject({ status: 'ready', store: 'ok' });
    for (const p of ['/allow', '/deny', '/lease', '/quota']) {
      const r = await get(p);
      expect(r.status, p).toBe(200);
      expect(r.headers['ratelimit'], p).toBeDefined();
    }
  });

  it('follows onStoreError while Redis is down, logging once and counting every failure', async () => {
    await redis().kill();
    const allowed = await Promise.all(Array.from({ length: 10 }, () => get('/allow')));
    expect(allowed.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(allowed[0]!.headers['ratelimit']).toBeUndefined(); // nothing known to advertise

    const denied = await get('/deny');
    expect(denied.status).toBe(503);
    expect(denied.headers['content-type']).toBe('application/problem+json');
    expect(denied.json()).toMatchObject({ status: 503, policy: 'strict', type: expect.stringContaining('limit-unavailable') });
    expect(denied.headers['retry-after']).toBe('1');
    expect((await get('/quota')).status).toBe(503);

    // Lease mode: the 4 units left of the budget are served locally; then the refill fails.
    const leased = await Promise.all(Array.from({ length: 6 }, () => get('/lease')));
    expect(leased.filter((r) => r.status === 200).length).toBe(4);
    expect(leased.filter((r) => r.status === 503).length).toBe(2);

    // Still ready (readyRequiresStore: false: policies decide what an outage means), but readiness says so.
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', store: 'unreachable' });

    const logLines = gw.logs.filter((l) => String(l.msg).includes("rate-limit 'lenient': store unavailable"));
    expect(logLines.length).toBe(1);
    expect(await storeErrors('rate-limit')).toBeGreaterThanOrEqual(10 + 1 + 1);
    expect(await storeErrors('quota')).toBe(1);
  });

  it('recovers by itself when Redis is back', async () => {
    await redis().restart();
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await get('/deny')).status;
      if (status === 200) break;
      await sleep(50);
    }
    expect(status).toBe(200);
    const r = await get('/allow');
    expect(r.status).toBe(200);
    // A fresh Redis: the counters start over.
    expect(r.headers['ratelimit']).toMatch(/^"lenient";r=999;t=\d+$/);
    expect((await get('/lease')).status).toBe(200);
    expect((await get('/quota')).status).toBe(200);
    expect(gw.logs.filter((l) => String(l.msg).includes('store: redis')).map((l) => l.msg)).toEqual([
      'store: redis connection lost; reconnecting',
      'store: redis reachable again',
    ]);
  });
});
