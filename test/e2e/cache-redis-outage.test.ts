import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRedis } from '../redis.js';
import { httpRequest, sleep, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * The shared (Redis) cache while Redis is down: lookups are misses, stores are skipped,
 * and the drops the cache makes on its own (a successful POST invalidating its URI, a
 * revalidation showing an entry outdated) fail quietly instead of rejecting unhandled.
 */
describeRedis('shared cache while Redis is down', (redis) => {
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60', 'content-length': '2' });
      res.end('ok');
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { readyRequiresStore: false }
store: { kind: redis, url: "${redis().url}", keyPrefix: "cache-outage:", timeout: 200ms, maxBackoff: 100ms }
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - { name: c, match: { path: "/c/*" }, upstream: up, policies: [ { cache: {} } ] }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
    if (!redis().running) await redis().restart();
  });

  it('serves misses, and a POST that would invalidate the entry does not fail anything', async () => {
    expect((await httpRequest(gw.url + '/c/a')).headers['cache-status']).toBe('gantry; fwd=uri-miss; fwd-status=200; stored');
    await redis().kill();
    const miss = await httpRequest(gw.url + '/c/a');
    expect(miss.status).toBe(200);
    expect(miss.headers['cache-status']).toMatch(/^gantry; fwd=uri-miss/);
    const post = await httpRequest(gw.url + '/c/a', { method: 'POST', body: 'x' });
    expect(post.status).toBe(200);
    // Long enough for the invalidation's Redis command to time out.
    await sleep(400);
    expect(gw.logs.some((l) => String(l.msg).includes('cache: could not drop'))).toBe(true);
    expect((await httpRequest(gw.url + '/c/a')).status).toBe(200);
  });
});
