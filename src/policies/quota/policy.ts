import { definePolicy, type RequestResult } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { isThenable } from '../../pipeline/pipeline.js';
import { metrics } from '../../observability/metrics.js';
import type { CounterResult } from '../../store/store.js';
import { compileKey } from '../../limits/keys.js';
import { periodOf, type PeriodSpan } from '../../limits/calendar.js';
import { tierSpecs } from '../../limits/spec.js';
import { emitLimitHeaders, limitReply, policyItem, recordLimit } from '../../limits/headers.js';
import { storeFailure } from '../../limits/failures.js';
import { compileTenantFrom } from '../../tenancy/tenant.js';
import { schema } from './schema.js';

/** Kept past the period end so instances with slightly late clocks still find the counter. */
const GRACE_MS = 60_000;

/**
 * `quota`: units per calendar period (hour, day, week, month; UTC) per key, with the
 * reset time in the headers and the 429 body. The period id is part of the store key, so
 * every instance starts the new period at the boundary; the clock is injectable (tests).
 * A consumer's tier may replace the limit.
 *
 * @example
 *   policies:
 *     - quota: { name: monthly, limit: 100000, period: month, by: consumer }
 */
export default definePolicy({
  name: 'quota',
  description: 'Units per calendar period (hour/day/week/month, UTC) per key, with the reset time.',
  schema,
  create(config, deps) {
    const name = config.name;
    const byTier = tierSpecs(name, deps.config.tiers, (t) => t.limit!); // a quota's tier limit has `limit` (checked at load)
    const keyOf = compileKey(config.by, compileTenantFrom(deps.config.tenantFrom));
    const prefix = `q:${deps.routeName ?? '*'}:${name}:`;
    const { cost, period, headers } = config;
    const { store, clock } = deps;
    const onStoreError = storeFailure(config.onStoreError, name, store.kind, 'quota', deps.logger);

    const decide = (ctx: RequestContext, limit: number, span: PeriodSpan, now: number, r: CounterResult): RequestResult => {
      metrics.rateLimitDecision(ctx.route?.name ?? '', name, r.allowed);
      const resetMs = span.end - now;
      if (headers) recordLimit(ctx, policyItem(name, limit, Math.round((span.end - span.start) / 1000)), name, limit, limit - r.count, resetMs);
      if (r.allowed) return undefined;
      const resetAt = new Date(span.end).toISOString();
      return limitReply(ctx, 'GW_ERR_QUOTA_EXCEEDED', name, `Quota '${name}' (${limit} per ${period}) is used up; it resets at ${resetAt}.`, resetMs, { resetAt });
    };

    return {
      request: function quota(ctx) {
        const tier = ctx.consumer?.tier;
        const limit = tier === undefined ? config.limit : (byTier.get(tier) ?? config.limit);
        const now = clock.now();
        const span = periodOf(period, now);
        let r;
        try {
          r = store.count(`${prefix}${keyOf(ctx)}:${span.id}`, cost, limit, span.end - now + GRACE_MS);
        } catch (err) {
          return onStoreError(ctx, err);
        }
        if (!isThenable(r)) return decide(ctx, limit, span, now, r);
        return r.then(
          (v) => decide(ctx, limit, span, now, v),
          (err: unknown) => onStoreError(ctx, err),
        );
      },
      response: headers ? emitLimitHeaders : undefined,
    };
  },
});
