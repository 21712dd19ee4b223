import type { RouteConfig } from '../../config/schema.js';
import type { Handler, HandlerDeps } from '../handler.js';
import { createProxyHandler } from '../proxy/proxy.js';
import { respondError } from '../../pipeline/respond.js';
import { compileTenantFrom, tenantOf } from '../../tenancy/tenant.js';

/**
 * `upstreamByTenant:` — dedicated backends per tenant. One proxy handler per upstream is
 * built at load; per request the tenant (consumer's, or `tenantFrom:`) selects it, else
 * `default`. Without a default, a request without a tenant gets 400 and a tenant not
 * listed gets 403.
 */
export function createUpstreamByTenantHandler(route: RouteConfig, deps: HandlerDeps): Handler {
  const cfg = route.upstreamByTenant!;
  const proxies = new Map<string, Handler>();
  const proxyFor = (upstream: string): Handler => {
    let h = proxies.get(upstream);
    if (h === undefined) {
      h = createProxyHandler({ ...route, upstream, upstreamByTenant: undefined }, deps);
      proxies.set(upstream, h);
    }
    return h;
  };
  const byTenant = new Map(Object.entries(cfg.tenants).map(([tenant, upstream]) => [tenant, proxyFor(upstream)]));
  const fallback = cfg.default !== undefined ? proxyFor(cfg.default) : undefined;
  const resolve = compileTenantFrom(deps.config.tenantFrom);
  return {
    description: `upstream by tenant (${[...new Set(Object.values(cfg.tenants))].join(', ')}${cfg.default ? `; default ${cfg.default}` : ''})`,
    handle: function upstreamByTenant(ctx) {
      const tenant = tenantOf(ctx, resolve);
      const h = (tenant !== undefined ? byTenant.get(tenant) : undefined) ?? fallback;
      if (h !== undefined) return h.handle(ctx);
      if (tenant === undefined) respondError(ctx, 'GW_ERR_TENANT_REQUIRED', 'This route needs a tenant and the request has none.');
      else respondError(ctx, 'GW_ERR_TENANT_UNKNOWN', `No upstream serves tenant '${tenant}' on this route.`);
    },
  };
}
