import type { RequestContext } from '../pipeline/context.js';
import { removeHeader, setHeader } from '../http/headers.js';
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
  ctx.consumer = identity;
  ctx.tenant = identity.tenant;
  const h = ctx.upstreamHeaders;
  setHeader(h, IDENTITY_HEADERS.id, identity.id);
  setOrRemove(h, IDENTITY_HEADERS.tenant, identity.tenant);
  setOrRemove(h, IDENTITY_HEADERS.tier, identity.tier);
  setOrRemove(h, IDENTITY_HEADERS.scopes, identity.scopeHeader || undefined);
  setOrRemove(h, IDENTITY_HEADERS.anonymous, identity.anonymous ? 'true' : undefined);
}

function setOrRemove(h: string[], name: string, value: string | undefined): void {
  if (value === undefined) removeHeader(h, name);
  else setHeader(h, name, value);
}
