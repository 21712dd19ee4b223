import { isIP } from 'node:net';
import type { RequestContext } from '../pipeline/context.js';

/**
 * Tenancy: which tenant a request belongs to, resolved once per request into `ctx.tenant`.
 * An authenticated consumer's tenant wins (the auth policies set it); otherwise the
 * top-level `tenantFrom:` says where to read it:
 *
 * - `header:NAME`     a request header (e.g. `header:X-Tenant`)
 * - `host-subdomain`  the first label of a Host with three labels or more (`acme.api.example.com` → `acme`)
 * - `claim:NAME`      a claim of the consumer's verified token (`claim:tid`)
 *
 * Values outside `[A-Za-z0-9._-]{1,64}` are ignored (they end up in store keys, logs and
 * upstream selection), so a request with a malformed tenant has none.
 *
 * @example
 *   const resolve = compileTenantFrom('header:X-Tenant');
 *   resolve?.(ctx); // 'acme' for a request with `X-Tenant: acme`
 */
export type TenantResolver = (ctx: RequestContext) => string | undefined;

/** Matches the forms `tenantFrom:` accepts (used by the config schema). */
export const TENANT_FROM_PATTERN = '^(header:[!#$%&\'*+.^_`|~0-9A-Za-z-]+|claim:[^\\s]+|host-subdomain)$';

const VALID = /^[A-Za-z0-9._-]{1,64}$/;

function valid(v: unknown): string | undefined {
  return typeof v === 'string' && VALID.test(v) ? v : undefined;
}

/** Compiles `tenantFrom:`; undefined when the config has none. */
export function compileTenantFrom(spec: string | undefined): TenantResolver | undefined {
  if (spec === undefined) return undefined;
  if (spec === 'host-subdomain') return hostSubdomain;
  const colon = spec.indexOf(':');
  const kind = spec.slice(0, colon);
  const name = spec.slice(colon + 1);
  if (kind === 'header') {
    const lower = name.toLowerCase();
    return (ctx) => valid(ctx.req.headers[lower]);
  }
  if (kind === 'claim') return (ctx) => valid(ctx.consumer?.claims?.[name]);
  throw new Error(`tenantFrom: unknown source '${spec}'`);
}

function hostSubdomain(ctx: RequestContext): string | undefined {
  const host = ctx.req.headers.host;
  if (host === undefined || host.startsWith('[')) return undefined;
  const colon = host.indexOf(':');
  const name = colon < 0 ? host : host.slice(0, colon);
  if (isIP(name) !== 0) return undefined;
  const dot = name.indexOf('.');
  // At least three labels: `acme.example.com` has a subdomain, `example.com` has none.
  if (dot <= 0 || name.indexOf('.', dot + 1) < 0) return undefined;
  return valid(name.slice(0, dot).toLowerCase());
}

/**
 * The request's tenant: `ctx.tenant` when already known (consumer, or resolved before),
 * else resolved now and remembered.
 */
export function tenantOf(ctx: RequestContext, resolve: TenantResolver | undefined): string | undefined {
  const t = ctx.tenant ?? ctx.consumer?.tenant;
  if (t !== undefined || resolve === undefined) return t;
  const r = resolve(ctx);
  if (r !== undefined) ctx.tenant = r;
  return r;
}
