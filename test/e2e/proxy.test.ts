import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { httpRequest, rawRequest, startGateway, startUpstream, statusOf, type TestGateway, type TestUpstream } from '../helpers.js';

/** Forwarding semantics: hop-by-hop fields, X-Forwarded-*, Forwarded, Via, Host, rewrites, policies. */
describe('proxy forwarding', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let trusting: TestGateway;

  beforeAll(async () => {
    up = await startUpstream((req, res, body) => {
      if (req.url === '/hop-response') {
        // Hop-by-hop fields in a response, including one named by Connection.
        res.writeHead(200, [
          ['Connection', 'keep-alive, X-Internal-Hop'],
          ['X-Internal-Hop', 'secret'],
          ['Keep-Alive', 'timeout=30'],
          ['Proxy-Connection', 'keep-alive'],
          ['X-Kept', 'yes'],
          ['Content-Length', '2'],
        ].flat());
        res.end('ok');
        return;
      }
      const out = JSON.stringify({ url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, bodyLength: body.length });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out), server: 'upstream/1.0' });
      res.end(out);
    });
    const upstreams = `upstreams:
  echo: { targets: [ "${up.url}" ] }
  based: { targets: [ "${up.url}/base/" ] }
`;
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
${upstreams}
routes:
  - { name: echo, match: { path: /echo/* }, upstream: echo }
  - { name: hop, match: { path: /hop-response }, upstream: echo }
  - { name: preserve, match: { path: /preserve/* }, upstream: echo, preserveHost: true }
  - { name: template, match: { path: "/items/:id/detail" }, upstream: echo, rewrite: { path: "/v2/items/{params.id}" } }
  - { name: prefixes, match: { path: /old/* }, upstream: echo, rewrite: { stripPrefix: /old, addPrefix: /new } }
  - { name: replace, match: { path: /re/* }, upstream: echo, rewrite: { replace: { pattern: "^/re/(\\\\w+)", with: "/r-$1" } } }
  - { name: based, match: { path: /based/* }, upstream: based, rewrite: { stripPrefix: /based } }
  - { name: rest, match: { path: /rest/* }, upstream: echo, rewrite: { path: "/v2/{params.*}" } }
  - { name: rest-param, match: { path: "/files/:id/*" }, upstream: echo, rewrite: { path: "/v2/{params.id}/{params.*}" } }
  - { name: rest-high, match: { path: /high/* }, upstream: echo, priority: 5, rewrite: { path: "/v2/{params.*}" } }
  - name: templated-headers
    match: { path: /th/:id }
    upstream: echo
    policies:
      - request-id: {}
      - headers:
          request: { set: { x-item: "item-\${params.id}", x-ip: "\${client.ip}" }, remove: [x-drop-me], add: { x-multi: b } }
          response: { set: { x-route: "\${route.name}", x-rid: "\${request.id}" }, remove: [server] }
  - name: regex-params
    match: { pathRegex: "^/rx/(?<id>[^/]+)/(?<name>[^/]+)$" }
    upstream: echo
    rewrite: { path: "/v2/items/{params.id}" }
    policies:
      - headers: { request: { set: { x-name: "\${params.name}" } } }
  - name: maintenance
    match: { path: /maintenance }
    static: { status: 503, headers: { retry-after: "60" }, body: { message: later } }
    policies:
      - headers: { response: { add: { x-static: "yes" } } }
`);
    trusting = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { trustedProxies: [ 127.0.0.1/32, "::1" ] }
${upstreams}
routes:
  - name: echo
    match: { path: /echo/* }
    upstream: echo
    policies:
      - headers: { request: { set: { x-client-ip: "\${client.ip}" } } }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await trusting?.close();
    await up?.close();
  });

  const echo = async (g: TestGateway, path: string, headers: Record<string, string> = {}) => {
    const r = await httpRequest(`${g.url}${path}`, { headers });
    expect(r.status).toBe(200);
    return r.json<{ url: string; headers: Record<string, string>; rawHeaders: string[] }>();
  };

  it('drops hop-by-hop request fields, including those named by Connection', async () => {
    const raw = await rawRequest(
      gw.port,
      'GET /echo/hop HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, X-Secret-Hop\r\nX-Secret-Hop: 1\r\n' +
        'Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: something\r\nProxy-Connection: keep-alive\r\nX-Normal: kept\r\n\r\n',
      1000,
    );
    expect(statusOf(raw)).toBe(200);
    const seen = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { headers: Record<string, string> };
    for (const h of ['x-secret-hop', 'keep-alive', 'te', 'upgrade', 'proxy-connection']) expect(seen.headers[h], h).toBeUndefined();
    expect(seen.headers['x-normal']).toBe('kept');
  });

  it('drops hop-by-hop response fields, including those named by Connection', async () => {
    const r = await httpRequest(`${gw.url}/hop-response`);
    expect(r.text).toBe('ok');
    expect(r.headers['x-internal-hop']).toBeUndefined();
    expect(r.headers['proxy-connection']).toBeUndefined();
    expect(r.headers['keep-alive']).not.toBe('timeout=30');
    expect(r.headers['x-kept']).toBe('yes');
  });

  it('without trusted proxies, replaces client-sent forwarding headers with what it saw', async () => {
    const seen = await echo(gw, '/echo/x', {
      host: 'shop.test:8080',
      'x-forwarded-for': '6.6.6.6',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.test',
      forwarded: 'for=6.6.6.6;proto=https',
    });
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe('shop.test:8080');
    expect(seen.headers.forwarded).toBe('for=127.0.0.1;proto=http;host="shop.test:8080"');
    expect(seen.headers.via).toBe('1.1 gantry');
    expect(seen.headers.host).toBe(`127.0.0.1:${up.port}`);
  });

  it('behind a trusted proxy, extends the chain and takes the client address from it', async () => {
    const seen = await echo(trusting, '/echo/x', {
      host: 'shop.test',
      'x-forwarded-for': '203.0.113.7, 10.0.0.2',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'www.shop.test',
      forwarded: 'for=203.0.113.7;proto=https',
      via: '1.1 edge',
    });
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.7, 10.0.0.2, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-forwarded-host']).toBe('www.shop.test');
    expect(seen.headers.forwarded).toBe('for=203.0.113.7;proto=https, for=127.0.0.1;proto=http;host=shop.test');
    expect(seen.headers.via).toBe('1.1 edge, 1.1 gantry');
    // 10.0.0.2 is not a trusted proxy, so it is the client as far as we can tell.
    expect(seen.headers['x-client-ip']).toBe('10.0.0.2');
  });

  it('Via names the protocol version the client used', async () => {
    const raw = await rawRequest(gw.port, 'GET /echo/v HTTP/1.0\r\nHost: a.test\r\n\r\n', 1000);
    expect(statusOf(raw)).toBe(200);
    const seen = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { headers: Record<string, string> };
    expect(seen.headers.via).toBe('1.0 gantry');
  });

  it('preserveHost sends the client Host upstream', async () => {
    const seen = await echo(gw, '/preserve/x', { host: 'shop.test' });
    expect(seen.headers.host).toBe('shop.test');
  });

  it.each([
    ['/items/42/detail?full=1', '/v2/items/42?full=1'],
    ['/items/a%2Fb/detail', '/v2/items/a%2Fb'],
    ['/old/thing', '/new/thing'],
    ['/old', '/new'],
    ['/re/abc/def', '/r-abc/def'],
    ['/based/x', '/base/x'],
    // {params.*} is the rest as sent, as stripPrefix forwards it: an escaped "/" stays one
    // segment (never a "..%2F" turned into a ".." segment), ":" is not escaped.
    ['/rest/a%2Fb/c%20d/e:f/%C3%A9', '/v2/a%2Fb/c%20d/e:f/%C3%A9'],
    ['/rest/..%2Fadmin', '/v2/..%2Fadmin'],
    ['/rest/books/1:publish', '/v2/books/1:publish'],
    ['/rest', '/v2/'],
    ['/files/i%2Fd/a%2Fb', '/v2/i%2Fd/a%2Fb'],
    ['/high/..%2F..%2Fetc', '/v2/..%2F..%2Fetc'],
  ])('rewrites %s to %s', async (path, want) => {
    expect((await echo(gw, path)).url).toBe(want);
  });

  it('headers policy: templates, remove and add on both sides; request-id in and out', async () => {
    const r = await httpRequest(`${gw.url}/th/7`, { headers: { 'x-drop-me': '1', 'x-multi': 'a', 'x-request-id': 'client-abc-123' } });
    const seen = r.json<{ headers: Record<string, string> }>();
    expect(seen.headers['x-item']).toBe('item-7');
    expect(seen.headers['x-ip']).toBe('127.0.0.1');
    expect(seen.headers['x-drop-me']).toBeUndefined();
    expect(seen.headers['x-multi']).toBe('a, b');
    expect(seen.headers['x-request-id']).toBe('client-abc-123');
    expect(r.headers['x-request-id']).toBe('client-abc-123');
    expect(r.headers['x-rid']).toBe('client-abc-123');
    expect(r.headers['x-route']).toBe('templated-headers');
    expect(r.headers.server).toBeUndefined();
  });

  it.each([
    ['/rx/a%2Fb/c%20d', '/v2/items/a%2Fb', 'c d'],
    ['/rx/%C3%A9t%C3%A9/n', '/v2/items/%C3%A9t%C3%A9', 'n'],
    ['/rx/e%3Af/x%25y', '/v2/items/e%3Af', 'x%y'],
  ])('pathRegex named groups are params decoded like :name params (%s)', async (path, url, name) => {
    const seen = await echo(gw, path);
    expect(seen.url).toBe(url);
    expect(seen.headers['x-name']).toBe(name);
  });

  it('request-id replaces an incoming id that is not safe to log', async () => {
    const r = await httpRequest(`${gw.url}/th/1`, { headers: { 'x-request-id': 'bad id"with<quotes>' } });
    expect(r.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.json<{ headers: Record<string, string> }>().headers['x-request-id']).toBe(r.headers['x-request-id']);
  });

  it('static handler answers with its body, headers and the response policies', async () => {
    const r = await httpRequest(`${gw.url}/maintenance`);
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('60');
    expect(r.headers['x-static']).toBe('yes');
    expect(r.json()).toEqual({ message: 'later' });
  });
});

describe('upstream failures', () => {
  let gw: TestGateway;
  let hanging: net.Server;
  let resetting: net.Server;
  let slowBody: TestUpstream;
  let closedPort: number;

  beforeAll(async () => {
    // A port nobody listens on: take one, then free it.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    closedPort = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    // Accepts and never answers.
    hanging = net.createServer(() => undefined);
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    // Accepts, reads the request, resets the connection.
    resetting = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
    await new Promise<void>((r) => resetting.listen(0, '127.0.0.1', r));
    // Sends the head and half the body, then goes silent.
    slowBody = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345');
    });
    const port = (s: net.Server) => (s.address() as net.AddressInfo).port;
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  refused: { targets: [ "http://127.0.0.1:${closedPort}" ] }
  hanging: { targets: [ "http://127.0.0.1:${port(hanging)}" ], timeouts: { response: 300ms } }
  resetting: { targets: [ "http://127.0.0.1:${port(resetting)}" ] }
  slowbody: { targets: [ "${slowBody.url}" ], timeouts: { idle: 300ms } }
routes:
  - { name: refused, match: { path: /refused }, upstream: refused }
  - { name: hanging, match: { path: /hanging }, upstream: hanging }
  - { name: hanging-route-timeout, match: { path: /hanging-fast }, upstream: hanging, timeouts: { response: 100ms } }
  - { name: resetting, match: { path: /reset }, upstream: resetting }
  - { name: slowbody, match: { path: /slowbody }, upstream: slowbody }
`);
  });
  afterAll(async () => {
    await gw?.close();
    hanging?.close();
    resetting?.close();
    await slowBody?.close();
  });

  it.each([
    ['/refused', 502, 'upstream-unavailable'],
    ['/reset', 502, 'upstream-reset'],
    ['/hanging', 504, 'upstream-timeout'],
    ['/hanging-fast', 504, 'upstream-timeout'],
  ])('%s → %i problem+json', async (path, status, type) => {
    const r = await httpRequest(`${gw.url}${path}`);
    expect(r.status).toBe(status);
    expect(r.headers['content-type']).toBe('application/problem+json');
    const p = r.json<{ type: string; status: number; requestId: string; detail: string }>();
    expect(p.type).toContain(type);
    expect(p.status).toBe(status);
    expect(p.requestId).toMatch(/^[0-9a-f-]{36}$/);
    // Client-facing details name the upstream, never its address.
    expect(p.detail).not.toContain('127.0.0.1');
  });

  it('a body that stalls mid-way is cut off, not passed as complete', async () => {
    const raw = await rawRequest(gw.port, 'GET /slowbody HTTP/1.1\r\nHost: a\r\n\r\n', 3000);
    expect(statusOf(raw)).toBe(200);
    // The connection closed with the body incomplete (5 of 10 bytes).
    expect(raw.endsWith('12345')).toBe(true);
  });
});
