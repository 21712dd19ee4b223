import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/schema.js';

/** Defaults an experienced operator expects when a timeout is not written. */
export const DEFAULT_TIMEOUTS = { connect: 5_000, response: 60_000, idle: 60_000 } as const;

/** One backend instance with its own keep-alive connection pool. */
export class Target {
  readonly url: string;
  /** `http://host:port`: the key a pool is kept under across reloads. */
  readonly origin: string;
  /** Path prefix of the target URL (`http://h:1/base` → `/base`), '' for none. */
  readonly basePath: string;
  readonly weight: number;
  readonly pool: Pool;
  /** Name of the upstream this target belongs to (metrics, traces). */
  readonly upstream: string;
  /** Requests in flight (for balancers and status). */
  inFlight = 0;

  constructor(url: string, weight: number, pool: Pool, upstream = '') {
    const u = new URL(url);
    this.upstream = upstream;
    this.url = url;
    this.origin = u.origin;
    this.basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
    this.weight = weight;
    this.pool = pool;
  }
}

/** Options a pool is built with; two upstreams with equal keys may share pools across reloads. */
export function poolOptions(cfg: UpstreamConfig): Pool.Options {
  const t = { ...DEFAULT_TIMEOUTS, ...stripUndefined(cfg.timeouts ?? {}) };
  return {
    connections: cfg.pool?.connections ?? 128,
    pipelining: cfg.pool?.pipelining ?? 1,
    keepAliveTimeout: cfg.pool?.keepAliveTimeout ?? 30_000,
    keepAliveMaxTimeout: Math.max(cfg.pool?.keepAliveTimeout ?? 30_000, 60_000),
    connect: { timeout: t.connect },
    headersTimeout: t.response,
    bodyTimeout: t.idle,
  };
}

/**
 * A named pool of targets. Picking is round-robin over targets with weight > 0 (the
 * balancer family — weighted, least-connections, p2c-ewma, consistent-hash — plugs in
 * behind `pick`).
 */
export class Upstream {
  readonly name: string;
  readonly targets: readonly Target[];
  readonly #eligible: readonly Target[];
  #next = 0;

  constructor(name: string, targets: readonly Target[]) {
    this.name = name;
    this.targets = targets;
    this.#eligible = targets.filter((t) => t.weight > 0);
  }

  /** The target for the next request, or undefined when none can take traffic. */
  pick(): Target | undefined {
    const list = this.#eligible;
    if (list.length === 0) return undefined;
    if (list.length === 1) return list[0];
    const t = list[this.#next % list.length];
    this.#next = (this.#next + 1) % list.length;
    return t;
  }
}

/** Builds upstreams from config; pools come from `pools`, recorded in `lease`. */
export function buildUpstreams(configs: Record<string, UpstreamConfig>, pools: PoolCache, lease: PoolLease): Map<string, Upstream> {
  const out = new Map<string, Upstream>();
  for (const [name, cfg] of Object.entries(configs)) {
    const opts = poolOptions(cfg);
    const targets = cfg.targets.map((t) => {
      const url = typeof t === 'string' ? t : t.url;
      const weight = typeof t === 'string' ? 1 : (t.weight ?? 1);
      return new Target(url, weight, pools.acquire(new URL(url).origin, opts, lease), name);
    });
    out.set(name, new Upstream(name, targets));
  }
  return out;
}

/** The pool keys one runtime holds. */
export type PoolLease = Set<string>;

/**
 * Connection pools shared by the runtimes that use them, keyed by origin and options.
 * A reload acquires what the new config needs (unchanged targets keep their warm
 * connections); a pool closes gracefully when the last runtime holding it is released.
 */
export class PoolCache {
  readonly #pools = new Map<string, { pool: Pool; refs: number }>();

  acquire(origin: string, opts: Pool.Options, lease: PoolLease): Pool {
    const key = `${origin}|${JSON.stringify(opts)}`;
    let entry = this.#pools.get(key);
    if (!entry) {
      entry = { pool: new Pool(origin, opts), refs: 0 };
      this.#pools.set(key, entry);
    }
    if (!lease.has(key)) {
      lease.add(key);
      entry.refs++;
    }
    return entry.pool;
  }

  /** Releases a runtime's pools; those nobody holds any more are closed. */
  async release(lease: PoolLease): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const key of lease) {
      const entry = this.#pools.get(key);
      if (!entry || --entry.refs > 0) continue;
      this.#pools.delete(key);
      closing.push(entry.pool.close().catch(() => undefined));
    }
    lease.clear();
    await Promise.all(closing);
  }

  async closeAll(): Promise<void> {
    const all = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(all.map((e) => e.pool.destroy()));
  }

  get size(): number {
    return this.#pools.size;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
