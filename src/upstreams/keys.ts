import type { RequestContext } from '../pipeline/context.js';

/**
 * The value of one cookie in a `Cookie` header (RFC 6265 §5.4: `name=value` pairs
 * separated by `; `), without building a map of every cookie. Quotes around the value
 * are removed (§4.1.1 allows a quoted cookie-value).
 *
 * @example
 *   getCookie('a=1; gantry-sticky=3f2a', 'gantry-sticky') // '3f2a'
 */
export function getCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let i = 0;
  while (i < header.length) {
    while (header.charCodeAt(i) === 32 || header.charCodeAt(i) === 59) i++; // ' ' and ';'
    const eq = header.indexOf('=', i);
    if (eq < 0) return undefined;
    let end = header.indexOf(';', eq);
    if (end < 0) end = header.length;
    if (eq - i === name.length && header.startsWith(name, i)) {
      let v = header.slice(eq + 1, end).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      return v;
    }
    i = end + 1;
  }
  return undefined;
}

/** Extracts a request's balancing key; undefined when the request has none. */
export type KeyOf = (ctx: RequestContext) => string | undefined;

/**
 * Compiles `hashOn: ip | path | header:NAME | cookie:NAME` once at load.
 *
 * @example
 *   const key = compileHashOn('header:x-user'); key(ctx) // the x-user header value
 */
export function compileHashOn(spec: string): KeyOf {
  if (spec === 'ip') return (ctx) => ctx.clientIp || undefined;
  if (spec === 'path') return (ctx) => ctx.path;
  const colon = spec.indexOf(':');
  const kind = spec.slice(0, colon);
  const name = spec.slice(colon + 1);
  if (kind === 'header') {
    const lower = name.toLowerCase();
    return (ctx) => ctx.header(lower) || undefined;
  }
  if (kind === 'cookie') return (ctx) => getCookie(ctx.header('cookie'), name) || undefined;
  throw new Error(`hashOn: unknown key '${spec}'`);
}
