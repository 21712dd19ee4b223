import { Buffer } from 'node:buffer';
import { newState, step, type LimiterState, type Step } from './algorithms.js';
import { systemClock, type Clock } from './clock.js';
import type { CounterResult, Decision, Grant, LimitSpec, Store } from './store.js';

interface Entry {
  value: Buffer;
  /** Epoch ms, or Infinity. */
  expiresAt: number;
}

export interface MemoryStoreOptions {
  clock?: Clock;
  /** How often expired state is swept, in ms. */
  sweepIntervalMs?: number;
}

/**
 * The embedded store: state in this process's memory, every decision synchronous (no
 * Promise on the hot path). Expired entries are swept on a timer so keys such as client
 * IPs do not accumulate.
 *
 * @example
 *   const store = new MemoryStore();
 *   store.consume('rl:ip:10.0.0.1', { algorithm: 'fixed-window', limit: 10, windowMs: 1000, burst: 10 }, 1).allowed;
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly shared = false;
  readonly healthy = true;
  readonly #clock: Clock;
  readonly #limiters = new Map<string, LimiterState>();
  readonly #values = new Map<string, Entry>();
  readonly #slots = new Map<string, number>();
  readonly #stamps = new Map<string, { fields: Map<string, number>; expiresAt: number }>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #step: Step = { granted: 0, limit: 0, remaining: 0, resetMs: 0, retryAfterMs: 0 };

  constructor(options: MemoryStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 10_000);
    this.#sweeper.unref();
  }

  #state(key: string): LimiterState {
    let s = this.#limiters.get(key);
    if (s === undefined) {
      s = newState();
      this.#limiters.set(key, s);
    }
    return s;
  }

  consume(key: string, spec: LimitSpec, cost: number): Decision {
    const r = step(this.#state(key), spec, this.#clock.now(), cost, false, this.#step);
    return { allowed: r.granted === cost, limit: r.limit, remaining: r.remaining, resetMs: r.resetMs, retryAfterMs: r.retryAfterMs };
  }

  take(key: string, spec: LimitSpec, want: number): Grant {
    const r = step(this.#state(key), spec, this.#clock.now(), want, true, this.#step);
    return { granted: r.granted, limit: r.limit, remaining: r.remaining, resetMs: r.resetMs, retryAfterMs: r.retryAfterMs };
  }

  count(key: string, cost: number, limit: number, ttlMs: number): CounterResult {
    const now = this.#clock.now();
    let s = this.#limiters.get(key);
    if (s === undefined || s.expiresAt <= now) {
      s = { a: 0, b: 0, c: 0, expiresAt: now + ttlMs };
      this.#limiters.set(key, s);
    }
    if (s.a + cost > limit) return { allowed: false, count: s.a };
    s.a += cost;
    return { allowed: true, count: s.a };
  }

  acquire(key: string, _holder: string, max: number): boolean {
    const n = this.#slots.get(key) ?? 0;
    if (n >= max) return false;
    this.#slots.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = this.#slots.get(key);
    if (n === undefined) return;
    if (n <= 1) this.#slots.delete(key);
    else this.#slots.set(key, n - 1);
  }

  get(key: string): Buffer | undefined {
    const e = this.#values.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.#clock.now()) {
      this.#values.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: Buffer | string, ttlMs?: number): void {
    const v = typeof value === 'string' ? Buffer.from(value) : value;
    this.#values.set(key, { value: v, expiresAt: ttlMs === undefined ? Infinity : this.#clock.now() + ttlMs });
  }

  delete(key: string): boolean {
    return this.#values.delete(key);
  }

  stamp(key: string, field: string, at: number, since: number, ttlMs: number): number {
    const now = this.#clock.now();
    let m = this.#stamps.get(key);
    if (m === undefined || m.expiresAt <= now) this.#stamps.set(key, (m = { fields: new Map(), expiresAt: 0 }));
    const cur = m.fields.get(field);
    if (cur === undefined || cur < at) m.fields.set(field, at);
    for (const [f, t] of m.fields) if (t < since) m.fields.delete(f);
    m.expiresAt = now + ttlMs;
    return m.fields.size;
  }

  stamps(key: string, fields?: readonly string[]): Map<string, number> {
    const m = this.#stamps.get(key);
    if (m === undefined || m.expiresAt <= this.#clock.now()) return new Map();
    if (fields === undefined) return new Map(m.fields);
    const out = new Map<string, number>();
    for (const f of fields) {
      const t = m.fields.get(f);
      if (t !== undefined) out.set(f, t);
    }
    return out;
  }

  /** Drops expired entries (runs on a timer; callable from tests). */
  sweep(): void {
    const now = this.#clock.now();
    for (const [k, s] of this.#limiters) if (s.expiresAt <= now) this.#limiters.delete(k);
    for (const [k, e] of this.#values) if (e.expiresAt <= now) this.#values.delete(k);
    for (const [k, m] of this.#stamps) if (m.expiresAt <= now) this.#stamps.delete(k);
  }

  /** Number of live limiter and value entries (tests, status). */
  get size(): number {
    return this.#limiters.size + this.#values.size + this.#stamps.size;
  }

  ready(): Promise<boolean> {
    return Promise.resolve(true);
  }

  close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#limiters.clear();
    this.#values.clear();
    this.#slots.clear();
    this.#stamps.clear();
    return Promise.resolve();
  }
}
