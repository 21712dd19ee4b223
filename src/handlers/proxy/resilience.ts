import type { RouteConfig } from '../../config/schema.js';
import type { GatewayErrorCode } from '../../errors.js';
import type { Upstream } from '../../upstreams/upstream.js';
import { IDEMPOTENT_METHODS, type FallbackConfig, type RetryCondition } from '../../upstreams/schema.js';
import { withDefaults } from '../../config/validate.js';
import { ClientWriter, Exchange, dispatchAttempt, type Fallback, type Interceptor } from '../../proxy/exchange.js';
import { breaker } from '../../proxy/interceptors/breaker.js';
import { deadline } from '../../proxy/interceptors/deadline.js';
import { retry, type RetryPolicy } from '../../proxy/interceptors/retry.js';
import { shed } from '../../proxy/interceptors/shed.js';
import { total } from '../../proxy/interceptors/total.js';
import { createStaticHandler } from '../static/static.js';
import type { HandlerDeps } from '../handler.js';

/** A route's compiled resilience: its interceptors (outermost first), replay limit and fallback. */
export interface Resilience {
  interceptors: Interceptor[];
  retry: (RetryPolicy & { maxReplayBody: number }) | undefined;
  deadline: number | undefined;
  fallback: Fallback | undefined;
}

/**
 * Decides at load which interceptors a route's call to `upstream` gets, in the fixed
 * order shed → total → retry → deadline → breaker. A route with none of them (and no
 * fallback) gets the plain proxy path with no extra cost per request.
 *
 * @example
 *   const r = compileResilience(route, upstream, deps);
 *   if (r.interceptors.length === 0 && !r.fallback) usePlainPath();
 */
export function compileResilience(route: RouteConfig, upstream: Upstream, deps: HandlerDeps): Resilience {
  const interceptors: Interceptor[] = [];
  if (upstream.limiter) interceptors.push(shed());
  const totalMs = route.timeouts?.total ?? upstream.config.timeouts?.total;
  if (totalMs !== undefined) interceptors.push(total(totalMs));
  const policy = retryPolicy(route, upstream);
  if (policy) interceptors.push(retry(policy));
  if (route.deadline !== undefined) interceptors.push(deadline());
  if (upstream.breaker) interceptors.push(breaker());
  return { interceptors, retry: policy, deadline: route.deadline, fallback: compileFallback(route, deps) };
}

/** Upstream `retries:` with the route's fields over it; undefined when neither has retries or only one try is allowed. */
function retryPolicy(route: RouteConfig, upstream: Upstream): Resilience['retry'] {
  const base = upstream.config.retries;
  const own = route.retries;
  if (!base && !own) return undefined;
  const r = withDefaults({ attempts: 3, on: ['connect-error', 'reset', '503'], backoff: 25, maxBackoff: 250, budget: 0.2, minRetries: 10, budgetWindow: 10_000, maxReplayBody: 65_536, methods: [...IDEMPOTENT_METHODS] as string[], ...base }, own);
  if (r.attempts < 2) return undefined;
  return {
    attempts: r.attempts,
    on: new Set(r.on.map((c) => String(c) as RetryCondition)),
    backoff: r.backoff,
    maxBackoff: r.maxBackoff,
    methods: new Set(r.methods),
    budget: upstream.retryBudget(r.budget, r.minRetries, r.budgetWindow),
    maxReplayBody: r.maxReplayBody,
  };
}

const TRIGGERS: Record<FallbackConfig['on'][number], GatewayErrorCode[]> = {
  'circuit-open': ['GW_ERR_CIRCUIT_OPEN'],
  'no-target': ['GW_ERR_NO_TARGET'],
  overloaded: ['GW_ERR_OVERLOADED'],
  deadline: ['GW_ERR_DEADLINE_EXCEEDED'],
  'upstream-error': ['GW_ERR_UPSTREAM_UNAVAILABLE', 'GW_ERR_UPSTREAM_RESET', 'GW_ERR_UPSTREAM_TIMEOUT', 'GW_ERR_UPSTREAM_BAD_RESPONSE'],
};

/**
 * `fallback:`: a static reply or another upstream answers the failures listed in `on`
 * (by default an open breaker and no target). Another upstream is used only when the
 * request body can be sent again; otherwise the error stands.
 */
function compileFallback(route: RouteConfig, deps: HandlerDeps): Fallback | undefined {
  const fb = route.fallback;
  if (!fb) return undefined;
  const on = new Set(fb.on.flatMap((t) => TRIGGERS[t]));
  if (fb.static) {
    const reply = createStaticHandler({ ...route, static: fb.static });
    return function staticFallback(ex, code) {
      if (!on.has(code)) return false;
      ex.ctx.addResponseHeader('x-gantry-fallback', code.slice(7).toLowerCase().replaceAll('_', '-'));
      reply.handle(ex.ctx);
      return true;
    };
  }
  const other = deps.upstreams.get(fb.upstream!);
  if (!other) throw new Error(`fallback: unknown upstream '${fb.upstream}'`);
  return function upstreamFallback(ex, code) {
    if (!on.has(code) || !ex.replayable) return false;
    ex.ctx.addResponseHeader('x-gantry-fallback', code.slice(7).toLowerCase().replaceAll('_', '-'));
    const next = new Exchange(ex.ctx, other, ex.path, ex.opts, ex.headers, ex.body);
    ex.ctx.cancelable = next;
    dispatchAttempt(next, new ClientWriter(next, undefined));
    return true;
  };
}

