import { describe, expect, it } from 'vitest';
import { MemoryCacheStore } from './store.js';
import type { CachedResponse, VaryMarker } from './entry.js';

/** An entry counting `size` bytes, `body` of them its body (the rest headers, key and overhead). */
function entry(size: number, tags: string[] = [], body = 0): CachedResponse {
  return { kind: 'response', size, tags, body: Buffer.alloc(body) } as unknown as CachedResponse;
}

describe('MemoryCacheStore', () => {
  it('evicts least recently used entries to stay within its byte bound', () => {
    let now = 0;
    const s = new MemoryCacheStore(1000, () => now);
    s.set('/a', entry(400), 60_000);
    s.set('/b', entry(400), 60_000);
    s.get('/a'); // /b is now the least recently used
    s.set('/c', entry(400), 60_000);
    expect(s.get('/b')).toBeUndefined();
    expect(s.get('/a')).toBeDefined();
    expect(s.get('/c')).toBeDefined();
    expect(s.bytes).toBe(800);
  });

  it('never holds a body larger than the bound, and replaces entries in place', () => {
    const s = new MemoryCacheStore(1000, () => 0);
    // Refused, and says so (the policy counts only what the store kept).
    expect(s.set('/huge', entry(1300, [], 1001), 60_000)).toBe(false);
    expect(s.get('/huge')).toBeUndefined();
    expect(s.bytes).toBe(0);
    expect(s.set('/a', entry(300), 60_000)).toBe(true);
    s.set('/a', entry(500), 60_000);
    expect(s.bytes).toBe(500);
    expect(s.size).toBe(1);
  });

  // The config accepts maxSize == maxEntrySize, and the policy announces `stored` for any
  // body within maxEntrySize: such a body is kept even when its headers take it past the bound.
  const aloneCases = [
    { desc: 'an entry past the bound only by its headers is kept alone', vary: false },
    { desc: 'likewise a Vary variant, with the marker it is reached through', vary: true },
  ];
  for (const c of aloneCases) {
    it(c.desc, () => {
      const s = new MemoryCacheStore(1000, () => 0);
      s.set('/old', entry(300), 60_000);
      s.set('/p2', entry(300), 60_000);
      const key = c.vary ? '/p#vary|accept=a' : '/p';
      if (c.vary) s.set('/p', { kind: 'vary', vary: ['accept'], size: 10 } satisfies VaryMarker, 60_000);
      expect(s.set(key, entry(1200, [], 1000), 60_000)).toBe(true);
      expect(s.get(key)).toBeDefined();
      if (c.vary) expect(s.get('/p')).toBeDefined();
      expect(s.get('/old')).toBeUndefined();
      expect(s.get('/p2')).toBeUndefined();
      expect(s.bytes).toBe(c.vary ? 1210 : 1200);
      // The next entry evicts it, and the bound holds again.
      s.set('/next', entry(100), 60_000);
      expect(s.get(key)).toBeUndefined();
      expect(s.get('/next')).toBeDefined();
      expect(s.bytes).toBeLessThanOrEqual(1000);
    });
  }

  it('expires entries on its clock', () => {
    let now = 0;
    const s = new MemoryCacheStore(1000, () => now);
    s.set('/a', entry(10), 5_000);
    now = 4_999;
    expect(s.get('/a')).toBeDefined();
    now = 5_000;
    expect(s.get('/a')).toBeUndefined();
    expect(s.bytes).toBe(0);
  });

  const purgeCases = [
    { desc: 'key removes the key and its more specific keys', sel: { key: '/p' }, left: ['/p2', '/q/p', '/pp#host=x'] },
    { desc: 'prefix removes everything under it', sel: { prefix: '/p' }, left: ['/q/p'] },
    { desc: 'tag removes tagged entries (a Vary marker stays)', sel: { tag: 't1' }, left: ['/p', '/p#host=x', '/p2', '/q/p'] },
  ];
  for (const c of purgeCases) {
    it(`purge: ${c.desc}`, () => {
      const s = new MemoryCacheStore(10_000, () => 0);
      s.set('/p', { kind: 'vary', vary: ['accept'], size: 10 } satisfies VaryMarker, 60_000);
      s.set('/p#vary|accept=a', entry(10, ['t1']), 60_000);
      s.set('/p#host=x', entry(10), 60_000);
      s.set('/pp#host=x', entry(10, ['t1']), 60_000);
      s.set('/p2', entry(10), 60_000);
      s.set('/q/p', entry(10), 60_000);
      s.purge(c.sel);
      const left = ['/p', '/p#vary|accept=a', '/p#host=x', '/pp#host=x', '/p2', '/q/p'].filter((k) => s.get(k) !== undefined);
      expect(left.sort()).toEqual(c.left.sort());
    });
  }
});
