import type { RequestContext } from '../../pipeline/context.js';
import type { CacheKeyConfig } from './schema.js';

/**
 * Cache keys. A key starts with the request path and query, so purging by prefix reads
 * like a path (`/api/products/`); the optional parts follow, each after a `#` (a fragment
 * never reaches a server, so `#` cannot occur in a request target):
 *
 *     /api/products?page=2#host=api.example.com#consumer=acme#h:accept-language=en
 *
 * Variants selected by the response's `Vary` (RFC 9111 §4.1) are stored under the primary
 * key plus `#vary=…`.
 */
export type KeyFn = (ctx: RequestContext) => string;

/** Compiles the key function of a cache policy. */
export function compileKey(cfg: CacheKeyConfig): KeyFn {
  const query = queryPart(cfg);
  const headers = cfg.headers.map((h) => h.toLowerCase());
  const { host, consumer } = cfg;
  if (!host && !consumer && headers.length === 0) return (ctx) => ctx.path + query(ctx.query);
  return function cacheKey(ctx) {
    let k = ctx.path + query(ctx.query);
    if (host) k += '#host=' + (ctx.req.headers.host ?? '').toLowerCase();
    if (consumer) k += '#consumer=' + (ctx.consumer?.id ?? '');
    for (let i = 0; i < headers.length; i++) k += '#h:' + headers[i] + '=' + (ctx.header(headers[i]!) ?? '');
    return k;
  };
}

function queryPart(cfg: CacheKeyConfig): (raw: string) => string {
  if (cfg.ignoreQuery) return () => '';
  const only = cfg.query;
  if (only === undefined) return (raw) => raw;
  const names = [...only].sort();
  return (raw) => {
    if (raw === '') return '';
    const q = new URLSearchParams(raw);
    const out = new URLSearchParams();
    for (const n of names) for (const v of q.getAll(n)) out.append(n, v);
    const s = out.toString();
    return s === '' ? '' : '?' + s;
  };
}

/** The variant suffix for a response that varies on `fields` (lower case), from the request headers. */
export function variantKey(primary: string, fields: readonly string[], headers: Record<string, string | string[] | undefined>): string {
  let k = primary + '#vary';
  for (const f of fields) {
    const v = headers[f];
    k += '|' + f + '=' + (Array.isArray(v) ? v.join(', ') : (v ?? ''));
  }
  return k;
}
