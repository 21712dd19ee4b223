import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { writePems } from '../tls-fixtures.js';
import { hashApiKey } from '../../src/consumers/hash.js';
import { formatIssue } from '../../src/config/source.js';
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

  it('refuses to start with a key that does not fit the algorithm, naming the config line', async () => {
    const yaml = config('RS256');
    const files = writePems({ 'signing.pem': privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'gateway.yaml': yaml });
    await expect(startGateway(yaml, { file: files.path('gateway.yaml') })).rejects.toThrow(
      new RegExp(`gateway\\.yaml:${lineOf(yaml, 'name: keyed')} routes\\[0\\]\\.policies\\[1\\]\\.internal-token\\.alg: RS256 needs an RSA key of 2048 bits or more; signing\\.pem holds an EC prime256v1 key`),
    );
  });
});

/** A key file replaced under a running gateway: a reload checks it before anything is built. */
describe('internal-token key rotation by reload', () => {
  const pem = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }) as string;
  const config = (alg: string) => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
consumers:
  - { id: acme-mobile, apiKeys: ["${hashApiKey('k1')}"] }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: keyed, match: { path: /keyed/* }, upstream: echo, policies: [ { api-key: {} }, { internal-token: { key: signing.pem, alg: ${alg} } } ] }
`;
  let up: TestUpstream;
  let gw: TestGateway;
  let dir: string;
  const first = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  /** The token the upstream got for one request, verified with `key`. */
  const tokenVerifiedWith = async (key: KeyObject, alg: string) => {
    const res = await httpRequest(gw.url + '/keyed/a', { headers: { 'x-api-key': 'k1' } });
    expect(res.status).toBe(200);
    const auth = up.seen[up.seen.length - 1]!.headers.authorization!;
    const { payload, protectedHeader } = await jwtVerify(auth.slice(7), key, { issuer: 'gantry', algorithms: [alg] });
    expect(protectedHeader.alg).toBe(alg);
    return payload;
  };

  beforeAll(async () => {
    up = await startUpstream();
    const files = writePems({ 'signing.pem': pem(first.privateKey), 'gateway.yaml': config('ES256') });
    dir = files.dir;
    gw = await startGateway(config('ES256'), { file: files.path('gateway.yaml') });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const line = () => lineOf(config('ES256'), 'name: keyed');
  const rejected: { desc: string; files: () => Record<string, string>; error: () => RegExp }[] = [
    { desc: 'a key of the wrong type', files: () => ({ 'signing.pem': pem(rsa.privateKey) }), error: () => new RegExp(`gateway\\.yaml:${line()} routes\\[0\\]\\.policies\\[1\\]\\.internal-token\\.alg: ES256 needs an EC P-256 key; signing\\.pem holds a 2048-bit RSA key`) },
    { desc: 'a file that holds no key', files: () => ({ 'signing.pem': 'rotated by mistake\n' }), error: () => new RegExp(`gateway\\.yaml:${line()} routes\\[0\\]\\.policies\\[1\\]\\.internal-token\\.key: signing\\.pem holds no usable PEM private key: the file is not PEM`) },
    { desc: 'a public key', files: () => ({ 'signing.pem': first.publicKey.export({ type: 'spki', format: 'pem' }) as string }), error: () => /internal-token\.key: signing\.pem holds no usable PEM private key: it holds no PRIVATE KEY block/ },
  ];
  for (const c of rejected) {
    it(`a reload with ${c.desc} is rejected with the config line; the old key keeps signing`, async () => {
      const version = gw.gw.runtime.version;
      for (const [name, text] of Object.entries(c.files())) writeFileSync(join(dir, name), text);
      const r = await gw.gw.reload();
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.map(formatIssue).join('\n')).toMatch(c.error());
      expect(gw.gw.lastReload).toMatchObject({ ok: false });
      expect(gw.gw.runtime.version).toBe(version);
      expect((await tokenVerifiedWith(first.publicKey, 'ES256')).sub).toBe('acme-mobile');
      writeFileSync(join(dir, 'signing.pem'), pem(first.privateKey));
    });
  }

  it('a reload with a new key (and algorithm) signs with it from then on', async () => {
    const second = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'signing.pem'), pem(second.privateKey));
    expect(await gw.gw.reload()).toMatchObject({ ok: true });
    expect((await tokenVerifiedWith(second.publicKey, 'ES256')).sub).toBe('acme-mobile');

    writeFileSync(join(dir, 'signing.pem'), pem(rsa.privateKey));
    writeFileSync(join(dir, 'gateway.yaml'), config('RS256'));
    expect(await gw.gw.reload()).toMatchObject({ ok: true });
    expect((await tokenVerifiedWith(rsa.publicKey, 'RS256')).sub).toBe('acme-mobile');
  });
});

/** 1-based line of the first line of `text` containing `needle`. */
function lineOf(text: string, needle: string): number {
  return text.split('\n').findIndex((l) => l.includes(needle)) + 1;
}
