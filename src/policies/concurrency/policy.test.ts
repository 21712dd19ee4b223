import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, sleep, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../../../test/helpers.js';
import { describeRedis } from '../../../test/redis.js';

/** In-flight limits: slots held while the upstream works, released on completion and on abort. */
function concurrencySuite(store: () => string) {
  let up: TestUpstream;
  let gw: TestGateway;
  const held: http.ServerResponse[] = [];
  beforeAll(async () => {
    up = await startUpstream((_req, res) => {
      held.push(res); // answered by the test
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
${store()}
upstreams: { slow: { targets: [ "${up.url}" ] } }
routes:
  - name: slow
    match: { path: /slow }
    upstream: slow
    policies: [ { concurrency: { name: two-at-once, max: 2, by: header:X-Client } } ]
`);
  });
  afterAll(async () => {
    for (const r of held) r.end();
    await gw?.close();
    await up?.close();
  });

  const waitHeld = async (n: number) => {
    await eventually(() => held.length >= n || undefined, 5000, `${n} requests at the upstream`);
    expect(held.length).toBe(n);
  };
  const finish = (res: http.ServerResponse) => {
    res.writeHead(200, { 'content-length': '2' });
    res.end('ok');
  };

  it('holds max slots per key, refuses more with 429, frees a slot on completion', async () => {
    const a = httpRequest(`${gw.url}/slow`, { headers: { 'x-client': 'c1' } });
    const b = httpRequest(`${gw.url}/slow`, { headers: { 'x-client': 'c1' } });
    await waitHeld(2);
    const c = await httpRequest(`${gw.url}/slow`, { headers: { 'x-client': 'c1' } });
    expect(c.status).toBe(429);
    expect(c.json()).toMatchObject({ policy: 'two-at-once', type: expect.stringContaining('concurrency-limited') });
    expect(c.headers['retry-after']).toBe('1');

    // Another key has its own slots.
    const other = httpRequest(`${gw.url}/slow`, { headers: { 'x-client': 'c2' } });
    await waitHeld(3);
    finish(held[2]!);
    expect((await other).status).toBe(200);

    finish(held[0]!);
    expect((await a).status).toBe(200);
    const d = httpRequest(`${gw.url}/slow`, { headers: { 'x-client': 'c1' } });
    await waitHeld(4);
    finish(held[1]!);
    finish(held[3]!);
    expect((await b).status).toBe(200);
    expect((await d).status).toBe(200);
  });

  it('frees the slot when the client goes away', async () => {
    const start = held.length;
    const reqs = [0, 1].map(() => {
      const req = http.request(`${gw.url}/slow`, { headers: { 'x-client': 'c3' }, agent: false });
      req.on('error', () => {});
      req.end();
      return req;
    });
    await waitHeld(start + 2);
    expect((await httpRequest(`${gw.url}/slow`, { headers: { 'x-client': 'c3' } })).status).toBe(429);
    reqs[0]!.destroy();
    const deadline = Date.now() + 5000;
    let next = httpRequest(`${gw.url}/slow`, { headers: { 'x-client': 'c3' } });
    // Admitted (held upstream) once the aborted request's slot is back.
    while (held.length < start + 3 && Date.now() < deadline) {
      const r = await Promise.race([next, sleep(100).then(() => undefined)]);
      if (r !== undefined) {
        expect(r.status).toBe(429);
        next = httpRequest(`${gw.url}/slow`, { headers: { 'x-client': 'c3' } });
      }
    }
    expect(held.length).toBe(start + 3);
    finish(held[start + 2]!);
    expect((await next).status).toBe(200);
    reqs[1]!.destroy();
  });
}

describe('concurrency on the memory store', () => concurrencySuite(() => ''));

describeRedis('concurrency on Redis', (redis) => {
  concurrencySuite(() => `store: { kind: redis, url: "${redis().url}", keyPrefix: "cc${Math.random().toString(36).slice(2, 6)}:" }`);
});
