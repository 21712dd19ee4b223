import { performance } from 'node:perf_hooks';
import { SlidingCounter } from './window.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

/** Circuit breaker settings (ms for durations), as compiled from `upstreams.<name>.circuitBreaker`. */
export interface BreakerOptions {
  /** Open when failures / requests in the window reach this ratio (with at least `minRequests`). */
  failureRatio: number;
  minRequests: number;
  window: number;
  /** Time spent open before probing (half-open). */
  openFor: number;
  /** Probes let through while half-open; that many successes close the breaker. */
  halfOpenRequests: number;
  /** Also open after this many failures in a row (0: off). */
  consecutiveFailures: number;
}

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const NAMES: readonly BreakerState[] = ['closed', 'open', 'half-open'];

/**
 * A circuit breaker for one upstream: closed → open → half-open → closed (Nygard,
 * "Release It!"). Closed counts successes and failures in a sliding window and opens when
 * the failure ratio (or a run of consecutive failures) crosses its threshold. Open
 * rejects every attempt until `openFor` has passed; then half-open lets a few probes
 * through: all succeeding closes it, any failing opens it again.
 *
 * @example
 *   const b = new CircuitBreaker({ failureRatio: 0.5, minRequests: 20, window: 10_000, openFor: 15_000, halfOpenRequests: 3, consecutiveFailures: 0 });
 *   if (b.allow()) { … b.record(ok) } else reply503(b.retryAfterMs());
 */
export class CircuitBreaker {
  readonly options: BreakerOptions;
  readonly #window: SlidingCounter;
  readonly #onChange: (state: BreakerState) => void;
  #state = CLOSED;
  #openedAt = 0;
  #consecutive = 0;
  #probes = 0;
  #probeSuccesses = 0;
  #opened = 0;

  constructor(options: BreakerOptions, onChange: (state: BreakerState) => void = () => {}) {
    this.options = options;
    this.#window = new SlidingCounter(options.window);
    this.#onChange = onChange;
  }

  get state(): BreakerState {
    this.#tick(performance.now());
    return NAMES[this.#state]!;
  }

  /**
   * Whether an attempt may go out now. In half-open this admits a probe, and the caller
   * must report its outcome with `record` (or `release` when it ended without one).
   */
  allow(): boolean {
    const s = this.#state;
    if (s === CLOSED) return true;
    this.#tick(performance.now());
    if (this.#state === OPEN) return false;
    if (this.#state === CLOSED) return true;
    if (this.#probes >= this.options.halfOpenRequests) return false;
    this.#probes++;
    return true;
  }

  /** Reports an attempt's outcome (success: any response below 500). */
  record(ok: boolean): void {
    const now = performance.now();
    if (this.#state === HALF_OPEN) {
      if (this.#probes > 0) this.#probes--;
      if (!ok) return this.#open(now);
      if (++this.#probeSuccesses >= this.options.halfOpenRequests) this.#close();
      return;
    }
    if (this.#state === OPEN) return; // a straggler that started before the breaker opened
    this.#window.add(ok ? 0 : 1, now);
    if (ok) {
      this.#consecutive = 0;
      return;
    }
    this.#consecutive++;
    const o = this.options;
    if (o.consecutiveFailures > 0 && this.#consecutive >= o.consecutiveFailures) return this.#open(now);
    const failures = this.#window.total(1, now);
    const total = failures + this.#window.total(0, now);
    if (total >= o.minRequests && failures / total >= o.failureRatio) this.#open(now);
  }

  /** An admitted attempt ended without an outcome (the client went away). */
  release(): void {
    if (this.#state === HALF_OPEN && this.#probes > 0) this.#probes--;
  }

  /** ms until an open breaker half-opens (0 when not open). */
  retryAfterMs(): number {
    if (this.#state !== OPEN) return 0;
    return Math.max(0, this.#openedAt + this.options.openFor - performance.now());
  }

  status(): { state: BreakerState; opened: number; retryAfterMs: number; failures: number; requests: number } {
    const now = performance.now();
    this.#tick(now);
    const failures = this.#window.total(1, now);
    return { state: NAMES[this.#state]!, opened: this.#opened, retryAfterMs: Math.round(this.retryAfterMs()), failures, requests: failures + this.#window.total(0, now) };
  }

  #tick(now: number): void {
    if (this.#state === OPEN && now - this.#openedAt >= this.options.openFor) {
      this.#state = HALF_OPEN;
      this.#probes = 0;
      this.#probeSuccesses = 0;
      this.#onChange('half-open');
    }
  }

  #open(now: number): void {
    this.#state = OPEN;
    this.#openedAt = now;
    this.#opened++;
    this.#consecutive = 0;
    this.#onChange('open');
  }

  #close(): void {
    this.#state = CLOSED;
    this.#consecutive = 0;
    this.#window.reset();
    this.#onChange('closed');
  }
}
