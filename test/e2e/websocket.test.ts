import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import WebSocket, { WebSocketServer } from 'ws';
import { eventually, freePort, rawRequest, sleep, spawnGateway, startGateway, startUpstream, statusOf, type TestGateway, type TestUpstream } from '../helpers.js';
import { hashApiKey } from '../../src/consumers/hash.js';
import { loadConfig } from '../../src/config/load.js';

/** A WebSocket upstream on a real HTTP server: echoes every message, records each handshake and close. */
interface WsUpstream {
  up: TestUpstream;
  handshakes: { url: string; headers: IncomingMessage['headers'] }[];
  /** Server-side sockets, in connection order; `closed` resolves with the close code the server saw. */
  peers: { ws: WebSocket; closed: Promise<number> }[];
  close(): Promise<void>;
}

async function startWsUpstream(): Promise<WsUpstream> {
  const up = await startUpstream();
  const handshakes: WsUpstream['handshakes'] = [];
  const peers: WsUpstream['peers'] = [];
  const hanging: Duplex[] = [];
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false),
  });
  up.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    handshakes.push({ url: req.url!, headers: req.headers });
    if (req.url!.startsWith('/hang')) {
      hanging.push(socket); // never answers the handshake
      return;
    }
    if (req.url!.startsWith('/refuse-cut')) {
      // A refusal that promises 100 bytes of body, sends 7, then resets the connection.
      socket.write('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\npartial', () => setTimeout(() => (socket as Socket).resetAndDestroy(), 50));
      return;
    }
    if (req.url!.startsWith('/refuse')) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      peers.push({ ws, closed });
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      if (req.url!.startsWith('/server-closes')) setTimeout(() => ws.close(4000, 'bye'), 50);
    });
  });
  return {
    up,
    handshakes,
    peers,
    close: async () => {
      for (const p of peers) p.ws.terminate();
      for (const s of hanging) s.destroy();
      wss.close();
      await up.close();
    },
  };
}

/** Opens a client WebSocket; rejects with the HTTP status and body when the handshake is refused. */
function connect(url: string, protocols: string[] = [], headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode, body, headers: res.headers })));
    });
    ws.once('error', reject);
  });
}

function refusal(p: Promise<WebSocket>): Promise<{ status: number; body: string; headers: IncomingMessage['headers'] }> {
  return p.then(
    (ws) => {
      ws.terminate();
      throw new Error('the handshake was accepted');
    },
    (e: { status?: number; body: string; headers: IncomingMessage['headers'] }) => {
      if (e.status === undefined) throw e;
      return { status: e.status, body: e.body, headers: e.headers };
    },
  );
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: Buffer, binary) => resolve({ data, binary })));
}

function closedCode(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

const KEY = 'gk_live_ws_0123456789';

describe('websocket', () => {
  let ws: WsUpstream;
  let gw: TestGateway;
  let base: string;

  beforeAll(async () => {
    ws = await startWsUpstream();
    const dead = await freePort();
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1, limits: { headersTimeout: 300ms, requestTimeout: 500ms } } ]
consumers:
  - { id: app, apiKeys: ["${hashApiKey(KEY)}"] }
upstreams:
  ws: { targets: [ "${ws.up.url}" ] }
  down: { targets: [ "http://127.0.0.1:${dead}" ] }
routes:
  - { name: echo, match: { path: /ws/* }, upstream: ws, websocket: true, rewrite: { stripPrefix: /ws } }
  - { name: plain, match: { path: /plain/* }, upstream: ws }
  - { name: keyed, match: { path: /keyed/* }, upstream: ws, websocket: true, policies: [ { api-key: {} } ] }
  - { name: down, match: { path: /down/* }, upstream: down, websocket: true }
  - { name: hang, match: { path: /hang/* }, upstream: ws, websocket: true, timeouts: { response: 300ms } }
  - { name: idle, match: { path: /idle/* }, upstream: ws, websocket: { idleTimeout: 400ms }, rewrite: { stripPrefix: /idle } }
`);
    base = `ws://127.0.0.1:${gw.port}`;
  });
  afterAll(async () => {
    await gw?.close();
    await ws?.close();
  });

  it('echoes text, binary and a 1 MB message through the tunnel', async () => {
    const c = await connect(`${base}/ws/echo`);
    c.send('hello');
    expect(await nextMessage(c)).toEqual({ data: Buffer.from('hello'), binary: false });
    const bin = Buffer.from([0, 1, 2, 255]);
    c.send(bin);
    expect(await nextMessage(c)).toEqual({ data: bin, binary: true });
    const big = randomBytes(1024 * 1024);
    c.send(big);
    const back = await nextMessage(c);
    expect(back.binary).toBe(true);
    expect(back.data.equals(big)).toBe(true);
    c.close();
    await closedCode(c);
  });

  it('applies rewrite and sends the handshake and forwarding fields upstream', async () => {
    const c = await connect(`${base}/ws/room/7?x=1`);
    const h = ws.handshakes.at(-1)!;
    expect(h.url).toBe('/room/7?x=1');
    expect(h.headers['sec-websocket-version']).toBe('13');
    expect(h.headers['sec-websocket-key']).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(h.headers['sec-websocket-extensions']).toContain('permessage-deflate');
    expect(h.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(h.headers['x-forwarded-proto']).toBe('http');
    expect(h.headers.forwarded).toContain('for=127.0.0.1');
    expect(h.headers.via).toBe('1.1 gantry');
    expect(h.headers.upgrade).toBe('websocket');
    c.terminate();
  });

  it('passes subprotocol negotiation through', async () => {
    const c = await connect(`${base}/ws/chat`, ['chat.v2', 'chat.v1']);
    expect(ws.handshakes.at(-1)!.headers['sec-websocket-protocol']).toBe('chat.v2,chat.v1');
    expect(c.protocol).toBe('chat.v1');
    c.close();
    await closedCode(c);
  });

  it('relays an upstream refusal as it is', async () => {
    const r = await refusal(connect(`${base}/ws/refuse`));
    expect(r.status).toBe(403);
    expect(r.body).toBe('nope');
  });

  it('an upstream refusal cut mid-body cuts the client response, logged as an upstream reset', async () => {
    const raw = await rawRequest(
      gw.port,
      'GET /ws/refuse-cut HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      5000,
    );
    expect(statusOf(raw)).toBe(403);
    expect(raw).toMatch(/\r\n\r\npartial$/);
    const line = await eventually(() => gw.logs.find((l) => l.msg === 'request' && l.path === '/ws/refuse-cut'));
    expect(line.status).toBe(403);
    expect(line.error).toBe('GW_ERR_UPSTREAM_RESET');
  });

  it('refuses an upgrade on a route without websocket: true (404)', async () => {
    const before = ws.handshakes.length;
    const r = await refusal(connect(`${base}/plain/x`));
    expect(r.status).toBe(404);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(r.body)).toMatchObject({ status: 404, type: expect.stringMatching(/websocket-not-routed$/) });
    expect(ws.handshakes.length).toBe(before);
  });

  it('serves a request with another upgrade token (curl --http2) as HTTP/1.1, Upgrade ignored, then closes', async () => {
    const before = ws.up.seen.length;
    const raw = await rawRequest(
      gw.port,
      'GET /plain/x HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
      5000,
    );
    expect(statusOf(raw)).toBe(200);
    expect(raw).toMatch(/connection: close/i);
    expect(ws.up.seen.length).toBe(before + 1);
    const seen = ws.up.seen.at(-1)!;
    expect([seen.headers.upgrade, seen.headers['http2-settings'], seen.headers.connection]).toEqual([undefined, undefined, 'keep-alive']);
  });

  it('refuses another upgrade token on a request with a body (501): the body cannot be read after the hand-over', async () => {
    const raw = await rawRequest(gw.port, 'POST /plain/x HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\nhello', 5000);
    expect(statusOf(raw)).toBe(501);
    expect(raw).toContain('application/problem+json');
    expect(raw).toMatch(/connection: close/i);
  });

  it('refuses a websocket upgrade that is not a GET (400)', async () => {
    const raw = await rawRequest(
      gw.port,
      'POST /ws/x HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 0\r\n\r\n',
      5000,
    );
    expect(statusOf(raw)).toBe(400);
    expect(raw).toContain('RFC 6455');
  });

  it('runs the route policies before upgrading: api-key', async () => {
    const before = ws.handshakes.length;
    const r = await refusal(connect(`${base}/keyed/a`));
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toMatchObject({ status: 401 });
    expect(ws.handshakes.length).toBe(before);
    const c = await connect(`${base}/keyed/a`, [], { 'x-api-key': KEY });
    expect(ws.handshakes.at(-1)!.headers['x-api-key']).toBeUndefined();
    expect(ws.handshakes.at(-1)!.headers['x-consumer-id']).toBe('app');
    c.send('k');
    expect((await nextMessage(c)).data.toString()).toBe('k');
    c.close();
    await closedCode(c);
  });

  it('answers 502 problem+json when the upstream is down', async () => {
    const r = await refusal(connect(`${base}/down/x`));
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body)).toMatchObject({ status: 502, type: expect.stringMatching(/upstream-unavailable$/) });
  });

  it('answers 504 problem+json when the upstream does not answer the handshake in time', async () => {
    const r = await refusal(connect(`${base}/hang/x`));
    expect(r.status).toBe(504);
    expect(JSON.parse(r.body)).toMatchObject({ status: 504, type: expect.stringMatching(/upstream-timeout$/) });
  });

  it('a tunnel outlives the listener request and header timeouts', async () => {
    const c = await connect(`${base}/ws/long`);
    await sleep(1200); // more than requestTimeout (500ms) and headersTimeout (300ms)
    c.send('still here');
    expect((await nextMessage(c)).data.toString()).toBe('still here');
    c.close();
    await closedCode(c);
  });

  it('a client close reaches the upstream, and an upstream close reaches the client', async () => {
    const c = await connect(`${base}/ws/a`);
    const peer = ws.peers.at(-1)!;
    c.close(4001, 'client done');
    expect(await peer.closed).toBe(4001);
    await closedCode(c);

    // Abrupt: the client's TCP connection goes away without a close frame.
    const d = await connect(`${base}/ws/b`);
    const peerD = ws.peers.at(-1)!;
    d.terminate();
    expect(await peerD.closed).toBe(1006);

    const e = await connect(`${base}/ws/server-closes`);
    expect(await closedCode(e)).toBe(4000);
    // Abrupt upstream: its socket is destroyed, the client's connection closes too.
    const f = await connect(`${base}/ws/c`);
    ws.peers.at(-1)!.ws.terminate();
    expect(await closedCode(f)).toBe(1006);
  });

  it('websocket.idleTimeout closes a silent tunnel; traffic either way keeps it open', async () => {
    const c = await connect(`${base}/idle/chatty`);
    const peer = ws.peers.at(-1)!;
    // 1.2 s of traffic, one message every 150 ms: never 400 ms of silence.
    for (let i = 0; i < 8; i++) {
      c.send(`m${i}`);
      expect((await nextMessage(c)).data.toString()).toBe(`m${i}`);
      await sleep(150);
    }
    expect(c.readyState).toBe(WebSocket.OPEN);
    // Then silence: both connections close (no close frame: the gateway does not write frames).
    expect(await closedCode(c)).toBe(1006);
    expect(await peer.closed).toBe(1006);
    const line = await eventually(() => gw.logs.find((l) => l.msg === 'request' && l.path === '/idle/chatty'));
    expect(line.status).toBe(101);
    expect(line.error).toBe('tunnel-idle-timeout');
  });

  it('logs one access-log line per tunnel, with status 101 and the bytes sent', async () => {
    const c = await connect(`${base}/ws/logged`);
    c.send('x'.repeat(1000));
    await nextMessage(c);
    c.close();
    await closedCode(c);
    const line = await eventually(() => gw.logs.find((l) => l.msg === 'request' && l.path === '/ws/logged'));
    expect(line.status).toBe(101);
    expect(line.bytesOut as number).toBeGreaterThan(1000);
    expect(line.bytesIn as number).toBeGreaterThan(1000);
  });
});

describe('websocket config', () => {
  it('websocket: true needs an upstream target (error at the route line)', async () => {
    const text = `version: 1
listeners: [ { name: public, port: 0 } ]
routes:
  - { name: ok, match: { path: /a }, static: { status: 200 } }
  - { name: bad, match: { path: /b }, static: { status: 200 }, websocket: true }
`;
    const r = await loadConfig('/v/gateway.yaml', { text, env: {} });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      const issue = r.issues.find((i) => /websocket/.test(i.path))!;
      expect(issue.message).toMatch(/websocket needs an 'upstream:' target/);
      expect(issue.line).toBe(5);
    }
  });

  it('websocket settings: idleTimeout must be a duration, unknown keys are errors', async () => {
    for (const [value, want] of [
      ['{ idleTimeout: soon }', /websocket/],
      ['{ idleTimout: 1m }', /websocket/],
    ] as const) {
      const text = `version: 1
listeners: [ { name: public, port: 0 } ]
upstreams: { u: { targets: [ "http://127.0.0.1:1" ] } }
routes:
  - name: a
    match: { path: /a }
    upstream: u
    websocket: ${value}
`;
      const r = await loadConfig('/v/gateway.yaml', { text, env: {} });
      expect(r.ok, value).toBe(false);
      if (!r.ok) {
        expect(r.issues.map((i) => i.path).join(' ')).toMatch(want);
        expect(r.issues[0]!.line).toBe(8);
      }
    }
    const ok = await loadConfig('/v/gateway.yaml', {
      text: `version: 1
listeners: [ { name: public, port: 0 } ]
upstreams: { u: { targets: [ "http://127.0.0.1:1" ] } }
routes: [ { name: a, match: { path: /a }, upstream: u, websocket: { idleTimeout: 2m } } ]
`,
      env: {},
    });
    expect(ok.ok).toBe(true);
    if (ok.ok) expect(ok.loaded.config.routes[0]!.websocket).toEqual({ idleTimeout: 120_000 });
  });

  it('websocket must be a boolean', async () => {
    const text = `version: 1
listeners: [ { name: public, port: 0 } ]
upstreams: { u: { targets: [ "http://127.0.0.1:1" ] } }
routes: [ { name: a, match: { path: /a }, upstream: u, websocket: yes please } ]
`;
    const r = await loadConfig('/v/gateway.yaml', { text, env: {} });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.path).join(' ')).toMatch(/websocket/);
  });
});

describe('websocket drain', () => {
  it('drain closes open tunnels and finishes in time', async () => {
    const ws = await startWsUpstream();
    const g = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { drainTimeout: 30s }
upstreams: { ws: { targets: [ "${ws.up.url}" ] } }
routes: [ { name: echo, match: { path: /* }, upstream: ws, websocket: true } ]
`);
    try {
      const c = await connect(`ws://127.0.0.1:${g.port}/a`);
      const clientClosed = closedCode(c);
      expect(g.gw.inFlight).toBe(1);
      expect(await g.gw.drain()).toBe(true);
      expect(await clientClosed).toBe(1006);
      expect(await ws.peers[0]!.closed).toBe(1006);
      expect(g.gw.inFlight).toBe(0);
    } finally {
      await ws.close();
    }
  });

  it('SIGTERM with an open tunnel: the tunnel closes and the process exits 0', async () => {
    const ws = await startWsUpstream();
    const g = await spawnGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { drainTimeout: 30s }
upstreams: { ws: { targets: [ "${ws.up.url}" ] } }
routes: [ { name: echo, match: { path: /* }, upstream: ws, websocket: true } ]
`);
    try {
      const c = await connect(`ws://127.0.0.1:${g.port}/a`);
      c.send('ping');
      await nextMessage(c);
      const clientClosed = closedCode(c);
      expect(await g.stop('SIGTERM')).toBe(0);
      expect(await clientClosed).toBe(1006);
      expect(await ws.peers[0]!.closed).toBe(1006);
      expect(g.logs.some((l) => l.msg === 'drained' && l.inTime === true)).toBe(true);
    } finally {
      await ws.close();
    }
  });
});
