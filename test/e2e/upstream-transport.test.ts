import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import WebSocket, { WebSocketServer } from 'ws';
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';
import { eventually, httpRequest, startGateway, type TestGateway } from '../helpers.js';
import { issue, makeCa, writePems, type Issued } from '../tls-fixtures.js';

/**
 * `upstreams.<name>.tls` (CA, client certificate, SNI name, verification) and
 * `upstreams.<name>.http2` (ALPN h2 on https targets, h2c on http targets), against real
 * TLS and HTTP/2 servers on 127.0.0.1 with certificates generated here.
 */

/** What a target saw of one request. */
interface Seen {
  httpVersion: string;
  method: string;
  url: string;
  body: string;
  sni: string | null;
  clientCn: string | null;
  forwardedFor: string | undefined;
}

interface Backend {
  url: string;
  seen: Seen[];
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

type AnyReq = http.IncomingMessage | http2.Http2ServerRequest;
type AnyRes = http.ServerResponse | http2.Http2ServerResponse;

/** Answers every request with what it saw (JSON), after reading the whole body. */
function record(seen: Seen[]) {
  return (req: AnyReq, res: AnyRes) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const socket = req.socket as TLSSocket & { servername?: string | false };
      const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
      const s: Seen = {
        httpVersion: req.httpVersion,
        method: req.method ?? '',
        url: req.url ?? '',
        body: Buffer.concat(chunks).toString(),
        sni: typeof socket.servername === 'string' ? socket.servername : null,
        clientCn: peer && peer.subject ? String(peer.subject.CN) : null,
        forwardedFor: req.headers['x-forwarded-for'] as string | undefined,
      };
      seen.push(s);
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-backend', 'yes');
      res.end(JSON.stringify(s));
    });
  };
}

async function listen(server: http.Server | https.Server | http2.Http2Server | http2.Http2SecureServer, scheme: string, seen: Seen[]): Promise<Backend> {
  const sessions = new Set<{ destroy(): void }>();
  let accepted = 0;
  server.on('connection', (s: { destroy(): void }) => {
    accepted++;
    sessions.add(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    seen,
    connections: () => accepted,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}

let ca: Issued;
let clientCa: Issued;
let serverCert: Issued;
let namedCert: Issued;
let gatewayClient: Issued;
let otherCa: Issued;
let otherServer: Issued;
let pems: ReturnType<typeof writePems>;
const backends: Record<string, Backend> = {};
let gw: TestGateway;
let hangStreams = 0;
const hangClosed: number[] = [];

beforeAll(async () => {
  [ca, clientCa, otherCa] = await Promise.all([makeCa('Upstream CA'), makeCa('Gateway Client CA'), makeCa('Other CA')]);
  [serverCert, namedCert, gatewayClient, otherServer] = await Promise.all([
    issue(ca, { cn: 'localhost', usage: 'server', dns: ['localhost'], ips: ['127.0.0.1'] }),
    issue(ca, { cn: 'backend.internal', usage: 'server', dns: ['backend.internal'] }),
    issue(clientCa, { cn: 'gantry-edge', usage: 'client' }),
    issue(otherCa, { cn: 'localhost', usage: 'server', dns: ['localhost'], ips: ['127.0.0.1'] }),
  ]);
  pems = writePems({ 'ca.pem': ca.cert, 'gw.pem': gatewayClient.cert, 'gw-key.pem': gatewayClient.key, 'other-ca.pem': otherCa.cert, 'empty.pem': '' });

  const tlsOf = (c: Issued) => ({ cert: c.cert, key: c.key });
  // Each backend records into its own list.
  const make = async (name: string, server: Parameters<typeof listen>[0], scheme: string) => {
    const seen: Seen[] = [];
    server.on('request', record(seen));
    backends[name] = await listen(server, scheme, seen);
  };
  await make('https', https.createServer(tlsOf(serverCert)), 'https');
  await make('named', https.createServer(tlsOf(namedCert)), 'https');
  await make('mtls', https.createServer({ ...tlsOf(serverCert), ca: clientCa.cert, requestCert: true, rejectUnauthorized: true }), 'https');
  await make('selfsigned', https.createServer(tlsOf(otherServer)), 'https');
  await make('h2', http2.createSecureServer({ ...tlsOf(serverCert), allowHTTP1: true }), 'https');
  await make('h2c', http2.createServer(), 'http');
  await make('h1only', https.createServer(tlsOf(serverCert)), 'https');

  // An h2c target that never answers; it notes when the gateway cancels a stream.
  const hang = http2.createServer();
  hang.on('stream', (stream) => {
    hangStreams++;
    stream.on('close', () => hangClosed.push(stream.rstCode));
  });
  backends.hang = await listen(hang, 'http', []);

  // A wss echo server behind the private CA.
  const wssServer = https.createServer(tlsOf(serverCert));
  const wss = new WebSocketServer({ server: wssServer });
  wss.on('connection', (ws, req) => ws.on('message', (m) => ws.send(`echo ${String(m)} via ${(req.socket as TLSSocket & { servername?: string }).servername || 'no-sni'}`)));
  backends.wss = await listen(wssServer, 'https', []);

  const u = (name: string) => backends[name]!.url;
  gw = await startGateway(
    `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  trusting: { targets: [ "${u('https')}" ], tls: { ca: ${pems.path('ca.pem')} } }
  untrusting: { targets: [ "${u('https')}" ] }
  named: { targets: [ "${u('named')}" ], tls: { ca: ${pems.path('ca.pem')}, serverName: backend.internal } }
  unnamed: { targets: [ "${u('named')}" ], tls: { ca: ${pems.path('ca.pem')} } }
  mtls: { targets: [ "${u('mtls')}" ], tls: { ca: ${pems.path('ca.pem')}, cert: ${pems.path('gw.pem')}, key: ${pems.path('gw-key.pem')} } }
  mtls-nocert: { targets: [ "${u('mtls')}" ], tls: { ca: ${pems.path('ca.pem')} } }
  insecure: { targets: [ "${u('selfsigned')}" ], tls: { verify: false } }
  wrong-ca: { targets: [ "${u('selfsigned')}" ], tls: { ca: ${pems.path('ca.pem')} } }
  h2: { targets: [ "${u('h2')}" ], tls: { ca: ${pems.path('ca.pem')} }, http2: true }
  h2-off: { targets: [ "${u('h2')}" ], tls: { ca: ${pems.path('ca.pem')} } }
  h2c: { targets: [ "${u('h2c')}" ], http2: true }
  hang: { targets: [ "${u('hang')}" ], http2: true }
  fallback: { targets: [ "${u('h1only')}" ], tls: { ca: ${pems.path('ca.pem')} }, http2: true }
  wss: { targets: [ "${u('wss')}" ], tls: { ca: ${pems.path('ca.pem')}, serverName: localhost } }
routes:
  - { name: trusting, match: { path: /trusting/* }, upstream: trusting, rewrite: { stripPrefix: /trusting } }
  - { name: untrusting, match: { path: /untrusting/* }, upstream: untrusting }
  - { name: named, match: { path: /named/* }, upstream: named }
  - { name: unnamed, match: { path: /unnamed/* }, upstream: unnamed }
  - { name: mtls, match: { path: /mtls/* }, upstream: mtls }
  - { name: mtls-nocert, match: { path: /mtls-nocert/* }, upstream: mtls-nocert }
  - { name: insecure, match: { path: /insecure/* }, upstream: insecure }
  - { name: wrong-ca, match: { path: /wrong-ca/* }, upstream: wrong-ca }
  - { name: h2, match: { path: /h2/* }, upstream: h2 }
  - { name: h2-off, match: { path: /h2-off/* }, upstream: h2-off }
  - { name: h2c, match: { path: /h2c/* }, upstream: h2c }
  - { name: hang, match: { path: /hang/* }, upstream: hang }
  - { name: fallback, match: { path: /fallback/* }, upstream: fallback }
  - { name: wss, match: { path: /wss/* }, upstream: wss, websocket: true }
`,
  );
}, 30_000);

afterAll(async () => {
  await gw?.close();
  await Promise.all(Object.values(backends).map((b) => b.close()));
});

const get = (path: string, init: Parameters<typeof httpRequest>[1] = {}) => httpRequest(`${gw.url}${path}`, init);
const seenBy = (r: Awaited<ReturnType<typeof get>>) => r.json() as Seen;

describe('upstream tls', () => {
  it('verifies an https target against the configured CA', async () => {
    const r = await get('/trusting/x?q=1');
    expect(r.status).toBe(200);
    expect(seenBy(r)).toMatchObject({ url: '/x?q=1', forwardedFor: '127.0.0.1', httpVersion: '1.1' });
  });

  it("refuses a target whose certificate no trusted CA signed (Node's roots only): 502", async () => {
    const before = backends.https!.seen.length;
    const r = await get('/untrusting/x');
    expect(r.status).toBe(502);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(backends.https!.seen.length).toBe(before);
  });

  it('sends serverName as SNI and checks it in the certificate', async () => {
    const r = await get('/named/x');
    expect(r.status).toBe(200);
    expect(seenBy(r).sni).toBe('backend.internal');
    // Without it, the certificate (backend.internal only) does not cover 127.0.0.1.
    expect((await get('/unnamed/x')).status).toBe(502);
  });

  it('presents the client certificate to a target that requires one (mTLS)', async () => {
    const r = await get('/mtls/x');
    expect(r.status).toBe(200);
    expect(seenBy(r).clientCn).toBe('gantry-edge');
    expect((await get('/mtls-nocert/x')).status).toBe(502);
  });

  it('verify: false accepts a certificate of an unknown CA; a wrong CA does not', async () => {
    expect((await get('/insecure/x')).status).toBe(200);
    expect((await get('/wrong-ca/x')).status).toBe(502);
  });

  it('tunnels a WebSocket to a wss target with the same tls settings', async () => {
    const port = gw.port;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/wss/chat`);
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send('hi'));
      ws.once('message', (m) => resolve(String(m)));
      ws.once('error', reject);
    });
    ws.close();
    expect(reply).toBe('echo hi via localhost');
  });
});

describe('upstream http2', () => {
  it('speaks HTTP/2 to an https target that offers h2 (ALPN), streaming a request body', async () => {
    const body = 'x'.repeat(200_000);
    const r = await get('/h2/upload', { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
    expect(r.status).toBe(200);
    expect(r.headers['x-backend']).toBe('yes');
    expect(seenBy(r)).toMatchObject({ httpVersion: '2.0', method: 'POST', url: '/h2/upload', forwardedFor: '127.0.0.1' });
    expect(seenBy(r).body).toBe(body);
  });

  it('concurrent requests share one HTTP/2 connection', async () => {
    const before = backends.h2!.connections();
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => get(`/h2/c${i}`)));
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    expect(new Set(results.map((r) => seenBy(r).httpVersion))).toEqual(new Set(['2.0']));
    // The connection of the first test carries them all (HTTP/1.1 would have needed up to 40).
    expect(backends.h2!.connections()).toBe(before);
    expect(before).toBe(1);
  });

  it('without http2: the same target is spoken to in HTTP/1.1', async () => {
    const r = await get('/h2-off/x');
    expect(r.status).toBe(200);
    expect(seenBy(r).httpVersion).toBe('1.1');
  });

  it('speaks h2c (prior knowledge) to an http target', async () => {
    const r = await get('/h2c/x', { method: 'PUT', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(200);
    expect(seenBy(r)).toMatchObject({ httpVersion: '2.0', method: 'PUT', body: '{"a":1}' });
  });

  it('a client that goes away cancels its HTTP/2 stream upstream (RST_STREAM)', async () => {
    const req = http.get(`${gw.url}/hang/x`);
    req.on('error', () => undefined);
    await eventually(() => (hangStreams === 1 ? true : undefined), 5000, 'the stream to reach the target');
    req.destroy();
    // The target never answers: only the gateway resetting the stream closes it this soon
    // (its response timeout is 60 s).
    await eventually(() => (hangClosed.length === 1 ? true : undefined), 5000, 'the stream to be reset');
    expect(typeof hangClosed[0]).toBe('number');
  });

  it('falls back to HTTP/1.1 when an https target does not offer h2', async () => {
    const rs = await Promise.all([get('/fallback/a'), get('/fallback/b'), get('/fallback/c')]);
    for (const r of rs) {
      expect(r.status).toBe(200);
      expect(seenBy(r).httpVersion).toBe('1.1');
    }
    // One request at a time per HTTP/1.1 connection (no pipelining): three at once took three connections.
    expect(backends.h1only!.connections()).toBe(3);
  });
});

describe('upstream tls config', () => {
  const load = async (upstream: string) => {
    const file = pems.path('check.yaml');
    writeFileSync(
      file,
      `version: 1\nlisteners: [ { name: public, port: 0 } ]\nupstreams:\n  pay:\n${upstream}\nroutes: [ { name: r, match: { path: /x }, upstream: pay } ]\n`,
    );
    const r = await loadConfig(file, { env: {} });
    return r.ok ? { ok: true, text: r.loaded.warnings.map(formatIssue).join('\n') } : { ok: false, text: r.issues.map(formatIssue).join('\n') };
  };
  const cases: { desc: string; yaml: string; ok: boolean; want: RegExp }[] = [
    { desc: 'a missing CA file', yaml: '    targets: [ "https://127.0.0.1:1" ]\n    tls: { ca: nope.pem }', ok: false, want: /check\.yaml:6 upstreams\.pay\.tls\.ca: cannot read nope\.pem: no such file or directory \(ENOENT\)/ },
    { desc: 'an empty CA file (Node would trust nothing, silently)', yaml: '    targets: [ "https://127.0.0.1:1" ]\n    tls: { ca: empty.pem }', ok: false, want: /check\.yaml:6 upstreams\.pay\.tls\.ca: empty\.pem holds no PEM certificate \(it is empty\)/ },
    { desc: 'a CA file that holds a key', yaml: '    targets: [ "https://127.0.0.1:1" ]\n    tls: { ca: gw-key.pem }', ok: false, want: /check\.yaml:6 upstreams\.pay\.tls\.ca: gw-key\.pem holds no PEM certificate \(only PRIVATE KEY\)/ },
    { desc: 'a certificate without its key', yaml: `    targets: [ "https://127.0.0.1:1" ]\n    tls: { cert: gw.pem }`, ok: false, want: /check\.yaml:6 upstreams\.pay\.tls\.cert: a client certificate needs its key: add tls\.key/ },
    { desc: 'a key that is not the certificate’s', yaml: `    targets: [ "https://127.0.0.1:1" ]\n    tls: { cert: gw.pem, key: ca.pem }`, ok: false, want: /check\.yaml:6 upstreams\.pay\.tls\.key: unusable TLS material \(gw\.pem, ca\.pem\): error:/ },
    { desc: 'a certificate that is not PEM: the error names every file', yaml: `    targets: [ "https://127.0.0.1:1" ]\n    tls: { ca: ca.pem, cert: gw-key.pem, key: gw-key.pem }`, ok: false, want: /check\.yaml:6 upstreams\.pay\.tls\.key: unusable TLS material \(ca\.pem, gw-key\.pem, gw-key\.pem\): / },
    { desc: 'a wildcard serverName', yaml: '    targets: [ "https://127.0.0.1:1" ]\n    tls: { serverName: "*.internal" }', ok: false, want: /upstreams\.pay\.tls\.serverName: / },
    { desc: 'an unknown key', yaml: '    targets: [ "https://127.0.0.1:1" ]\n    tls: { cafile: ca.pem }', ok: false, want: /check\.yaml:6 upstreams\.pay\.tls\.cafile: unknown key 'cafile'/ },
    { desc: 'http2 that is not a boolean', yaml: '    targets: [ "https://127.0.0.1:1" ]\n    http2: h2c', ok: false, want: /check\.yaml:6 upstreams\.pay\.http2: must be a boolean \(got string\)/ },
    { desc: 'verify: false warns', yaml: '    targets: [ "https://127.0.0.1:1" ]\n    tls: { verify: false }', ok: true, want: /upstreams\.pay\.tls\.verify: warning: target certificates are not verified/ },
    { desc: 'tls with only http targets warns', yaml: '    targets: [ "http://127.0.0.1:1" ]\n    tls: { ca: ca.pem }', ok: true, want: /upstreams\.pay\.tls: warning: no target is https:\/\/: tls applies to https targets only/ },
    { desc: 'a valid tls block passes quietly', yaml: '    targets: [ "https://127.0.0.1:1" ]\n    tls: { ca: ca.pem, cert: gw.pem, key: gw-key.pem, serverName: pay.internal, minVersion: TLSv1.3 }\n    http2: true', ok: true, want: /^$/ },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const r = await load(c.yaml);
      expect(r.ok, r.text).toBe(c.ok);
      expect(r.text).toMatch(c.want);
    });
  }
});

describe('upstream tls on reload', () => {
  it('a rotated CA file is read again: the upstream is rebuilt with it', async () => {
    const files = writePems({ 'ca.pem': otherCa.cert });
    const yaml = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams: { pay: { targets: [ "${backends.https!.url}" ], tls: { ca: ca.pem } } }
routes: [ { name: r, match: { path: /* }, upstream: pay } ]
`;
    const g = await startGateway(yaml, { file: files.path('gateway.yaml') });
    try {
      expect((await httpRequest(`${g.url}/x`)).status).toBe(502); // wrong CA
      writeFileSync(files.path('ca.pem'), ca.cert);
      expect(await g.gw.reload()).toMatchObject({ ok: true });
      expect((await httpRequest(`${g.url}/x`)).status).toBe(200);
    } finally {
      await g.close();
    }
  });
});
