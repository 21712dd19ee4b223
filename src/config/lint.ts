import safeRegex from 'safe-regex2';
import type { GatewayConfig, RouteConfig } from './schema.js';
import type { ConfigSource } from './source.js';
import { pathPatternOf } from '../routing/matchers.js';

/**
 * Lint: warnings for configs that load but probably do not do what was meant. They never
 * stop a load; `gantry validate` prints them and `gantry diff` uses the shadowing rule.
 *
 *  - a route that can never match (another route takes every request it would match),
 *  - an upstream no route uses,
 *  - `cache` before authentication on a route that authenticates (a cached answer would
 *    skip the credential check),
 *  - a rate limit keyed `by: consumer` (or tenant) on a route without authentication,
 *  - an admin listener bound beyond loopback,
 *  - a route regex that can backtrack catastrophically on a crafted path, header or query
 *    value (`(a+)+$`): the gateway runs it on every request it considers.
 */

/** Policy names that authenticate a consumer. */
export const AUTH_POLICIES: ReadonlySet<string> = new Set(['api-key', 'jwt', 'auth', 'mtls', 'basic-auth', 'oauth2', 'oidc', 'hmac']);
const LIMIT_POLICIES = new Set(['rate-limit', 'quota', 'concurrency']);

/** `route B` is unreachable because of `route A`. */
export interface Shadow {
  shadowed: string;
  by: string;
  index: number;
  why: string;
}

export function lintConfig(config: GatewayConfig, source: ConfigSource): void {
  const routes = Array.isArray(config.routes) ? config.routes : [];
  for (const s of findShadowed(routes)) {
    source.issueAt(['routes', s.index], `route '${s.shadowed}' can never match: route '${s.by}' takes every request it would (${s.why})`, 'warning');
  }
  lintReferences(config, source);
  routes.forEach((r, i) => lintPolicyOrder(config, r, i, source));
  routes.forEach((r, i) => lintRegexes(r, i, source));
  const admin = config.admin;
  if (admin && admin.host !== undefined && !['127.0.0.1', '::1', 'localhost'].includes(admin.host)) {
    source.issueAt(['admin', 'host'], `admin listener binds ${admin.host}, beyond loopback; keep it on a private network`, 'warning');
  }
}

interface Shape {
  name: string;
  index: number;
  priority: number;
  pattern: string | undefined;
  methods: Set<string> | null;
  hosts: string[] | null;
  listeners: string[] | null;
  conditional: boolean;
}

function shapeOf(r: RouteConfig, index: number): Shape {
  const m = r.match ?? {};
  let methods: Set<string> | null = null;
  if (Array.isArray(m.methods)) {
    methods = new Set(m.methods);
    if (methods.has('GET')) methods.add('HEAD');
  }
  return {
    name: r.name,
    index,
    priority: r.priority ?? 0,
    pattern: pathPatternOf(m),
    methods,
    hosts: m.host ? (Array.isArray(m.host) ? m.host : [m.host as unknown as string]) : null,
    listeners: r.listeners ?? null,
    // Same conditions as compileExtraMatch (routing/matchers.ts): such a route may pass requests on.
    conditional: m.version !== undefined || Object.keys(m.headers ?? {}).length > 0 || Object.keys(m.query ?? {}).length > 0,
  };
}

/** Whether every path `b` matches is matched by `a`. */
function pathCovers(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.endsWith('/*')) {
    const base = a.slice(0, -2);
    return base === '' || b === base || b.startsWith(base + '/');
  }
  if (b.endsWith('*')) return false;
  const as = a.split('/');
  const bs = b.split('/');
  if (as.length !== bs.length) return false;
  return as.every((seg, i) => seg.startsWith(':') || (seg === bs[i] && !seg.startsWith(':')));
}

const covers = <T>(a: T[] | Set<T> | null, b: T[] | Set<T> | null) => a === null || (b !== null && [...b].every((x) => (a instanceof Set ? a.has(x) : a.includes(x))));

/**
 * Routes that can never match. A takes all of B's requests when A is tried first
 * (higher priority; or the same path and priority, declared earlier — the router orders
 * routes of one path by priority, specificity, then declaration), A has no header/query
 * condition, and A's path, methods, hosts and listeners include B's. A catch-all `/*`
 * shadows regex routes of no higher priority (regex routes are the last resort).
 */
export function findShadowed(routes: readonly RouteConfig[]): Shadow[] {
  const shapes = routes.filter((r) => r && typeof r === 'object' && typeof r.name === 'string').map((r, i) => shapeOf(r, i));
  const out: Shadow[] = [];
  for (const b of shapes) {
    for (const a of shapes) {
      if (a === b || a.conditional) continue;
      if (!covers(a.methods, b.methods) || !covers(a.hosts, b.hosts) || !covers(a.listeners, b.listeners)) continue;
      let why: string | undefined;
      if (a.pattern !== undefined && b.pattern !== undefined) {
        if (!pathCovers(a.pattern, b.pattern)) continue;
        if (a.priority > b.priority) why = `priority ${a.priority} > ${b.priority}, path ${a.pattern} covers ${b.pattern}`;
        else if (a.priority === b.priority && a.pattern === b.pattern && a.index < b.index) why = `same match, declared first`;
      } else if (b.pattern === undefined && a.pattern === '/*' && a.priority >= b.priority) {
        why = 'catch-all /* is tried before regex routes';
      }
      if (why !== undefined) {
        out.push({ shadowed: b.name, by: a.name, index: b.index, why });
        break;
      }
    }
  }
  return out;
}

function policyNames(list: unknown): string[] {
  return Array.isArray(list) ? list.filter((e) => e && typeof e === 'object').map((e) => Object.keys(e as object)[0]!) : [];
}

function lintPolicyOrder(config: GatewayConfig, r: RouteConfig, i: number, source: ConfigSource): void {
  if (!r || typeof r !== 'object') return;
  const global = policyNames(config.policies);
  const own = policyNames(r.policies);
  const all = [...global, ...own];
  const firstAuth = all.findIndex((n) => AUTH_POLICIES.has(n));
  const at = (k: number) => (k < global.length ? ['policies', k] : ['routes', i, 'policies', k - global.length]);
  const cache = all.indexOf('cache');
  if (cache >= 0 && firstAuth > cache) {
    source.issueAt(at(cache), `route '${r.name}': cache runs before ${all[firstAuth]}, so a cached answer skips authentication; put the auth policy first`, 'warning');
  }
  const entries = [...(Array.isArray(config.policies) ? config.policies : []), ...(Array.isArray(r.policies) ? r.policies : [])];
  entries.forEach((e, k) => {
    const name = Object.keys(e ?? {})[0];
    if (name === undefined || !LIMIT_POLICIES.has(name)) return;
    const by = (e[name] as { by?: unknown } | undefined)?.by;
    const keys = (Array.isArray(by) ? by : [by]).filter((x): x is string => typeof x === 'string');
    const needsIdentity = keys.find((x) => x === 'consumer' || x === 'tenant');
    if (needsIdentity && firstAuth < 0) {
      source.issueAt([...at(k), name, 'by'], `route '${r.name}': ${name} by ${needsIdentity} but the route has no authentication policy, so every request shares one anonymous key`, 'warning');
    }
  });
}

/**
 * Upstreams no route names. (Unknown upstreams, consumers and tiers are load errors, in
 * upstreams/semantics.ts, limits/semantics.ts and the consumer directory.)
 */
function lintReferences(config: GatewayConfig, source: ConfigSource): void {
  const used = new Set<string>();
  for (const r of config.routes ?? []) for (const name of upstreamRefs(r)) used.add(name);
  for (const name of Object.keys(config.upstreams ?? {})) {
    if (!used.has(name)) source.issueAt(['upstreams', name], `upstream '${name}' is not used by any route`, 'warning');
  }
  // An upstream's policies run only on routes whose target is `upstream: <name>`.
  const targeted = new Set((config.routes ?? []).map((r) => r.upstream));
  for (const [name, u] of Object.entries(config.upstreams ?? {})) {
    if (used.has(name) && !targeted.has(name) && (u?.policies?.length ?? 0) > 0) {
      source.issueAt(['upstreams', name, 'policies'], `upstream '${name}' has policies, but no route targets it with 'upstream: ${name}' (split, mirror, fallback, aggregate and the like do not run them)`, 'warning');
    }
  }
}

/** Every upstream a route can send to: target, split sides, mirror, fallback, per-tenant. */
function upstreamRefs(r: RouteConfig): string[] {
  const out: (string | undefined)[] = [r.upstream, r.mirror?.upstream, r.fallback?.upstream, r.async?.upstream, r.async?.callback?.upstream, r.grpc?.upstream];
  const split = r.split;
  if (split) for (const s of Array.isArray(split) ? split : split.to) out.push(s.upstream);
  const byTenant = r.upstreamByTenant;
  if (byTenant) out.push(...Object.values(byTenant.tenants), byTenant.default);
  // Parts of an aggregate and resolvers of a graphql route call upstreams too.
  for (const call of [...Object.values(r.aggregate ?? {}), ...Object.values(r.graphql?.resolvers ?? {})]) out.push(call?.upstream);
  return out.filter((n): n is string => typeof n === 'string');
}

/**
 * Regexes run on what clients send (paths up to `maxUrlLength`, header values up to
 * `maxHeaderSize`), in JavaScript's backtracking engine: a nested quantifier such as
 * `(a+)+$` takes exponential time on a crafted input, and one such request holds the event
 * loop for every other. `safe-regex2` (what find-my-way uses for its own routes) flags
 * patterns whose star height exceeds 1; it can flag a safe one too, so this warns.
 */
function lintRegexes(r: RouteConfig, index: number, source: ConfigSource): void {
  if (r === null || typeof r !== 'object') return;
  const check = (pattern: unknown, path: (string | number)[]): void => {
    if (typeof pattern === 'string' && !safeRegex(pattern)) {
      source.issueAt(['routes', index, ...path], `regex ${JSON.stringify(pattern)} nests repetitions and can backtrack for seconds on a crafted input; write it without a repeated group that repeats (e.g. (a+)+ → a+)`, 'warning');
    }
  };
  const m = r.match;
  if (m !== undefined && m !== null && typeof m === 'object') {
    check(m.pathRegex, ['match', 'pathRegex']);
    for (const kind of ['headers', 'query'] as const) {
      const matchers = m[kind];
      if (matchers === undefined || matchers === null || typeof matchers !== 'object') continue;
      for (const [name, v] of Object.entries(matchers)) {
        if (v !== null && typeof v === 'object' && 'regex' in v) check(v.regex, ['match', kind, name, 'regex']);
      }
    }
  }
  check(r.rewrite?.replace?.pattern, ['rewrite', 'replace', 'pattern']);
}
