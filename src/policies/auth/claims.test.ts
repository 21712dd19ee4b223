import { describe, expect, it } from 'vitest';
import { compileClaim } from './claims.js';

describe('compileClaim', () => {
  const token = JSON.parse('{"sub":"alice","https://example.com/roles":["admin"],"realm_access":{"roles":["ops"]},"a":{"b":"c"}}') as Record<string, unknown>;

  it.each([
    ['sub', 'alice'],
    ['https://example.com/roles', ['admin']],
    ['realm_access.roles', ['ops']],
    ['a.b', 'c'],
    ['missing', undefined],
    ['a.missing', undefined],
    ['sub.length', undefined], // a path does not go into strings
  ])('%s → %j', (name, want) => {
    expect(compileClaim(name)(token)).toEqual(want);
  });

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'a.constructor', 'a.__proto__', '__proto__.constructor'])(
    "a claim named after an inherited property (%s) is absent unless the token carries it",
    (name) => {
      expect(compileClaim(name)(token)).toBeUndefined();
    },
  );

  it('a token that carries such a claim has it', () => {
    const carried = JSON.parse('{"constructor":"x","a":{"toString":"y"}}') as Record<string, unknown>;
    expect(compileClaim('constructor')(carried)).toBe('x');
    expect(compileClaim('a.toString')(carried)).toBe('y');
  });
});
