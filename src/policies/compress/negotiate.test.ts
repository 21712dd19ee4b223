import { describe, expect, it } from 'vitest';
import { negotiate, negotiator, type Coding } from './negotiate.js';
import { typeMatcher } from './policy.js';

describe('Accept-Encoding negotiation', () => {
  const offer: Coding[] = ['br', 'gzip'];
  const cases: { header: string | undefined; want: Coding | undefined; desc: string }[] = [
    { header: 'br;q=1, gzip;q=0.5', want: 'br', desc: 'higher q wins' },
    { header: 'gzip;q=1, br;q=0.5', want: 'gzip', desc: 'client preference beats server order' },
    { header: 'gzip, br', want: 'br', desc: 'equal q: server order' },
    { header: 'identity', want: undefined, desc: 'identity only' },
    { header: '*;q=0', want: undefined, desc: 'everything refused' },
    { header: '*', want: 'br', desc: 'wildcard takes the server favourite' },
    { header: 'br;q=0, *', want: 'gzip', desc: 'explicit refusal beats the wildcard' },
    { header: 'deflate', want: undefined, desc: 'nothing offered is accepted' },
    { header: 'x-gzip', want: 'gzip', desc: 'x-gzip is gzip' },
    { header: 'GZIP;Q=0.8', want: 'gzip', desc: 'case-insensitive' },
    { header: 'br;q=abc, gzip', want: 'gzip', desc: 'a malformed q counts as 0' },
    { header: 'br;q=0.001', want: 'br', desc: 'any q above 0 is acceptable' },
    { header: '', want: undefined, desc: 'empty header' },
    { header: undefined, want: undefined, desc: 'no header' },
  ];
  for (const c of cases) {
    it(`${c.desc}: ${JSON.stringify(c.header)} → ${c.want ?? 'identity'}`, () => {
      expect(negotiate(c.header, offer)).toBe(c.want);
      expect(negotiator(offer)(c.header)).toBe(c.want);
    });
  }
  it('memoises per header value', () => {
    const n = negotiator(['gzip']);
    expect(n('gzip')).toBe('gzip');
    expect(n('gzip')).toBe('gzip');
    expect(n('br')).toBeUndefined();
  });
});

describe('content-type matcher', () => {
  const m = typeMatcher(['text/*', 'application/json', 'application/*+json']);
  const cases: [string, boolean][] = [
    ['text/html', true],
    ['text/event-stream', true],
    ['application/json', true],
    ['application/problem+json', true],
    ['application/jsonx', false],
    ['image/png', false],
    ['application/octet-stream', false],
  ];
  for (const [t, want] of cases) it(`${t} → ${want}`, () => expect(m(t)).toBe(want));
});
