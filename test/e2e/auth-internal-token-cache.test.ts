import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, jwtVerify } from 'jose';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { writePems } from '../tls-fixtures.js';
import { hashApiKey } from '../../src/consumers/hash.js';
import { manualClock } from '../../src/store/clock.js';
import { sign, signingKey, type SigningKey } from '../auth-fixtures.js';

/**
 * internal-token's cache of signed tokens, over real sockets. ES256 signatures are
 * randomised, so two signings of the same claims give two different tokens: identical
 * tokens mean one signature. The gateway runs on a manual clock, so a token's refresh at
 * half its lifetime is reached by moving the clock, not by waiting.
 */
describe('internal-token signs once per identity content', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let idp: SigningKey;
  const clock = manualClock(Math.floor(Date.now() / 1000) * 1000);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  beforeAll(async () => {
    up = await startUpstream();
    idp = await signingKey('ES256', 'idp-1');
    const jwt = (extra = '') => `{ jwt: { issuer: idp, keys: [ ${JSON.stringify(idp.publicJwk)} ], tenantClaim: org, tierClaim: plan${extra} } }`;
    const yaml = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
consumers:
  - { id: acme-mobile, tenant: acme, scopes: [orders:read], apiKeys: ["${hashApiKey('k1')}"] }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: uncached, match: { path: /uncached/* }, upstream: echo, policies: [ ${jwt(', cacheSize: 0')}, { internal-token: { key: signing.pem, header: X-Identity, copyClaims: [email] } } ] }
  - { name: keyed, match: { path: /keyed/* }, upstream: echo, policies: [ { api-key: {} }, { internal-token: { key: signing.pem, ttl: 10s } } ] }
  - { name: small, match: { path: /small/* }, upstream: echo, policies: [ ${jwt()}, { internal-token: { key: signing.pem, header: X-Identity, cacheSize: 2 } } ] }
`;
    const files = writePems({ 'signing.pem': privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'gateway.yaml': yaml });
    gw = await startGateway(yaml, { file: files.path('gateway.yaml'), clock });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  /** The internal token the upstream received, read from its echo of the request. */
  const tokenFor = async (path: string, headers: Record<string, string>, header = 'x-identity'): Promise<string> => {
    const res = await httpRequest(gw.url + path, { headers });
    expect(res.status).toBe(200);
    const v = res.json<{ headers: Record<string, string> }>().headers[header];
    expect(v).toBeDefined();
    return v!.replace(/^Bearer /, '');
  };
  /** A fresh caller token (its own jti) with `claims`: with cacheSize 0, a fresh identity object per request. */
  const bearer = async (claims: Record<string, unknown>) => ({ authorization: `Bearer ${await sign(idp, { iss: 'idp', ...claims })}` });
  const verified = async (token: string) => (await jwtVerify(token, publicKey, { issuer: 'gantry', algorithms: ['ES256'], currentDate: new Date(clock.now()) })).payload;

  it('concurrent first requests of one identity, each with its own caller token, share one signature', async () => {
    const callers = await Promise.all(Array.from({ length: 24 }, () => bearer({ sub: 'u-1', email: 'u1@example.com', scope: 'a b' })));
    const tokens = await Promise.all(callers.map((h) => tokenFor('/uncached/a', h)));
    expect(new Set(tokens).size).toBe(1);
    expect(await verified(tokens[0]!)).toMatchObject({ sub: 'u-1', email: 'u1@example.com', scope: 'a b' });
    // A later request with yet another caller token still gets it.
    expect(await tokenFor('/uncached/b', await bearer({ sub: 'u-1', email: 'u1@example.com', scope: 'a b' }))).toBe(tokens[0]);
  });

  it('concurrent first requests of an API-key consumer share one signature', async () => {
    const tokens = await Promise.all(Array.from({ length: 24 }, () => tokenFor('/keyed/a', { 'x-api-key': 'k1' }, 'authorization')));
    expect(new Set(tokens).size).toBe(1);
    expect(await verified(tokens[0]!)).toMatchObject({ sub: 'acme-mobile', tenant: 'acme', scope: 'orders:read' });
  });

  it('claims the token does not carry do not split the cache', async () => {
    const a = await tokenFor('/uncached/a', await bearer({ sub: 'u-2', name: 'First' }));
    const b = await tokenFor('/uncached/a', await bearer({ sub: 'u-2', name: 'Second' }));
    expect(b).toBe(a);
    expect(decodeJwt(a).name).toBeUndefined();
  });

  // Each differs from the base in one thing the internal token carries; all are sent at once.
  const base = { sub: 'u-3', email: 'u3@example.com', scope: 'read', org: 'acme', plan: 'gold' };
  const variants: { desc: string; claims: Record<string, unknown>; want: Record<string, unknown> }[] = [
    { desc: 'base', claims: base, want: { sub: 'u-3', email: 'u3@example.com', scope: 'read', tenant: 'acme', tier: 'gold' } },
    { desc: 'another subject', claims: { ...base, sub: 'u-4' }, want: { sub: 'u-4' } },
    { desc: 'a copied claim differs', claims: { ...base, email: 'other@example.com' }, want: { email: 'other@example.com' } },
    { desc: 'a copied claim is absent', claims: { ...base, email: undefined }, want: { sub: 'u-3', scope: 'read' } },
    { desc: 'a copied claim is null', claims: { ...base, email: null }, want: { email: null } },
    { desc: 'more scopes', claims: { ...base, scope: 'read write' }, want: { scope: 'read write' } },
    { desc: 'no scopes', claims: { ...base, scope: undefined }, want: { sub: 'u-3', tenant: 'acme' } },
    { desc: 'another tenant', claims: { ...base, org: 'beta' }, want: { tenant: 'beta' } },
    { desc: 'another tier', claims: { ...base, plan: 'silver' }, want: { tier: 'silver' } },
    { desc: 'a subject that joins two fields', claims: { ...base, sub: 'u-3","acme' }, want: { sub: 'u-3","acme' } },
  ];
  it('different identities never share a token, even when signed concurrently', async () => {
    const tokens = await Promise.all(variants.map(async (v) => tokenFor('/uncached/v', await bearer(v.claims))));
    expect(new Set(tokens).size).toBe(variants.length);
    for (const [i, v] of variants.entries()) {
      const payload = await verified(tokens[i]!);
      expect(payload, v.desc).toMatchObject(v.want);
      for (const [claim, name] of [['email', 'email'], ['scope', 'scope'], ['org', 'tenant'], ['plan', 'tier']] as const) {
        if (v.claims[claim] === undefined) expect(payload[name], `${v.desc}: ${name}`).toBeUndefined();
      }
    }
  });

  it('re-signs once half the ttl has passed, then reuses the new token', async () => {
    const first = await tokenFor('/keyed/r', { 'x-api-key': 'k1' }, 'authorization');
    const iat = decodeJwt(first).iat!;
    clock.set((iat + 4) * 1000 + 999); // ttl 10s: before the refresh at iat + 5s
    expect(await tokenFor('/keyed/r', { 'x-api-key': 'k1' }, 'authorization')).toBe(first);
    clock.set((iat + 5) * 1000);
    const second = await Promise.all(Array.from({ length: 8 }, () => tokenFor('/keyed/r', { 'x-api-key': 'k1' }, 'authorization')));
    expect(new Set(second).size).toBe(1);
    expect(second[0]).not.toBe(first);
    const p = await verified(second[0]!);
    expect(p.iat).toBe(iat + 5);
    expect(p.exp).toBe(iat + 15);
    clock.advance(1000);
    expect(await tokenFor('/keyed/r', { 'x-api-key': 'k1' }, 'authorization')).toBe(second[0]);
  });

  it('keeps at most cacheSize tokens: the least recently used is signed again', async () => {
    const get = async (sub: string) => tokenFor('/small/s', await bearer({ sub }));
    const a = await get('s-a');
    expect(await get('s-a')).toBe(a);
    await get('s-b');
    expect(await get('s-a')).toBe(a); // a is now the most recent
    await get('s-c'); // evicts b
    expect(await get('s-a')).toBe(a);
    const b2 = await get('s-b'); // signed again, evicting c
    expect(await get('s-b')).toBe(b2);
    await get('s-d'); // evicts a
    expect(await get('s-a')).not.toBe(a);
  });
});
