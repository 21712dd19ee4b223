import type { IncomingHttpHeaders } from 'node:http';
import type { Router, RouteResult } from '../../routing/router.js';
import type { CompiledRoute } from '../../routing/route.js';
import type { GatewayConfig } from '../../config/schema.js';

type Found = Extract<RouteResult, { kind: 'found' }>;

/** Per compiled route (one config version): whether a `cors` policy in its pipeline answers preflights. */
const answering = new WeakMap<CompiledRoute, boolean>();

/**
 * The route that answers a CORS preflight the router refused with 405: a route serving
 * `GET` only does not match `OPTIONS`, yet browsers preflight its cross-origin requests.
 * The preflight is routed as the request it announces (Access-Control-Request-Method,
 * Fetch §3.2.2), so the route that will serve that request answers it, when its pipeline
 * (global and upstream policies included) has a `cors` policy that answers preflights. Called on the
 * 405 path only: routing costs nothing more for any other request.
 *
 * @example
 *   if (found.kind === 'method-not-allowed' && ctx.method === 'OPTIONS') found = preflightRoute(router, path, req.headers, ctx.query, rt.config) ?? found;
 */
export function preflightRoute(
  router: Router,
  path: string,
  headers: IncomingHttpHeaders,
  query: string,
  config: GatewayConfig,
): Found | undefined {
  const method = headers['access-control-request-method'];
  if (typeof method !== 'string' || method === 'OPTIONS' || headers.origin === undefined) return undefined;
  const r = router.find(method, path, headers, query);
  if (r.kind !== 'found') return undefined;
  let yes = answering.get(r.route);
  if (yes === undefined) {
    const rc = r.route.config;
    const ofUpstream = rc.upstream === undefined ? [] : (config.upstreams[rc.upstream]?.policies ?? []);
    yes = [...config.policies, ...ofUpstream, ...rc.policies].some(answersPreflights);
    answering.set(r.route, yes);
  }
  return yes ? r : undefined;
}

function answersPreflights(entry: Record<string, unknown>): boolean {
  const cors = entry.cors as { preflight?: unknown } | undefined;
  return cors !== undefined && cors.preflight !== false;
}
