import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { compileRules, maskDocument, type MaskRuleConfig } from './actions.js';
import { parsePath } from './path.js';

const rule = (path: string, action: MaskRuleConfig['action'], more: Partial<MaskRuleConfig> = {}): MaskRuleConfig => ({ path, action, replacement: '***', keep: 4, length: 16, salt: '', ...more });
const mask = (doc: unknown, ...rules: MaskRuleConfig[]) => maskDocument(structuredClone(doc), compileRules(rules));

describe('mask paths', () => {
  it.each([
    ['user.ssn', [{ kind: 'key', name: 'user' }, { kind: 'key', name: 'ssn' }]],
    ['$.user.ssn', [{ kind: 'key', name: 'user' }, { kind: 'key', name: 'ssn' }]],
    ['items[*].card', [{ kind: 'key', name: 'items' }, { kind: 'anyIndex' }, { kind: 'key', name: 'card' }]],
    ['[2].x', [{ kind: 'index', index: 2 }, { kind: 'key', name: 'x' }]],
    ['**.password', [{ kind: 'deep' }, { kind: 'key', name: 'password' }]],
    ['a.*.b', [{ kind: 'key', name: 'a' }, { kind: 'any' }, { kind: 'key', name: 'b' }]],
    ['["a.b"][\'c[d]\']', [{ kind: 'key', name: 'a.b' }, { kind: 'key', name: 'c[d]' }]],
    ['m[0][1]', [{ kind: 'key', name: 'm' }, { kind: 'index', index: 0 }, { kind: 'index', index: 1 }]],
  ])('parses %s', (text, steps) => {
    expect(parsePath(text).steps).toEqual(steps);
  });

  it.each([
    ['a.', /ends with '\.'/],
    ['a..b', /empty step/],
    ['**', /must be followed by a step/],
    ['a.**.**.b', /'\*\*\.\*\*' is the same as '\*\*'/],
    ['items[x]', /\[x\] is not an index/],
    ['items[0', /is not closed/],
    ['a]b', /unexpected '\]'/],
    ['a[0]b', /expected '\.' or '\['/],
    ['["a]', /unterminated/],
  ])('rejects %s', (text, error) => {
    expect(() => parsePath(text)).toThrow(error);
  });
});

describe('mask actions', () => {
  const doc = {
    user: { name: 'ann', ssn: '123-45-6789', password: 'p1', email: 'ann@example.com' },
    items: [
      { card: '4111111111111234', password: 'p2' },
      { card: 4111111111115678, nested: { password: 'p3' } },
      { other: 1 },
    ],
    password: 'p0',
  };

  it('redacts with the default and a custom replacement', () => {
    expect(mask(doc, rule('user.ssn', 'redact'))).toMatchObject({ user: { ssn: '***', name: 'ann' } });
    expect(mask(doc, rule('user.ssn', 'redact', { replacement: '[hidden]' }))).toMatchObject({ user: { ssn: '[hidden]' } });
  });

  it('removes members, and array elements without leaving holes', () => {
    const out = mask(doc, rule('user.password', 'remove'), rule('items[1]', 'remove')) as typeof doc;
    expect('password' in out.user).toBe(false);
    expect(out.items).toEqual([doc.items[0], doc.items[2]]);
    expect(mask([1, 2, 3, 4], rule('[*]', 'remove'))).toEqual([]);
  });

  it('keeps the last characters with partial, numbers included, and hides short values entirely', () => {
    const out = mask(doc, rule('items[*].card', 'partial')) as { items: { card?: string }[] };
    expect(out.items.map((i) => i.card)).toEqual(['************1234', '************5678', undefined]);
    expect(mask({ a: 'abcd', b: 'ab', c: { x: 1 }, d: null, e: '😀😀😀😀😀x' }, rule('*', 'partial'))).toEqual({ a: '****', b: '**', c: '***', d: '***', e: '**😀😀😀x' });
    expect(mask({ a: 'secret' }, rule('a', 'partial', { keep: 0 }))).toEqual({ a: '******' });
  });

  it('hashes with SHA-256 (salted, prefix of the chosen length)', () => {
    const hex = (s: string) => createHash('sha256').update(s).digest('hex');
    expect(mask(doc, rule('user.email', 'hash'))).toMatchObject({ user: { email: hex('ann@example.com').slice(0, 16) } });
    expect(mask(doc, rule('user.email', 'hash', { salt: 's3', length: 64 }))).toMatchObject({ user: { email: hex('s3ann@example.com') } });
    expect(mask({ n: 42 }, rule('n', 'hash'))).toEqual({ n: hex('42').slice(0, 16) });
  });

  it('masks every match of a recursive path, the top level included, each once', () => {
    const out = mask(doc, rule('**.password', 'redact')) as typeof doc & { items: { nested?: { password: string } }[] };
    expect(out.password).toBe('***');
    expect(out.user.password).toBe('***');
    expect(out.items[0]!.password).toBe('***');
    expect(out.items[1]!.nested!.password).toBe('***');
    // Two '**': the same field is reachable along several routes, and hashed only once.
    const twice = mask({ a: { a: { b: 'x' } } }, rule('**.a.**.b', 'hash')) as { a: { a: { b: string } } };
    expect(twice.a.a.b).toBe(createHash('sha256').update('x').digest('hex').slice(0, 16));
  });

  it('touches only what exists, and nothing when the document has another shape', () => {
    expect(mask({ user: 'x' }, rule('user.ssn', 'redact'))).toEqual({ user: 'x' });
    expect(mask('text', rule('**.a', 'redact'))).toBe('text');
    expect(mask({ items: { card: '1' } }, rule('items[*].card', 'redact'))).toEqual({ items: { card: '1' } });
  });

  it('applies rules in order and masks a member named __proto__ as an own member', () => {
    const out = mask(JSON.parse('{"__proto__": "secret", "a": "1234567"}'), rule('a', 'partial'), rule('a', 'redact'), rule('__proto__', 'redact')) as Record<string, unknown>;
    expect(out.a).toBe('***');
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toBe('***');
    expect(JSON.stringify(out)).toBe('{"__proto__":"***","a":"***"}');
  });
});
