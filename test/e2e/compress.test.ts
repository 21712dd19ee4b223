import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import zlib from 'node:zlib';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/** The compress policy over real sockets: negotiation, what is skipped, headers, SSE streaming. */

const JSON_10K = JSON.stringify(Array.from({ length: 120 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'] })));

describe('compress policy', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let releaseSecondEvent: () => void = () => {};

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const url = req.url!;
      if (url === '/sse') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write('data: first\n\n');
        releaseSecondEvent = () => res.end('data: second\n\n');
        return;
      }
      const headers: Record<string, string> = { 'content-type': 'application/json', etag: '"abc"' };
      let body = JSON_10K;
      if (url === '/small') body = '{"a":1}';
      if (url === '/png') headers['content-type'] = 'image/png';
      if (url === '/notransform') headers['cache-control'] = 'no-transform';
      if (url === '/vary') headers.vary = 'Accept-Language';
      if (url === '/partial') {
        res.writeHead(206, { ...headers, 'content-range': `bytes 0-9/${body.length}`, 'content-length': '10' });
        return res.end(body.slice(0, 10));
      }
      if (url === '/gzipped') {
        const gz = zlib.gzipSync(body);
        res.writeHead(200, { ...headers, 'content-encoding': 'gzip', 'content-length': String(gz.length) });
        return res.end(gz);
      }
      if (url === '/chunked') {
        res.writeHead(200, headers);
        res.write(body.slice(0, 100));
        return res.end(body.slice(100));
      }
      res.writeHead(200, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
      res.end(body);
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - { name: api, match: { path: /* }, upstream: up, policies: [ { compress: {} } ] }
  - { name: streamed, match: { path: /streamed/* }, upstream: up, rewrite: { stripPrefix: /streamed }, policies: [ { compress: { bufferBelow: 1kb } } ] }
  - { name: cached, match: { path: /cached/* }, upstream: up, rewrite: { stripPrefix: /cached }, policies: [ { cache: { ttl: 60s } }, { compress: { encodings: [gzip, br] } } ] }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  function decode(enc: string | undefined, body: Buffer): string {
    if (enc === 'br') return zlib.brotliDecompressSync(body).toString();
    if (enc === 'gzip') return zlib.gunzipSync(body).toString();
    return body.toString();
  }

  const negotiation: { ae?: string; want: string | undefined }[] = [
    { ae: 'br;q=1, gzip;q=0.5', want: 'br' },
    { ae: 'gzip;q=1, br;q=0.5', want: 'gzip' },
    { ae: 'gzip', want: 'gzip' },
    { ae: 'identity', want: undefined },
    { ae: '*;q=0', want: undefined },
    { want: undefined },
  ];
  for (const c of negotiation) {
    it(`Accept-Encoding ${JSON.stringify(c.ae)} → ${c.want ?? 'identity'}`, async () => {
      const r = await httpRequest(gw.url + '/data', { headers: c.ae === undefined ? {} : { 'accept-encoding': c.ae } });
      expect(r.status).toBe(200);
      expect(r.headers['content-encoding']).toBe(c.want);
      expect(r.headers.vary).toBe('Accept-Encoding');
      expect(decode(c.want, r.body)).toBe(JSON_10K);
      if (c.want) {
        // A small body of known length is compressed in one piece: exact Content-Length.
        expect(r.headers['content-length']).toBe(String(r.body.length));
        expect(r.headers.etag).toBe('W/"abc"');
        expect(r.body.length).toBeLessThan(JSON_10K.length / 3);
      } else {
        expect(r.headers.etag).toBe('"abc"');
      }
    });
  }

  const skipped: { path: string; desc: string; vary?: string }[] = [
    { path: '/small', desc: 'bodies under minSize', vary: 'Accept-Encoding' },
    { path: '/png', desc: 'content types not listed' },
    { path: '/notransform', desc: 'Cache-Control: no-transform' },
    { path: '/partial', desc: 'partial content (206)' },
  ];
  for (const c of skipped) {
    it(`skips ${c.desc}`, async () => {
      const r = await httpRequest(gw.url + c.path, { headers: { 'accept-encoding': 'gzip, br' } });
      expect(r.headers['content-encoding']).toBeUndefined();
      expect(r.headers.vary).toBe(c.vary);
    });
  }

  it('never compresses twice: an encoded body passes through untouched', async () => {
    const r = await httpRequest(gw.url + '/gzipped', { headers: { 'accept-encoding': 'br' } });
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(r.body).toString()).toBe(JSON_10K);
  });

  it('compresses bodies of unknown length and extends an existing Vary', async () => {
    const r = await httpRequest(gw.url + '/chunked', { headers: { 'accept-encoding': 'gzip' } });
    expect(zlib.gunzipSync(r.body).toString()).toBe(JSON_10K);
    const v = await httpRequest(gw.url + '/vary', { headers: { 'accept-encoding': 'gzip' } });
    expect(v.headers.vary).toBe('Accept-Language, Accept-Encoding');
  });

  it('HEAD gets the GET headers, without a length for a body it does not carry', async () => {
    const get = await httpRequest(gw.url + '/data', { headers: { 'accept-encoding': 'gzip' } });
    expect(get.headers['content-length']).toBe(String(get.body.length));
    const head = await httpRequest(gw.url + '/data', { method: 'HEAD', headers: { 'accept-encoding': 'gzip' } });
    expect(head.status).toBe(200);
    expect(head.headers['content-encoding']).toBe('gzip');
    expect(head.headers.vary).toBe('Accept-Encoding');
    expect(head.headers['content-length']).toBeUndefined();
    expect(head.body.length).toBe(0);
  });

  it('bodies over bufferBelow (and of unknown length) stream through zlib', async () => {
    for (const path of ['/streamed/data', '/chunked']) {
      const r = await httpRequest(gw.url + path, { headers: { 'accept-encoding': 'gzip' } });
      expect(r.headers['content-encoding']).toBe('gzip');
      expect(r.headers['content-length']).toBeUndefined();
      expect(r.headers['transfer-encoding']).toBe('chunked');
      expect(zlib.gunzipSync(r.body).toString()).toBe(JSON_10K);
    }
  });

  it('after the cache: stores identity, compresses per client', async () => {
    const gz = await httpRequest(gw.url + '/cached/data', { headers: { 'accept-encoding': 'gzip' } });
    const br = await httpRequest(gw.url + '/cached/data', { headers: { 'accept-encoding': 'br' } });
    const plain = await httpRequest(gw.url + '/cached/data');
    expect(br.headers['cache-status']).toMatch(/hit/);
    expect(plain.headers['cache-status']).toMatch(/hit/);
    expect(zlib.gunzipSync(gz.body).toString()).toBe(JSON_10K);
    expect(zlib.brotliDecompressSync(br.body).toString()).toBe(JSON_10K);
    expect(plain.body.toString()).toBe(JSON_10K);
    expect(plain.headers['content-length']).toBe(String(JSON_10K.length));
  });

  for (const enc of ['gzip', 'br'] as const) {
    it(`SSE streams event by event (${enc})`, async () => {
      const events: string[] = [];
      const done = new Promise<void>((resolve, reject) => {
        const req = http.get(gw.url + '/sse', { headers: { 'accept-encoding': enc }, agent: false }, (res) => {
          expect(res.headers['content-encoding']).toBe(enc);
          const inflate = enc === 'gzip' ? zlib.createGunzip() : zlib.createBrotliDecompress();
          res.pipe(inflate);
          inflate.on('data', (c: Buffer) => {
            events.push(c.toString());
            // The upstream holds the second event until the first has been decoded here.
            if (events.length === 1) releaseSecondEvent();
          });
          inflate.on('end', resolve);
          inflate.on('error', reject);
        });
        req.on('error', reject);
      });
      await done;
      expect(events.join('')).toBe('data: first\n\ndata: second\n\n');
      expect(events[0]).toBe('data: first\n\n');
    });
  }
});
