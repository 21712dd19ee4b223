import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * Origin: `/item*` is stored already stale (Age 10 s, max-age=1) with stale-while-revalidate,
 * so the second request is a stale hit and starts a background revalidation; `/json` and
 * `/large` are JSON for the etag route (`/large` passes its 1 kB maxSize).
 */
function origin(req: IncomingMessage, res: ServerResponse): void {
  if (req.url!.startsWith('/item')) {
    const tag = req.headers['if-none-match'] === undefined ? '"a"' : '"b"';
    res.writeHead(200, { etag: tag, age: '10', 'cache-control': 'max-age=1, stale-while-revalidate=60', 'content-length': '2' }).end('v1');
    return;
  }
  const body = JSON.stringify({ pad: 'x'.repeat(req.url === '/large' ? 5000 : 10) });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }).end(body);
}

/**
 * Shadow traffic copies client requests, once each: the upstream exchanges a gateway makes
 * on its own behalf (a cache's background revalidation, a second fetch) are not copied.
 */
describe('mirror: subrequests are not shadowed', () => {
  let up: TestUpstream;
  let shadow: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startUpstream(origin);
    shadow = await startUpstream((_req, res) => res.writeHead(204).end());
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  origin: { targets: [ "${up.url}" ] }
  shadow: { targets: [ "${shadow.url}" ] }
routes:
  - { name: cached, match: { path: /item* }, upstream: origin, mirror: { upstream: shadow }, policies: [ { cache: {} } ] }
  - { name: tagged, match: { path: /* }, upstream: origin, mirror: { upstream: shadow }, policies: [ { etag: { maxSize: 1kb } } ] }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([up?.close(), shadow?.close()]);
  });

  /** Sends a request that is mirrored, and waits until its copy arrived: copies sent before it have had their turn. */
  async function settleShadow(path: string): Promise<string[]> {
    await httpRequest(gw.url + path);
    await eventually(() => shadow.seen.some((r) => r.url === path) || undefined, 5000, `the shadow copy of ${path}`);
    return shadow.seen.map((r) => r.url);
  }

  it('a background revalidation is not mirrored: the shadow sees the client miss only', async () => {
    const miss = await httpRequest(gw.url + '/item');
    expect(miss.headers['cache-status']).toMatch(/fwd=uri-miss; fwd-status=200; stored/);
    const stale = await httpRequest(gw.url + '/item');
    expect(stale.headers['cache-status']).toMatch(/hit; detail=stale-while-revalidate/);
    // The revalidation reached the origin and is done.
    await eventually(() => (up.seen.length === 2 && gw.gw.background === 0) || undefined, 5000, 'the revalidation');
    expect(up.seen.map((r) => r.headers['if-none-match'])).toEqual([undefined, '"a"']);
    expect(await settleShadow('/item-sentinel')).toEqual(['/item', '/item-sentinel']);
    expect(shadow.seen[0]!.headers['if-none-match']).toBeUndefined();
  });

  it("etag: the policy's fetch is the client's exchange and is mirrored once, even when a too-large body is fetched again", async () => {
    shadow.seen.length = 0;
    up.seen.length = 0;
    const small = await httpRequest(gw.url + '/json');
    expect(small.headers.etag).toBeDefined();
    const large = await httpRequest(gw.url + '/large');
    expect(large.status).toBe(200);
    expect(large.headers.etag).toBeUndefined();
    // `/large` reached the origin twice (hashed, then streamed), the shadow once.
    expect(up.seen.map((r) => r.url)).toEqual(['/json', '/large', '/large']);
    expect(await settleShadow('/sentinel')).toEqual(['/json', '/large', '/sentinel']);
    expect(shadow.seen.every((r) => r.headers['x-gantry-shadow'] === '1')).toBe(true);
  });
});
