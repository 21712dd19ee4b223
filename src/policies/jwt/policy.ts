import { definePolicy } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { ConsumerDirectory, type Identity } from '../../consumers/directory.js';
import { anonymousIdentity, authHooks, challenge, failures, type AuthOutcome, type Authenticator } from '../auth/authenticator.js';
import { AUTH_RESULTS, counters } from '../auth/counters.js';
import { VerifiedCache, type Loaded } from '../auth/verified-cache.js';
import { bearerToken } from '../auth/bearer.js';
import { schema, ISSUER_KEYS, type JwtConfig, type IssuerConfig } from './schema.js';
import type { PolicyDeps } from '../../pipeline/policy.js';

/**
 * `jwt`: bearer JWTs (RFC 7519, RFC 6750) verified with jose against inline keys, a JWKS
 * URL or OIDC discovery, one issuer or several. Verified tokens are cached by hash until
 * `exp` (bounded LRU), so a token seen before is accepted synchronously.
 *
 * @example
 *   - jwt: { issuer: https://id.example.com, audience: orders-api, discovery: true, scopesClaim: scope }
 */
export { schema };

/** The jwt scheme as an authenticator, for this policy and for `auth: { anyOf }`. */
export async function jwtAuthenticator(config: JwtConfig, deps: PolicyDeps): Promise<Authenticator> {
  // jose is loaded by the first config that verifies tokens, not by every gateway process.
  const { JwtVerifier } = await import('./verifier.js');
  const issuers: IssuerConfig[] = config.issuers ?? [pickIssuerFields(config)];
  const verifier = new JwtVerifier(issuers, ConsumerDirectory.of(deps.config), deps.logger);
  const header = config.header.toLowerCase();
  const bearer = header === 'authorization';
  const maxLength = config.maxTokenLength;
  const cache = new VerifiedCache<Identity>(config.cacheSize);
  const cacheTtl = config.cacheTtl;
  const c = challenge('Bearer', config.realm);
  // RFC 6750 §3.1: invalid_token for expired, revoked, malformed or otherwise invalid tokens.
  const { invalid, unavailable } = failures(challenge('Bearer', config.realm, 'error="invalid_token"'));

  const verify = async (token: string): Promise<Loaded<Identity, AuthOutcome>> => {
    let v;
    try {
      v = await verifier.verify(token);
    } catch (e) {
      deps.logger.error({ err: e }, 'token verification failed');
      return { result: unavailable };
    }
    if (v === 'invalid') return { result: invalid };
    if (v === 'unavailable') return { result: unavailable };
    return { result: v.identity, cache: { value: v.identity, until: Math.min(v.until, Date.now() + cacheTtl) } };
  };

  return {
    challenge: c,
    authenticate: function jwt(ctx: RequestContext) {
      const token = extractToken(ctx, header, bearer);
      if (token === undefined) return undefined;
      if (token === null || token.length > maxLength) return invalid;
      const key = cache.key(token);
      return cache.get(key) ?? cache.load(key, () => verify(token));
    },
    accepted: config.hideCredentials ? (ctx: RequestContext) => ctx.removeRequestHeader(header) : undefined,
  };
}

/**
 * The token from `Authorization: Bearer <token>` (scheme case-insensitive, RFC 9110 §11.1),
 * or the whole value of a custom header. undefined: no credential; null: a malformed one.
 */
function extractToken(ctx: RequestContext, header: string, bearer: boolean): string | undefined | null {
  if (bearer) return bearerToken(ctx);
  const v = ctx.req.headers[header];
  if (typeof v !== 'string') return undefined;
  return v.length === 0 ? null : v;
}

function pickIssuerFields(config: JwtConfig): IssuerConfig {
  const out: Record<string, unknown> = {};
  for (const k of ISSUER_KEYS) if ((config as Record<string, unknown>)[k] !== undefined) out[k] = (config as Record<string, unknown>)[k];
  return out as IssuerConfig;
}

export default definePolicy({
  name: 'jwt',
  description: 'Authenticates bearer JWTs (inline keys, JWKS or OIDC discovery; several issuers), caching verified tokens until exp.',
  schema,
  async create(config, deps) {
    return authHooks([await jwtAuthenticator(config, deps)], anonymousIdentity(config.anonymous, deps.config), counters('jwt', deps.routeName, AUTH_RESULTS));
  },
});
