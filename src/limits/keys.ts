import { createHash } from 'node:crypto';
import type { RequestContext } from '../pipeline/context.js';
import { tenantOf, type TenantResolver } from '../tenancy/tenant.js';

/**
 * Limit keys: `by:` compiled once into a function of the request. Parts:
 * `ip`, `consumer`, `tenant`, `route`, `header:NAME`, `claim:NAME`; a list makes a
 * composite key (`[consumer, route]`). A part the request does not have (no consumer, no
 * such header) falls back to the client IP, so anonymous traffic is limited per client
 * rather than pooled into one shared bucket.
 *
 * @example
 *   const key = compileKey(['consumer', 'header:X-Region'], undefined);
 *   key(ctx); // 'c=acme-mobile|h=eu'
 */
export type KeyFn = (ctx: RequestContext) => string;

/** Matches one `by:` part (schema pattern). */
export const BY_PATTERN = '^(ip|consumer|tenant|route|header:[!#$%&\'*+.^_`|~0-9A-Za-z-]+|claim:[^\\s]+)$';

type Part = (ctx: RequestContext) => string;

/** Longer values (headers, claims) are hashed so keys stay short. */
const MAX_VALUE = 96;

function bounded(v: string): string {
  return v.length <= MAX_VALUE ? v : createHash('sha256').update(v).digest('base64url');
}

function compilePart(part: string, resolveTenant: TenantResolver | undefined): Part {
  switch (part) {
    case 'ip':
      return (ctx) => 'ip=' + ctx.clientIp;
    case 'consumer':
      return (ctx) => (ctx.consumer !== undefined ? 'c=' + ctx.consumer.id : 'ip=' + ctx.clientIp);
    case 'tenant':
      return (ctx) => {
        const t = tenantOf(ctx, resolveTenant);
        return t !== undefined ? 't=' + t : 'ip=' + ctx.clientIp;
      };
    case 'route':
      return (ctx) => 'r=' + (ctx.route?.name ?? '');
  }
  const colon = part.indexOf(':');
  const kind = part.slice(0, colon);
  const name = part.slice(colon + 1);
  if (kind === 'header') {
    const lower = name.toLowerCase();
    return (ctx) => {
      const v = ctx.header(lower);
      return v !== undefined ? 'h=' + bounded(v) : 'ip=' + ctx.clientIp;
    };
  }
  if (kind === 'claim') {
    return (ctx) => {
      const v = ctx.consumer?.claims?.[name];
      if (v === undefined || v === null) return 'ip=' + ctx.clientIp;
      return 'cl=' + bounded(typeof v === 'string' ? v : JSON.stringify(v));
    };
  }
  throw new Error(`unknown key part '${part}'`);
}

/** Compiles `by:` (one part or a list). */
export function compileKey(by: string | readonly string[], resolveTenant: TenantResolver | undefined): KeyFn {
  const parts = (typeof by === 'string' ? [by] : by).map((p) => compilePart(p, resolveTenant));
  if (parts.length === 1) return parts[0]!;
  return (ctx) => {
    let s = parts[0]!(ctx);
    for (let i = 1; i < parts.length; i++) s += '|' + parts[i]!(ctx);
    return s;
  };
}
