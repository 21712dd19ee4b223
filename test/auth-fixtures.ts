import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/**
 * Fixtures for auth tests: real key pairs, a real JWKS / OIDC discovery server on
 * 127.0.0.1 that counts its hits, and a token signer.
 */

export interface SigningKey {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
}

export async function signingKey(alg: string, kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

/** Signs a JWT; claims default to a valid one-hour token with a random jti. */
export async function sign(key: SigningKey | { alg: string; secret: Uint8Array; kid?: string }, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const body: JWTPayload = { iat: now, exp: now + 3600, jti: randomUUID(), ...claims };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  const jwt = new SignJWT(body).setProtectedHeader({ alg: key.alg, ...(key.kid ? { kid: key.kid } : {}), ...header });
  return jwt.sign('privateKey' in key ? key.privateKey : key.secret);
}

export interface KeyServer {
  url: string;
  jwksUrl: string;
  /** Requests for the JWKS document. */
  jwksHits: number;
  discoveryHits: number;
  /** Keys served (mutable: rotate by assigning). */
  keys: JWK[];
  /** When set, the server holds JWKS requests without answering. */
  stall: boolean;
  close(): Promise<void>;
}

/** A JWKS endpoint (`/jwks.json`) plus OIDC discovery (`/.well-known/openid-configuration`). */
export async function startKeyServer(keys: JWK[]): Promise<KeyServer> {
  const state = { jwksHits: 0, discoveryHits: 0, keys, stall: false };
  let base = '';
  const server = http.createServer((req, res) => {
    if (req.url === '/jwks.json') {
      state.jwksHits++;
      if (state.stall) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: state.keys }));
      return;
    }
    if (req.url === '/.well-known/openid-configuration') {
      state.discoveryHits++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks.json`, response_types_supported: ['code'] }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(state, {
    url: base,
    jwksUrl: `${base}/jwks.json`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  });
}

/** base64url of a JSON value or string. */
export function b64(v: unknown): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
}
