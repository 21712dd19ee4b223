import type { IncomingMessage } from 'node:http';
import type { RouteConfig } from '../config/schema.js';
import { clientOrigin, type ForwardingOptions } from './headers.js';

/** What the mapper needs of the target a response came from (a `Target`). */
export interface LocationTarget {
  /** `http://host:port`, as WHATWG `URL.origin` writes it. */
  readonly origin: string;
  /** Path prefix of the target URL, '' for none. */
  readonly basePath: string;
}

/** What the mapper needs of the request: its message and the listener's scheme. */
export interface LocationRequest {
  readonly req: IncomingMessage;
  readonly listener: { readonly scheme: string };
}

/** Maps one `Location` / `Content-Location` value of a response of `target` to what the client sees. */
export type LocationRewrite = (value: string, target: LocationTarget, ctx: LocationRequest) => string;

/**
 * Compiles `rewrite.location: true` (nginx `proxy_redirect default`, Apache
 * `ProxyPassReverse`): a redirect or created-resource URL the target wrote in its own path
 * space is mapped back to the route's, by the inverse of the prefix steps — drop the target
 * URL's base path, drop `addPrefix`, put back `stripPrefix`. Two forms are mapped:
 *
 * - a root-relative path (`/x`, not the network-path reference `//x`) stays root-relative;
 * - an absolute URL on the target's own origin keeps absolute form with the scheme and host
 *   the client used, the values sent upstream as X-Forwarded-Proto / X-Forwarded-Host
 *   (root-relative when the request named no usable host).
 *
 * Anything else (another origin, a relative reference, a path outside what the target was
 * sent) passes untouched; query and fragment are kept as written. Plain string work: a
 * malformed value never throws. `path` and `replace` cannot be inverted (the config check
 * refuses them with `location`). Returns undefined when the route does not ask for it, so
 * other routes pay nothing.
 *
 * @example
 *   const map = compileLocationRewrite({ stripPrefix: '/api', location: true }, forwarding)!;
 *   map('/products/1?x=1', { origin: 'http://svc:7001', basePath: '' }, ctx); // '/api/products/1?x=1'
 */
export function compileLocationRewrite(rw: RouteConfig['rewrite'], fw: ForwardingOptions): LocationRewrite | undefined {
  if (rw?.location !== true) return undefined;
  const added = trimSlash(rw.addPrefix);
  const stripped = trimSlash(rw.stripPrefix);
  const mapPath = (path: string, basePath: string): string | undefined => {
    const inTarget = unprefix(path, basePath);
    const inRoute = inTarget === undefined ? undefined : unprefix(inTarget, added);
    return inRoute === undefined ? undefined : stripped + inRoute;
  };
  return function rewriteLocation(value, target, ctx) {
    if (value.charCodeAt(0) === 0x2f /* / */) {
      if (value.charCodeAt(1) === 0x2f) return value; // `//host/x`: another authority (RFC 3986 §4.2)
      const end = pathEnd(value, 0);
      const path = mapPath(value.slice(0, end), target.basePath);
      return path === undefined ? value : path + value.slice(end);
    }
    const start = originEnd(value, target.origin);
    if (start < 0) return value;
    const end = pathEnd(value, start);
    const path = mapPath(end === start ? '/' : value.slice(start, end), target.basePath);
    if (path === undefined) return value;
    return clientOrigin(ctx.req, ctx.listener.scheme, fw) + path + value.slice(end);
  };
}

/** `/api/` → `/api`, `/` → '', none → ''. */
function trimSlash(prefix: string | undefined): string {
  return prefix === undefined ? '' : prefix.replace(/\/+$/, '');
}

/** `path` without `prefix` (a whole-segment prefix: `/api` drops from `/api/x`, not from `/apix`), or undefined. */
function unprefix(path: string, prefix: string): string | undefined {
  if (prefix === '') return path;
  if (!path.startsWith(prefix)) return undefined;
  if (path.length === prefix.length) return '/';
  return path.charCodeAt(prefix.length) === 0x2f ? path.slice(prefix.length) : undefined;
}

/** Index where the path that starts at `from` ends: at `?`, `#` or the end (RFC 3986 §3.3). */
function pathEnd(value: string, from: number): number {
  for (let i = from; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x3f /* ? */ || c === 0x23 /* # */) return i;
  }
  return value.length;
}

/**
 * When `value` is an absolute URL on `origin`, the index where its path starts; else -1.
 * Scheme and host compare case-insensitively and a default port equals none (RFC 3986
 * §6.2.2.1, §6.2.3), as `URL.origin` writes the target's; userinfo never matches.
 */
function originEnd(value: string, origin: string): number {
  const sep = value.indexOf('://');
  if (sep <= 0) return -1;
  const scheme = value.slice(0, sep).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return -1;
  const end = pathEnd(value, sep + 3);
  const slash = value.indexOf('/', sep + 3);
  const authEnd = slash >= 0 && slash < end ? slash : end;
  let authority = value.slice(sep + 3, authEnd).toLowerCase();
  const defaultPort = scheme === 'http' ? ':80' : ':443';
  if (authority.endsWith(defaultPort)) authority = authority.slice(0, -defaultPort.length);
  return `${scheme}://${authority}` === origin ? authEnd : -1;
}
