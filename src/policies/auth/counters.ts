import { metrics } from '../../observability/metrics.js';
import type { CounterSeries } from '../../observability/series.js';

/**
 * `gantry_auth_decisions_total{route, policy, result}` series of one policy instance,
 * resolved when the policy is built so that counting a request is one increment.
 *
 * Authentication results: accepted, anonymous, missing (401, no credential), invalid
 * (401), unavailable (503). Authorization results: allowed, denied (401/403), unavailable.
 */
export const AUTH_RESULTS = ['accepted', 'anonymous', 'missing', 'invalid', 'unavailable'] as const;
export const AUTHZ_RESULTS = ['allowed', 'denied', 'unavailable'] as const;

export type Counters<R extends string> = Readonly<Record<R, CounterSeries>>;

/** @example const n = counters('jwt', deps.routeName, AUTH_RESULTS); n.accepted.value++; */
export function counters<R extends string>(policy: string, route: string | undefined, results: readonly R[]): Counters<R> {
  const out = {} as Record<R, CounterSeries>;
  for (const r of results) out[r] = metrics.auth.series(route ?? '(global)', policy, r);
  return out;
}
