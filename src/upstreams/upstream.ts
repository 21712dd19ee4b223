import { performance } from 'node:perf_hooks';
import { Client, Pool } from 'undici';
import type { Logger } from 'pino';
import { Timeouts, UpstreamPool, type UpstreamConfig } from '../config/schema.js';
import { schemaDefaults, withDefaults } from '../config/validate.js';
import type { RequestContext } from '../pipeline/context.js';
import { BALANCERS, type Balancer } from './balancers/index.js';
import { CircuitBreaker, type BreakerState } from './circuit-breaker.js';
import { ConcurrencyLimiter } from './concurrency.js';
import { createDiscovery, type Discovery, type TargetSpec } from './discovery/index.js';
import { ActiveHealth, DEFAULT_OUTLIER, PassiveHealth } from './health.js';
import { compileHashOn, getCookie, type KeyOf } from './keys.js';
import { metrics } from '../observability/metrics.js';
import { RetryBudget } from './retry-budget.js';
import { Target, type TargetStatus } from './target.js';
import { PoolCache, type PoolLease } from './pools.js';
import { RefLease } from '../util/ref-cache.js';
import type { UpstreamTlsMaterial } from './tls.js';

export { Target } from './target.js';
export { PoolCache, type PoolLease } from './pools.js';

/** Timeouts of an upstream that writes no `timeouts:` (the schema's defaults: connect 5s, response and idle 60s). */
const TIMEOUT_DEFAULTS = schemaDefaults(Timeouts);

/** The pool of an upstream without `pool:`: the schema's defaults. */
const POOL_DEFAULTS = schemaDefaults(UpstreamPool);

/** Concurrent requests per HTTP/2 connection to a target. */
const H2_STREAMS = 100;

/** Options a pool is built with; two upstreams with equal keys may share pools across reloads. */
export function poolOptions(cfg: UpstreamConfig, tls?: UpstreamTlsMaterial, protocol: 'http:' | 'https:' = 'http:'): Pool.Options {
  const t = withDefaults(TIMEOUT_DEFAULTS, cfg.timeouts);
  const pool = withDefaults(POOL_DEFAULTS, cfg.pool);
  const secure = protocol === 'https:';
  const opts: Pool.Options = {
    connections: pool.connections,
    pipelining: pool.pipelining,
    keepAliveTimeout: pool.keepAliveTimeout,
    keepAliveMaxTimeout: Math.max(pool.keepAliveTimeout, 60_000),
    connect: secure && tls !== undefined ? { timeout: t.connect, ...tls.options } : { timeout: t.connect },
    headersTimeout: t.response,
    bodyTimeout: t.idle,
  };
  // HTTP/2 (RFC 9113): negotiated by ALPN over TLS (§3.2), or assumed on cleartext (§3.3, prior knowledge).
  // One connection then carries many requests at once (as many as the target's
  // SETTINGS_MAX_CONCURRENT_STREAMS allows), and `pool.pipelining` does not apply.
  if (cfg.http2 === true) {
    opts.allowH2 = true;
    opts.maxConcurrentStreams = H2_STREAMS;
    if (secure) {
      // ALPN decides per connection: undici's own limit of its protocol (unbounded streams
      // on h2, one request at a time on an HTTP/1.1 fallback) instead of one fixed number.
      opts.factory = (origin, o) => {
        const client = new Client(origin, o);
        client.pipelining = undefined as unknown as number;
        return client;
      };
    } else {
      // Prior knowledge: an option of undici's connector (H2CClient sets it), which a Pool
      // passes on only inside `connect`; its type declarations do not list it yet.
      opts.connect = { ...opts.connect, useH2c: true } as unknown as Pool.Options['connect'];
      opts.pipelining = H2_STREAMS;
    }
  }
  return opts;
}

/** What building an upstream needs besides its config. */
export interface UpstreamDeps {
  pools: PoolCache;
  logger: Logger;
  /** Directory `file:` discovery paths are relative to. */
  baseDir: string;
}

/** An upstream's state as `GET /api/status` shows it (see `Upstream.status`). */
export interface UpstreamStatus {
  name: string;
  balance: string;
  discovery: string;
  /** Every target is out of rotation, so all are tried anyway. */
  panic: boolean;
  inFlight: number;
  breaker?: ReturnType<CircuitBreaker['status']>;
  concurrency?: { limit: number; active: number; queued: number; shed: number };
  retryBudget?: ReturnType<RetryBudget['status']>;
  targets: TargetStatus[];
}

/**
 * A named pool of targets: discovery keeps the target set, health (active checks and
 * passive outlier detection) decides which are in rotation, a balancer picks among them,
 * and the circuit breaker, retry budget and concurrency limit guard the whole upstream.
 * Everything is built at load; per request only `pick` and `report` run.
 *
 * @example
 *   const u = new Upstream('catalog', cfg, { pools, logger, baseDir });
 *   await u.ready;                       // first discovery round done
 *   const t = u.pick(ctx, undefined);    // a target (or undefined: none)
 *   u.report(t, 200, 12.5, undefined);
 *   u.status();                          // health, ejections, breaker, in-flight per target
 */
export class Upstream {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly breaker: CircuitBreaker | undefined;
  readonly limiter: ConcurrencyLimiter | undefined;
  readonly passive: PassiveHealth;
  /** Resolves when the first discovery round is done. */
  readonly ready: Promise<void>;
  readonly #deps: UpstreamDeps;
  /** Pool options by target scheme (TLS and HTTP/2 settings differ). */
  readonly #poolOptions: { 'http:': Pool.Options; 'https:': Pool.Options };
  /** Response and idle timeouts of requests to this upstream (ms; the schema's defaults filled in). */
  readonly timeouts: { response: number; idle: number };
  /** `tls:` with its files read, for connections made outside the pools (WebSocket tunnels). */
  readonly tls: UpstreamTlsMaterial | undefined;
  readonly #logger: Logger;
  readonly #balancer: Balancer;
  readonly #hashKey: KeyOf | undefined;
  readonly #sticky: { cookie: string; attrs: string } | undefined;
  readonly #active: ActiveHealth | undefined;
  readonly #discovery: Discovery;
  readonly #leases = new Map<Target, PoolLease>();
  readonly #budgets = new Map<string, RetryBudget>();
  #targets: Target[] = [];
  #byId = new Map<string, Target>();
  #panic = false;
  #closed = false;

  constructor(name: string, config: UpstreamConfig, deps: UpstreamDeps, tls?: UpstreamTlsMaterial) {
    this.name = name;
    this.config = config;
    this.#deps = deps;
    this.tls = tls;
    const t = withDefaults(TIMEOUT_DEFAULTS, config.timeouts);
    this.timeouts = { response: t.response, idle: t.idle };
    this.#poolOptions = { 'http:': poolOptions(config, tls, 'http:'), 'https:': poolOptions(config, tls, 'https:') };
    this.#logger = deps.logger.child({ upstream: name });
    this.#balancer = BALANCERS[config.balance ?? 'round-robin']({ virtualNodes: config.virtualNodes ?? 160 });
    this.#hashKey = config.balance === 'consistent-hash' ? compileHashOn(config.hashOn ?? 'ip') : undefined;
    if (config.sticky) {
      const s = config.sticky;
      this.#sticky = { cookie: s.cookie ?? 'gantry-sticky', attrs: `; Path=${s.path ?? '/'}; HttpOnly; SameSite=Lax${s.ttl !== undefined ? `; Max-Age=${Math.ceil(s.ttl / 1000)}` : ''}` };
    }
    const onChange = (t: Target, reason: string) => this.#healthChanged(t, reason);
    this.passive = new PassiveHealth({ ...DEFAULT_OUTLIER, ...config.outlierDetection }, onChange);
    if (config.healthCheck) {
      const hc = config.healthCheck;
      this.#active = new ActiveHealth(hc, () => this.#targets, onChange, this.#logger);
    }
    if (config.circuitBreaker) {
      this.breaker = new CircuitBreaker(config.circuitBreaker, (s) => this.#breakerChanged(s));
    }
    if (config.maxConcurrent !== undefined) {
      this.limiter = new ConcurrencyLimiter(config.maxConcurrent, config.queue ? (config.queue.size ?? 100) : 0, config.queue?.timeout ?? 1000);
    }
    this.#discovery = createDiscovery(config, deps.baseDir, this.#logger);
    this.ready = this.#discovery.start((specs) => this.setTargets(specs)).then(() => {
      if (!this.#closed) this.#active?.start();
    });
  }

  /** Every current target, in rotation or not. */
  get targets(): readonly Target[] {
    return this.#targets;
  }

  /** Whether every target is out of rotation (all are tried anyway). */
  get panic(): boolean {
    return this.#panic;
  }

  /**
   * The target for the next attempt, or undefined when the upstream has none. `exclude`
   * lists targets this request already tried (retries go elsewhere when they can).
   */
  pick(ctx: RequestContext | undefined, exclude: readonly Target[] | undefined): Target | undefined {
    const sticky = this.#sticky;
    if (sticky !== undefined && ctx !== undefined) return this.#pickSticky(ctx, exclude, sticky);
    return this.#balancer.pick(this.#hashKey !== undefined && ctx !== undefined ? this.#hashKey(ctx) : undefined, exclude);
  }

  #pickSticky(ctx: RequestContext, exclude: readonly Target[] | undefined, sticky: { cookie: string; attrs: string }): Target | undefined {
    const id = getCookie(ctx.header('cookie'), sticky.cookie);
    const pinned = id === undefined ? undefined : this.#byId.get(id);
    if (pinned !== undefined && (exclude === undefined || !exclude.includes(pinned))) return pinned;
    const t = this.#balancer.pick(this.#hashKey !== undefined ? this.#hashKey(ctx) : undefined, exclude);
    if (t !== undefined && exclude === undefined) ctx.addResponseHeader('set-cookie', `${sticky.cookie}=${t.id}${sticky.attrs}`);
    return t;
  }

  /**
   * Reports the end of one attempt: `status` of the response head, or 0 with `err` for a
   * failure before it. Feeds passive health, the latency average and the breaker (the
   * caller records the attempt metric). Allocation-free. `now` is the clock at the report,
   * when the caller has read it already.
   */
  report(t: Target, status: number, ms: number, err: Error | undefined, now = performance.now()): void {
    if (status > 0) {
      t.observeLatency(ms, now);
      if (status >= 500) this.passive.failure(t, true);
      else this.passive.success(t);
      this.breaker?.record(status < 500);
      return;
    }
    const kind = failureKind(err);
    if (kind === 'aborted') {
      this.breaker?.release();
      return;
    }
    this.passive.failure(t, false);
    this.breaker?.record(false);
  }

  /** The lowest latency estimate among targets in rotation (ms; 0 without samples): what a new attempt needs at least. */
  expectedLatency(): number {
    const now = performance.now();
    let best = Infinity;
    for (const t of this.#targets) if (t.available) best = Math.min(best, t.latency(now));
    return best === Infinity ? 0 : best;
  }

  /** The retry budget for these settings (shared by every route using them on this upstream). */
  retryBudget(ratio: number, minRetries: number, windowMs: number): RetryBudget {
    const key = `${ratio}|${minRetries}|${windowMs}`;
    let b = this.#budgets.get(key);
    if (!b) this.#budgets.set(key, (b = new RetryBudget(ratio, minRetries, windowMs)));
    return b;
  }

  /**
   * Replaces the target set (discovery). Targets whose URL and weight stay keep their
   * object, health and pool; removed targets leave rotation at once, and their pools
   * close only after the requests in flight on them finish.
   */
  setTargets(specs: readonly TargetSpec[]): void {
    if (this.#closed) return;
    const old = new Map(this.#targets.map((t) => [`${t.url}|${t.weight}`, t]));
    const seen = new Set<string>();
    const next: Target[] = [];
    for (const s of specs) {
      if (seen.has(s.url)) continue;
      seen.add(s.url);
      const key = `${s.url}|${s.weight}`;
      let t = old.get(key);
      if (t) old.delete(key);
      else t = this.#newTarget(s);
      next.push(t);
    }
    const changed = old.size > 0 || next.length !== this.#targets.length;
    this.#targets = next;
    this.#refresh();
    for (const t of old.values()) this.#releaseTarget(t);
    if (changed) this.#logger.info({ targets: next.map((t) => t.url), source: this.#discovery.description }, 'upstream targets changed');
  }

  status(): UpstreamStatus {
    const now = performance.now();
    const s: UpstreamStatus = {
      name: this.name,
      balance: this.config.balance ?? 'round-robin',
      discovery: this.#discovery.description,
      panic: this.#panic,
      inFlight: this.#targets.reduce((n, t) => n + t.inFlight, 0),
      targets: this.#targets.map((t) => t.status(now)),
    };
    if (this.breaker) s.breaker = this.breaker.status();
    if (this.limiter) s.concurrency = { limit: this.limiter.limit, active: this.limiter.active, queued: this.limiter.queued, shed: this.limiter.shed };
    const budget = this.#budgets.values().next().value;
    if (budget) s.retryBudget = budget.status();
    return s;
  }

  /**
   * Stops health checks and discovery, and releases the pools. Pools close gracefully in
   * the background: a request still in flight (a slow mirror copy, say) must not hold up
   * a reload or a shutdown, which destroys whatever is left.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#active?.close();
    this.passive.close();
    this.#discovery.close();
    for (const lease of this.#leases.values()) void this.#deps.pools.release(lease);
    this.#leases.clear();
    return Promise.resolve();
  }

  #newTarget(s: TargetSpec): Target {
    const lease: PoolLease = new RefLease();
    const url = new URL(s.url);
    const opts = url.protocol === 'https:' ? this.#poolOptions['https:'] : this.#poolOptions['http:'];
    const t = new Target(s.url, s.weight, this.#deps.pools.acquire(url.origin, opts, lease), this.name);
    this.#leases.set(t, lease);
    t.sink = this;
    return t;
  }

  #releaseTarget(t: Target): void {
    t.available = false;
    const lease = this.#leases.get(t);
    this.#leases.delete(t);
    if (lease) void this.#deps.pools.release(lease);
  }

  /** Recomputes the rotation after a health or target-set change (never per request). */
  #refresh(): void {
    const live = this.#targets.filter((t) => t.weight > 0);
    const up = live.filter((t) => t.activeHealthy && t.ejectedUntil === 0);
    for (const t of this.#targets) t.available = up.includes(t);
    const panic = up.length === 0 && live.length > 0;
    if (panic !== this.#panic) {
      this.#panic = panic;
      if (panic) this.#logger.error({ targets: live.length }, 'every target is unhealthy: panic mode, trying them all');
      else this.#logger.info('a target is healthy again: panic mode over');
    }
    const rotation = panic ? live : up;
    this.#byId = new Map(rotation.map((t) => [t.id, t]));
    this.#balancer.update(rotation);
  }

  #healthChanged(t: Target, reason: string): void {
    if (this.#closed || !this.#targets.includes(t)) return;
    const was = t.available;
    this.#refresh();
    const now = t.available;
    if (was === now) return;
    if (now) this.#logger.info({ target: t.url, reason }, 'target back in rotation');
    else this.#logger.warn({ target: t.url, reason, state: t.state }, 'target out of rotation');
    metrics.targetHealth(this.name, t.origin, now);
  }

  #breakerChanged(s: BreakerState): void {
    const log = s === 'open' ? this.#logger.warn.bind(this.#logger) : this.#logger.info.bind(this.#logger);
    log({ state: s }, `circuit breaker ${s}`);
    metrics.circuitState(this.name, '', s);
  }
}

/** How an attempt failed before a response head. */
export type FailureKind = 'connect-error' | 'reset' | 'timeout' | 'error' | 'aborted';

/**
 * Classifies undici and socket errors. A connect timeout is a connect error (the request
 * never left), so it is as safe to retry as a refused connection.
 */
export function failureKind(err: Error | undefined): FailureKind {
  switch ((err as { code?: string } | undefined)?.code) {
    case 'ECONNREFUSED':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
    case 'EADDRNOTAVAIL':
      return 'connect-error';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return 'reset';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return 'timeout';
    case 'UND_ERR_ABORTED':
      return 'aborted';
    default:
      return 'error';
  }
}

