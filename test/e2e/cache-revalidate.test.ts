import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { httpRequest, sleep, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { dirname } from 'node:path';
import { cacheClock } from '../../src/policies/cache/clock.js';
import { zonesOf } from '../../src/policies/cache/zones.js';

/**
 * Revalidation answered by a 304 (RFC 9111 §4.3.4), over real sockets, on an injected
 * clock: a 304 that selects the stored response refreshes it; one whose validators select
 * nothing stored makes the cache fetch the resource again without validators, in the
 * foreground (the client gets that response, streamed, stored only when it fits
 * `maxEntrySize`) and in the background of stale-while-revalidate (stored when it fits,
 * the stale entry dropped otherwise). A full response that is not stored drops the entry it
 * revalidated; `Cache-Status: stored` is announced only when known at the head; a refetch
 * without any response is a 502 problem. Each case has its own path.
 */

/** How the origin answers a path: its current ETag and body, and what a conditional gets. */
interface Resource {
  etag: string;
  body: string;
  /** Answer If-None-Match with a 304 carrying this ETag (default: the current one). */
  etag304?: string;
  /** Send the body chunked, without Content-Length. */
  chunked?: boolean;
  /** Cache-Control of the 304 (default: that of the 200). */
  cc304?: string;
  /** Answer a conditional with the full 200 (the origin no longer knows the old ETag). */
  full?: boolean;
  /** Instead of `body`: write without end until the gateway closes ('endless'), or die a third of the way in. */
  stream?: 'endless' | 'cut' | 'cut-chunked';
  /** Cache-Control of the 200 (default: max-age=5). */
  cc?: string;
  /** Answer every request with this error status. */
  error?: number;
  /** Close the connection, without a response, on a request without validators. */
  dropUnconditional?: boolean;
}

/** Paths whose endless response the gateway closed. */
const closed = new Set<string>();

const resources = new Map<string, Resource>();
/** Requests per path: [If-None-Match, X-Forwarded-For] of each. */
const seen = new Map<string, [string | undefined, string | undefined][]>();
let now = Date.now();
const BIG = 300_000;

/** A short, comparable summary of a body (a failed assertion must not print 300 kB). */
function digest(body: string): string {
  return `${body.length} bytes ${body.slice(0, 8)}… sha256:${createHash('sha256').update(body).digest('hex').slice(0, 16)}`;
}

function origin(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url!;
  const r = resources.get(path);
  if (r === undefined) {
    res.writeHead(404).end();
    return;
  }
  const inm = req.headers['if-none-match'];
  seen.set(path, [...(seen.get(path) ?? []), [inm, req.headers['x-forwarded-for'] as string | undefined]]);
  const head = { etag: r.etag, 'cache-control': r.cc ?? 'max-age=5', 'content-type': 'text/plain' };
  if (r.error !== undefined) {
    res.writeHead(r.error, { 'content-type': 'text/plain', 'content-length': '5' }).end('error');
    return;
  }
  if (inm === undefined && r.dropUnconditional) {
    req.socket.destroy();
    return;
  }
  if (inm !== undefined && !r.full) {
    res.writeHead(304, { ...head, etag: r.etag304 ?? r.etag, 'cache-control': r.cc304 ?? head['cache-control'] }).end();
    return;
  }
  if (r.stream === 'endless') {
    res.writeHead(200, head);
    const timer = setInterval(() => res.write('e'.repeat(16 * 1024)), 5);
    res.once('close', () => {
      clearInterval(timer);
      closed.add(path);
    });
    return;
  }
  if (r.stream === 'cut' || r.stream === 'cut-chunked') {
    res.writeHead(200, r.stream === 'cut' ? { ...head, 'content-length': String(BIG) } : head);
    res.write('c'.repeat(BIG / 3), () => req.socket.destroy());
    return;
  }
  if (r.chunked) {
    res.writeHead(200, head);
    // Several writes, so the gateway sees the body in pieces.
    for (let i = 0; i < r.body.length; i += 64 * 1024) res.write(r.body.slice(i, i + 64 * 1024));
    res.end();
    return;
  }
  res.writeHead(200, { ...head, 'content-length': String(Buffer.byteLength(r.body)) }).end(r.body);
}

describe('cache revalidation answered by 304', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    cacheClock.set(() => now);
    up = await startUpstream(origin);
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - { name: fg, match: { path: "/fg/*" }, upstream: up, policies: [ { cache: { maxEntrySize: 1kb } } ] }
  - { name: bg, match: { path: "/bg/*" }, upstream: up, policies: [ { cache: { maxEntrySize: 1kb, staleWhileRevalidate: 60s } } ] }
  - { name: rf, match: { path: "/rf/*" }, upstream: up, policies: [ { request-id: {} }, { cache: { maxEntrySize: 1kb } } ] }
  - { name: sie, match: { path: "/sie/*" }, upstream: up, policies: [ { cache: { maxEntrySize: 1kb, staleIfError: 60s } } ] }
`);
  });
  afterAll(async () => {
    cacheClock.reset();
    await gw?.close();
    await up?.close();
  });

  const get = (path: string) => httpRequest(gw.url + path);
  const stats = (zone: string) => zonesOf(dirname(gw.file), zone)[0]!.stats;
  const requests = (path: string) => seen.get(path) ?? [];
  /** Waits (bounded) until the origin has seen `n` requests for a path. */
  async function originSaw(path: string, n: number): Promise<void> {
    for (let i = 0; i < 200 && requests(path).length < n; i++) await sleep(10);
  }

  /** Stores `v1` (ETag "a"), then lets it go stale; the origin then holds `next`. */
  async function storeThenChange(path: string, next: Resource): Promise<void> {
    resources.set(path, { etag: '"a"', body: 'v1' });
    const first = await get(path);
    expect(first.headers['cache-status']).toMatch(/fwd=uri-miss; fwd-status=200; stored/);
    resources.set(path, next);
    now += 10_000; // past max-age=5
  }

  describe('foreground: a 304 that selects nothing stored is followed by a full fetch', () => {
    // `stored` is announced only when the head shows that the entry will be stored (RFC
    // 9211 §2.6): a Content-Length within maxEntrySize, not a chunked body of unknown size.
    const cases = [
      { desc: 'a grown body with Content-Length streams to the client, uncached', body: 'x'.repeat(BIG), chunked: false, stored: false, announced: false },
      { desc: 'a grown chunked body streams to the client, uncached', body: 'y'.repeat(BIG), chunked: true, stored: false, announced: false },
      { desc: 'a body that fits is stored', body: 'v2', chunked: false, stored: true, announced: true },
      { desc: 'a chunked body that fits is stored, not announced at its head', body: 'v2', chunked: true, stored: true, announced: false },
    ];
    cases.forEach((c, i) => {
      it(c.desc, async () => {
        const path = `/fg/other-${i}`;
        await storeThenChange(path, { etag: '"b"', etag304: '"b"', body: c.body, chunked: c.chunked });
        const storedBefore = stats('fg').stored;
        const r = await get(path);
        expect(r.status).toBe(200);
        expect(digest(r.text)).toBe(digest(c.body));
        expect(r.headers['cache-status']).toBe(`gantry; fwd=stale; fwd-status=200${c.announced ? '; stored' : ''}`);
        // The conditional with the stored ETag, then the refetch without validators, sent
        // with the same forwarding fields as any request (not appended twice).
        expect(requests(path)).toEqual([
          [undefined, '127.0.0.1'],
          ['"a"', '127.0.0.1'],
          [undefined, '127.0.0.1'],
        ]);
        const after = await get(path);
        expect(digest(after.text)).toBe(digest(c.body));
        // The `store` counter agrees with what was stored, announced or not.
        expect(stats('fg').stored - storedBefore).toBe(c.stored ? 1 : 0);
        if (c.stored) {
          expect(after.headers['cache-status']).toMatch(/^gantry; hit/);
          expect(requests(path).length).toBe(3);
        } else {
          // Nothing stored, the old entry gone: a plain miss, not a revalidation.
          expect(after.headers['cache-status']).toBe('gantry; fwd=uri-miss; fwd-status=200');
          expect(requests(path).length).toBe(4);
        }
      });
    });
  });

  describe('Cache-Status `stored` on a miss is announced only when known at the head', () => {
    const cases = [
      { desc: 'Content-Length within maxEntrySize: announced and stored', body: 'small', chunked: false, stored: true, announced: true },
      { desc: 'chunked, fits: stored but not announced', body: 'small', chunked: true, stored: true, announced: false },
      { desc: 'chunked, too big: neither', body: 'z'.repeat(BIG), chunked: true, stored: false, announced: false },
      { desc: 'Content-Length past maxEntrySize: neither', body: 'z'.repeat(BIG), chunked: false, stored: false, announced: false },
    ];
    cases.forEach((c, i) => {
      it(c.desc, async () => {
        const path = `/fg/miss-${i}`;
        resources.set(path, { etag: '"a"', body: c.body, chunked: c.chunked });
        const storedBefore = stats('fg').stored;
        const r = await get(path);
        expect(digest(r.text)).toBe(digest(c.body));
        expect(r.headers['cache-status']).toBe(`gantry; fwd=uri-miss; fwd-status=200${c.announced ? '; stored' : ''}`);
        const again = await get(path);
        expect(digest(again.text)).toBe(digest(c.body));
        expect(again.headers['cache-status']).toMatch(c.stored ? /^gantry; hit/ : /^gantry; fwd=uri-miss/);
        expect(stats('fg').stored - storedBefore).toBe(c.stored ? 1 : 0);
      });
    });
  });

  describe('foreground: a full response that is not stored drops the outdated entry', () => {
    // Without the drop, stale-if-error would later serve v1 although the origin already
    // sent a newer version.
    const cases = [
      { desc: 'too big, with Content-Length', next: { etag: '"b"', body: 'x'.repeat(BIG), full: true } },
      { desc: 'too big, chunked', next: { etag: '"b"', body: 'y'.repeat(BIG), full: true, chunked: true } },
      { desc: 'no longer storable (no-store)', next: { etag: '"b"', body: 'v2', full: true, cc: 'no-store' } },
      { desc: 'a 304 for another ETag, refetched body too big', next: { etag: '"b"', etag304: '"b"', body: 'w'.repeat(BIG), chunked: true } },
    ];
    cases.forEach((c, i) => {
      it(c.desc, async () => {
        const path = `/sie/full-${i}`;
        await storeThenChange(path, c.next);
        const r = await get(path);
        expect(r.status).toBe(200);
        expect(digest(r.text)).toBe(digest(c.next.body));
        expect(r.headers['cache-status']).toMatch(/^gantry; fwd=stale; fwd-status=200$/);
        resources.set(path, { ...c.next, error: 503 });
        const failed = await get(path);
        expect(failed.status).toBe(503);
        expect(failed.headers['cache-status']).toBe('gantry; fwd=uri-miss; fwd-status=503');
      });
    });
  });

  it('foreground: a refetch that gets no response head answers 502 problem+json', async () => {
    const path = '/rf/refetch-dropped';
    await storeThenChange(path, { etag: '"b"', etag304: '"b"', body: 'v2', dropUnconditional: true });
    const r = await httpRequest(gw.url + path, { headers: { 'x-request-id': 'refetch-502' } });
    expect(r.status).toBe(502);
    expect(r.headers['content-type']).toBe('application/problem+json');
    const problem = r.json();
    expect(problem.status).toBe(502);
    expect(problem.requestId).toBe('refetch-502');
    expect(r.headers['x-request-id']).toBe('refetch-502');
    expect(r.headers['cache-status']).toMatch(/^gantry; fwd=stale; fwd-status=502/);
    expect(requests(path).map((s) => s[0])).toEqual([undefined, '"a"', undefined]);
  });

  it('a matching 304 that now forbids storing serves the stored body once and drops the entry', async () => {
    const path = '/fg/nostore';
    await storeThenChange(path, { etag: '"a"', body: 'v1', cc304: 'no-store' });
    const r = await get(path);
    expect(r.text).toBe('v1');
    expect(r.headers['cache-status']).toMatch(/^gantry; fwd=stale; fwd-status=304/);
    resources.set(path, { etag: '"a"', body: 'v2' });
    const after = await get(path);
    expect(after.text).toBe('v2');
    expect(after.headers['cache-status']).toMatch(/^gantry; fwd=uri-miss/);
  });

  describe('foreground refetch streaming', () => {
    it('a client that goes away stops the refetch upstream', async () => {
      const path = '/fg/leave';
      await storeThenChange(path, { etag: '"b"', etag304: '"b"', body: '', stream: 'endless' });
      await new Promise<void>((resolve, reject) => {
        const req = http.get(gw.url + path, (res) => {
          expect(res.statusCode).toBe(200);
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
      });
      for (let i = 0; i < 200 && !closed.has(path); i++) await sleep(10);
      expect(closed.has(path)).toBe(true);
      expect(requests(path).length).toBe(3);
    });
    for (const stream of ['cut', 'cut-chunked'] as const) {
      it(`a refetch cut off mid-body cuts the client off, not a truncated body that looks complete (${stream})`, async () => {
        const path = `/fg/${stream}`;
        await storeThenChange(path, { etag: '"b"', etag304: '"b"', body: '', stream });
        await expect(get(path)).rejects.toThrow();
        // Nothing stored from the cut body; the next request is served normally.
        resources.set(path, { etag: '"c"', body: 'whole' });
        const next = await get(path);
        expect(next.text).toBe('whole');
        expect(next.headers['cache-status']).toMatch(/^gantry; fwd=uri-miss/);
      });
    }
  });

  describe('background (stale-while-revalidate): the stale entry is replaced or dropped', () => {
    const cases = [
      { desc: 'a 304 for another ETag, refetched body fits: replaced', next: { etag: '"b"', etag304: '"b"', body: 'v2' }, fetches: 3, replaced: true },
      { desc: 'a 304 for another ETag, refetched body too big: dropped', next: { etag: '"b"', etag304: '"b"', body: 'x'.repeat(BIG) }, fetches: 3, replaced: false },
      {
        desc: 'a 304 for another ETag, refetched chunked body too big: dropped',
        next: { etag: '"b"', etag304: '"b"', body: 'y'.repeat(BIG), chunked: true },
        fetches: 3,
        replaced: false,
      },
      { desc: 'a 200 to the conditional, too big: dropped', next: { etag: '"b"', body: 'z'.repeat(BIG), chunked: true, full: true }, fetches: 2, replaced: false },
      { desc: 'a 200 to the conditional, Content-Length past maxEntrySize: dropped', next: { etag: '"b"', body: 'z'.repeat(BIG), full: true }, fetches: 2, replaced: false },
      { desc: 'a 200 to the conditional, no longer storable: dropped', next: { etag: '"b"', body: 'v2', full: true, cc: 'no-store' }, fetches: 2, replaced: false },
    ];
    cases.forEach((c, i) => {
      it(c.desc, async () => {
        const path = `/bg/other-${i}`;
        await storeThenChange(path, c.next);
        const stale = await get(path);
        expect(stale.text).toBe('v1');
        expect(stale.headers['cache-status']).toMatch(/hit; detail=stale-while-revalidate/);
        await originSaw(path, c.fetches);
        expect(requests(path).length).toBe(c.fetches);
        // Still inside the stale-while-revalidate window: the old body must not come back.
        const after = await get(path);
        expect(after.status).toBe(200);
        expect(digest(after.text)).toBe(digest(c.next.body));
        if (c.replaced) {
          expect(after.headers['cache-status']).toMatch(/^gantry; hit/);
          expect(requests(path).length).toBe(c.fetches);
        } else {
          expect(after.headers['cache-status']).toMatch(/^gantry; fwd=uri-miss; fwd-status=200\b/);
          expect(requests(path).length).toBe(c.fetches + 1);
        }
      });
    });
  });

  it('background: a refetch past maxEntrySize is not downloaded further', async () => {
    const path = '/bg/endless';
    await storeThenChange(path, { etag: '"b"', etag304: '"b"', body: '', stream: 'endless' });
    expect((await get(path)).text).toBe('v1');
    for (let i = 0; i < 200 && !closed.has(path); i++) await sleep(10);
    expect(closed.has(path)).toBe(true);
    resources.set(path, { etag: '"c"', body: 'v3' });
    const after = await get(path);
    expect(after.text).toBe('v3');
    expect(after.headers['cache-status']).toMatch(/^gantry; fwd=uri-miss/);
  });

  describe('a 304 that selects the stored response refreshes it', () => {
    const cases = [
      { desc: 'foreground', path: '/fg/same', status: /^gantry; fwd=stale; fwd-status=304; ttl=5$/ },
      { desc: 'background', path: '/bg/same', status: /^gantry; hit; detail=stale-while-revalidate; ttl=-5$/ },
    ];
    for (const c of cases) {
      it(c.desc, async () => {
        await storeThenChange(c.path, { etag: '"a"', body: 'v1' });
        const r = await get(c.path);
        expect(r.text).toBe('v1');
        expect(r.headers['cache-status']).toMatch(c.status);
        await originSaw(c.path, 2);
        expect(requests(c.path).map((s) => s[0])).toEqual([undefined, '"a"']);
        // Fresh again from the refreshed entry (a hit, after a background one may wait for it).
        const after = await get(c.path);
        expect(after.text).toBe('v1');
        expect(after.headers['cache-status']).toMatch(/^gantry; hit(; detail=coalesced)?; ttl=[45]$/);
        expect(requests(c.path).length).toBe(2);
      });
    }
  });
});
