import { describe, expect, it } from 'vitest';
import type { RouteConfig } from '../config/schema.js';
import { compilePathPattern, compilePathRegex, compileWildcardRest, pathRegexGroups } from './matchers.js';

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

describe('pathRegexGroups', () => {
  it.each([
    ['one group', '^/u/(?<id>[0-9]+)$', ['id']],
    ['an optional group', '^/u/(?<id>[0-9]+)(?:/(?<tab>[a-z]+))?$', ['id', 'tab']],
    ['groups in alternatives', '^/(?:a/(?<x>[0-9]+)|b/(?<y>[0-9]+))$', ['x', 'y']],
    ['top-level alternation', '^/a/(?<x>[0-9]+)$|^/b/(?<y>[0-9]+)$', ['x', 'y']],
    ['unnamed groups and lookbehind only', '^/u/([0-9]+)(?<=[0-9])$', []],
    ['escaped and in a class: not groups', '^/u/\\(?<n>x\\)(?<x>[(?<y>]+)$', ['x']],
    ['a regex that does not compile', '^/(a', undefined],
  ] as [string, string, string[] | undefined][])('%s', (_desc, source, want) => {
    expect(pathRegexGroups(source)).toEqual(want);
  });

  it('names the params compilePathRegex gives on a match', () => {
    const source = '^/u/(?<id>[0-9]+)(?:/(?<tab>[a-z]+))?$';
    expect(Object.keys(compilePathRegex(source)('/u/7/info')!)).toEqual(pathRegexGroups(source));
  });
});
