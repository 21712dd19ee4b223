import { describe, expect, it } from 'vitest';
import { compileOrigins, originProblem } from './origins.js';

describe('cors origins', () => {
  const m = compileOrigins(['https://app.example.com', 'http://localhost:3000', 'https://*.example.com', 'https://*.dev.test:8443', 'null'], ['^https://(blue|green)\\.example\\.org$']);
  const cases: [desc: string, origin: string, allowed: boolean][] = [
    ['an exact origin', 'https://app.example.com', true],
    ['an exact origin with a port', 'http://localhost:3000', true],
    ['the same host on another port', 'http://localhost:3001', false],
    ['the same host on another scheme', 'http://app.example.com', false],
    ['a subdomain of the wildcard', 'https://a.example.com', true],
    ['a deeper subdomain of the wildcard', 'https://a.b.example.com', true],
    ['the wildcard apex itself', 'https://example.com', false],
    ['the wildcard domain as a suffix of another', 'https://evilexample.com', false],
    ['the wildcard domain inside another domain', 'https://a.example.com.evil.io', false],
    ['the wildcard on another scheme', 'http://a.example.com', false],
    ['the wildcard with an unlisted port', 'https://a.example.com:8443', false],
    ['a wildcard with its port', 'https://x.dev.test:8443', true],
    ['a wildcard without its port', 'https://x.dev.test', false],
    ['the regex form', 'https://green.example.org', true],
    ['outside the regex', 'https://red.example.org', false],
    ['the opaque origin when listed', 'null', true],
  ];
  for (const [desc, origin, allowed] of cases) {
    it(`${allowed ? 'allows' : 'refuses'} ${desc}`, () => {
      expect(m.match(origin)).toBe(allowed);
    });
  }

  it('* allows any origin, and says so', () => {
    const any = compileOrigins(['*'], []);
    expect(any.any).toBe(true);
    expect(any.match('https://whatever.io')).toBe(true);
    expect(m.any).toBe(false);
  });

  it('normalises exact entries as browsers serialise Origin (lower case)', () => {
    expect(compileOrigins(['HTTPS://App.Example.COM'], []).match('https://app.example.com')).toBe(true);
  });

  const entries: [entry: string, problem: RegExp | undefined][] = [
    ['*', undefined],
    ['null', undefined],
    ['https://app.example.com', undefined],
    ['http://localhost:3000', undefined],
    ['https://*.example.com', undefined],
    ['https://app.example.com/', /no path/],
    ['https://app.example.com/api', /no path/],
    ['https://app.example.com:443', /default port/],
    ['app.example.com', /must be an origin/],
    ['https://a.*.example.com', /whole leftmost label/],
    ['*.example.com', /whole leftmost label/],
    ['https://*example.com', /whole leftmost label/],
  ];
  for (const [entry, problem] of entries) {
    it(`${problem ? 'rejects' : 'accepts'} the entry ${entry}`, () => {
      const p = originProblem(entry);
      if (problem) expect(p).toMatch(problem);
      else expect(p).toBeUndefined();
    });
  }
});
