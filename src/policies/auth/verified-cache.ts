import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { systemClock, type Clock } from '../../store/clock.js';

interface Entry<V> {
  value: V;
  /** Epoch ms after which the entry must not be used. */
  until: number;
}

/** What a `load` produced: the caller's result, and optionally an entry to cache. */
export interface Loaded<V, R> {
  result: R;
  cache?: { value: V; until: number } | undefined;
}

/**
 * A bounded LRU of verification results keyed by a SHA-256 of the credential (the cache
 * never holds a usable token), each valid until its own deadline, plus single-flight
 * loading: concurrent misses on one key share one verification. A hit is synchronous: no
 * Promise, no I/O. `max: 0` keeps nothing but still coalesces.
 *
 * @example
 *   const cache = new VerifiedCache<Identity>(10_000);
 *   const key = cache.key(token);
 *   cache.get(key) ?? cache.load(key, async () => ({ result: id, cache: { value: id, until: expMs } }));
 */
export class VerifiedCache<V> {
  readonly #lru: LRUCache<string, Entry<V>> | undefined;
  readonly #inflight = new Map<string, Promise<unknown>>();
  readonly #clock: Clock;

  /** `clock` judges the deadlines (a policy's `deps.clock`, so tests can move time). */
  constructor(max: number, clock: Clock = systemClock) {
    this.#lru = max > 0 ? new LRUCache({ max }) : undefined;
    this.#clock = clock;
  }

  /** The cache key of a credential. */
  key(credential: string): string {
    return createHash('sha256').update(credential).digest('base64');
  }

  get(key: string, now = this.#clock.now()): V | undefined {
    const e = this.#lru?.get(key);
    if (e === undefined) return undefined;
    if (now >= e.until) {
      this.#lru!.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, until: number): void {
    if (until > this.#clock.now()) this.#lru?.set(key, { value, until });
  }

  /** Runs `load` once for all concurrent callers of `key`, caching what it says to cache. */
  load<R>(key: string, load: () => Promise<Loaded<V, R>>): Promise<R> {
    const pending = this.#inflight.get(key) as Promise<R> | undefined;
    if (pending !== undefined) return pending;
    const p = load().then(
      (l) => {
        this.#inflight.delete(key);
        if (l.cache !== undefined) this.set(key, l.cache.value, l.cache.until);
        return l.result;
      },
      (e: unknown) => {
        this.#inflight.delete(key);
        throw e;
      },
    );
    this.#inflight.set(key, p);
    return p;
  }

  get size(): number {
    return this.#lru?.size ?? 0;
  }

  clear(): void {
    this.#lru?.clear();
  }
}
