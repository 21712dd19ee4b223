import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * `bytesOut` in the access log is the response body as the client got it: after body
 * mappers, compression and a cache's replacement body, none for HEAD.
 */
describe('access log bytesOut', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  const doc = JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item number ${i}`, secret: 'x'.repeat(20) })) });

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      if (req.url!.endsWith('/etag')) {
        if (req.headers['if-none-match'] === '"v1"') {
          res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=0' });
          return void res.end();
        }
        res.writeHead(200, { 'content-type': 'text/plain', etag: '"v1"', 'cache-control': 'max-age=0', 'content-length': 11 });
        return void res.end('stored body');
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(doc) });
      res.end(doc);
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
log: { access: { fields: [path, method, status, bytesOut] } }
upstreams:
  u: { targets: [ "${up.url}" ] }
routes:
  - { name: plain, match: { path: /plain/* }, upstream: u }
  - name: gzip
    match: { path: /gzip/* }
    upstream: u
    policies: [ { compress: {} } ]
  - name: mapped
    match: { path: /mapped/* }
    upstream: u
    policies: [ { transform: { response: { body: [ { unwrap: /items/0 } ] } } } ]
  - name: cached
    match: { path: /cached/* }
    upstream: u
    policies: [ { cache: { ttl: 0s } } ]
  - { name: static, match: { path: /static }, static: { status: 200, body: hello } }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  /** The access-log line of the next request to `path` (method given), once written. */
  async function logged(path: string, method = 'GET'): Promise<number> {
    const before = gw.logs.length;
    return eventually(() => gw.logs.slice(before).find((l) => l.msg === 'request' && l.path === path && l.method === method)?.bytesOut as number | undefined, 3000, `the log line of ${path}`);
  }

  it('counts the body as sent: proxied, compressed, mapped, static, HEAD', async () => {
    const cases: [string, Record<string, string>, string?][] = [
      ['/plain/a', {}],
      ['/gzip/a', { 'accept-encoding': 'gzip' }],
      ['/mapped/a', {}],
      ['/static', {}],
      ['/plain/a', {}, 'HEAD'],
    ];
    for (const [path, headers, method] of cases) {
      const line = logged(path, method);
      const res = await httpRequest(`${gw.url}${path}`, { headers, method });
      expect(res.status, path).toBe(200);
      expect(await line, `${method ?? 'GET'} ${path}`).toBe(res.body.length);
    }
    // The cases differ from the upstream's body, so counting upstream bytes would fail them.
    const gz = await httpRequest(`${gw.url}/gzip/a`, { headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.body.length).toBeLessThan(Buffer.byteLength(doc) / 2);
  });

  it('counts a stored body served after the upstream answered 304', async () => {
    expect((await httpRequest(`${gw.url}/cached/etag`)).text).toBe('stored body');
    const line = logged('/cached/etag');
    const res = await httpRequest(`${gw.url}/cached/etag`);
    expect(res.text).toBe('stored body');
    expect(up.seen.at(-1)!.headers['if-none-match']).toBe('"v1"'); // revalidated: the upstream sent no body
    expect(await line).toBe(11);
  });
});
