import http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventually, httpRequest, sleep, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * A request waiting in a pool's queue (every connection busy) when its response timeout,
 * deadline or client runs out is ended then, not when a connection frees up; and it is
 * never written upstream, so the connection it would have taken stays open.
 */
describe('requests queued for a connection', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let connections = 0;

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const answer = () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(req.url);
      };
      if (req.url === '/slow') setTimeout(answer, 1200);
      else answer();
    });
    up.server.on('connection', () => connections++);
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  one: { targets: [ "${up.url}" ], pool: { connections: 1 } }
routes:
  - { name: slow, match: { path: /slow }, upstream: one }
  - { name: quick-timeout, match: { path: /quick }, upstream: one, timeouts: { response: 300ms } }
  - { name: deadline, match: { path: /budget }, upstream: one, deadline: 300ms }
  - { name: resilient-timeout, match: { path: /retried }, upstream: one, timeouts: { response: 300ms }, retries: { attempts: 2 } }
  - { name: patient, match: { path: /patient }, upstream: one }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });
  beforeEach(async () => {
    // Start each case on the one warm connection, with nothing in flight.
    const r = await httpRequest(`${gw.url}/patient`);
    expect(r.status).toBe(200);
    up.seen.length = 0;
    connections = 0;
  });

  it.each([
    ['/quick', 'response timeout, plain proxy', 'upstream-timeout'],
    ['/retried', 'response timeout, with retries', 'upstream-timeout'],
    ['/budget', 'route deadline', 'deadline-exceeded'],
  ])('%s (%s) answers 504 while the connection is still busy, and is never sent', async (path, _what, type) => {
    let slowDone = false;
    const slow = httpRequest(`${gw.url}/slow`).then((r) => {
      slowDone = true;
      return r;
    });
    await eventually(() => (up.seen.some((s) => s.url === '/slow') ? true : undefined), 2000, 'the slow request upstream');
    const queued = await httpRequest(`${gw.url}${path}`);
    expect(queued.status).toBe(504);
    expect(queued.json<{ type: string }>().type).toContain(type);
    expect(slowDone).toBe(false);
    expect((await slow).status).toBe(200);

    // The connection the queued request would have taken serves the next one.
    const after = await httpRequest(`${gw.url}/patient`);
    expect(after.status).toBe(200);
    expect(up.seen.map((s) => s.url)).toEqual(['/slow', '/patient']);
    expect(connections).toBe(0);
  });

  it('a client that leaves while its request is queued costs the pool nothing', async () => {
    const slow = httpRequest(`${gw.url}/slow`);
    await eventually(() => (up.seen.some((s) => s.url === '/slow') ? true : undefined), 2000, 'the slow request upstream');
    const gone = http.get(`${gw.url}/patient?gone`, { agent: false });
    gone.on('error', () => undefined);
    await sleep(100);
    gone.destroy();
    expect((await slow).status).toBe(200);

    const after = await httpRequest(`${gw.url}/patient`);
    expect(after.status).toBe(200);
    expect(up.seen.map((s) => s.url)).toEqual(['/slow', '/patient']);
    expect(connections).toBe(0);
  });
});
