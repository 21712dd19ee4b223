import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { httpRequest, rawRequest, startGateway, startUpstream, statusOf, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * Listener limits and strict framing. Every refused request must be answered by the
 * gateway and never reach the upstream (request smuggling needs the two to disagree).
 */
describe('listener limits and framing', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startUpstream();
    gw = await startGateway(`version: 1
listeners:
  - name: public
    port: 0
    host: 127.0.0.1
    limits: { maxHeaderSize: 4kb, maxUrlLength: 1kb, headersTimeout: 500ms, requestTimeout: 2s }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: echo, match: { path: /* }, upstream: echo }
  - { name: admin, match: { path: /admin/* }, static: { status: 200, body: admin-area } }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const smuggling: [desc: string, request: string][] = [
    ['Content-Length with Transfer-Encoding', 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['differing duplicate Content-Length', 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde'],
    ['obs-fold continuation line', 'GET /x HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n  b\r\n\r\n'],
    ['invalid character in a header name', 'GET /x HTTP/1.1\r\nHost: a\r\nX Bad: 1\r\n\r\n'],
    ['control character in a header value', 'GET /x HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\n\r\n'],
    ['Transfer-Encoding that does not end in chunked', 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'],
    ['space before the colon', 'GET /x HTTP/1.1\r\nHost: a\r\nContent-Length : 0\r\n\r\n'],
    ['bare LF line endings', 'GET /x HTTP/1.1\nHost: a\nX-A: 1\n\n'],
    ['missing Host on HTTP/1.1', 'GET /x HTTP/1.1\r\nX-A: 1\r\n\r\n'],
    ['invalid chunk size', 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
  ];
  for (const [desc, request] of smuggling) {
    it(`400 and nothing forwarded: ${desc}`, async () => {
      const before = up.seen.length;
      const raw = await rawRequest(gw.port, request, 1500);
      expect(statusOf(raw)).toBe(400);
      expect(up.seen.length).toBe(before);
    });
  }

  it('an ambiguous request on a keep-alive connection does not smuggle a second one', async () => {
    const before = up.seen.length;
    const raw = await rawRequest(
      gw.port,
      'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin/secret HTTP/1.1\r\nHost: a\r\n\r\n',
      1500,
    );
    expect(statusOf(raw)).toBe(400);
    expect(raw).not.toContain('admin-area');
    expect(up.seen.length).toBe(before);
  });

  it('414 for a URL over maxUrlLength', async () => {
    const r = await httpRequest(`${gw.url}/${'a'.repeat(1100)}`);
    expect(r.status).toBe(414);
    expect(r.headers['content-type']).toBe('application/problem+json');
  });

  it('431 for a head over maxHeaderSize', async () => {
    const raw = await rawRequest(gw.port, `GET /x HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(5000)}\r\n\r\n`);
    expect(statusOf(raw)).toBe(431);
    expect(raw).toContain('application/problem+json');
  });

  it('cuts off a client that sends its headers too slowly (slowloris)', async () => {
    const start = Date.now();
    const closed = await new Promise<{ data: string }>((resolve) => {
      const s = net.connect(gw.port, '127.0.0.1');
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.write('GET /x HTTP/1.1\r\nHost: a\r\n');
      // Dribble a header line every 200 ms and never finish the head.
      const t = setInterval(() => s.writable && s.write('X-Drip: 1\r\n'), 200);
      s.on('close', () => {
        clearInterval(t);
        resolve({ data });
      });
      s.on('error', () => undefined);
      setTimeout(() => s.destroy(), 8000);
    });
    expect(Date.now() - start).toBeLessThan(7000);
    expect(statusOf(closed.data)).toBe(408);
    expect(up.seen.some((r) => r.headers['x-drip'])).toBe(false);
  });

  it('serves valid requests on the same listener normally', async () => {
    const r = await httpRequest(`${gw.url}/ok`, { method: 'POST', body: 'hello' });
    expect(r.status).toBe(200);
    expect(r.json<{ bodyLength: number }>().bodyLength).toBe(5);
  });
});

describe('path normalisation: the path that matches is the path forwarded', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startUpstream();
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  public: { targets: [ "${up.url}" ] }
routes:
  - { name: public, match: { path: /public/* }, upstream: public }
  - { name: admin, match: { path: /admin/* }, static: { status: 403, body: forbidden } }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const cases: [desc: string, target: string, status: number, forwarded?: string][] = [
    ['dot-dot into admin routes to admin', '/public/../admin/x', 403],
    ['encoded dot-dot into admin routes to admin', '/public/%2e%2e/admin/x', 403],
    ['double slash is merged', '//public//a', 200, '/public/a'],
    ['dot segments inside public are resolved before forwarding', '/public/a/./b/../c', 200, '/public/a/c'],
    ['encoded slash is not a separator and stays encoded', '/public/a%2F..%2Fadmin', 200, '/public/a%2F..%2Fadmin'],
    ['unreserved escapes are decoded before forwarding', '/public/%7Euser', 200, '/public/~user'],
    ['backslash is refused', '/public/..\\admin', 400],
    ['NUL is refused', '/public/a%00', 400],
    ['malformed escape is refused', '/public/%G0', 400],
  ];
  for (const [desc, target, status, forwarded] of cases) {
    it(desc, async () => {
      const raw = await rawRequest(gw.port, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
      expect(statusOf(raw)).toBe(status);
      if (forwarded) expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).url).toBe(forwarded);
    });
  }
});
