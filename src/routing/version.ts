import type { IncomingHttpHeaders } from 'node:http';

/**
 * API version matching for routes (`match.version`). A request names its version in the
 * path (`/v2/…`), in a header (`Accept-Version: 2`) or in a vendor media type
 * (`Accept: application/vnd.acme.v2+json`); a route serving version `2` takes requests
 * for `2` and `2.x`, and — with `default: true` — requests that name no version at all.
 *
 * @example
 *   match: { path: /orders/*, version: "2" }
 *   match: { path: /orders/*, version: { is: "1", sources: [header, media-type], vendor: acme, default: true } }
 */
export type VersionSource = 'path' | 'header' | 'media-type';

export interface VersionMatchConfig {
  is: string;
  sources?: VersionSource[];
  header?: string;
  vendor?: string;
  default?: boolean;
}

/** Tests a request's version; `path` is the normalised request path. */
export type VersionTest = (headers: IncomingHttpHeaders, path: string) => boolean;

const PATH_VERSION = /^\/v(\d+(?:\.\d+)*)(?:\/|$)/;

/** The version a request names, or undefined. Sources are tried in the order given. */
export function compileVersionReader(cfg: VersionMatchConfig): (headers: IncomingHttpHeaders, path: string) => string | undefined {
  const sources = cfg.sources ?? ['path', 'header', 'media-type'];
  const header = (cfg.header ?? 'accept-version').toLowerCase();
  const vendor = cfg.vendor === undefined ? '[a-z0-9][a-z0-9.-]*?' : cfg.vendor.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // RFC 6838 §3.2 vendor tree with a version suffix: application/vnd.acme.v2+json.
  const media = new RegExp(`(?:^|,)\\s*[a-z]+/vnd\\.${vendor}\\.v(\\d+(?:\\.\\d+)*)\\+[a-z0-9.-]+\\s*(?:;|,|$)`, 'i');
  const readers = sources.map((s): ((h: IncomingHttpHeaders, p: string) => string | undefined) => {
    switch (s) {
      case 'path':
        return (_h, p) => PATH_VERSION.exec(p)?.[1];
      case 'header':
        return (h) => {
          const v = h[header];
          const s = Array.isArray(v) ? v[0] : v;
          return s === undefined || s.trim() === '' ? undefined : s.trim().replace(/^v/i, '');
        };
      default:
        return (h) => {
          const accept = h.accept;
          return accept === undefined ? undefined : media.exec(accept)?.[1];
        };
    }
  });
  return (h, p) => {
    for (const r of readers) {
      const v = r(h, p);
      if (v !== undefined) return v;
    }
    return undefined;
  };
}

/** Compiles `match.version` (a string is `{ is: <string> }`). */
export function compileVersionMatch(m: string | VersionMatchConfig): VersionTest {
  const cfg = typeof m === 'string' ? { is: m } : m;
  const is = cfg.is.replace(/^v/i, '');
  const read = compileVersionReader(cfg);
  const fallback = cfg.default === true;
  return (h, p) => {
    const v = read(h, p);
    if (v === undefined) return fallback;
    return v === is || v.startsWith(is + '.');
  };
}

/** The version a route serves (for logs), or undefined. */
export function routeVersion(m: string | VersionMatchConfig | undefined): string | undefined {
  if (m === undefined) return undefined;
  return (typeof m === 'string' ? m : m.is).replace(/^v/i, '');
}
