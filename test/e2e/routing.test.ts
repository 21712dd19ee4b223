import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/** Each matcher kind, priority and listener scoping, over real sockets. */
describe('routing', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startUpstream();
    // Every route is a static reply naming itself, so the table below reads route → answer.
    const r = (name: string, match: string, extra = '') =>
      `  - { name: ${name}, match: ${match}, static: { status: 200, body: "${name}" }${extra} }\n`;
    gw = await startGateway(
      `version: 1
listeners:
  - { name: public, port: 0, host: 127.0.0.1 }
  - { name: mobile, port: 0, host: 127.0.0.1 }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
` +
        r('exact', '{ path: /users/me }') +
        r('param', '{ path: "/users/:id" }') +
        r('param-get-only', '{ path: "/orders/:id", methods: [GET] }') +
        r('param-delete', '{ path: "/orders/:id", methods: [DELETE] }') +
        r('prefix', '{ path: /files/* }') +
        r('deeper-prefix', '{ path: /files/private/* }') +
        r('host-exact', '{ path: /h, host: api.example.com }') +
        r('host-wild', '{ path: /h, host: "*.example.com" }') +
        r('host-any', '{ path: /h }') +
        r('hdr-v2', '{ path: /versioned, headers: { accept-version: "2" } }') +
        r('hdr-regex', '{ path: /versioned, headers: { x-client: { regex: "^mobile-" } } }') +
        r('hdr-none', '{ path: /versioned }') +
        r('query-beta', '{ path: /search, query: { beta: "1" } }') +
        r('query-none', '{ path: /search }') +
        r('regex', '{ pathRegex: "^/v[0-9]+/legacy/.*$" }') +
        r('low', '{ path: /prio/* }') +
        r('high', '{ path: /prio/*, headers: { x-debug: { present: true } } }', ', priority: 10') +
        r('catch-all-high', '{ path: /override/* }', ', priority: 5') +
        r('override-exact', '{ path: /override/exact }') +
        r('mobile-only', '{ path: /m }', ', listeners: [mobile]') +
        `  - { name: proxied, match: { path: /api/* }, upstream: echo, rewrite: { stripPrefix: /api } }\n`,
    );
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const cases: { desc: string; method?: string; path: string; headers?: Record<string, string>; listener?: string; want: number; route?: string }[] = [
    { desc: 'exact path beats a param at the same depth', path: '/users/me', want: 200, route: 'exact' },
    { desc: 'param path', path: '/users/42', want: 200, route: 'param' },
    { desc: 'method picks between routes on one path', method: 'DELETE', path: '/orders/1', want: 200, route: 'param-delete' },
    { desc: 'GET route answers HEAD', method: 'HEAD', path: '/orders/1', want: 200 },
    { desc: 'prefix matches below', path: '/files/a/b.txt', want: 200, route: 'prefix' },
    { desc: 'prefix matches its own root', path: '/files', want: 200, route: 'prefix' },
    { desc: 'longer prefix wins', path: '/files/private/x', want: 200, route: 'deeper-prefix' },
    { desc: 'exact host', path: '/h', headers: { host: 'api.example.com' }, want: 200, route: 'host-exact' },
    { desc: 'wildcard host', path: '/h', headers: { host: 'shop.example.com:8080' }, want: 200, route: 'host-wild' },
    { desc: 'wildcard host does not match the apex', path: '/h', headers: { host: 'example.com' }, want: 200, route: 'host-any' },
    { desc: 'header exact', path: '/versioned', headers: { 'accept-version': '2' }, want: 200, route: 'hdr-v2' },
    { desc: 'header regex', path: '/versioned', headers: { 'x-client': 'mobile-ios' }, want: 200, route: 'hdr-regex' },
    { desc: 'header miss falls through', path: '/versioned', headers: { 'x-client': 'web' }, want: 200, route: 'hdr-none' },
    { desc: 'query matcher', path: '/search?q=x&beta=1', want: 200, route: 'query-beta' },
    { desc: 'query miss falls through', path: '/search?q=x', want: 200, route: 'query-none' },
    { desc: 'regex is the last resort', path: '/v3/legacy/thing', want: 200, route: 'regex' },
    { desc: 'priority wins when it matches', path: '/prio/x', headers: { 'x-debug': '1' }, want: 200, route: 'high' },
    { desc: 'priority route that does not match lets others through', path: '/prio/x', want: 200, route: 'low' },
    { desc: 'priority beats a more specific path', path: '/override/exact', want: 200, route: 'catch-all-high' },
    { desc: 'listener-scoped route absent on other listeners', path: '/m', want: 404 },
    { desc: 'listener-scoped route served on its listener', path: '/m', listener: 'mobile', want: 200, route: 'mobile-only' },
    { desc: 'unknown path is 404', path: '/nothing/here', want: 404 },
    { desc: 'wrong method is 405', method: 'POST', path: '/orders/1', want: 405 },
  ];

  for (const c of cases) {
    it(c.desc, async () => {
      const port = c.listener ? gw.gw.port(c.listener) : gw.port;
      const res = await httpRequest(`http://127.0.0.1:${port}${c.path}`, { method: c.method ?? 'GET', headers: c.headers });
      expect(res.status).toBe(c.want);
      if (c.route) expect(res.text).toBe(c.route);
    });
  }

  it('404 and 405 are problem+json with the request id; 405 carries Allow', async () => {
    const nf = await fetch(`${gw.url}/nothing`);
    expect(nf.headers.get('content-type')).toBe('application/problem+json');
    const body = (await nf.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 404, title: expect.any(String), type: expect.stringContaining('not-found') });
    expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const na = await fetch(`${gw.url}/orders/1`, { method: 'PUT' });
    expect(na.status).toBe(405);
    expect(na.headers.get('allow')).toBe('DELETE, GET, HEAD');
    expect(((await na.json()) as Record<string, unknown>).status).toBe(405);
  });

  it('forwards the rewritten path with the query string', async () => {
    const res = await fetch(`${gw.url}/api/items/7?color=red&x=%20`);
    const echo = (await res.json()) as { url: string };
    expect(echo.url).toBe('/items/7?color=red&x=%20');
  });
});
