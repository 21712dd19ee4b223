import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { policyConfigCases } from '../policy-config.js';
import { httpRequest, parseMetrics, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { metrics } from '../../src/observability/metrics.js';

/** `request-size`: declared and streamed bodies over the bound get 413 and are never forwarded whole. */

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * Sends `chunks` as a chunked body (no Content-Length), each after the previous was
 * written, and resolves with the answer: the gateway may answer before the body ends.
 */
function chunked(url: string, chunks: string[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    // The gateway closes the connection after a 413 while this side may still be writing.
    req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    let i = 0;
    const next = () => {
      if (i === chunks.length) return void req.end();
      req.write(chunks[i++]!, () => setTimeout(next, 5));
    };
    next();
  });
}

let up: TestUpstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startUpstream();
  gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
policies: [ { request-size: { max: 4kb } } ]
upstreams:
  app: { targets: [ "${up.url}" ], outlierDetection: { consecutiveErrors: 1 } }
  resilient: { targets: [ "${up.url}" ], retries: { attempts: 3 } }
routes:
  - { name: small, match: { path: /small }, upstream: app, policies: [ { request-size: { max: 100 } } ] }
  - { name: global, match: { path: /global }, upstream: app }
  - { name: wider, match: { path: /wider }, upstream: app, policies: [ { request-size: { max: 64kb } } ] }
  - { name: retried, match: { path: /retried }, upstream: resilient, policies: [ { request-size: { max: 100 } } ] }
  - name: validated
    match: { path: /validated }
    upstream: app
    policies:
      - request-size: { max: 100 }
      - validate: { body: { type: object } }
`);
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
});

const problemOf = (text: string) => JSON.parse(text) as { type: string; status: number; detail: string };

describe('request-size', () => {
  it('answers 413 to a declared length over the bound, before reading or forwarding anything', async () => {
    const before = up.seen.length;
    const r = await httpRequest(`${gw.url}/small`, { method: 'POST', body: 'x'.repeat(101) });
    expect(r.status).toBe(413);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(r.headers.connection).toBe('close');
    expect(problemOf(r.text)).toMatchObject({ status: 413, detail: 'The request body is larger than 100 bytes.' });
    expect(up.seen.length).toBe(before);
  });

  it('forwards a body at the bound', async () => {
    const r = await httpRequest(`${gw.url}/small`, { method: 'POST', body: 'x'.repeat(100) });
    expect(r.status).toBe(200);
    expect(r.json<{ bodyLength: number }>().bodyLength).toBe(100);
  });

  it('forwards a chunked body under the bound whole', async () => {
    const r = await chunked(`${gw.url}/small`, ['{"a":', '"' + 'y'.repeat(40) + '"', '}']);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).bodyLength).toBe(48);
  });

  it('cuts a chunked body that streams past the bound: 413, nothing whole upstream, the target not blamed', async () => {
    const before = up.seen.length;
    const r = await chunked(`${gw.url}/small`, ['x'.repeat(60), 'x'.repeat(60), 'x'.repeat(60)]);
    expect(r.status).toBe(413);
    expect(r.headers.connection).toBe('close');
    expect(problemOf(r.body).detail).toBe("The request body is larger than 100 bytes.");
    // The upstream never got a complete request (the one started was aborted mid-body).
    expect(up.seen.slice(before).filter((s) => s.url === '/small')).toEqual([]);
    // One failure would eject the target (consecutiveErrors: 1): it is still in rotation,
    // and the attempt counts as aborted, not as a failure of the target.
    const m = parseMetrics(await metrics.text());
    // (The series appears when a target changes state: 0 once taken out of rotation.)
    expect(m.get(`gantry_upstream_target_healthy{upstream="app",target="${up.url}"}`)).not.toBe(0);
    expect(m.get(`gantry_upstream_attempts_total{upstream="app",target="${up.url}",outcome="aborted"}`)).toBeGreaterThanOrEqual(1);
    expect((await httpRequest(`${gw.url}/global`, { method: 'POST', body: 'ok' })).status).toBe(200);
  });

  it('on a route with retries: 413 at once, no retry', async () => {
    const before = up.seen.length;
    const r = await chunked(`${gw.url}/retried`, ['x'.repeat(80), 'x'.repeat(80)]);
    expect(r.status).toBe(413);
    expect(up.seen.length).toBe(before);
  });

  it('the global bound applies to every route, and the smallest of several wins', async () => {
    expect((await httpRequest(`${gw.url}/global`, { method: 'POST', body: 'x'.repeat(5000) })).status).toBe(413);
    // The route's 64kb does not lift the global 4kb.
    const r = await httpRequest(`${gw.url}/wider`, { method: 'POST', body: 'x'.repeat(5000) });
    expect(r.status).toBe(413);
    expect(problemOf(r.text).detail).toBe('The request body is larger than 4096 bytes.');
    expect((await httpRequest(`${gw.url}/wider`, { method: 'POST', body: 'x'.repeat(4096) })).status).toBe(200);
  });

  it('a policy that buffers the body reads no more than the bound', async () => {
    const r = await chunked(`${gw.url}/validated`, ['{"a":"', 'x'.repeat(60), 'x'.repeat(60), '"}']);
    expect(r.status).toBe(413);
    const ok = await chunked(`${gw.url}/validated`, ['{"a":"', 'x'.repeat(20), '"}']);
    expect(ok.status).toBe(200);
  });
});

describe('request-size config', () => {
  policyConfigCases('request-size', [
    { desc: 'a size', config: '{ max: 10mb }' },
    { desc: 'a byte count', config: '{ max: 512 }' },
    { desc: 'no max', config: '{}', error: /gateway\.yaml:6 routes\[0\]\.policies\[0\]\.request-size\.max: is required/ },
    { desc: 'a size that is not one', config: '{ max: lots }', error: /gateway\.yaml:6 routes\[0\]\.policies\[0\]\.request-size\.max: / },
    { desc: 'an unknown key', config: '{ max: 1mb, limit: 2mb }', error: /request-size\.limit: unknown key/ },
  ]);
});
