import type { BalancerFactory } from './balancer.js';
import { consistentHash } from './consistent-hash.js';
import { leastConnections } from './least-connections.js';
import { p2cEwma } from './p2c-ewma.js';
import { roundRobin } from './round-robin.js';
import { weighted } from './weighted.js';

export type { Balancer, BalancerOptions } from './balancer.js';

/** Balancers by their `balance:` name: a registry, not an if-ladder. */
export const BALANCERS = {
  'round-robin': roundRobin,
  weighted,
  'least-connections': leastConnections,
  'p2c-ewma': p2cEwma,
  'consistent-hash': consistentHash,
} as const satisfies Record<string, BalancerFactory>;

export type BalancerName = keyof typeof BALANCERS;
export const BALANCER_NAMES = Object.keys(BALANCERS) as BalancerName[];
