import type { GatewayConfig } from '../../config/schema.js';
import type { ConfigSource } from '../../config/source.js';
import { closest } from '../../config/validate.js';
import { pathRegexGroups } from '../../routing/matchers.js';

/**
 * Checks of `aggregate:` routes a schema cannot express: each part's upstream exists, its
 * path template names only params the route's `match.path` (or `pathRegex`) captures, and route keys that
 * only make sense for a single upstream (`rewrite`, `preserveHost`) are not set. Runs on
 * whatever passed (or partly passed) the schema, so it guards every access.
 */
export function checkAggregates(config: GatewayConfig, source: ConfigSource): void {
  const upstreams = config.upstreams && typeof config.upstreams === 'object' ? config.upstreams : {};
  const names = Object.keys(upstreams);
  const routes = Array.isArray(config.routes) ? config.routes : [];
  routes.forEach((r, i) => {
    if (!r || typeof r !== 'object') return;
    const agg = r.aggregate;
    if (!agg || typeof agg !== 'object' || Array.isArray(agg)) return;
    const at = (...p: (string | number)[]) => ['routes', i, ...p];
    if (r.rewrite !== undefined) source.issueAt(at('rewrite'), 'rewrite does not apply to aggregate routes: each part has its own path');
    if (r.preserveHost === true) source.issueAt(at('preserveHost'), 'preserveHost does not apply to aggregate routes');
    const params = routeParams(r.match);
    for (const [name, part] of Object.entries(agg)) {
      if (!part || typeof part !== 'object') continue;
      const u = part.upstream;
      if (typeof u === 'string' && !Object.hasOwn(upstreams, u)) {
        const hint = closest(u, names);
        source.issueAt(at('aggregate', name, 'upstream'), `unknown upstream '${u}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
      }
      if (typeof part.path === 'string' && params !== undefined) {
        const unknown = unknownParams(part.path, params.names);
        if (unknown.length > 0) source.issueAt(at('aggregate', name, 'path'), notParams(unknown, params));
      }
      if (typeof part.timeout === 'number' && part.timeout <= 0) source.issueAt(at('aggregate', name, 'timeout'), 'timeout must be > 0');
      if (typeof part.maxBodySize === 'number' && part.maxBodySize <= 0) source.issueAt(at('aggregate', name, 'maxBodySize'), 'maxBodySize must be > 0');
    }
  });
}

/** The params a route's match gives templates, and the key that gives them. */
export interface RouteParams {
  names: ReadonlySet<string>;
  from: 'match.path' | 'match.pathRegex';
}

/**
 * Params a route's match captures: `:name` and `*` (a trailing wildcard) of its path pattern
 * (`/*` when it names no path), or the named groups of its `pathRegex`; undefined when unknown
 * (a path or regex that is not a string, a regex that does not compile: their own errors).
 *
 * @example routeParams({ pathRegex: '^/u/(?<id>[0-9]+)$' }) // { names: Set { 'id' }, from: 'match.pathRegex' }
 */
export function routeParams(match: unknown): RouteParams | undefined {
  const m = (match && typeof match === 'object' ? match : {}) as { path?: unknown; pathRegex?: unknown };
  if (m.pathRegex !== undefined) {
    const groups = typeof m.pathRegex === 'string' ? pathRegexGroups(m.pathRegex) : undefined;
    return groups && { names: new Set(groups), from: 'match.pathRegex' };
  }
  const path = m.path ?? '/*';
  if (typeof path !== 'string') return undefined;
  const names = new Set<string>();
  for (const x of path.matchAll(/:([A-Za-z0-9_]+)/g)) names.add(x[1]!);
  if (path.endsWith('*')) names.add('*');
  return { names, from: 'match.path' };
}

/**
 * The error for template placeholders the route does not give, with the params it does.
 *
 * @example notParams(['{params.sku}'], routeParams({ path: '/p/:id' })!) // '{params.sku} is not a param of match.path (the route captures {params.id})'
 */
export function notParams(unknown: readonly string[], params: RouteParams): string {
  const list = [...params.names].map((p) => `{params.${p}}`).join(', ');
  const none = params.from === 'match.path' ? 'the route path captures none' : 'the regex has no named groups: (?<name>…)';
  return `${unknown.join(', ')} ${unknown.length > 1 ? 'are not params' : 'is not a param'} of ${params.from} (${list ? `the route captures ${list}` : none})`;
}

/** Placeholders of a template that are not `{params.X}` with X in `params`. */
function unknownParams(template: string, params: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    const name = /^params\.([A-Za-z0-9_*]+)$/.exec(m[1]!)?.[1];
    if (name === undefined || !params.has(name)) out.push(m[0]);
  }
  return out;
}
