import FindMyWay from 'find-my-way';
import type { IncomingHttpHeaders } from 'node:http';
import type { CompiledRoute } from './route.js';
import { requestHost, testExtra } from './matchers.js';

/** The outcome of routing one request. */
export type RouteResult =
  | { kind: 'found'; route: CompiledRoute; params: Record<string, string | undefined> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

const NOT_FOUND: RouteResult = { kind: 'not-found' };

/** Routes sharing one find-my-way node, most specific first. */
interface Node {
  candidates: CompiledRoute[];
  /** Param names as registered with find-my-way (the first route's), for remapping. */
  names: string[];
}

/**
 * All routes that may match requests for one host group (an exact host, a wildcard host,
 * or any host). find-my-way answers the common case in one lookup; routes that need more
 * than the path (priority, header/method misses, regex) take the ordered slow path.
 */
class PathTable {
  readonly #fmw = FindMyWay({ ignoreTrailingSlash: false, ignoreDuplicateSlashes: false, caseSensitive: true, maxParamLength: 500 });
  readonly #nodes = new Map<string, Node>();
  /** Every route of the group in match order: priority, specificity, declaration. */
  readonly ordered: CompiledRoute[] = [];
  /** Routes with priority > 0: checked before the tree, so they win over any lower one. */
  #high: CompiledRoute[] = [];
  /** Regex and negative-priority routes: only after everything else. */
  #late: CompiledRoute[] = [];

  add(route: CompiledRoute): void {
    this.ordered.push(route);
    if (route.priority > 0) return;
    if (route.pattern === undefined || route.priority < 0) return;
    const patterns = route.pattern.endsWith('/*') ? [route.pattern, route.pattern.slice(0, -2) || '/'] : [route.pattern];
    for (const p of patterns) {
      const key = p.replace(/:[A-Za-z0-9_]+/g, ':');
      let node = this.#nodes.get(key);
      if (!node) {
        node = { candidates: [], names: (p.match(/:[A-Za-z0-9_]+/g) ?? []).map((s) => s.slice(1)) };
        this.#nodes.set(key, node);
        this.#fmw.on('GET', p, () => undefined, node);
      }
      node.candidates.push(route);
    }
  }

  seal(): void {
    const order = (a: CompiledRoute, b: CompiledRoute) => b.priority - a.priority || b.specificity - a.specificity || a.index - b.index;
    this.ordered.sort(order);
    for (const n of this.#nodes.values()) n.candidates.sort(order);
    this.#high = this.ordered.filter((r) => r.priority > 0);
    this.#late = this.ordered.filter((r) => r.priority < 0 || r.pattern === undefined);
  }

  /** Finds the route; collects allowed methods of path matches into `allow` on a miss. */
  find(method: string, path: string, headers: IncomingHttpHeaders, query: () => URLSearchParams, allow: Set<string>): RouteResult | undefined {
    if (this.#high.length > 0) {
      const r = scan(this.#high, method, path, headers, query, allow);
      if (r) return r;
    }
    const hit = this.#fmw.find('GET', path);
    if (hit) {
      const node = hit.store as Node;
      for (const route of node.candidates) {
        if (route.extra !== null && !testExtra(route.extra, headers, query, path)) continue;
        if (route.methods !== null && !route.methods.has(method)) {
          for (const m of route.methods) allow.add(m);
          continue;
        }
        return { kind: 'found', route, params: remap(hit.params, node.names, route.paramNames) };
      }
      // The most specific path node did not take it: fall back to the ordered list.
      const r = scan(this.ordered, method, path, headers, query, allow, node.candidates);
      if (r) return r;
    }
    return scan(this.#late, method, path, headers, query, allow);
  }
}

function scan(
  routes: readonly CompiledRoute[],
  method: string,
  path: string,
  headers: IncomingHttpHeaders,
  query: () => URLSearchParams,
  allow: Set<string>,
  skip?: readonly CompiledRoute[],
): RouteResult | undefined {
  for (const route of routes) {
    if (skip?.includes(route)) continue;
    const params = route.matchPath(path);
    if (!params) continue;
    if (route.extra !== null && !testExtra(route.extra, headers, query, path)) continue;
    if (route.methods !== null && !route.methods.has(method)) {
      for (const m of route.methods) allow.add(m);
      continue;
    }
    return { kind: 'found', route, params };
  }
  return undefined;
}

function remap(params: Record<string, string | undefined>, registered: string[], own: readonly string[]): Record<string, string | undefined> {
  if (own.length === 0 || registered === own || registered.every((n, i) => n === own[i])) return params;
  const out: Record<string, string | undefined> = { '*': params['*'] };
  registered.forEach((n, i) => {
    out[own[i]!] = params[n];
  });
  return out;
}

function lazyQuery(raw: string): () => URLSearchParams {
  let parsed: URLSearchParams | undefined;
  return () => (parsed ??= new URLSearchParams(raw));
}

const EMPTY_QUERY = new URLSearchParams();
const noQuery = (): URLSearchParams => EMPTY_QUERY;

/**
 * The compiled router of one listener: host groups, each a PathTable. Exact hosts are
 * tried first, then wildcard hosts (longest suffix first), then routes for any host.
 */
export class Router {
  readonly #exact = new Map<string, PathTable>();
  readonly #wildcard: [suffix: string, table: PathTable][] = [];
  readonly #any = new PathTable();
  readonly routes: readonly CompiledRoute[];
  /** Scratch set for 405 answers; `find` is synchronous, so one per router suffices. */
  readonly #allow = new Set<string>();
  readonly #needsQuery: boolean;

  constructor(routes: readonly CompiledRoute[]) {
    this.routes = routes;
    this.#needsQuery = routes.some((r) => r.extra !== null && r.extra.query.length > 0);
    for (const route of routes) {
      if (route.hosts === null) {
        this.#any.add(route);
        continue;
      }
      for (const h of route.hosts) {
        if (h.exact !== undefined) {
          let t = this.#exact.get(h.exact);
          if (!t) this.#exact.set(h.exact, (t = new PathTable()));
          t.add(route);
        } else {
          let entry = this.#wildcard.find(([s]) => s === h.suffix);
          if (!entry) this.#wildcard.push((entry = [h.suffix!, new PathTable()]));
          entry[1].add(route);
        }
      }
    }
    this.#wildcard.sort((a, b) => b[0].length - a[0].length);
    for (const t of this.#exact.values()) t.seal();
    for (const [, t] of this.#wildcard) t.seal();
    this.#any.seal();
  }

  find(method: string, path: string, headers: IncomingHttpHeaders, rawQuery: string): RouteResult {
    const query = this.#needsQuery ? lazyQuery(rawQuery) : noQuery;
    const allow = this.#allow;
    // Only when used: clearing allocates a new table, and for a Set that lives in the old
    // generation V8 allocates it there (old-space garbage per request: more major GCs).
    if (allow.size > 0) allow.clear();
    if (this.#exact.size > 0 || this.#wildcard.length > 0) {
      const host = requestHost(headers);
      const exact = this.#exact.get(host);
      if (exact) {
        const r = exact.find(method, path, headers, query, allow);
        if (r) return r;
      }
      for (const [suffix, table] of this.#wildcard) {
        if (host.length > suffix.length && host.endsWith(suffix)) {
          const r = table.find(method, path, headers, query, allow);
          if (r) return r;
        }
      }
    }
    const r = this.#any.find(method, path, headers, query, allow);
    if (r) return r;
    return allow.size > 0 ? { kind: 'method-not-allowed', allow: [...allow].sort() } : NOT_FOUND;
  }
}
