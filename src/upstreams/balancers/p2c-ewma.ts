import { performance } from 'node:perf_hooks';
import type { Target } from '../target.js';
import { without, type Balancer } from './balancer.js';

/**
 * `p2c-ewma`: power of two choices over a load estimate (Mitzenmacher; as in Finagle and
 * Linkerd). Two distinct targets are drawn at random and the one with the lower cost wins,
 * cost = latency moving average × (in-flight + 1). A slow target loses nearly every
 * comparison, and a busy one loses until it catches up, with O(1) work per pick. A target
 * without samples costs 0 so that new targets are tried at once.
 *
 * @example
 *   upstreams: { api: { balance: p2c-ewma, targets: [http://10.0.0.1, http://10.0.0.2, http://10.0.0.3] } }
 */
export function p2cEwma(): Balancer {
  let list: readonly Target[] = [];
  return {
    update(targets) {
      list = targets;
    },
    pick: function p2cPick(_key, exclude) {
      const pool = without(list, exclude);
      const n = pool.length;
      if (n === 0) return undefined;
      if (n === 1) return pool[0];
      const i = (Math.random() * n) | 0;
      let j = (Math.random() * (n - 1)) | 0;
      if (j >= i) j++;
      const a = pool[i]!;
      const b = pool[j]!;
      const now = performance.now();
      return cost(a, now) <= cost(b, now) ? a : b;
    },
  };
}

function cost(t: Target, now: number): number {
  // +1 ms keeps targets with no latency samples comparable by their in-flight count.
  return (t.latency(now) + 1) * (t.inFlight + 1);
}
