import { metrics, type CacheResult } from '../../observability/metrics.js';
import type { CacheStore, PurgeSelector } from './store.js';
import { RefCache, type Ref } from '../../util/ref-cache.js';
import type { GatewayConfig } from '../../config/schema.js';
import { forEachPolicyEntry } from '../../config/entries.js';

/** Outcome counters of a cache zone (read by metrics and the admin API). */
export interface CacheStats {
  /** Served from cache, fresh. */
  hits: number;
  /** Served stale: stale-while-revalidate or stale-if-error. */
  stale: number;
  /** Went upstream with no usable entry. */
  misses: number;
  /** Went upstream to revalidate an entry; `revalidated` of them came back 304. */
  revalidations: number;
  revalidated: number;
  /** Responses the store kept: counted once its write answered (a failed write is a store error instead). */
  stored: number;
  /** Requests that waited for another request's upstream fetch instead of sending their own. */
  coalesced: number;
}

/** One fetch in flight for a key; requests for the same key wait on it (coalescing). */
export interface InFlight {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
}

/**
 * A cache zone: a store, the fetches in flight and the counters. Zones live in a process-
 * wide registry keyed by config directory, zone name and settings, so a config reload that
 * keeps a zone's settings keeps its cached entries, and `Gateway.purgeCache` finds every
 * zone of its config.
 */
export class CacheZone {
  readonly name: string;
  readonly store: CacheStore;
  /** Settings the store was built with; a reload with other settings builds a new zone. */
  readonly signature: string;
  readonly inFlight = new Map<string, InFlight>();
  readonly stats: CacheStats = { hits: 0, stale: 0, misses: 0, revalidations: 0, revalidated: 0, stored: 0, coalesced: 0 };

  constructor(name: string, store: CacheStore, signature: string) {
    this.name = name;
    this.store = store;
    this.signature = signature;
  }
}

/** Zones by `scope \0 name \0 signature`; the last policy instance releasing one closes its store. */
const zones = new RefCache<string, CacheZone>((zone) => zone.store.close());

/** How each counter reads in `gantry_cache_requests_total{result}`. */
const RESULT: Record<keyof CacheStats, CacheResult | undefined> = {
  hits: 'hit',
  coalesced: 'hit',
  stale: 'stale',
  misses: 'miss',
  revalidations: undefined,
  revalidated: 'revalidated',
  stored: 'store',
};

/** Increments a zone counter and the route's Prometheus series. */
export function count(zone: CacheZone, event: keyof CacheStats, route: string): void {
  zone.stats[event]++;
  const result = RESULT[event];
  if (result !== undefined) metrics.cacheResult(route, result);
}

/**
 * Takes a reference on a zone, building it (and its store) when no policy instance holds
 * one of that scope, name and settings (a reload with other settings gets an empty zone).
 * `release()` the ref when the policy closes; the last one closes the store.
 *
 * @example
 *   const ref = acquireZone(baseDir, 'catalog', 'memory:1048576', () => new MemoryCacheStore(1048576, now));
 *   ref.value.store.get(key);
 *   await ref.release();
 */
export function acquireZone(scope: string, name: string, signature: string, build: () => CacheStore): Ref<CacheZone> {
  return zones.acquire(scope + '\0' + name + '\0' + signature, () => new CacheZone(name, build(), signature));
}

/**
 * The zone a `cache` policy entry uses: its `zone`, else the route's name, else `global`
 * (an entry of the global `policies` list).
 *
 * @example cacheZoneName({ zone: 'shop' }, 'catalog') // 'shop'
 */
export function cacheZoneName(settings: { zone?: string | undefined }, routeName: string | undefined): string {
  return settings.zone ?? routeName ?? 'global';
}

/**
 * Names of the cache zones a config declares (sorted, unique). The registry also holds the
 * zones of a config version that is retiring (its in-flight requests still use them), so
 * "which zones are there" is answered from the serving config, not from the registry.
 *
 * @example configZones(gw.runtime.config) // ['items', 'shop']
 */
export function configZones(config: GatewayConfig): string[] {
  const names = new Set<string>();
  forEachPolicyEntry(config, (name, settings, at) => {
    if (name !== 'cache' || typeof settings !== 'object' || settings === null) return;
    const route = at[0] === 'routes' ? config.routes[at[1] as number]?.name : undefined;
    names.add(cacheZoneName(settings as { zone?: string }, route));
  });
  return [...names].sort();
}

/** Zones of one config scope, optionally only the named one (retiring config versions' included). */
export function zonesOf(scope: string, name?: string): CacheZone[] {
  const out: CacheZone[] = [];
  for (const [id, z] of zones.entries()) if (id.startsWith(scope + '\0') && (name === undefined || z.name === name)) out.push(z);
  return out;
}

/**
 * A purge that some zones could not apply (their shared store was down or refused it).
 * Every other zone was purged; `purged` counts what they removed.
 */
export class CachePurgeError extends Error {
  /** Names of the zones whose purge failed, in registry order. */
  readonly zones: string[];
  readonly purged: number;
  constructor(zones: string[], purged: number, causes: unknown[]) {
    super(`cache purge failed in zone(s) ${zones.map((z) => `'${z}'`).join(', ')}: the shared store is unavailable or refused it`, { cause: causes[0] });
    this.name = 'CachePurgeError';
    this.zones = zones;
    this.purged = purged;
  }
}

/**
 * Purges matching entries in every zone of a scope (the admin API); resolves with the
 * number removed. Every zone is purged even when one fails: a shared store that fails a
 * zone's purge (down, or refusing it) is counted in
 * `gantry_store_errors_total{operation="cache-purge"}` once per zone, and the purge then
 * rejects with a `CachePurgeError` naming those zones.
 *
 * @example
 *   try { await purgeZones(baseDir, { tag: 'product-42' }); }
 *   catch (e) { if (e instanceof CachePurgeError) console.log(e.zones, e.purged); }
 */
export async function purgeZones(scope: string, selector: PurgeSelector, zone?: string): Promise<number> {
  const all = zonesOf(scope, zone);
  // Started together: one zone's outage neither stops nor delays the others.
  const results = await Promise.allSettled(all.map((z) => attempt(() => z.store.purge(selector))));
  let n = 0;
  const failed: string[] = [];
  const causes: unknown[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') return void (n += r.value);
    metrics.storeError(all[i]!.store.kind, 'cache-purge');
    // A reload that changed a zone's settings can hold two zones of one name for a moment.
    if (!failed.includes(all[i]!.name)) failed.push(all[i]!.name);
    causes.push(r.reason);
  });
  if (failed.length > 0) throw new CachePurgeError(failed, n, causes);
  return n;
}

/** `fn()` as a promise, a synchronous throw included (the memory store purges synchronously). */
function attempt<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}
