import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { sign, signingKey, type SigningKey } from '../auth-fixtures.js';
import { hashApiKey } from '../../src/consumers/hash.js';

/**
 * Identity headers as a real upstream receives them: values that differ in the token differ
 * in the header, and one `decodeURIComponent` gives back exactly what the token said.
 */
describe('identity header encoding', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let idp: SigningKey;

  beforeAll(async () => {
    up = await startUpstream();
    idp = await signingKey('ES256', 'idp-1');
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
consumers:
  - { id: acme-mobile, tenant: acme, tier: gold, scopes: [orders:read], apiKeys: ["${hashApiKey('k1')}"] }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: jwt, match: { path: /jwt/* }, upstream: echo, policies: [ { jwt: { issuer: idp, keys: [ ${JSON.stringify(idp.publicJwk)} ], tenantClaim: org, tierClaim: plan } } ] }
  - { name: keyed, match: { path: /keyed/* }, upstream: echo, policies: [ { api-key: {} } ] }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  /** The identity headers the upstream saw for a request with a token of `claims`. */
  const seenFor = async (claims: Record<string, unknown>) => {
    const res = await httpRequest(gw.url + '/jwt/a', { headers: { authorization: `Bearer ${await sign(idp, { iss: 'idp', ...claims })}` } });
    expect(res.status).toBe(200);
    const h = up.seen[up.seen.length - 1]!.headers;
    return { id: h['x-consumer-id'], tenant: h['x-consumer-tenant'], tier: h['x-consumer-tier'], scopes: h['x-authenticated-scopes'] } as Record<string, string | undefined>;
  };

  // Pairs that collided when only non-printable values were encoded.
  const pairs: { desc: string; a: Record<string, unknown>; b: Record<string, unknown>; field: string; headers: [string, string] }[] = [
    { desc: 'é vs the literal text %C3%A9', a: { sub: 'José' }, b: { sub: 'Jos%C3%A9' }, field: 'id', headers: ['Jos%C3%A9', 'Jos%25C3%25A9'] },
    { desc: 'a slash vs its encoding, in the tenant', a: { sub: 'u', org: 'acme/eu' }, b: { sub: 'u', org: 'acme%2Feu' }, field: 'tenant', headers: ['acme/eu', 'acme%252Feu'] },
    { desc: 'a tier with % vs the character it encodes', a: { sub: 'u', plan: 'gold%20plus' }, b: { sub: 'u', plan: 'gold plus' }, field: 'tier', headers: ['gold%2520plus', 'gold plus'] },
    { desc: 'a leading space vs none', a: { sub: ' admin' }, b: { sub: 'admin' }, field: 'id', headers: ['%20admin', 'admin'] },
    { desc: 'scopes with % vs without', a: { sub: 'u', scope: 'a%20b read' }, b: { sub: 'u', scope: 'a b read' }, field: 'scopes', headers: ['a%2520b read', 'a b read'] },
  ];
  for (const c of pairs) {
    it(`${c.desc}: two headers, each decoding to its own value`, async () => {
      const a = await seenFor(c.a);
      const b = await seenFor(c.b);
      expect([a[c.field], b[c.field]]).toEqual(c.headers);
      const claim = (x: Record<string, unknown>) => String(x[{ id: 'sub', tenant: 'org', tier: 'plan', scopes: 'scope' }[c.field]!]);
      expect(decodeURIComponent(a[c.field]!)).toBe(claim(c.a));
      expect(decodeURIComponent(b[c.field]!)).toBe(claim(c.b));
    });
  }

  it('plain ASCII values go upstream unchanged', async () => {
    expect(await seenFor({ sub: 'user-7', org: 'acme', plan: 'gold', scope: 'orders:read orders:write' })).toEqual({ id: 'user-7', tenant: 'acme', tier: 'gold', scopes: 'orders:read orders:write' });
    const res = await httpRequest(gw.url + '/keyed/a', { headers: { 'x-api-key': 'k1' } });
    expect(res.status).toBe(200);
    expect(up.seen[up.seen.length - 1]!.headers).toMatchObject({ 'x-consumer-id': 'acme-mobile', 'x-consumer-tenant': 'acme', 'x-consumer-tier': 'gold', 'x-authenticated-scopes': 'orders:read' });
  });

  it('a subject that is not well-formed Unicode (lone surrogate) is an invalid token, not a server error', async () => {
    const before = up.seen.length;
    const res = await httpRequest(gw.url + '/jwt/a', { headers: { authorization: `Bearer ${await sign(idp, { iss: 'idp', sub: 'x\ud800' })}` } });
    expect(res.status).toBe(401);
    expect(up.seen.length).toBe(before);
  });
});
