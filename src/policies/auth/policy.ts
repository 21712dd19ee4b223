import { Type, type TSchema } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import { anonymousIdentity, authHooks, type Authenticator } from './authenticator.js';
import { AUTH_RESULTS, counters } from './counters.js';
import { AUTH_SCHEMES } from './schemes.js';
import { Name } from '../../config/types.js';

/**
 * `auth`: several authentication schemes on one route. They are tried in order and the
 * first that accepts its credential wins; each entry has the schema of the policy it names.
 *
 * @example
 *   - auth:
 *       anyOf:
 *         - jwt: { issuer: https://id.example.com, discovery: true }
 *         - api-key: {}
 *       anonymous: guest
 */
const SchemeEntry = Type.Object(
  Object.fromEntries(
    Object.entries(AUTH_SCHEMES).map(([name, s]) => [name, Type.Optional({ ...s.schema, description: `The \`${name}\` scheme, configured as the \`${name}\` policy.` } as TSchema)]),
  ),
  { additionalProperties: false, minProperties: 1, maxProperties: 1, description: 'One scheme: `- <policy-name>: { …its config }`.' },
);

export const schema = Type.Object(
  {
    anyOf: Type.Array(SchemeEntry, { minItems: 1, description: 'Schemes tried in order; the first that accepts the request\'s credential wins.' }),
    anonymous: Type.Optional(Name({ description: 'Consumer id for requests that carry no credential of any listed scheme. Unset: 401.' })),
  },
  { additionalProperties: false },
);

export default definePolicy({
  name: 'auth',
  description: 'Accepts any of several authentication schemes (anyOf), optionally letting anonymous requests through as a named consumer.',
  schema,
  async create(config, deps) {
    const list: Authenticator[] = await Promise.all(
      config.anyOf.map((entry) => {
        const name = Object.keys(entry)[0]!;
        return AUTH_SCHEMES[name]!.create((entry as Record<string, never>)[name]!, deps);
      }),
    );
    return authHooks(list, anonymousIdentity(config.anonymous, deps.config), counters('auth', deps.routeName, AUTH_RESULTS));
  },
});
