import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/** The transform policy over real sockets: request and response headers, query, JSON bodies, caps. */

describe('transform policy', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  const plugin = fileURLToPath(new URL('../fixtures/header-consumer.mjs', import.meta.url));

  beforeAll(async () => {
    up = await startUpstream((req, res, body) => {
      if (req.url!.startsWith('/big')) {
        res.writeHead(200, { 'content-type': 'application/json', ...(req.url === '/big/declared' ? { 'content-length': String(3000) } : {}) });
        return res.end(JSON.stringify({ pad: 'x'.repeat(2980) }).slice(0, 3000).padEnd(3000, ' '));
      }
      if (req.url!.startsWith('/notjson')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('not json');
      }
      const out = JSON.stringify({
        data: { url: req.url, headers: req.headers, body: body.length && req.headers['content-type'] === 'application/json' ? (JSON.parse(body.toString()) as unknown) : null, user_name: 'ann' },
        debug: true,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(out)), server: 'origin', 'x-old': 'v' });
      res.end(out);
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
plugins: [ "${plugin}" ]
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - name: items
    match: { path: "/items/:id" }
    upstream: up
    policies:
      - header-consumer: {}
      - transform:
          request:
            headers: { set: { x-consumer: "\${consumer.id}" }, remove: [x-secret], rename: { x-legacy: x-modern } }
            query: { remove: [api_key], rename: { q: search }, set: { item: "\${params.id}" } }
            body:
              - { set: /meta/requestId, value: "\${request.id}" }
              - { set: /meta/consumer, value: "\${consumer.id}" }
              - { remove: /password }
              - { rename: /user_name, to: userName }
            maxBodySize: 1kb
          response:
            headers: { remove: [server], rename: { x-old: x-new }, add: { x-item: "\${params.id}" } }
            body: [ { unwrap: /data }, { rename: /user_name, to: userName }, { wrap: result } ]
            maxBodySize: 2kb
  - { name: big, match: { path: /big/* }, upstream: up, policies: [ { transform: { response: { body: [ { wrap: x } ], maxBodySize: 2kb } } } ] }
  - { name: notjson, match: { path: /notjson }, upstream: up, policies: [ { transform: { response: { body: [ { wrap: x } ] } } } ] }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  type Echo = { result: { url: string; headers: Record<string, string>; body: Record<string, unknown> | null; userName: string } };

  it('transforms request headers, query and JSON body, with the right Content-Length', async () => {
    const r = await httpRequest(gw.url + '/items/7?q=shoes&api_key=secret', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-test-consumer': 'acme', 'x-secret': 's', 'x-legacy': 'l', 'x-request-id': 'ignored' },
      body: JSON.stringify({ user_name: 'bob', password: 'hunter2', keep: 1 }),
    });
    expect(r.status).toBe(200);
    const e = r.json<Echo>().result;
    expect(e.url).toBe('/items/7?search=shoes&item=7');
    expect(e.headers['x-consumer']).toBe('acme');
    expect(e.headers['x-secret']).toBeUndefined();
    expect(e.headers['x-modern']).toBe('l');
    expect(e.body).toMatchObject({ userName: 'bob', keep: 1, meta: { consumer: 'acme' } });
    expect(e.body!.password).toBeUndefined();
    expect(typeof (e.body!.meta as { requestId: string }).requestId).toBe('string');
    const seen = up.seen.at(-1)!;
    expect(Number(seen.headers['content-length'])).toBe(seen.body.length);
  });

  it('transforms response headers and body', async () => {
    const r = await httpRequest(gw.url + '/items/9');
    const body = r.json<Echo & { debug?: boolean }>();
    expect(body.result.userName).toBe('ann');
    expect(body.debug).toBeUndefined();
    expect(r.headers.server).toBeUndefined();
    expect(r.headers['x-new']).toBe('v');
    expect(r.headers['x-item']).toBe('9');
    expect(r.headers['content-length']).toBeUndefined();
  });

  it('leaves non-JSON request bodies untouched', async () => {
    await httpRequest(gw.url + '/items/1', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'plain text' });
    expect(up.seen.at(-1)!.body.toString()).toBe('plain text');
  });

  it('400 for invalid JSON, 413 over the cap (declared and streamed)', async () => {
    const bad = await httpRequest(gw.url + '/items/1', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{oops' });
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toBe('application/problem+json');
    const big = JSON.stringify({ pad: 'x'.repeat(2000) });
    const declared = await httpRequest(gw.url + '/items/1', { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    expect(declared.status).toBe(413);
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = http.request(gw.url + '/items/1', { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.write(big.slice(0, 800));
      setTimeout(() => req.end(big.slice(800)), 20);
    });
    expect(streamed).toBe(413);
  });

  it('502 for a declared response over the cap; a streamed one is cut off', async () => {
    const r = await httpRequest(gw.url + '/big/declared');
    expect(r.status).toBe(502);
    expect(r.json<{ detail: string }>().detail).toMatch(/larger than/);
    await expect(httpRequest(gw.url + '/big/chunked')).rejects.toThrow();
  });

  it('passes an invalid JSON response on unchanged', async () => {
    const r = await httpRequest(gw.url + '/notjson');
    expect(r.status).toBe(200);
    expect(r.text).toBe('not json');
  });
});
