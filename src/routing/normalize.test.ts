import { describe, expect, it } from 'vitest';
import { normalizePath, splitTarget } from './normalize.js';

describe('normalizePath', () => {
  const cases: [desc: string, input: string, want: string | null, merge?: boolean][] = [
    ['plain path unchanged', '/api/v1/users', '/api/v1/users'],
    ['dot segment', '/a/./b', '/a/b'],
    ['parent segment', '/a/../admin', '/admin'],
    ['parent above root stays at root', '/../../etc/passwd', '/etc/passwd'],
    ['encoded dots count as dots', '/a/%2e%2e/admin', '/admin'],
    ['mixed-case encoded dots', '/a/%2E%2e/admin', '/admin'],
    ['half-encoded dots', '/a/.%2e/admin', '/admin'],
    ['trailing parent keeps a slash', '/a/b/..', '/a/'],
    ['encoded unreserved decoded', '/%7Euser/%41bc', '/~user/Abc'],
    ['encoded slash stays encoded (not a separator)', '/a%2fb/../c', '/c'],
    ['encoded slash with upper-case hex', '/files/a%2fb', '/files/a%2Fb'],
    ['reserved escapes keep upper-case hex', '/q%3fx', '/q%3Fx'],
    ['double slashes merged', '//admin//x', '/admin/x'],
    ['double slashes kept when merging is off', '//a', '//a', false],
    ['backslash refused', '/a\\..\\admin', null],
    ['NUL refused', '/a%00b', null],
    ['control character refused', '/a\x01b', null],
    ['malformed escape refused', '/a%zz', null],
    ['truncated escape refused', '/a%2', null],
    ['UTF-8 escapes kept', '/caf%c3%a9/%E2%82%AC', '/caf%C3%A9/%E2%82%AC'],
    ['escape that is not UTF-8 refused', '/a/%FF', null],
    ['Latin-1 escape refused', '/files/%E9t%E9.txt', null],
    ['overlong dot refused', '/a/%c0%ae%c0%ae/admin', null],
    ['truncated UTF-8 sequence refused', '/a/%E2%82', null],
    ['relative path refused', 'a/b', null],
    ['dotfile is fine', '/.well-known/x', '/.well-known/x'],
    ['triple dots are a name', '/a/.../b', '/a/.../b'],
  ];
  for (const [desc, input, want, merge] of cases) {
    it(desc, () => expect(normalizePath(input, merge ?? true)).toBe(want));
  }
});

describe('splitTarget', () => {
  it.each([
    ['/a?b=1', ['/a', '?b=1']],
    ['/a', ['/a', '']],
    ['/a#frag', ['/a', '']],
    ['http://example.com/x?y', ['/x', '?y']],
    ['http://example.com', ['/', '']],
    ['*', null],
    ['example.com:443', null],
  ] as const)('%s', (input, want) => {
    expect(splitTarget(input)).toEqual(want);
  });
});
