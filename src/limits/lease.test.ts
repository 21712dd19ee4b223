import { describe, expect, it } from 'vitest';
import { LeaseLimiter } from './lease.js';
import { MemoryStore } from '../store/memory.js';
import { isThenable } from '../pipeline/pipeline.js';
import type { Decision, LimitSpec } from '../store/store.js';

/**
 * Lease mode over a store: local decisions, background top-ups, never over a window's
 * limit, refusals remembered. (Across processes on Redis: test/e2e/rate-limit-exactness; a
 * failing refill: test/e2e/rate-limit-outage.)
 */
const fixed = (limit: number): LimitSpec => ({ algorithm: 'fixed-window', limit, windowMs: 3_600_000, burst: limit });

async function run(lease: LeaseLimiter, key: string, spec: LimitSpec, n: number) {
  let waited = 0;
  let allowed = 0;
  for (let i = 0; i < n; i++) {
    const r = lease.consume(key, spec, 1);
    if (isThenable(r)) waited++;
    const d: Decision = await r;
    if (d.allowed) allowed++;
  }
  return { waited, allowed };
}

describe('lease limiter', () => {
  it('decides locally; only the first request waits, later budgets arrive in the background', async () => {
    const store = new MemoryStore();
    const lease = new LeaseLimiter(store, 10, 1000);
    const r = await run(lease, 'k', fixed(1000), 100);
    expect(r).toEqual({ waited: 1, allowed: 100 });
    expect(lease.refills).toBeGreaterThanOrEqual(10);
    expect(lease.refills).toBeLessThanOrEqual(12);
    lease.close();
    await store.close();
  });

  it('never admits more than a window allows, and remembers the refusal', async () => {
    const store = new MemoryStore();
    const lease = new LeaseLimiter(store, 10, 1000);
    const r = await run(lease, 'k', fixed(25), 40);
    expect(r.allowed).toBe(25);
    const refills = lease.refills;
    const again = await run(lease, 'k', fixed(25), 20);
    expect(again).toEqual({ waited: 0, allowed: 0 }); // refused locally, no round trip
    expect(lease.refills).toBe(refills);
    lease.close();
    await store.close();
  });

  it('reports the remaining as the shared remaining plus the local budget', async () => {
    const store = new MemoryStore();
    const lease = new LeaseLimiter(store, 10, 1000);
    const first = await lease.consume('k', fixed(100), 1);
    expect(first).toMatchObject({ allowed: true, limit: 100, remaining: 99 });
    const second = lease.consume('k', fixed(100), 1);
    expect(isThenable(second)).toBe(false);
    expect((second as Decision).remaining).toBe(98);
    lease.close();
    await store.close();
  });
});
