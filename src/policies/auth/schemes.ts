import type { TSchema } from '@sinclair/typebox';
import type { PolicyDeps } from '../../pipeline/policy.js';
import { ConsumerDirectory } from '../../consumers/directory.js';
import type { Authenticator } from './authenticator.js';
import { apiKeyAuthenticator, schema as apiKeySchema } from '../api-key/policy.js';
import { jwtAuthenticator, schema as jwtSchema } from '../jwt/policy.js';
import { mtlsAuthenticator, schema as mtlsSchema } from '../mtls/policy.js';
import { basicAuthenticator, schema as basicSchema } from '../basic-auth/policy.js';
import { introspectionAuthenticator, schema as introspectionSchema } from '../oauth2-introspection/policy.js';

/** An authentication scheme usable inside `auth: { anyOf: [...] }`. */
export interface AuthScheme {
  schema: TSchema;
  create(config: never, deps: PolicyDeps): Authenticator | Promise<Authenticator>;
}

/**
 * The schemes `auth: { anyOf }` accepts, by policy name. A registry map: a new scheme is a
 * line here.
 */
export const AUTH_SCHEMES: Record<string, AuthScheme> = {
  'api-key': { schema: apiKeySchema, create: (c: typeof apiKeySchema.static, d) => apiKeyAuthenticator(c, ConsumerDirectory.of(d.config)) },
  jwt: { schema: jwtSchema, create: (c: typeof jwtSchema.static, d) => jwtAuthenticator(c, d) },
  'basic-auth': { schema: basicSchema, create: (c: typeof basicSchema.static, d) => basicAuthenticator(c, ConsumerDirectory.of(d.config)) },
  'oauth2-introspection': { schema: introspectionSchema, create: (c: typeof introspectionSchema.static, d) => introspectionAuthenticator(c, d) },
  mtls: { schema: mtlsSchema, create: (c: typeof mtlsSchema.static, d) => mtlsAuthenticator(c, ConsumerDirectory.of(d.config)) },
};
