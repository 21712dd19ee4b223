import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { describeRedis, redisAdmin } from '../redis.js';
import { eventually, httpRequest, parseMetrics, startGateway, type TestGateway } from '../helpers.js';
import { metrics } from '../../src/observability/metrics.js';

/**
 * A concurrency slot whose release Redis fails (here: ZREM refused to the gateway's user
 * by an ACL, answered -NOPERM at once) is counted in
 * `gantry_store_errors_total{store="redis",operation="concurrency-release"}` and logged
 * (throttled); the slot stays taken until its `hold` expires.
 */

async function releaseErrors(): Promise<number> {
  return parseMetrics(await metrics.text()).get('gantry_store_errors_total{store="redis",operation="concurrency-release"}') ?? 0;
}

describeRedis('a concurrency slot release that Redis fails', (redis) => {
  let gw: TestGateway;
  let admin: Redis;

  beforeAll(async () => {
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { readyRequiresStore: false }
store: { kind: redis, url: "${redis().url}", keyPrefix: "release-errors:", timeout: 200ms, maxBackoff: 100ms }
routes:
  - name: one
    match: { path: /one }
    static: { body: ok }
    policies: [ { concurrency: { name: one-at-a-time, max: 1, hold: 1m, onStoreError: deny } } ]
`);
    admin = await redisAdmin(redis().url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await gw?.close();
  });

  const get = () => httpRequest(gw.url + '/one');

  it('counts nothing while Redis releases the slots', async () => {
    const before = await releaseErrors();
    for (let i = 0; i < 3; i++) expect((await get()).status).toBe(200);
    expect((await releaseErrors()) - before).toBe(0);
  });

  it('counts each refused release, logs it, and the slot stays held', async () => {
    const before = await releaseErrors();
    await admin.call('ACL', 'SETUSER', 'default', '-zrem');
    try {
      expect((await get()).status).toBe(200);
      await eventually(async () => ((await releaseErrors()) > before ? true : undefined), 3000, 'the failed release counted');
      // The slot was not given back: the next request is over the limit until `hold` expires.
      expect((await get()).status).toBe(429);
    } finally {
      await admin.call('ACL', 'SETUSER', 'default', '+@all');
    }
    expect((await releaseErrors()) - before).toBe(1);
    expect(gw.logs.filter((l) => String(l.msg).includes('could not release a concurrency slot')).length).toBe(1);
  });
});
