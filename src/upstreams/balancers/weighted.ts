import type { Target } from '../target.js';
import { excluded, type Balancer } from './balancer.js';

/**
 * `weighted`: smooth weighted round-robin (the nginx algorithm). Every pick adds each
 * target's weight to its running score, takes the highest score and subtracts the total
 * from it. Over a cycle each target gets exactly its share, and picks are interleaved:
 * weights 5:1:1 give `a a b a c a a`, never a burst of five to the heaviest target.
 *
 * @example
 *   upstreams:
 *     api: { balance: weighted, targets: [ { url: http://10.0.0.1, weight: 3 }, { url: http://10.0.0.2, weight: 1 } ] }
 */
export function weighted(): Balancer {
  let list: readonly Target[] = [];
  let current = new Float64Array(0);
  return {
    update(targets) {
      // Keep the scores of targets that stay so an update does not restart the cycle.
      const next = new Float64Array(targets.length);
      targets.forEach((t, i) => {
        const j = list.indexOf(t);
        next[i] = j >= 0 ? current[j]! : 0;
      });
      list = targets;
      current = next;
    },
    pick: function weightedPick(_key, exclude) {
      const n = list.length;
      if (n === 0) return undefined;
      let best = -1;
      let total = 0;
      for (let i = 0; i < n; i++) {
        const t = list[i]!;
        if (excluded(t, exclude)) continue;
        current[i]! += t.weight;
        total += t.weight;
        if (best < 0 || current[i]! > current[best]!) best = i;
      }
      if (best < 0) return list[0];
      current[best]! -= total;
      return list[best];
    },
  };
}
