import { describe, expect, it } from 'vitest';
import { BlockList } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { compileLocationRewrite, type LocationRequest } from './location.js';
import type { ForwardingOptions } from './headers.js';

const fw: ForwardingOptions = { trusted: new BlockList(), anyTrusted: false, via: '', viaName: '' };
const request = (host: string | undefined, scheme = 'http'): LocationRequest => ({
  req: { headers: host === undefined ? {} : { host }, socket: { remoteAddress: '192.0.2.1' } } as unknown as IncomingMessage,
  listener: { scheme },
});
const target = { origin: 'http://svc:7001', basePath: '/v2' };

describe('compileLocationRewrite', () => {
  it('is off unless asked for', () => {
    expect(compileLocationRewrite(undefined, fw)).toBeUndefined();
    expect(compileLocationRewrite({ stripPrefix: '/api' }, fw)).toBeUndefined();
    expect(compileLocationRewrite({ stripPrefix: '/api', location: false }, fw)).toBeUndefined();
  });

  const map = compileLocationRewrite({ stripPrefix: '/api/', addPrefix: '/in', location: true }, fw)!;
  it.each([
    ['root-relative', '/v2/in/p/1?q=1#f', 'gw.example', '/api/p/1?q=1#f'],
    ['exactly the prefixes', '/v2/in', 'gw.example', '/api/'],
    ['a prefix that is not a whole segment', '/v2/inside', 'gw.example', '/v2/inside'],
    ['the default port equals none', 'HTTP://SVC:7001/v2/in/p', 'gw.example', 'http://gw.example/api/p'],
    ['https on the listener', 'http://svc:7001/v2/in/p', 'gw.example', 'https://gw.example/api/p', 'https'],
    ['no Host: root-relative', 'http://svc:7001/v2/in/p', undefined, '/api/p'],
    ['a Host that is not one: root-relative', 'http://svc:7001/v2/in/p', 'a b/c', '/api/p'],
    ['another port', 'http://svc:7002/v2/in/p', 'gw.example', 'http://svc:7002/v2/in/p'],
    ['another scheme', 'ftp://svc:7001/v2/in/p', 'gw.example', 'ftp://svc:7001/v2/in/p'],
  ])('%s: %s', (_desc, value, host, want, scheme = 'http') => {
    expect(map(value, target, request(host, scheme))).toBe(want);
  });

  it('never throws, and leaves what it cannot read as it is', () => {
    const odd = ['', ' ', '/', '//', '///x', '?', '#', ':', '://', 'http:', 'http://', 'http://[', 'http://svc:7001', '%', '/%zz', '\u0000', 'http://svc:7001@evil/x', 'javascript:alert(1)'];
    for (const v of odd) expect(() => map(v, target, request('gw.example'))).not.toThrow();
    expect(map('http://svc:7001@evil/x', target, request('gw.example'))).toBe('http://svc:7001@evil/x');
    expect(map('javascript:alert(1)', target, request('gw.example'))).toBe('javascript:alert(1)');
  });
});
