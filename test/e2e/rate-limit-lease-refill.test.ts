import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { eventually, httpRequest, startGateway, type TestGateway } from '../helpers.js';
import { describeRedis, redisAdmin } from '../redis.js';
import { metrics } from '../../src/observability/metrics.js';

/**
 * A lease-mode rate limit tops its budget up in the background when it runs low. When Redis
 * refuses that refill, the requests still spend the budget left (200), and the failure is
 * counted in `gantry_store_errors_total{operation="lease-refill"}` and logged once per interval.
 */
describeRedis('lease refills the store fails in the background', (redis) => {
  let gw: TestGateway;
  let redisCli: Redis;
  const LEASE = 20; // low water: 5 tokens

  beforeAll(async () => {
    redisCli = await redisAdmin(redis().url);
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { readyRequiresStore: false }
store: { kind: redis, url: "${redis().url}", keyPrefix: "lease-refill:", timeout: 300ms, maxBackoff: 100ms }
routes:
  - name: leased
    match: { path: /leased }
    static: { body: ok }
    policies: [ { rate-limit: { name: leased, algorithm: fixed-window, limit: 100000, window: 1m, mode: lease, lease: ${LEASE}, onStoreError: deny } } ]
`);
  });
  afterAll(async () => {
    await redisCli?.call('ACL', 'SETUSER', 'default', 'resetkeys', '~*').catch(() => undefined);
    redisCli?.disconnect();
    await gw?.close();
  });

  const storeErrors = async (operation: string) => {
    const m = new RegExp(`gantry_store_errors_total\\{store="redis",operation="${operation}"\\} (\\d+)`).exec(await metrics.text());
    return m ? Number(m[1]) : 0;
  };
  const failureLines = () => gw.logs.filter((l) => String(l.msg).startsWith("rate-limit 'leased': background lease refill failed"));

  it('counts every failed background refill and logs the first', async () => {
    // One refill on demand: the budget holds LEASE - 1 after the first request.
    expect((await httpRequest(`${gw.url}/leased`)).status).toBe(200);
    for (let i = 1; i < LEASE - 5; i++) expect((await httpRequest(`${gw.url}/leased`)).status).toBe(200);
    const before = await storeErrors('lease-refill');
    const limitErrors = await storeErrors('rate-limit');

    // Redis now refuses every key (-NOPERM): each request below the low water starts a refill that fails.
    await redisCli.call('ACL', 'SETUSER', 'default', 'resetkeys');
    try {
      for (let n = 1; n <= 3; n++) {
        expect((await httpRequest(`${gw.url}/leased`)).status).toBe(200); // served from the budget left
        await eventually(async () => ((await storeErrors('lease-refill')) === before + n ? true : undefined), 3000, `failed refill ${n} counted`);
      }
    } finally {
      await redisCli.call('ACL', 'SETUSER', 'default', 'resetkeys', '~*');
    }
    expect(await storeErrors('rate-limit')).toBe(limitErrors); // no request was refused or let through unchecked
    const lines = failureLines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, policy: 'rate-limit', route: 'leased', suppressed: 0 });
    expect(JSON.stringify(lines[0]!.err)).toMatch(/NOPERM/);
  });
});
