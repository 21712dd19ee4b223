import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { describeRedis, redisAdmin } from '../redis.js';
import { eventually, parseMetrics, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { cacheClock } from '../../src/policies/cache/clock.js';
import { metrics } from '../../src/observability/metrics.js';

/**
 * A stale entry is revalidated; the upstream answers with a new version whose body streams
 * to the client, and the client goes away mid-body. The new body will not be stored, so the
 * cache drops the entry it would have replaced. That drop must be the request's background
 * work from before the request is counted finished: a drain waiting for that request must
 * go on waiting for the drop, not see the request done, stop waiting, and release the drop
 * before Redis answered it.
 *
 * Redis is made slow to take the drop: a second client runs `CLIENT PAUSE 1500 WRITE` just
 * before the client goes away (the gateway's DEL waits; reads go on).
 */

const DROP_ERRORS = 'gantry_store_errors_total{store="redis",operation="cache-drop"}';
let now = Date.now();

/** v1 (etag "a") when asked without validators; a new version whose body never ends when revalidated. */
function origin(req: IncomingMessage, res: ServerResponse): void {
  if (req.headers['if-none-match'] === undefined) {
    res.writeHead(200, { etag: '"a"', 'cache-control': 'max-age=5', 'content-length': '2' }).end('v1');
    return;
  }
  res.writeHead(200, { etag: '"b"', 'cache-control': 'max-age=5', 'content-type': 'text/plain' });
  const timer = setInterval(() => res.write('b'.repeat(512)), 10);
  res.once('close', () => clearInterval(timer));
}

describeRedis('drain waits for the drop of an entry whose replacement was cut off', (redis) => {
  let up: TestUpstream;
  let gw: TestGateway;
  let admin: Redis;
  let pauser: Redis;
  let drained = false;

  beforeAll(async () => {
    cacheClock.set(() => now);
    admin = await redisAdmin(redis().url);
    pauser = await redisAdmin(redis().url);
    up = await startUpstream(origin);
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { readyRequiresStore: false, drainTimeout: 5s }
store: { kind: redis, url: "${redis().url}", keyPrefix: "drain-drop:", timeout: 3s }
upstreams: { up: { targets: [ "${up.url}" ] } }
routes:
  - { name: draindrop, match: { path: "/*" }, upstream: up, policies: [ { cache: { zone: draindrop, maxEntrySize: 1mb } } ] }
`);
  });
  afterAll(async () => {
    cacheClock.reset();
    admin?.disconnect();
    pauser?.disconnect();
    if (!drained) await gw?.close();
    await up?.close();
  });

  it('the client going away mid-body while a drain waits: the drain also waits for the paused drop, which lands without error', async () => {
    const dropErrors = parseMetrics(await metrics.text()).get(DROP_ERRORS) ?? 0;
    const first = await fetch(`${gw.url}/item`);
    expect(await first.text()).toBe('v1');
    const [entryKey] = await eventually(async () => {
      const keys = await admin.keys('drain-drop:{cache:draindrop:*');
      return keys.length === 1 ? keys : undefined;
    }, 5000, 'the entry to be stored');
    now += 10_000; // past max-age=5: the next request revalidates with If-None-Match "a"

    const client = http.request(`${gw.url}/item`, { agent: false });
    client.on('error', () => {});
    let bytes = 0;
    client.on('response', (res) => res.on('data', (d: Buffer) => (bytes += d.length)));
    client.end();
    await eventually(() => (bytes > 1024 ? true : undefined), 5000, 'the new body to reach the client');

    await pauser.call('CLIENT', 'PAUSE', '1500', 'WRITE');
    drained = true;
    let drainResult: boolean | undefined;
    const drain = gw.gw.drain().then((inTime) => (drainResult = inTime));
    expect(gw.gw.inFlight).toBe(1);
    client.destroy();
    await eventually(() => (gw.gw.inFlight === 0 ? true : undefined), 1000, 'the request to finish');
    // The request is done, the drop is not (Redis holds it): the drain still counts it.
    expect(gw.gw.background).toBe(1);
    expect(drainResult).toBeUndefined();
    expect(await admin.exists(entryKey!)).toBe(1);

    expect(await drain).toBe(true);
    expect(gw.gw.background).toBe(0);
    // The drop landed: the entry is gone and the drop is stamped for its URI; no store error.
    expect(await admin.exists(entryKey!)).toBe(0);
    expect(await admin.hkeys('drain-drop:{cache-drops:draindrop:/item}')).toEqual([`#host=${new URL(gw.url).host}`]);
    expect((parseMetrics(await metrics.text()).get(DROP_ERRORS) ?? 0) - dropErrors).toBe(0);
    expect(gw.logs.filter((l) => (l.level as number) >= 40)).toEqual([]);
  });
});
