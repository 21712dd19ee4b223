import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { describeRedis, redisAdmin } from '../redis.js';
import { httpRequest, parseMetrics, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { metrics } from '../../src/observability/metrics.js';

/**
 * The cache writes a response to the shared store after it was sent to the client. That
 * write is background work of the request: a drain right after the response waits for it
 * (within `drainTimeout`) before the store closes, so the entry is kept, counted as stored,
 * and not lost as a store error.
 *
 * Redis is made slow to take the write: the origin, before answering, has a second client
 * run `CLIENT PAUSE 1000 WRITE`, which holds the gateway's SET (reads go on) for a second.
 */

async function metric(name: string): Promise<number> {
  return parseMetrics(await metrics.text()).get(name) ?? 0;
}

const STORED = 'gantry_cache_requests_total{route="drainstore",result="store"}';
const STORE_ERRORS = 'gantry_store_errors_total{store="redis",operation="cache-store"}';

describeRedis('drain waits for the cache write to the shared store', (redis) => {
  let up: TestUpstream;
  let gw: TestGateway;
  let admin: Redis;
  let pauser: Redis;
  let drained = false;

  beforeAll(async () => {
    admin = await redisAdmin(redis().url);
    pauser = await redisAdmin(redis().url);
    up = await startUpstream((req, res) => {
      void pauser.call('CLIENT', 'PAUSE', '1000', 'WRITE').then(() => {
        res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '4' }).end('slow');
      });
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { readyRequiresStore: false, drainTimeout: 5s }
store: { kind: redis, url: "${redis().url}", keyPrefix: "drain-store:", timeout: 3s }
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - { name: drainstore, match: { path: "/d/*" }, upstream: up, policies: [ { cache: { zone: drainstore } } ] }
`);
  });
  afterAll(async () => {
    admin?.disconnect();
    pauser?.disconnect();
    if (!drained) await gw?.close();
    await up?.close();
  });

  it('a drain right after the response waits for the paused SET: the entry is in Redis, counted as stored, no store error', async () => {
    const before = { stored: await metric(STORED), errors: await metric(STORE_ERRORS) };
    const res = await httpRequest(`${gw.url}/d/item`);
    expect(res.status).toBe(200);
    expect(res.text).toBe('slow');
    expect(res.headers['cache-status']).toBe('gantry; fwd=uri-miss; fwd-status=200; stored');
    // The client has its response; the write is still held by the paused Redis.
    expect(gw.gw.inFlight).toBe(0);
    expect(gw.gw.background).toBe(1);

    drained = true;
    expect(await gw.gw.drain()).toBe(true);
    expect(gw.logs.find((l) => l.msg === 'draining')).toMatchObject({ inFlight: 0, background: 1 });
    expect(gw.gw.background).toBe(0);
    const keys = await admin.keys('drain-store:{cache:drainstore:*');
    expect(keys).toHaveLength(1);
    expect((await admin.getBuffer(keys[0]!))!.subarray(-4).toString()).toBe('slow');
    expect((await metric(STORED)) - before.stored).toBe(1);
    expect((await metric(STORE_ERRORS)) - before.errors).toBe(0);
  });
});
