import { pathRegexGroups } from '../routing/matchers.js';

/**
 * Load-time checks of the `{params.X}` placeholders in a route's templates (`rewrite.path`,
 * aggregate part paths, GraphQL resolver paths): each must name a param the route's match
 * captures, or it would render empty on every request.
 */

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

/**
 * Placeholders of a `{params.X}` template (rewrite and aggregate paths) that are not
 * `{params.X}` with X in `params`.
 */
export function unknownParams(template: string, params: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    const name = /^params\.([A-Za-z0-9_*]+)$/.exec(m[1]!)?.[1];
    if (name === undefined || !params.has(name)) out.push(m[0]);
  }
  return out;
}
