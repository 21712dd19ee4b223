import { hash } from 'node:crypto';
import type { Target } from '../target.js';
import { excluded, type Balancer, type BalancerOptions } from './balancer.js';

/**
 * `consistent-hash`: a hash ring with virtual nodes (Karger et al.; the ketama layout).
 * Each target owns `virtualNodes × weight` points placed by hashing its URL, a request
 * goes to the owner of the first point at or after the hash of its key. Removing one of N
 * targets moves only the keys it owned (~1/N); the others keep their target. Requests
 * without a key (the header or cookie is absent) are spread round-robin.
 *
 * @example
 *   upstreams:
 *     carts: { balance: consistent-hash, hashOn: "header:x-cart-id", targets: [http://10.0.0.1, http://10.0.0.2] }
 */
export function consistentHash(options: BalancerOptions): Balancer {
  let points: Uint32Array = new Uint32Array(0);
  let owners: Target[] = [];
  let list: readonly Target[] = [];
  let rr = 0;
  return {
    update(targets) {
      list = targets;
      ({ points, owners } = buildRing(targets, options.virtualNodes));
    },
    pick: function consistentHashPick(key, exclude) {
      const n = points.length;
      if (n === 0) return undefined;
      if (key === undefined) {
        rr = (rr + 1) % list.length;
        return list[rr];
      }
      let i = lowerBound(points, keyHash(key));
      // Walk clockwise past targets this request already tried.
      for (let k = 0; k < n; k++, i++) {
        const t = owners[i % n]!;
        if (!excluded(t, exclude)) return t;
      }
      return owners[i % n];
    },
  };
}

/** 32-bit position of a key on the ring (first 4 bytes of its MD5, like ketama). */
export function keyHash(key: string): number {
  return hash('md5', key, 'buffer').readUInt32BE(0);
}

function buildRing(targets: readonly Target[], virtualNodes: number): { points: Uint32Array; owners: Target[] } {
  const entries: [number, Target][] = [];
  for (const t of targets) {
    const count = Math.max(1, Math.round(virtualNodes * t.weight));
    // One MD5 gives four 32-bit points (ketama), so a 160-point target costs 40 hashes at load.
    for (let i = 0; i * 4 < count; i++) {
      const d = hash('md5', `${t.url}#${i}`, 'buffer');
      for (let j = 0; j < 4 && i * 4 + j < count; j++) entries.push([d.readUInt32BE(j * 4), t]);
    }
  }
  entries.sort((a, b) => a[0] - b[0] || (a[1].url < b[1].url ? -1 : 1));
  return { points: Uint32Array.from(entries, (e) => e[0]), owners: entries.map((e) => e[1]) };
}

/** Index of the first point ≥ h (wrapping to 0 past the last). */
function lowerBound(points: Uint32Array, h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid]! < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}
