import type { RouteConfig } from '../../config/schema.js';
import type { Handler, HandlerDeps } from '../handler.js';
import { ProxyCall, type ForwardOptions } from '../../proxy/forward.js';
import { compileRewrite } from '../../proxy/rewrite.js';
import { respondError } from '../../pipeline/respond.js';

/**
 * `upstream: <name>`: forwards the request to a target of the upstream, streaming both
 * ways. Everything that can be decided from config is decided here, once.
 */
export function createProxyHandler(route: RouteConfig, deps: HandlerDeps): Handler {
  const upstream = deps.upstreams.get(route.upstream!);
  if (!upstream) throw new Error(`unknown upstream '${route.upstream}'`);
  const rewrite = compileRewrite(route.rewrite);
  const opts: ForwardOptions = {
    forwarding: deps.forwarding,
    preserveHost: route.preserveHost ?? false,
    headersTimeout: route.timeouts?.response,
    bodyTimeout: route.timeouts?.idle,
  };
  return {
    description: `upstream ${upstream.name}`,
    handle: function proxy(ctx) {
      const target = upstream.pick(ctx, undefined);
      if (target === undefined) {
        respondError(ctx, 'GW_ERR_NO_TARGET', `Upstream '${upstream.name}' has no target available.`);
        return;
      }
      const call = new ProxyCall(ctx, target);
      ctx.cancelable = call;
      call.start(rewrite === null ? ctx.path : rewrite(ctx.path, ctx.params), opts);
    },
  };
}
