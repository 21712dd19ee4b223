import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { manualClock, type ManualClock } from './clock.js';
import { MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';
import type { Store } from './store.js';
import { describeRedis } from '../../test/redis.js';

/**
 * Stamps (field → time maps) on both stores: the same cases, and on Redis, writers on
 * several clients at once never lose each other's fields.
 */

const T0 = Date.UTC(2030, 0, 1);

function cases(name: string, make: (clock: ManualClock) => Promise<Store>): void {
  describe(name, () => {
    it('keeps the latest time per field, leaves out absent fields, removes fields older than since', async () => {
      const clock = manualClock(T0);
      const s = await make(clock);
      const key = `st-${Math.random().toString(36).slice(2)}`;
      expect(await s.stamp(key, 'a', T0 + 10, T0 - 1000, 60_000)).toBe(1);
      expect(await s.stamp(key, 'a', T0 + 5, T0 - 1000, 60_000)).toBe(1); // earlier: kept at +10
      expect(await s.stamp(key, 'b', T0 + 20, T0 - 1000, 60_000)).toBe(2);
      expect([...(await s.stamps(key))].sort()).toEqual([['a', T0 + 10], ['b', T0 + 20]]);
      expect([...(await s.stamps(key, ['b', 'missing']))]).toEqual([['b', T0 + 20]]);
      expect((await s.stamps(key, [])).size).toBe(0);
      // `since` after a's time: a goes, the new field and b stay.
      expect(await s.stamp(key, 'c', T0 + 30, T0 + 15, 60_000)).toBe(2);
      expect([...(await s.stamps(key))].sort()).toEqual([['b', T0 + 20], ['c', T0 + 30]]);
      expect((await s.stamps('never-stamped')).size).toBe(0);
      await s.close();
    });

    it('the map expires ttlMs after the last stamp', async () => {
      const clock = manualClock(T0);
      const s = await make(clock);
      const key = `st-${Math.random().toString(36).slice(2)}`;
      await s.stamp(key, 'a', T0, 0, 150);
      expect((await s.stamps(key)).size).toBe(1);
      clock.advance(200);
      await new Promise((r) => setTimeout(r, 200)); // Redis expires on its own clock
      expect((await s.stamps(key)).size).toBe(0);
      await s.close();
    });
  });
}

cases('stamps: memory store', (clock) => Promise.resolve(new MemoryStore({ clock })));

describeRedis('stamps: redis store', (redis) => {
  const make = async (clock?: ManualClock) => {
    const s = new RedisStore({ url: redis().url, keyPrefix: 'stamps:', commandTimeoutMs: 1000, maxBackoffMs: 200, logger: pino({ level: 'silent' }), ...(clock ? { clock } : {}) });
    await s.ready(2000);
    return s;
  };
  cases('cases', make);

  it('200 fields stamped at once from four clients are all kept', async () => {
    const clients = await Promise.all([0, 1, 2, 3].map(() => make()));
    const key = `st-race-${Math.random().toString(36).slice(2)}`;
    await Promise.all(Array.from({ length: 200 }, (_, i) => clients[i % 4]!.stamp(key, `f${i}`, T0 + i, 0, 60_000)));
    const all = await clients[0]!.stamps(key);
    expect(all.size).toBe(200);
    for (let i = 0; i < 200; i++) expect(all.get(`f${i}`)).toBe(T0 + i);
    await Promise.all(clients.map((c) => c.close()));
  });
});
