import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { jwtVerify } from 'jose';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { writePems } from '../tls-fixtures.js';
import { hashApiKey } from '../../src/consumers/hash.js';
import { sign, signingKey, type SigningKey } from '../auth-fixtures.js';

/** internal-token: the upstream receives a gateway-signed JWT instead of the caller's credential. */
describe('internal-token', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let idp: SigningKey;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  const config = (alg: string) => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
consumers:
  - { id: acme-mobile, tenant: acme, tier: gold, scopes: [orders:read], apiKeys: ["${hashApiKey('k1')}"] }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: keyed, match: { path: /keyed/* }, upstream: echo, policies: [ { api-key: {} }, { internal-token: { key: signing.pem, alg: ${alg}, kid: gw-1, audience: internal, ttl: 60s } } ] }
  - { name: jwt, match: { path: /jwt/* }, upstream: echo, policies: [ { jwt: { issuer: idp, keys: [ ${JSON.stringify(idp.publicJwk)} ] } }, { internal-token: { key: signing.pem, alg: ${alg}, header: X-Identity, copyClaims: [email] } } ] }
  - { name: open, match: { path: /open/* }, upstream: echo, policies: [ { internal-token: { key: signing.pem, alg: ${alg} } } ] }
`;

  beforeAll(async () => {
    up = await startUpstream();
    idp = await signingKey('ES256', 'idp-1');
    const yaml = config('ES256');
    const files = writePems({ 'signing.pem': privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'gateway.yaml': yaml });
    gw = await startGateway(yaml, { file: files.path('gateway.yaml') });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('replaces the API key with a signed token carrying the identity', async () => {
    const res = await httpRequest(gw.url + '/keyed/a', { headers: { 'x-api-key': 'k1', authorization: 'Bearer forged' } });
    expect(res.status).toBe(200);
    const auth = up.seen[up.seen.length - 1]!.headers.authorization!;
    expect(auth).toMatch(/^Bearer /);
    const { payload, protectedHeader } = await jwtVerify(auth.slice(7), publicKey, { issuer: 'gantry', audience: 'internal', algorithms: ['ES256'] });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'gw-1', typ: 'JWT' });
    expect(payload).toMatchObject({ sub: 'acme-mobile', tenant: 'acme', tier: 'gold', scope: 'orders:read' });
    expect(payload.exp! - payload.iat!).toBe(60);
  });

  it('reuses the minted token for the same identity', async () => {
    await httpRequest(gw.url + '/keyed/a', { headers: { 'x-api-key': 'k1' } });
    const first = up.seen[up.seen.length - 1]!.headers.authorization;
    await httpRequest(gw.url + '/keyed/b', { headers: { 'x-api-key': 'k1' } });
    expect(up.seen[up.seen.length - 1]!.headers.authorization).toBe(first);
  });

  it('custom header, claims copied from the caller\'s token, original token forwarded', async () => {
    const token = await sign(idp, { iss: 'idp', sub: 'u-7', email: 'u7@example.com', scope: 'a b' });
    const res = await httpRequest(gw.url + '/jwt/a', { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const seen = up.seen[up.seen.length - 1]!.headers;
    expect(seen.authorization).toBe(`Bearer ${token}`);
    const { payload } = await jwtVerify(seen['x-identity'] as string, publicKey, { issuer: 'gantry' });
    expect(payload).toMatchObject({ sub: 'u-7', email: 'u7@example.com', scope: 'a b' });
  });

  it('without a consumer the header is removed, never passed through', async () => {
    const res = await httpRequest(gw.url + '/open/a', { headers: { authorization: 'Bearer looks-like-ours' } });
    expect(res.status).toBe(200);
    expect(up.seen[up.seen.length - 1]!.headers.authorization).toBeUndefined();
  });

  it('refuses a key that does not fit the algorithm', async () => {
    const yaml = config('RS256');
    const files = writePems({ 'signing.pem': privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'gateway.yaml': yaml });
    await expect(startGateway(yaml, { file: files.path('gateway.yaml') })).rejects.toThrow(/RS256 does not fit a ec key/);
  });
});
