import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { describeRedis, redisAdmin } from '../redis.js';
import { eventually, httpRequest, parseMetrics, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { metrics } from '../../src/observability/metrics.js';
import { CachePurgeError } from '../../src/policies/cache/zones.js';

/**
 * A purge whose shared store fails in one zone still purges every other zone, then
 * reports the zones that failed. Zone 'a' fails through an ACL that leaves the gateway's
 * user only zone 'b''s keys (Redis answers -NOPERM for zone 'a''s, at once); zone 'b' and
 * the memory zone 'm' work. Routes (so zones) are registered a, b, m: 'a' comes first.
 */

const TOKEN = 'cache-purge-errors-token-0123456789';
const PREFIX = 'purge-errors:';

async function purgeErrors(): Promise<number> {
  return parseMetrics(await metrics.text()).get('gantry_store_errors_total{store="redis",operation="cache-purge"}') ?? 0;
}

describeRedis('a cache purge that fails in one zone', (redis) => {
  let up: TestUpstream;
  let gw: TestGateway;
  let admin: Redis;
  let adminUrl: string;
  const fetched = new Map<string, number>();

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const n = (fetched.get(req.url!) ?? 0) + 1;
      fetched.set(req.url!, n);
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=300', 'surrogate-key': 't' });
      res.end(String(n));
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }
server: { readyRequiresStore: false }
store: { kind: redis, url: "${redis().url}", keyPrefix: "${PREFIX}", timeout: 200ms, maxBackoff: 100ms }
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - { name: a, match: { path: "/a/*" }, upstream: up, policies: [ { cache: { key: { host: false } } } ] }
  - { name: b, match: { path: "/b/*" }, upstream: up, policies: [ { cache: { key: { host: false } } } ] }
  - { name: m, match: { path: "/m/*" }, upstream: up, policies: [ { cache: { key: { host: false }, shared: false } } ] }
`);
    adminUrl = `http://127.0.0.1:${gw.gw.adminPort}`;
    admin = await redisAdmin(redis().url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await gw?.close();
    await up?.close();
  });

  /** The body of a GET: the upstream's fetch count for that path ('1' first, '2' once refetched). */
  const get = async (path: string) => (await httpRequest(gw.url + path)).text;

  /** Caches one entry in each zone; resolves once each is a hit. */
  async function fill(n: string): Promise<string[]> {
    const paths = [`/a/${n}`, `/b/${n}`, `/m/${n}`];
    for (const p of paths) await get(p);
    for (const p of paths) {
      await eventually(async () => ((await httpRequest(gw.url + p)).headers['cache-status']?.toString().startsWith('gantry; hit') ? true : undefined), 3000, `${p} cached`);
    }
    return paths;
  }

  /** Runs `fn` while the gateway's user may touch only zone 'b''s keys (zone 'a' is refused). */
  async function zoneAFailing(fn: () => Promise<void>): Promise<void> {
    const onlyB = [`~${PREFIX}{cache:b:*`, `~${PREFIX}{cache-drops:b:*`, `~${PREFIX}{cache-rules:b}`];
    await admin.call('ACL', 'SETUSER', 'default', 'resetkeys', ...onlyB);
    try {
      await fn();
    } finally {
      await admin.call('ACL', 'SETUSER', 'default', 'resetkeys', '~*');
    }
  }

  const selectors = [{ tag: 't' }, { prefix: '/' }] as const;
  for (const selector of selectors) {
    it(`gateway.purgeCache(${JSON.stringify(selector)}) purges zones 'b' and 'm' after 'a' failed, and names 'a'`, async () => {
      const [a, b, m] = await fill(Object.keys(selector)[0]!);
      const before = await purgeErrors();
      let error: unknown;
      await zoneAFailing(async () => {
        error = await gw.gw.purgeCache(selector).then(() => undefined, (e: unknown) => e);
      });
      // 'b' and 'm' were purged (refetched), 'a' was not (still the first response).
      expect([await get(a!), await get(b!), await get(m!)]).toEqual(['1', '2', '2']);
      expect(error).toBeInstanceOf(CachePurgeError);
      expect((error as CachePurgeError).zones).toEqual(['a']);
      expect((await purgeErrors()) - before).toBe(1);
    });
  }

  it('gateway.purgeCache by key in one zone: only that zone is tried', async () => {
    const [a, b] = await fill('k');
    const before = await purgeErrors();
    await zoneAFailing(async () => {
      expect(await gw.gw.purgeCache({ key: b! }, 'b')).toBe(1);
      await expect(gw.gw.purgeCache({ key: a! }, 'a')).rejects.toMatchObject({ zones: ['a'] });
    });
    expect((await purgeErrors()) - before).toBe(1);
    expect(await get(b!)).toBe('2');
    expect(await get(a!)).toBe('1');
  });

  const purge = (body: unknown) =>
    httpRequest(adminUrl + '/api/cache/purge', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('the admin API answers 503 store-unavailable naming the zones it could not purge, without the store\'s raw error, after purging the others', async () => {
    const [a, b, m] = await fill('admin');
    const logged = gw.logs.length;
    let res: Awaited<ReturnType<typeof purge>> | undefined;
    await zoneAFailing(async () => {
      res = await purge({ tag: 't' });
    });
    expect([await get(a!), await get(b!), await get(m!)]).toEqual(['1', '2', '2']);
    expect(res!.status).toBe(503);
    expect(res!.headers['content-type']).toBe('application/problem+json');
    const body = res!.json() as Record<string, unknown>;
    expect(body).toMatchObject({
      type: 'https://gantry.dev/problems/store-unavailable',
      title: 'Shared store unavailable',
      status: 503,
      zones: ['a'],
      // The memory zone 'm' counts what it removed (Redis zones count none for a tag).
      purged: expect.any(Number),
      workers: [{ purged: expect.any(Number), failed: ['a'] }],
    });
    expect(body.purged).toBeGreaterThan(0);
    expect(body.detail).toContain("'a'");
    expect(res!.text).not.toMatch(/NOPERM|permission|Internal gateway error/i);
    // The store's own error is in the gateway log, for the operator.
    const line = gw.logs.slice(logged).find((l) => String(l.msg).startsWith('cache purge failed'));
    expect(line).toMatchObject({ zones: ['a'] });
    expect(JSON.stringify(line)).toMatch(/NOPERM/);
  });

  it('the admin API answers 200 when every zone was purged', async () => {
    await fill('ok');
    const res = await purge({ tag: 't' });
    expect(res.status).toBe(200);
    const body = res.json() as { purged: number };
    expect(body).toEqual({ purged: expect.any(Number), workers: [{ purged: body.purged }] });
    expect(body.purged).toBeGreaterThan(0);
  });
});
