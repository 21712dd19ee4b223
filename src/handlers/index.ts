import type { RouteConfig } from '../config/schema.js';
import type { Handler, HandlerDeps, HandlerFactory } from './handler.js';
import { createProxyHandler } from './proxy/proxy.js';
import { createStaticHandler } from './static/static.js';
import { createUpstreamByTenantHandler } from './upstream-by-tenant/upstream-by-tenant.js';
import { createSplitHandler } from './split/split.js';
import { withMirror } from './split/mirror.js';
import { createAggregateHandler } from './aggregate/aggregate.js';
import { createGraphqlHandler } from './graphql/lazy.js';
import { withWebSocket } from './proxy/websocket.js';
import { createAsyncHandler } from './async/async.js';
import { createBatchHandler } from './batch/batch.js';
import { createGrpcHandler } from './grpc/grpc.js';

/**
 * Route targets by the route key that selects them. A route has exactly one of these keys
 * (checked in config/semantics.ts). Later targets (split, aggregate, graphql, grpc, …)
 * add their key here and their schema to config/schema.ts `Route`.
 */
export const HANDLERS = {
  upstream: createProxyHandler,
  static: createStaticHandler,
  upstreamByTenant: createUpstreamByTenantHandler,
  split: createSplitHandler,
  aggregate: createAggregateHandler,
  async: createAsyncHandler,
  batch: createBatchHandler,
  graphql: createGraphqlHandler,
  grpc: createGrpcHandler,
} as const satisfies Record<string, HandlerFactory>;

export const ROUTE_TARGET_KEYS = Object.keys(HANDLERS) as (keyof typeof HANDLERS)[];

/** Builds the handler of a route (whose config passed validation). */
export function createHandler(route: RouteConfig, deps: HandlerDeps): Handler {
  for (const key of ROUTE_TARGET_KEYS) {
    if (route[key] === undefined) continue;
    return wrapTarget(HANDLERS[key](route, deps), route, deps);
  }
  throw new Error(`route '${route.name}' has no target`);
}

/**
 * A target's handler inside the route-level wrappers (mirror, websocket).
 *
 * @example wrapTarget(createProxyHandler(route, deps), route, deps)
 */
export function wrapTarget(inner: Handler, route: RouteConfig, deps: HandlerDeps): Handler {
  const outer = withWebSocket(withMirror(inner, route, deps), route, deps);
  if (outer === inner) return inner;
  // The wrappers serve the route's own match; what the target holds (extra endpoints,
  // resources released on retirement) stays the target's.
  const { routes, close } = inner;
  return { ...outer, ...(routes !== undefined && { routes }), ...(close !== undefined && { close: () => close.call(inner) }) };
}
