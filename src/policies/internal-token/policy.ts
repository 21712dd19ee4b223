import { resolve } from 'node:path';
import { Type } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { Identity } from '../../consumers/directory.js';
import { Duration } from '../../config/types.js';
import { VerifiedCache, type Loaded } from '../auth/verified-cache.js';
import { ALGS, loadSigningKey } from './key.js';

/**
 * `internal-token`: replaces the caller's credential with a short-lived JWT signed by the
 * gateway, so services trust one issuer (the gateway) whatever the caller used (API key,
 * Basic, certificate, a third-party token). Runs after the authentication policy. A
 * request without a consumer has the header removed: nothing reaches the upstream that
 * looks like a gateway-issued identity.
 *
 * Signed tokens are cached by what they say (subject and claims), not by identity object:
 * callers whose identity is rebuilt per request (a JWT with the verified-token cache off,
 * a new token of the same user) share one token, concurrent first requests share one
 * signing, and a token is reused until half its lifetime has passed. Most requests add a
 * header without signing anything (and without a Promise).
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
    ttl: Duration({ default: '60s', description: 'Token lifetime (`exp` − `iat`); a token is re-signed once half of it has passed.' }),
    header: Type.String({ default: 'Authorization', pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', description: 'Header carrying the token: `Authorization` (as `Bearer`) or any other (bare token).' }),
    copyClaims: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Claims copied from the caller\'s verified token (e.g. `email`).' }),
    cacheSize: Type.Integer({ minimum: 1, default: 10_000, description: 'Signed tokens kept (LRU), one per distinct subject and claims.' }),
  },
  { additionalProperties: false },
);

/** What a token of one identity carries, apart from the times; `key` names it in the cache. */
interface Content {
  sub: string;
  claims: Readonly<Record<string, unknown>>;
  key: string;
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
    const clock = deps.clock;
    const protectedHeader = { alg: config.alg, typ: 'JWT', ...(config.kid ? { kid: config.kid } : {}) };
    // Header values by content key: bounded, each until its refresh time, one signing in
    // flight per key however many requests wait for it.
    const tokens = new VerifiedCache<string>(config.cacheSize, clock);
    // Identity objects are immutable, so their content key is computed once per object.
    const contents = new WeakMap<Identity, Content>();

    const contentOf = (identity: Identity): Content => {
      let c = contents.get(identity);
      if (c !== undefined) return c;
      const claims: Record<string, unknown> = { scope: identity.scopeHeader || undefined, tenant: identity.tenant, tier: identity.tier };
      if (identity.anonymous) claims.anonymous = true;
      for (const name of config.copyClaims) if (identity.claims?.[name] !== undefined) claims[name] = identity.claims[name];
      for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
      // The key is everything the token says but its times: equal keys, equal tokens. Claim
      // order only matters for hits (the same claims in another order are signed apart).
      c = { sub: identity.id, claims, key: tokens.key(JSON.stringify([identity.id, claims])) };
      contents.set(identity, c);
      return c;
    };

    const mint = async (c: Content): Promise<Loaded<string, string>> => {
      const now = Math.floor(clock.now() / 1000);
      const jwt = new SignJWT({ ...c.claims }).setProtectedHeader(protectedHeader).setIssuer(config.issuer).setSubject(c.sub).setIssuedAt(now).setExpirationTime(now + ttlSec);
      if (config.audience !== undefined) jwt.setAudience(config.audience);
      const signed = await jwt.sign(key);
      const value = bearer ? `Bearer ${signed}` : signed;
      return { result: value, cache: { value, until: (now + ttlSec / 2) * 1000 } };
    };

    return {
      request: function internalToken(ctx: RequestContext) {
        const identity = ctx.consumer as Identity | undefined;
        if (identity === undefined) {
          ctx.removeRequestHeader(header);
          return undefined;
        }
        const c = contentOf(identity);
        const value = tokens.get(c.key);
        if (value !== undefined) {
          ctx.setRequestHeader(header, value);
          return undefined;
        }
        return tokens.load(c.key, () => mint(c)).then((v) => {
          ctx.setRequestHeader(header, v);
          return undefined;
        });
      },
    };
  },
});
