import type { GatewayConfig } from '../../config/schema.js';
import type { ConfigSource } from '../../config/source.js';
import { forEachPolicyEntry } from '../../config/entries.js';

/**
 * Checks on `cache` entries that their schema cannot express, each naming file:line:path:
 * a zone kept in memory must be able to hold the largest entry the policy stores. The
 * memory LRU refuses a body larger than its bound, so with `maxSize` below
 * `maxEntrySize` responses would be announced `stored` (RFC 9211 §2.6) and counted as
 * stored while never kept. `maxSize` equal to `maxEntrySize` is enough: the LRU keeps any
 * body within its bound, alone when its headers take it past (see MemoryCacheStore).
 * Zones in the shared store (Redis) have no byte bound here.
 *
 * @example
 *   checkCacheEntries(config, source); // routes[0].policies[1].cache.maxSize: maxSize (512kb) is below maxEntrySize (1mb) …
 */
export function checkCacheEntries(config: GatewayConfig, source: ConfigSource): void {
  const redis = (config.store as { kind?: unknown } | undefined)?.kind === 'redis';
  forEachPolicyEntry(config, (name, settings, at) => {
    if (name !== 'cache' || typeof settings !== 'object' || settings === null) return;
    // Schema defaults are filled in by now; a value that failed its schema is reported there.
    const { maxSize, maxEntrySize, shared } = settings as Record<string, unknown>;
    if (typeof maxSize !== 'number' || typeof maxEntrySize !== 'number') return;
    if (redis && shared !== false) return;
    if (maxSize < maxEntrySize) {
      source.issueAt(
        [...at, 'maxSize'],
        `maxSize (${bytes(maxSize)}) is below maxEntrySize (${bytes(maxEntrySize)}): this memory zone could not hold the largest entries it would announce as stored; raise maxSize or lower maxEntrySize`,
      );
    }
  });
}

function bytes(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)}mb`;
  if (n % 1024 === 0) return `${n / 1024}kb`;
  return `${n}b`;
}
