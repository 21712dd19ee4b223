import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import zlib from 'node:zlib';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/** The etag policy: strong ETags from the body, 304 on If-None-Match, and what it leaves alone. */

describe('etag policy', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let version = 1;

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const send = (status: number, headers: Record<string, string>, body: string) => {
        res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
        res.end(body);
      };
      if (req.url === '/own') return send(200, { 'content-type': 'application/json', etag: 'W/"origin"' }, '{"own":true}');
      if (req.url === '/html') return send(200, { 'content-type': 'text/html' }, '<p>hi</p>');
      if (req.url === '/missing') return send(404, { 'content-type': 'application/json' }, '{"error":"nope"}');
      if (req.url === '/large') return send(200, { 'content-type': 'application/json' }, JSON.stringify({ pad: 'x'.repeat(5000) }));
      send(200, { 'content-type': 'application/json' }, JSON.stringify({ version, items: Array.from({ length: 50 }, (_, i) => i) }));
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - { name: api, match: { path: /* }, upstream: up, policies: [ { etag: { maxSize: 4kb } }, { compress: { minSize: 10 } } ] }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('adds a strong ETag and answers 304 while the body is unchanged', async () => {
    const first = await httpRequest(gw.url + '/data');
    const tag = first.headers.etag!;
    expect(tag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(first.json()).toMatchObject({ version: 1 });
    const again = await httpRequest(gw.url + '/data', { headers: { 'if-none-match': tag } });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers.etag).toBe(tag);
    version = 2;
    const changed = await httpRequest(gw.url + '/data', { headers: { 'if-none-match': tag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.etag).not.toBe(tag);
  });

  it('keeps the ETag stable across compression negotiation (weakened when compressed)', async () => {
    const plain = await httpRequest(gw.url + '/data');
    const gz = await httpRequest(gw.url + '/data', { headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers.etag).toBe(`W/${plain.headers.etag}`);
    expect(JSON.parse(zlib.gunzipSync(gz.body).toString())).toEqual(plain.json());
    const cond = await httpRequest(gw.url + '/data', { headers: { 'accept-encoding': 'gzip', 'if-none-match': gz.headers.etag! } });
    expect(cond.status).toBe(304);
  });

  const untouched: { desc: string; path: string; status: number; etag: string | undefined }[] = [
    { desc: 'an origin ETag is kept', path: '/own', status: 200, etag: 'W/"origin"' },
    { desc: 'other media types get none', path: '/html', status: 200, etag: undefined },
    { desc: 'non-200 responses get none', path: '/missing', status: 404, etag: undefined },
    { desc: 'bodies over maxSize stream without one', path: '/large', status: 200, etag: undefined },
  ];
  for (const c of untouched) {
    it(c.desc, async () => {
      const r = await httpRequest(gw.url + c.path);
      expect(r.status).toBe(c.status);
      expect(r.headers.etag).toBe(c.etag);
      if (c.path === '/large') expect(r.json<{ pad: string }>().pad.length).toBe(5000);
    });
  }

  it('an origin ETag is compared too', async () => {
    const r = await httpRequest(gw.url + '/own', { headers: { 'if-none-match': '"origin"' } });
    expect(r.status).toBe(304);
  });

  it('POST passes through', async () => {
    const r = await httpRequest(gw.url + '/data', { method: 'POST', body: '{}' });
    expect(r.status).toBe(200);
    expect(r.headers.etag).toBeUndefined();
  });
});
