import type { Target } from '../target.js';
import { excluded, type Balancer } from './balancer.js';

/**
 * `least-connections`: the target with the fewest requests in flight relative to its
 * weight. Ties rotate, so an idle upstream still spreads requests instead of always
 * sending them to the first target.
 *
 * @example
 *   upstreams: { api: { balance: least-connections, targets: [http://10.0.0.1, http://10.0.0.2] } }
 */
export function leastConnections(): Balancer {
  let list: readonly Target[] = [];
  let start = 0;
  return {
    update(targets) {
      list = targets;
      start = 0;
    },
    pick: function leastConnectionsPick(_key, exclude) {
      const n = list.length;
      if (n === 0) return undefined;
      let best: Target | undefined;
      let bestLoad = Infinity;
      for (let k = 0; k < n; k++) {
        const t = list[(start + k) % n]!;
        if (excluded(t, exclude)) continue;
        const load = (t.inFlight + 1) / t.weight;
        if (load < bestLoad) {
          best = t;
          bestLoad = load;
        }
      }
      start = start + 1 === n ? 0 : start + 1;
      return best ?? list[0];
    },
  };
}
