import { createHash } from 'node:crypto';
import { Pool } from 'undici';
import { RefCache, RefLease } from '../util/ref-cache.js';

/** The pools one holder (a runtime, or one discovered target) has acquired. */
export type PoolLease = RefLease;

/**
 * Connection pools shared by the runtimes that use them, keyed by origin and options.
 * A reload acquires what the new config needs (unchanged targets keep their warm
 * connections); a pool closes gracefully when the last holder releases it, after the
 * requests in flight on it finish.
 *
 * @example
 *   const lease: PoolLease = new RefLease();
 *   const pool = cache.acquire('http://127.0.0.1:8080', { connections: 64 }, lease);
 *   await cache.release(lease);   // closes the pool unless another holder has it
 */
export class PoolCache {
  readonly #pools = new RefCache<string, Pool>((pool) => pool.close().catch(() => undefined));

  acquire(origin: string, opts: Pool.Options, lease: PoolLease): Pool {
    return lease.add(this.#pools.acquire(`${origin}|${JSON.stringify(opts, digestBytes)}`, () => new Pool(origin, opts)));
  }

  /** Releases a holder's pools; those nobody holds any more are closed. */
  release(lease: PoolLease): Promise<void> {
    return lease.release();
  }

  /** Destroys every pool, held or not (shutdown). */
  closeAll(): Promise<void> {
    return this.#pools.closeAll((pool) => pool.destroy().catch(() => undefined));
  }

  get size(): number {
    return this.#pools.size;
  }
}

/** JSON replacer: TLS material (certificates, keys) enters a pool's key as a digest, not as its bytes. */
function digestBytes(this: Record<string, unknown>, name: string, value: unknown): unknown {
  const raw = this[name];
  return raw instanceof Uint8Array ? createHash('sha256').update(raw).digest('hex') : value;
}
