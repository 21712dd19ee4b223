import { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { isIP, type BlockList } from 'node:net';
import type { HeaderList } from '../http/headers.js';
import { registerHeaderName } from './undici-names.js';
import { isValidHost } from '../listeners/host.js';

/**
 * Header handling at the proxy boundary.
 *
 * Hop-by-hop fields (RFC 9110 §7.6.1) describe one connection and must not be forwarded:
 * Connection, Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade, plus every
 * field the Connection header names. Trailer is dropped too (we do not forward trailers),
 * and Expect is answered by this hop (Node sends 100 Continue itself).
 *
 * Forwarding fields (X-Forwarded-*, Forwarded, RFC 7239) are dropped here and rebuilt by
 * `applyForwarding` from the connection, keeping incoming values only from trusted proxies.
 */
/** Fields the proxy sets on every request it sends: Host (undici, or `preserveHost`) and the forwarding fields. */
export const PROXY_SET_FIELDS: readonly string[] = ['host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'via'];
for (const name of PROXY_SET_FIELDS) registerHeaderName(name);

/**
 * A fixed set of lower-case field names, looked up by length, then by comparing with the
 * few names of that length. Field names reach the proxy as strings freshly made from the
 * socket: a `Set` hashes each one anew on every lookup, while most names have a length no
 * member has (Date, Server, Content-Type, Content-Length, Accept, User-Agent …) and are
 * rejected by one array read, without lower-casing a response field's name at all.
 */
class FieldNames {
  readonly #byLength: (readonly string[] | undefined)[];

  constructor(names: Iterable<string>) {
    const byLength: string[][] = [];
    for (const n of names) (byLength[n.length] ??= []).push(n);
    this.#byLength = Array.from(byLength, (c) => c); // dense: holes become undefined
  }

  /** Whether some member has `length` characters (a cheap pre-test before lower-casing). */
  mayHave(length: number): boolean {
    return length < this.#byLength.length && this.#byLength[length] !== undefined;
  }

  has(lower: string): boolean {
    if (lower.length >= this.#byLength.length) return false;
    const candidates = this.#byLength[lower.length];
    if (candidates === undefined) return false;
    for (let i = 0; i < candidates.length; i++) if (candidates[i] === lower) return true;
    return false;
  }
}

const DROP_REQUEST = new FieldNames(['connection', 'proxy-connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade', 'trailer', 'expect', ...PROXY_SET_FIELDS]);

/**
 * Identity headers are the gateway's word to upstreams about who is calling (set by the
 * auth policies: X-Consumer-Id, X-Consumer-Tenant, X-Authenticated-Scopes, …). A client
 * sending its own would impersonate anyone, so every incoming one is dropped, on every
 * route, whether or not the route authenticates.
 */
export function isIdentityHeader(lower: string): boolean {
  // 'x' then '-': one char-code test rejects almost every other header cheaply.
  return (
    lower.charCodeAt(0) === 120 &&
    lower.charCodeAt(1) === 45 &&
    (lower.startsWith('x-consumer-') || lower.startsWith('x-authenticated-'))
  );
}

const DROP_RESPONSE = new FieldNames(['connection', 'proxy-connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade', 'trailer']);

/** Client headers minus hop-by-hop and forwarding fields, as a flat list for undici. */
export function buildUpstreamHeaders(raw: readonly string[]): HeaderList {
  const out: HeaderList = [];
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (DROP_REQUEST.has(lower)) {
      if (lower === 'connection') named = connectionTokens(raw[i + 1]!, named);
      continue;
    }
    if (isIdentityHeader(lower)) continue;
    out.push(lower, raw[i + 1]!);
  }
  if (named !== undefined) for (const n of named) removeAll(out, n);
  return out;
}

/**
 * A header field as text. Field bytes are Latin-1 by definition (RFC 9110 §5.5). Node's
 * `latin1Slice` is what `toString('latin1')` ends in, minus the encoding lookup and
 * argument checks that cost about a third of the call; undici slices its bodies the same
 * way. `toString` remains the fallback for a runtime without it.
 */
const latin1: (b: Buffer) => string =
  typeof (Buffer.prototype as { latin1Slice?: unknown }).latin1Slice === 'function'
    ? (b) => (b as Buffer & { latin1Slice(start: number, end: number): string }).latin1Slice(0, b.length)
    : (b) => b.toString('latin1');

/** Upstream response headers as strings, minus hop-by-hop fields. */
export function filterResponseHeaders(raw: readonly Buffer[]): HeaderList {
  const out: HeaderList = [];
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = latin1(raw[i]!);
    const value = latin1(raw[i + 1]!);
    const lower = DROP_RESPONSE.mayHave(name.length) ? name.toLowerCase() : '';
    if (lower !== '' && DROP_RESPONSE.has(lower)) {
      if (lower === 'connection') named = connectionTokens(value, named);
      continue;
    }
    out.push(name, value);
  }
  if (named !== undefined) for (const n of named) removeAll(out, n);
  return out;
}

/**
 * Maps the `Location` and `Content-Location` values of filtered response headers, in place
 * (routes with `rewrite.location` only: a pass of its own keeps `filterResponseHeaders`
 * small enough for V8 to inline on every other route).
 */
export function mapLocationHeaders(headers: HeaderList, map: (value: string) => string): HeaderList {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length !== 8 && name.length !== 16) continue;
    const lower = name.toLowerCase();
    if (lower === 'location' || lower === 'content-location') headers[i + 1] = map(headers[i + 1]!);
  }
  return headers;
}

function connectionTokens(value: string, into: Set<string> | undefined): Set<string> | undefined {
  // The usual values name no other field.
  if (value.length <= 10) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close') return into;
  }
  for (const t of value.split(',')) {
    const token = t.trim().toLowerCase();
    if (token && token !== 'close' && token !== 'keep-alive') (into ??= new Set()).add(token);
  }
  return into;
}

function removeAll(list: HeaderList, lower: string): void {
  for (let i = list.length - 2; i >= 0; i -= 2) if (list[i]!.toLowerCase() === lower) list.splice(i, 2);
}

/** Forwarding settings compiled once per config. */
export interface ForwardingOptions {
  trusted: BlockList;
  /** Whether any proxy is trusted at all (skips the lookup in the common case). */
  anyTrusted: boolean;
  /** `1.1 gantry` (the Via element of an HTTP/1.1 request) or '' to omit Via. */
  via: string;
  /** The pseudonym alone (`gantry`), for requests of another HTTP version. */
  viaName: string;
}

/** Whether the connection's peer is a trusted proxy. */
export function peerTrusted(req: IncomingMessage, fw: ForwardingOptions): boolean {
  if (!fw.anyTrusted) return false;
  const addr = req.socket.remoteAddress;
  if (addr === undefined) return false;
  return fw.trusted.check(addr, addr.includes(':') ? 'ipv6' : 'ipv4');
}

/**
 * The client address: the socket peer, or — when the peer is a trusted proxy — the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy.
 */
export function clientAddress(req: IncomingMessage, fw: ForwardingOptions): string {
  const peer = req.socket.remoteAddress ?? '';
  if (!fw.anyTrusted || !peerTrusted(req, fw)) return peer;
  const xff = req.headers['x-forwarded-for'];
  if (typeof xff !== 'string') return peer;
  const hops = xff.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress(hops[i]!.trim());
    if (!hop) continue;
    const family = isIP(hop);
    // A hop that is not an address (`unknown`, a garbled value) ends the walk: it becomes the
    // client address as it is, and policies keyed on addresses refuse it (ip-filter fails closed).
    if (family === 0 || !fw.trusted.check(hop, family === 6 ? 'ipv6' : 'ipv4')) return hop;
  }
  return hopAddress(hops[0]!.trim()) || peer;
}

const V4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;
const V6_BRACKETED = /^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$/;

/**
 * The address of one X-Forwarded-For hop. Some proxies append the port (`192.0.2.1:5000`,
 * `[2001:db8::1]:443`) or bracket IPv6 as RFC 7239 §6 nodes are written; the address is
 * what trusted-proxy checks, policies and logs use. Anything else is returned unchanged.
 *
 * @example hopAddress('[2001:db8::1]:443') // '2001:db8::1'
 */
export function hopAddress(hop: string): string {
  const last = hop.charCodeAt(hop.length - 1);
  // Plain addresses (the usual case) end in a digit or hex digit and have no bracket or port to strip.
  if (hop.charCodeAt(0) === 0x5b /* [ */) {
    const m = V6_BRACKETED.exec(hop);
    return m !== null && isIP(m[1]!) === 6 ? m[1]! : hop;
  }
  if (last >= 0x30 && last <= 0x39 && hop.indexOf(':') > 0 && hop.indexOf(':') === hop.lastIndexOf(':')) {
    const m = V4_WITH_PORT.exec(hop);
    if (m !== null && isIP(m[1]!) === 4) return m[1]!;
  }
  return hop;
}

/**
 * Appends X-Forwarded-For/-Proto/-Host, Forwarded (RFC 7239 §4) and Via (RFC 9110 §7.6.3).
 * Incoming forwarding values are kept only when the peer is a trusted proxy; otherwise the
 * client could claim any address. `peer` is the connection's peer address (the socket's
 * `remoteAddress`, a getter worth reading once per request).
 */
export function applyForwarding(out: HeaderList, req: IncomingMessage, peer: string, scheme: string, fw: ForwardingOptions): void {
  const h = req.headers;
  const host = h.host ?? '';
  const trusted = fw.anyTrusted && peerTrusted(req, fw);
  const inXff = trusted ? h['x-forwarded-for'] : undefined;
  out.push('x-forwarded-for', inXff ? `${inXff}, ${peer}` : peer);
  const inProto = trusted ? h['x-forwarded-proto'] : undefined;
  out.push('x-forwarded-proto', typeof inProto === 'string' ? inProto : scheme);
  const inHost = trusted ? h['x-forwarded-host'] : undefined;
  if (typeof inHost === 'string') out.push('x-forwarded-host', inHost);
  else if (host) out.push('x-forwarded-host', host);
  const inFwd = trusted ? h.forwarded : undefined;
  const element = forwardedElement(peer, scheme, host);
  out.push('forwarded', inFwd ? `${inFwd}, ${element}` : element);
  if (fw.via) {
    // Via names the protocol version of the message as received (RFC 9110 §7.6.3); HTTP/2's is `2`.
    const own = req.httpVersion === '1.1' ? fw.via : `${req.httpVersionMajor === 2 ? '2' : req.httpVersion} ${fw.viaName}`;
    const inVia = h.via;
    out.push('via', inVia ? `${inVia}, ${own}` : own);
  }
}

/**
 * `scheme://host` as the client used it: the X-Forwarded-Proto and X-Forwarded-Host values
 * `applyForwarding` sends upstream (a trusted proxy's, else the listener's scheme and the
 * Host), for URLs handed back to the client (`rewrite.location`). Of a list the first
 * element is the client's (each proxy appends). '' when the request names no usable host,
 * so that the caller writes a root-relative reference instead (RFC 9110 §10.2.2 allows it).
 */
export function clientOrigin(req: IncomingMessage, scheme: string, fw: ForwardingOptions): string {
  const h = req.headers;
  const trusted = fw.anyTrusted && peerTrusted(req, fw);
  const inProto = trusted ? h['x-forwarded-proto'] : undefined;
  let proto = typeof inProto === 'string' ? firstElement(inProto).toLowerCase() : scheme;
  if (proto !== 'http' && proto !== 'https') proto = scheme;
  const inHost = trusted ? h['x-forwarded-host'] : undefined;
  const host = firstElement(typeof inHost === 'string' ? inHost : (h.host ?? ''));
  return host !== '' && isValidHost(host) ? `${proto}://${host}` : '';
}

function firstElement(v: string): string {
  const comma = v.indexOf(',');
  return (comma < 0 ? v : v.slice(0, comma)).trim();
}

let lastPeer = '';
let lastScheme = '';
let lastHost = '';
let lastElement = '';

/**
 * This gateway's Forwarded element (RFC 7239 §4): `for=…;proto=…;host=…`. Requests on one
 * keep-alive connection, and most requests of one client, repeat the last one: it is
 * remembered, so they reuse one string instead of joining (and V8 flattening) a new one.
 */
function forwardedElement(peer: string, scheme: string, host: string): string {
  if (peer === lastPeer && host === lastHost && scheme === lastScheme) return lastElement;
  const node = peer.includes(':') ? `"[${peer}]"` : peer;
  lastElement = host ? `for=${node};proto=${scheme};host=${quoteIfNeeded(host)}` : `for=${node};proto=${scheme}`;
  lastPeer = peer;
  lastScheme = scheme;
  lastHost = host;
  return lastElement;
}

/** RFC 7239 §4: values that are not tokens (a host with a port has ':') are quoted. */
function quoteIfNeeded(v: string): string {
  return TOKEN.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`;
}

const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
