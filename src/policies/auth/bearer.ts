import type { RequestContext } from '../../pipeline/context.js';

/**
 * The token of `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme name is
 * case-insensitive, RFC 9110 §11.1). undefined: no bearer credential; null: an empty one.
 *
 * @example bearerToken(ctx) // 'eyJhbGciOi…'
 */
export function bearerToken(ctx: RequestContext, header = 'authorization'): string | undefined | null {
  const v = ctx.req.headers[header];
  if (typeof v !== 'string') return undefined;
  if (v.length < 7 || v.charCodeAt(6) !== 32 || v.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  const token = v.slice(7).trim();
  return token.length === 0 ? null : token;
}
