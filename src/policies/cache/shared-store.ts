import { Buffer } from 'node:buffer';
import type { Store } from '../../store/store.js';
import { ClockedPolicy, type CacheNode, type CachedResponse } from './entry.js';
import { isKeyOrVariant, type CacheStore, type PurgeSelector } from './store.js';

/**
 * A cache zone in the shared store (Redis), seen by every gateway instance. Entries are
 * one value each: a 4-byte length, a JSON head (status, headers, RFC 9111 state) and the
 * raw body.
 *
 * Purge by prefix or tag cannot enumerate keys through the store interface (and SCAN over
 * a shared Redis would be slow), so purges are recorded as rules, like Varnish bans: an
 * entry stored at or before a rule that matches it is treated as absent by every
 * instance. The rules are the stamps of one Redis hash per zone (field: the selector as
 * JSON, value: when it was purged), so each purge adds its rule atomically and purges sent
 * at once by different instances all keep theirs. Rules are dropped once every entry they
 * could match has expired.
 *
 * A purge by key (the cache's own drops: an outdated entry, an unsafe request on its URI,
 * RFC 9111 §4.4) deletes the key and stamps the drop in a hash per URI (the key up to its
 * first `#`; field: the rest of the dropped key). The key's Vary variants and more
 * specific keys (`#host=…`, `#consumer=…`) cannot be listed, so a lookup reads the stamps
 * of its own key's `#`-prefixes (one HMGET) and treats an entry stored at or before one
 * of them as absent. So drops cost no zone-wide rule: however many URIs a route
 * invalidates, other entries stay.
 */
export class SharedCacheStore implements CacheStore {
  readonly kind = 'redis' as const;
  readonly #store: Store;
  readonly #prefix: string;
  readonly #rulesKey: string;
  readonly #dropsPrefix: string;
  readonly #now: () => number;
  readonly #maxRetention: number;
  /** Rules parsed from their field (JSON), so a lookup parses none it has seen before. */
  readonly #parsed = new Map<string, PurgeSelector | null>();

  constructor(store: Store, zone: string, now: () => number, maxRetentionMs: number) {
    this.#store = store;
    this.#prefix = `cache:${zone}:`;
    this.#rulesKey = `cache-rules:${zone}`;
    this.#dropsPrefix = `cache-drops:${zone}:`;
    this.#now = now;
    this.#maxRetention = maxRetentionMs;
  }

  /** Resolves undefined (a miss) when Redis cannot answer, after calling `onError` with why. */
  get(key: string, onError?: (err: unknown) => void): Promise<CacheNode | undefined> {
    const uri = uriOf(key);
    const drops = this.#store.stamps(this.#dropsKey(uri), dropFields(key, uri.length));
    return Promise.all([this.#store.get(this.#prefix + key), this.#store.stamps(this.#rulesKey), drops]).then(
      ([raw, rules, dropped]) => {
        if (raw === undefined) return undefined;
        const node = decode(raw);
        if (node === undefined) return undefined;
        if (node.kind === 'response' && (droppedSince(node, dropped) || this.#purged(key, node, rules))) return undefined;
        return node;
      },
      // The shared store being down is a miss, never a failed request (the caller counts it).
      (err: unknown) => {
        if (onError !== undefined) onError(err);
        return undefined;
      },
    );
  }

  /** Resolves true once Redis has taken the write; rejects when it failed (down, or a command error). */
  set(key: string, node: CacheNode, ttlMs: number): Promise<boolean> {
    // Capped so that purge rules older than the cap can be forgotten safely.
    const ttl = Math.min(ttlMs, this.#maxRetention);
    return Promise.resolve(this.#store.set(this.#prefix + key, encode(key, node), ttl)).then(() => true);
  }

  purge(selector: PurgeSelector): Promise<number> {
    const now = this.#now();
    // The key is deleted first, before any await: a write issued after this call (the
    // fresh response that replaces a dropped one) reaches Redis after the DEL (one
    // connection, or the key's one node in a cluster, keeps the order), so it is not lost.
    if ('key' in selector) {
      const key = selector.key;
      const deleted = Promise.resolve(this.#store.delete(this.#prefix + key));
      const uri = uriOf(key);
      const stamped = this.#store.stamp(this.#dropsKey(uri), key.slice(uri.length), now, now - this.#maxRetention, this.#maxRetention);
      return Promise.all([deleted, stamped]).then(([d]) => (d ? 1 : 0));
    }
    return this.#addRule(selector, now).then(() => 0);
  }

  /** The hash of drop stamps of one URI (path and query). */
  #dropsKey(uri: string): string {
    return this.#dropsPrefix + uri;
  }

  async #addRule(selector: PurgeSelector, now: number): Promise<void> {
    const since = now - this.#maxRetention;
    const n = await this.#store.stamp(this.#rulesKey, ruleField(selector), now, since, this.#maxRetention);
    // Too many rules to check per lookup: one rule that matches everything stored until
    // now replaces them all (it purges at least what they did; a rule added meanwhile by
    // another instance with a later time is kept).
    if (n > MAX_RULES) await this.#store.stamp(this.#rulesKey, ruleField({ prefix: '' }), now, now, this.#maxRetention);
  }

  close(): void {}

  #purged(key: string, e: CachedResponse, rules: Map<string, number>): boolean {
    for (const [field, at] of rules) {
      if (e.storedAt > at) continue;
      const r = this.#rule(field);
      if (r === null) continue;
      if ('key' in r ? isKeyOrVariant(key, r.key) : 'prefix' in r ? key.startsWith(r.prefix) : e.tags.includes(r.tag)) return true;
    }
    return false;
  }

  #rule(field: string): PurgeSelector | null {
    let r = this.#parsed.get(field);
    if (r === undefined) {
      if (this.#parsed.size >= 4 * MAX_RULES) this.#parsed.clear();
      this.#parsed.set(field, (r = parseRule(field)));
    }
    return r;
  }
}

const MAX_RULES = 200;

/** The URI part of a key: up to its first `#` (which never occurs in a request target). */
function uriOf(key: string): string {
  const i = key.indexOf('#');
  return i < 0 ? key : key.slice(0, i);
}

/**
 * The drop-hash fields a key is covered by: the rest of each of its `#`-prefixes from the
 * URI on ('' for the URI itself, then `#host=…`, …, the whole rest), as `isKeyOrVariant`.
 */
function dropFields(key: string, from: number): string[] {
  const out = [''];
  for (let i = key.indexOf('#', from + 1); i >= 0; i = key.indexOf('#', i + 1)) out.push(key.slice(from, i));
  if (key.length > from) out.push(key.slice(from));
  return out;
}

/** Whether the entry was stored at or before a drop of its key or a less specific one. */
function droppedSince(e: CachedResponse, dropped: Map<string, number>): boolean {
  for (const at of dropped.values()) if (e.storedAt <= at) return true;
  return false;
}

/** Longest an entry stays in the shared store, and so how long a purge rule must be kept. */
export const SHARED_MAX_RETENTION = 24 * 3_600_000;

/** The rule's field: the selector as canonical JSON (one field per distinct purge). */
function ruleField(s: PurgeSelector): string {
  return 'key' in s ? JSON.stringify({ key: s.key }) : 'prefix' in s ? JSON.stringify({ prefix: s.prefix }) : JSON.stringify({ tag: s.tag });
}

function parseRule(field: string): PurgeSelector | null {
  try {
    const v = JSON.parse(field) as Record<string, unknown>;
    if (typeof v.key === 'string') return { key: v.key };
    if (typeof v.prefix === 'string') return { prefix: v.prefix };
    if (typeof v.tag === 'string') return { tag: v.tag };
  } catch {
    // another version's rule: ignored
  }
  return null;
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
