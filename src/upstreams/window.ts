/**
 * Two counters over a sliding time window, kept in ten buckets: O(1) to add, O(10) to
 * sum, no allocation after construction. Used by the circuit breaker (successes /
 * failures) and the retry budget (requests / retries).
 *
 * @example
 *   const w = new SlidingCounter(10_000);
 *   w.add(0); w.add(1); w.total(1); // 1
 */
import { performance } from 'node:perf_hooks';

export class SlidingCounter {
  static readonly BUCKETS = 10;
  readonly #bucketMs: number;
  readonly #counts = [new Float64Array(SlidingCounter.BUCKETS), new Float64Array(SlidingCounter.BUCKETS)] as const;
  #head = -1;

  constructor(windowMs: number) {
    this.#bucketMs = Math.max(1, windowMs / SlidingCounter.BUCKETS);
  }

  /** Counts one event of kind 0 or 1 now. */
  add(kind: 0 | 1, now = performance.now()): void {
    this.#rotate(now);
    this.#counts[kind][this.#head % SlidingCounter.BUCKETS]!++;
  }

  /** Events of `kind` in the window ending now. */
  total(kind: 0 | 1, now = performance.now()): number {
    this.#rotate(now);
    const c = this.#counts[kind];
    let s = 0;
    for (let i = 0; i < SlidingCounter.BUCKETS; i++) s += c[i]!;
    return s;
  }

  reset(): void {
    this.#counts[0].fill(0);
    this.#counts[1].fill(0);
  }

  #rotate(now: number): void {
    const idx = Math.floor(now / this.#bucketMs);
    if (idx === this.#head) return;
    const gap = this.#head < 0 ? SlidingCounter.BUCKETS : Math.min(idx - this.#head, SlidingCounter.BUCKETS);
    for (let k = 1; k <= gap; k++) {
      const b = (idx - gap + k) % SlidingCounter.BUCKETS;
      this.#counts[0][b] = 0;
      this.#counts[1][b] = 0;
    }
    this.#head = idx;
  }
}
