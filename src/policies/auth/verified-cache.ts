import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

interface Entry<V> {
  value: V;
  /** Epoch ms after which the entry must not be used. */
  until: number;
}

/**
 * A bounded LRU of verification results keyed by a SHA-256 of the credential (the cache
 * never holds a usable token), each valid until its own deadline. A hit is synchronous:
 * no Promise, no I/O.
 *
 * @example
 *   const cache = new VerifiedCache<Identity>(10_000);
 *   const key = cache.key(token);
 *   cache.get(key) ?? cache.set(key, identity, expMs);
 */
export class VerifiedCache<V> {
  readonly #lru: LRUCache<string, Entry<V>>;

  constructor(max: number) {
    this.#lru = new LRUCache({ max });
  }

  /** The cache key of a credential. */
  key(credential: string): string {
    return createHash('sha256').update(credential).digest('base64');
  }

  get(key: string, now = Date.now()): V | undefined {
    const e = this.#lru.get(key);
    if (e === undefined) return undefined;
    if (now >= e.until) {
      this.#lru.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, until: number): void {
    if (until > Date.now()) this.#lru.set(key, { value, until });
  }

  get size(): number {
    return this.#lru.size;
  }

  clear(): void {
    this.#lru.clear();
  }
}
