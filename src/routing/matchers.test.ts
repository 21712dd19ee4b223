import { describe, expect, it } from 'vitest';
import type { RouteConfig } from '../config/schema.js';
import { compilePathPattern, compileWildcardRest } from './matchers.js';

describe('compileWildcardRest', () => {
  it.each([
    [{ path: '/files/*' }, '/files/a%2Fb/c', 'a%2Fb/c'],
    [{ path: '/files/*' }, '/files/..%2Fadmin', '..%2Fadmin'],
    [{ path: '/t/:tenant/*' }, '/t/acme/x%3Ay/z', 'x%3Ay/z'],
    [{ path: '/files/*' }, '/other/a', undefined],
    [{ path: '/files/*' }, '/files', ''],
    [{ path: '/files/*' }, '/files/', ''],
    [{ path: '/files/*' }, '/filesx/a', undefined],
    [{ path: '/v1*' }, '/v1beta/a', 'beta/a'],
    [{ path: '/t/:tenant/*' }, '/t/acme', ''],
    [{ path: '/t/:tenant/*' }, '/t/acme/', ''],
    [{}, '/a%20b', 'a%20b'],
  ] as [RouteConfig['match'], string, string | undefined][])('%j on %s → %s', (match, path, want) => {
    expect(compileWildcardRest(match)!(path)).toBe(want);
  });

  // The literal-prefix shortcut answers as the pattern's own matcher does (without decoding).
  it.each(['/files', '/files/', '/files/a%2Fb', '/filesx', '/other', '/FILES/a', '/'])('/files/* on %s as compilePathPattern', (path) => {
    expect(compileWildcardRest({ path: '/files/*' })!(path)).toBe(compilePathPattern('/files/*', false)(path)?.['*']);
  });

  it('is undefined for a route without a trailing * or with pathRegex', () => {
    expect(compileWildcardRest({ path: '/files/:name' })).toBeUndefined();
    expect(compileWildcardRest({ pathRegex: '^/f/(?<rest>.*)$' })).toBeUndefined();
  });
});
