import { Type } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { ConsumerDirectory } from '../../consumers/directory.js';
import { anonymousIdentity, authHooks, challenge, commonAuthFields, failures, type Authenticator } from '../auth/authenticator.js';
import { AUTH_RESULTS, counters } from '../auth/counters.js';
import { queryParam, withoutQueryParam } from '../auth/query.js';

/**
 * `api-key`: identifies the consumer by an API key sent in a header (default `X-API-Key`)
 * or, when configured, a query parameter. Keys are looked up by SHA-256 digest in a map
 * compiled from `consumers[].apiKeys` at load.
 *
 * @example
 *   - api-key: { header: X-API-Key, query: api_key }
 */
export const schema = Type.Object(
  {
    header: Type.String({ default: 'X-API-Key', pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', description: 'Request header carrying the key.' }),
    query: Type.Optional(
      Type.String({ minLength: 1, description: 'Query parameter carrying the key, tried when the header is absent. Unset: keys in URLs are refused (they end up in logs).' }),
    ),
    hideCredentials: Type.Boolean({ default: true, description: 'Remove the key from the request before it is forwarded upstream.' }),
    ...commonAuthFields,
  },
  { additionalProperties: false },
);

/** Longest key considered; anything longer cannot be one of ours (keys are hashed, not stored). */
const MAX_KEY_LENGTH = 512;

/** The api-key scheme as an authenticator, for this policy and for `auth: { anyOf }`. */
export function apiKeyAuthenticator(config: typeof schema.static, dir: ConsumerDirectory): Authenticator {
  const header = config.header.toLowerCase();
  const query = config.query;
  const c = challenge('ApiKey', config.realm);
  const { invalid } = failures(c);
  return {
    challenge: c,
    authenticate: function apiKey(ctx: RequestContext) {
      let key = ctx.req.headers[header] as string | undefined;
      if (key === undefined && query !== undefined && ctx.query.length > 1) key = queryParam(ctx.query, query);
      if (key === undefined) return undefined;
      if (key.length === 0 || key.length > MAX_KEY_LENGTH) return invalid;
      return dir.byApiKey(key) ?? invalid;
    },
    accepted: config.hideCredentials
      ? function hideApiKey(ctx: RequestContext) {
          ctx.removeRequestHeader(header);
          if (query !== undefined && ctx.query.length > 1) ctx.query = withoutQueryParam(ctx.query, query);
        }
      : undefined,
  };
}

export default definePolicy({
  name: 'api-key',
  description: 'Authenticates consumers by API key (header or query parameter), keys stored as SHA-256 digests.',
  schema,
  create(config, deps) {
    const dir = ConsumerDirectory.of(deps.config);
    return authHooks([apiKeyAuthenticator(config, dir)], anonymousIdentity(config.anonymous, deps.config), counters('api-key', deps.routeName, AUTH_RESULTS));
  },
});
