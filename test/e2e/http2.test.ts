import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import https from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import net, { type AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { eventually, freePort, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { issue, makeCa, writePems, type Issued } from '../tls-fixtures.js';
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';
import { metrics } from '../../src/observability/metrics.js';

/**
 * `h2` (HTTP/2 over TLS by ALPN, HTTP/1.1 on the same port) and `h2c` (prior knowledge)
 * listeners, with real node:http2 and node:https clients and certificates made here.
 */

interface H2Res {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request on `session`; rejects on a stream error (RST_STREAM, GOAWAY refusal). */
function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer): Promise<H2Res> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let got: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      status = Number(h[':status']);
      got = h;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, headers: got, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.on('close', () => {
      if (req.rstCode !== http2.constants.NGHTTP2_NO_ERROR) reject(new Error(`stream reset with code ${req.rstCode}`));
    });
    if (body !== undefined) req.end(body);
  });
}

function connect(url: string, options: http2.SecureClientSessionOptions = {}): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(url, options);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const BIG = 3 * 1024 * 1024;

let ca: Issued;
let serverCert: Issued;
let client: Issued;
let up: TestUpstream;
let gw: TestGateway;
let pems: ReturnType<typeof writePems>;
let wss: WebSocketServer;
/** Requests to /hang/* that the upstream saw end before it answered (the gateway cancelled them). */
const upstreamAborts: string[] = [];
/** Upstream responses to /held/* waiting for the test. */
const held = new Map<string, () => void>();

function yamlFor(deadPort: number, wsPort: number): string {
  return `version: 1
listeners:
  - { name: h2, port: 0, host: 127.0.0.1, protocol: h2, tls: { cert: gw.pem, key: gw-key.pem, clientCa: ca.pem } }
  - { name: h2c, port: 0, host: 127.0.0.1, protocol: h2c, limits: { maxConcurrentStreams: 20 } }
  - { name: h2-mtls, port: 0, host: 127.0.0.1, protocol: h2, tls: { cert: gw.pem, key: gw-key.pem, clientCa: ca.pem, clientAuth: required } }
consumers:
  - { id: acme-mobile, certificates: [ { subject: acme-mobile } ] }
upstreams:
  echo: { targets: [ "${up.url}" ] }
  dead: { targets: [ "http://127.0.0.1:${deadPort}" ], retries: { attempts: 1 } }
  sockets: { targets: [ "http://127.0.0.1:${wsPort}" ] }
routes:
  - { name: by-host, match: { path: /who, host: api.example.com }, static: { status: 200, body: api } }
  - { name: any-host, match: { path: /who }, static: { status: 200, body: other } }
  - { name: mtls, match: { path: /mtls/* }, upstream: echo, policies: [ { mtls: {} } ] }
  - { name: dead, match: { path: /dead }, upstream: dead }
  - { name: echo, match: { path: /echo/* }, upstream: echo }
  - { name: mirror, match: { path: /mirror }, upstream: echo }
  - { name: big, match: { path: /big }, upstream: echo }
  - { name: hop, match: { path: /hop }, upstream: echo }
  - { name: hang, match: { path: /hang/* }, upstream: echo }
  - { name: slow, match: { path: /slow/* }, upstream: echo }
  - { name: ws, match: { path: /ws }, upstream: sockets, websocket: true }
  - name: policy-hop
    match: { path: /policy-hop }
    static: { status: 200, body: ok }
    policies: [ { transform: { response: { headers: { set: { keep-alive: timeout=5, transfer-encoding: chunked, upgrade: h2c, x-set: yes } } } } } ]
log: { access: { fields: [method, path, status, httpVersion, listener, bytesIn] } }
`;
}

beforeAll(async () => {
  ca = await makeCa('Gantry Test CA');
  serverCert = await issue(ca, { cn: 'localhost', usage: 'server', dns: ['localhost'], ips: ['127.0.0.1'] });
  client = await issue(ca, { cn: 'acme-mobile', usage: 'client' });
  up = await startUpstream(
    (req, res, body) => {
      const url = req.url ?? '';
      if (url.startsWith('/hang/')) {
        // Never answers; records whether the gateway ended the request.
        res.on('close', () => {
          if (!res.writableEnded) upstreamAborts.push(url);
        });
        req.resume();
        return;
      }
      if (url === '/mirror') {
        // Streams the request body back as it arrives.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        req.pipe(res);
        return;
      }
      if (url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG });
        const block = Buffer.alloc(64 * 1024, 7);
        let left = BIG / block.length;
        const pump = () => {
          while (left > 0) {
            left--;
            if (!res.write(block)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      if (url === '/hop') {
        // Connection-specific fields an HTTP/1.1 upstream may send: none may reach an HTTP/2 stream.
        res.setHeader('Connection', 'keep-alive, x-hop');
        res.setHeader('Keep-Alive', 'timeout=5');
        res.setHeader('Proxy-Connection', 'keep-alive');
        res.setHeader('Upgrade', 'h2c');
        res.setHeader('X-Hop', 'secret');
        res.setHeader('X-Kept', 'yes');
        res.setHeader('Set-Cookie', ['a=1', 'b=2']);
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('chunked ');
        res.end('body');
        return;
      }
      if (url.startsWith('/held/')) {
        // Answers when the test calls held.get(url)().
        held.set(url, () => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('released');
        });
        return;
      }
      if (url.startsWith('/slow/')) {
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('late');
        }, 400);
        return;
      }
      const out = JSON.stringify({ method: req.method, url, headers: req.headers, rawHeaders: req.rawHeaders, bodyLength: body.length });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    },
    { bufferBody: false },
  );
  pems = writePems({ 'gw.pem': serverCert.cert, 'gw-key.pem': serverCert.key, 'ca.pem': ca.cert });
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (sock) => sock.on('message', (m, binary) => sock.send(m, { binary })));
  const yaml = yamlFor(await freePort(), (wss.address() as AddressInfo).port);
  const file = `${pems.dir}/gateway.yaml`;
  gw = await startGateway(yaml, { file });
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
  wss?.close();
});

const h2url = () => `https://localhost:${gw.gw.port('h2')}`;
const h2curl = () => `http://127.0.0.1:${gw.gw.port('h2c')}`;

describe('h2 listener', () => {
  it('negotiates h2 by ALPN and proxies a request, pseudo-headers not forwarded', async () => {
    const s = await connect(h2url(), { ca: ca.cert });
    try {
      expect(s.alpnProtocol).toBe('h2');
      const res = await h2Request(s, { ':path': '/echo/a?x=1', ':method': 'GET', 'x-client': 'one', cookie: ['a=1', 'b=2'] });
      expect(res.status).toBe(200);
      const seen = JSON.parse(res.body.toString()) as { url: string; headers: Record<string, string>; rawHeaders: string[] };
      expect(seen.url).toBe('/echo/a?x=1');
      expect(seen.headers['x-client']).toBe('one');
      // :authority stood for Host; the forwarding fields name it and the https scheme.
      expect(seen.headers['x-forwarded-host']).toBe(`localhost:${gw.gw.port('h2')}`);
      expect(seen.headers['x-forwarded-proto']).toBe('https');
      // RFC 9113 §8.2.3: cookie crumbs are joined into one field for HTTP/1.1.
      expect(seen.rawHeaders.filter((h) => h.toLowerCase() === 'cookie')).toHaveLength(1);
      expect(seen.headers.cookie).toBe('a=1; b=2');
      expect(seen.rawHeaders.some((h) => h.startsWith(':'))).toBe(false);
    } finally {
      s.close();
    }
  });

  it('serves HTTP/1.1 on the same port to a client that does not offer h2', async () => {
    const res = await new Promise<{ status: number; alpn: string | false | null; version: string; body: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: gw.gw.port('h2'), path: '/echo/b', servername: 'localhost', ca: ca.cert, agent: false }, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c));
        r.on('end', () => resolve({ status: r.statusCode!, alpn: (r.socket as TLSSocket).alpnProtocol, version: r.httpVersion, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(200);
    expect(res.version).toBe('1.1');
    expect(res.alpn).toBe(false);
    expect((JSON.parse(res.body) as { url: string }).url).toBe('/echo/b');
  });

  it('serves WebSocket upgrades over its HTTP/1.1 fallback', async () => {
    const ws = new WebSocket(`wss://localhost:${gw.gw.port('h2')}/ws`, { ca: ca.cert });
    const echoed = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send('ping'));
      ws.once('message', (m: Buffer) => resolve(m.toString()));
      ws.once('error', reject);
    });
    ws.close();
    expect(echoed).toBe('ping');
  });

  it('routes by :authority host', async () => {
    const s = await connect(h2url(), { ca: ca.cert });
    try {
      const api = await h2Request(s, { ':path': '/who', ':authority': 'api.example.com' });
      const other = await h2Request(s, { ':path': '/who', ':authority': 'www.example.com' });
      expect([api.body.toString(), other.body.toString()]).toEqual(['api', 'other']);
      // A Host field naming another authority than :authority is malformed (RFC 9113 §8.3.1).
      const clash = await h2Request(s, { ':path': '/who', ':authority': 'api.example.com', host: 'evil.example.com' });
      expect(clash.status).toBe(400);
      expect(clash.headers['content-type']).toBe('application/problem+json');
    } finally {
      s.close();
    }
  });

  it('authenticates by client certificate (mTLS) over h2, and refuses the handshake without one when required', async () => {
    const withCert = await connect(h2url(), { ca: ca.cert, cert: client.cert, key: client.key });
    const without = await connect(h2url(), { ca: ca.cert });
    try {
      const ok = await h2Request(withCert, { ':path': '/mtls/x' });
      expect(ok.status).toBe(200);
      expect((JSON.parse(ok.body.toString()) as { headers: Record<string, string> }).headers['x-consumer-id']).toBe('acme-mobile');
      expect((await h2Request(without, { ':path': '/mtls/x' })).status).toBe(401);
    } finally {
      withCert.close();
      without.close();
    }
    const required = `https://localhost:${gw.gw.port('h2-mtls')}`;
    await expect(connect(required, { ca: ca.cert }).then((s) => h2Request(s, { ':path': '/echo/x' }).finally(() => s.close()))).rejects.toThrow();
    const s = await connect(required, { ca: ca.cert, cert: client.cert, key: client.key });
    expect((await h2Request(s, { ':path': '/echo/x' })).status).toBe(200);
    s.close();
  });
});

describe('h2c listener (prior knowledge)', () => {
  it('serves cleartext HTTP/2 and announces its stream limit', async () => {
    const s = await connect(h2curl());
    try {
      const res = await h2Request(s, { ':path': '/echo/c', ':method': 'DELETE' });
      expect(res.status).toBe(200);
      const seen = JSON.parse(res.body.toString()) as { method: string; headers: Record<string, string> };
      expect(seen.method).toBe('DELETE');
      expect(seen.headers['x-forwarded-proto']).toBe('http');
      expect(seen.headers.via).toBe('2 gantry');
      expect(s.remoteSettings.maxConcurrentStreams).toBe(20);
    } finally {
      s.close();
    }
  });

  it('streams request and response bodies of a few MB both ways', async () => {
    const s = await connect(h2curl());
    try {
      const payload = randomBytes(BIG);
      const mirrored = await h2Request(s, { ':path': '/mirror', ':method': 'POST', 'content-type': 'application/octet-stream' }, payload);
      expect(mirrored.status).toBe(200);
      expect(mirrored.body.length).toBe(BIG);
      expect(sha(mirrored.body)).toBe(sha(payload));
      // No content-length: bytesIn counts this stream's DATA, not the connection's traffic.
      const line = await eventually(() => gw.logs.find((l) => l.path === '/mirror'), 5000, 'access log line');
      expect(line.bytesIn).toBe(BIG);
      const big = await h2Request(s, { ':path': '/big' });
      expect(big.body.length).toBe(BIG);
      expect(big.headers['content-length']).toBe(String(BIG));
    } finally {
      s.close();
    }
  });

  it('serves many concurrent streams on one session', async () => {
    const s = await connect(h2url(), { ca: ca.cert });
    try {
      const all = await Promise.all(Array.from({ length: 80 }, (_, i) => h2Request(s, { ':path': `/echo/n${i}` })));
      expect(all.map((r) => r.status)).toEqual(Array(80).fill(200));
      expect(all.map((r) => (JSON.parse(r.body.toString()) as { url: string }).url)).toEqual(Array.from({ length: 80 }, (_, i) => `/echo/n${i}`));
    } finally {
      s.close();
    }
  });

  it('refuses streams over maxConcurrentStreams with REFUSED_STREAM, and serves the others', async () => {
    const s = await connect(h2curl());
    try {
      const all = await Promise.allSettled(Array.from({ length: 25 }, (_, i) => h2Request(s, { ':path': `/slow/c${i}` })));
      const served = all.filter((r) => r.status === 'fulfilled');
      const refused = all.filter((r) => r.status === 'rejected');
      expect(served).toHaveLength(20);
      for (const r of refused) expect(String((r as PromiseRejectedResult).reason)).toMatch(/REFUSED_STREAM|code 7/);
    } finally {
      s.close();
    }
  });

  it('keeps connection-specific response fields off the stream', async () => {
    const s = await connect(h2curl());
    try {
      const res = await h2Request(s, { ':path': '/hop' });
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('chunked body');
      for (const h of ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'transfer-encoding', 'x-hop']) expect(res.headers[h], h).toBeUndefined();
      expect(res.headers['x-kept']).toBe('yes');
      expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
      // Set by a policy rather than sent by the upstream: node:http2 would throw on them.
      const set = await h2Request(s, { ':path': '/policy-hop' });
      expect(set.status).toBe(200);
      expect(set.body.toString()).toBe('ok');
      expect(set.headers['x-set']).toBe('yes');
      for (const h of ['keep-alive', 'upgrade', 'transfer-encoding']) expect(set.headers[h], h).toBeUndefined();
      // The session is still usable: no stream or connection error came of it.
      expect((await h2Request(s, { ':path': '/echo/after' })).status).toBe(200);
    } finally {
      s.close();
    }
  });

  it('answers 431 to a header list over maxHeaderSize, and keeps the connection', async () => {
    const s = await connect(h2curl());
    try {
      const before = up.seen.length;
      expect((await h2Request(s, { ':path': '/echo/big-head', 'x-big': 'a'.repeat(20_000) })).status).toBe(431);
      expect(up.seen.length).toBe(before);
      expect((await h2Request(s, { ':path': '/echo/small-head' })).status).toBe(200);
    } finally {
      s.close();
    }
  });

  it('answers 404 and 502 as problem+json', async () => {
    const s = await connect(h2curl());
    try {
      const nf = await h2Request(s, { ':path': '/who/else', ':authority': 'x' });
      expect(nf.status).toBe(404);
      const bad = await h2Request(s, { ':path': '/dead' });
      expect(bad.status).toBe(502);
      for (const r of [nf, bad]) {
        expect(r.headers['content-type']).toBe('application/problem+json');
        expect((JSON.parse(r.body.toString()) as { status: number }).status).toBe(r.status);
      }
    } finally {
      s.close();
    }
  });

  it('cancels the upstream request when the client resets the stream', async () => {
    const s = await connect(h2curl());
    try {
      const req = s.request({ ':path': '/hang/1' });
      req.on('error', () => {});
      await eventually(() => up.seen.some((r) => r.url === '/hang/1') || undefined, 5000, 'upstream sees the request');
      req.close(http2.constants.NGHTTP2_CANCEL);
      await eventually(() => upstreamAborts.includes('/hang/1') || undefined, 5000, 'upstream request aborted');
      await eventually(() => (gw.gw.inFlight === 0 ? true : undefined), 5000, 'no request in flight');
      expect((await h2Request(s, { ':path': '/echo/still' })).status).toBe(200);
    } finally {
      s.close();
    }
  });

  it('records the protocol in the access log, and counts HTTP/2 streams by listener', async () => {
    const before = metrics.http2Streams.series('h2c').value;
    const s = await connect(h2curl());
    await h2Request(s, { ':path': '/echo/logged' });
    await h2Request(s, { ':path': '/echo/logged-too' });
    s.close();
    expect(metrics.http2Streams.series('h2c').value - before).toBe(2);
    const line = await eventually(() => gw.logs.find((l) => l.path === '/echo/logged'), 5000, 'access log line');
    expect(line).toMatchObject({ httpVersion: '2.0', listener: 'h2c', status: 200 });
  });
});

describe('h2c limits', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startGateway(`version: 1
listeners:
  - { name: h2c, port: 0, host: 127.0.0.1, protocol: h2c, limits: { requestTimeout: 300ms, keepAliveTimeout: 300ms, maxRequestsPerConnection: 2 } }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: hang, match: { path: /hang/* }, upstream: echo }
  - { name: echo, match: { path: /echo/* }, upstream: echo }
`);
  });
  afterAll(() => g?.close());

  it('sends GOAWAY after maxRequestsPerConnection streams, the last one served', async () => {
    const s = await connect(`http://127.0.0.1:${g.gw.port('h2c')}`);
    try {
      expect((await h2Request(s, { ':path': '/echo/1' })).status).toBe(200);
      const goaway = new Promise<void>((r) => s.once('goaway', () => r()));
      expect((await h2Request(s, { ':path': '/echo/2' })).status).toBe(200);
      await goaway;
      await expect(Promise.resolve().then(() => h2Request(s, { ':path': '/echo/3' }))).rejects.toThrow();
    } finally {
      s.destroy();
    }
  });

  it('sends GOAWAY to a connection idle for keepAliveTimeout', async () => {
    const s = await connect(`http://127.0.0.1:${g.gw.port('h2c')}`);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    const goaway = new Promise<number>((r) => s.once('goaway', (code: number) => r(code)));
    expect((await h2Request(s, { ':path': '/echo/idle' })).status).toBe(200);
    expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
    await closed;
  });

  it('resets a stream whose request body is not received within requestTimeout, cancelling its upstream request', async () => {
    const s = await connect(`http://127.0.0.1:${g.gw.port('h2c')}`);
    try {
      const req = s.request({ ':path': '/hang/slow-sender', ':method': 'POST' });
      req.on('error', () => {});
      req.write('a first chunk, and nothing after it');
      const code = await new Promise<number>((resolve) => req.on('close', () => resolve(req.rstCode)));
      expect(code).toBe(http2.constants.NGHTTP2_CANCEL);
      await eventually(() => upstreamAborts.includes('/hang/slow-sender') || undefined, 5000, 'upstream request aborted');
    } finally {
      s.close();
    }
  });

  it('gives an HTTP/1.1 client no HTTP answer on an h2c listener, and the connection ends', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(gw.gw.port('h2c'), '127.0.0.1');
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => reject(new Error('the connection stayed open')), 5000);
      sock.on('data', (c: Buffer) => chunks.push(c));
      sock.on('error', () => {});
      sock.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('latin1'));
      });
      sock.write('GET /echo/x HTTP/1.1\r\nHost: a\r\n\r\n');
    });
    expect(out).not.toMatch(/^HTTP\/1\.1/);
    // Still serving HTTP/2.
    const s = await connect(h2curl());
    expect((await h2Request(s, { ':path': '/echo/after-h1' })).status).toBe(200);
    s.close();
  });
});

describe('drain', () => {
  it('sends GOAWAY, lets the in-flight stream finish and refuses none that started before', async () => {
    const yaml = `version: 1
listeners:
  - { name: h2c, port: 0, host: 127.0.0.1, protocol: h2c }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: echo, match: { path: /* }, upstream: echo }
`;
    const g = await startGateway(yaml);
    const s = await connect(`http://127.0.0.1:${g.gw.port('h2c')}`);
    const goaway = new Promise<number>((resolve) => s.once('goaway', (code: number) => resolve(code)));
    const inFlight = h2Request(s, { ':path': '/slow/1' });
    await eventually(() => up.seen.some((r) => r.url === '/slow/1') || undefined, 5000, 'upstream sees the request');
    const drained = g.gw.drain(5000);
    expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('late');
    expect(await drained).toBe(true);
    s.destroy();
  });

  it('on an h2 listener, closes idle HTTP/2 and HTTP/1.1 connections and finishes the in-flight stream', async () => {
    const yaml = `version: 1
listeners:
  - { name: h2, port: 0, host: 127.0.0.1, protocol: h2, tls: { cert: gw.pem, key: gw-key.pem } }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: echo, match: { path: /* }, upstream: echo }
`;
    const g = await startGateway(yaml, { file: `${pems.dir}/drain.yaml` });
    const url = `https://localhost:${g.gw.port('h2')}`;
    // A reload keeps the listener (and re-reads its certificate): h2 is still negotiated.
    expect((await g.gw.reload()).ok).toBe(true);
    const busy = await connect(url, { ca: ca.cert });
    const idle = await connect(url, { ca: ca.cert });
    expect(busy.alpnProtocol).toBe('h2');
    expect((await h2Request(idle, { ':path': '/echo/warm' })).status).toBe(200);
    const idleClosed = new Promise<void>((r) => idle.once('close', () => r()));
    // An HTTP/1.1 keep-alive connection on the same port, idle after its request.
    const agent = new https.Agent({ keepAlive: true, ca: ca.cert, servername: 'localhost' });
    const h1Socket = await new Promise<TLSSocket>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: g.gw.port('h2'), path: '/echo/h1', agent }, (r) => {
        const socket = r.socket as TLSSocket;
        expect(r.httpVersion).toBe('1.1');
        r.resume();
        r.on('end', () => resolve(socket));
      });
      req.on('error', reject);
      req.end();
    });
    const h1Closed = new Promise<void>((r) => h1Socket.once('close', () => r()));
    const inFlight = h2Request(busy, { ':path': '/held/h2-drain' });
    const release = await eventually(() => held.get('/held/h2-drain'), 5000, 'upstream sees the request');
    const drained = g.gw.drain(5000);
    // Idle connections close while the stream is still waiting for its upstream.
    await Promise.all([idleClosed, h1Closed]);
    release();
    expect((await inFlight).body.toString()).toBe('released');
    expect(await drained).toBe(true);
    agent.destroy();
    busy.destroy();
  });
});

describe('h2 config', () => {
  const cases: { desc: string; listener: string; error: RegExp }[] = [
    { desc: 'h2 without tls', listener: '{ name: s, port: 0, protocol: h2 }', error: /gateway\.yaml:2 listeners\[0\]\.tls: is required for protocol h2/ },
    { desc: 'tls on h2c', listener: '{ name: s, port: 0, protocol: h2c, tls: { cert: gw.pem, key: gw-key.pem } }', error: /gateway\.yaml:2 listeners\[0\]\.tls: has no effect on protocol h2c/ },
    { desc: 'zero concurrent streams', listener: '{ name: s, port: 0, protocol: h2c, limits: { maxConcurrentStreams: 0 } }', error: /gateway\.yaml:2 listeners\[0\]\.limits\.maxConcurrentStreams: must be >= 1/ },
    { desc: 'an unknown protocol', listener: '{ name: s, port: 0, protocol: h3 }', error: /gateway\.yaml:2 listeners\[0\]\.protocol: must be one of: "http", "https", "h2", "h2c"/ },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const r = await loadConfig(`${pems.dir}/gateway.yaml`, { text: `version: 1\nlisteners: [ ${c.listener} ]\n`, env: {} });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.map(formatIssue).join('\n')).toMatch(c.error);
    });
  }
});
