import { createPublicKey, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createLocalJWKSet, createRemoteJWKSet, errors, type JWK, type JWTVerifyGetKey } from 'jose';
import { request } from 'undici';
import type { IssuerConfig } from './schema.js';

/**
 * Verification keys of one issuer, resolved by the token's header (`alg`, `kid`):
 * inline PEM/JWK keys and an HS secret, a JWKS URL, or OIDC discovery. Remote key sets
 * are jose's `createRemoteJWKSet`: cached for `jwksMaxAge`, refetched on an unknown `kid`
 * only when `jwksCooldown` has passed since the last fetch.
 */
export interface IssuerKeys {
  resolve: JWTVerifyGetKey;
}

/** Thrown when a key source cannot be reached; the request gets a 503, not a 401. */
export class KeySourceUnavailable extends Error {
  override readonly name = 'KeySourceUnavailable';
}

export function issuerKeys(cfg: IssuerConfig): IssuerKeys {
  const secret = cfg.secret === undefined ? undefined : new TextEncoder().encode(cfg.secret);
  const jwks = (cfg.keys ?? []).filter((k) => typeof k !== 'string') as JWK[];
  const local = jwks.length === 0 ? undefined : createLocalJWKSet({ keys: jwks });
  const pems = (cfg.keys ?? []).filter((k): k is string => typeof k === 'string').map((k) => createPublicKey(k));
  const remote = cfg.jwksUrl !== undefined ? remoteSet(new URL(cfg.jwksUrl), cfg) : cfg.discovery ? discoveredSet(cfg) : undefined;
  return {
    resolve(header, token) {
      if (header.alg?.startsWith('HS')) {
        if (secret !== undefined) return secret;
        if (local !== undefined) return local(header, token);
        throw new errors.JOSEAlgNotAllowed('no secret for this algorithm');
      }
      // A PEM key has no kid: it is picked by key type (the first that fits the algorithm).
      if (pems.length > 0 && (header.kid === undefined || !hasKid(jwks, header.kid))) {
        const pem = pems.find((k) => fitsAlgorithm(k, header.alg));
        if (pem !== undefined) return pem;
      }
      if (local !== undefined && (remote === undefined || header.kid === undefined || hasKid(jwks, header.kid))) return local(header, token);
      if (remote !== undefined) return remote(header, token);
      throw new errors.JWKSNoMatchingKey();
    },
  };
}

const FAILED_FETCH_BACKOFF_MS = 1000;

function remoteSet(url: URL, cfg: IssuerConfig): JWTVerifyGetKey {
  const set = createRemoteJWKSet(url, { cooldownDuration: cfg.jwksCooldown, cacheMaxAge: cfg.jwksMaxAge, timeoutDuration: cfg.timeout });
  // After a failed fetch, fail fast for a moment instead of every request trying again.
  const backoff = Math.min(cfg.jwksCooldown, FAILED_FETCH_BACKOFF_MS);
  let failedAt = -Infinity;
  return async (header, token) => {
    if (!set.fresh && performance.now() - failedAt < backoff) throw new KeySourceUnavailable(`JWKS ${url.href} failed recently`);
    try {
      return await set(header, token);
    } catch (e) {
      if (isUnreachable(e)) {
        failedAt = performance.now();
        throw new KeySourceUnavailable(`JWKS ${url.href}: ${(e as Error).message}`, { cause: e });
      }
      throw e;
    }
  };
}

/**
 * OIDC Discovery 1.0 §4: fetched on first use (so an IdP that is down does not stop the
 * gateway from starting), retried no more often than `jwksCooldown` after a failure.
 */
function discoveredSet(cfg: IssuerConfig): JWTVerifyGetKey {
  const issuer = cfg.issuer!;
  const where = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let set: Promise<JWTVerifyGetKey> | undefined;
  let failedAt = -Infinity;
  const discover = async (): Promise<JWTVerifyGetKey> => {
    const res = await request(where, { headersTimeout: cfg.timeout, bodyTimeout: cfg.timeout });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`status ${res.statusCode}`);
    }
    const doc = (await res.body.json()) as { issuer?: unknown; jwks_uri?: unknown };
    // §4.3: the document's issuer must be exactly the issuer it was fetched for.
    if (doc.issuer !== issuer) throw new Error(`document names issuer ${JSON.stringify(doc.issuer)}`);
    if (typeof doc.jwks_uri !== 'string') throw new Error('document has no jwks_uri');
    return remoteSet(new URL(doc.jwks_uri), cfg);
  };
  return async (header, token) => {
    if (set === undefined) {
      if (performance.now() - failedAt < cfg.jwksCooldown) throw new KeySourceUnavailable(`OIDC discovery at ${where} failed recently`);
      set = discover();
      set.catch(() => {
        set = undefined;
        failedAt = performance.now();
      });
    }
    let resolve: JWTVerifyGetKey;
    try {
      resolve = await set;
    } catch (e) {
      throw new KeySourceUnavailable(`OIDC discovery at ${where}: ${(e as Error).message}`, { cause: e });
    }
    return resolve(header, token);
  };
}

function isUnreachable(e: unknown): boolean {
  if (e instanceof errors.JWKSTimeout) return true;
  if (e instanceof errors.JOSEError) return e.code === 'ERR_JOSE_GENERIC' || e.code === 'ERR_JWKS_INVALID';
  // fetch() failures (connection refused, reset) surface as TypeError.
  return e instanceof TypeError;
}

function hasKid(keys: readonly JWK[], kid: string): boolean {
  return keys.some((k) => k.kid === kid);
}

function fitsAlgorithm(key: KeyObject, alg: string | undefined): boolean {
  const t = key.asymmetricKeyType;
  if (alg === undefined) return false;
  if (alg.startsWith('RS') || alg.startsWith('PS')) return t === 'rsa' || t === 'rsa-pss';
  if (alg.startsWith('ES')) return t === 'ec';
  return (alg === 'EdDSA' || alg === 'Ed25519') && t === 'ed25519';
}
