import type { RequestContext } from '../pipeline/context.js';
import { removeHeader } from '../http/headers.js';
import type { Identity } from './directory.js';
import { registerHeaderName } from '../proxy/undici-names.js';

/**
 * Identity propagation: what an authenticated request carries upstream. Incoming
 * `X-Consumer-*` / `X-Authenticated-*` headers never reach an upstream (proxy/headers.ts
 * drops them when the upstream header list is built); these are set by the gateway only.
 */
export const IDENTITY_HEADERS = {
  id: 'x-consumer-id',
  tenant: 'x-consumer-tenant',
  tier: 'x-consumer-tier',
  scopes: 'x-authenticated-scopes',
  anonymous: 'x-consumer-anonymous',
} as const;

/**
 * Records the authenticated identity on the request: `ctx.consumer`, `ctx.tenant`, and the
 * identity headers sent upstream.
 *
 * @example setIdentity(ctx, dir.byApiKey(key)!) // upstream sees X-Consumer-Id: acme-mobile
 */
export function setIdentity(ctx: RequestContext, identity: Identity): void {
  const h = ctx.upstreamHeaders;
  // Only an earlier auth policy on this request can have set them (incoming ones are dropped).
  if (ctx.consumer !== undefined) for (const name of ALL) removeHeader(h, name);
  ctx.consumer = identity;
  ctx.tenant = identity.tenant;
  const add = identity.upstreamHeaders;
  for (let i = 0; i < add.length; i++) h.push(add[i]!);
}

const ALL = Object.values(IDENTITY_HEADERS);
for (const name of ALL) registerHeaderName(name);

/**
 * The identity headers of one consumer, computed once per identity. Values are made
 * unambiguous and header-safe by percent-encoding (RFC 3986 §2.1, UTF-8 bytes) every `%`,
 * every character outside printable ASCII, and leading or trailing spaces (which HTTP
 * parsers strip, RFC 9110 §5.5); everything else is sent as is. So a token's `sub` can
 * never smuggle control characters or undecodable bytes into a header, two different
 * values never give the same header, and one percent-decoding (`decodeURIComponent`)
 * upstream restores the value exactly.
 *
 * @example identityHeaders('zoë', 'acme', undefined, 'a%b read', false)
 *   // ['x-consumer-id', 'zo%C3%AB', 'x-consumer-tenant', 'acme', 'x-authenticated-scopes', 'a%25b read']
 */
export function identityHeaders(id: string, tenant: string | undefined, tier: string | undefined, scopes: string, anonymous: boolean): string[] {
  const out = [IDENTITY_HEADERS.id, headerSafe(id)];
  if (tenant !== undefined) out.push(IDENTITY_HEADERS.tenant, headerSafe(tenant));
  if (tier !== undefined) out.push(IDENTITY_HEADERS.tier, headerSafe(tier));
  if (scopes !== '') out.push(IDENTITY_HEADERS.scopes, headerSafe(scopes));
  if (anonymous) out.push(IDENTITY_HEADERS.anonymous, 'true');
  return out;
}

/** Printable ASCII (RFC 9110 §5.5 field-vchar and SP) except `%`, neither starting nor ending with SP. */
const PLAIN = /^(?:[\x21-\x24\x26-\x7e](?:[\x20-\x24\x26-\x7e]*[\x21-\x24\x26-\x7e])?)?$/;
const UNSAFE = /[^\x20-\x24\x26-\x7e]+|^ +| +$/g;
/** A lone UTF-16 surrogate has no UTF-8 form; token strings with one never get here (auth/claims.ts). */
const LONE_SURROGATE = /\p{Cs}/gu;

/**
 * One value, encoded as `identityHeaders` describes.
 *
 * @example headerSafe('%C3%A9') // '%25C3%25A9', while headerSafe('é') is '%C3%A9'
 */
export function headerSafe(v: string): string {
  if (PLAIN.test(v)) return v;
  return v.replace(UNSAFE, (run) => encodeURIComponent(run.replace(LONE_SURROGATE, '\ufffd')));
}
