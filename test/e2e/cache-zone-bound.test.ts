import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { zonesOf } from '../../src/policies/cache/zones.js';
import type { MemoryCacheStore } from '../../src/policies/cache/store.js';

/**
 * A memory zone whose `maxSize` equals `maxEntrySize` (the smallest the config accepts)
 * stores every body up to `maxEntrySize`, although the entry's headers, key and overhead
 * count against `maxSize` too: what `Cache-Status` announces as `stored` is stored, and the
 * next request is a hit. Such an entry is kept alone (with its Vary marker); a body past
 * `maxEntrySize` is neither announced nor stored.
 */

const MAX = 4096;
const hits = new Map<string, number>();

/** `/<bytes>[/chunked|/vary]/…`: a body of that many bytes, with Content-Length unless chunked. */
function origin(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url!;
  hits.set(url, (hits.get(url) ?? 0) + 1);
  const [, size, mode] = url.split('/');
  const body = 'b'.repeat(Number(size));
  const head: Record<string, string> = { 'cache-control': 'max-age=60', 'content-type': 'text/plain', etag: '"e"' };
  if (mode === 'vary') head.vary = 'accept-language';
  if (mode !== 'chunked') head['content-length'] = String(body.length);
  res.writeHead(200, head);
  // Two writes, so a chunked body arrives in pieces.
  res.write(body.slice(0, 100));
  res.end(body.slice(100));
}

describe('cache: a memory zone with maxSize equal to maxEntrySize', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startUpstream(origin);
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams: { origin: { targets: [ "${up.url}" ] } }
routes:
  - { name: tight, match: { path: /* }, upstream: origin, policies: [ { cache: { maxSize: 4kb, maxEntrySize: 4kb } } ] }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const store = () => zonesOf(dirname(gw.file), 'tight')[0]!.store as MemoryCacheStore;
  const get = (path: string) => httpRequest(gw.url + path, { headers: { 'accept-language': 'en' } });

  const cases = [
    { desc: 'a body just under maxEntrySize is announced stored and is a hit next', path: `/${MAX - 1}/cl/a`, announced: true, stored: true },
    { desc: 'a body of exactly maxEntrySize likewise', path: `/${MAX}/cl/b`, announced: true, stored: true },
    { desc: 'a chunked body just under maxEntrySize is stored (not announced at its head)', path: `/${MAX - 1}/chunked/c`, announced: false, stored: true },
    { desc: 'a body just under maxEntrySize that varies is stored with its Vary marker', path: `/${MAX - 1}/vary/d`, announced: true, stored: true },
    { desc: 'a body one byte past maxEntrySize is neither announced nor stored', path: `/${MAX + 1}/cl/e`, announced: false, stored: false },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const size = Number(c.path.split('/')[1]);
      const first = await get(c.path);
      expect(first.status).toBe(200);
      expect(first.body.length).toBe(size);
      expect(first.headers['cache-status']).toBe(`gantry; fwd=uri-miss; fwd-status=200${c.announced ? '; stored' : ''}`);

      const second = await get(c.path);
      expect(second.status).toBe(200);
      expect(second.body.length).toBe(size);
      expect(second.headers['cache-status']).toMatch(c.stored ? /^gantry; hit; ttl=\d+$/ : /^gantry; fwd=uri-miss; fwd-status=200$/);
      expect(hits.get(c.path)).toBe(c.stored ? 1 : 2);
      if (c.stored) {
        // The entry is kept alone (plus its Vary marker): the zone exceeds maxSize by its
        // headers, key and overhead only, never by a second body.
        expect(store().size).toBe(c.path.includes('/vary/') ? 2 : 1);
        expect(store().bytes).toBeLessThan(MAX + 2048);
      }
    });
  }

  it('smaller entries share the zone within maxSize again afterwards', async () => {
    for (const p of ['/100/cl/f', '/100/cl/g', '/100/cl/h']) expect((await get(p)).headers['cache-status']).toMatch(/; stored$/);
    for (const p of ['/100/cl/f', '/100/cl/g', '/100/cl/h']) expect((await get(p)).headers['cache-status']).toMatch(/^gantry; hit/);
    expect(store().bytes).toBeLessThanOrEqual(MAX);
  });
});
