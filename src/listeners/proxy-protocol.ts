import { Buffer } from 'node:buffer';
import { isIP, type BlockList, type Socket } from 'node:net';
import type { Server as NetServer } from 'node:net';
import { Server as HttpServer } from 'node:http';
import { Type, type Static } from '@sinclair/typebox';
import { Cidr, Duration } from '../config/types.js';
import type { GatewayConfig } from '../config/schema.js';
import type { ConfigSource } from '../config/source.js';

/**
 * The PROXY protocol (HAProxy's specification, versions 1 and 2) on a listener: a TCP load
 * balancer in front of the gateway (AWS NLB, HAProxy `send-proxy`, …) starts every
 * connection with a short header naming the client's address, which the gateway then uses
 * as the connection's peer: `client.ip`, X-Forwarded-For, Forwarded, ip-filter, rate limits
 * by ip and the access log all see the client, not the balancer. The header comes before
 * anything else on the connection, TLS included.
 *
 * Written by hand: the format is a few dozen bytes, and the npm parsers are either
 * unmaintained or stream wrappers that would sit on every byte of every connection.
 *
 * @example
 *   listeners:
 *     - { name: public, port: 8080, proxyProtocol: { trustedIPs: [10.0.0.0/8] } }
 */
export const ProxyProtocol = Type.Object(
  {
    trustedIPs: Type.Array(Cidr(), {
      default: [],
      description: 'Peers (the balancers) allowed to send the header; a connection from anyone else is closed. Required unless `insecure: true`.',
    }),
    insecure: Type.Boolean({ default: false, description: 'Accept the header from any peer (anyone who can connect can claim any address).' }),
    timeout: Duration({ default: '5s', description: 'Time for the header to arrive before the connection is closed.' }),
  },
  { additionalProperties: false, description: 'Every connection starts with a PROXY protocol (v1 or v2) header naming the client.' },
);

export type ProxyProtocolConfig = Static<typeof ProxyProtocol>;

/** What a header said: the client's address and port, or nothing (v2 LOCAL, v1 UNKNOWN: the peer itself speaks). */
export interface ProxiedPeer {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** v1: `PROXY TCP6 <56 chars> <56 chars> 65535 65535\r\n` is at most 107 bytes. */
const V1_MAX = 107;

/** Not a PROXY header, or a malformed one. */
export class ProxyHeaderError extends Error {}

/**
 * Parses the header at the start of `buf`. Returns null while more bytes are needed; the
 * header's length and what it said once complete; throws ProxyHeaderError otherwise.
 *
 * @example parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.5 51234 443\r\nGET …')) // { length: 44, peer: { address: '203.0.113.7', port: 51234, family: 'IPv4' } }
 */
export function parseProxyHeader(buf: Buffer): { length: number; peer: ProxiedPeer | undefined } | null {
  if (buf.length === 0) return null;
  if (buf[0] === 0x0d) return parseV2(buf);
  if (buf[0] === 0x50 /* P */) return parseV1(buf);
  throw new ProxyHeaderError('the connection does not start with a PROXY protocol header');
}

function parseV1(buf: Buffer): { length: number; peer: ProxiedPeer | undefined } | null {
  const n = Math.min(buf.length, V1_PREFIX.length);
  if (!buf.subarray(0, n).equals(V1_PREFIX.subarray(0, n))) throw new ProxyHeaderError('the connection does not start with a PROXY protocol header');
  const end = buf.indexOf('\r\n');
  if (end < 0) {
    if (buf.length >= V1_MAX) throw new ProxyHeaderError('PROXY v1 header longer than 107 bytes');
    return null;
  }
  if (end + 2 > V1_MAX) throw new ProxyHeaderError('PROXY v1 header longer than 107 bytes');
  const parts = buf.toString('latin1', 0, end).split(' ');
  if (parts[1] === 'UNKNOWN') return { length: end + 2, peer: undefined };
  const [, proto, src, , sport] = parts;
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
  const port = Number(sport);
  if (parts.length !== 6 || family === 0 || isIP(src ?? '') !== family || isIP(parts[3] ?? '') !== family || !validPort(sport) || !validPort(parts[5])) {
    throw new ProxyHeaderError('malformed PROXY v1 header');
  }
  return { length: end + 2, peer: { address: src!, port, family: family === 4 ? 'IPv4' : 'IPv6' } };
}

const validPort = (s: string | undefined) => s !== undefined && /^(0|[1-9][0-9]{0,4})$/.test(s) && Number(s) <= 65535;

function parseV2(buf: Buffer): { length: number; peer: ProxiedPeer | undefined } | null {
  const n = Math.min(buf.length, V2_SIGNATURE.length);
  if (!buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) throw new ProxyHeaderError('the connection does not start with a PROXY protocol header');
  if (buf.length < 16) return null;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) throw new ProxyHeaderError('unsupported PROXY protocol version');
  const length = 16 + buf.readUInt16BE(14);
  if (buf.length < length) return null;
  const command = verCmd & 0x0f;
  if (command === 0x0) return { length, peer: undefined }; // LOCAL: the balancer's own connection (health checks)
  if (command !== 0x1) throw new ProxyHeaderError('unknown PROXY v2 command');
  const famProto = buf[13]!;
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  // Only TCP over IPv4 or IPv6 names a client the gateway can use; UNSPEC, UNIX or UDP: the peer itself.
  if (transport !== 0x1 || (family !== 0x1 && family !== 0x2)) return { length, peer: undefined };
  if (family === 0x1) {
    if (length < 16 + 12) throw new ProxyHeaderError('PROXY v2 address block too short');
    const a = buf.subarray(16, 20);
    return { length, peer: { address: `${a[0]}.${a[1]}.${a[2]}.${a[3]}`, port: buf.readUInt16BE(24), family: 'IPv4' } };
  }
  if (length < 16 + 36) throw new ProxyHeaderError('PROXY v2 address block too short');
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + i * 2).toString(16));
  return { length, peer: { address: compressV6(groups), port: buf.readUInt16BE(48), family: 'IPv6' } };
}

/** The RFC 5952 text of eight hex groups (the longest run of zero groups becomes `::`). */
function compressV6(groups: string[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Makes `socket` report `peer` as its remote end (an own property over net.Socket's getter). */
function assume(socket: Socket, peer: ProxiedPeer): void {
  Object.defineProperties(socket, {
    remoteAddress: { value: peer.address, configurable: true },
    remotePort: { value: peer.port, configurable: true },
    remoteFamily: { value: peer.family, configurable: true },
  });
}

/**
 * Puts a PROXY header reader in front of `server`'s own connection handling (node:http,
 * node:https, node:http2): a new connection's header is read and checked first, the
 * connection then reports the client's address, and the server sees the bytes after the
 * header as if nothing came before. TLS servers also get the address on the TLS socket they
 * wrap around the connection. A connection from an untrusted peer, without a valid header,
 * or whose header does not arrive within `timeout` is closed (`onRefused` says why).
 *
 * @example acceptProxyProtocol(server, cfg, trusted, (why, peer) => log.warn({ why, peer }, 'connection refused'))
 */
export function acceptProxyProtocol(server: NetServer, cfg: ProxyProtocolConfig, trusted: BlockList | null, onRefused: (why: string, peer: string) => void): void {
  const handlers = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  const tlsServer = 'setSecureContext' in server;
  const plainHttp = server instanceof HttpServer;
  if (tlsServer) {
    // The TLS socket reads its peer from the connection's handle: give it the client's too.
    server.prependListener('secureConnection', (tlsSocket: Socket & { _parent?: Socket }) => {
      const parent = tlsSocket._parent;
      const peer = parent !== undefined ? PEERS.get(parent) : undefined;
      if (peer !== undefined) assume(tlsSocket, peer);
    });
  }
  server.on('connection', (socket: Socket) => {
    const from = socket.remoteAddress ?? '';
    if (!cfg.insecure && (trusted === null || !trusted.check(from, from.includes(':') ? 'ipv6' : 'ipv4'))) {
      onRefused('the peer is not in proxyProtocol.trustedIPs', from);
      socket.destroy();
      return;
    }
    let pending: Buffer = Buffer.alloc(0);
    const fail = (why: string) => {
      cleanup();
      onRefused(why, from);
      socket.destroy();
    };
    const timer = setTimeout(() => fail('no PROXY protocol header in time'), cfg.timeout);
    const onData = (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let parsed: ReturnType<typeof parseProxyHeader>;
      try {
        parsed = parseProxyHeader(pending);
      } catch (e) {
        return fail((e as Error).message);
      }
      if (parsed === null) return;
      cleanup();
      socket.pause();
      if (parsed.peer !== undefined) {
        assume(socket, parsed.peer);
        if (tlsServer) PEERS.set(socket, parsed.peer);
      }
      const rest = pending.subarray(parsed.length);
      if (rest.length > 0) socket.unshift(rest);
      for (const h of handlers) h.call(server, socket);
      // What came with the header waits in the socket's buffer. TLS and HTTP/2 take it from
      // there when they wrap the socket; node:http reads the connection natively and sees
      // buffered bytes only as 'data' events, which flowing mode delivers.
      if (plainHttp && socket.readableLength > 0) socket.resume();
    };
    const onClose = () => cleanup();
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('error', () => socket.destroy());
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** The client each proxied connection stands for (read by the TLS socket wrapped around it). */
const PEERS = new WeakMap<Socket, ProxiedPeer>();

/** Config check: a listener that takes PROXY headers names the peers it takes them from (or says `insecure: true`). */
export function checkProxyProtocol(config: GatewayConfig, source: ConfigSource): void {
  const listeners = Array.isArray(config.listeners) ? config.listeners : [];
  listeners.forEach((l, i) => {
    const pp = l && typeof l === 'object' ? l.proxyProtocol : undefined;
    if (!pp || typeof pp !== 'object') return;
    const trusted = Array.isArray(pp.trustedIPs) ? pp.trustedIPs : [];
    if (trusted.length === 0 && pp.insecure !== true) {
      source.issueAt(['listeners', i, 'proxyProtocol'], 'name the balancers in trustedIPs (or set insecure: true to take the header from anyone)');
    }
    if (typeof pp.timeout === 'number' && pp.timeout <= 0) source.issueAt(['listeners', i, 'proxyProtocol', 'timeout'], 'must be longer than 0: the header needs time to arrive');
    if (trusted.length > 0 && pp.insecure === true) source.issueAt(['listeners', i, 'proxyProtocol', 'insecure'], 'insecure: true takes the header from anyone: trustedIPs is ignored', 'warning');
  });
}
