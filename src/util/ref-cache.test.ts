import { describe, expect, it } from 'vitest';
import { RefCache, RefLease } from './ref-cache.js';

/** A value that records when it is closed. */
class Res {
  closed = 0;
  constructor(readonly name: string) {}
}

function cacheOf() {
  const created: string[] = [];
  const closedKeys: string[] = [];
  const cache = new RefCache<string, Res>((r, key) => {
    r.closed++;
    closedKeys.push(key);
  });
  const make = (key: string) => {
    created.push(key);
    return new Res(key);
  };
  return { cache, created, closedKeys, make };
}

describe('RefCache', () => {
  it('creates a value once and shares it between holders of the same key', () => {
    const { cache, created, make } = cacheOf();
    const a = cache.acquire('x', make);
    const b = cache.acquire('x', make);
    const c = cache.acquire('y', make);
    expect(b.value).toBe(a.value);
    expect(c.value).not.toBe(a.value);
    expect(created).toEqual(['x', 'y']);
    expect(cache.size).toBe(2);
  });

  it('closes a value when its last holder releases it, and creates it afresh after', async () => {
    const { cache, created, closedKeys, make } = cacheOf();
    const a = cache.acquire('x', make);
    const b = cache.acquire('x', make);
    await a.release();
    expect(a.value.closed).toBe(0);
    expect(cache.size).toBe(1);
    await b.release();
    expect(a.value.closed).toBe(1);
    expect(closedKeys).toEqual(['x']);
    expect(cache.size).toBe(0);
    const c = cache.acquire('x', make);
    expect(c.value).not.toBe(a.value);
    expect(created).toEqual(['x', 'x']);
  });

  it('a second release of the same ref does not take another holder’s share', async () => {
    const { cache, make } = cacheOf();
    const a = cache.acquire('x', make);
    const b = cache.acquire('x', make);
    await a.release();
    await a.release();
    expect(b.value.closed).toBe(0);
    expect(cache.size).toBe(1);
    await b.release();
    await b.release();
    expect(b.value.closed).toBe(1);
  });

  it('forgets a value whose Promise rejects, so the next acquire tries again', async () => {
    let attempts = 0;
    const closed: number[] = [];
    const cache = new RefCache<string, Promise<number>>(async (p) => {
      closed.push(await p);
    });
    const open = () => (++attempts === 1 ? Promise.reject(new Error('connection refused')) : Promise.resolve(attempts));
    const failed = cache.acquire('redis', open);
    const alsoFailed = cache.acquire('redis', open); // shared while it was still opening
    await expect(failed.value).rejects.toThrow('connection refused');
    await expect(alsoFailed.value).rejects.toThrow('connection refused');
    expect(cache.size).toBe(0);
    const next = cache.acquire('redis', open);
    expect(await next.value).toBe(2);
    // Releasing the failed refs neither closes nor un-counts the new value.
    await failed.release();
    await alsoFailed.release();
    expect(cache.size).toBe(1);
    expect(closed).toEqual([]);
    await next.release();
    expect(closed).toEqual([2]);
    expect(attempts).toBe(2);
  });

  it('closeAll ends every value with the given disposer, and later releases are harmless', async () => {
    const { cache, make } = cacheOf();
    const a = cache.acquire('x', make);
    const b = cache.acquire('y', make);
    const destroyed: string[] = [];
    await cache.closeAll((r) => destroyed.push(r.name));
    expect(destroyed.sort()).toEqual(['x', 'y']);
    expect(cache.size).toBe(0);
    await a.release();
    await b.release();
    expect(a.value.closed + b.value.closed).toBe(0);
  });
  it('entries lists the values held now, not those released or failed', async () => {
    const { cache, make } = cacheOf();
    const a = cache.acquire('x', make);
    cache.acquire('y', make);
    const failed = new RefCache<string, Promise<Res>>(() => undefined);
    const f = failed.acquire('z', () => Promise.reject(new Error('down')));
    await expect(f.value).rejects.toThrow('down');
    expect([...cache.entries()].map(([k, v]) => [k, v.name])).toEqual([
      ['x', 'x'],
      ['y', 'y'],
    ]);
    await a.release();
    expect([...cache.entries()].map(([k]) => k)).toEqual(['y']);
    expect([...failed.entries()]).toEqual([]);
  });
});

describe('RefLease', () => {
  it('releases everything a holder took, once', async () => {
    const { cache, make } = cacheOf();
    const other = cache.acquire('x', make);
    const lease = new RefLease();
    const x = lease.add(cache.acquire('x', make));
    const y = lease.add(cache.acquire('y', make));
    expect(x).toBe(other.value);
    await lease.release();
    await lease.release();
    expect(y.closed).toBe(1);
    expect(x.closed).toBe(0); // `other` still holds it
    await other.release();
    expect(x.closed).toBe(1);
  });
});
