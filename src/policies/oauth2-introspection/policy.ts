import { Type } from '@sinclair/typebox';
import { Agent, request } from 'undici';
import { definePolicy, type PolicyDeps } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { ConsumerDirectory, type Identity } from '../../consumers/directory.js';
import { Duration, HttpUrl, Size } from '../../config/types.js';
import { anonymousIdentity, authHooks, challenge, commonAuthFields, failures, type AuthFailure, type AuthOutcome, type Authenticator } from '../auth/authenticator.js';
import { AUTH_RESULTS, counters } from '../auth/counters.js';
import { VerifiedCache, type Loaded } from '../auth/verified-cache.js';
import { compileClaim, compileMapping, identityFromClaims } from '../auth/claims.js';
import { bearerToken } from '../auth/bearer.js';

/**
 * `oauth2-introspection`: opaque bearer tokens checked at the authorization server's
 * introspection endpoint (RFC 7662) with the gateway's client credentials. Active tokens
 * are cached until their `exp` (capped by `cacheTtl`), inactive ones for
 * `negativeCacheTtl`; an endpoint that fails or times out answers 503, never 200.
 *
 * @example
 *   - oauth2-introspection: { url: https://as.example.com/introspect, clientId: gateway, clientSecret: "${INTROSPECT_SECRET}" }
 */
export const schema = Type.Object(
  {
    url: HttpUrl({ description: 'Introspection endpoint (RFC 7662 §2).' }),
    clientId: Type.String({ minLength: 1, description: 'The gateway\'s client id at the authorization server.' }),
    clientSecret: Type.String({ minLength: 1, description: 'Its client secret (sent with HTTP Basic, RFC 6749 §2.3.1); use `${ENV}`.' }),
    tokenTypeHint: Type.String({ default: 'access_token', description: '`token_type_hint` sent with each request; empty string omits it.' }),
    audience: Type.Optional(Type.String({ minLength: 1, description: 'When set, the response\'s `aud` must contain it.' })),
    timeout: Duration({ default: '2s', description: 'Time allowed for one introspection call; longer → 503.' }),
    cacheTtl: Duration({ default: '5m', description: 'Longest time an active token is trusted without asking again.' }),
    negativeCacheTtl: Duration({ default: '10s', description: 'How long an inactive token is remembered as inactive; 0 disables.' }),
    cacheSize: Type.Integer({ minimum: 1, default: 10_000, description: 'Introspection results kept (LRU, by SHA-256 of the token).' }),
    consumerClaim: Type.String({ default: 'sub', description: 'Response member naming the consumer; with `sub`, `client_id` is used when there is no `sub`.' }),
    scopesClaim: Type.String({ default: 'scope', description: 'Response member holding scopes.' }),
    tenantClaim: Type.Optional(Type.String({ description: 'Response member holding the tenant.' })),
    tierClaim: Type.Optional(Type.String({ description: 'Response member holding the tier.' })),
    maxTokenLength: Size({ default: '8kb', description: 'Longer tokens are refused without a call.' }),
    hideCredentials: Type.Boolean({ default: false, description: 'Remove the token before forwarding.' }),
    ...commonAuthFields,
  },
  { additionalProperties: false },
);

type Config = typeof schema.static;
type Cached = Identity | AuthFailure;

/** The introspection scheme as an authenticator, for this policy and for `auth: { anyOf }`. */
export function introspectionAuthenticator(config: Config, deps: PolicyDeps): Authenticator {
  const dir = ConsumerDirectory.of(deps.config);
  const c = challenge('Bearer', config.realm);
  const { invalid, unavailable } = failures(challenge('Bearer', config.realm, 'error="invalid_token"'));
  const cache = new VerifiedCache<Cached>(config.cacheSize);
  const mapping = compileMapping(config);
  const fallback = config.consumerClaim === 'sub' ? compileClaim('client_id') : undefined;
  const agent = new Agent({ connections: 32, keepAliveTimeout: 30_000 });
  // RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
  const authorization = `Basic ${Buffer.from(`${encodeURIComponent(config.clientId)}:${encodeURIComponent(config.clientSecret)}`).toString('base64')}`;
  const hint = config.tokenTypeHint ? `&token_type_hint=${encodeURIComponent(config.tokenTypeHint)}` : '';

  const introspect = async (token: string): Promise<Loaded<Cached, AuthOutcome>> => {
    let body: Record<string, unknown>;
    try {
      const res = await request(config.url, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: `token=${encodeURIComponent(token)}${hint}`,
        signal: AbortSignal.timeout(config.timeout),
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        deps.logger.warn({ status: res.statusCode, url: config.url }, 'introspection endpoint refused the request');
        return { result: unavailable };
      }
      body = (await res.body.json()) as Record<string, unknown>;
    } catch (e) {
      deps.logger.warn({ err: e, url: config.url }, 'introspection failed');
      return { result: unavailable };
    }
    const now = Date.now();
    const negative = { result: invalid, cache: config.negativeCacheTtl > 0 ? { value: invalid, until: now + config.negativeCacheTtl } : undefined };
    // RFC 7662 §2.2: anything but `active: true` is an inactive token.
    if (typeof body !== 'object' || body === null || body.active !== true) return negative;
    const exp = typeof body.exp === 'number' ? body.exp * 1000 : Infinity;
    if (exp <= now) return negative;
    if (typeof body.nbf === 'number' && body.nbf * 1000 > now) return negative;
    if (config.audience !== undefined && !audienceMatches(body.aud, config.audience)) return negative;
    let identity = identityFromClaims(body, mapping, dir);
    if (identity === undefined && fallback !== undefined) identity = identityFromClaims(body, { ...mapping, consumer: fallback }, dir);
    if (identity === undefined) return negative;
    return { result: identity, cache: { value: identity, until: Math.min(exp, now + config.cacheTtl) } };
  };

  return {
    challenge: c,
    authenticate: function introspection(ctx: RequestContext) {
      const token = bearerToken(ctx);
      if (token === undefined) return undefined;
      if (token === null || token.length > config.maxTokenLength) return invalid;
      const key = cache.key(token);
      return cache.get(key) ?? cache.load(key, () => introspect(token));
    },
    accepted: config.hideCredentials ? (ctx: RequestContext) => ctx.removeRequestHeader('authorization') : undefined,
    close: () => agent.close(),
  };
}

function audienceMatches(aud: unknown, want: string): boolean {
  return Array.isArray(aud) ? aud.includes(want) : aud === want;
}

export default definePolicy({
  name: 'oauth2-introspection',
  description: 'Authenticates opaque bearer tokens through an OAuth 2.0 introspection endpoint (RFC 7662), with positive and negative caching.',
  schema,
  create(config, deps) {
    return authHooks([introspectionAuthenticator(config, deps)], anonymousIdentity(config.anonymous, deps.config), counters('oauth2-introspection', deps.routeName, AUTH_RESULTS));
  },
});
