import { hash } from 'node:crypto';
import type { Pool } from 'undici';

/** Why a target is out of rotation, for logs and status. */
export type TargetState = 'healthy' | 'unhealthy' | 'ejected';

/** Latency moving average half-life: an observation this old weighs half as much. */
const EWMA_DECAY_MS = 10_000;

/**
 * One backend instance with its own keep-alive connection pool, and everything the
 * balancers and health checks know about it. One object per target per config version;
 * discovery keeps the object (and so its health) while the target stays in the set.
 */
export class Target {
  readonly url: string;
  /** `http://host:port`: the key a pool is kept under across reloads. */
  readonly origin: string;
  /** Path prefix of the target URL (`http://h:1/base` → `/base`), '' for none. */
  readonly basePath: string;
  readonly weight: number;
  readonly pool: Pool;
  /** Opaque id (hash of the URL): names the target in sticky cookies without revealing its address. */
  readonly id: string;
  /** Name of the upstream this target belongs to (metrics, traces). */
  readonly upstream: string;
  /** Requests in flight (balancers, status). */
  inFlight = 0;
  /** Where attempt outcomes go (the owning upstream: passive health, latency, breaker). */
  sink: { report(t: Target, status: number, ms: number, err: Error | undefined, now?: number): void } | undefined = undefined;

  /** Result of active health checks (true until a check says otherwise). */
  activeHealthy = true;
  /** `performance.now()` until which passive outlier detection keeps the target out; 0 when not ejected. */
  ejectedUntil = 0;
  /** How many times the target has been ejected (the ejection time grows with it). */
  ejections = 0;
  /** Consecutive failed attempts (connect error, reset, timeout, 5xx). */
  consecutiveFailures = 0;
  /** Whether the target is in rotation (healthy and not ejected); maintained by the upstream. */
  available = true;

  /** Moving average of time to response head (ms), decayed by age (peak-EWMA style). */
  #ewma = 0;
  #ewmaAt = 0;

  constructor(url: string, weight: number, pool: Pool, upstream = '') {
    const u = new URL(url);
    this.upstream = upstream;
    this.url = url;
    this.origin = u.origin;
    this.basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
    this.weight = weight;
    this.pool = pool;
    this.id = hash('sha1', url).slice(0, 12);
  }

  get state(): TargetState {
    if (this.ejectedUntil !== 0) return 'ejected';
    return this.activeHealthy ? 'healthy' : 'unhealthy';
  }

  /**
   * Records a response-head latency. A peak EWMA (Finagle, Linkerd): a slower sample is
   * taken at once, faster ones are blended in with a weight that grows with the time since
   * the last sample, so a target that turned slow is avoided immediately and one that
   * recovered earns traffic back gradually.
   */
  observeLatency(ms: number, now: number): void {
    if (ms > this.#ewma || this.#ewmaAt === 0) {
      this.#ewma = ms;
    } else {
      const w = Math.exp(-(now - this.#ewmaAt) / EWMA_DECAY_MS);
      this.#ewma = this.#ewma * w + ms * (1 - w);
    }
    this.#ewmaAt = now;
  }

  /**
   * The latency estimate now: the average decays toward zero while the target gets no
   * traffic, so a target avoided for being slow is probed again after a while.
   */
  latency(now: number): number {
    if (this.#ewmaAt === 0) return 0;
    return this.#ewma * Math.exp(-(now - this.#ewmaAt) / EWMA_DECAY_MS);
  }

  /** Status for the admin API. */
  status(now: number): TargetStatus {
    return {
      url: this.url,
      weight: this.weight,
      state: this.state,
      healthy: this.available,
      available: this.available,
      inFlight: this.inFlight,
      ejections: this.ejections,
      ejectedForMs: this.ejectedUntil === 0 ? 0 : Math.max(0, Math.round(this.ejectedUntil - now)),
      consecutiveFailures: this.consecutiveFailures,
      latencyMs: Math.round(this.latency(now) * 100) / 100,
    };
  }
}

/** One target's state as `GET /api/status` shows it. */
export interface TargetStatus {
  url: string;
  weight: number;
  state: TargetState;
  /** Same as `available` (the field admin clients read). */
  healthy: boolean;
  /** In rotation now (false while unhealthy or ejected, unless the upstream is in panic mode). */
  available: boolean;
  inFlight: number;
  ejections: number;
  ejectedForMs: number;
  consecutiveFailures: number;
  latencyMs: number;
}
