import { describe, expect, it } from 'vitest';
import { headerSafe } from './identity.js';

/** Identity header values: plain ASCII as is, everything else percent-encoded, never ambiguous. */
describe('identity header values', () => {
  const cases: { desc: string; value: string; header: string }[] = [
    { desc: 'a plain id', value: 'acme-mobile', header: 'acme-mobile' },
    { desc: 'inner spaces (scope lists)', value: 'orders:read orders:write', header: 'orders:read orders:write' },
    { desc: 'non-ASCII (UTF-8 bytes)', value: 'José', header: 'Jos%C3%A9' },
    { desc: 'the literal text of an encoding', value: 'Jos%C3%A9', header: 'Jos%25C3%25A9' },
    { desc: 'a lone %', value: '%', header: '%25' },
    { desc: 'a scope with % beside a plain one', value: 'a%b read', header: 'a%25b read' },
    { desc: 'CR LF (header injection)', value: 'x\r\nx-consumer-id: admin', header: 'x%0D%0Ax-consumer-id: admin' },
    { desc: 'a leading space (parsers strip it)', value: ' admin', header: '%20admin' },
    { desc: 'a trailing space', value: 'admin ', header: 'admin%20' },
    { desc: 'an astral character', value: '😀', header: '%F0%9F%98%80' },
    { desc: 'DEL', value: 'a\x7f', header: 'a%7F' },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      expect(headerSafe(c.value)).toBe(c.header);
      expect(decodeURIComponent(headerSafe(c.value))).toBe(c.value);
    });
  }

  it('different values never share a header', () => {
    const values = cases.map((c) => c.value).concat(['é', '%C3%A9', 'admin', '%20admin', 'Jos%25C3%25A9']);
    const headers = new Set(values.map(headerSafe));
    expect(headers.size).toBe(new Set(values).size);
  });

  it('a lone surrogate is encoded as U+FFFD instead of throwing', () => {
    expect(headerSafe('x\ud800')).toBe('x%EF%BF%BD');
  });
});
