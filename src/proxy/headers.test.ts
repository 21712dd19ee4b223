import { describe, expect, it } from 'vitest';
import { BlockList } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { applyForwarding, buildUpstreamHeaders, filterResponseHeaders, hopAddress, type ForwardingOptions } from './headers.js';

/** Every casing the wire may carry: as written, lower, upper. */
const casings = (name: string) => [name, name.toLowerCase(), name.toUpperCase()];
const pairs = (names: string[]) => names.flatMap((n) => [n, 'v']);

// RFC 9110 §7.6.1 hop-by-hop fields, plus Trailer (trailers are not forwarded).
const HOP_BY_HOP = ['Connection', 'Proxy-Connection', 'Keep-Alive', 'TE', 'Transfer-Encoding', 'Upgrade', 'Trailer'];
// Fields the proxy sets itself, and Expect (answered by this hop).
const PROXY_OWN = ['Host', 'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'Forwarded', 'Via', 'Expect'];
// Names that share a length with a dropped one, or none: all must pass.
const KEPT = ['Accept', 'Cookie', 'Origin', 'Referer', 'User-Agent', 'X-Request-Id', 'Date', 'Server', 'ETag', 'Age', 'Te-X', 'X-Forwarded-Port', 'Content-Length', 'A-Field-Name-Longer-Than-Any-Dropped-One'];

describe('request fields to the upstream', () => {
  it('drops hop-by-hop and proxy-set fields in any casing, keeps the rest lower-cased', () => {
    const dropped = [...HOP_BY_HOP, ...PROXY_OWN].flatMap(casings);
    const out = buildUpstreamHeaders(pairs([...dropped, ...KEPT]));
    expect(out).toEqual(pairs(KEPT.map((n) => n.toLowerCase())));
  });

  it('drops the fields Connection names, and identity fields', () => {
    const out = buildUpstreamHeaders(['Connection', 'keep-alive, X-Hop', 'x-hop', '1', 'X-Consumer-Id', 'alice', 'Accept', '*/*']);
    expect(out).toEqual(['accept', '*/*']);
  });
});

describe('response fields to the client', () => {
  it('drops hop-by-hop fields in any casing and keeps the rest as received', () => {
    const raw = pairs([...HOP_BY_HOP.flatMap(casings), ...KEPT, ...PROXY_OWN]).map((s) => Buffer.from(s, 'latin1'));
    expect(filterResponseHeaders(raw)).toEqual(pairs([...KEPT, ...PROXY_OWN]));
  });

  it('drops the fields Connection names', () => {
    const raw = ['Connection', 'close, X-Hop', 'X-HOP', '1', 'X-Kept', '2'].map((s) => Buffer.from(s, 'latin1'));
    expect(filterResponseHeaders(raw)).toEqual(['X-Kept', '2']);
  });
});

describe('hopAddress', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['192.0.2.1:5000', '192.0.2.1'],
    ['2001:db8::1', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['[::ffff:192.0.2.1]:80', '::ffff:192.0.2.1'],
    ['::1', '::1'],
    // Not addresses: returned as they are, so address-keyed policies refuse them.
    ['unknown', 'unknown'],
    ['_hidden', '_hidden'],
    ['192.0.2.1:port', '192.0.2.1:port'],
    ['999.0.2.1:80', '999.0.2.1:80'],
    ['[not-v6]:80', '[not-v6]:80'],
    ['[192.0.2.1]:80', '[192.0.2.1]:80'],
    ['192.0.2.1:5000:1', '192.0.2.1:5000:1'],
  ])('%s → %s', (hop, want) => {
    expect(hopAddress(hop)).toBe(want);
  });
});

describe('Forwarded element', () => {
  const fw: ForwardingOptions = { trusted: new BlockList(), anyTrusted: false, via: '1.1 gantry', viaName: 'gantry' };
  const forwarded = (peer: string, host: string | undefined, scheme: string) => {
    const req = { headers: host === undefined ? {} : { host }, httpVersion: '1.1', httpVersionMajor: 1 } as unknown as IncomingMessage;
    const out: string[] = [];
    applyForwarding(out, req, peer, scheme, fw);
    return out[out.indexOf('forwarded') + 1];
  };

  // The last element is remembered: every input must still be reflected when one of them changes.
  it.each([
    ['192.0.2.1', 'api.example.com', 'http', 'for=192.0.2.1;proto=http;host=api.example.com'],
    ['192.0.2.1', 'api.example.com', 'http', 'for=192.0.2.1;proto=http;host=api.example.com'],
    ['192.0.2.2', 'api.example.com', 'http', 'for=192.0.2.2;proto=http;host=api.example.com'],
    ['192.0.2.2', 'api.example.com:8443', 'http', 'for=192.0.2.2;proto=http;host="api.example.com:8443"'],
    ['192.0.2.2', 'api.example.com:8443', 'https', 'for=192.0.2.2;proto=https;host="api.example.com:8443"'],
    ['2001:db8::1', 'api.example.com:8443', 'https', 'for="[2001:db8::1]";proto=https;host="api.example.com:8443"'],
    ['2001:db8::1', undefined, 'https', 'for="[2001:db8::1]";proto=https'],
    ['192.0.2.1', 'api.example.com', 'http', 'for=192.0.2.1;proto=http;host=api.example.com'],
  ])('%s, host %s, %s → %s', (peer, host, scheme, want) => {
    expect(forwarded(peer, host, scheme)).toBe(want);
  });
});
