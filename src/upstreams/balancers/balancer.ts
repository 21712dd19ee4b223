import type { Target } from '../target.js';

/**
 * A load balancer: picks one target of an upstream per attempt. Balancers sit behind this
 * one small interface, one file each, and are chosen by name at config load
 * (`balance: round-robin | weighted | least-connections | p2c-ewma | consistent-hash`).
 *
 * @example
 *   const b = createBalancer('weighted', { virtualNodes: 160 });
 *   b.update(targets);                 // on load, and whenever health or discovery changes
 *   const t = b.pick(undefined, undefined);
 */
export interface Balancer {
  /** Replaces the targets that may take traffic (called when health or discovery changes, never per request). */
  update(targets: readonly Target[]): void;
  /**
   * The target for the next attempt, or undefined when there is none. `key` is the
   * request's hash key (consistent-hash only); `exclude` lists targets this request
   * already tried, avoided while another target is available.
   */
  pick(key: string | undefined, exclude: readonly Target[] | undefined): Target | undefined;
}

/** Options a balancer may use, from the upstream config. */
export interface BalancerOptions {
  /** Ring points per unit of weight (consistent-hash). */
  virtualNodes: number;
}

export type BalancerFactory = (options: BalancerOptions) => Balancer;

/** Whether `t` is in the (short) exclude list. */
export function excluded(t: Target, exclude: readonly Target[] | undefined): boolean {
  return exclude !== undefined && exclude.includes(t);
}

/** Targets not excluded; the full list when that would leave none (a retry may reuse a target). */
export function without(targets: readonly Target[], exclude: readonly Target[] | undefined): readonly Target[] {
  if (exclude === undefined || exclude.length === 0) return targets;
  const rest = targets.filter((t) => !exclude.includes(t));
  return rest.length > 0 ? rest : targets;
}
