import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import http2 from 'node:http2';
import { eventually, httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { hashApiKey } from '../../src/consumers/hash.js';

interface Item {
  status: number;
  headers: Record<string, string | string[]>;
  encoding: string;
  body: any;
}

const KEY = 'gk_live_batch_key_0001';

/** `batch:` over real sockets: order, per-route policies, limits, nesting, concurrency. */
describe('batch', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let inFlight = 0;
  let maxInFlight = 0;
  /** URLs whose upstream connection closed before the answer. */
  const cut: string[] = [];

  beforeAll(async () => {
    up = await startUpstream((req, res, body) => {
      const url = new URL(req.url!, 'http://x');
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const delay = Number(url.searchParams.get('delay') ?? 0);
      res.on('close', () => {
        if (!res.writableFinished) cut.push(req.url!);
      });
      setTimeout(() => {
        inFlight--;
        if (url.pathname.endsWith('/big')) return res.end('z'.repeat(4000));
        const text = JSON.stringify({ method: req.method, url: req.url, body: body.toString(), type: req.headers['content-type'] ?? null, consumer: req.headers['x-consumer-id'] ?? null, xff: req.headers['x-forwarded-for'] ?? null });
        res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'], 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }, delay);
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 }, { name: h2c, port: 0, host: 127.0.0.1, protocol: h2c } ]
consumers:
  - { id: shop, apiKeys: ["${hashApiKey(KEY)}"] }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: open, match: { path: /open/* }, upstream: echo }
  - { name: keyed, match: { path: /keyed/* }, upstream: echo, policies: [ { api-key: {} } ] }
  - name: limited
    match: { path: /limited/* }
    upstream: echo
    policies: [ { rate-limit: { limit: 2, window: 1m, by: ip } } ]
  - { name: fixed, match: { path: /fixed }, static: { status: 418, body: teapot } }
  - name: batch
    match: { path: /batch, methods: [POST] }
    batch: { maxRequests: 8, concurrency: 2, maxResponseSize: 1kb }
  - name: wide
    match: { path: /wide, methods: [POST] }
    batch: { concurrency: 5 }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const batch = (items: unknown, headers: Record<string, string> = {}, path = '/batch') =>
    httpRequest(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof items === 'string' ? items : JSON.stringify(items) });

  it('answers the sub-responses in request order, whatever order they finish in', async () => {
    const res = await batch([
      { path: '/open/a?delay=150' },
      { path: '/fixed' },
      { method: 'POST', path: '/open/b', body: { n: 1 } },
      { method: 'PUT', path: '/open/c', body: 'text', headers: { 'content-type': 'text/csv' } },
      { path: '/nowhere' },
    ]);
    expect(res.status).toBe(200);
    const items = res.json<Item[]>();
    expect(items.map((i) => i.status)).toEqual([200, 418, 200, 200, 404]);
    expect(items[0]!.body).toMatchObject({ method: 'GET', url: '/open/a?delay=150' });
    expect(items[0]!.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(items[1]).toMatchObject({ encoding: 'utf8', body: 'teapot' });
    expect(items[2]!.body).toMatchObject({ method: 'POST', body: '{"n":1}', type: 'application/json' });
    expect(items[3]!.body).toMatchObject({ method: 'PUT', body: 'text', type: 'text/csv' });
    expect(items[4]!.body.type).toMatch(/not-found$/);
  });

  it("applies each sub-request's route policies, with the client's credentials unless overridden", async () => {
    const withKey = (await batch([{ path: '/keyed/a' }, { path: '/keyed/b', headers: { 'x-api-key': 'wrong' } }, { path: '/open/c' }], { 'x-api-key': KEY })).json<Item[]>();
    expect(withKey.map((i) => i.status)).toEqual([200, 401, 200]);
    expect(withKey[0]!.body.consumer).toBe('shop');
    const without = (await batch([{ path: '/keyed/a' }, { path: '/keyed/b', headers: { 'X-Api-Key': KEY } }])).json<Item[]>();
    expect(without.map((i) => i.status)).toEqual([401, 200]);
    // The rate limit of /limited counts sub-requests like any request.
    const limited = (await batch([{ path: '/limited/1' }, { path: '/limited/2' }, { path: '/limited/3' }])).json<Item[]>();
    expect(limited.map((i) => i.status)).toEqual([200, 200, 429]);
  });

  it('refuses more than maxRequests, bad JSON, bad items and reserved headers with 400 and runs nothing', async () => {
    const before = up.seen.length;
    const cases: [unknown, RegExp][] = [
      [Array.from({ length: 9 }, () => ({ path: '/open/x' })), /at most 8/],
      ['[{"path":', /not valid JSON/],
      [{ path: '/open/x' }, /JSON array/],
      [[{ path: 'open' }], /\[0\]\.path/],
      [[{ path: '/open/x' }, { path: '/open/y', method: 'TRACE' }], /\[1\]\.method/],
      [[{ path: '/open/x', verb: 'GET' }], /\[0\]\.verb: unknown field/],
      [[{ path: '/open/x', headers: { Host: 'evil' } }], /\[0\]\.headers\.Host/],
      [[{ path: '/open/x', headers: { 'x-forwarded-for': '1.2.3.4' } }], /x-forwarded-for/],
      [[{ path: '/open/x', headers: { a: 'b\r\nc: d' } }], /control characters/],
      [[{ path: '/open/x', body: { a: 1 } }], /GET sub-request has no body/],
    ];
    for (const [body, detail] of cases) {
      const res = await batch(body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.json<{ type: string; detail: string }>().detail).toMatch(detail);
    }
    expect(up.seen.length).toBe(before);
    expect((await httpRequest(gw.url + '/batch', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '[]' })).status).toBe(400);
    expect((await batch([])).json()).toEqual([]);
  });

  it('refuses a sub-request to a batch route (no nesting)', async () => {
    const items = (await batch([{ method: 'POST', path: '/batch', body: [{ path: '/open/x' }] }, { method: 'POST', path: '/wide', body: [] }, { path: '/open/ok' }])).json<Item[]>();
    expect(items.map((i) => i.status)).toEqual([400, 400, 200]);
    expect(items[0]!.body.type).toMatch(/batch-nested$/);
  });

  it('keeps at most `concurrency` sub-requests in flight at the upstream', async () => {
    maxInFlight = 0;
    const res = await batch(Array.from({ length: 6 }, (_, i) => ({ path: `/open/${i}?delay=60` })));
    expect(res.json<Item[]>().every((i) => i.status === 200)).toBe(true);
    expect(maxInFlight).toBe(2);
    maxInFlight = 0;
    await batch(Array.from({ length: 10 }, (_, i) => ({ path: `/open/${i}?delay=60` })), {}, '/wide');
    expect(maxInFlight).toBe(5);
  });

  it('turns a sub-response over maxResponseSize into a 502 item, the others unharmed', async () => {
    const items = (await batch([{ path: '/open/big' }, { path: '/open/small' }])).json<Item[]>();
    expect(items.map((i) => i.status)).toEqual([502, 200]);
    expect(items[0]!.body.type).toMatch(/batch-response-too-large$/);
  });

  it('cancels the sub-requests in flight when the client goes away, and starts no more', async () => {
    const before = up.seen.length;
    const req = http.request(`${gw.url}/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, agent: false });
    req.on('error', () => {});
    req.end(JSON.stringify([{ path: '/open/gone-1?delay=5000' }, { path: '/open/gone-2?delay=5000' }, { path: '/open/gone-3' }]));
    await eventually(() => (up.seen.length >= before + 2 ? true : undefined), 5000, 'two sub-requests at the upstream');
    req.destroy();
    await eventually(() => (cut.filter((u) => u.startsWith('/open/gone-')).length === 2 ? true : undefined), 5000, 'both upstream exchanges to stop');
    await new Promise((r) => setTimeout(r, 100));
    expect(up.seen.some((s) => s.url === '/open/gone-3')).toBe(false);
  });

  it('runs a batch sent over HTTP/2 (h2c) the same way', async () => {
    const { port } = gw.gw.addresses().h2c!;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': '/batch', 'content-type': 'application/json', 'x-api-key': KEY });
        let text = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (text += c));
        req.on('end', () => resolve(text));
        req.on('error', reject);
        req.end(JSON.stringify([{ path: '/keyed/h2' }, { path: '/fixed' }]));
      });
      const items = JSON.parse(body) as Item[];
      expect(items.map((i) => i.status)).toEqual([200, 418]);
      expect(items[0]!.body).toMatchObject({ url: '/keyed/h2', consumer: 'shop' });
    } finally {
      session.close();
    }
  });

  it('passes the client address on: X-Forwarded-For names the batch client', async () => {
    const items = (await batch([{ path: '/open/ip' }])).json<Item[]>();
    expect(items[0]!.body.xff).toBe('127.0.0.1');
  });
});
