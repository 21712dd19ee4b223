/** One holder's share of a cached value; `release` hands it back (a second call does nothing). */
export interface Ref<V> {
  readonly value: V;
  release(): Promise<void>;
}

interface Entry<V> {
  readonly value: V;
  refs: number;
  /** Set when the entry left the map (closed, failed or `closeAll`): its refs no longer count. */
  gone: boolean;
}

/**
 * Long-lived values shared by the holders that ask for the same key (config versions that
 * define an upstream, a pool or a store identically), with a reference count: `acquire`
 * creates the value on first use and shares it after; the value closes when its last
 * holder releases it. A value that is a Promise and rejects is forgotten at once, so the
 * next `acquire` of that key creates it again (a store that failed to connect).
 *
 * These run at config load, never per request.
 *
 * @example
 *   const pools = new RefCache<string, Pool>((pool) => pool.close());
 *   const a = pools.acquire(origin, () => new Pool(origin));   // creates
 *   const b = pools.acquire(origin, () => new Pool(origin));   // shares: b.value === a.value
 *   await a.release();                                         // still held by b
 *   await b.release();                                         // closes the pool
 */
export class RefCache<K, V> {
  readonly #entries = new Map<K, Entry<V>>();
  readonly #close: (value: V, key: K) => unknown;

  /** `close` ends a value nobody holds any more; its Promise is awaited by `release`. */
  constructor(close: (value: V, key: K) => unknown) {
    this.#close = close;
  }

  /** The value for `key`, made by `create` when no holder has it yet; one more holder counted. */
  acquire(key: K, create: (key: K) => V): Ref<V> {
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      const made: Entry<V> = { value: create(key), refs: 0, gone: false };
      this.#entries.set(key, made);
      if (isThenable(made.value)) made.value.then(undefined, () => this.#forget(key, made));
      entry = made;
    }
    entry.refs++;
    const e = entry;
    let released = false;
    return {
      value: e.value,
      release: async () => {
        if (released) return;
        released = true;
        if (--e.refs > 0 || e.gone) return;
        this.#forget(key, e);
        await this.#close(e.value, key);
      },
    };
  }

  /** Forgets every value, holders or not, and ends each with `dispose` (default: `close`). */
  async closeAll(dispose: (value: V, key: K) => unknown = this.#close): Promise<void> {
    const all = [...this.#entries];
    for (const [, e] of all) e.gone = true;
    this.#entries.clear();
    await Promise.all(all.map(([key, e]) => dispose(e.value, key)));
  }

  /**
   * The values held now, with their keys (flushing every open file, purging every zone);
   * a value whose last holder released it, or that failed, is not among them.
   *
   * @example
   *   for (const [origin, pool] of pools.entries()) console.log(origin, pool.stats);
   */
  entries(): IterableIterator<[K, V]> {
    return mapValues(this.#entries.entries(), (e) => e.value);
  }

  /** How many distinct values are held. */
  get size(): number {
    return this.#entries.size;
  }

  #forget(key: K, e: Entry<V>): void {
    e.gone = true;
    if (this.#entries.get(key) === e) this.#entries.delete(key);
  }
}

/**
 * The refs one holder (a config version, a discovered target) has taken, handed back
 * together. Releasing twice is harmless: the second call finds nothing left.
 *
 * @example
 *   const lease = new RefLease();
 *   const pool = lease.add(pools.acquire(origin, () => new Pool(origin)));
 *   await lease.release();
 */
export class RefLease {
  #refs: Ref<unknown>[] = [];

  /** Keeps `ref` to release with the others; returns its value. */
  add<V>(ref: Ref<V>): V {
    this.#refs.push(ref);
    return ref.value;
  }

  /** Releases every ref taken so far; the values nobody holds any more close. */
  async release(): Promise<void> {
    const refs = this.#refs;
    this.#refs = [];
    await Promise.all(refs.map((r) => r.release()));
  }
}

function* mapValues<K, E, V>(it: Iterable<[K, E]>, f: (e: E) => V): IterableIterator<[K, V]> {
  for (const [k, e] of it) yield [k, f(e)];
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as PromiseLike<unknown>).then === 'function';
}
