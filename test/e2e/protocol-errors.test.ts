import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, startGateway, startUpstream, statusOf, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * Requests the listener refuses before any route sees them are answered with the same
 * problem+json as every other gateway error, and never reach the upstream. Found by
 * `npm run fuzz` (scripts/fuzz-http.mjs): Node answered these itself, with an empty body.
 */
describe('protocol errors are problem+json', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startUpstream();
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: echo, match: { path: /* }, upstream: echo }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const cases: [desc: string, request: string, status: number, type: string][] = [
    ['HTTP/1.1 without Host (RFC 9112 §3.2)', 'GET /x HTTP/1.1\r\nX-A: 1\r\n\r\n', 400, 'bad-request'],
    ['an Expect other than 100-continue (RFC 9110 §10.1.1)', 'POST /x HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 5\r\n\r\nhello', 417, 'expectation-failed'],
    ['two Host lines (RFC 9112 §3.2)', 'GET /x HTTP/1.1\r\nHost: a.example\r\nX-A: 1\r\nhost: b.example\r\n\r\n', 400, 'bad-request'],
    ['two Host lines in HTTP/1.0', 'GET /x HTTP/1.0\r\nHost: a.example\r\nHost: a.example\r\n\r\n', 400, 'bad-request'],
    ['a Host with a space', 'GET /x HTTP/1.1\r\nHost: a b\r\n\r\n', 400, 'bad-request'],
    ['a Host with userinfo', 'GET /x HTTP/1.1\r\nHost: user@a.example\r\n\r\n', 400, 'bad-request'],
    ['a Host with a path', 'GET /x HTTP/1.1\r\nHost: a.example/admin\r\n\r\n', 400, 'bad-request'],
    ['a Host with a port that is not a number', 'GET /x HTTP/1.1\r\nHost: a.example:80a\r\n\r\n', 400, 'bad-request'],
    ['CONNECT: no tunnels (was a close with no answer)', 'CONNECT b.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n', 501, 'not-implemented'],
    ['an absolute target with an empty host', 'GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad-request'],
    ['an absolute target with userinfo', 'GET http://user@b.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n', 400, 'bad-request'],
    ['HTTP/2.0 in an HTTP/1 request line', 'GET /x HTTP/2.0\r\nHost: a\r\n\r\n', 505, 'http-version-not-supported'],
    ['an escape that is not UTF-8 (was 404: the router could not decode it)', 'GET /x/%FF HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad-request'],
    ['an overlong UTF-8 dot-dot', 'GET /x/%C0%AE%C0%AE/y HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad-request'],
  ];
  for (const [desc, request, status, type] of cases) {
    it(`${status} problem+json, nothing forwarded: ${desc}`, async () => {
      const before = up.seen.length;
      const raw = await rawRequest(gw.port, request, 1500);
      expect(statusOf(raw)).toBe(status);
      expect(raw).toMatch(/\r\ncontent-type: application\/problem\+json\r\n/i);
      const problem = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { type: string; status: number };
      expect(problem).toMatchObject({ type: `https://gantry.dev/problems/${type}`, status });
      expect(up.seen.length).toBe(before);
    });
  }

  it('HTTP/1.0 without Host is still served', async () => {
    const raw = await rawRequest(gw.port, 'GET /x HTTP/1.0\r\n\r\n', 1500);
    expect(statusOf(raw)).toBe(200);
  });

  it('valid Host values are served: name and port, IPv4, IPv6 literal, empty (RFC 9112 §3.2)', async () => {
    for (const host of ['a.example', 'a.example:8080', '127.0.0.1:80', '[::1]:8080', '[fe80::1%25eth0]', 'xn--bcher-kva.example', '']) {
      const raw = await rawRequest(gw.port, `GET /x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 1500);
      expect([host, statusOf(raw)]).toEqual([host, 200]);
    }
  });
});

describe('an absolute-form target routes by its own authority (RFC 9112 §3.2.2)', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    [a, b] = await Promise.all([startUpstream(), startUpstream()]);
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  a: { targets: [ "${a.url}" ] }
  b: { targets: [ "${b.url}" ] }
routes:
  - { name: a, match: { host: a.example, path: /* }, upstream: a }
  - { name: b, match: { host: b.example, path: /* }, upstream: b }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  it('the Host header is ignored: the request goes where its target names, forwarded as that host', async () => {
    const raw = await rawRequest(gw.port, 'GET http://b.example/items?x=1 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n', 1500);
    expect(statusOf(raw)).toBe(200);
    expect(a.seen).toHaveLength(0);
    expect(b.seen.map((r) => [r.url, r.headers['x-forwarded-host']])).toEqual([['/items?x=1', 'b.example']]);
  });

  it('an origin-form request still routes by Host', async () => {
    const raw = await rawRequest(gw.port, 'GET /items HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n', 1500);
    expect(statusOf(raw)).toBe(200);
    expect([a.seen.at(-1)?.url, a.seen.at(-1)?.headers['x-forwarded-host']]).toEqual(['/items', 'a.example']);
  });
});
