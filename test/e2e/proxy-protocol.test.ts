import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { Buffer } from 'node:buffer';
import { Duplex } from 'node:stream';
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';
import { metrics } from '../../src/observability/metrics.js';
import { parseProxyHeader, ProxyHeaderError } from '../../src/listeners/proxy-protocol.js';
import { eventually, parseMetrics, startGateway, startUpstream, writeTempConfig, type TestGateway, type TestUpstream } from '../helpers.js';
import { issue, makeCa, writePems, type Issued } from '../tls-fixtures.js';

/**
 * PROXY protocol (v1 and v2) on http, https and h2c listeners: the address a balancer puts
 * in front of the connection becomes the client's, for every request on that connection.
 */

let up: TestUpstream;
let gw: TestGateway;
let ca: Issued;

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: gw.test\r\n\r\n`;

/** A PROXY v2 header for a TCP connection (`cmd` 1 = PROXY, 0 = LOCAL). */
function v2(src: string, dst: string, sport: number, dport: number, cmd = 1): Buffer {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const six = src.includes(':');
  const addr = (a: string) => (six ? Buffer.from(expand6(a), 'hex') : Buffer.from(a.split('.').map(Number)));
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sport, 0);
  ports.writeUInt16BE(dport, 2);
  // A TLV after the addresses (type 0x04 NOOP): readers skip what they do not know.
  const tlv = Buffer.from([0x04, 0x00, 0x02, 0xaa, 0xbb]);
  const body = cmd === 0 ? Buffer.alloc(0) : Buffer.concat([addr(src), addr(dst), ports, tlv]);
  const head = Buffer.from([0x20 | cmd, cmd === 0 ? 0x00 : six ? 0x21 : 0x11, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([sig, head, body]);
}

function expand6(a: string): string {
  const [l, r = ''] = a.split('::');
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => g.padStart(4, '0')).join('');
}

/** Writes `chunks` on a fresh connection (each after the last), resolves with all it got back until the server closed or `ms` passed. */
function exchange(port: number, chunks: (string | Buffer)[], ms = 1500): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const done = () => resolve(got);
    const timer = setTimeout(() => {
      s.destroy();
      done();
    }, ms);
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('close', () => {
      clearTimeout(timer);
      done();
    });
    s.on('error', () => undefined);
    s.on('connect', async () => {
      for (const c of chunks) {
        s.write(c);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
  });
}

/**
 * `socket` behind a JS stream whose first write (a TLS ClientHello, an HTTP/2 connection
 * preface) goes out in one write with `header`, as a balancer's header and the client's
 * first bytes often arrive together.
 */
function withFirstWrite(socket: net.Socket, header: Buffer): Duplex {
  let first = true;
  const d: Duplex = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      socket.write(first ? Buffer.concat([header, chunk]) : chunk, cb);
      first = false;
    },
    read() {},
    final(cb) {
      socket.end(cb);
    },
  });
  socket.on('data', (b: Buffer) => d.push(b));
  socket.on('end', () => d.push(null));
  return d;
}

/** GET /echo in an HTTP/2 session over `transport`; the X-Forwarded-For the upstream saw. */
async function forwardedFor(authority: string, transport: Duplex): Promise<string | undefined> {
  const session = http2.connect(authority, { createConnection: () => transport });
  try {
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ':path': '/echo' });
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => resolve(text));
      req.on('error', reject);
    });
    return (JSON.parse(body) as { headers: Record<string, string> }).headers['x-forwarded-for'];
  } finally {
    session.close();
  }
}

/** The X-Forwarded-For the upstream saw, from the echo body in a raw response. */
const xffOf = (raw: string) => (JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { headers: Record<string, string> }).headers['x-forwarded-for'];
const refused = async () => parseMetrics(await metrics.text()).get('gantry_proxy_protocol_refused_total{listener="lb"}') ?? 0;

beforeAll(async () => {
  ca = await makeCa('PP Test CA');
  const server = await issue(ca, { cn: 'localhost', usage: 'server', dns: ['localhost'] });
  const pems = writePems({ 'gw.pem': server.cert, 'gw-key.pem': server.key });
  up = await startUpstream();
  gw = await startGateway(`version: 1
listeners:
  - { name: lb, port: 0, host: 127.0.0.1, proxyProtocol: { trustedIPs: [127.0.0.1], timeout: 300ms } }
  - { name: lbs, port: 0, host: 127.0.0.1, protocol: https, tls: { cert: ${pems.path('gw.pem')}, key: ${pems.path('gw-key.pem')} }, proxyProtocol: { trustedIPs: [127.0.0.0/8] } }
  - { name: lbh2c, port: 0, host: 127.0.0.1, protocol: h2c, proxyProtocol: { insecure: true } }
  - { name: lbh2, port: 0, host: 127.0.0.1, protocol: h2, tls: { cert: ${pems.path('gw.pem')}, key: ${pems.path('gw-key.pem')} }, proxyProtocol: { trustedIPs: [127.0.0.1] } }
  - { name: elsewhere, port: 0, host: 127.0.0.1, proxyProtocol: { trustedIPs: [10.0.0.0/8] } }
upstreams: { app: { targets: [ "${up.url}" ] } }
routes:
  - { name: echo, match: { path: /echo }, upstream: app }
  - { name: office, match: { path: /office }, upstream: app, policies: [ { ip-filter: { allow: [198.51.100.0/24] } } ] }
`);
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
});

describe('proxyProtocol', () => {
  it('v1: the client named in the header is the client (header and request in one packet)', async () => {
    const raw = await exchange(gw.gw.port('lb'), [`PROXY TCP4 203.0.113.7 10.0.0.1 51234 8080\r\n${GET('/echo')}`]);
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    expect(xffOf(raw)).toBe('203.0.113.7');
  });

  it('v1 header split over several writes, then two requests on the keep-alive connection', async () => {
    const raw = await exchange(gw.gw.port('lb'), ['PROXY TCP6 2001:db8::7 ', '2001:db8::1 443 8080\r\n', GET('/echo'), GET('/echo')]);
    const answers = raw.split('HTTP/1.1 200').length - 1;
    expect(answers).toBe(2);
    expect(raw.match(/"x-forwarded-for":"([^"]+)"/g)).toEqual(['"x-forwarded-for":"2001:db8::7"', '"x-forwarded-for":"2001:db8::7"']);
  });

  it('v2 (binary, IPv4 and IPv6, with a TLV) and v2 LOCAL (the balancer itself)', async () => {
    expect(xffOf(await exchange(gw.gw.port('lb'), [Buffer.concat([v2('198.51.100.20', '10.0.0.1', 40000, 8080), Buffer.from(GET('/echo'))])]))).toBe('198.51.100.20');
    expect(xffOf(await exchange(gw.gw.port('lb'), [v2('2001:db8:0:0:1::5', '2001:db8::1', 40000, 8080), GET('/echo')]))).toBe('2001:db8::1:0:0:5');
    expect(xffOf(await exchange(gw.gw.port('lb'), [v2('0.0.0.0', '0.0.0.0', 0, 0, 0), GET('/echo')]))).toBe('127.0.0.1');
  });

  it('policies judge the client from the header (ip-filter)', async () => {
    expect(await exchange(gw.gw.port('lb'), [`PROXY TCP4 198.51.100.9 10.0.0.1 1 2\r\n${GET('/office')}`])).toMatch(/^HTTP\/1\.1 200/);
    expect(await exchange(gw.gw.port('lb'), [`PROXY TCP4 192.0.2.9 10.0.0.1 1 2\r\n${GET('/office')}`])).toMatch(/^HTTP\/1\.1 403/);
  });

  it('closes a connection without a header, with a malformed one, or with none in time; counted', async () => {
    const before = await refused();
    expect(await exchange(gw.gw.port('lb'), [GET('/echo')])).toBe('');
    expect(await exchange(gw.gw.port('lb'), ['PROXY TCP4 999.1.1.1 10.0.0.1 1 2\r\n', GET('/echo')])).toBe('');
    expect(await exchange(gw.gw.port('lb'), ['PROXY TCP4 203.0.113.7 10.0.0.1 1'], 1500)).toBe(''); // never finished: the 300ms timeout
    await eventually(async () => ((await refused()) - before === 3 ? true : undefined), 3000, 'three refusals counted');
  });

  it('closes a connection from a peer outside trustedIPs', async () => {
    expect(await exchange(gw.gw.port('elsewhere'), [`PROXY TCP4 203.0.113.7 10.0.0.1 1 2\r\n${GET('/echo')}`])).toBe('');
  });

  it.each([
    ['in its own packet', false],
    ['in one packet with the ClientHello', true],
  ])('https: the header comes before the TLS handshake (%s)', async (_desc, together) => {
    const socket = net.connect(gw.gw.port('lbs'), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const header = Buffer.from('PROXY TCP4 203.0.113.50 10.0.0.1 5555 443\r\n');
    if (!together) socket.write(header);
    const secure = tls.connect({ socket: together ? withFirstWrite(socket, header) : socket, servername: 'localhost', ca: ca.cert });
    await new Promise((r, j) => {
      secure.once('secureConnect', r);
      secure.once('error', j);
    });
    secure.write(GET('/echo').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    let raw = '';
    secure.on('data', (d: Buffer) => (raw += d.toString()));
    await new Promise((r) => secure.once('end', r));
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    expect(xffOf(raw)).toBe('203.0.113.50');
  });

  it.each([
    ['in its own packet', false],
    ['in one packet with the connection preface', true],
  ])('h2c: HTTP/2 streams after the header carry the client (%s)', async (_desc, together) => {
    const socket = net.connect(gw.gw.port('lbh2c'), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const header = Buffer.from('PROXY TCP4 203.0.113.60 10.0.0.1 5555 80\r\n');
    if (!together) socket.write(header);
    const transport = together ? withFirstWrite(socket, header) : socket;
    expect(await forwardedFor(`http://127.0.0.1:${gw.gw.port('lbh2c')}`, transport)).toBe('203.0.113.60');
  });
});

describe('proxyProtocol on an h2 listener', () => {
  it('HTTP/2 over TLS after the header carries the client', async () => {
    const socket = net.connect(gw.gw.port('lbh2'), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const secure = tls.connect({ socket: withFirstWrite(socket, Buffer.from('PROXY TCP4 203.0.113.70 10.0.0.1 5555 443\r\n')), servername: 'localhost', ca: ca.cert, ALPNProtocols: ['h2'] });
    await new Promise((r, j) => {
      secure.once('secureConnect', r);
      secure.once('error', j);
    });
    expect(secure.alpnProtocol).toBe('h2');
    expect(await forwardedFor(`https://localhost:${gw.gw.port('lbh2')}`, secure)).toBe('203.0.113.70');
  });
});

describe('parseProxyHeader', () => {
  it.each([
    ['PROXY UNKNOWN\r\n', { length: 15, peer: undefined }],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET', { length: 32, peer: { address: '1.2.3.4', port: 1, family: 'IPv4' } }],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1', null],
    ['PRO', null],
  ])('%j', (text, want) => {
    expect(parseProxyHeader(Buffer.from(text))).toEqual(want);
  });
  it.each(['GET / HTTP/1.1\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n', 'PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n', `PROXY TCP4 ${'1'.repeat(120)}`, 'PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n'])('refuses %j', (text) => {
    expect(() => parseProxyHeader(Buffer.from(text))).toThrow(ProxyHeaderError);
  });
});

describe('proxyProtocol config', () => {
  const load = async (listener: string) => {
    const r = await loadConfig(writeTempConfig(`version: 1\nlisteners:\n  - ${listener}\nroutes: [ { name: r, match: { path: /x }, static: { body: ok } } ]\n`), { env: {} });
    return r.ok ? r.loaded.warnings.map(formatIssue).join('\n') : r.issues.map(formatIssue).join('\n');
  };
  it.each([
    ['{ name: a, port: 0, proxyProtocol: {} }', /gateway\.yaml:3 listeners\[0\]\.proxyProtocol: name the balancers in trustedIPs/],
    ['{ name: a, port: 0, proxyProtocol: { trustedIPs: [10.0.0.300/8] } }', /gateway\.yaml:3 listeners\[0\]\.proxyProtocol\.trustedIPs\[0\]: must be an IP address or CIDR block/],
    ['{ name: a, port: 0, proxyProtocol: { trustedIPs: [10.0.0.0/8], insecure: true } }', /listeners\[0\]\.proxyProtocol\.insecure: warning: insecure: true takes the header from anyone/],
    ['{ name: a, port: 0, proxyProtocol: { trustedIPs: [10.0.0.0/8], version: 2 } }', /listeners\[0\]\.proxyProtocol\.version: unknown key/],
    ['{ name: a, port: 0, proxyProtocol: { trustedIPs: [10.0.0.0/8], timeout: 0s } }', /gateway\.yaml:3 listeners\[0\]\.proxyProtocol\.timeout: must be longer than 0/],
  ])('%s', async (listener, want) => {
    expect(await load(listener)).toMatch(want);
  });
});
