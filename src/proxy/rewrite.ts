import type { RouteConfig } from '../config/schema.js';
import { compileWildcardRest } from '../routing/matchers.js';

/** Builds the upstream path (without query) from the matched path and params. */
export type PathRewrite = (path: string, params: Record<string, string | undefined>) => string;

/**
 * Compiles a route's `rewrite:` block, applied in this order: `path` template, then
 * `stripPrefix`, `replace`, `addPrefix`. Returns null when the path is forwarded as is.
 * `match` is the route's (its path pattern gives `{params.*}` as sent).
 *
 * @example
 *   compileRewrite({ stripPrefix: '/api/v1' })!('/api/v1/products/7', {}) // '/products/7'
 *   compileRewrite({ path: '/items/{params.id}' })!('/p/7', { id: '7' })  // '/items/7'
 */
export function compileRewrite(rw: RouteConfig['rewrite'], match?: RouteConfig['match']): PathRewrite | null {
  if (!rw) return null;
  const steps: PathRewrite[] = [];
  if (rw.path !== undefined) steps.push(compileTemplate(rw.path, compileWildcardRest(match)));
  if (rw.stripPrefix !== undefined) {
    const prefix = rw.stripPrefix.replace(/\/$/, '');
    steps.push((p) => {
      if (p === prefix) return '/';
      if (p.startsWith(prefix) && p.charCodeAt(prefix.length) === 47) return p.slice(prefix.length);
      return p;
    });
  }
  if (rw.replace !== undefined) {
    const re = new RegExp(rw.replace.pattern);
    const to = rw.replace.with;
    steps.push((p) => {
      const out = p.replace(re, to);
      return out.startsWith('/') ? out : '/' + out;
    });
  }
  if (rw.addPrefix !== undefined) {
    const prefix = rw.addPrefix.replace(/\/$/, '');
    steps.push((p) => (p === '/' ? prefix || '/' : prefix + p));
  }
  if (steps.length === 0) return null;
  if (steps.length === 1) return steps[0]!;
  return (path, params) => {
    let p = path;
    for (const s of steps) p = s(p, params);
    return p;
  };
}

/**
 * `/items/{params.id}/x` → a function of params. Values are percent-encoded as one path
 * segment, so a param cannot inject `/` or `..` into the forwarded path. `{params.*}` is
 * `rest` of the path: what the route's trailing `*` matched, as sent (see
 * `compileWildcardRest`).
 */
function compileTemplate(template: string, rest: ((path: string) => string | undefined) | undefined): PathRewrite {
  const parts = template.split(/(\{params\.[A-Za-z0-9_*]+\})/);
  return (path, params) => {
    let out = '';
    for (const part of parts) {
      if (part.startsWith('{params.')) {
        const name = part.slice(8, -1);
        out += name === '*' ? (rest?.(path) ?? '') : encodeURIComponent(params[name] ?? '');
      } else {
        out += part;
      }
    }
    return out;
  };
}
