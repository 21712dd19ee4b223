import { randomBytes } from 'node:crypto';
import { definePolicy, type RequestResult } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { isThenable } from '../../pipeline/pipeline.js';
import { metrics } from '../../observability/metrics.js';
import { compileKey } from '../../limits/keys.js';
import { limitReply } from '../../limits/headers.js';
import { storeFailure } from '../../limits/failures.js';
import { compileTenantFrom } from '../../tenancy/tenant.js';
import { schema } from './schema.js';

/** This process's prefix for slot holders in a shared store. */
const INSTANCE = randomBytes(6).toString('base64url');
let holderSeq = 0;

/**
 * `concurrency`: at most `max` requests in flight per key. The slot is taken in the
 * request phase and given back in the log phase, which runs when the response finished
 * or the client went away (abort), so a slot is never kept by a finished request. On the
 * Redis store, a slot of an instance that died frees itself after `hold`.
 *
 * @example
 *   policies:
 *     - concurrency: { max: 10, by: consumer }
 */
export default definePolicy({
  name: 'concurrency',
  description: 'At most `max` requests in flight per key; released on completion or abort.',
  schema,
  create(config, deps) {
    const name = config.name ?? `concurrency-${config.max}`;
    const keyOf = compileKey(config.by, compileTenantFrom(deps.config.tenantFrom));
    const prefix = `cc:${deps.routeName ?? '*'}:${name}:`;
    const { max, hold } = config;
    const { store } = deps;
    const held = Symbol(name);
    const onStoreError = storeFailure(config.onStoreError, name, store.kind, 'concurrency', deps.logger);

    const decide = (ctx: RequestContext, key: string, holder: string, ok: boolean): RequestResult => {
      metrics.rateLimitDecision(ctx.route?.name ?? '', name, ok);
      if (ok) {
        ctx.locals.set(held, [key, holder]);
        // The request may already be gone while the store answered: give the slot back now.
        if (ctx.aborted) release(ctx);
        return undefined;
      }
      return limitReply(ctx, 'GW_ERR_CONCURRENCY_LIMITED', name, `More than ${max} requests in flight ('${name}'); retry shortly.`, 1000);
    };

    const release = (ctx: RequestContext): void => {
      const h = ctx.locals.get(held) as [string, string] | undefined;
      if (h === undefined) return;
      ctx.locals.delete(held);
      store.release(h[0], h[1]);
    };

    return {
      request: function concurrency(ctx) {
        const key = prefix + keyOf(ctx);
        const holder = store.shared ? `${INSTANCE}:${++holderSeq}` : '';
        let r;
        try {
          r = store.acquire(key, holder, max, hold);
        } catch (err) {
          return onStoreError(ctx, err);
        }
        if (!isThenable(r)) return decide(ctx, key, holder, r);
        return r.then(
          (ok) => decide(ctx, key, holder, ok),
          (err: unknown) => onStoreError(ctx, err),
        );
      },
      log: function concurrencyRelease(ctx) {
        release(ctx);
      },
    };
  },
});
