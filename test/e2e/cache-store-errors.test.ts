import { afterAll, beforeAll, expect, it } from 'vitest';
import { dirname } from 'node:path';
import type { Redis } from 'ioredis';
import { describeRedis, redisAdmin } from '../redis.js';
import { eventually, httpRequest, parseMetrics, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { metrics } from '../../src/observability/metrics.js';
import { zonesOf } from '../../src/policies/cache/zones.js';
import { cacheClock } from '../../src/policies/cache/clock.js';

/**
 * Every failed exchange of a shared (Redis) cache zone with Redis is counted in
 * `gantry_store_errors_total{store="redis",operation}`: `cache-lookup` (the request is
 * then a miss, served from the upstream), `cache-drop` (the cache's own drops: an unsafe
 * request invalidating its URI, an entry shown outdated), `cache-purge` (a purge through
 * the admin API). Redis refusing commands is an ACL that revokes them from the gateway's
 * user (Redis answers -NOPERM at once); Redis down is the server killed.
 */

const OPS = ['cache-lookup', 'cache-store', 'cache-drop', 'cache-purge'] as const;
type Op = (typeof OPS)[number];
type Counts = Record<Op, number>;

async function errors(): Promise<Counts> {
  const m = parseMetrics(await metrics.text());
  const out = {} as Counts;
  for (const op of OPS) out[op] = m.get(`gantry_store_errors_total{store="redis",operation="${op}"}`) ?? 0;
  return out;
}

function delta(before: Counts, after: Counts): Counts {
  const out = {} as Counts;
  for (const op of OPS) out[op] = after[op] - before[op];
  return out;
}

const none: Counts = { 'cache-lookup': 0, 'cache-store': 0, 'cache-drop': 0, 'cache-purge': 0 };

/** Whether `/c/outdated/*` is no longer storable (its stored entry is then outdated). */
const origin = { noStore: false };

describeRedis('store errors of a shared (Redis) cache zone', (redis) => {
  let up: TestUpstream;
  let gw: TestGateway;
  let admin: Redis;
  const seen = new Map<string, number>();

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      seen.set(req.url!, (seen.get(req.url!) ?? 0) + 1);
      const cc = origin.noStore && req.url!.startsWith('/c/outdated/') ? 'no-store' : 'max-age=60';
      const body = `body of ${req.url}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': cc, 'content-length': String(body.length) });
      res.end(body);
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { readyRequiresStore: false }
store: { kind: redis, url: "${redis().url}", keyPrefix: "store-errors:", timeout: 200ms, maxBackoff: 100ms }
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - { name: c, match: { path: "/c/*" }, upstream: up, policies: [ { cache: { zone: z } } ] }
`);
    admin = await redisAdmin(redis().url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await gw?.close();
    await up?.close();
  });

  const get = (path: string) => httpRequest(gw.url + path);
  const post = (path: string) => httpRequest(gw.url + path, { method: 'POST', body: 'x' });
  const stored = () => zonesOf(dirname(gw.file), 'z')[0]!.stats.stored;
  const logged = (text: string) => gw.logs.filter((l) => String(l.msg).includes(text)).length;

  /** Runs `fn` with the given commands refused to the gateway (and every other default-user client). */
  async function refusing(commands: string[], fn: () => Promise<void>): Promise<void> {
    await admin.call('ACL', 'SETUSER', 'default', ...commands.map((c) => `-${c}`));
    try {
      await fn();
    } finally {
      await admin.call('ACL', 'SETUSER', 'default', '+@all');
    }
  }

  it('counts nothing while Redis answers: lookups, writes, drops and purges', async () => {
    const before = await errors();
    const s = stored();
    expect((await get('/c/up')).headers['cache-status']).toBe('gantry; fwd=uri-miss; fwd-status=200; stored');
    await eventually(() => (stored() > s ? true : undefined), 3000, 'the entry stored');
    expect((await get('/c/up')).headers['cache-status']).toMatch(/^gantry; hit/);
    expect((await post('/c/up')).status).toBe(200);
    // The drop has reached Redis once the next request misses.
    await eventually(async () => (/^gantry; fwd=uri-miss/.test(String((await get('/c/up')).headers['cache-status'])) ? true : undefined), 3000, 'the drop');
    await gw.gw.purgeCache({ prefix: '/c/' });
    await gw.gw.purgeCache({ key: '/c/up' });
    expect(delta(before, await errors())).toEqual(none);
    expect(logged('cache: could not')).toBe(0);
  });

  it('counts a lookup Redis refuses once per request, logs it once (throttled), and serves each request from the upstream', async () => {
    const s = stored();
    await get('/c/read');
    await eventually(() => (stored() > s ? true : undefined), 3000, 'the entry stored');
    const before = await errors();
    const upstream = seen.get('/c/read')!;
    await refusing(['get', 'hmget', 'hgetall'], async () => {
      for (let i = 0; i < 3; i++) {
        const res = await get('/c/read');
        expect(res.status).toBe(200);
        expect(res.text).toBe('body of /c/read');
        expect(res.headers['cache-status']).toMatch(/^gantry; fwd=uri-miss; fwd-status=200/);
      }
      // The writes of the three responses still succeed (only reads are refused).
      await eventually(() => (stored() >= s + 4 ? true : undefined), 3000, 'the three writes');
    });
    expect(seen.get('/c/read')! - upstream).toBe(3);
    expect(delta(before, await errors())).toEqual({ ...none, 'cache-lookup': 3 });
    expect(logged("cache: could not look up an entry in zone 'z'")).toBe(1);
    // Reads allowed again: a hit, and nothing more counted.
    expect((await get('/c/read')).headers['cache-status']).toMatch(/^gantry; hit/);
    expect((await errors())['cache-lookup']).toBe(before['cache-lookup'] + 3);
  });

  it('counts a drop Redis refuses: a POST invalidating its URI, and an entry shown outdated', async () => {
    let offset = 0;
    cacheClock.set(() => Date.now() + offset);
    try {
      const s = stored();
      await get('/c/posted');
      await get('/c/outdated/a');
      await eventually(() => (stored() >= s + 2 ? true : undefined), 3000, 'both entries stored');
      const before = await errors();
      await refusing(['del'], async () => {
        expect((await post('/c/posted')).status).toBe(200);
        await eventually(async () => ((await errors())['cache-drop'] > before['cache-drop'] ? true : undefined), 3000, 'the POST drop counted');
        // Stale now, and the origin's new response may not be stored: the entry is dropped.
        offset += 61_000;
        origin.noStore = true;
        const res = await get('/c/outdated/a');
        expect(res.status).toBe(200);
        expect(res.headers['cache-status']).toBe('gantry; fwd=stale; fwd-status=200');
        await eventually(async () => ((await errors())['cache-drop'] > before['cache-drop'] + 1 ? true : undefined), 3000, 'the outdated drop counted');
      });
      expect(delta(before, await errors())).toEqual({ ...none, 'cache-drop': 2 });
      expect(logged("cache: could not drop an entry in zone 'z'")).toBe(1);
    } finally {
      origin.noStore = false;
      cacheClock.reset();
    }
  });

  it('counts a purge Redis refuses, which fails', async () => {
    const before = await errors();
    await refusing(['del', 'evalsha', 'eval'], async () => {
      await expect(gw.gw.purgeCache({ key: '/c/up' })).rejects.toThrow();
      await expect(gw.gw.purgeCache({ tag: 'x' })).rejects.toThrow();
    });
    expect(delta(before, await errors())).toEqual({ ...none, 'cache-purge': 2 });
  });

  it('with Redis down: each request counts one failed lookup and is served from the upstream; a POST counts a failed drop', async () => {
    admin.disconnect();
    await redis().kill();
    const before = await errors();
    const upstream = seen.get('/c/down') ?? 0;
    for (let i = 0; i < 2; i++) {
      const res = await get('/c/down');
      expect(res.status).toBe(200);
      expect(res.text).toBe('body of /c/down');
    }
    expect(seen.get('/c/down')! - upstream).toBe(2);
    expect((await errors())['cache-lookup'] - before['cache-lookup']).toBe(2);
    expect((await post('/c/down')).status).toBe(200);
    await eventually(async () => ((await errors())['cache-drop'] > before['cache-drop'] ? true : undefined), 3000, 'the failed drop counted');
    await expect(gw.gw.purgeCache({ prefix: '/c/' })).rejects.toThrow();
    // Writes of both responses failed too (see cache-stored-count.test.ts).
    await eventually(async () => ((await errors())['cache-store'] >= before['cache-store'] + 2 ? true : undefined), 3000, 'the failed writes counted');
    expect(delta(before, await errors())).toEqual({ 'cache-lookup': 2, 'cache-store': 2, 'cache-drop': 1, 'cache-purge': 1 });
  });
});
