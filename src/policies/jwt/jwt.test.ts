import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { IncomingMessage } from 'node:http';
import { loadConfig } from '../../config/load.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { GatewayConfig } from '../../config/schema.js';
import type { PolicyDeps } from '../../pipeline/policy.js';
import { isThenable } from '../../pipeline/pipeline.js';
import { validateInPlace } from '../../config/validate.js';
import { VerifiedCache } from '../auth/verified-cache.js';
import { jwtAuthenticator, schema } from './policy.js';
import { sign, signingKey } from '../../../test/auth-fixtures.js';

describe('jwt config', () => {
  const doc = (jwt: string) => `version: 1
listeners: [ { name: p, port: 0 } ]
routes:
  - { name: r, match: { path: /x }, static: { status: 200 }, policies: [ { jwt: ${jwt} } ] }
`;
  const cases: { desc: string; jwt: string; error?: RegExp }[] = [
    { desc: 'JWKS URL', jwt: '{ issuer: https://id.x, jwksUrl: "https://id.x/jwks" }' },
    { desc: 'discovery', jwt: '{ issuer: https://id.x, discovery: true }' },
    { desc: 'several issuers', jwt: '{ issuers: [ { issuer: a, jwksUrl: "https://a/j" }, { issuer: b, secret: "0123456789abcdef0123456789abcdef" } ] }' },
    { desc: 'no key source', jwt: '{ issuer: https://id.x }', error: /policies\[0\]\.jwt: needs a key source/ },
    { desc: 'discovery without issuer', jwt: '{ discovery: true }', error: /jwt\.issuer: is required for discovery/ },
    { desc: 'both jwksUrl and discovery', jwt: '{ issuer: i, jwksUrl: "https://a/j", discovery: true }', error: /jwt\.discovery: use either jwksUrl or discovery/ },
    { desc: 'HS algorithm without a secret', jwt: '{ jwksUrl: "https://a/j", algorithms: [HS256] }', error: /jwt\.algorithms: HS256 need a secret/ },
    { desc: 'RS algorithm with only a secret', jwt: '{ secret: "0123456789abcdef0123456789abcdef", algorithms: [RS256] }', error: /RS256 need public keys/ },
    { desc: 'alg none is not an algorithm', jwt: '{ jwksUrl: "https://a/j", algorithms: [none] }', error: /jwt\.algorithms\[0\]: must be one of/ },
    { desc: 'short secret', jwt: '{ secret: short }', error: /jwt\.secret/ },
    { desc: 'private JWK', jwt: '{ keys: [ { kty: EC, crv: P-256, x: a, y: b, d: c } ] }', error: /jwt\.keys\[0\]: is a private key/ },
    { desc: 'issuers mixed with a single issuer', jwt: '{ issuer: x, issuers: [ { issuer: a, jwksUrl: "https://a/j" } ] }', error: /jwt\.issuer: with issuers/ },
    { desc: 'duplicate issuer', jwt: '{ issuers: [ { issuer: a, jwksUrl: "https://a/j" }, { issuer: a, jwksUrl: "https://a/k" } ] }', error: /issuers\[1\]\.issuer: issuer 'a' is listed twice/ },
    { desc: 'issuer without iss among several', jwt: '{ issuers: [ { jwksUrl: "https://a/j" }, { issuer: b, jwksUrl: "https://b/j" } ] }', error: /issuers\[0\]\.issuer: is required/ },
    { desc: 'bad duration', jwt: '{ jwksUrl: "https://a/j", clockSkew: soon }', error: /jwt\.clockSkew: must be a duration/ },
    { desc: 'unknown key', jwt: '{ jwksUrl: "https://a/j", audiance: x }', error: /jwt\.audiance: unknown key 'audiance' \(did you mean 'audience'\?\)/ },
    { desc: 'inside auth anyOf', jwt: '{}', error: /needs a key source/ },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const text = c.desc === 'inside auth anyOf' ? doc('{}').replace('{ jwt: {} }', '{ auth: { anyOf: [ { jwt: {} } ] } }') : doc(c.jwt);
      const r = await loadConfig('/v/gateway.yaml', { text, env: {} });
      if (!c.error) return expect(r.ok, r.ok ? '' : JSON.stringify(r.issues)).toBe(true);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.map((i) => `${i.path}: ${i.message}`).join('\n')).toMatch(c.error);
    });
  }
});

describe('verified-token cache', () => {
  it('holds an entry until its deadline, keyed by hash', () => {
    const c = new VerifiedCache<string>(2);
    const k = c.key('token-a');
    expect(k).not.toContain('token-a');
    c.set(k, 'alice', 10_000 + Date.now());
    expect(c.get(k)).toBe('alice');
    expect(c.get(k, Date.now() + 10_001)).toBeUndefined();
    expect(c.get(k)).toBeUndefined(); // dropped once expired
  });
  it('is bounded (LRU)', () => {
    const c = new VerifiedCache<number>(2);
    const until = Date.now() + 60_000;
    c.set('a', 1, until);
    c.set('b', 2, until);
    c.get('a');
    c.set('c', 3, until);
    expect([c.get('a'), c.get('b'), c.get('c'), c.size]).toEqual([1, undefined, 3, 2]);
  });
  it('ignores entries already expired', () => {
    const c = new VerifiedCache<number>(2);
    c.set('a', 1, Date.now() - 1);
    expect(c.size).toBe(0);
  });
});

describe('jwt authenticator', () => {
  it('answers a token it verified before synchronously (no Promise)', async () => {
    const key = await signingKey('ES256', 'e1');
    const cfg = { keys: [key.publicJwk], issuer: 'iss' } as Record<string, unknown>;
    expect(validateInPlace(schema, cfg)).toEqual([]);
    const config = { consumers: [] } as unknown as GatewayConfig;
    const deps = { config, logger: pino({ level: 'silent' }), routeName: 'r', baseDir: '/' } as unknown as PolicyDeps;
    const a = await jwtAuthenticator(cfg as never, deps);
    const token = await sign(key, { iss: 'iss', sub: 'alice' });
    const ctx = { req: { headers: { authorization: `Bearer ${token}` } } as unknown as IncomingMessage } as RequestContext;
    const first = a.authenticate(ctx);
    expect(isThenable(first)).toBe(true);
    expect(await first).toMatchObject({ id: 'alice' });
    const second = a.authenticate(ctx);
    expect(isThenable(second)).toBe(false);
    expect(second).toMatchObject({ id: 'alice' });
    // Concurrent first sightings of one token share a single verification.
    const other = await sign(key, { iss: 'iss', sub: 'bob' });
    const octx = { req: { headers: { authorization: `Bearer ${other}` } } as unknown as IncomingMessage } as RequestContext;
    expect(a.authenticate(octx)).toBe(a.authenticate(octx));
  });
});
