import { definePolicy, type Reply, type RequestResult } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { isThenable } from '../../pipeline/pipeline.js';
import { metrics } from '../../observability/metrics.js';
import type { Decision, LimitSpec, Store } from '../../store/store.js';
import { compileKey } from '../../limits/keys.js';
import { compileSpec, defaultName, tierSpecs, windowSeconds, withTier, type LimitFields } from '../../limits/spec.js';
import { emitLimitHeaders, limitReply, policyItem, recordLimit, seconds } from '../../limits/headers.js';
import { leaseRefillFailure, storeFailure } from '../../limits/failures.js';
import { LeaseLimiter } from '../../limits/lease.js';
import { compileTenantFrom } from '../../tenancy/tenant.js';
import { schema } from './schema.js';

/** A limit as served: the spec plus its precomputed header item. */
interface Compiled {
  spec: LimitSpec;
  item: string;
  text: string;
}

/**
 * `rate-limit`: admits at most a limit of units per key (client IP, consumer, tenant, …)
 * with one of four algorithms, on the config's store. Several on one route all apply.
 * Memory store: decided synchronously. Redis: one atomic round trip (`exact`) or a local
 * budget (`lease`). A consumer's tier may replace the limit (top-level `tiers:`).
 *
 * @example
 *   policies:
 *     - rate-limit: { name: per-second, algorithm: gcra, rate: 10/s, burst: 20, by: consumer }
 */
export default definePolicy({
  name: 'rate-limit',
  description: 'Limits requests per key (IP, consumer, tenant, route, header, claim) with fixed/sliding windows, token bucket or GCRA.',
  schema,
  create(config, deps) {
    const fields: LimitFields = { algorithm: config.algorithm, limit: config.limit, window: config.window, rate: config.rate, burst: config.burst };
    const baseSpec = compileSpec(fields);
    const name = config.name ?? defaultName(baseSpec);
    const compile = (spec: LimitSpec): Compiled => ({
      spec,
      item: policyItem(name, spec.burst, windowSeconds(spec)),
      text: spec.algorithm === 'fixed-window' || spec.algorithm === 'sliding-window' ? `${spec.limit} per ${seconds(spec.windowMs)}s` : `${spec.limit} per ${seconds(spec.windowMs)}s, burst ${spec.burst}`,
    });
    const base = compile(baseSpec);
    const byTier = tierSpecs(name, deps.config.tiers, (t) => compile(compileSpec(withTier(fields, t))));
    const keyOf = compileKey(config.by, compileTenantFrom(deps.config.tenantFrom));
    const prefix = `rl:${deps.routeName ?? '*'}:${name}:`;
    const cost = config.cost;
    const headers = config.headers;
    const store: Store = deps.store;
    const lease =
      config.mode === 'lease' && store.shared
        ? new LeaseLimiter(store, config.lease ?? Math.max(1, Math.ceil(baseSpec.burst * 0.02)), config.leaseTtl, leaseRefillFailure(name, store.kind, deps.logger))
        : undefined;
    const onStoreError = storeFailure(config.onStoreError, name, store.kind, 'rate-limit', deps.logger);

    const decide = (ctx: RequestContext, c: Compiled, d: Decision): RequestResult => {
      metrics.rateLimitDecision(ctx.route?.name ?? '', name, d.allowed);
      if (headers) recordLimit(ctx, c.item, name, d.limit, d.remaining, d.resetMs);
      if (d.allowed) return undefined;
      return limitReply(ctx, 'GW_ERR_RATE_LIMITED', name, `Rate limit '${name}' (${c.text}) exceeded; retry in ${Math.max(1, seconds(d.retryAfterMs))} s.`, d.retryAfterMs);
    };

    return {
      request: function rateLimit(ctx) {
        const tier = ctx.consumer?.tier;
        const c = tier === undefined || byTier.size === 0 ? base : (byTier.get(tier) ?? base);
        const key = prefix + keyOf(ctx);
        let r: Decision | Promise<Decision>;
        try {
          r = lease !== undefined ? lease.consume(key, c.spec, cost) : store.consume(key, c.spec, cost);
        } catch (err) {
          return onStoreError(ctx, err);
        }
        if (!isThenable(r)) return decide(ctx, c, r);
        return r.then(
          (d): RequestResult => decide(ctx, c, d),
          (err: unknown): Reply | undefined => onStoreError(ctx, err),
        );
      },
      response: headers ? emitLimitHeaders : undefined,
      close: () => lease?.close(),
    };
  },
});
