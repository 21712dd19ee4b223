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
