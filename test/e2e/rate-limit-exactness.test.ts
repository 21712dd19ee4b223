import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startGateway, writeTempConfig, type TestGateway } from '../helpers.js';
import { awayFromBoundary, burst, startGatewayProcess, statusCounts, type GatewayProcess } from '../limits.js';
import { describeRedis } from '../redis.js';

/**
 * Exactness: 3 × limit concurrent requests in one window admit exactly `limit` for
 * fixed-window, token-bucket and GCRA; sliding-window admits what its weighting says.
 * Memory store: one process. Redis store: two gateway processes sharing one Redis, the
 * requests split between them. Lease mode: the documented bound holds, and most requests
 * cost no Redis round trip.
 */
const L = 20;

const config = (store: string) => `version: 1
listeners:
  - name: public
    port: \${PORT:-0}
    host: 127.0.0.1
log: { level: warn, access: false }
${store}
routes:
  - { name: fixed, match: { path: /fixed }, static: { body: ok }, policies: [ { rate-limit: { algorithm: fixed-window, limit: ${L}, window: 10s } } ] }
  - { name: bucket, match: { path: /bucket }, static: { body: ok }, policies: [ { rate-limit: { algorithm: token-bucket, limit: ${L}, window: 10m } } ] }
  - { name: gcra, match: { path: /gcra }, static: { body: ok }, policies: [ { rate-limit: { algorithm: gcra, rate: ${L}/10m } } ] }
  - { name: sliding, match: { path: /sliding }, static: { body: ok }, policies: [ { rate-limit: { algorithm: sliding-window, limit: ${L}, window: 2s } } ] }
  - { name: lease-fixed, match: { path: /lease-fixed }, static: { body: ok }, policies: [ { rate-limit: { algorithm: fixed-window, limit: 100, window: 10s, mode: lease, lease: 10 } } ] }
  - { name: lease-gcra, match: { path: /lease-gcra }, static: { body: ok }, policies: [ { rate-limit: { algorithm: gcra, limit: 100, window: 10m, mode: lease, lease: 10, leaseTtl: 10s } } ] }
`;

/** Sleeps until an epoch-aligned window of `windowMs` is at `fraction` (this one, or the next if past it). */
async function atFraction(windowMs: number, fraction: number): Promise<void> {
  const into = Date.now() % windowMs;
  const target = fraction * windowMs;
  await new Promise((r) => setTimeout(r, into <= target ? target - into : windowMs - into + target));
}

function exactness(urls: () => string[]) {
  const at = (path: string) => urls().map((u) => u + path);
  const admitted = async (path: string, n: number) => statusCounts(await burst(at(path), n))[200] ?? 0;

  it('fixed-window: exactly limit of 3 × limit', async () => {
    await awayFromBoundary(10_000, 2_500);
    expect(await admitted('/fixed', 3 * L)).toBe(L);
  });

  it('token-bucket: exactly burst of 3 × limit', async () => {
    expect(await admitted('/bucket', 3 * L)).toBe(L);
  });

  it('GCRA: exactly burst of 3 × limit', async () => {
    expect(await admitted('/gcra', 3 * L)).toBe(L);
  });

  it('sliding-window: exactly limit in a fresh window, then limit × elapsed share in the next', async () => {
    await atFraction(2000, 0.05);
    const first = Math.floor(Date.now() / 2000);
    expect(await admitted('/sliding', 3 * L)).toBe(L);
    // Half-way into the next window, the previous window's L still weighs L × (1 − f).
    await new Promise((r) => setTimeout(r, (first + 1.5) * 2000 - Date.now()));
    const fBefore = (Date.now() % 2000) / 2000;
    const n = await admitted('/sliding', 3 * L);
    const fAfter = (Date.now() % 2000) / 2000;
    expect(n).toBeGreaterThanOrEqual(Math.floor(L * fBefore));
    expect(n).toBeLessThanOrEqual(Math.ceil(L * fAfter));
  });
}

describe('exactness on the memory store (one process)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(config(''), { env: { ...process.env, PORT: '0' } });
  });
  afterAll(async () => {
    await gw?.close();
  });
  exactness(() => [gw.url]);
});

describeRedis('exactness on Redis (two gateway processes)', (redis) => {
  const gws: GatewayProcess[] = [];
  let admin: Redis;
  beforeAll(async () => {
    const file = writeTempConfig(config(`store: { kind: redis, url: "${redis().url}", keyPrefix: "exact:" }`));
    gws.push(...(await Promise.all([startGatewayProcess(file), startGatewayProcess(file)])));
    admin = new Redis(redis().url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await Promise.all(gws.map((g) => g.stop()));
  });
  exactness(() => gws.map((g) => g.url));

  /** EVALSHA + EVAL calls Redis has served so far. */
  const scriptCalls = async () => {
    const info = await admin.info('commandstats');
    let n = 0;
    for (const m of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) n += Number(m[1]);
    return n;
  };

  it('lease mode, fixed-window: never over the limit, at most instances × 1.25 × lease under, few round trips', async () => {
    await awayFromBoundary(10_000, 3_000);
    const before = await scriptCalls();
    const res = await burst(gws.map((g) => g.url + '/lease-fixed'), 300);
    const calls = (await scriptCalls()) - before;
    const ok = statusCounts(res)[200] ?? 0;
    expect(ok).toBeLessThanOrEqual(100);
    expect(ok).toBeGreaterThanOrEqual(100 - 2 * 12);
    // 300 requests; budgets of 10 plus one refused refill per instance: far fewer round trips.
    expect(calls).toBeLessThan(60);
  });

  it('lease mode, GCRA: within limit + instances × 1.25 × lease', async () => {
    const res = await burst(gws.map((g) => g.url + '/lease-gcra'), 300);
    const ok = statusCounts(res)[200] ?? 0;
    expect(ok).toBeLessThanOrEqual(100 + 2 * 12);
    expect(ok).toBeGreaterThanOrEqual(100 - 2 * 12);
  });
});
