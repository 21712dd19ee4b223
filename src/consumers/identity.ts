import type { RequestContext } from '../pipeline/context.js';
import { removeHeader } from '../http/headers.js';
import type { Identity } from './directory.js';

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

/**
 * The identity headers of one consumer, computed once per identity. Values outside
 * printable ASCII are percent-encoded (UTF-8) so that a token's `sub` can never smuggle
 * control characters or undecodable bytes into a header (RFC 9110 §5.5).
 */
export function identityHeaders(id: string, tenant: string | undefined, tier: string | undefined, scopes: string, anonymous: boolean): string[] {
  const out = [IDENTITY_HEADERS.id, headerSafe(id)];
  if (tenant !== undefined) out.push(IDENTITY_HEADERS.tenant, headerSafe(tenant));
  if (tier !== undefined) out.push(IDENTITY_HEADERS.tier, headerSafe(tier));
  if (scopes !== '') out.push(IDENTITY_HEADERS.scopes, headerSafe(scopes));
  if (anonymous) out.push(IDENTITY_HEADERS.anonymous, 'true');
  return out;
}

function headerSafe(v: string): string {
  return /^[\x20-\x7e]*$/.test(v) ? v : encodeURIComponent(v);
}
