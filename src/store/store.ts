/**
 * The store: where state shared by requests lives (rate-limit counters now, cache entries
 * and async jobs later). One small interface with two implementations side by side:
 * `memory` (this process, decisions synchronous) and `redis` (every instance shares the
 * state; each decision is one atomic round trip).
 *
 * Methods return `Awaitable<T>`: the memory store answers synchronously so the hot path
 * pays no Promise, the Redis store returns a Promise. Callers that do not care `await` it;
 * hot paths check `isThenable` (pipeline/pipeline.ts).
 *
 * @example
 *   const d = store.consume('rl:api:ip:10.0.0.1', { algorithm: 'gcra', limit: 10, windowMs: 1000, burst: 20 }, 1);
 *   const decision = isThenable(d) ? await d : d;
 *   if (!decision.allowed) retryIn(decision.retryAfterMs);
 */
import { Buffer } from 'node:buffer';

export type Awaitable<T> = T | Promise<T>;

export type Algorithm = 'fixed-window' | 'sliding-window' | 'token-bucket' | 'gcra';

/** A limit, compiled from config. */
export interface LimitSpec {
  readonly algorithm: Algorithm;
  /** Windows: cost allowed per window. Bucket/GCRA: tokens added per `windowMs` (the rate). */
  readonly limit: number;
  /** Window length, or the period the rate is expressed over, in ms. */
  readonly windowMs: number;
  /** Bucket/GCRA: capacity (the largest burst). Windows: equal to `limit`. */
  readonly burst: number;
}

/** The answer to one `consume`. Times are ms from now. */
export interface Decision {
  allowed: boolean;
  /** The quota advertised to clients: `limit` for windows, `burst` for bucket/GCRA. */
  limit: number;
  /** What is left after this request (never negative). */
  remaining: number;
  /** Until the quota is fully available again (window end, or bucket full). */
  resetMs: number;
  /** When denied: until a request of the same cost could pass. 0 when allowed. */
  retryAfterMs: number;
}

/** The answer to one `take` (lease mode): up to `want` tokens, possibly fewer, possibly none. */
export interface Grant {
  granted: number;
  limit: number;
  /** Left in the shared state after this grant. */
  remaining: number;
  /** Fixed/sliding windows: until the current window ends. Bucket/GCRA: until full. */
  resetMs: number;
  /** When nothing was granted: until one token could be. */
  retryAfterMs: number;
}

/** The answer to a calendar counter (`quota`). */
export interface CounterResult {
  allowed: boolean;
  /** The count after this request (unchanged when denied). */
  count: number;
}

export interface Store {
  readonly kind: 'memory' | 'redis';
  /** Whether other gateway instances see the same state. */
  readonly shared: boolean;
  /** Whether the backing service is reachable now (memory: always). */
  readonly healthy: boolean;

  /** Takes `cost` from the limit at `key` if all of it is available (all or nothing). */
  consume(key: string, spec: LimitSpec, cost: number): Awaitable<Decision>;
  /** Takes up to `want` of the limit at `key` (lease mode: a budget to spend locally). */
  take(key: string, spec: LimitSpec, want: number): Awaitable<Grant>;
  /**
   * Adds `cost` to the counter at `key` unless that passes `limit`; a new counter expires
   * after `ttlMs` (quota periods: the caller puts the period in the key).
   */
  count(key: string, cost: number, limit: number, ttlMs: number): Awaitable<CounterResult>;
  /**
   * Takes one of `max` concurrent slots at `key` for `holder`; a slot not released within
   * `holdMs` (a crashed instance) frees itself. Resolves whether a slot was taken.
   */
  acquire(key: string, holder: string, max: number, holdMs: number): Awaitable<boolean>;
  /** Gives back a slot taken by `acquire`. Never throws; failures are logged by the store. */
  release(key: string, holder: string): void;

  /** A stored value, or undefined when absent or expired. */
  get(key: string): Awaitable<Buffer | undefined>;
  /** Stores a value, expiring after `ttlMs` when given. */
  set(key: string, value: Buffer | string, ttlMs?: number): Awaitable<void>;
  /** Removes a value; resolves whether it existed. */
  delete(key: string): Awaitable<boolean>;

  /**
   * Stamps: a map of field → time (epoch ms) at `key`, each field updated atomically, so
   * writers on different instances never lose each other's fields (a Redis hash).
   * `stamp` sets `field` to `at` unless it already holds a later time, removes the fields
   * older than `since`, and makes the map expire `ttlMs` after this call; it resolves with
   * how many fields are left.
   *
   * @example
   *   await store.stamp('cache-rules:z', '{"tag":"red"}', now, now - day, day);
   *   (await store.stamps('cache-rules:z')).get('{"tag":"red"}'); // now
   */
  stamp(key: string, field: string, at: number, since: number, ttlMs: number): Awaitable<number>;
  /** The stamps at `key`: only `fields` when given (absent ones left out), else all of them. */
  stamps(key: string, fields?: readonly string[]): Awaitable<Map<string, number>>;

  /** Resolves once the backing service answered, or after `timeoutMs` (never rejects). */
  ready(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Thrown (rejected) by a store whose backing service cannot answer now. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
