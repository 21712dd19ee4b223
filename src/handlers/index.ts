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
    const inner = HANDLERS[key](route, deps);
    const outer = withWebSocket(withMirror(inner, route, deps), route, deps);
    return outer === inner || inner.routes === undefined ? outer : { ...outer, routes: inner.routes };
  }
  throw new Error(`route '${route.name}' has no target`);
}
