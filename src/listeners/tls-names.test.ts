import { describe, expect, it } from 'vitest';
import { covers, serverNameProblem, SniTable } from './tls-names.js';

describe('SniTable', () => {
  const table = new SniTable<string>();
  table.add('api.example.com', 'api');
  table.add('*.Shop.example.com', 'wild');
  table.add('eu.shop.example.com', 'eu');
  const cases: [string, string | undefined][] = [
    ['api.example.com', 'api'],
    ['API.EXAMPLE.COM', 'api'],
    ['api.example.com.', 'api'],
    ['us.shop.example.com', 'wild'],
    ['eu.shop.example.com', 'eu'],
    ['shop.example.com', undefined],
    ['a.b.shop.example.com', undefined],
    ['.shop.example.com', undefined],
    ['example.com', undefined],
  ];
  for (const [name, want] of cases) it(`${name} → ${want ?? 'none'}`, () => expect(table.lookup(name)).toBe(want));
  it('refuses a name twice, in any case', () => {
    expect(table.add('API.example.com', 'x')).toBe(false);
    expect(table.add('*.shop.EXAMPLE.com', 'x')).toBe(false);
    expect(table.size).toBe(3);
  });
});

describe('serverNameProblem', () => {
  for (const ok of ['api.example.com', '*.shop.example.com', 'xn--bcher-kva.example', 'localhost', 'A-1.example.com']) {
    it(`accepts ${ok}`, () => expect(serverNameProblem(ok)).toBeUndefined());
  }
  const bad: [string, RegExp][] = [
    ['a.*.example.com', /whole leftmost label/],
    ['f*.example.com', /whole leftmost label/],
    ['*.com', /two labels or more/],
    ['192.168.0.1', /IP address/],
    ['::1', /IP address/],
    ['example.com.', /trailing dot/],
    ['-a.example.com', /not a DNS label/],
    ['a..example.com', /not a DNS label/],
    ['bücher.example', /A-label/],
    [`${'a'.repeat(64)}.example.com`, /not a DNS label/],
  ];
  for (const [name, want] of bad) it(`refuses ${name}`, () => expect(serverNameProblem(name)).toMatch(want));
});

describe('covers (RFC 6125 §6.4)', () => {
  const cases: [string[], string, boolean][] = [
    [['api.example.com'], 'API.example.com', true],
    [['*.example.com'], 'api.example.com', true],
    [['*.example.com'], 'a.b.example.com', false],
    [['*.example.com'], 'example.com', false],
    [['*.example.com'], '*.example.com', true],
    [['api.example.com'], '*.example.com', false],
  ];
  for (const [names, name, want] of cases) it(`${names.join(',')} for ${name}: ${want}`, () => expect(covers(names, name)).toBe(want));
});
