import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac, KeyObject, sign as cryptoSign } from 'node:crypto';
import { httpRequest, sleep, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { b64, sign, signingKey, startKeyServer, type KeyServer, type SigningKey } from '../auth-fixtures.js';
import { hashApiKey } from '../../src/consumers/hash.js';

/**
 * jwt over real sockets: every algorithm family, JWKS with cooldown, OIDC discovery,
 * several issuers, claim mapping, and the attack battery (each case → 401, no crash).
 */
const ISS = 'https://id.example.test';
const AUD = 'orders-api';
const SECRET = 'an-hs256-secret-that-is-at-least-32-bytes-long';
const HS_ISS = 'https://partners.example.test';

let up: TestUpstream;
let gw: TestGateway;
let ks: KeyServer;
let rsa: SigningKey;
let es: SigningKey;
let ed: SigningKey;
let ps: SigningKey;
let rogue: SigningKey;
const hs = { alg: 'HS256', secret: new TextEncoder().encode(SECRET) };

beforeAll(async () => {
  [rsa, es, ed, ps, rogue] = await Promise.all([
    signingKey('RS256', 'k1'),
    signingKey('ES256', 'es1'),
    signingKey('EdDSA', 'ed1'),
    signingKey('PS256', 'ps1'),
    signingKey('RS256', 'k1'), // same kid, different key
  ]);
  ks = await startKeyServer([rsa.publicJwk, ps.publicJwk]);
  up = await startUpstream();
  const pem = JSON.stringify(rsa.publicPem);
  gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
consumers:
  - { id: alice, tenant: acme, tier: gold }
  - { id: key-user, apiKeys: [ "${hashApiKey('k-any')}" ] }
  - { id: guest }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - name: jwks
    match: { path: /jwks/* }
    upstream: echo
    policies: [ { jwt: { issuer: "${ISS}", audience: ${AUD}, jwksUrl: "${ks.jwksUrl}", jwksCooldown: 2500ms } } ]
  - name: pem
    match: { path: /pem/* }
    upstream: echo
    policies: [ { jwt: { issuer: "${ISS}", audience: ${AUD}, keys: [ ${pem} ], hideCredentials: true } } ]
  - name: inline
    match: { path: /inline/* }
    upstream: echo
    policies: [ { jwt: { issuer: "${ISS}", keys: [ ${JSON.stringify(es.publicJwk)}, ${JSON.stringify(ed.publicJwk)} ], algorithms: [ES256, EdDSA] } } ]
  - name: hs
    match: { path: /hs/* }
    upstream: echo
    policies: [ { jwt: { issuer: "${HS_ISS}", secret: "${SECRET}" } } ]
  - name: multi
    match: { path: /multi/* }
    upstream: echo
    policies:
      - jwt:
          issuers:
            - { issuer: "${ISS}", audience: ${AUD}, jwksUrl: "${ks.jwksUrl}" }
            - { issuer: "${HS_ISS}", secret: "${SECRET}", consumerClaim: client_id }
  - name: oidc
    match: { path: /oidc/* }
    upstream: echo
    policies: [ { jwt: { issuer: "${ks.url}", discovery: true } } ]
  - name: mapped
    match: { path: /mapped/* }
    upstream: echo
    policies:
      - jwt: { issuer: "${ISS}", jwksUrl: "${ks.jwksUrl}", scopesClaim: realm_access.roles, tenantClaim: org, requiredClaims: [email], claims: { email_verified: true, groups: [staff, admin] } }
  - name: any
    match: { path: /any/* }
    upstream: echo
    policies:
      - auth:
          anyOf:
            - jwt: { issuer: "${ISS}", audience: ${AUD}, jwksUrl: "${ks.jwksUrl}" }
            - api-key: {}
          anonymous: guest
  - name: lax
    match: { path: /lax/* }
    upstream: echo
    policies: [ { jwt: { issuer: "${ISS}", jwksUrl: "${ks.jwksUrl}", requireExp: false } } ]
`);
});
afterAll(async () => {
  await gw?.close();
  await up?.close();
  await ks?.close();
});

const now = () => Math.floor(Date.now() / 1000);
const ok = { iss: ISS, aud: AUD, sub: 'alice' };
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('jwt: accepted tokens', () => {
  const cases: { desc: string; path: string; token: () => Promise<string>; consumer: string; upstream?: Record<string, string | undefined> }[] = [
    {
      desc: 'RS256 via JWKS; consumer tenant and tier from config',
      path: '/jwks/a',
      token: () => sign(rsa, { ...ok, scope: 'orders:read orders:write' }),
      consumer: 'alice',
      upstream: { 'x-consumer-tenant': 'acme', 'x-consumer-tier': 'gold', 'x-authenticated-scopes': 'orders:read orders:write' },
    },
    { desc: 'PS256 via JWKS', path: '/jwks/a', token: () => sign(ps, { ...ok, sub: 'bob' }), consumer: 'bob', upstream: { 'x-consumer-tenant': undefined } },
    { desc: 'RS256 with an inline PEM key; token hidden from upstream', path: '/pem/a', token: () => sign(rsa, ok), consumer: 'alice', upstream: { authorization: undefined } },
    { desc: 'ES256 inline JWK', path: '/inline/a', token: () => sign(es, { iss: ISS, sub: 'e' }), consumer: 'e' },
    { desc: 'EdDSA inline JWK', path: '/inline/a', token: () => sign(ed, { iss: ISS, sub: 'd' }), consumer: 'd' },
    { desc: 'HS256 with a secret', path: '/hs/a', token: () => sign(hs, { iss: HS_ISS, sub: 'svc' }), consumer: 'svc' },
    { desc: 'several issuers: the JWKS one', path: '/multi/a', token: () => sign(rsa, ok), consumer: 'alice' },
    { desc: 'several issuers: the HS one, consumer from client_id', path: '/multi/a', token: () => sign(hs, { iss: HS_ISS, client_id: 'partner-7' }), consumer: 'partner-7' },
    { desc: 'OIDC discovery', path: '/oidc/a', token: () => sign(rsa, { iss: ks.url, sub: 'o' }), consumer: 'o' },
    {
      desc: 'claims mapped: roles by path, tenant claim, required and matched claims',
      path: '/mapped/a',
      token: () => sign(rsa, { iss: ISS, sub: 'm', org: 'initech', email: 'm@x', email_verified: true, groups: ['staff'], realm_access: { roles: ['admin', 'ops'] } }),
      consumer: 'm',
      upstream: { 'x-consumer-tenant': 'initech', 'x-authenticated-scopes': 'admin ops' },
    },
    { desc: 'requireExp: false accepts a token without exp', path: '/lax/a', token: () => sign(rsa, { iss: ISS, sub: 'n', exp: undefined }), consumer: 'n' },
    { desc: 'expiry within the clock skew', path: '/jwks/a', token: () => sign(rsa, { ...ok, exp: now() - 10 }), consumer: 'alice' },
    { desc: 'lower-case bearer scheme', path: '/jwks/a', token: () => sign(rsa, ok), consumer: 'alice' },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const token = await c.token();
      const auth = c.desc.startsWith('lower-case') ? { authorization: `bearer ${token}` } : bearer(token);
      const res = await httpRequest(gw.url + c.path, { headers: { ...auth, 'x-consumer-id': 'spoofed' } });
      expect(res.status, res.text).toBe(200);
      const seen = up.seen[up.seen.length - 1]!;
      expect(seen.headers['x-consumer-id']).toBe(c.consumer);
      for (const [k, v] of Object.entries(c.upstream ?? {})) expect(seen.headers[k], k).toBe(v);
    });
  }

  it('puts a subject with control or non-ASCII characters upstream percent-encoded, never raw', async () => {
    const token = await sign(rsa, { ...ok, sub: 'mallory\r\nx-consumer-id: admin', tenant_x: 1 });
    const res = await httpRequest(gw.url + '/jwks/inj', { headers: bearer(token) });
    expect(res.status).toBe(200);
    const seen = up.seen[up.seen.length - 1]!;
    expect(seen.headers['x-consumer-id']).toBe('mallory%0D%0Ax-consumer-id: admin');
    expect(seen.rawHeaders.filter((h) => h.toLowerCase() === 'x-consumer-id')).toHaveLength(1);
    await httpRequest(gw.url + '/jwks/utf8', { headers: bearer(await sign(rsa, { ...ok, sub: 'zoë' })) });
    expect(up.seen[up.seen.length - 1]!.headers['x-consumer-id']).toBe('zo%C3%AB');
  });

  const anyCases: { desc: string; headers: () => Promise<Record<string, string>>; want: number; consumer?: string }[] = [
    { desc: 'auth anyOf [jwt, api-key]: a token', headers: async () => bearer(await sign(rsa, ok)), want: 200, consumer: 'alice' },
    { desc: 'auth anyOf [jwt, api-key]: a key', headers: async () => ({ 'x-api-key': 'k-any' }), want: 200, consumer: 'key-user' },
    { desc: 'auth anyOf [jwt, api-key]: a bad token and a good key', headers: async () => ({ ...bearer('a.b.c'), 'x-api-key': 'k-any' }), want: 200, consumer: 'key-user' },
    { desc: 'auth anyOf [jwt, api-key]: nothing → anonymous', headers: async () => ({}), want: 200, consumer: 'guest' },
    { desc: 'auth anyOf [jwt, api-key]: only a bad token → 401', headers: async () => bearer(await sign(rsa, { ...ok, aud: 'x' })), want: 401 },
  ];
  for (const c of anyCases) {
    it(c.desc, async () => {
      const res = await httpRequest(gw.url + '/any/a', { headers: await c.headers() });
      expect(res.status, res.text).toBe(c.want);
      if (c.consumer) expect(up.seen[up.seen.length - 1]!.headers['x-consumer-id']).toBe(c.consumer);
    });
  }

  it('forwards the original token by default', async () => {
    const token = await sign(rsa, ok);
    await httpRequest(gw.url + '/jwks/fwd', { headers: bearer(token) });
    expect(up.seen[up.seen.length - 1]!.headers.authorization).toBe(`Bearer ${token}`);
  });
});

describe('jwt: attack battery', () => {
  const forge = async (header: object, payload: object, secret: string | Uint8Array) => {
    const input = `${b64(header)}.${b64(payload)}`;
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  };
  const cases: { desc: string; path?: string; token: () => Promise<string>; headers?: () => Promise<Record<string, string>>; want?: number[] }[] = [
    { desc: 'alg: none', token: async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...ok, exp: now() + 600 })}.` },
    { desc: 'alg: none with a signature', token: async () => `${b64({ alg: 'none' })}.${b64({ ...ok, exp: now() + 600 })}.${b64('sig')}` },
    { desc: 'HS256 signed with the RSA public key as secret (key confusion), JWKS route', token: () => forge({ alg: 'HS256', kid: 'k1' }, { ...ok, exp: now() + 600 }, rsa.publicPem) },
    { desc: 'HS256 signed with the RSA public key as secret (key confusion), PEM route', path: '/pem/x', token: () => forge({ alg: 'HS256' }, { ...ok, exp: now() + 600 }, rsa.publicPem) },
    { desc: 'HS256 signed with the JWK JSON as secret', token: () => forge({ alg: 'HS256', kid: 'k1' }, { ...ok, exp: now() + 600 }, JSON.stringify(rsa.publicJwk)) },
    { desc: 'expired', token: () => sign(rsa, { ...ok, exp: now() - 3600 }) },
    { desc: 'nbf in the future', token: () => sign(rsa, { ...ok, nbf: now() + 3600 }) },
    { desc: 'wrong iss', token: () => sign(rsa, { ...ok, iss: 'https://evil.example' }) },
    { desc: 'wrong aud', token: () => sign(rsa, { ...ok, aud: 'other-api' }) },
    { desc: 'no aud', token: () => sign(rsa, { iss: ISS, sub: 'alice' }) },
    { desc: 'no exp', token: () => sign(rsa, { ...ok, exp: undefined }) },
    { desc: 'unknown kid', token: () => sign({ ...rogue, kid: 'evil' }, ok) },
    { desc: 'right kid, wrong key', token: () => sign(rogue, ok) },
    { desc: 'no kid, key not in the set', token: () => sign({ ...rogue, kid: '' }, ok) },
    {
      desc: 'tampered payload',
      token: async () => {
        const [h, , s] = (await sign(rsa, { ...ok, sub: 'bob' })).split('.');
        return `${h}.${b64({ ...ok, sub: 'admin', exp: now() + 600 })}.${s}`;
      },
    },
    {
      desc: 'tampered header (alg switched to PS256)',
      token: async () => {
        const [, p, s] = (await sign(rsa, ok)).split('.');
        return `${b64({ alg: 'PS256', kid: 'k1' })}.${p}.${s}`;
      },
    },
    { desc: 'truncated signature', token: async () => (await sign(rsa, ok)).slice(0, -12) },
    { desc: 'truncated to two parts', token: async () => (await sign(rsa, ok)).split('.').slice(0, 2).join('.') },
    { desc: 'non-base64 parts', token: async () => 'e30.!!!not*base64!!!.@@@' },
    { desc: 'header is not JSON', token: async () => `${b64('nope')}.${b64(ok)}.${b64('sig')}` },
    { desc: 'five parts (JWE shape)', token: async () => 'a.b.c.d.e' },
    { desc: 'empty bearer token', token: async () => '', headers: async () => ({ authorization: 'Bearer ' }) },
    {
      desc: 'unknown critical header (RFC 7515 §4.1.11)',
      token: async () => {
        const input = `${b64({ alg: 'RS256', kid: 'k1', crit: ['x-unknown'], 'x-unknown': 1 })}.${b64({ ...ok, exp: now() + 600 })}`;
        return `${input}.${cryptoSign('sha256', Buffer.from(input), KeyObject.from(rsa.privateKey)).toString('base64url')}`;
      },
    },
    {
      desc: 'the same raw signing without crit is accepted (control for the case above)',
      token: async () => {
        const input = `${b64({ alg: 'RS256', kid: 'k1' })}.${b64({ ...ok, exp: now() + 600 })}`;
        return `${input}.${cryptoSign('sha256', Buffer.from(input), KeyObject.from(rsa.privateKey)).toString('base64url')}`;
      },
      want: [200],
    },
    { desc: 'ES256 token on the RSA route', token: () => sign(es, ok) },
    { desc: 'RS256 token on the HS route', path: '/hs/x', token: () => sign(rsa, { ...ok, iss: HS_ISS }) },
    { desc: 'HS256 with a wrong secret', path: '/hs/x', token: () => sign({ alg: 'HS256', secret: new TextEncoder().encode(SECRET + 'x') }, { iss: HS_ISS, sub: 'svc' }) },
    { desc: 'several issuers: unknown iss', path: '/multi/x', token: () => sign(rsa, { ...ok, iss: 'https://other.example' }) },
    { desc: 'several issuers: HS token claiming the JWKS issuer', path: '/multi/x', token: () => sign(hs, ok) },
    { desc: 'no subject claim', token: () => sign(rsa, { iss: ISS, aud: AUD }) },
    { desc: 'claim value mismatch', path: '/mapped/x', token: () => sign(rsa, { iss: ISS, sub: 'm', email: 'm@x', email_verified: false, groups: ['staff'] }) },
    { desc: 'required claim missing', path: '/mapped/x', token: () => sign(rsa, { iss: ISS, sub: 'm', email_verified: true, groups: ['admin'] }) },
    { desc: 'token longer than maxTokenLength', token: async () => 'a'.repeat(9000) },
    { desc: 'a 100 KB token', token: async () => 'a'.repeat(100 * 1024), want: [401, 431] },
    { desc: 'a 100 KB signed token', token: () => sign(rsa, { ...ok, pad: 'x'.repeat(100 * 1024) }), want: [401, 431] },
    { desc: 'no credential', token: async () => '', headers: async () => ({}) },
    { desc: 'Basic instead of Bearer', token: async () => '', headers: async () => ({ authorization: 'Basic YWxpY2U6cHc=' }) },
  ];

  for (const c of cases) {
    it(c.desc, async () => {
      const before = up.seen.length;
      const headers = c.headers ? await c.headers() : bearer(await c.token());
      const res = await httpRequest(gw.url + (c.path ?? '/jwks/x'), { headers });
      expect(c.want ?? [401], res.text).toContain(res.status);
      if (res.status !== 200) expect(up.seen.length).toBe(before);
      if (res.status === 401) {
        expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="gantry"/);
        expect(res.json()).toMatchObject({ status: 401 });
        // Never say which part of the token was wrong.
        expect(res.text).not.toMatch(/exp|aud|iss|signature|kid|alg/i);
      }
    });
  }

  it('still serves valid tokens after the battery (no crash)', async () => {
    const res = await httpRequest(gw.url + '/jwks/after', { headers: bearer(await sign(rsa, ok)) });
    expect(res.status).toBe(200);
  });

  it('challenges per RFC 6750: no error code without a token, invalid_token with a bad one', async () => {
    const none = await httpRequest(gw.url + '/jwks/x');
    expect(none.headers['www-authenticate']).toBe('Bearer realm="gantry"');
    const bad = await httpRequest(gw.url + '/jwks/x', { headers: bearer('a.b.c') });
    expect(bad.headers['www-authenticate']).toBe('Bearer realm="gantry", error="invalid_token"');
  });
});

describe('jwt: JWKS refetch and cooldown', () => {
  it('refetches on an unknown kid at most once per cooldown, and picks up rotated keys', async () => {
    // Tokens with forged kids, signed up front so the bursts below are quick.
    const forged = await Promise.all(Array.from({ length: 60 }, (_, i) => sign({ ...rogue, kid: `forged-${i}` }, ok)));
    const burst = async (tokens: string[]) => {
      const codes = await Promise.all(tokens.map((t) => httpRequest(gw.url + '/jwks/x', { headers: bearer(t) }).then((r) => r.status)));
      expect(codes.every((s) => s === 401)).toBe(true);
    };
    // Prime the key set, then wait out the cooldown (2500ms on this route).
    expect((await httpRequest(gw.url + '/jwks/p', { headers: bearer(await sign(rsa, ok)) })).status).toBe(200);
    await sleep(2600);
    const h0 = ks.jwksHits;
    await burst(forged.slice(0, 20));
    expect(ks.jwksHits - h0).toBe(1); // cooldown over: one refetch for the whole burst
    await burst(forged.slice(20, 40));
    await burst(forged.slice(40));
    expect(ks.jwksHits - h0).toBe(1); // within the cooldown: none
    // Rotation: a new key appears at the IdP; after the cooldown its first token triggers one refetch.
    const next = await signingKey('RS256', 'k2');
    ks.keys = [...ks.keys, next.publicJwk];
    await sleep(2600);
    const res = await httpRequest(gw.url + '/jwks/rotated', { headers: bearer(await sign(next, ok)) });
    expect(res.status).toBe(200);
    expect(ks.jwksHits - h0).toBe(2);
  });

  it('does not touch the JWKS for tokens it has verified before', async () => {
    const token = await sign(rsa, ok);
    expect((await httpRequest(gw.url + '/jwks/c', { headers: bearer(token) })).status).toBe(200);
    const h = ks.jwksHits;
    for (let i = 0; i < 20; i++) expect((await httpRequest(gw.url + '/jwks/c', { headers: bearer(token) })).status).toBe(200);
    expect(ks.jwksHits).toBe(h);
  });

  it('fetched discovery once', () => expect(ks.discoveryHits).toBe(1));
});

describe('jwt: key source unavailable', () => {
  it('answers 503 (fail closed) when the JWKS endpoint times out', async () => {
    const stalled = await startKeyServer([rsa.publicJwk]);
    stalled.stall = true;
    const g = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
routes:
  - { name: r, match: { path: /* }, static: { status: 200 }, policies: [ { jwt: { issuer: "${ISS}", jwksUrl: "${stalled.jwksUrl}", timeout: 200ms } } ] }
`);
    try {
      const res = await httpRequest(g.url + '/x', { headers: bearer(await sign(rsa, { iss: ISS, sub: 'a' })) });
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toBe('application/problem+json');
      const down = await httpRequest(`http://127.0.0.1:1/x`).catch(() => undefined);
      expect(down).toBeUndefined();
    } finally {
      await g.close();
      await stalled.close();
    }
  });
});
