import type { IncomingHttpHeaders } from 'node:http';
import type { RouteConfig } from '../config/schema.js';
import { compileVersionMatch, type VersionTest } from './version.js';

/**
 * Matchers compiled from a route's `match:` block, once per config load. The path part is
 * served by find-my-way (router.ts); these cover the rest and the slow paths.
 */

type ValueMatch = string | { regex: string } | { present: boolean };

/** Tests one header/query value; `undefined` means absent. */
export type ValueTest = (value: string | undefined) => boolean;

export function compileValueMatch(m: ValueMatch): ValueTest {
  if (typeof m === 'string') return (v) => v === m;
  if ('regex' in m) {
    const re = new RegExp(m.regex);
    return (v) => v !== undefined && re.test(v);
  }
  return m.present ? (v) => v !== undefined : (v) => v === undefined;
}

/** Host matcher: exact (`api.example.com`) or one-label-or-more wildcard (`*.example.com`). */
export interface HostPattern {
  exact?: string;
  /** `.example.com` for `*.example.com`. */
  suffix?: string;
}

export function parseHostPattern(h: string): HostPattern {
  const host = h.toLowerCase();
  return host.startsWith('*.') ? { suffix: host.slice(1) } : { exact: host };
}

/** Lower-cased host of a request without its port (`[::1]:80` → `[::1]`). */
export function requestHost(headers: IncomingHttpHeaders): string {
  const h = headers.host;
  if (!h) return '';
  const end = h.charCodeAt(0) === 91 /* [ */ ? h.indexOf(']') + 1 : h.indexOf(':');
  return (end > 0 ? h.slice(0, end) : h).toLowerCase();
}

/** Header and query tests of a route, or null when it has none (the common case). */
export interface ExtraMatch {
  headers: [name: string, test: ValueTest][];
  query: [name: string, test: ValueTest][];
  /** `match.version` (routing/version.ts), or null. */
  version: VersionTest | null;
}

export function compileExtraMatch(match: RouteConfig['match']): ExtraMatch | null {
  const headers = Object.entries(match.headers ?? {}).map(([n, m]) => [n.toLowerCase(), compileValueMatch(m)] as [string, ValueTest]);
  const query = Object.entries(match.query ?? {}).map(([n, m]) => [n, compileValueMatch(m)] as [string, ValueTest]);
  const version = match.version === undefined ? null : compileVersionMatch(match.version);
  return headers.length + query.length === 0 && version === null ? null : { headers, query, version };
}

export function testExtra(extra: ExtraMatch, headers: IncomingHttpHeaders, query: () => URLSearchParams, path = ''): boolean {
  if (extra.version !== null && !extra.version(headers, path)) return false;
  for (const [name, test] of extra.headers) {
    const v = headers[name];
    if (!test(Array.isArray(v) ? v.join(', ') : v)) return false;
  }
  if (extra.query.length > 0) {
    const q = query();
    for (const [name, test] of extra.query) if (!test(q.get(name) ?? undefined)) return false;
  }
  return true;
}

/**
 * A regular expression equivalent to a find-my-way path pattern, for the slow paths
 * (priority routes, fallbacks after header/method misses). Returns named params,
 * percent-decoded as find-my-way decodes them, or as sent with `decode` false.
 */
export function compilePathPattern(pattern: string, decode = true): (path: string) => Record<string, string> | null {
  const names: string[] = [];
  let src = '^';
  const prefix = pattern.endsWith('*');
  const body = prefix ? pattern.slice(0, -1) : pattern;
  for (const part of body.split(/(:[A-Za-z0-9_]+)/)) {
    if (part.startsWith(':')) {
      names.push(part.slice(1));
      src += '([^/]+)';
    } else {
      src += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  if (prefix) {
    // `/api/*` matches `/api`, `/api/` and everything below.
    src = src.endsWith('/') ? src.slice(0, -1) + '(?:/(.*))?$' : src + '(.*)$';
    names.push('*');
  } else {
    src += '$';
  }
  const re = new RegExp(src);
  return (path) => {
    const m = re.exec(path);
    if (!m) return null;
    const params: Record<string, string> = {};
    names.forEach((n, i) => {
      params[n] = decode ? safeDecode(m[i + 1] ?? '') : (m[i + 1] ?? '');
    });
    return params;
  };
}

/** A route's path pattern (`/*` when its match names no path), or undefined for a `pathRegex` route. */
export function pathPatternOf(m: RouteConfig['match']): string | undefined {
  return m.pathRegex !== undefined ? undefined : (m.path ?? '/*');
}

/**
 * The rest a trailing `*` of a route's path pattern matched, as sent (normalised, escapes
 * kept); undefined when the pattern has no trailing `*` (a `pathRegex` route included).
 * What `{params.*}` fills in path templates (rewrite, aggregate parts, GraphQL resolvers),
 * as `stripPrefix` forwards it: the decoded param would turn `a%2Fb` into two segments and
 * `..%2F` into a `..` segment (grpc-gateway keeps reserved escapes of a `**` match too).
 *
 * @example compileWildcardRest({ path: '/files/*' })!('/files/a%2Fb/c') // 'a%2Fb/c'
 */
export function compileWildcardRest(m: RouteConfig['match'] | undefined): ((path: string) => string | undefined) | undefined {
  const pattern = m === undefined ? '/*' : pathPatternOf(m);
  if (pattern === undefined || !pattern.endsWith('*')) return undefined;
  const head = pattern.slice(0, -1);
  if (!head.includes(':')) {
    // A literal prefix (the usual `/api/*`): the rest is what follows it, no regular expression
    // per request. As the pattern's own matcher, `/api/*` also matches `/api` (an empty rest).
    const bare = head.endsWith('/') ? head.slice(0, -1) : undefined;
    return (path) => (path.startsWith(head) ? path.slice(head.length) : path === bare ? '' : undefined);
  }
  const match = compilePathPattern(pattern, false);
  return (path) => match(path)?.['*'];
}

/**
 * A `pathRegex` matcher: its named groups become params, percent-decoded as find-my-way
 * decodes `:name` params, so `ctx.params` holds one form whichever way a route matches
 * (header templates, validate, OPA and ABAC read it; rewrite templates encode it again).
 *
 * @example
 *   compilePathRegex('^/f/(?<name>[^/]+)$')('/f/a%20b') // { name: 'a b' }
 */
export function compilePathRegex(source: string): (path: string) => Record<string, string> | null {
  const re = new RegExp(source);
  return function pathRegex(path) {
    const m = re.exec(path);
    if (!m) return null;
    const params: Record<string, string> = {};
    // A group that did not take part in the match is left out.
    for (const [n, v] of Object.entries(m.groups ?? {})) if (v !== undefined) params[n] = safeDecode(v);
    return params;
  };
}

/**
 * The named groups of a `pathRegex`, the params it gives (load-time checks of `{params.X}`
 * templates), or undefined when it does not compile (its own config error). Read from a match
 * of the empty string by the regex or an empty alternative: `groups` holds every named group,
 * matched or not.
 *
 * @example pathRegexGroups('^/u/(?<id>[0-9]+)(?:/(?<tab>[a-z]+))?$') // ['id', 'tab']
 */
export function pathRegexGroups(source: string): string[] | undefined {
  try {
    new RegExp(source);
    return Object.keys(new RegExp(`(?:${source})|`).exec('')!.groups ?? {});
  } catch {
    return undefined;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Sort key: higher is more specific. Static characters count most, then params, then prefix. */
export function specificity(pattern: string | undefined, regex: boolean): number {
  if (regex || pattern === undefined) return 0;
  const prefix = pattern.endsWith('*');
  const params = (pattern.match(/:[A-Za-z0-9_]+/g) ?? []).length;
  const literal = pattern.replace(/:[A-Za-z0-9_]+/g, '').replace(/\*$/, '').length;
  return (prefix ? 1_000_000 : 2_000_000) + literal * 100 - params;
}
