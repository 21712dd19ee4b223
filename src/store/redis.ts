import { Buffer } from 'node:buffer';
import { Redis, Cluster, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { ACQUIRE_SCRIPT, ALGORITHM_CODES, COUNT_SCRIPT, LIMIT_SCRIPT, STAMP_SCRIPT } from './lua.js';
import { ThrottledLog } from './error-log.js';
import { metrics } from '../observability/metrics.js';
import type { Clock } from './clock.js';
import { StoreUnavailableError, type CounterResult, type Decision, type Grant, type LimitSpec, type Store } from './store.js';

export interface RedisStoreOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…` for TLS. */
  url: string;
  /** Redis Cluster seed nodes; when set, `url` is ignored and the cluster client is used. */
  nodes?: string[];
  /** Prepended to every key, so gateways can share a Redis with others. */
  keyPrefix: string;
  /** A command not answered within this many ms fails (and the policy's `onStoreError` applies). */
  commandTimeoutMs: number;
  /** Cap of the reconnect backoff, in ms. */
  maxBackoffMs: number;
  logger: Logger;
  /** Minimum ms between two log lines about the same outage. */
  logIntervalMs?: number;
  /**
   * Time source for decisions. Default: the Redis server's clock, one clock for every
   * instance. An explicit clock (tests) sends its time with each command instead.
   */
  clock?: Clock;
}

type Reply = [number, number, number, number, number];

/** The scripts, registered with defineCommand (EVALSHA, EVAL on NOSCRIPT). */
interface ScriptCommands {
  gantryLimit(key: string, alg: number, limit: number, windowMs: number, burst: number, want: number, partial: 0 | 1, nowUs: string): Promise<Reply>;
  gantryCount(key: string, cost: number, limit: number, ttlMs: number): Promise<[number, number]>;
  gantryAcquire(key: string, holder: string, max: number, holdMs: number, nowUs: string): Promise<number>;
  gantryStamp(key: string, field: string, at: number, since: number, ttlMs: number): Promise<number>;
}

type Client = (Redis | Cluster) & ScriptCommands;

/**
 * The shared store on Redis (ioredis). Every limiter decision is one Lua script: one
 * atomic round trip, no read-modify-write race between gateway instances. Keys are
 * `<keyPrefix>{<key>}`: the braces make the whole logical key the Redis Cluster hash tag,
 * so anything a caller stores under one logical key (plus a suffix) lands in one slot.
 *
 * Commands are never queued while Redis is unreachable (`enableOfflineQueue: false`):
 * they fail at once, the caller applies its `onStoreError`, and the client reconnects in
 * the background with capped exponential backoff and jitter.
 *
 * @example
 *   const store = new RedisStore({ url: 'redis://127.0.0.1:6379', keyPrefix: 'gantry:', commandTimeoutMs: 500, maxBackoffMs: 2000, logger });
 *   await store.ready(1000);
 */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly shared = true;
  readonly #client: Client;
  readonly #prefix: string;
  readonly #logger: Logger;
  readonly #errors: ThrottledLog;
  readonly #clock: Clock | undefined;
  #down = false;
  #closed = false;

  constructor(options: RedisStoreOptions) {
    this.#prefix = options.keyPrefix;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#errors = new ThrottledLog(options.logger, options.logIntervalMs ?? 10_000);
    const base: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: Math.max(1000, options.commandTimeoutMs * 4),
      // Capped exponential backoff with jitter, so a fleet does not reconnect in lockstep.
      retryStrategy: (times) => Math.min(options.maxBackoffMs, 50 * 2 ** Math.min(times, 10)) + Math.floor(Math.random() * 50),
    };
    const client = options.nodes?.length
      ? new Cluster(options.nodes.map(nodeOf), { enableOfflineQueue: false, redisOptions: base, clusterRetryStrategy: base.retryStrategy! })
      : new Redis(options.url, base);
    client.defineCommand('gantryLimit', { numberOfKeys: 1, lua: LIMIT_SCRIPT });
    client.defineCommand('gantryCount', { numberOfKeys: 1, lua: COUNT_SCRIPT });
    client.defineCommand('gantryAcquire', { numberOfKeys: 1, lua: ACQUIRE_SCRIPT });
    client.defineCommand('gantryStamp', { numberOfKeys: 1, lua: STAMP_SCRIPT });
    // A dropped connection is an outage even if the server is back before the first
    // reconnect attempt fails; either event opens it, and the throttle keeps it one line.
    client.on('close', () => {
      if (this.#closed || this.#down) return;
      this.#down = true;
      this.#errors.report(new Error('connection closed'), 'store: redis connection lost; reconnecting');
    });
    client.on('error', (err: Error) => {
      this.#down = true;
      this.#errors.report(err, 'store: redis unreachable; reconnecting');
    });
    client.on('ready', () => {
      if (this.#down) this.#logger.info('store: redis reachable again');
      this.#down = false;
      this.#errors.reset();
    });
    this.#client = client as Client;
  }

  get healthy(): boolean {
    return this.#client.status === 'ready';
  }

  /** '' (Redis TIME) or the explicit clock's time in µs. */
  #now(): string {
    return this.#clock === undefined ? '' : String(Math.round(this.#clock.now() * 1000));
  }

  /** `<prefix>{key}`: see the class comment on hash tags. */
  key(key: string, suffix = ''): string {
    return `${this.#prefix}{${key}}${suffix}`;
  }

  consume(key: string, spec: LimitSpec, cost: number): Promise<Decision> {
    return this.#client
      .gantryLimit(this.key(key), ALGORITHM_CODES[spec.algorithm], spec.limit, spec.windowMs, spec.burst, cost, 0, this.#now())
      .then((r) => ({ allowed: r[0] === cost, limit: r[1], remaining: r[2], resetMs: r[3], retryAfterMs: r[4] }), unavailable);
  }

  take(key: string, spec: LimitSpec, want: number): Promise<Grant> {
    return this.#client
      .gantryLimit(this.key(key), ALGORITHM_CODES[spec.algorithm], spec.limit, spec.windowMs, spec.burst, want, 1, this.#now())
      .then((r) => ({ granted: r[0], limit: r[1], remaining: r[2], resetMs: r[3], retryAfterMs: r[4] }), unavailable);
  }

  count(key: string, cost: number, limit: number, ttlMs: number): Promise<CounterResult> {
    return this.#client
      .gantryCount(this.key(key), cost, limit, Math.max(1, Math.ceil(ttlMs)))
      .then((r) => ({ allowed: r[0] === 1, count: r[1] }), unavailable);
  }

  acquire(key: string, holder: string, max: number, holdMs: number): Promise<boolean> {
    return this.#client.gantryAcquire(this.key(key), holder, max, holdMs, this.#now()).then((r) => r === 1, unavailable);
  }

  release(key: string, holder: string): void {
    this.#client.zrem(this.key(key), holder).catch((err: unknown) => {
      metrics.storeError(this.kind, 'concurrency-release');
      // The slot frees itself after its hold time; only say so once per interval.
      this.#errors.report(err, 'store: could not release a concurrency slot; it expires by itself');
    });
  }

  get(key: string): Promise<Buffer | undefined> {
    return this.#client.getBuffer(this.key(key)).then((v) => v ?? undefined, unavailable);
  }

  set(key: string, value: Buffer | string, ttlMs?: number): Promise<void> {
    const k = this.key(key);
    const p = ttlMs === undefined ? this.#client.set(k, value) : this.#client.set(k, value, 'PX', Math.max(1, Math.ceil(ttlMs)));
    return p.then(() => undefined, unavailable);
  }

  delete(key: string): Promise<boolean> {
    return this.#client.del(this.key(key)).then((n) => n > 0, unavailable);
  }

  stamp(key: string, field: string, at: number, since: number, ttlMs: number): Promise<number> {
    return this.#client.gantryStamp(this.key(key), field, Math.round(at), Math.round(since), Math.max(1, Math.ceil(ttlMs))).then((n) => n, unavailable);
  }

  stamps(key: string, fields?: readonly string[]): Promise<Map<string, number>> {
    const k = this.key(key);
    if (fields === undefined) {
      return this.#client.hgetall(k).then((all) => {
        const out = new Map<string, number>();
        for (const f in all) out.set(f, Number(all[f]));
        return out;
      }, unavailable);
    }
    if (fields.length === 0) return Promise.resolve(new Map());
    return this.#client.hmget(k, ...fields).then((values) => {
      const out = new Map<string, number>();
      values.forEach((v, i) => {
        if (v !== null) out.set(fields[i]!, Number(v));
      });
      return out;
    }, unavailable);
  }

  ready(timeoutMs: number): Promise<boolean> {
    if (this.healthy) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#client.off('ready', onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(this.healthy), timeoutMs);
      this.#client.on('ready', onReady);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#client.status === 'ready') {
      try {
        await this.#client.quit();
        return;
      } catch {
        // fall through to a hard disconnect
      }
    }
    this.#client.disconnect();
  }
}

function unavailable(err: unknown): never {
  throw new StoreUnavailableError(`store unavailable: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

function nodeOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 6379) };
}
