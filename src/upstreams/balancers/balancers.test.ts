import { describe, expect, it } from 'vitest';
import { Pool } from 'undici';
import { Target } from '../target.js';
import { BALANCERS, type BalancerName } from './index.js';
import type { BalancerFactory } from './balancer.js';
import { keyHash } from './consistent-hash.js';

// Pools are created lazily by undici (no socket until a request): cheap stand-ins here.
const pool = new Pool('http://127.0.0.1:9');
const targets = (weights: number[]) => weights.map((w, i) => new Target(`http://127.0.0.1:${7000 + i}`, w, pool));
const opts = { virtualNodes: 160 };
const make = (name: BalancerName) => (BALANCERS as Record<BalancerName, BalancerFactory>)[name](opts);

describe('balancers', () => {
  it('weighted: exact shares over a cycle, interleaved (5:1:1 → a a b a c a a)', () => {
    const ts = targets([5, 1, 1]);
    const b = make('weighted');
    b.update(ts);
    const seq = Array.from({ length: 7 }, () => ts.indexOf(b.pick(undefined, undefined)!));
    expect(seq).toEqual([0, 0, 1, 0, 2, 0, 0]);
    const counts = [0, 0, 0];
    for (let i = 0; i < 10_000 - 7; i++) counts[ts.indexOf(b.pick(undefined, undefined)!)]!++;
    expect(counts.map((c) => Math.round(c / 100))).toEqual([71, 14, 14]);
  });

  it('round-robin and least-connections skip excluded targets', () => {
    const ts = targets([1, 1, 1]);
    for (const name of ['round-robin', 'least-connections', 'weighted', 'p2c-ewma', 'consistent-hash'] as const) {
      const b = make(name);
      b.update(ts);
      for (let i = 0; i < 30; i++) expect(b.pick(`k${i}`, [ts[0]!, ts[1]!])).toBe(ts[2]);
      // Every target tried: a retry may reuse one rather than fail.
      expect(b.pick('k', ts)).toBeDefined();
    }
  });

  it('least-connections prefers the least loaded target, relative to weight', () => {
    const ts = targets([1, 2]);
    ts[0]!.inFlight = 3;
    ts[1]!.inFlight = 5; // 6/2 = 3 per weight unit vs 4
    const b = make('least-connections');
    b.update(ts);
    expect(b.pick(undefined, undefined)).toBe(ts[1]);
  });

  it('p2c-ewma: a slow target loses almost every comparison', () => {
    const ts = targets([1, 1, 1]);
    const now = performance.now();
    ts[0]!.observeLatency(1, now);
    ts[1]!.observeLatency(1, now);
    ts[2]!.observeLatency(200, now);
    const b = make('p2c-ewma');
    b.update(ts);
    let slow = 0;
    for (let i = 0; i < 10_000; i++) if (b.pick(undefined, undefined) === ts[2]) slow++;
    expect(slow).toBe(0);
  });

  it('consistent-hash: removing one of 5 targets remaps only its keys (≤ 25%)', () => {
    const ts = targets([1, 1, 1, 1, 1]);
    const b = make('consistent-hash');
    b.update(ts);
    const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
    const before = keys.map((k) => b.pick(k, undefined));
    const share = ts.map((t) => before.filter((x) => x === t).length / keys.length);
    for (const s of share) expect(Math.abs(s - 0.2)).toBeLessThan(0.07);
    b.update(ts.filter((t) => t !== ts[2]));
    const after = keys.map((k) => b.pick(k, undefined));
    const moved = keys.filter((_, i) => before[i] !== after[i]).length / keys.length;
    expect(moved).toBeLessThanOrEqual(0.25);
    // Only keys that were on the removed target moved.
    keys.forEach((_, i) => {
      if (before[i] !== ts[2]) expect(after[i]).toBe(before[i]);
    });
  });

  it('keyHash spreads keys over 32 bits', () => {
    const hs = Array.from({ length: 1000 }, (_, i) => keyHash(String(i)));
    expect(Math.max(...hs)).toBeGreaterThan(2 ** 31);
    expect(new Set(hs).size).toBe(1000);
  });
});
