import type { RouteConfig } from '../../config/schema.js';
import type { Handler, HandlerDeps } from '../handler.js';
import type { RequestContext } from '../../pipeline/context.js';
import { ProxyCall, requestBodyOf, upstreamHeadersOf, type ForwardOptions } from '../../proxy/forward.js';
import { compileRewrite } from '../../proxy/rewrite.js';
import { compileLocationRewrite } from '../../proxy/location.js';
import { respondError } from '../../pipeline/respond.js';
import type { Upstream } from '../../upstreams/upstream.js';
import { ClientWriter, Exchange, compose, dispatchAttempt } from '../../proxy/exchange.js';
import { DEADLINE_HEADER } from '../../proxy/interceptors/deadline.js';
import { readBody, replayableLength } from '../../proxy/replay.js';
import { compileResilience } from './resilience.js';

/**
 * `upstream: <name>`: forwards the request to a target of the upstream, streaming both
 * ways. Everything that can be decided from config is decided here, once.
 */
export function createProxyHandler(route: RouteConfig, deps: HandlerDeps): Handler {
  const upstream = deps.upstreams.get(route.upstream!);
  if (!upstream) throw new Error(`unknown upstream '${route.upstream}'`);
  return { description: `upstream ${upstream.name}`, handle: compileUpstreamCall(route, upstream, deps) };
}

/**
 * The route config of a call the gateway makes on a route's behalf to one of its upstreams
 * (an `aggregate:` part, a `graphql:` resolver, an `async:` callback): the route's name,
 * match, priority and access-log setting, with that upstream, no policies of its own and
 * the target's Host; `extra` adds the call's rewrite or timeouts.
 *
 * @example
 *   compileUpstreamCall(subcallConfig(route, 'inventory', { rewrite: { path: '/stock/{params.id}' } }), upstream, deps);
 */
export function subcallConfig(route: RouteConfig, upstream: string, extra: Partial<RouteConfig> = {}): RouteConfig {
  return { name: route.name, match: route.match, priority: route.priority, upstream, preserveHost: false, accessLog: route.accessLog, policies: [], ...extra };
}

/**
 * The function that sends a request of `route` to `upstream` (also used per side by
 * `split:`). A route without resilience settings gets the plain `ProxyCall` path: one
 * object per request, no Promise. Otherwise the interceptors chosen at load wrap one
 * dispatch (see proxy/exchange.ts).
 *
 * @example
 *   const call = compileUpstreamCall(route, upstreams.get('catalog')!, deps);
 *   call(ctx);
 */
export function compileUpstreamCall(route: RouteConfig, upstream: Upstream, deps: HandlerDeps): (ctx: RequestContext) => void {
  const rewrite = compileRewrite(route.rewrite, route.match);
  const opts: ForwardOptions = {
    forwarding: deps.forwarding,
    preserveHost: route.preserveHost ?? false,
    headersTimeout: route.timeouts?.response ?? upstream.timeouts.response,
    bodyTimeout: route.timeouts?.idle ?? upstream.timeouts.idle,
    location: compileLocationRewrite(route.rewrite, deps.forwarding),
  };
  const res = compileResilience(route, upstream, deps);
  if (res.interceptors.length === 0 && res.fallback === undefined) {
    return function proxy(ctx) {
      const target = upstream.pick(ctx, undefined);
      if (target === undefined) {
        respondError(ctx, 'GW_ERR_NO_TARGET', `Upstream '${upstream.name}' has no target available.`);
        return;
      }
      const call = new ProxyCall(ctx, target);
      ctx.cancelable = call;
      call.start(rewrite === null ? ctx.path : rewrite(ctx.path, ctx.params), opts);
    };
  }

  const dispatch = compose(dispatchAttempt, res.interceptors);
  const replayLimit = res.retry?.maxReplayBody ?? -1;
  const retryMethods = res.retry?.methods;
  const budget = res.deadline;
  const start = (ctx: RequestContext, path: string) => {
    const headers = upstreamHeadersOf(ctx, opts);
    const ex = new Exchange(ctx, upstream, path, opts, headers, requestBodyOf(ctx, headers));
    if (budget !== undefined) ex.deadlineAt = ctx.startedAt + clientBudget(ctx, budget);
    ctx.cancelable = ex;
    dispatch(ex, new ClientWriter(ex, res.fallback));
  };
  return function resilientProxy(ctx) {
    const path = (rewrite === null ? ctx.path : rewrite(ctx.path, ctx.params)) + ctx.query;
    // Keep a small body so a retry can send it again; larger or chunked bodies stream once.
    if (replayLimit >= 0 && ctx.body === undefined && (retryMethods!.has(ctx.method) || ctx.req.headers['idempotency-key'] !== undefined) && replayableLength(ctx.req, replayLimit) > 0) {
      readBody(ctx.req, (err, body) => {
        if (err !== undefined || ctx.aborted) return;
        ctx.body = body;
        start(ctx, path);
      });
      return;
    }
    start(ctx, path);
  };
}

/** The route budget, shortened by a budget the caller sent (a client may only ask for less). */
function clientBudget(ctx: RequestContext, budget: number): number {
  const h = ctx.req.headers[DEADLINE_HEADER];
  if (typeof h !== 'string') return budget;
  const n = Number(h);
  return Number.isFinite(n) && n >= 0 ? Math.min(n, budget) : budget;
}
