import { describe, expect, it } from 'vitest';
import { MemoryCacheStore } from './store.js';
import type { CachedResponse, VaryMarker } from './entry.js';

function entry(size: number, tags: string[] = []): CachedResponse {
  return { kind: 'response', size, tags } as unknown as CachedResponse;
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

  it('never holds an entry larger than the bound, and replaces entries in place', () => {
    const s = new MemoryCacheStore(1000, () => 0);
    s.set('/huge', entry(1001), 60_000);
    expect(s.get('/huge')).toBeUndefined();
    s.set('/a', entry(300), 60_000);
    s.set('/a', entry(500), 60_000);
    expect(s.bytes).toBe(500);
    expect(s.size).toBe(1);
  });

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
