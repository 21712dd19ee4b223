import { metrics } from '../../observability/metrics.js';
import { RejectionError, type Interceptor } from '../exchange.js';

/**
 * Circuit breaker, per attempt: while the upstream's breaker is open (or half-open with
 * its probes taken) the attempt fails at once with 503 and `Retry-After` (RFC 9110
 * §10.2.3, in seconds), without touching the network. Outcomes are recorded by the
 * attempt itself (`Upstream.report`).
 *
 * @example
 *   compose(dispatchAttempt, [breaker()])
 */
export function breaker(): Interceptor {
  return (next) =>
    function breakerGate(ex, handler) {
      const b = ex.upstream.breaker;
      if (b === undefined || b.allow()) return next(ex, handler);
      metrics.upstreamAttempt(ex.upstream.name, '', 'circuit_open', 0);
      const retryAfter = Math.max(1, Math.ceil(b.retryAfterMs() / 1000));
      handler.onError!(new RejectionError('GW_ERR_CIRCUIT_OPEN', `Upstream '${ex.upstream.name}' is failing; its circuit breaker is open.`, ['retry-after', String(retryAfter)]));
    };
}
