import type { CacheNode } from './entry.js';

/** What to purge: one key (with its Vary variants), every key under a prefix, or a tag. */
export type PurgeSelector = { key: string } | { prefix: string } | { tag: string };

/**
 * Where a cache zone keeps its entries. The memory store answers synchronously, so a hit
 * costs no Promise; a shared store (Redis) returns Promises.
 */
export interface CacheStore {
  readonly kind: 'memory' | 'redis';
  /**
   * The node stored under a key. A shared store that cannot be read (Redis down, or a
   * command error) answers undefined, a miss, after calling `onError` with the error; the
   * memory store never fails.
   */
  get(key: string, onError?: (err: unknown) => void): CacheNode | undefined | Promise<CacheNode | undefined>;
  /**
   * Stores a node for at most `ttlMs` (the store may evict it sooner). Answers whether the
   * store kept it: the memory store at once (false: it refused the node), a shared store
   * once the write succeeded (resolves true) or failed (rejects).
   */
  set(key: string, node: CacheNode, ttlMs: number): boolean | Promise<boolean>;
  /** Removes entries; resolves with how many were removed. */
  purge(selector: PurgeSelector): number | Promise<number>;
  close(): void | Promise<void>;
}

/** Whether `key` is `base` itself or a more specific key under it (host, consumer, Vary variant). */
export function isKeyOrVariant(key: string, base: string): boolean {
  return key === base || (key.startsWith(base) && key.charCodeAt(base.length) === 35 /* # */);
}

interface Slot {
  node: CacheNode;
  expires: number;
}

/**
 * An LRU bounded in bytes. A `Map` keeps insertion order, so re-inserting on each hit
 * makes its first key the least recently used. Tags are indexed for purge by tag.
 *
 * Each entry counts its body, headers, key and a fixed overhead (`sizeOf`) against the
 * bound, but only its body decides whether it may be stored at all: the config accepts a
 * memory zone whose `maxSize` is at least its `maxEntrySize`, and the policy announces
 * `stored` (RFC 9211 §2.6) for any body within `maxEntrySize`, so every such body must be
 * kept. Refusing it for its headers would contradict both, and no fixed headroom could
 * cover headers and keys whose size depends on the request. So an entry whose whole size
 * exceeds the bound evicts all others and is kept alone, with the Vary marker it is reached
 * through: the zone then exceeds the bound by that one entry's headers, key and overhead
 * (tens of kB at most), never by a second body.
 *
 * @example
 *   const s = new MemoryCacheStore(64 * 1024 * 1024, () => Date.now());
 *   s.set('/a', entry, 30_000); s.get('/a'); s.purge({ prefix: '/a' });
 */
export class MemoryCacheStore implements CacheStore {
  readonly kind = 'memory' as const;
  readonly #slots = new Map<string, Slot>();
  readonly #tags = new Map<string, Set<string>>();
  readonly #maxBytes: number;
  readonly #now: () => number;
  #bytes = 0;

  constructor(maxBytes: number, now: () => number) {
    this.#maxBytes = maxBytes;
    this.#now = now;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#slots.size;
  }

  get(key: string): CacheNode | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    if (slot.expires <= this.#now()) {
      this.#remove(key, slot);
      return undefined;
    }
    // Most recently used goes last.
    this.#slots.delete(key);
    this.#slots.set(key, slot);
    return slot.node;
  }

  /** False when the node is refused: a body larger than the whole bound (never kept). */
  set(key: string, node: CacheNode, ttlMs: number): boolean {
    // A Vary marker has no body (and is small).
    if (node.kind === 'response' && node.body.length > this.#maxBytes) return false;
    const old = this.#slots.get(key);
    if (old !== undefined) this.#remove(key, old);
    const slot: Slot = { node, expires: this.#now() + ttlMs };
    this.#slots.set(key, slot);
    this.#bytes += node.size;
    if (node.kind === 'response') {
      for (const t of node.tags) {
        let keys = this.#tags.get(t);
        if (keys === undefined) this.#tags.set(t, (keys = new Set()));
        keys.add(key);
      }
    }
    if (this.#bytes > this.#maxBytes) this.#evict(key);
    return true;
  }

  purge(selector: PurgeSelector): number {
    let keys: string[];
    if ('tag' in selector) keys = [...(this.#tags.get(selector.tag) ?? [])];
    else if ('prefix' in selector) keys = [...this.#slots.keys()].filter((k) => k.startsWith(selector.prefix));
    else keys = [...this.#slots.keys()].filter((k) => isKeyOrVariant(k, selector.key));
    let n = 0;
    for (const k of keys) {
      const slot = this.#slots.get(k);
      if (slot === undefined) continue;
      this.#remove(k, slot);
      if (slot.node.kind === 'response') n++;
    }
    return n;
  }

  close(): void {
    this.#slots.clear();
    this.#tags.clear();
    this.#bytes = 0;
  }

  /**
   * Removes least recently used entries until the bound holds, or until only `kept` (just
   * stored) and the keys it is a variant of (its Vary marker) are left.
   */
  #evict(kept: string): void {
    for (const [k, s] of this.#slots) {
      if (this.#bytes <= this.#maxBytes) return;
      if (!isKeyOrVariant(kept, k)) this.#remove(k, s);
    }
  }

  #remove(key: string, slot: Slot): void {
    this.#slots.delete(key);
    this.#bytes -= slot.node.size;
    if (slot.node.kind !== 'response') return;
    for (const t of slot.node.tags) {
      const keys = this.#tags.get(t);
      if (keys === undefined) continue;
      keys.delete(key);
      if (keys.size === 0) this.#tags.delete(t);
    }
  }
}
