import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Type } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { Identity } from '../../consumers/directory.js';
import { Duration } from '../../config/types.js';

/**
 * `internal-token`: replaces the caller's credential with a short-lived JWT signed by the
 * gateway, so services trust one issuer (the gateway) whatever the caller used (API key,
 * Basic, certificate, a third-party token). Runs after the authentication policy. A
 * request without a consumer has the header removed: nothing reaches the upstream that
 * looks like a gateway-issued identity.
 *
 * Tokens are minted once per identity and reused until half their lifetime has passed, so
 * most requests add a header without signing anything (and without a Promise).
 *
 * @example
 *   - internal-token: { key: keys/gateway-signing.pem, alg: ES256, audience: internal, ttl: 60s }
 */
const ALGS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const;

export const schema = Type.Object(
  {
    key: Type.String({ minLength: 1, description: 'PEM private key file (PKCS#8, or SEC1/PKCS#1), relative to the config file.' }),
    alg: Type.Union(ALGS.map((a) => Type.Literal(a)), { default: 'ES256', description: 'Signing algorithm; must fit the key.' }),
    kid: Type.Optional(Type.String({ minLength: 1, description: '`kid` header, so services can pick the key from a JWKS.' })),
    issuer: Type.String({ default: 'gantry', description: '`iss` claim.' }),
    audience: Type.Optional(Type.String({ minLength: 1, description: '`aud` claim.' })),
    ttl: Duration({ default: '60s', description: 'Token lifetime (`exp` − `iat`).' }),
    header: Type.String({ default: 'Authorization', pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', description: 'Header carrying the token: `Authorization` (as `Bearer`) or any other (bare token).' }),
    copyClaims: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Claims copied from the caller\'s verified token (e.g. `email`).' }),
  },
  { additionalProperties: false },
);

const KEY_TYPES: Record<(typeof ALGS)[number], string[]> = { RS256: ['rsa'], PS256: ['rsa', 'rsa-pss'], ES256: ['ec'], ES384: ['ec'], EdDSA: ['ed25519'] };

interface Minted {
  value: string;
  /** Epoch ms after which a fresh token is minted. */
  refreshAt: number;
}

export default definePolicy({
  name: 'internal-token',
  description: 'Forwards a short-lived JWT signed by the gateway in place of the caller\'s credential.',
  schema,
  async create(config, deps) {
    const { SignJWT } = await import('jose');
    const file = resolve(deps.baseDir, config.key);
    let key: KeyObject;
    try {
      key = createPrivateKey(readFileSync(file));
    } catch (e) {
      throw new Error(`internal-token.key: cannot load a private key from ${config.key}: ${(e as Error).message}`, { cause: e });
    }
    if (!KEY_TYPES[config.alg].includes(key.asymmetricKeyType ?? '')) {
      throw new Error(`internal-token.alg: ${config.alg} does not fit a ${key.asymmetricKeyType} key`);
    }
    const header = config.header.toLowerCase();
    const bearer = header === 'authorization';
    const ttlSec = Math.max(1, Math.floor(config.ttl / 1000));
    const minted = new WeakMap<object, Minted>();

    const mint = async (identity: Identity): Promise<string> => {
      const now = Math.floor(Date.now() / 1000);
      const claims: Record<string, unknown> = { scope: identity.scopeHeader || undefined, tenant: identity.tenant, tier: identity.tier };
      if (identity.anonymous) claims.anonymous = true;
      for (const c of config.copyClaims) if (identity.claims?.[c] !== undefined) claims[c] = identity.claims[c];
      for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
      const jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: config.alg, typ: 'JWT', ...(config.kid ? { kid: config.kid } : {}) })
        .setIssuer(config.issuer)
        .setSubject(identity.id)
        .setIssuedAt(now)
        .setExpirationTime(now + ttlSec);
      if (config.audience !== undefined) jwt.setAudience(config.audience);
      const value = await jwt.sign(key);
      minted.set(identity, { value: bearer ? `Bearer ${value}` : value, refreshAt: (now + ttlSec / 2) * 1000 });
      return value;
    };

    return {
      request: function internalToken(ctx: RequestContext) {
        const identity = ctx.consumer as Identity | undefined;
        if (identity === undefined) {
          ctx.removeRequestHeader(header);
          return undefined;
        }
        const m = minted.get(identity);
        if (m !== undefined && Date.now() < m.refreshAt) {
          ctx.setRequestHeader(header, m.value);
          return undefined;
        }
        return mint(identity).then(() => {
          ctx.setRequestHeader(header, minted.get(identity)!.value);
          return undefined;
        });
      },
    };
  },
});
