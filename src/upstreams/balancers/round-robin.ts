import type { Target } from '../target.js';
import { excluded, type Balancer } from './balancer.js';

/**
 * `round-robin`: each target in turn, ignoring weights (a weight of 0 still drains a
 * target: the upstream never hands it over).
 *
 * @example
 *   upstreams: { api: { balance: round-robin, targets: [http://10.0.0.1, http://10.0.0.2] } }
 */
export function roundRobin(): Balancer {
  let list: readonly Target[] = [];
  let next = 0;
  return {
    update(targets) {
      list = targets;
      next = next % Math.max(1, targets.length);
    },
    pick: function roundRobinPick(_key, exclude) {
      const n = list.length;
      if (n === 0) return undefined;
      for (let i = 0; i < n; i++) {
        const t = list[next]!;
        next = next + 1 === n ? 0 : next + 1;
        if (!excluded(t, exclude)) return t;
      }
      return list[next];
    },
  };
}
