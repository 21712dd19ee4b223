import type { ConsumerDirectory, Identity } from '../../consumers/directory.js';
import { makeIdentity } from '../../consumers/directory.js';

/**
 * Token claims → consumer identity, shared by `jwt` and `oauth2-introspection`.
 * Claim names are compiled once: a name is looked up as is first (claim names may be URIs
 * with dots, e.g. `https://example.com/roles`), then as a dotted path (`realm_access.roles`).
 */
export type ClaimGetter = (claims: Readonly<Record<string, unknown>>) => unknown;

/** @example compileClaim('realm_access.roles')({ realm_access: { roles: ['a'] } }) // ['a'] */
export function compileClaim(name: string): ClaimGetter {
  // Own properties only: a claim named `constructor` or `toString` (or a path through
  // `__proto__`) is absent from a token that does not carry it, not Object.prototype's.
  const path = name.split('.');
  if (path.length === 1) return (c) => (hasOwn(c, name) ? c[name] : undefined);
  return (c) => {
    if (hasOwn(c, name)) return c[name];
    let v: unknown = c;
    for (const p of path) {
      if (typeof v !== 'object' || v === null || !hasOwn(v, p)) return undefined;
      v = (v as Record<string, unknown>)[p];
    }
    return v;
  };
}

const hasOwn = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

/** The claim mapping of one issuer, compiled. */
export interface ClaimMapping {
  consumer: ClaimGetter;
  scopes: ClaimGetter;
  tenant: ClaimGetter | undefined;
  tier: ClaimGetter | undefined;
}

export function compileMapping(m: { consumerClaim: string; scopesClaim: string; tenantClaim?: string | undefined; tierClaim?: string | undefined }): ClaimMapping {
  return {
    consumer: compileClaim(m.consumerClaim),
    scopes: compileClaim(m.scopesClaim),
    tenant: m.tenantClaim === undefined ? undefined : compileClaim(m.tenantClaim),
    tier: m.tierClaim === undefined ? undefined : compileClaim(m.tierClaim),
  };
}

/**
 * Builds the identity of a verified token, or undefined when the consumer claim is missing.
 * A configured consumer with the same id lends its tenant and tier, unless the issuer maps
 * them from claims explicitly. Scopes come from the token: it is the credential.
 */
export function identityFromClaims(claims: Record<string, unknown>, m: ClaimMapping, dir: ConsumerDirectory): Identity | undefined {
  const id = asString(m.consumer(claims));
  if (id === undefined || id.length === 0) return undefined;
  const known = dir.byId(id);
  return makeIdentity({
    id,
    tenant: (m.tenant ? asString(m.tenant(claims)) : undefined) ?? known?.tenant,
    tier: (m.tier ? asString(m.tier(claims)) : undefined) ?? known?.tier,
    scopes: asScopes(m.scopes(claims)),
    claims: Object.freeze(claims),
  });
}

/**
 * A lone UTF-16 surrogate (JSON allows `"\ud800"`) has no UTF-8 form, so it could not be sent
 * upstream unambiguously (consumers/identity.ts): such a string counts as absent.
 */
const ILL_FORMED = /\p{Cs}/u;

function asString(v: unknown): string | undefined {
  if (typeof v === 'string') return ILL_FORMED.test(v) ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** `"a b c"` (RFC 6749 §3.3, RFC 8693 §4.2) or `["a", "b"]` → scopes. */
export function asScopes(v: unknown): string[] {
  if (typeof v === 'string') return v.split(' ').filter((s) => s.length > 0 && !ILL_FORMED.test(s));
  if (Array.isArray(v)) return v.filter((s): s is string => typeof s === 'string' && s.length > 0 && !ILL_FORMED.test(s));
  return [];
}
