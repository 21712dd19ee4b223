import type { Logger } from 'pino';
import type { RequestContext } from '../pipeline/context.js';
import type { Reply } from '../pipeline/policy.js';
import { metrics } from '../observability/metrics.js';
import { ThrottledLog } from '../store/error-log.js';
import { limitReply } from './headers.js';

/**
 * What a limit policy does when its store cannot answer (`onStoreError`): `allow` lets the
 * request through, `deny` answers 503. Either way the failure is counted in metrics
 * (`gantry_store_errors_total`) and logged at most once per interval per policy; the
 * store reconnects by itself and the policy recovers with it.
 *
 * @example
 *   const onError = storeFailure('allow', 'per-second', 'redis', 'rate-limit', logger);
 *   store.consume(…).then(decide, (err) => onError(ctx, err));
 */
export type StoreFailureHandler = (ctx: RequestContext, err: unknown) => Reply | undefined;

export function storeFailure(mode: 'allow' | 'deny', policy: string, storeKind: string, operation: string, logger: Logger, intervalMs = 10_000): StoreFailureHandler {
  const log = new ThrottledLog(logger, intervalMs);
  const msg = mode === 'allow' ? `${operation} '${policy}': store unavailable; allowing requests (onStoreError: allow)` : `${operation} '${policy}': store unavailable; denying requests (onStoreError: deny)`;
  return function onStoreError(ctx, err) {
    metrics.storeError(storeKind, operation);
    log.report(err, msg);
    if (mode === 'allow') return undefined;
    return limitReply(ctx, 'GW_ERR_LIMIT_UNAVAILABLE', policy, `The '${policy}' limit cannot be checked right now.`, 1000);
  };
}

/**
 * Reports a lease limiter's background top-up that the store failed: counted in
 * `gantry_store_errors_total{operation="lease-refill"}` and logged at most once per
 * interval per policy. No request waits on such a refill (they spend the budget left),
 * so without this the failure would go unseen until the budget runs out.
 *
 * @example
 *   new LeaseLimiter(store, 10, 1000, leaseRefillFailure('per-second', 'redis', logger));
 */
export function leaseRefillFailure(policy: string, storeKind: string, logger: Logger, intervalMs = 10_000): (err: unknown) => void {
  const log = new ThrottledLog(logger, intervalMs);
  const msg = `rate-limit '${policy}': background lease refill failed (store unavailable or refusing); requests spend the budget left, then refill on demand`;
  return function onLeaseRefillError(err) {
    metrics.storeError(storeKind, 'lease-refill');
    log.report(err, msg);
  };
}
