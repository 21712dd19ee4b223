import { Type, type Static } from '@sinclair/typebox';
import { Duration, HttpUrl, OneOrMany, Size } from '../../config/types.js';
import { commonAuthFields } from '../auth/authenticator.js';

/** JWS algorithms the gateway verifies (RFC 7518 §3.1, RFC 8037 §3.1). `none` is never accepted. */
export const ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];
export const ASYMMETRIC: readonly Algorithm[] = ALGORITHMS.filter((a) => !a.startsWith('HS'));
export const SYMMETRIC: readonly Algorithm[] = ['HS256', 'HS384', 'HS512'];

const Jwk = Type.Object(
  { kty: Type.String({ description: 'Key type: RSA, EC, OKP or oct.' }) },
  { additionalProperties: true, description: 'A public JWK (RFC 7517); give `kid` when several keys share an algorithm.' },
);

/** Fields of one trusted issuer. */
export const issuerFields = {
  issuer: Type.Optional(Type.String({ minLength: 1, description: 'Expected `iss` (exact match). Required for discovery and when several issuers share a route.' })),
  audience: Type.Optional(OneOrMany(Type.String({ minLength: 1 }), { description: 'Accepted `aud` value(s); the token must name one of them.' })),
  jwksUrl: Type.Optional(HttpUrl({ description: 'JWKS endpoint: cached, refetched on an unknown `kid` at most once per `jwksCooldown`.' })),
  discovery: Type.Boolean({ default: false, description: 'Find the JWKS through OIDC discovery: `<issuer>/.well-known/openid-configuration` → `jwks_uri`.' }),
  keys: Type.Optional(
    Type.Array(Type.Union([Type.String({ pattern: '-----BEGIN ', description: 'PEM public key (SPKI) or X.509 certificate.' }), Jwk]), {
      minItems: 1,
      description: 'Inline verification keys: PEM strings or public JWKs.',
    }),
  ),
  secret: Type.Optional(Type.String({ minLength: 32, description: 'Shared secret for HS256/384/512 (at least 32 bytes, RFC 7518 §3.2); use `${ENV}`.' })),
  algorithms: Type.Optional(
    Type.Array(Type.Union(ALGORITHMS.map((a) => Type.Literal(a))), {
      minItems: 1,
      description: 'Accepted `alg` values. Default: HS* with `secret`, every asymmetric algorithm otherwise (a key only ever verifies its own type).',
    }),
  ),
  clockSkew: Duration({ default: '30s', description: 'Tolerance on `exp` and `nbf`.' }),
  requireExp: Type.Boolean({ default: true, description: 'Refuse tokens without `exp`.' }),
  requiredClaims: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Claims that must be present.' }),
  claims: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Array(Type.Union([Type.String(), Type.Number()]))]), {
    default: {},
    description: 'Claims that must have a given value (a list: one of these values; an array claim: contains it).',
  }),
  consumerClaim: Type.String({ default: 'sub', description: 'Claim naming the consumer (X-Consumer-Id). Dotted paths reach into objects.' }),
  scopesClaim: Type.String({ default: 'scope', description: 'Claim holding scopes or roles: a space-separated string or an array (e.g. `realm_access.roles`).' }),
  tenantClaim: Type.Optional(Type.String({ description: 'Claim holding the tenant; default: the tenant of the consumer with that id, if configured.' })),
  tierClaim: Type.Optional(Type.String({ description: 'Claim holding the tier; default: the tier of the consumer with that id, if configured.' })),
  jwksCooldown: Duration({ default: '30s', description: 'Least time between two JWKS fetches caused by unknown `kid`s (so forged kids cannot hammer the IdP).' }),
  jwksMaxAge: Duration({ default: '10m', description: 'How long fetched keys are used before a refetch.' }),
  timeout: Duration({ default: '5s', description: 'Timeout of JWKS and discovery fetches; a timeout answers 503.' }),
};

export const Issuer = Type.Object(issuerFields, { additionalProperties: false, description: 'A trusted token issuer.' });

export const schema = Type.Object(
  {
    ...issuerFields,
    issuers: Type.Optional(Type.Array(Issuer, { minItems: 1, description: 'Several trusted issuers; a token is checked against the one its `iss` names.' })),
    header: Type.String({ default: 'Authorization', description: 'Header carrying the token; for Authorization the `Bearer` scheme is required (RFC 6750 §2.1).' }),
    maxTokenLength: Size({ default: '8kb', description: 'Longer tokens are refused before any parsing.' }),
    cacheSize: Type.Integer({ minimum: 0, default: 10_000, description: 'Verified tokens kept (LRU, by SHA-256 of the token) until their `exp`; 0 disables.' }),
    cacheTtl: Duration({ default: '5m', description: 'Longest time a verified token is trusted without verifying it again (bounds key revocation).' }),
    hideCredentials: Type.Boolean({ default: false, description: 'Remove the token before forwarding (default: upstreams receive the original token).' }),
    ...commonAuthFields,
  },
  { additionalProperties: false },
);

export type JwtConfig = Static<typeof schema>;
export type IssuerConfig = Static<typeof Issuer>;

/** Names of the single-issuer fields (they may not be mixed with `issuers`). */
export const ISSUER_KEYS = Object.keys(issuerFields);
