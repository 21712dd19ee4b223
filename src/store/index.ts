import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import { MemoryStore } from './memory.js';
import { StoreSchema, type StoreConfig } from './schema.js';
import { schemaDefaults } from '../config/validate.js';
import type { Store } from './store.js';
import { RefCache } from '../util/ref-cache.js';

export type { Store, LimitSpec, Decision, Grant, CounterResult, Algorithm, Awaitable } from './store.js';
export { StoreUnavailableError } from './store.js';
export { MemoryStore } from './memory.js';
// RedisStore is not re-exported here: ioredis loads only when a config uses `kind: redis`.
export type { RedisStore } from './redis.js';
export { systemClock, manualClock, type Clock, type ManualClock } from './clock.js';

/** A config without `store:`: the schema's defaults. */
const DEFAULTS: Readonly<StoreConfig> = schemaDefaults(StoreSchema);

/**
 * Builds a store from its (validated) config. The Redis client is loaded only when a
 * config asks for Redis (ioredis adds ~20 MB to a process that never uses it).
 */
export async function createStore(config: StoreConfig | undefined, logger: Logger, clock: Clock): Promise<Store> {
  const c = { ...DEFAULTS, ...config };
  if (c.kind === 'memory') return new MemoryStore({ clock });
  const { RedisStore } = await import('./redis.js');
  return new RedisStore({
    url: c.url,
    ...(c.nodes ? { nodes: c.nodes } : {}),
    keyPrefix: c.keyPrefix,
    commandTimeoutMs: c.timeout,
    maxBackoffMs: c.maxBackoff,
    logger: logger.child({ component: 'store' }),
  });
}

/** A store held by one config version; `release` when the version retires. */
export interface StoreLease {
  readonly store: Store;
  release(): Promise<void>;
}

/**
 * The stores of one gateway, kept across reloads: a config version that keeps the same
 * `store:` gets the same store (counters and the Redis connection survive the reload);
 * a store closes when the last version using it retires.
 *
 * @example
 *   const stores = new StoreCache(systemClock);
 *   const lease = await stores.acquire(config.store, logger);
 *   lease.store.consume(…); await lease.release();
 */
export class StoreCache {
  readonly #clock: Clock;
  readonly #open = new RefCache<string, Promise<Store>>(async (store) => (await store).close());

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get clock(): Clock {
    return this.#clock;
  }

  /**
   * The store for this config, created (and given up to 1 s to connect) when new. A store
   * that failed to open is not kept (the cache forgets a rejected open): the next config
   * load tries again.
   */
  async acquire(config: StoreConfig | undefined, logger: Logger): Promise<StoreLease> {
    const ref = this.#open.acquire(JSON.stringify({ ...DEFAULTS, ...config }), () =>
      createStore(config, logger, this.#clock).then(async (s) => {
        // Serve at once when Redis is down: policies apply their onStoreError until it is back.
        if (!(await s.ready(1000))) logger.warn({ store: s.kind }, 'store not reachable at start; policies apply onStoreError until it is');
        return s;
      }),
    );
    return { store: await ref.value, release: ref.release };
  }

  async closeAll(): Promise<void> {
    await this.#open.closeAll();
  }
}
