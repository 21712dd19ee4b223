import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRedis } from '../redis.js';
import { httpRequest, sleep, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * The cache's own drops on a Redis-backed zone (RFC 9111 §4.4: a successful POST
 * invalidates its URI) cost no zone-wide purge rule: 300 invalidations of different URIs
 * leave an unrelated entry a hit, and each invalidated URI, with every Vary variant, is a
 * miss on every instance afterwards.
 */

describeRedis('cache drops on a shared zone', (redis) => {
  let up: TestUpstream;
  let a: TestGateway | undefined;
  let b: TestGateway | undefined;
  const version = new Map<string, number>();

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const path = req.url!;
      if (req.method === 'POST') version.set(path, (version.get(path) ?? 0) + 1);
      const body = `${path} v${version.get(path) ?? 0} ${req.headers['accept-language'] ?? ''}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=300', vary: 'accept-language', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    const yaml = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
store: { kind: redis, url: "${redis().url}", keyPrefix: "drops-${Date.now()}:" }
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - { name: items, match: { path: /i/* }, upstream: up, policies: [ { cache: { zone: items } } ] }
`;
    // Two instances, each with its own config copy (its own directory), one Redis.
    [a, b] = await Promise.all([startGateway(yaml), startGateway(yaml)]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await up?.close();
  });

  const get = (g: TestGateway, path: string, lang = 'en') => httpRequest(g.url + path, { headers: { host: 'api.example.com', 'accept-language': lang } });
  const N = 300;
  const paths = Array.from({ length: N }, (_, i) => `/i/${i}`);
  async function inBatches(items: string[], fn: (p: string) => Promise<unknown>): Promise<void> {
    for (let i = 0; i < items.length; i += 25) await Promise.all(items.slice(i, i + 25).map(fn));
  }

  /**
   * Entries are written after their response is sent, and instance a's commands reach
   * Redis in order on its one connection: once a reads back an entry it stored last,
   * everything it stored before is in Redis (for b too).
   */
  let barrier = 0;
  async function settled(): Promise<void> {
    const p = `/i/barrier-${++barrier}`;
    await get(a!, p);
    while (!/^gantry; hit/.test(String((await get(a!, p)).headers['cache-status']))) await sleep(10);
  }

  it('300 POST invalidations keep an unrelated entry a hit; each invalidated URI and its variants miss', async () => {
    expect((await get(a!, '/i/unrelated')).headers['cache-status']).toMatch(/fwd=uri-miss.*stored/);
    // Every URI cached in two variants (en, fr), by instance a.
    await inBatches(paths, async (p) => {
      await get(a!, p, 'en');
      await get(a!, p, 'fr');
    });
    await settled();
    expect((await get(b!, '/i/7', 'fr')).headers['cache-status']).toMatch(/^gantry; hit/);

    // Invalidated through instance b.
    await inBatches(paths, async (p) => expect((await httpRequest(b!.url + p, { method: 'POST', headers: { host: 'api.example.com' }, body: 'x' })).status).toBe(200));

    for (const g of [a!, b!]) expect((await get(g, '/i/unrelated')).headers['cache-status']).toMatch(/^gantry; hit/);
    // en first: the refetch stores a new Vary marker, so the fr lookup follows it to the
    // fr variant stored before the POST, which must count as dropped.
    await inBatches(paths, async (p) => {
      const en = await get(a!, p, 'en');
      expect(en.headers['cache-status']).toMatch(/fwd=uri-miss/);
      expect(en.text).toBe(`${p} v1 en`);
    });
    await settled();
    await inBatches(paths, async (p) => {
      const fr = await get(b!, p, 'fr');
      expect(fr.headers['cache-status']).toMatch(/fwd=vary-miss/);
      expect(fr.text).toBe(`${p} v1 fr`);
    });
    // And the refetched versions are hits again on both instances.
    expect((await get(b!, '/i/42', 'en')).headers['cache-status']).toMatch(/^gantry; hit/);
    expect((await get(a!, '/i/42', 'fr')).text).toBe('/i/42 v1 fr');
  });
});
