import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dirname } from 'node:path';
import type { Redis } from 'ioredis';
import { describeRedis, redisAdmin } from '../redis.js';
import { eventually, httpRequest, parseMetrics, startGateway, startUpstream, writeTempConfig, type TestGateway, type TestUpstream } from '../helpers.js';
import { metrics } from '../../src/observability/metrics.js';
import { acquireZone, zonesOf } from '../../src/policies/cache/zones.js';
import { MemoryCacheStore } from '../../src/policies/cache/store.js';
import { cacheClock } from '../../src/policies/cache/clock.js';
import type { Ref } from '../../src/util/ref-cache.js';
import type { CacheZone } from '../../src/policies/cache/zones.js';

/**
 * The zone's `stored` counter (and `gantry_cache_requests_total{result="store"}`) counts
 * what the store kept, once its write has answered: a write Redis refuses (a command
 * error) or cannot take (Redis down) is not counted as stored, but as a store error
 * (`gantry_store_errors_total{store="redis",operation="cache-store"}`); one that succeeds
 * is counted once, a Vary variant (two writes) included. Likewise an entry the memory
 * store refuses.
 */

async function metric(name: string): Promise<number> {
  return parseMetrics(await metrics.text()).get(name) ?? 0;
}

const STORED = (route: string) => `gantry_cache_requests_total{route="${route}",result="store"}`;
const STORE_ERRORS = 'gantry_store_errors_total{store="redis",operation="cache-store"}';

/** The counts a test compares before and after a request. */
async function counts(gw: TestGateway, zone: string, route: string): Promise<{ stored: number; metric: number; errors: number }> {
  return { stored: zonesOf(dirname(gw.file), zone)[0]!.stats.stored, metric: await metric(STORED(route)), errors: await metric(STORE_ERRORS) };
}

/** `/c/rv/*`: the version the origin holds, and whether it fails (503). */
const rv = { version: 1, fail: false };

function origin(): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    if (req.url!.startsWith('/c/rv/')) {
      if (rv.fail) res.writeHead(503, { 'content-length': '0' }).end();
      else res.writeHead(200, { 'cache-control': 'max-age=60, stale-if-error=600', etag: `"v${rv.version}"`, 'content-length': '2' }).end(`v${rv.version}`);
      return;
    }
    const body = `body of ${req.url}`.padEnd(req.url!.startsWith('/big/') ? 500 : 0, '.');
    res.writeHead(200, {
      'content-type': 'text/plain',
      'cache-control': 'max-age=60',
      'content-length': String(body.length),
      ...(req.url!.includes('/vary/') ? { vary: 'accept-language' } : {}),
    });
    res.end(body);
  });
}

describeRedis('stored count of a shared (Redis) zone', (redis) => {
  let up: TestUpstream;
  let gw: TestGateway;
  let admin: Redis;

  beforeAll(async () => {
    up = await origin();
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { readyRequiresStore: false }
store: { kind: redis, url: "${redis().url}", keyPrefix: "stored-count:", timeout: 200ms, maxBackoff: 100ms }
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

  const get = (path: string, headers: Record<string, string> = {}) => httpRequest(gw.url + path, { headers });

  it('counts a response Redis kept once, a Vary variant (marker and variant) included', async () => {
    const before = await counts(gw, 'z', 'c');
    expect((await get('/c/up')).headers['cache-status']).toBe('gantry; fwd=uri-miss; fwd-status=200; stored');
    expect((await get('/c/vary/up', { 'accept-language': 'fr' })).headers['cache-status']).toBe('gantry; fwd=uri-miss; fwd-status=200; stored');
    await eventually(async () => ((await counts(gw, 'z', 'c')).stored - before.stored >= 2 ? true : undefined), 3000, 'both writes counted');
    // Both are in Redis: the next requests are hits.
    expect((await get('/c/up')).headers['cache-status']).toMatch(/^gantry; hit/);
    expect((await get('/c/vary/up', { 'accept-language': 'fr' })).headers['cache-status']).toMatch(/^gantry; hit/);
    const after = await counts(gw, 'z', 'c');
    expect(after.stored - before.stored).toBe(2);
    expect(after.metric - before.metric).toBe(2);
    expect(after.errors - before.errors).toBe(0);
  });

  // A command error with Redis up: over maxmemory with noeviction, Redis answers SET with -OOM.
  const refusals: { desc: string; path: string; headers: Record<string, string> }[] = [
    { desc: 'a plain response', path: '/c/oom', headers: {} },
    { desc: 'a Vary variant', path: '/c/vary/oom', headers: { 'accept-language': 'de' } },
  ];
  for (const r of refusals) {
    it(`does not count ${r.desc} Redis refused to write (OOM), and counts the store error`, async () => {
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1');
      try {
        const before = await counts(gw, 'z', 'c');
        const res = await get(r.path, r.headers);
        expect(res.status).toBe(200);
        // Announced from the head (RFC 9211 §2.6), before the write could be tried.
        expect(res.headers['cache-status']).toBe('gantry; fwd=uri-miss; fwd-status=200; stored');
        await eventually(async () => ((await counts(gw, 'z', 'c')).errors > before.errors ? true : undefined), 3000, 'the failed write counted as a store error');
        const after = await counts(gw, 'z', 'c');
        expect(after.errors - before.errors).toBe(1);
        expect(after.stored).toBe(before.stored);
        expect(after.metric).toBe(before.metric);
      } finally {
        await admin.config('SET', 'maxmemory', '0');
      }
      const settled = (await counts(gw, 'z', 'c')).stored;
      expect((await get(r.path, r.headers)).headers['cache-status']).toMatch(/^gantry; fwd=(uri|vary)-miss/);
      // That miss is stored in the background: wait for its count, so it cannot land in the next test's window.
      await eventually(async () => ((await counts(gw, 'z', 'c')).stored > settled ? true : undefined), 3000, 'the miss after the refusal stored');
    });
  }

  it('drops the entry a refused write would have replaced: it is not served later for stale-if-error', async () => {
    let offset = 0;
    cacheClock.set(() => Date.now() + offset);
    try {
      const stored = (await counts(gw, 'z', 'c')).stored;
      await get('/c/rv/a');
      await eventually(async () => ((await counts(gw, 'z', 'c')).stored > stored ? true : undefined), 3000, 'v1 stored');
      rv.version = 2;
      offset += 61_000;
      const before = await counts(gw, 'z', 'c');
      await admin.config('SET', 'maxmemory', '1');
      try {
        // The revalidation gets the new version, which Redis refuses to write.
        const res = await get('/c/rv/a');
        expect(res.text).toBe('v2');
        expect(res.headers['cache-status']).toBe('gantry; fwd=stale; fwd-status=200; stored');
        await eventually(async () => ((await counts(gw, 'z', 'c')).errors > before.errors ? true : undefined), 3000, 'the failed write counted as a store error');
      } finally {
        await admin.config('SET', 'maxmemory', '0');
      }
      expect((await counts(gw, 'z', 'c')).stored).toBe(before.stored);
      rv.fail = true;
      // v1 is outdated: the origin's error passes through instead of v1 (stale-if-error).
      const res = await get('/c/rv/a');
      expect(res.status).toBe(503);
      expect(res.headers['cache-status']).toMatch(/^gantry; fwd=uri-miss; fwd-status=503/);
    } finally {
      rv.fail = false;
      cacheClock.reset();
    }
  });

  it('does not count a response while Redis is down, and counts the store error', async () => {
    admin.disconnect();
    await redis().kill();
    const before = await counts(gw, 'z', 'c');
    const res = await get('/c/down');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('body of /c/down');
    await eventually(async () => ((await counts(gw, 'z', 'c')).errors > before.errors ? true : undefined), 3000, 'the failed write counted as a store error');
    const after = await counts(gw, 'z', 'c');
    expect(after.errors - before.errors).toBe(1);
    expect(after.stored).toBe(before.stored);
    expect(after.metric).toBe(before.metric);
    expect(gw.logs.some((l) => String(l.msg).includes("cache: could not store an entry in zone 'z'"))).toBe(true);
  });
});

/**
 * A memory zone: the config keeps `maxSize` at least `maxEntrySize`, so the store keeps
 * every body the policy hands it. Its remaining refusal (a body larger than its bound) is
 * reached here by building the zone with a smaller store before the gateway takes it
 * (zones are shared by scope, name and settings): that entry is not counted either.
 */
describe('stored count of a memory zone whose store refuses an entry', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let zone: Ref<CacheZone>;

  beforeAll(async () => {
    up = await origin();
    const yaml = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - { name: m, match: { path: "/big/*" }, upstream: up, policies: [ { cache: { zone: small, maxSize: 1kb, maxEntrySize: 1kb } } ] }
`;
    const file = writeTempConfig(yaml);
    zone = acquireZone(dirname(file), 'small', 'memory:1024', () => new MemoryCacheStore(100, () => cacheClock.now()));
    gw = await startGateway(yaml, { file });
  });
  afterAll(async () => {
    await gw?.close();
    await zone?.release();
    await up?.close();
  });

  it('does not count a body the store refused, and the next request is a miss', async () => {
    expect(zonesOf(dirname(gw.file), 'small')[0]).toBe(zone.value);
    const before = await counts(gw, 'small', 'm');
    const res = await httpRequest(gw.url + '/big/a');
    expect(res.body.length).toBe(500);
    expect(res.headers['cache-status']).toBe('gantry; fwd=uri-miss; fwd-status=200; stored');
    expect((await httpRequest(gw.url + '/big/a')).headers['cache-status']).toBe('gantry; fwd=uri-miss; fwd-status=200; stored');
    const after = await counts(gw, 'small', 'm');
    expect(after.stored).toBe(before.stored);
    expect(after.metric).toBe(before.metric);
    // Not an error talking to a shared store.
    expect(after.errors).toBe(before.errors);
  });
});
