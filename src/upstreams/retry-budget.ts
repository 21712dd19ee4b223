import { performance } from 'node:perf_hooks';
import { SlidingCounter } from './window.js';

const REQUESTS = 0;
const RETRIES = 1;

/**
 * A retry budget (as in Linkerd and gRPC retry throttling): over a sliding window,
 * retries may add at most `ratio` × requests, plus `minRetries` so a quiet upstream can
 * still retry. When every target fails, the load a retry policy adds is bounded by the
 * ratio instead of multiplying by the attempt count (no retry storm).
 *
 * @example
 *   const b = new RetryBudget(0.2, 10, 10_000);
 *   b.request();                 // every first attempt
 *   if (b.tryRetry()) retry();   // spends from the budget when allowed
 */
export class RetryBudget {
  readonly ratio: number;
  readonly minRetries: number;
  readonly #w: SlidingCounter;
  /** Retries refused because the budget was spent (status, metrics). */
  refused = 0;

  constructor(ratio: number, minRetries: number, windowMs: number) {
    this.ratio = ratio;
    this.minRetries = minRetries;
    this.#w = new SlidingCounter(windowMs);
  }

  /** Counts a request (its first attempt). */
  request(): void {
    this.#w.add(REQUESTS);
  }

  /** Spends one retry if the budget allows it. */
  tryRetry(): boolean {
    const now = performance.now();
    const allowed = this.minRetries + this.ratio * this.#w.total(REQUESTS, now);
    if (this.#w.total(RETRIES, now) + 1 > allowed) {
      this.refused++;
      return false;
    }
    this.#w.add(RETRIES, now);
    return true;
  }

  status(): { ratio: number; requests: number; retries: number; refused: number } {
    return { ratio: this.ratio, requests: this.#w.total(REQUESTS), retries: this.#w.total(RETRIES), refused: this.refused };
  }
}
