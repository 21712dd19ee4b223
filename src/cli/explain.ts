import type { IncomingHttpHeaders } from 'node:http';
import { loadConfig } from '../config/load.js';
import { formatIssue } from '../config/source.js';
import { Server, type GatewayConfig, type RouteConfig } from '../config/schema.js';
import { schemaDefaults } from '../config/validate.js';
import { compileRouteMatch, type CompiledRoute } from '../routing/route.js';
import { preflightRoute } from '../policies/cors/route.js';
import { Router } from '../routing/router.js';
import { requestHost, testExtra } from '../routing/matchers.js';
import { normalizePath, splitTarget } from '../routing/normalize.js';
import { compileRewrite } from '../proxy/rewrite.js';
import { ROUTE_TARGET_KEYS } from '../handlers/index.js';

/** A request to explain: `gantry explain FILE METHOD URL -H 'Name: v'`. */
export interface ExplainRequest {
  method: string;
  /** `/path?q` or an absolute URL (its host becomes the Host header). */
  url: string;
  headers: Record<string, string>;
  listener?: string;
}

/** Why a route took (or did not take) the request. */
export interface RouteCheck {
  route: string;
  reasons: string[];
}

export interface Explanation {
  method: string;
  path: string;
  host: string;
  listener: string;
  matched: (RouteCheck & { params: Record<string, string | undefined>; priority: number }) | null;
  /** 404 or 405 (with the allowed methods) when nothing matched. */
  outcome: string;
  nearMisses: RouteCheck[];
  policies: { name: string; scope: 'global' | 'upstream' | 'route'; config: unknown }[];
  /** Consumers with policies of their own: they join after the policy that identifies the consumer. */
  consumerPolicies: { consumer: string; policies: string[] }[];
  target: string[];
  forwardedPath?: string;
}

/** Compiles the routes of one listener for matching only (no handlers, no pools). */
function compileForListener(config: GatewayConfig, listener: string): CompiledRoute[] {
  return config.routes
    .map((rc, i) => ({ ...compileRouteMatch(rc, i), pipeline: { request: [], response: [], log: [], policies: [] }, handler: { description: '', handle: () => undefined } }))
    .filter((r) => r.listeners === null || r.listeners.includes(listener));
}

/** Every condition of a route against the request, as readable reasons; `ok` when all hold. */
function check(route: CompiledRoute, method: string, path: string, headers: IncomingHttpHeaders, query: string): { ok: boolean; pathOk: boolean; reasons: string[] } {
  const reasons: string[] = [];
  const m = route.config.match;
  const what = route.pattern !== undefined ? `path ${route.pattern}` : `pathRegex ${m.pathRegex}`;
  const pathOk = route.matchPath(path) !== null;
  reasons.push(`${what} ${pathOk ? 'matches' : 'does not match'} ${path}`);
  let ok = pathOk;
  if (route.hosts !== null) {
    const host = requestHost(headers);
    const hit = route.hosts.some((h) => (h.exact !== undefined ? h.exact === host : host.length > h.suffix!.length && host.endsWith(h.suffix!)));
    reasons.push(`host ${(m.host as string[]).join(' | ')} ${hit ? 'matches' : 'does not match'} '${host}'`);
    ok &&= hit;
  }
  if (route.methods !== null) {
    const hit = route.methods.has(method);
    reasons.push(`methods ${[...route.methods].join(', ')} ${hit ? 'include' : 'exclude'} ${method}`);
    ok &&= hit;
  }
  if (route.extra !== null) {
    const hit = testExtra(route.extra, headers, () => new URLSearchParams(query), path);
    const keys = [
      ...(m.version !== undefined ? [`version ${JSON.stringify(m.version)}`] : []),
      ...Object.keys(m.headers ?? {}).map((h) => `header ${h}`),
      ...Object.keys(m.query ?? {}).map((q) => `query ${q}`),
    ];
    reasons.push(`${keys.join(', ')} ${hit ? 'match' : 'do not match'}`);
    ok &&= hit;
  }
  return { ok, pathOk, reasons };
}

function describeTarget(config: GatewayConfig, rc: RouteConfig, forwardedPath: string | undefined): string[] {
  const key = ROUTE_TARGET_KEYS.find((k) => (rc as Record<string, unknown>)[k] !== undefined) ?? '(none)';
  if (key !== 'upstream') return [`${key}: ${JSON.stringify((rc as Record<string, unknown>)[key])}`];
  const u = config.upstreams[rc.upstream!] as Record<string, unknown> & { targets: (string | { url: string; weight?: number })[] };
  const lines = [`upstream ${rc.upstream}`];
  lines.push(`  balancer: ${String(u.balance ?? 'round-robin')}`);
  for (const t of u.targets) lines.push(typeof t === 'string' ? `  target ${t} (weight 1)` : `  target ${t.url} (weight ${t.weight ?? 1})`);
  for (const k of ['retries', 'timeouts', 'circuitBreaker', 'healthCheck'] as const) if (u[k] !== undefined) lines.push(`  ${k}: ${JSON.stringify(u[k])}`);
  if (forwardedPath !== undefined) lines.push(`  forwarded path: ${forwardedPath}`);
  return lines;
}

/**
 * Explains how the gateway would route one request: the matched route and why, the near
 * misses (routes whose path matched but another condition did not, and routes that matched
 * but lost on precedence), the policies that would run in order, and the target.
 *
 * @example
 *   const e = await explain('gateway.yaml', { method: 'GET', url: '/api/v1/products/7', headers: {} });
 *   console.log(formatExplanation(e));
 */
export async function explain(file: string, req: ExplainRequest): Promise<Explanation | { issues: string[] }> {
  const result = await loadConfig(file);
  if (!result.ok) return { issues: result.issues.map(formatIssue) };
  const config = result.loaded.config;
  const listener = req.listener ?? config.listeners[0]!.name;
  if (!config.listeners.some((l) => l.name === listener)) return { issues: [`unknown listener '${listener}'`] };

  let target = req.url;
  const headers: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
  if (/^https?:\/\//i.test(target)) {
    const u = new URL(target);
    headers.host ??= u.host;
    target = u.pathname + u.search;
  }
  headers.host ??= 'localhost';
  const split = splitTarget(target);
  const path = split === null ? null : normalizePath(split[0], (config.server ?? schemaDefaults(Server)).mergeSlashes);
  if (split === null || path === null) return { issues: [`'${req.url}' is not a valid request target (origin-form path)`] };
  const query = split[1];
  const method = req.method.toUpperCase();

  const routes = compileForListener(config, listener);
  const router = new Router(routes);
  let found = router.find(method, path, headers, query);
  // A CORS preflight to a route without OPTIONS goes where the gateway sends it (policies/cors/route.ts).
  const preflight = found.kind === 'method-not-allowed' && method === 'OPTIONS' ? preflightRoute(router, path, headers, query, config) : undefined;
  if (preflight !== undefined) found = preflight;
  const routed = preflight !== undefined ? String(headers['access-control-request-method']) : method;
  const winner = found.kind === 'found' ? found.route : undefined;
  const nearMisses: RouteCheck[] = [];
  for (const r of routes) {
    if (r === winner) continue;
    const c = check(r, routed, path, headers, query);
    if (c.ok) nearMisses.push({ route: r.name, reasons: [...c.reasons, `matches too, but ${winner?.name ?? 'another route'} wins (${precedence(winner, r)})`] });
    else if (c.pathOk) nearMisses.push({ route: r.name, reasons: c.reasons });
  }
  const out: Explanation = {
    method,
    path,
    host: requestHost(headers),
    listener,
    matched: null,
    outcome: found.kind === 'method-not-allowed' ? `405 Method Not Allowed (allow: ${found.allow.join(', ')})` : '404 Not Found',
    nearMisses,
    policies: [],
    consumerPolicies: [],
    target: [],
  };
  if (found.kind !== 'found') return out;
  const rc = found.route.config;
  out.outcome = preflight !== undefined ? `route ${rc.name} (CORS preflight for ${routed}: answered by its cors policy)` : `route ${rc.name}`;
  out.matched = { route: rc.name, params: found.params, priority: found.route.priority, reasons: check(found.route, routed, path, headers, query).reasons };
  const entries = (scope: 'global' | 'upstream' | 'route', list: readonly Record<string, unknown>[]) =>
    list.map((e) => ({ name: Object.keys(e)[0]!, scope, config: Object.values(e)[0] }));
  const upstream = rc.upstream === undefined ? [] : (config.upstreams[rc.upstream]?.policies ?? []);
  out.policies = [...entries('global', config.policies), ...entries('upstream', upstream), ...entries('route', rc.policies ?? [])];
  out.consumerPolicies = config.consumers
    .filter((c) => (c.policies?.length ?? 0) > 0)
    .map((c) => ({ consumer: c.id, policies: c.policies!.map((e) => Object.keys(e)[0]!) }));
  const rewrite = rc.upstream !== undefined ? compileRewrite(rc.rewrite, rc.match) : null;
  if (rc.upstream !== undefined) out.forwardedPath = (rewrite === null ? path : rewrite(path, found.params)) + query;
  out.target = describeTarget(config, rc, out.forwardedPath);
  return out;
}

function precedence(winner: CompiledRoute | undefined, other: CompiledRoute): string {
  if (winner === undefined) return 'precedence';
  if (winner.priority !== other.priority) return `priority ${winner.priority} > ${other.priority}`;
  if (winner.specificity !== other.specificity) return 'more specific path';
  return 'declared first';
}

/** Human-readable explanation, one fact a line. */
export function formatExplanation(e: Explanation): string {
  const lines = [`${e.method} ${e.path} (host '${e.host}', listener ${e.listener})`, `→ ${e.outcome}`];
  if (e.matched) {
    const params = Object.entries(e.matched.params).filter(([, v]) => v !== undefined);
    lines.push('', `matched route: ${e.matched.route}${e.matched.priority ? ` (priority ${e.matched.priority})` : ''}`);
    for (const r of e.matched.reasons) lines.push(`  ✓ ${r}`);
    if (params.length > 0) lines.push(`  params: ${params.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  }
  if (e.nearMisses.length > 0) {
    lines.push('', 'near misses:');
    for (const m of e.nearMisses) {
      lines.push(`  ${m.route}`);
      for (const r of m.reasons) lines.push(`    - ${r}`);
    }
  }
  if (e.matched) {
    lines.push('', 'policies, in order:');
    if (e.policies.length === 0) lines.push('  (none)');
    e.policies.forEach((p, i) => lines.push(`  ${i + 1}. ${p.name} [${p.scope}] ${JSON.stringify(p.config)}`));
    for (const c of e.consumerPolicies) lines.push(`  + for consumer ${c.consumer}, after the policy that identifies it: ${c.policies.join(', ')}`);
    lines.push('', 'target:', ...e.target.map((t) => `  ${t}`));
  }
  return lines.join('\n') + '\n';
}
