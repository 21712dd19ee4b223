import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Redis } from 'ioredis';
import { manualClock, type ManualClock } from './clock.js';
import { MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';
import { StoreUnavailableError, type LimitSpec, type Store } from './store.js';
import { describeRedis, startRedis, type RedisServer } from '../../test/redis.js';
import { memoryLogger } from '../../test/helpers.js';

/**
 * One table, two stores: the memory store's JS and the Redis store's Lua must agree on
 * every decision. Both run on the same manual clock (the Redis store sends it with each
 * command), so the table is exact.
 */

const T0 = Date.UTC(2030, 0, 1); // aligned to every window below

type Op =
  | { at: number; consume: number; allowed: boolean; remaining?: number; resetMs?: number; retryAfterMs?: number }
  | { at: number; take: number; granted: number; remaining?: number; retryAfterMs?: number };

const spec = (algorithm: LimitSpec['algorithm'], limit: number, windowMs: number, burst = limit): LimitSpec => ({ algorithm, limit, windowMs, burst });

const table: { desc: string; spec: LimitSpec; ops: Op[] }[] = [
  {
    desc: 'fixed window: exactly limit per window, reset at the window end',
    spec: spec('fixed-window', 3, 1000),
    ops: [
      { at: 0, consume: 1, allowed: true, remaining: 2, resetMs: 1000 },
      { at: 10, consume: 1, allowed: true, remaining: 1 },
      { at: 20, consume: 1, allowed: true, remaining: 0 },
      { at: 30, consume: 1, allowed: false, remaining: 0, retryAfterMs: 970 },
      { at: 999, consume: 1, allowed: false, retryAfterMs: 1 },
      { at: 1000, consume: 1, allowed: true, remaining: 2, resetMs: 1000 },
    ],
  },
  {
    desc: 'fixed window: cost counts, all or nothing',
    spec: spec('fixed-window', 10, 1000),
    ops: [
      { at: 0, consume: 4, allowed: true, remaining: 6 },
      { at: 0, consume: 4, allowed: true, remaining: 2 },
      { at: 0, consume: 4, allowed: false, remaining: 2 },
      { at: 0, consume: 2, allowed: true, remaining: 0 },
    ],
  },
  {
    desc: 'fixed window: take grants what is left',
    spec: spec('fixed-window', 5, 1000),
    ops: [
      { at: 0, take: 3, granted: 3, remaining: 2 },
      { at: 0, take: 3, granted: 2, remaining: 0 },
      { at: 500, take: 1, granted: 0, retryAfterMs: 500 },
    ],
  },
  {
    desc: 'sliding window: the previous window weighs by the share still covered',
    spec: spec('sliding-window', 10, 1000),
    ops: [
      { at: 0, take: 10, granted: 10, remaining: 0 },
      { at: 1, consume: 1, allowed: false },
      // Half-way through the next window, half of the previous 10 still count.
      { at: 1500, take: 10, granted: 5, remaining: 0 },
      { at: 1500, consume: 1, allowed: false, retryAfterMs: 100 },
      { at: 1600, consume: 1, allowed: true, remaining: 0 },
      { at: 3000, consume: 1, allowed: true, remaining: 9 },
    ],
  },
  {
    desc: 'token bucket: starts full, refills at the rate, capped at burst',
    spec: spec('token-bucket', 10, 1000, 5),
    ops: [
      { at: 0, take: 5, granted: 5, remaining: 0 },
      { at: 0, consume: 1, allowed: false, retryAfterMs: 100 },
      { at: 250, take: 5, granted: 2, remaining: 0 },
      { at: 300, consume: 1, allowed: true, remaining: 0 },
      { at: 10_000, consume: 1, allowed: true, remaining: 4, resetMs: 100 },
    ],
  },
  {
    desc: 'GCRA: exactly burst at once, then one per emission interval',
    spec: spec('gcra', 10, 1000, 3),
    ops: [
      { at: 0, consume: 1, allowed: true, remaining: 2, resetMs: 100 },
      { at: 0, consume: 1, allowed: true, remaining: 1 },
      { at: 0, consume: 1, allowed: true, remaining: 0, resetMs: 300 },
      { at: 0, consume: 1, allowed: false, retryAfterMs: 100 },
      { at: 100, consume: 1, allowed: true, remaining: 0 },
      { at: 150, consume: 1, allowed: false, retryAfterMs: 50 },
      { at: 1000, take: 5, granted: 3, remaining: 0 },
    ],
  },
  {
    desc: 'GCRA: a rate that is not a whole number of ms per unit',
    spec: spec('gcra', 3, 1000, 3),
    ops: [
      { at: 0, take: 10, granted: 3 },
      { at: 333, consume: 1, allowed: false },
      { at: 334, consume: 1, allowed: true },
    ],
  },
];

function conformance(name: string, make: (clock: ManualClock) => Store | Promise<Store>) {
  describe(name, () => {
    let store: Store;
    const clock = manualClock(T0);
    beforeAll(async () => {
      store = await make(clock);
    });
    afterAll(async () => {
      await store?.close();
    });

    for (const [i, c] of table.entries()) {
      it(c.desc, async () => {
        const key = `t${i}:${Math.random()}`;
        for (const [j, op] of c.ops.entries()) {
          clock.set(T0 + op.at);
          const where = `op ${j} at +${op.at}ms`;
          if ('consume' in op) {
            const d = await store.consume(key, c.spec, op.consume);
            expect(d.allowed, where).toBe(op.allowed);
            if (op.remaining !== undefined) expect(d.remaining, where).toBe(op.remaining);
            if (op.resetMs !== undefined) expect(Math.ceil(d.resetMs), where).toBe(op.resetMs);
            if (op.retryAfterMs !== undefined) expect(Math.ceil(d.retryAfterMs), where).toBe(op.retryAfterMs);
          } else {
            const g = await store.take(key, c.spec, op.take);
            expect(g.granted, where).toBe(op.granted);
            if (op.remaining !== undefined) expect(g.remaining, where).toBe(op.remaining);
            if (op.retryAfterMs !== undefined) expect(Math.ceil(g.retryAfterMs), where).toBe(op.retryAfterMs);
          }
        }
      });
    }

    it('counters stop at the limit and keys are independent', async () => {
      const k = `count:${Math.random()}`;
      expect(await store.count(k, 1, 2, 60_000)).toEqual({ allowed: true, count: 1 });
      expect(await store.count(k, 1, 2, 60_000)).toEqual({ allowed: true, count: 2 });
      expect(await store.count(k, 1, 2, 60_000)).toEqual({ allowed: false, count: 2 });
      expect(await store.count(`${k}:other`, 2, 2, 60_000)).toEqual({ allowed: true, count: 2 });
    });

    it('concurrency slots: max holders, released slots are reusable', async () => {
      const k = `slots:${Math.random()}`;
      expect(await store.acquire(k, 'a', 2, 60_000)).toBe(true);
      expect(await store.acquire(k, 'b', 2, 60_000)).toBe(true);
      expect(await store.acquire(k, 'c', 2, 60_000)).toBe(false);
      store.release(k, 'a');
      await new Promise((r) => setTimeout(r, 20)); // Redis: the release is fire-and-forget
      expect(await store.acquire(k, 'c', 2, 60_000)).toBe(true);
    });

    it('values: set, get, delete', async () => {
      const k = `v:${Math.random()}`;
      expect(await store.get(k)).toBeUndefined();
      await store.set(k, 'hello');
      expect((await store.get(k))?.toString()).toBe('hello');
      await store.set(k, Buffer.from([0, 1, 2]));
      expect(await store.get(k)).toEqual(Buffer.from([0, 1, 2]));
      expect(await store.delete(k)).toBe(true);
      expect(await store.delete(k)).toBe(false);
      expect(await store.get(k)).toBeUndefined();
    });
  });
}

conformance('memory store', (clock) => new MemoryStore({ clock }));

describe('memory store specifics', () => {
  it('decides synchronously (no Promise on the hot path)', () => {
    const store = new MemoryStore();
    const d = store.consume('k', spec('gcra', 1, 1000), 1);
    expect(d).not.toBeInstanceOf(Promise);
    expect(d.allowed).toBe(true);
    void store.close();
  });

  it('expires values and sweeps spent limiter state', () => {
    const clock = manualClock(T0);
    const store = new MemoryStore({ clock });
    store.set('v', 'x', 100);
    store.consume('a', spec('fixed-window', 5, 1000), 1);
    store.consume('b', spec('gcra', 5, 1000), 1);
    expect(store.size).toBe(3);
    clock.advance(100);
    expect(store.get('v')).toBeUndefined();
    clock.advance(2000);
    store.sweep();
    expect(store.size).toBe(0);
    void store.close();
  });

  it('a counter starts over after its ttl', () => {
    const clock = manualClock(T0);
    const store = new MemoryStore({ clock });
    expect(store.count('q', 1, 1, 1000).allowed).toBe(true);
    expect(store.count('q', 1, 1, 1000).allowed).toBe(false);
    clock.advance(1000);
    expect(store.count('q', 1, 1, 1000)).toEqual({ allowed: true, count: 1 });
    void store.close();
  });
});

describeRedis('redis store', (redis) => {
  const logger = pino({ level: 'silent' });
  const make = (clock?: ManualClock, prefix = `t${Math.random().toString(36).slice(2, 8)}:`) =>
    new RedisStore({ url: redis().url, keyPrefix: prefix, commandTimeoutMs: 500, maxBackoffMs: 200, logger, ...(clock ? { clock } : {}) });

  conformance('conformance (same table, Lua)', async (clock) => {
    const s = make(clock);
    await s.ready(2000);
    return s;
  });

  describe('on a Redis Cluster (one node owning every slot)', () => {
    let cluster: RedisServer;
    beforeAll(async () => {
      cluster = await startRedis({ cluster: true });
    });
    afterAll(async () => {
      await cluster?.stop();
    });
    conformance('conformance (cluster client)', async (clock) => {
      const s = new RedisStore({ url: 'redis://unused', nodes: [cluster.url], keyPrefix: 'c:', commandTimeoutMs: 500, maxBackoffMs: 200, logger, clock });
      expect(await s.ready(5000)).toBe(true);
      return s;
    });
  });

  it('keys are <prefix>{key}: the logical key is the Cluster hash tag', async () => {
    const store = make(undefined, 'gw1:');
    await store.ready(2000);
    await store.consume('rl:route:ip:1.2.3.4', spec('fixed-window', 5, 60_000), 1);
    await store.set('cache:GET /x', 'v', 10_000);
    const admin = new Redis(redis().url);
    const keys = (await admin.keys('gw1:*')).sort();
    expect(keys).toEqual(['gw1:{cache:GET /x}', 'gw1:{rl:route:ip:1.2.3.4}']);
    admin.disconnect();
    await store.close();
  });

  it('uses the server clock by default and expires values by TTL', async () => {
    const store = make();
    await store.ready(2000);
    const d = await store.consume('k', spec('fixed-window', 2, 60_000), 1);
    expect(d).toMatchObject({ allowed: true, remaining: 1 });
    expect(d.resetMs).toBeGreaterThan(0);
    expect(d.resetMs).toBeLessThanOrEqual(60_000);
    await store.set('short', 'x', 50);
    await new Promise((r) => setTimeout(r, 120));
    expect(await store.get('short')).toBeUndefined();
    await store.close();
  });

  it('fails fast while Redis is down, logs once per interval, and recovers by itself', async () => {
    const { logger: log, lines } = memoryLogger('info');
    const store = new RedisStore({ url: redis().url, keyPrefix: 'outage:', commandTimeoutMs: 300, maxBackoffMs: 100, logger: log, logIntervalMs: 60_000 });
    expect(await store.ready(2000)).toBe(true);
    const s = spec('fixed-window', 100, 60_000);
    expect((await store.consume('k', s, 1)).allowed).toBe(true);

    await redis().kill();
    const started = performance.now();
    const failures = await Promise.allSettled(Array.from({ length: 20 }, () => store.consume('k', s, 1)));
    expect(failures.every((f) => f.status === 'rejected' && f.reason instanceof StoreUnavailableError)).toBe(true);
    expect(performance.now() - started).toBeLessThan(2000); // failed, not queued until the timeout of each
    await new Promise((r) => setTimeout(r, 400)); // several reconnect attempts
    expect(store.healthy).toBe(false);
    const outageLines = lines.filter((l) => String(l.msg).includes('reconnecting'));
    expect(outageLines.length).toBe(1);

    await redis().restart();
    expect(await store.ready(5000)).toBe(true);
    // The restarted server has an empty script cache: the first call falls back to EVAL.
    const d = await store.consume('k', s, 1);
    expect(d).toMatchObject({ allowed: true, remaining: 99 });
    expect(lines.some((l) => String(l.msg).includes('reachable again'))).toBe(true);
    await store.close();
  });
});
