import { performance } from 'node:perf_hooks';
import type { Decision, Grant, LimitSpec, Store } from '../store/store.js';

/**
 * Lease mode: each instance takes a small budget (`lease` units) from the shared store in
 * one round trip and decides locally until it is spent, so most requests pay no Redis
 * round trip. The store grants atomically and never more than is left, so budgets held by
 * all instances together never exceed the limit:
 *
 * - fixed and sliding windows: a budget expires when the window it was granted in ends
 *   (measured from when the request for it was *sent*, so it never outlives the store's
 *   window); nothing is admitted over the limit, and at most `instances × 1.25 × lease` units
 *   may go unused in a window (budget still held when the window ends);
 * - token bucket and GCRA: a budget is spent within `leaseTtl`; in any interval, at most
 *   `instances × 1.25 × lease` more units than the exact algorithm are admitted (units
 *   taken just before the interval and spent in it; a budget holds at most a lease plus
 *   the low-water top-up).
 *
 * Refills are coalesced per key: concurrent requests that find the budget empty wait for
 * one round trip, and a budget running low (under a quarter of `lease`) is topped up in
 * the background, so in steady state no request waits. A refused refill is remembered until the store says to retry, so a
 * limited client costs no round trip either. docs/rate-limits.md states the bound.
 *
 * @example
 *   const lease = new LeaseLimiter(store, 10, 1000, (err) => log.report(err, 'lease refill failed'));
 *   const d = lease.consume('rl:k', spec, 1); // a Decision, or a Promise of one on a refill
 */
interface Budget {
  tokens: number;
  /** performance.now() ms after which unspent tokens are void. */
  expiresAt: number;
  /** Refused until then (performance.now() ms). */
  deniedUntil: number;
  /** The store had nothing to grant: no background refill before then. */
  dryUntil: number;
  /** The shared remaining at the last grant, and when the quota resets (for headers). */
  remaining: number;
  limit: number;
  resetAt: number;
  pending: Promise<void> | undefined;
}

export class LeaseLimiter {
  readonly #store: Store;
  readonly #lease: number;
  readonly #ttlMs: number;
  readonly #lowWater: number;
  readonly #budgets = new Map<string, Budget>();
  readonly #sweeper: NodeJS.Timeout;
  /** Told of each background top-up the store failed (no request waits on it, so nothing else reports it). */
  readonly #onRefillError: (err: unknown) => void;
  /** Round trips made (tests, status). */
  refills = 0;

  constructor(store: Store, lease: number, leaseTtlMs: number, onRefillError: (err: unknown) => void = noop) {
    this.#store = store;
    this.#onRefillError = onRefillError;
    this.#lease = lease;
    this.#ttlMs = leaseTtlMs;
    this.#lowWater = Math.max(1, Math.floor(lease / 4));
    this.#sweeper = setInterval(() => this.#sweep(), 10_000);
    this.#sweeper.unref();
  }

  /** A decision now when the local budget answers it, else after one refill. Rejects when the store fails. */
  consume(key: string, spec: LimitSpec, cost: number): Decision | Promise<Decision> {
    const now = performance.now();
    let b = this.#budgets.get(key);
    if (b === undefined) {
      b = { tokens: 0, expiresAt: 0, deniedUntil: 0, dryUntil: 0, remaining: 0, limit: spec.burst, resetAt: 0, pending: undefined };
      this.#budgets.set(key, b);
    }
    const local = this.#local(b, now, cost);
    if (local !== undefined) {
      // Running low: top the budget up in the background, so the next requests find it full.
      if (local.allowed && b.tokens < this.#lowWater && b.pending === undefined && now >= b.dryUntil) {
        // A failure is reported here; requests go on spending what is left, then refill on demand.
        this.#refill(key, b, spec, 1).catch(this.#onRefillError);
      }
      return local;
    }
    const budget = b;
    return this.#refill(key, budget, spec, cost).then(() => {
      const again = this.#local(budget, performance.now(), cost);
      // Granted less than this request costs (or raced away by its neighbours): refill again.
      return again ?? this.consume(key, spec, cost);
    });
  }

  /** Decides from the local budget, or undefined when a refill is needed. */
  #local(b: Budget, now: number, cost: number): Decision | undefined {
    if (now < b.expiresAt && b.tokens >= cost) {
      b.tokens -= cost;
      return { allowed: true, limit: b.limit, remaining: b.remaining + b.tokens, resetMs: Math.max(0, b.resetAt - now), retryAfterMs: 0 };
    }
    if (now < b.deniedUntil) {
      return { allowed: false, limit: b.limit, remaining: 0, resetMs: Math.max(0, b.resetAt - now), retryAfterMs: b.deniedUntil - now };
    }
    return undefined;
  }

  #refill(key: string, b: Budget, spec: LimitSpec, cost: number): Promise<void> {
    if (b.pending !== undefined) return b.pending;
    const sentAt = performance.now();
    this.refills++;
    const p = Promise.resolve(this.#store.take(key, spec, Math.max(this.#lease, cost))).then(
      (g) => {
        b.pending = undefined;
        this.#apply(b, g, spec, sentAt, cost);
      },
      (err: unknown) => {
        b.pending = undefined;
        throw err;
      },
    );
    b.pending = p;
    return p;
  }

  #apply(b: Budget, g: Grant, spec: LimitSpec, sentAt: number, cost: number): void {
    const windowed = spec.algorithm === 'fixed-window' || spec.algorithm === 'sliding-window';
    // Windows: the budget belongs to the window it was granted in. Measured from the send
    // time, the local expiry is never later than the store's window end.
    const expiresAt = sentAt + (windowed ? g.resetMs : this.#ttlMs);
    if (sentAt >= b.expiresAt) b.tokens = 0; // an expired budget's leftovers are void
    b.tokens += g.granted;
    b.expiresAt = Math.max(b.expiresAt, expiresAt);
    b.remaining = g.remaining;
    b.limit = g.limit;
    b.resetAt = sentAt + g.resetMs;
    // Nothing (or not enough) granted: refused until the store says a unit could be.
    b.deniedUntil = b.tokens < cost ? sentAt + Math.max(1, g.retryAfterMs) : 0;
    b.dryUntil = g.granted === 0 ? sentAt + Math.max(1, g.retryAfterMs) : 0;
  }

  #sweep(): void {
    const now = performance.now();
    for (const [k, b] of this.#budgets) if (b.pending === undefined && now >= b.expiresAt && now >= b.deniedUntil && now >= b.dryUntil) this.#budgets.delete(k);
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#budgets.clear();
  }
}

function noop(): void {}
