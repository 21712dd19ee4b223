import type { Store } from '../../store/store.js';
import { ClockedPolicy, type CacheNode, type CachedResponse } from './entry.js';
import { isKeyOrVariant, type CacheStore, type PurgeSelector } from './store.js';

/**
 * A cache zone in the shared store (Redis), seen by every gateway instance. Entries are
 * one value each: a 4-byte length, a JSON head (status, headers, RFC 9111 state) and the
 * raw body.
 *
 * Purge by prefix or tag cannot enumerate keys through the store interface (and SCAN over
 * a shared Redis would be slow), so purges are recorded as rules in one value per zone,
 * like Varnish bans: an entry stored at or before a rule that matches it is treated as
 * absent by every instance. Rules are dropped once every entry they could match has
 * expired. Exact-key purges also delete the key itself.
 */
export class SharedCacheStore implements CacheStore {
  readonly kind = 'redis' as const;
  readonly #store: Store;
  readonly #prefix: string;
  readonly #rulesKey: string;
  readonly #now: () => number;
  readonly #maxRetention: number;
  #rulesRaw: Buffer | undefined;
  #rules: PurgeRule[] = [];
  /** The last rule update of this instance; the next one starts after it. */
  #rulesUpdate: Promise<void> = Promise.resolve();

  constructor(store: Store, zone: string, now: () => number, maxRetentionMs: number) {
    this.#store = store;
    this.#prefix = `cache:${zone}:`;
    this.#rulesKey = `cache-purges:${zone}`;
    this.#now = now;
    this.#maxRetention = maxRetentionMs;
  }

  get(key: string): Promise<CacheNode | undefined> {
    return Promise.all([this.#store.get(this.#prefix + key), this.#store.get(this.#rulesKey)]).then(
      ([raw, rules]) => {
        if (raw === undefined) return undefined;
        const node = decode(raw);
        if (node === undefined) return undefined;
        if (node.kind === 'response' && this.#purged(key, node, rules)) return undefined;
        return node;
      },
      // The shared store being down is a miss, never a failed request.
      () => undefined,
    );
  }

  set(key: string, node: CacheNode, ttlMs: number): Promise<void> {
    // Capped so that purge rules older than the cap can be forgotten safely.
    const ttl = Math.min(ttlMs, this.#maxRetention);
    return Promise.resolve(this.#store.set(this.#prefix + key, encode(key, node), ttl)).catch(() => undefined);
  }

  purge(selector: PurgeSelector): Promise<number> {
    const now = this.#now();
    // The key is deleted first, before any await: a write issued after this call (the
    // fresh response that replaces a dropped one) reaches Redis after the DEL (one
    // connection, or the key's one node in a cluster, keeps the order), so it is not lost.
    const deleted = 'key' in selector ? Promise.resolve(this.#store.delete(this.#prefix + selector.key)) : Promise.resolve(false);
    // The rules are one value, read, extended and written back: this instance's purges do
    // that one at a time, so that concurrent purges do not drop each other's rule.
    const ruled = this.#rulesUpdate.then(() => this.#addRule(selector, now));
    this.#rulesUpdate = ruled.catch(() => undefined);
    return Promise.all([deleted, ruled]).then(([d]) => (d ? 1 : 0));
  }

  async #addRule(selector: PurgeSelector, now: number): Promise<void> {
    const raw = await this.#store.get(this.#rulesKey);
    let rules = parseRules(raw).filter((r) => now - r.at < this.#maxRetention);
    rules.push({ ...selector, at: now } as PurgeRule);
    // Too many rules to check per lookup: one rule that matches everything stored until
    // now replaces them all (it purges at least what they did).
    if (rules.length > MAX_RULES) rules = [{ prefix: '', at: now }];
    await this.#store.set(this.#rulesKey, JSON.stringify(rules), this.#maxRetention);
  }

  close(): void {}

  #purged(key: string, e: CachedResponse, raw: Buffer | undefined): boolean {
    if (raw === undefined) return false;
    if (this.#rulesRaw === undefined || !raw.equals(this.#rulesRaw)) {
      this.#rulesRaw = raw;
      this.#rules = parseRules(raw);
    }
    for (const r of this.#rules) {
      if (e.storedAt > r.at) continue;
      if ('key' in r ? isKeyOrVariant(key, r.key) : 'prefix' in r ? key.startsWith(r.prefix) : e.tags.includes(r.tag)) return true;
    }
    return false;
  }
}

type PurgeRule = PurgeSelector & { at: number };

const MAX_RULES = 200;

/** Longest an entry stays in the shared store, and so how long a purge rule must be kept. */
export const SHARED_MAX_RETENTION = 24 * 3_600_000;

function parseRules(raw: Buffer | undefined): PurgeRule[] {
  if (raw === undefined) return [];
  try {
    const v = JSON.parse(raw.toString()) as unknown;
    return Array.isArray(v) ? (v as PurgeRule[]) : [];
  } catch {
    return [];
  }
}

interface Head {
  v: 1;
  kind: 'response' | 'vary';
  vary: readonly string[] | null;
  status?: number;
  headers?: string[];
  policy?: ReturnType<ClockedPolicy['toObject']>;
  tags?: readonly string[];
  etag?: string;
  lastModified?: string;
  storedAt?: number;
  ageAtStore?: number;
  freshUntil?: number;
  swrUntil?: number;
  sieUntil?: number;
  size: number;
}

/** Serialises a node: 4-byte head length, JSON head, body bytes. */
export function encode(_key: string, n: CacheNode): Buffer {
  const head: Head =
    n.kind === 'vary'
      ? { v: 1, kind: 'vary', vary: n.vary, size: n.size }
      : {
          v: 1,
          kind: 'response',
          vary: n.vary,
          status: n.status,
          headers: n.headers,
          policy: n.policy.toObject(),
          tags: n.tags,
          ...(n.etag !== undefined ? { etag: n.etag } : {}),
          ...(n.lastModified !== undefined ? { lastModified: n.lastModified } : {}),
          storedAt: n.storedAt,
          ageAtStore: n.ageAtStore,
          freshUntil: n.freshUntil,
          swrUntil: n.swrUntil,
          sieUntil: n.sieUntil,
          size: n.size,
        };
  const json = Buffer.from(JSON.stringify(head));
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(json.length, 0);
  return n.kind === 'vary' ? Buffer.concat([len, json]) : Buffer.concat([len, json, n.body]);
}

/** Reads a node written by `encode`; undefined for anything else (another version, corruption). */
export function decode(raw: Buffer): CacheNode | undefined {
  try {
    if (raw.length < 4) return undefined;
    const len = raw.readUInt32BE(0);
    const head = JSON.parse(raw.subarray(4, 4 + len).toString()) as Head;
    if (head.v !== 1) return undefined;
    if (head.kind === 'vary') return { kind: 'vary', vary: head.vary ?? [], size: head.size };
    return {
      kind: 'response',
      status: head.status!,
      headers: head.headers!,
      body: raw.subarray(4 + len),
      policy: ClockedPolicy.fromObject(head.policy!),
      vary: head.vary,
      tags: head.tags ?? [],
      etag: head.etag,
      lastModified: head.lastModified,
      storedAt: head.storedAt!,
      ageAtStore: head.ageAtStore!,
      freshUntil: head.freshUntil!,
      swrUntil: head.swrUntil!,
      sieUntil: head.sieUntil!,
      size: head.size,
    };
  } catch {
    return undefined;
  }
}
