import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/** The mask policy over real sockets: each action, paths, encodings, bounds, passthrough. */

const DOC = {
  user: { name: 'ann', ssn: '123-45-6789', email: 'ann@example.com', password: 'p1' },
  items: [{ card: '4111111111111234', password: 'p2' }, { card: '5500000000005678', meta: { password: 'p3' } }],
  token: 'tok',
};
const TEXT = JSON.stringify(DOC);

describe('mask policy', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let release: (() => void) | undefined;

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const json = (body: Buffer | string, headers: http.OutgoingHttpHeaders = {}) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), etag: '"v1"', ...headers });
        res.end(body);
      };
      switch (req.url!.replace(/^\/[tc]\//, '/')) {
        case '/doc':
          return json(TEXT);
        case '/vendor':
          return json(TEXT, { 'content-type': 'application/vnd.acme.user+json; charset=utf-8' });
        case '/chunked':
          res.writeHead(201, { 'content-type': 'application/json' });
          res.write(TEXT.slice(0, 20));
          return setTimeout(() => res.end(TEXT.slice(20)), 5);
        case '/gzip':
          return json(zlib.gzipSync(TEXT), { 'content-encoding': 'gzip', vary: 'accept-encoding' });
        case '/br':
          return json(zlib.brotliCompressSync(TEXT), { 'content-encoding': 'br' });
        case '/deflate':
          return json(zlib.deflateSync(TEXT), { 'content-encoding': 'deflate' });
        case '/unknown-coding':
          return json(TEXT, { 'content-encoding': 'compress' });
        case '/bomb':
          // 3 KB on the wire, 2 MB once decoded.
          return json(zlib.gzipSync(JSON.stringify({ pad: '0'.repeat(2_000_000) })), { 'content-encoding': 'gzip' });
        case '/big':
          return json(JSON.stringify({ pad: 'x'.repeat(10_000) }));
        case '/big-chunked':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"pad":"');
          for (let i = 0; i < 10; i++) res.write('x'.repeat(1000));
          return res.end('"}');
        case '/not-json':
          return json('{"ssn": "123-45-6789"');
        case '/error':
          res.writeHead(500, { 'content-type': 'application/problem+json' });
          return res.end(JSON.stringify({ title: 'boom', user: DOC.user }));
        case '/text':
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(TEXT.length * 2) });
          res.write(TEXT);
          // The rest only once the client has seen the first part: a buffered body would never arrive.
          release = () => res.end(TEXT);
          return;
        default:
          res.writeHead(404).end();
      }
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - name: transformed
    match: { path: /t/* }
    upstream: up
    policies:
      - transform: { request: { headers: {} }, response: { body: [ { wrap: data } ] } }
      - mask: { rules: [ { path: "data.user.ssn" } ], maxBodySize: 8kb }
  - name: recompressed
    match: { path: /c/* }
    upstream: up
    policies:
      - mask: { rules: [ { path: "**.ssn" } ] }
      - compress: { minSize: 0 }
  - name: masked
    match: { path: /* }
    upstream: up
    policies:
      - mask:
          rules:
            - { path: user.ssn, action: redact }
            - { path: user.name, action: redact, replacement: "[name]" }
            - { path: "items[*].card", action: partial, keep: 4 }
            - { path: "**.password", action: remove }
            - { path: user.email, action: hash, length: 20, salt: pepper }
          maxBodySize: 8kb
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const expected = {
    user: { name: '[name]', ssn: '***', email: createHash('sha256').update('pepper' + DOC.user.email).digest('hex').slice(0, 20) },
    items: [{ card: '************1234' }, { card: '************5678', meta: {} }],
    token: 'tok',
  };

  it.each(['/doc', '/chunked', '/gzip', '/br', '/deflate', '/vendor'])('masks %s with every action, and an exact Content-Length', async (path) => {
    const r = await httpRequest(gw.url + path, { headers: { 'accept-encoding': 'identity' } });
    expect(r.status).toBe(path === '/chunked' ? 201 : 200);
    expect(r.json()).toEqual(expected);
    expect(r.headers['content-length']).toBe(String(r.body.length));
    expect(r.headers['transfer-encoding']).toBeUndefined();
    expect(r.headers['content-encoding']).toBeUndefined();
    if (path !== '/chunked') expect(r.headers.etag).toBe('W/"v1"');
  });

  it('masks error bodies too', async () => {
    const r = await httpRequest(gw.url + '/error');
    expect(r.status).toBe(500);
    expect(r.json()).toEqual({ title: 'boom', user: expected.user });
  });

  it('answers HEAD without the unmasked length', async () => {
    const r = await httpRequest(gw.url + '/doc', { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBeUndefined();
    expect(r.headers.etag).toBe('W/"v1"');
  });

  it('passes other media types untouched and streamed', async () => {
    const got = await new Promise<{ first: string; all: string; length: string | undefined }>((resolve, reject) => {
      http
        .get(gw.url + '/text', { agent: false }, (res) => {
          let all = '';
          let first: string | undefined;
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            all += c;
            if (first === undefined) {
              first = c;
              release!();
            }
          });
          res.on('end', () => resolve({ first: first!, all, length: res.headers['content-length'] }));
        })
        .on('error', reject);
    });
    expect(got.first).toBe(TEXT);
    expect(got.all).toBe(TEXT + TEXT);
    expect(got.length).toBe(String(TEXT.length * 2));
  });

  const failures: [string, RegExp][] = [
    ['/big', /larger than the 8192 bytes this route masks/],
    ['/big-chunked', /could not be transformed|larger than the gateway can transform/],
    ['/bomb', /could not be transformed/],
    ['/not-json', /could not be transformed/],
    ['/unknown-coding', /encoded as 'compress'/],
  ];
  it.each(failures)('fails closed with 502 for %s', async (path, detail) => {
    const r = await httpRequest(gw.url + path);
    expect(r.status).toBe(502);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(r.text).not.toContain('123-45-6789');
    expect(r.json<{ detail: string }>().detail).toMatch(detail);
    expect(r.headers['content-length']).toBe(String(r.body.length));
  });

  it('masks behind a policy that already streams the body (transform)', async () => {
    const r = await httpRequest(gw.url + '/t/doc');
    expect(r.status).toBe(200);
    expect(r.json<{ data: typeof DOC }>().data.user.ssn).toBe('***');
    expect(r.json<{ data: typeof DOC }>().data.user.password).toBe('p1');
  });

  it('cuts off a body too large to mask behind a streaming policy, never sending it', async () => {
    const outcome = await new Promise<{ error?: string; body: string }>((resolve) => {
      http
        .get(gw.url + '/t/big-chunked', { agent: false }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ body }));
          res.on('error', (e) => resolve({ error: e.message, body }));
        })
        .on('error', (e) => resolve({ error: e.message, body: '' }));
    });
    expect(outcome.error).toBeDefined();
    expect(outcome.body).not.toContain('xxxx');
  });

  it('decodes a gzip upstream body, masks it, and lets compress encode the result again', async () => {
    const r = await httpRequest(gw.url + '/c/gzip', { headers: { 'accept-encoding': 'gzip' } });
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBe('gzip');
    const doc = JSON.parse(zlib.gunzipSync(r.body).toString()) as typeof DOC;
    expect(doc.user.ssn).toBe('***');
    expect(doc.items[0]!.card).toBe(DOC.items[0]!.card);
  });
});
