import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { eventually, httpRequest, sleep, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { cacheClock } from '../../src/policies/cache/clock.js';

/**
 * The cache policy over real sockets: each Cache-Control directive, Vary, private
 * responses, revalidation, stale-while-revalidate / stale-if-error on an injected clock,
 * coalescing and purge. Every route has its own zone (the route name), so cases do not
 * share entries; each case uses its own path besides.
 */

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

/** Upstream behaviours by path prefix; `n` counts requests to that exact URL. */
const behaviours = new Map<string, Handler>();
const hits = new Map<string, number>();
let now = Date.now();

function reply(res: ServerResponse, status: number, headers: Record<string, string>, body = ''): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

describe('cache policy', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  const plugin = fileURLToPath(new URL('../fixtures/header-consumer.mjs', import.meta.url));

  beforeAll(async () => {
    cacheClock.set(() => now);
    up = await startUpstream((req, res) => {
      const url = req.url!;
      const n = (hits.get(url) ?? 0) + 1;
      hits.set(url, n);
      for (const [prefix, h] of behaviours) if (url.startsWith(prefix)) return h(req, res, n);
      reply(res, 404, {}, 'no behaviour');
    });
    const route = (name: string, path: string, cache = '{}', extra = '') =>
      `  - { name: ${name}, match: { path: "${path}" }, upstream: up, policies: [ { header-consumer: {} }, { cache: ${cache} } ]${extra} }\n`;
    gw = await startGateway(
      `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
plugins: [ "${plugin}" ]
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
` +
        route('cc', '/cc/*') +
        route('ttl', '/ttl/*', '{ ttl: 30s }') +
        route('keyq', '/keyq/*', '{ ttl: 30s, key: { query: [page] } }') +
        route('noq', '/noq/*', '{ ttl: 30s, key: { ignoreQuery: true } }') +
        route('keyh', '/keyh/*', '{ ttl: 30s, key: { headers: [x-tenant] } }') +
        route('perconsumer', '/perconsumer/*', '{ ttl: 30s, key: { consumer: true } }') +
        route('statuses', '/statuses/*', '{ ttl: 30s, statuses: [200] }') +
        route('small', '/small/*', '{ ttl: 30s, maxEntrySize: 1kb }') +
        route('swrdefault', '/swrdefault/*', '{ staleWhileRevalidate: 30s }') +
        route('tags', '/tags/*', '{ ttl: 60s }'),
    );
  });
  afterAll(async () => {
    cacheClock.reset();
    await gw?.close();
    await up?.close();
  });
  afterEach(() => {
    behaviours.clear();
  });

  const get = (path: string, headers: Record<string, string> = {}) => httpRequest(gw.url + path, { headers });
  const count = (url: string) => hits.get(url) ?? 0;

  describe('what is stored (RFC 9111 §3)', () => {
    const cases: { desc: string; cc: string; reqHeaders?: Record<string, string>; status?: number; stored: boolean; extra?: Record<string, string> }[] = [
      { desc: 'max-age is stored', cc: 'max-age=60', stored: true },
      { desc: 's-maxage is stored even with max-age=0 (shared cache)', cc: 'max-age=0, s-maxage=60', stored: true },
      { desc: 'no-store is never stored', cc: 'max-age=60, no-store', stored: false },
      { desc: 'private is never stored by a shared cache', cc: 'private, max-age=60', stored: false },
      { desc: 'max-age=0 without validators is not kept', cc: 'max-age=0', stored: false },
      { desc: 'request no-store prevents storing', cc: 'max-age=60', reqHeaders: { 'cache-control': 'no-store' }, stored: false },
      { desc: 'Authorization requests are not stored', cc: 'max-age=60', reqHeaders: { authorization: 'Bearer x' }, stored: false },
      { desc: 'Authorization requests are stored when public', cc: 'public, max-age=60', reqHeaders: { authorization: 'Bearer x' }, stored: true },
      { desc: 'Authorization requests are stored with s-maxage', cc: 's-maxage=60', reqHeaders: { authorization: 'Bearer x' }, stored: true },
      { desc: 'Expires in the future is stored', cc: '', stored: true, extra: { expires: new Date(Date.now() + 60_000).toUTCString(), date: new Date().toUTCString() } },
      { desc: 'Expires in the past is not', cc: '', stored: false, extra: { expires: new Date(Date.now() - 60_000).toUTCString(), date: new Date().toUTCString() } },
      { desc: 'Set-Cookie responses are not stored', cc: 'public, max-age=60', stored: false, extra: { 'set-cookie': 'a=b' } },
      { desc: 'Vary: * is not stored', cc: 'max-age=60', stored: false, extra: { vary: '*' } },
      { desc: '404 with max-age is stored', cc: 'max-age=60', status: 404, stored: true },
      { desc: '500 is not stored', cc: 'max-age=60', status: 500, stored: false },
      { desc: 'event streams are not stored', cc: 'max-age=60', stored: false, extra: { 'content-type': 'text/event-stream' } },
    ];
    cases.forEach((c, i) => {
      it(c.desc, async () => {
        const path = `/cc/stored-${i}`;
        const headers: Record<string, string> = { ...(c.cc ? { 'cache-control': c.cc } : {}), ...c.extra };
        behaviours.set(path, (_req, res, n) => reply(res, c.status ?? 200, headers, `v${n}`));
        const a = await get(path, c.reqHeaders);
        expect(a.status).toBe(c.status ?? 200);
        expect(a.headers['cache-status']).toMatch(/^gantry; fwd=uri-miss/);
        const b = await get(path, c.reqHeaders);
        expect(b.text).toBe(c.stored ? 'v1' : 'v2');
        expect(count(path)).toBe(c.stored ? 1 : 2);
        if (c.stored) expect(b.headers['cache-status']).toMatch(/^gantry; hit; ttl=\d+/);
      });
    });
  });

  it('a hit carries Age and the stored headers, HEAD is answered from the GET entry', async () => {
    behaviours.set('/cc/age', (_req, res) => reply(res, 200, { 'cache-control': 'max-age=100', 'x-origin': 'yes' }, 'body'));
    await get('/cc/age');
    now += 7_000;
    const b = await get('/cc/age');
    expect(b.headers.age).toBe('7');
    expect(b.headers['x-origin']).toBe('yes');
    expect(b.headers['content-length']).toBe('4');
    expect(b.headers['cache-status']).toBe('gantry; hit; ttl=93');
    const head = await httpRequest(gw.url + '/cc/age', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(count('/cc/age')).toBe(1);
  });

  it('request directives: no-cache revalidates, max-age=0 refetches, max-stale accepts stale', async () => {
    behaviours.set('/cc/reqdir', (_req, res, n) => reply(res, 200, { 'cache-control': 'max-age=10' }, `v${n}`));
    await get('/cc/reqdir');
    expect((await get('/cc/reqdir', { 'cache-control': 'no-cache' })).text).toBe('v2');
    now += 1_000;
    expect((await get('/cc/reqdir', { 'cache-control': 'max-age=0' })).headers['cache-status']).toMatch(/fwd=/);
    now += 20_000;
    const stale = await get('/cc/reqdir', { 'cache-control': 'max-stale=60' });
    expect(stale.headers['cache-status']).toMatch(/hit/);
    expect(count('/cc/reqdir')).toBe(3);
  });

  it('Vary selects separate variants', async () => {
    behaviours.set('/cc/vary', (req, res, n) => reply(res, 200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' }, `${req.headers['accept-language']}-${n}`));
    expect((await get('/cc/vary', { 'accept-language': 'en' })).text).toBe('en-1');
    const fr = await get('/cc/vary', { 'accept-language': 'fr' });
    expect(fr.text).toBe('fr-2');
    expect(fr.headers['cache-status']).toMatch(/fwd=vary-miss/);
    expect((await get('/cc/vary', { 'accept-language': 'en' })).text).toBe('en-1');
    expect((await get('/cc/vary', { 'accept-language': 'fr' })).text).toBe('fr-2');
    expect(count('/cc/vary')).toBe(2);
  });

  it('private responses are never served to another consumer (even with a per-consumer key)', async () => {
    behaviours.set('/perconsumer/me', (req, res) => reply(res, 200, { 'cache-control': 'private, max-age=60' }, `for ${req.headers['x-test-consumer']}`));
    expect((await get('/perconsumer/me', { 'x-test-consumer': 'alice' })).text).toBe('for alice');
    expect((await get('/perconsumer/me', { 'x-test-consumer': 'bob' })).text).toBe('for bob');
    expect(count('/perconsumer/me')).toBe(2);
    behaviours.set('/perconsumer/shared', (req, res) => reply(res, 200, { 'cache-control': 'max-age=60' }, `for ${req.headers['x-test-consumer']}`));
    expect((await get('/perconsumer/shared', { 'x-test-consumer': 'alice' })).text).toBe('for alice');
    expect((await get('/perconsumer/shared', { 'x-test-consumer': 'bob' })).text).toBe('for bob');
    expect((await get('/perconsumer/shared', { 'x-test-consumer': 'alice' })).text).toBe('for alice');
    expect(count('/perconsumer/shared')).toBe(2);
  });

  describe('config overrides', () => {
    it('ttl applies only when the response gives no freshness', async () => {
      behaviours.set('/ttl/none', (_req, res, n) => reply(res, 200, {}, `v${n}`));
      behaviours.set('/ttl/zero', (_req, res, n) => reply(res, 200, { 'cache-control': 'max-age=0' }, `v${n}`));
      await get('/ttl/none');
      await get('/ttl/zero');
      now += 20_000;
      expect((await get('/ttl/none')).text).toBe('v1');
      expect((await get('/ttl/zero')).text).toBe('v2');
      now += 15_000;
      expect((await get('/ttl/none')).text).toBe('v2');
    });
    it('key.query keeps only the named parameters; ignoreQuery drops them', async () => {
      behaviours.set('/keyq/', (req, res) => reply(res, 200, {}, req.url!));
      expect((await get('/keyq/a?page=1&utm=x')).text).toBe('/keyq/a?page=1&utm=x');
      expect((await get('/keyq/a?utm=y&page=1')).text).toBe('/keyq/a?page=1&utm=x');
      expect((await get('/keyq/a?page=2')).text).toBe('/keyq/a?page=2');
      behaviours.set('/noq/', (req, res) => reply(res, 200, {}, req.url!));
      await get('/noq/a?x=1');
      expect((await get('/noq/a?x=2')).text).toBe('/noq/a?x=1');
    });
    it('key.headers adds header values to the key', async () => {
      behaviours.set('/keyh/a', (req, res) => reply(res, 200, {}, String(req.headers['x-tenant'])));
      expect((await get('/keyh/a', { 'x-tenant': 't1' })).text).toBe('t1');
      expect((await get('/keyh/a', { 'x-tenant': 't2' })).text).toBe('t2');
      expect((await get('/keyh/a', { 'x-tenant': 't1' })).text).toBe('t1');
      expect(count('/keyh/a')).toBe(2);
    });
    it('statuses limits what is stored; maxEntrySize skips large bodies', async () => {
      behaviours.set('/statuses/404', (_req, res, n) => reply(res, 404, { 'cache-control': 'max-age=60' }, `v${n}`));
      await get('/statuses/404');
      expect((await get('/statuses/404')).text).toBe('v2');
      behaviours.set('/small/big', (_req, res, n) => reply(res, 200, {}, 'x'.repeat(2000) + n));
      behaviours.set('/small/chunked', (_req, res, n) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('y'.repeat(1500));
        res.end(String(n));
      });
      await get('/small/big');
      expect((await get('/small/big')).text.endsWith('2')).toBe(true);
      await get('/small/chunked');
      expect((await get('/small/chunked')).text.endsWith('2')).toBe(true);
    });
  });

  describe('revalidation', () => {
    it('ETag: upstream sees If-None-Match, answers 304, the client gets 200 from cache', async () => {
      const seen: (string | undefined)[] = [];
      behaviours.set('/cc/etag', (req, res) => {
        seen.push(req.headers['if-none-match']);
        if (req.headers['if-none-match'] === '"v1"') return reply(res, 304, { etag: '"v1"', 'cache-control': 'max-age=5' });
        reply(res, 200, { etag: '"v1"', 'cache-control': 'max-age=5' }, 'payload');
      });
      await get('/cc/etag');
      now += 10_000;
      const r = await get('/cc/etag');
      expect(r.status).toBe(200);
      expect(r.text).toBe('payload');
      expect(r.headers['cache-status']).toBe('gantry; fwd=stale; fwd-status=304; ttl=5');
      expect(seen).toEqual([undefined, '"v1"']);
      // The 304 refreshed the entry: fresh again.
      expect((await get('/cc/etag')).headers['cache-status']).toMatch(/^gantry; hit/);
      expect(count('/cc/etag')).toBe(2);
    });
    it('Last-Modified: upstream sees If-Modified-Since', async () => {
      const lm = new Date(Date.now() - 3600_000).toUTCString();
      const seen: (string | undefined)[] = [];
      behaviours.set('/cc/lm', (req, res) => {
        seen.push(req.headers['if-modified-since']);
        if (req.headers['if-modified-since'] === lm) return reply(res, 304, { 'cache-control': 'max-age=5' });
        reply(res, 200, { 'last-modified': lm, 'cache-control': 'max-age=5' }, 'lm-payload');
      });
      await get('/cc/lm');
      now += 10_000;
      const r = await get('/cc/lm');
      expect(r.text).toBe('lm-payload');
      expect(seen).toEqual([undefined, lm]);
    });
    it('a 304 for another validator is not applied: the resource is fetched again', async () => {
      let current = '"a"';
      behaviours.set('/cc/othertag', (req, res) => {
        if (req.headers['if-none-match'] !== undefined) return reply(res, 304, { etag: '"b"', 'cache-control': 'max-age=5' });
        reply(res, 200, { etag: current, 'cache-control': 'max-age=5' }, `body ${current}`);
      });
      await get('/cc/othertag');
      current = '"b"';
      now += 10_000;
      const r = await get('/cc/othertag');
      expect(r.status).toBe(200);
      expect(r.text).toBe('body "b"');
      expect(r.headers['cache-status']).toMatch(/fwd=stale; fwd-status=200; stored/);
      expect((await get('/cc/othertag')).headers['cache-status']).toMatch(/^gantry; hit/);
      expect(count('/cc/othertag')).toBe(3);
    });
    it('a changed resource replaces the entry', async () => {
      behaviours.set('/cc/changed', (_req, res, n) => reply(res, 200, { etag: `"v${n}"`, 'cache-control': 'max-age=5' }, `v${n}`));
      await get('/cc/changed');
      now += 10_000;
      expect((await get('/cc/changed')).text).toBe('v2');
      expect((await get('/cc/changed')).text).toBe('v2');
      expect(count('/cc/changed')).toBe(2);
    });
    it('no-cache responses are stored but revalidated on every use', async () => {
      behaviours.set('/cc/nocache', (req, res) =>
        req.headers['if-none-match'] === '"n"' ? reply(res, 304, { etag: '"n"' }) : reply(res, 200, { etag: '"n"', 'cache-control': 'no-cache' }, 'nc'),
      );
      await get('/cc/nocache');
      const r = await get('/cc/nocache');
      expect(r.text).toBe('nc');
      expect(r.headers['cache-status']).toMatch(/fwd-status=304/);
      expect(count('/cc/nocache')).toBe(2);
    });
    it("client validators get a 304 from cache, and from a fresh fetch", async () => {
      behaviours.set('/cc/cond', (_req, res) => reply(res, 200, { etag: '"c1"', 'cache-control': 'max-age=60' }, 'cond'));
      const first = await get('/cc/cond', { 'if-none-match': '"c1"' });
      expect(first.status).toBe(304);
      expect(first.body.length).toBe(0);
      const hit = await get('/cc/cond', { 'if-none-match': 'W/"c1"' });
      expect(hit.status).toBe(304);
      expect(hit.headers.etag).toBe('"c1"');
      expect((await get('/cc/cond', { 'if-none-match': '"other"' })).text).toBe('cond');
      expect(count('/cc/cond')).toBe(1);
    });
  });

  describe('stale content (RFC 5861)', () => {
    it('stale-while-revalidate serves stale at once and refreshes in the background', async () => {
      behaviours.set('/cc/swr', (_req, res, n) => reply(res, 200, { 'cache-control': 'max-age=10, stale-while-revalidate=30' }, `v${n}`));
      await get('/cc/swr');
      now += 15_000; // stale, inside the swr window
      const stale = await get('/cc/swr');
      expect(stale.text).toBe('v1');
      expect(stale.headers['cache-status']).toMatch(/hit; detail=stale-while-revalidate; ttl=-5/);
      await eventually(() => count('/cc/swr') >= 2 || undefined, 5000, 'the background revalidation');
      await sleep(20);
      expect(count('/cc/swr')).toBe(2);
      const fresh = await get('/cc/swr');
      expect(fresh.text).toBe('v2');
      expect(fresh.headers['cache-status']).toMatch(/^gantry; hit; ttl=/);
      now += 50_000; // past max-age + swr: must go upstream before answering
      const late = await get('/cc/swr');
      expect(late.text).toBe('v3');
      expect(late.headers['cache-status']).toMatch(/^gantry; fwd=/);
    });
    it('the policy default staleWhileRevalidate applies when the response sets none', async () => {
      behaviours.set('/swrdefault/a', (_req, res, n) => reply(res, 200, { 'cache-control': 'max-age=1' }, `v${n}`));
      await get('/swrdefault/a');
      now += 5_000;
      expect((await get('/swrdefault/a')).text).toBe('v1');
    });
    it('must-revalidate forbids serving stale', async () => {
      behaviours.set('/cc/mustr', (_req, res, n) => reply(res, 200, { 'cache-control': 'max-age=1, must-revalidate, stale-while-revalidate=60' }, `v${n}`));
      await get('/cc/mustr');
      now += 5_000;
      expect((await get('/cc/mustr')).text).toBe('v2');
    });
    it('stale-if-error serves stale when the upstream fails or answers 5xx, within the window', async () => {
      let fail: 'no' | '503' | 'reset' = 'no';
      behaviours.set('/cc/sie', (req, res, n) => {
        if (fail === '503') return reply(res, 503, {}, 'down');
        if (fail === 'reset') return req.socket.destroy();
        reply(res, 200, { 'cache-control': 'max-age=1, stale-if-error=60' }, `v${n}`);
      });
      await get('/cc/sie');
      now += 5_000;
      fail = '503';
      const a = await get('/cc/sie');
      expect(a.status).toBe(200);
      expect(a.text).toBe('v1');
      expect(a.headers['cache-status']).toMatch(/fwd=stale; fwd-status=503; detail=stale-if-error/);
      fail = 'reset';
      const b = await get('/cc/sie');
      expect(b.text).toBe('v1');
      expect(b.headers['cache-status']).toMatch(/fwd-status=502; detail=stale-if-error/);
      now += 120_000;
      expect((await get('/cc/sie')).status).toBe(502);
    });
    it('stale-if-error covers an upstream that is gone (connection refused)', async () => {
      const lone = await startUpstream((_req, res) => reply(res, 200, { 'cache-control': 'max-age=1, stale-if-error=60' }, 'from lone'));
      const g = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  lone: { targets: [ "${lone.url}" ] }
routes:
  - { name: lone, match: { path: /* }, upstream: lone, policies: [ { cache: {} } ] }
`);
      try {
        await httpRequest(g.url + '/x');
        await lone.close();
        now += 5_000;
        const r = await httpRequest(g.url + '/x');
        expect(r.status).toBe(200);
        expect(r.text).toBe('from lone');
        expect(r.headers['cache-status']).toMatch(/fwd-status=502; detail=stale-if-error/);
      } finally {
        await g.close();
      }
    });
  });

  it('coalescing: 100 concurrent misses make exactly one upstream request', async () => {
    // The origin answers only once all 100 requests are inside the gateway, so every one of
    // them is a miss whatever the machine's speed (no timing assumption).
    behaviours.set('/cc/herd', (_req, res) => {
      const started = Date.now();
      const answer = () => {
        if (gw.gw.inFlight >= 100 || Date.now() - started > 10_000) reply(res, 200, { 'cache-control': 'max-age=60' }, 'herd');
        else setTimeout(answer, 5);
      };
      answer();
    });
    const all = await Promise.all(Array.from({ length: 100 }, () => get('/cc/herd')));
    expect(all.every((r) => r.status === 200 && r.text === 'herd')).toBe(true);
    expect(count('/cc/herd')).toBe(1);
    expect(all.filter((r) => /detail=coalesced/.test(String(r.headers['cache-status']))).length).toBe(99);
  });

  it('uncacheable responses are not serialised behind each other', async () => {
    behaviours.set('/cc/nostore-herd', (_req, res) => setTimeout(() => reply(res, 200, { 'cache-control': 'no-store' }, 'x'), 100));
    const t = performance.now();
    await Promise.all(Array.from({ length: 10 }, () => get('/cc/nostore-herd')));
    expect(count('/cc/nostore-herd')).toBe(10);
    // Two rounds at most (leader, then everyone else at once), never ten in a row.
    expect(performance.now() - t).toBeLessThan(900);
  });

  it('unsafe methods invalidate the stored entry (RFC 9111 §4.4)', async () => {
    behaviours.set('/cc/item', (req, res, n) => reply(res, 200, { 'cache-control': 'max-age=60' }, `${req.method}${n}`));
    await get('/cc/item');
    expect((await get('/cc/item')).text).toBe('GET1');
    await httpRequest(gw.url + '/cc/item', { method: 'POST', body: 'x' });
    expect((await get('/cc/item')).text).toBe('GET3');
  });

  it('a config reload keeps the zone; changing its bound starts an empty one', async () => {
    const lone = await startUpstream((_req, res) => reply(res, 200, { 'cache-control': 'max-age=600' }, 'r'));
    const cfg = (maxSize: string, extraRoute = '') => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  lone: { targets: [ "${lone.url}" ] }
routes:
  - { name: r, match: { path: /* }, upstream: lone, policies: [ { cache: { maxSize: ${maxSize} } } ] }
${extraRoute}`;
    const g = await startGateway(cfg('1mb'));
    try {
      await httpRequest(g.url + '/a');
      writeFileSync(g.file, cfg('1mb', '  - { name: other, match: { path: /other }, static: { body: x } }'));
      expect((await g.gw.reload()).ok).toBe(true);
      expect((await httpRequest(g.url + '/a')).headers['cache-status']).toMatch(/^gantry; hit/);
      writeFileSync(g.file, cfg('2mb'));
      expect((await g.gw.reload()).ok).toBe(true);
      expect((await httpRequest(g.url + '/a')).headers['cache-status']).toMatch(/fwd=uri-miss/);
      expect(lone.seen.length).toBe(2);
    } finally {
      await g.close();
      await lone.close();
    }
  });

  it('the reload that drops a zone closes it: purges no longer reach it, and bringing it back starts empty', async () => {
    const lone = await startUpstream((_req, res) => reply(res, 200, { 'cache-control': 'max-age=600' }, 'r'));
    const withCache = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  lone: { targets: [ "${lone.url}" ] }
routes:
  - { name: r, match: { path: /* }, upstream: lone, policies: [ { cache: { maxSize: 1mb } } ] }
`;
    const withoutCache = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
routes:
  - { name: r, match: { path: /* }, static: { body: x } }
`;
    const g = await startGateway(withCache);
    try {
      await httpRequest(g.url + '/a');
      await httpRequest(g.url + '/b');
      expect((await httpRequest(g.url + '/a')).headers['cache-status']).toMatch(/^gantry; hit/);
      writeFileSync(g.file, withoutCache);
      expect((await g.gw.reload()).ok).toBe(true);
      // The first version has retired once its pool to `lone` closed (after its policies).
      const connections = () => new Promise<number>((r) => lone.server.getConnections((_e, n) => r(n)));
      await eventually(async () => ((await connections()) === 0 ? true : undefined), 5000, 'the first config version to retire');
      expect(await g.gw.purgeCache({ key: '/b' })).toBe(0);
      writeFileSync(g.file, withCache);
      expect((await g.gw.reload()).ok).toBe(true);
      expect((await httpRequest(g.url + '/a')).headers['cache-status']).toMatch(/fwd=uri-miss/);
      expect(lone.seen.map((r) => r.url)).toEqual(['/a', '/b', '/a']);
    } finally {
      await g.close();
      await lone.close();
    }
  });

  it('purge by key, prefix and tag', async () => {
    behaviours.set('/tags/', (req, res, n) => {
      const tag = req.url!.includes('red') ? 'red' : 'blue';
      reply(res, 200, { 'surrogate-key': `${tag} all` }, `${req.url}-${n}`);
    });
    const paths = ['/tags/red/1', '/tags/red/2', '/tags/blue/1', '/tags/other/1?q=1'];
    for (const p of paths) await get(p);
    const warm = await get('/tags/red/1');
    expect(warm.headers['cache-status']).toMatch(/hit/);
    expect(warm.headers['surrogate-key']).toBeUndefined();
    const v = async (p: string) => (await get(p)).text.split('-')[1];

    expect(await gw.gw.purgeCache({ key: '/tags/red/1' })).toBe(1);
    expect(await v('/tags/red/1')).toBe('2');
    expect(await v('/tags/red/2')).toBe('1');

    expect(await gw.gw.purgeCache({ tag: 'red' })).toBe(2);
    expect(await v('/tags/red/1')).toBe('3');
    expect(await v('/tags/red/2')).toBe('2');
    expect(await v('/tags/blue/1')).toBe('1');

    expect(await gw.gw.purgeCache({ prefix: '/tags/other/' })).toBe(1);
    expect(await v('/tags/other/1?q=1')).toBe('2');
    expect(await gw.gw.purgeCache({ tag: 'all' }, 'tags')).toBe(4);
    expect(await gw.gw.purgeCache({ tag: 'all' }, 'no-such-zone')).toBe(0);
  });
});
