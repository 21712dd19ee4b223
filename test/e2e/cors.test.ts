import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, httpRequest, startGateway, startUpstream, type SimpleResponse, type TestGateway, type TestUpstream } from '../helpers.js';
import { hashApiKey } from '../../src/consumers/hash.js';

/** cors over real sockets: preflights answered at the gateway, headers on every response after cors ran. */
describe('cors', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let globalGw: TestGateway;
  const KEY = 'gk_test_cors_key_0001';
  const APP = 'https://app.example.com';

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-total': '5', 'x-request-id': 'up-1' };
      // An upstream that does CORS itself: the gateway's answer replaces it.
      if (req.url?.includes('upstream-cors')) Object.assign(headers, { 'access-control-allow-origin': 'https://evil.io', 'access-control-allow-credentials': 'true' });
      res.writeHead(200, headers);
      res.end(JSON.stringify({ method: req.method }));
    });
    const closed = await freePort();
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
consumers: [ { id: app, apiKeys: ["${hashApiKey(KEY)}"] } ]
upstreams:
  echo: { targets: [ "${up.url}" ] }
  down: { targets: [ "http://127.0.0.1:${closed}" ] }
  shared: { targets: [ "${up.url}" ], policies: [ { cors: { origins: ["https://partner.io"] } } ] }
routes:
  - { name: shared, match: { path: /shared/*, methods: [GET] }, upstream: shared }
  - name: api
    match: { path: /api/*, methods: [GET] }
    upstream: echo
    policies:
      - cors: { origins: [${APP}, "https://*.example.com"], credentials: true, exposeHeaders: [x-request-id, x-total], maxAge: 1h }
  - name: open
    match: { path: /open/* }
    upstream: echo
    policies: [ { cors: {} } ]
  - name: keyed
    match: { path: /keyed/*, methods: [GET, POST] }
    upstream: echo
    policies:
      - cors: { origins: [${APP}], methods: [GET, POST], allowHeaders: [x-api-key, content-type], preflightStatus: 200 }
      - api-key: {}
  - name: broken
    match: { path: /broken }
    upstream: down
    policies: [ { cors: { origins: [${APP}] } } ]
  - name: pass
    match: { path: /pass/* }
    upstream: echo
    policies: [ { cors: { origins: [${APP}], preflight: false } } ]
`);
    globalGw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams: { echo: { targets: [ "${up.url}" ] } }
policies: [ { cors: { origins: ["https://*.example.com"] } } ]
routes:
  - { name: read, match: { path: /read/*, methods: [GET] }, upstream: echo }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await globalGw?.close();
    await up?.close();
  });

  const preflight = (base: string, path: string, origin: string, method: string, headers?: string) =>
    httpRequest(`${base}${path}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': method, ...(headers !== undefined ? { 'access-control-request-headers': headers } : {}) },
    });
  const vary = (r: SimpleResponse) => String(r.headers.vary ?? '').split(/\s*,\s*/).filter(Boolean);

  describe('preflight', () => {
    const cases: {
      desc: string;
      base?: () => string;
      path: string;
      origin: string;
      method: string;
      headers?: string;
      want: number;
      expect?: Record<string, string | undefined>;
      varyOrigin?: boolean;
      detail?: RegExp;
    }[] = [
      {
        desc: 'an allowed origin, on a GET-only route (answered, not 405)',
        path: '/api/items',
        origin: APP,
        method: 'GET',
        headers: 'x-custom, content-type',
        want: 204,
        expect: {
          'access-control-allow-origin': APP,
          'access-control-allow-credentials': 'true',
          'access-control-allow-methods': 'GET, HEAD, POST, PUT, PATCH, DELETE',
          'access-control-allow-headers': 'x-custom, content-type',
          'access-control-max-age': '3600',
          'content-length': undefined,
        },
        varyOrigin: true,
      },
      { desc: 'a wildcard subdomain', path: '/api/items', origin: 'https://a.b.example.com', method: 'GET', want: 204, expect: { 'access-control-allow-origin': 'https://a.b.example.com' }, varyOrigin: true },
      { desc: 'the apex of a wildcard', path: '/api/items', origin: 'https://example.com', method: 'GET', want: 403, detail: /Origin https:\/\/example\.com is not allowed/, varyOrigin: true },
      { desc: 'a disallowed origin', path: '/api/items', origin: 'https://evil.io', method: 'GET', want: 403, detail: /Origin https:\/\/evil\.io is not allowed/, varyOrigin: true },
      { desc: "'*' origins", path: '/open/x', origin: 'https://anyone.io', method: 'PUT', want: 204, expect: { 'access-control-allow-origin': '*', 'access-control-allow-credentials': undefined }, varyOrigin: false },
      { desc: 'a method outside methods', path: '/open/x', origin: 'https://anyone.io', method: 'PURGE', want: 403, detail: /Method PURGE is not allowed/ },
      {
        desc: 'listed request headers, before api-key (no credential needed), status 200',
        path: '/keyed/x',
        origin: APP,
        method: 'POST',
        headers: 'content-type,x-api-key',
        want: 200,
        expect: { 'access-control-allow-headers': 'x-api-key, content-type', 'access-control-allow-methods': 'GET, POST', 'content-length': '0' },
        varyOrigin: true,
      },
      { desc: 'a request header outside allowHeaders', path: '/keyed/x', origin: APP, method: 'POST', headers: 'x-api-key,x-evil', want: 403, detail: /header x-evil is not allowed/ },
      { desc: "an upstream's cors policy on a GET-only route", path: '/shared/1', origin: 'https://partner.io', method: 'GET', want: 204, expect: { 'access-control-allow-origin': 'https://partner.io' }, varyOrigin: true },
      { desc: 'a global cors policy on a GET-only route', base: () => globalGw.url, path: '/read/1', origin: 'https://shop.example.com', method: 'GET', want: 204, expect: { 'access-control-allow-origin': 'https://shop.example.com' }, varyOrigin: true },
      { desc: 'a global cors policy refusing an origin', base: () => globalGw.url, path: '/read/1', origin: 'https://shop.example.org', method: 'GET', want: 403 },
    ];
    for (const c of cases) {
      it(`${c.desc} → ${c.want}`, async () => {
        const before = up.seen.length;
        const r = await preflight(c.base?.() ?? gw.url, c.path, c.origin, c.method, c.headers);
        expect(r.status).toBe(c.want);
        // Answered by the gateway: never forwarded.
        expect(up.seen.length).toBe(before);
        for (const [k, v] of Object.entries(c.expect ?? {})) expect(r.headers[k], k).toBe(v);
        if (c.varyOrigin !== undefined) expect(vary(r).includes('Origin')).toBe(c.varyOrigin);
        if (c.want === 403) {
          expect(r.headers['access-control-allow-origin']).toBeUndefined();
          expect(r.headers['content-type']).toBe('application/problem+json');
          expect(r.json()).toMatchObject({ type: 'https://gantry.dev/problems/cors-rejected', status: 403 });
          if (c.detail) expect(r.json().detail).toMatch(c.detail);
        }
      });
    }

    it('an OPTIONS without Access-Control-Request-Method on a GET-only route stays 405', async () => {
      const before = up.seen.length;
      const r = await httpRequest(`${gw.url}/api/items`, { method: 'OPTIONS', headers: { origin: APP } });
      expect(r.status).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
      expect(up.seen.length).toBe(before);
    });

    it('a preflight announcing a method no route serves stays 405', async () => {
      const r = await preflight(gw.url, '/api/items', APP, 'DELETE');
      expect(r.status).toBe(405);
    });

    it('with preflight: false, a preflight goes to the upstream', async () => {
      const before = up.seen.length;
      const r = await preflight(gw.url, '/pass/x', APP, 'GET');
      expect(r.status).toBe(200);
      expect(up.seen.length).toBe(before + 1);
      expect(up.seen.at(-1)!.method).toBe('OPTIONS');
    });
  });

  describe('actual requests', () => {
    const cases: {
      desc: string;
      path: string;
      origin?: string;
      headers?: Record<string, string>;
      want: number;
      expect: Record<string, string | undefined>;
      varyOrigin: boolean;
    }[] = [
      {
        desc: 'an allowed origin: origin echoed, credentials, exposed headers',
        path: '/api/items',
        origin: APP,
        want: 200,
        expect: { 'access-control-allow-origin': APP, 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-request-id, x-total' },
        varyOrigin: true,
      },
      { desc: 'a wildcard subdomain', path: '/api/items', origin: 'https://m.example.com', want: 200, expect: { 'access-control-allow-origin': 'https://m.example.com' }, varyOrigin: true },
      { desc: 'a disallowed origin: served, without CORS headers', path: '/api/items', origin: 'https://evil.io', want: 200, expect: { 'access-control-allow-origin': undefined, 'access-control-allow-credentials': undefined }, varyOrigin: true },
      { desc: 'no Origin: Vary still names it (the answer depends on it)', path: '/api/items', want: 200, expect: { 'access-control-allow-origin': undefined }, varyOrigin: true },
      { desc: "'*' origins: a static answer, no Vary", path: '/open/x', origin: 'https://anyone.io', want: 200, expect: { 'access-control-allow-origin': '*', 'access-control-allow-credentials': undefined }, varyOrigin: false },
      { desc: 'the upstream’s own CORS headers are replaced', path: '/api/upstream-cors', origin: APP, want: 200, expect: { 'access-control-allow-origin': APP, 'access-control-allow-credentials': 'true' }, varyOrigin: true },
      { desc: 'an upstream’s CORS headers are dropped for a disallowed origin', path: '/api/upstream-cors', origin: 'https://evil.io', want: 200, expect: { 'access-control-allow-origin': undefined, 'access-control-allow-credentials': undefined }, varyOrigin: true },
      { desc: 'a 401 from api-key after cors carries the CORS headers', path: '/keyed/x', origin: APP, want: 401, expect: { 'access-control-allow-origin': APP, 'content-type': 'application/problem+json' }, varyOrigin: true },
      { desc: 'with the key: 200 and the CORS headers', path: '/keyed/x', origin: APP, headers: { 'x-api-key': KEY }, want: 200, expect: { 'access-control-allow-origin': APP }, varyOrigin: true },
      { desc: 'a 502 from a dead upstream carries the CORS headers', path: '/broken', origin: APP, want: 502, expect: { 'access-control-allow-origin': APP, 'content-type': 'application/problem+json' }, varyOrigin: true },
    ];
    for (const c of cases) {
      it(`${c.desc} → ${c.want}`, async () => {
        const r = await httpRequest(`${gw.url}${c.path}`, { headers: { ...(c.origin ? { origin: c.origin } : {}), ...c.headers } });
        expect(r.status).toBe(c.want);
        for (const [k, v] of Object.entries(c.expect)) expect(r.headers[k], k).toBe(v);
        expect(vary(r).includes('Origin')).toBe(c.varyOrigin);
      });
    }

    it('a global cors policy decorates a route’s responses', async () => {
      const r = await httpRequest(`${globalGw.url}/read/1`, { headers: { origin: 'https://shop.example.com' } });
      expect(r.status).toBe(200);
      expect(r.headers['access-control-allow-origin']).toBe('https://shop.example.com');
      expect(vary(r)).toContain('Origin');
    });
  });
});
