import type { BreakerState } from './circuit-breaker.js';

/** The outcome of one attempt, as metrics label it. */
export type AttemptOutcome = 'ok' | '5xx' | 'connect-error' | 'reset' | 'timeout' | 'error' | 'circuit-open' | 'deadline' | 'shed';

/**
 * Hooks metrics plug into (target health, breaker state, attempts): upstream code calls
 * these, the metrics module replaces them with `setUpstreamObserver` once at start. The
 * defaults do nothing, so the data path pays one indirect call.
 *
 * @example
 *   setUpstreamObserver({
 *     targetHealth: (u, url, up) => healthGauge.set({ upstream: u, target: url }, up ? 1 : 0),
 *     breakerState: (u, s) => breakerGauge.set({ upstream: u }, ['closed', 'half-open', 'open'].indexOf(s)),
 *     attempt: (u, outcome, retry) => attempts.inc({ upstream: u, outcome, retry: String(retry) }),
 *   });
 */
export interface UpstreamObserver {
  /** A target entered (true) or left (false) rotation. */
  targetHealth(upstream: string, target: string, available: boolean, reason: string): void;
  breakerState(upstream: string, state: BreakerState): void;
  /** One attempt ended (`retry`: it was not the request's first). */
  attempt(upstream: string, outcome: AttemptOutcome, retry: boolean): void;
}

const noop = (): void => {};
export const upstreamObserver: UpstreamObserver = { targetHealth: noop, breakerState: noop, attempt: noop };

/** Installs metrics hooks (any subset); later calls replace earlier ones. */
export function setUpstreamObserver(o: Partial<UpstreamObserver>): void {
  Object.assign(upstreamObserver, o);
}
