import { resolve } from 'node:path';
import { Type } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { Identity } from '../../consumers/directory.js';
import { Duration } from '../../config/types.js';
import { ALGS, loadSigningKey } from './key.js';

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
export const schema = Type.Object(
  {
    key: Type.String({ minLength: 1, description: 'PEM private key file (PKCS#8, or SEC1/PKCS#1), relative to the config file; checked at load (readable, fits `alg`).' }),
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
    // Checked at load with the config line (key.ts); read again here, so a file changed
    // between the check and the build still fails the build instead of a request.
    const key = await loadSigningKey(resolve(deps.baseDir, config.key), config.key, config.alg);
    if ('message' in key) throw new Error(`internal-token.${key.field}: ${key.message}`);
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
