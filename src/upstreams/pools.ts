import { Pool } from 'undici';

/** The pool keys one holder (a runtime, or one discovered target) has acquired. */
export type PoolLease = Set<string>;

/**
 * Connection pools shared by the runtimes that use them, keyed by origin and options.
 * A reload acquires what the new config needs (unchanged targets keep their warm
 * connections); a pool closes gracefully when the last holder releases it, after the
 * requests in flight on it finish.
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

  /** Releases a holder's pools; those nobody holds any more are closed. */
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
